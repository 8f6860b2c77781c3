//! Prometheus metrics, served on their own address (`--metrics-addr`, off by default) so that the public
//! site never shows them.
//!
//! Counted as they happen: HTTP requests by route and status, with their durations; logins by outcome.
//! Read when scraped: top-ups by status, the outbox, the modem, stations not heard from, open event
//! streams, the database connections in use (at most one reading of the database per second, however
//! often it is scraped).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use db::Db;
use domain::Timestamp;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use tokio::sync::Mutex;

use crate::feed::Journal;
use crate::sms::ModemStatus;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// The route's pattern (`/stations/{id}`), never the path itself: the values stay few whatever
    /// addresses clients ask for.
    route: String,
    /// One of the standard methods, or `other`: a client may send any token as a method.
    method: &'static str,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

/// What became of a login attempt.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum LoginOutcome {
    success,
    failed,
    /// Refused without checking: too many failures for the account or the client.
    throttled,
    /// Refused without checking: too many password checks at once.
    busy,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoginLabels {
    outcome: LoginOutcome,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    pool: &'static str,
    state: &'static str,
}

/// The server's metrics: one registry per server.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram, fn() -> Histogram>,
    logins: Family<LoginLabels, Counter>,
    topups: Family<StatusLabels, Gauge>,
    outbox_waiting: Gauge,
    outbox_oldest: Gauge,
    modem_connected: Gauge,
    modem_owner: Gauge,
    modem_signal: Gauge,
    modem_credit: Gauge,
    stations: Gauge,
    stations_silent: Gauge,
    streams: Gauge,
    pool: Family<PoolLabels, Gauge>,
    /// When the database was last read for a scrape.
    read_at: Mutex<Option<Instant>>,
}

fn duration_histogram() -> Histogram {
    // 1 ms to about 16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// How long a scrape's reading of the database is reused.
const READ_EVERY: Duration = Duration::from_secs(1);

impl Metrics {
    /// The metrics of a server whose modem lease counts its hand-overs in `handovers`.
    pub fn new(handovers: &crate::lease::Handovers) -> Self {
        let mut registry = Registry::with_prefix("recharge");
        registry.register(
            "modem_lease_taken",
            "Times this instance took the modem lease (at its start when free, or over from another)",
            handovers.taken.clone(),
        );
        registry.register(
            "modem_lease_lost",
            "Times this instance lost the modem lease (renewals refused or not in time; a clean stop is not counted)",
            handovers.lost.clone(),
        );
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route, method and status",
            requests.clone(),
        );
        let durations = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            duration_histogram as fn() -> Histogram,
        );
        registry.register_with_unit(
            "http_request_duration",
            "Time to answer an HTTP request (to its first byte), by route; event streams not included",
            Unit::Seconds,
            durations.clone(),
        );
        let logins = Family::<LoginLabels, Counter>::default();
        registry.register("logins", "Login attempts by outcome", logins.clone());
        let topups = Family::<StatusLabels, Gauge>::default();
        registry.register("topups", "Top-ups in the journal by status", topups.clone());
        let gauge = |registry: &mut Registry, name: &str, help: &str, unit: Option<Unit>| {
            let g = Gauge::default();
            match unit {
                Some(unit) => registry.register_with_unit(name, help, unit, g.clone()),
                None => registry.register(name, help, g.clone()),
            }
            g
        };
        let outbox_waiting = gauge(&mut registry, "outbox_waiting", "SMS waiting to be sent", None);
        let outbox_oldest = gauge(
            &mut registry,
            "outbox_oldest_age",
            "Age of the oldest SMS waiting to be sent (0 when none waits)",
            Some(Unit::Seconds),
        );
        let modem_connected = gauge(
            &mut registry,
            "modem_connected",
            "1 when the modem (or the demo network) is connected",
            None,
        );
        let modem_owner = gauge(
            &mut registry,
            "modem_owner",
            "1 when this instance drives the modem (holds the modem lease); exactly one instance should",
            None,
        );
        let modem_signal = gauge(
            &mut registry,
            "modem_signal_dbm",
            "The modem's last signal strength, dBm (0: unknown)",
            None,
        );
        let modem_credit = gauge(
            &mut registry,
            "modem_sim_credit_rappen",
            "The modem SIM's credit from its last balance answer, Rappen (-1: unknown or unreadable)",
            None,
        );
        let stations = gauge(&mut registry, "stations", "Registered stations", None);
        let stations_silent = gauge(
            &mut registry,
            "stations_silent",
            "Stations not heard from for longer than the default silence threshold (--alert-station-silent)",
            None,
        );
        let streams = gauge(&mut registry, "event_streams_open", "Open live event streams", None);
        let pool = Family::<PoolLabels, Gauge>::default();
        registry.register("db_connections", "Database connections by pool and state", pool.clone());
        Self {
            registry,
            requests,
            durations,
            logins,
            topups,
            outbox_waiting,
            outbox_oldest,
            modem_connected,
            modem_owner,
            modem_signal,
            modem_credit,
            stations,
            stations_silent,
            streams,
            pool,
            read_at: Mutex::new(None),
        }
    }

    pub fn login(&self, outcome: LoginOutcome) {
        self.logins.get_or_create(&LoginLabels { outcome }).inc();
    }

    fn request(&self, route: &str, method: &'static str, status: StatusCode, took: Option<Duration>) {
        let route = route.to_owned();
        self.requests
            .get_or_create(&RequestLabels { route: route.clone(), method, status: status.as_u16() })
            .inc();
        if let Some(took) = took {
            self.durations.get_or_create(&RouteLabels { route }).observe(took.as_secs_f64());
        }
    }

    /// Reads what is read when scraped (at most once a second), then writes every metric out.
    async fn render(&self, sources: &Sources) -> Result<String, db::DbError> {
        {
            let mut read_at = self.read_at.lock().await;
            if read_at.is_none_or(|at| at.elapsed() >= READ_EVERY) {
                self.read(sources).await?;
                *read_at = Some(Instant::now());
            }
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .map_err(|e| db::DbError::Unusable(e.to_string()))?;
        Ok(text)
    }

    async fn read(&self, sources: &Sources) -> Result<(), db::DbError> {
        let now = Timestamp::now();
        let gauges = sources.db.service_gauges(now.plus_millis(-sources.silent_ms)).await?;
        for (status, n) in gauges.topups {
            self.topups.get_or_create(&StatusLabels { status }).set(n);
        }
        self.outbox_waiting.set(gauges.outbox_waiting);
        self.outbox_oldest.set(gauges.outbox_oldest.map_or(0, |t| (now.millis() - t.millis()).max(0) / 1000));
        self.stations.set(gauges.stations);
        self.stations_silent.set(gauges.stations_silent);
        let modem = sources.modem.get();
        self.modem_connected.set(i64::from(modem.connected));
        self.modem_owner.set(i64::from(sources.owner.owns()));
        self.modem_signal.set(modem.signal_dbm.map_or(0, i64::from));
        self.modem_credit.set(modem.credit.as_deref().and_then(domain::alert::ussd_credit).unwrap_or(-1));
        self.streams.set(i64::try_from(sources.journal.open_streams()).unwrap_or(i64::MAX));
        for (pool, size, idle) in sources.db.pool_use() {
            let set = |state, n: u32| self.pool.get_or_create(&PoolLabels { pool, state }).set(i64::from(n));
            set("idle", idle);
            set("busy", size.saturating_sub(idle));
        }
        Ok(())
    }
}

/// Where the scrape-time values come from.
#[derive(Clone)]
pub struct Sources {
    pub db: Db,
    pub journal: Journal,
    pub modem: ModemStatus,
    /// Whether this instance owns the modem.
    pub owner: crate::lease::Ownership,
    /// A station not heard from for this long counts as silent.
    pub silent_ms: i64,
}

/// The layer that counts every request (inside the request's span, outside the session check: a
/// refused request counts too).
pub async fn count(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    let route = route.unwrap_or_else(|| "other".to_owned());
    let stream = req.uri().path() == "/api/events";
    let method = method_label(req.method());
    let started = Instant::now();
    let response = next.run(req).await;
    let took = (!stream).then(|| started.elapsed());
    metrics.request(&route, method, response.status(), took);
    response
}

/// A request's method as a label: the standard ones by name, any other as `other`, so that a client
/// inventing methods cannot grow the label set (and the server's memory) without bound.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// `GET /metrics` on the metrics address.
pub async fn scrape(State((metrics, sources)): State<(Arc<Metrics>, Sources)>) -> Response {
    match metrics.render(&sources).await {
        Ok(text) => {
            ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
                .into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "metrics: the database did not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "The database did not answer.\n").into_response()
        }
    }
}

/// The metrics address's router: `/metrics` only.
pub fn router(metrics: Arc<Metrics>, sources: Sources) -> axum::Router {
    axum::Router::new().route("/metrics", axum::routing::get(scrape)).with_state((metrics, sources))
}
