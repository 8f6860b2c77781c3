//! The HTTP surface: the rendered app and its server functions, login and logout, static files, and the
//! layers every request passes through (security headers, cross-site checks, body limit, session check).

mod alerts;
mod auth;
pub mod client;
mod events;
mod export;
mod guard;
mod keys;
mod listener;
mod payments;
mod probes;
mod unavailable;
pub use unavailable::unavailable;

pub use listener::{Limits, serve};

use std::sync::Arc;

use crate::feed::Journal;
use crate::sms::ModemStatus;
use crate::startup::DemoSlot;
use app::api::ModemView;
use app::api::ssr::{BoxFuture, Displays, Host, HostHandle, Registration, SimulatorSilent};
use app::{App, shell};
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use db::{Db, DemoAction};
use domain::{GeranceId, KeyNumber, StationId, Timestamp};
use leptos::config::LeptosOptions;
use leptos::prelude::RenderHtml;
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tower::ServiceExt;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::services::ServeDir;

use crate::startup::Settings;

/// Request bodies larger than this are refused with 413: every legitimate form here is small.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub settings: Arc<Settings>,
    pub leptos: LeptosOptions,
    /// Wakes the modem task; publishes journal changes.
    pub journal: Journal,
    /// The simulated stations, when running without a modem, in the instance that owns the modem.
    pub demo: DemoSlot,
    /// What the modem last reported.
    pub modem: ModemStatus,
    /// Whether this instance owns the modem.
    pub owner: crate::lease::Ownership,
    /// Turns for journal exports, each of which holds a database connection while it streams.
    exports: Arc<tokio::sync::Semaphore>,
    /// Turns for bank files being taken in (`payments::IMPORTS_AT_ONCE`).
    imports: Arc<tokio::sync::Semaphore>,
    /// The last answer of `/readyz`.
    readiness: probes::Readiness,
    /// Counted as requests and logins happen (`crate::metrics`).
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl AppState {
    pub fn new(
        db: Db,
        settings: Arc<Settings>,
        journal: Journal,
        demo: DemoSlot,
        modem: ModemStatus,
        owner: crate::lease::Ownership,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Self {
        let leptos = settings.leptos.clone();
        let exports = Arc::new(tokio::sync::Semaphore::new(export::AT_ONCE));
        let imports = Arc::new(tokio::sync::Semaphore::new(payments::IMPORTS_AT_ONCE));
        Self {
            db,
            settings,
            leptos,
            journal,
            demo,
            modem,
            owner,
            exports,
            imports,
            readiness: probes::Readiness::default(),
            metrics,
        }
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let db = state.db.clone();
    let leptos = state.leptos.clone();
    let server_number = match &state.settings.modem {
        Some(modem) => modem.number.clone(),
        None => domain::PhoneNumber::parse(crate::sms::demo::SERVER_NUMBER).ok(),
    };
    let host = HostHandle(Arc::new(ServerHost {
        db: state.db.clone(),
        journal: state.journal.clone(),
        demo: state.demo.clone(),
        demo_mode: state.settings.modem.is_none(),
        modem: state.modem.clone(),
        server_number,
        alert_defaults: state.settings.alerts.defaults,
        mail_configured: state.settings.alerts.mail.is_some(),
    }));
    let pages = Router::new()
        .leptos_routes_with_context(
            &state,
            routes,
            move || {
                app::security::provide_page_nonce();
                provide_context(db.clone());
                provide_context(host.clone());
            },
            move || shell(leptos.clone()),
        )
        .route("/login", post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/account/password", post(auth::change_password))
        .route("/api/events", get(events::events))
        // Whether the request's session is still valid: the session check before it answers 401 if not.
        .route("/api/session", get(|| async { axum::http::StatusCode::NO_CONTENT }))
        .route("/transactions.csv", get(export::transactions_csv))
        .route("/payments/approve", post(payments::approve))
        .route("/payments/assign", post(payments::assign))
        .route("/payments/aside", post(payments::set_aside))
        .route("/payments/account", post(payments::save_creditor))
        .route("/alerts/ack", post(alerts::acknowledge))
        .route("/alerts/mails", post(alerts::mails))
        .route("/alerts/thresholds", post(alerts::set_thresholds))
        .route("/keys/save", post(keys::save))
        .route("/keys/template.csv", get(keys::template))
        .route("/keys/qr-bill.pdf", get(keys::qr_bill))
        .route("/keys/qr-bills.pdf", get(keys::qr_bill))
        .route("/keys/statement.pdf", get(keys::statement))
        .route("/keys/statement.csv", get(keys::statement))
        .route("/keys/statements.pdf", get(keys::statement))
        .route("/keys/statements.csv", get(keys::statement))
        .fallback(fallback)
        // Both: axum's extractors answer with a readable message, and the tower layer also bounds the
        // bodies that server functions read themselves.
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES));
    // A bank file: the one body larger than a form, after the session check like every other.
    let uploads = Router::new()
        .route("/payments/import", post(payments::import))
        .layer(DefaultBodyLimit::max(payments::UPLOAD_BYTES))
        .layer(RequestBodyLimitLayer::new(payments::UPLOAD_BYTES));
    let lists = Router::new()
        .route("/keys/import", post(keys::import))
        .layer(DefaultBodyLimit::max(keys::UPLOAD_BYTES))
        .layer(RequestBodyLimitLayer::new(keys::UPLOAD_BYTES));
    let app = pages
        .merge(uploads)
        .merge(lists)
        .layer(middleware::from_fn(guard::server_fn_errors))
        .layer(middleware::from_fn_with_state(state.clone(), auth::require_session));
    // Probes answer without a session (and without reading a cookie).
    Router::new()
        .route("/healthz", get(probes::healthz))
        .route("/readyz", get(probes::readyz))
        .merge(app)
        .layer(middleware::from_fn_with_state(state.metrics.clone(), crate::metrics::count))
        .layer(middleware::from_fn_with_state(state.clone(), guard::cross_site))
        .layer(middleware::from_fn_with_state(state.clone(), guard::security_headers))
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(request_span as fn(&Request) -> tracing::Span)
                .on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::DEBUG)),
        )
        .layer(middleware::from_fn_with_state(state.settings.trusted_proxies.clone(), client::identify))
        .with_state(state)
}

/// Every request in a span with its id, its client, its method and its path (never its query, which may
/// hold what a person typed, nor its headers): what the server logs while answering it names the
/// request, and a server error is logged with its status and time (tower-http's trace layer).
///
/// Not event streams: a span lives as long as its response body, which for a stream is hours, entered at
/// every write of the feed to every one of thousands of streams.
fn request_span(req: &Request) -> tracing::Span {
    if req.uri().path() == "/api/events" {
        return tracing::Span::none();
    }
    let id = req.extensions().get::<client::RequestId>().map_or("", |id| id.0.as_str());
    let client = req.extensions().get::<client::ClientAddr>().map(|c| c.0);
    tracing::info_span!(
        "request",
        id,
        client = client.map(tracing::field::display),
        method = %req.method(),
        path = %req.uri().path()
    )
}

/// Unknown addresses: static files if they exist, else a 404 page (or plain text for the API and the
/// static directories).
///
/// Static files are served here by `ServeDir` (precompressed `.br`/`.gz` when the browser takes them),
/// not by Leptos's file handler, which runs each file inside a reactive owner that can be a child of
/// a page being rendered on the same thread, and then takes that page's response headers.
async fn fallback(State(state): State<AppState>, req: Request) -> Response {
    let path = req.uri().path();
    if path.starts_with("/api/") {
        return (StatusCode::NOT_FOUND, "No such server function.\n").into_response();
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, "This address does not accept that method.\n")
            .into_response();
    }
    let static_dir = auth::in_static_dir(path);
    let (parts, body) = req.into_parts();
    let mut file_request = Request::from_parts(parts.clone(), axum::body::Body::empty());
    file_request.extensions_mut().clear();
    let file = ServeDir::new(&*state.leptos.site_root)
        .precompressed_br()
        .precompressed_gzip()
        .append_index_html_on_directories(false)
        .oneshot(file_request)
        .await;
    match file {
        Ok(file) if file.status() != StatusCode::NOT_FOUND => return file.map(axum::body::Body::new),
        Ok(_) => {}
        Err(e) => {
            tracing::error!(error = %e, "reading a static file failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "The file could not be read.\n").into_response();
        }
    }
    if static_dir {
        return (StatusCode::NOT_FOUND, "No such file.\n").into_response();
    }
    let options = state.leptos.clone();
    let req = Request::from_parts(parts, body);
    let mut response = leptos_axum::handle_response_inner(
        move || {
            app::security::provide_page_nonce();
            provide_context(state.clone());
        },
        move || shell(options),
        req,
        |app, chunks, _| {
            Box::pin(async move {
                use futures::StreamExt;
                let app = app.to_html_stream_in_order().collect::<String>().await;
                Box::pin(futures::stream::once(async move { app }).chain(chunks()))
                    as std::pin::Pin<Box<dyn futures::Stream<Item = String> + Send>>
            })
        },
    )
    .await;
    if response.status() == StatusCode::OK {
        *response.status_mut() = StatusCode::NOT_FOUND;
    }
    response
}

/// What server functions ask of the server besides the database.
struct ServerHost {
    db: Db,
    journal: Journal,
    demo: DemoSlot,
    /// No modem configured: the stations are simulated (by whichever instance owns the modem).
    demo_mode: bool,
    modem: ModemStatus,
    server_number: Option<domain::PhoneNumber>,
    alert_defaults: domain::alert::GeranceThresholds,
    mail_configured: bool,
}

impl ServerHost {
    /// Asks the instance that simulates the stations (demo only; the modem lease's holder), and reads
    /// its outcome. `Ok(None)`: not simulated there (or not in the demo at all).
    async fn ask_simulator<T: serde::de::DeserializeOwned>(
        &self,
        action: DemoAction,
    ) -> Result<Option<T>, SimulatorSilent> {
        if !self.demo_mode {
            return Ok(None);
        }
        let outcome = crate::sms::demo::ask(&self.db, action).await.map_err(|_| SimulatorSilent)?;
        Ok(outcome.and_then(|json| serde_json::from_str(&json).ok()))
    }
}

impl Host for ServerHost {
    fn wake_modem(&self) {
        self.journal.wake();
    }

    fn is_demo(&self) -> bool {
        self.demo_mode
    }

    fn screens(&self) -> BoxFuture<'_, Result<Displays, SimulatorSilent>> {
        Box::pin(async move {
            match self.demo.get() {
                Some(demo) => Ok(demo.displays().await),
                None => {
                    let all: Vec<(StationId, Option<[String; 4]>)> =
                        self.ask_simulator(DemoAction::Screens).await?.unwrap_or_default();
                    Ok(all.into_iter().collect())
                }
            }
        })
    }

    fn present_key(
        &self,
        station: StationId,
        key: KeyNumber,
    ) -> BoxFuture<'_, Result<Option<[String; 4]>, SimulatorSilent>> {
        Box::pin(async move {
            match self.demo.get() {
                Some(demo) => Ok(demo.present_key(station, key).await.map(|s| s.lines().clone())),
                None => self.ask_simulator(DemoAction::Present(station, key)).await,
            }
        })
    }

    fn modem(&self) -> ModemView {
        let f = self.modem.get();
        let shown = |t: Option<Timestamp>| t.map(|t| t.zurich().to_string());
        ModemView {
            demo: self.demo_mode,
            connected: f.connected,
            since: shown(f.since),
            model: f.model,
            error: f.error,
            signal_dbm: f.signal_dbm.map(i64::from),
            registered: f.registered,
            operator: f.operator,
            credit: f.credit,
            credit_at: shown(f.credit_at),
            credit_unanswered_at: shown(f.credit_unanswered_at),
            sim_problem: f.sim.map(|p| {
                use ::sms::modem::SimProblem as Sim;
                use app::api::SimProblem;
                match p {
                    Sim::PinMissing => SimProblem::PinMissing,
                    Sim::PinInvalid => SimProblem::PinInvalid,
                    Sim::PinRefused => SimProblem::PinRefused,
                    Sim::PukRequired => SimProblem::PukRequired,
                    Sim::NotReady(_) => SimProblem::NotReady,
                }
            }),
            outbox: 0,
            unreadable: 0,
        }
    }

    fn station_saved(&self, station: StationId) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            match self.demo.get() {
                Some(demo) => {
                    if let Err(e) = demo.restart(&self.db, station).await {
                        tracing::error!(error = %e, %station, "cannot simulate the station");
                    }
                }
                // Simulated by another instance: it is told, without waiting (the instance that takes the
                // modem over simulates every station as saved anyway).
                None if self.demo_mode => {
                    if let Err(e) =
                        self.db.queue_demo_action(DemoAction::Restart(station), Timestamp::now()).await
                    {
                        tracing::warn!(error = %e, %station, "cannot ask for the station to be simulated");
                    }
                }
                None => {}
            }
        })
    }

    fn register_station(
        &self,
        gerance_id: GeranceId,
        fields: domain::station::StationFields,
    ) -> BoxFuture<'_, Result<Registration, String>> {
        Box::pin(async move {
            use crate::stations::{RegisterError, register};
            match register(&self.db, gerance_id, &fields, self.server_number.as_ref()).await {
                Ok(r) => Ok(Registration::Registered {
                    id: r.id,
                    provisioning: r.provisioning,
                    server_number_known: r.server_number_known,
                }),
                Err(RegisterError::Taken) => Ok(Registration::Taken),
                Err(e) => Err(e.to_string()),
            }
        })
    }

    fn request_status(&self, station: StationId) -> BoxFuture<'_, Result<bool, String>> {
        Box::pin(async move {
            let queued =
                crate::sms::queue_status_request(&self.db, station).await.map_err(|e| e.to_string())?;
            if queued {
                self.journal.wake();
            }
            Ok(queued)
        })
    }

    fn new_password(&self) -> String {
        crate::auth::password::generate()
    }

    fn hash_password(&self, password: String) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(async move { crate::auth::password::hash(password).await.map_err(|e| e.to_string()) })
    }

    fn set_power(&self, station: StationId, on: bool) -> BoxFuture<'_, Result<bool, SimulatorSilent>> {
        Box::pin(async move {
            match self.demo.get() {
                Some(demo) if on => Ok(demo.power_on(&self.db, station).await.is_ok()),
                Some(demo) => Ok(demo.power_off(station).await),
                None => Ok(self.ask_simulator(DemoAction::Power(station, on)).await?.unwrap_or(false)),
            }
        })
    }

    fn alert_defaults(&self) -> domain::alert::GeranceThresholds {
        self.alert_defaults
    }

    fn mail_configured(&self) -> bool {
        self.mail_configured
    }
}
