//! Server functions: the browser's only way to read or change data besides login and logout.
//!
//! Every one of them is behind the server's session check (`/api/…` answers 401 without a valid session)
//! and reads the verified [`Account`] from the request; nothing the browser sends is taken as identity.

mod admin;
mod alerts;
mod audit;
mod codec;
mod keys;
mod payments;
pub use admin::*;
pub use alerts::*;
pub use audit::*;
pub use codec::{TextJson, TextJsonEncoding};
pub use keys::*;
pub use payments::*;

use domain::journal::TxView;
use domain::{Account, Amount, KeyNumber, StationId, TxId};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A station one may top up at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StationChoice {
    pub id: StationId,
    /// `Station Hérémence, Gérance test, Hérémence`.
    pub label: String,
    pub max: Amount,
    /// The keys last topped up here, newest first.
    pub recent_keys: Vec<KeyNumber>,
    /// The amounts its gérance sends most often, by value.
    pub usual_amounts: Vec<Amount>,
}

/// What the top-up form needs: the stations, and a one-time token that makes sending it twice harmless.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopUpForm {
    pub stations: Vec<StationChoice>,
    pub token: String,
}

/// A field's problem, as a code the page translates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Problem {
    NoStation,
    Key,
    Amount,
    AboveMaximum(Amount),
    AlreadySent,
    /// The key registry says the key is blocked or retired: it gets no top-up.
    KeyBlocked,
    KeyRetired,
}

impl Problem {
    /// The problem as it travels in the top-up page's address after a form posted without script.
    pub fn as_query(self) -> String {
        match self {
            Problem::NoStation => "station".into(),
            Problem::Key => "key".into(),
            Problem::Amount => "amount".into(),
            Problem::AboveMaximum(max) => format!("max-{}", max.rappen()),
            Problem::AlreadySent => "twice".into(),
            Problem::KeyBlocked => "key-blocked".into(),
            Problem::KeyRetired => "key-retired".into(),
        }
    }

    pub fn from_query(code: &str) -> Option<Self> {
        Some(match code {
            "station" => Problem::NoStation,
            "key" => Problem::Key,
            "amount" => Problem::Amount,
            "twice" => Problem::AlreadySent,
            "key-blocked" => Problem::KeyBlocked,
            "key-retired" => Problem::KeyRetired,
            _ => Problem::AboveMaximum(Amount::from_rappen(code.strip_prefix("max-")?.parse().ok()?).ok()?),
        })
    }
}

/// The top-up form's fields checked as typed, in the form's order: the station, the key, the amount
/// (and, when known, the station's maximum). The browser checks before sending; the server again.
pub fn check_top_up(
    station: &str,
    key: &str,
    amount: &str,
    max: Option<Amount>,
) -> Result<(StationId, KeyNumber, Amount), Vec<Problem>> {
    let mut problems = Vec::new();
    let station = station.trim().parse::<StationId>().map_err(|_| problems.push(Problem::NoStation)).ok();
    let key = KeyNumber::parse(key).map_err(|_| problems.push(Problem::Key)).ok();
    let amount = Amount::parse_chf(amount).map_err(|_| problems.push(Problem::Amount)).ok();
    if let (Some(amount), Some(max)) = (amount, max)
        && amount > max
    {
        problems.push(Problem::AboveMaximum(max));
    }
    match (station, key, amount) {
        (Some(station), Some(key), Some(amount)) if problems.is_empty() => Ok((station, key, amount)),
        _ => Err(problems),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TopUpResult {
    /// Recorded (or, for the same form sent again, recorded already): its receipt.
    Created(Box<TxView>),
    Invalid(Vec<Problem>),
    /// Nothing recorded: the same key and amount went to the same station within
    /// `domain::topup::REPEAT_WINDOW_MS` (this one). Sent again with `repeat`, it is recorded.
    Repeat(Box<TxView>),
}

/// What the top-up page shows first: the receipt of a top-up just sent, or a form sent back with its
/// problems and what was typed — the answer to a form posted without script, carried in the address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopUpAnswer {
    pub sent: Option<TxView>,
    /// The earlier identical top-up the form was stopped for.
    pub repeat_of: Option<TxView>,
    pub problems: Vec<Problem>,
    /// The server could not record it (an error, not a problem of the form).
    pub failed: bool,
    pub station: Option<StationId>,
    pub key: String,
    pub amount: String,
}

#[cfg(feature = "ssr")]
impl TopUpAnswer {
    /// The address of the page that answers a form posted without script.
    pub fn address(
        result: &Result<TopUpResult, ServerFnError>,
        station: &str,
        key: &str,
        amount: &str,
    ) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        match result {
            Ok(TopUpResult::Created(tx)) => {
                query.append_pair("sent", &tx.id.to_string());
            }
            Ok(TopUpResult::Invalid(problems)) => {
                let codes: Vec<String> = problems.iter().map(|p| p.as_query()).collect();
                query.append_pair("problem", &codes.join(","));
                query.append_pair("station", station).append_pair("key", key).append_pair("amount", amount);
            }
            Ok(TopUpResult::Repeat(first)) => {
                query.append_pair("repeat", &first.id.to_string());
                query.append_pair("station", station).append_pair("key", key).append_pair("amount", amount);
            }
            Err(_) => {
                query.append_pair("failed", "1");
                query.append_pair("station", station).append_pair("key", key).append_pair("amount", amount);
            }
        }
        format!("/recharge?{}", query.finish())
    }
}

/// A simulated station's display (demo only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StationScreen {
    pub id: StationId,
    pub label: String,
    pub lines: [String; 4],
    /// Powered on (a powered-off station shows nothing and answers nothing).
    pub on: bool,
}

/// The logged-in account, for the header.
#[server(endpoint = "account", output = TextJson)]
pub async fn current_account() -> Result<Account, ServerFnError> {
    ssr::account().await
}

/// Remembers the language the person chose, so that it follows them to other devices.
#[server(endpoint = "locale", output = TextJson)]
pub async fn save_locale(locale: String) -> Result<(), ServerFnError> {
    let account = ssr::account().await?;
    if crate::locale_from_code(&locale).is_none() {
        return Err(ServerFnError::new("unknown language"));
    }
    ssr::db()?.set_locale(account.id, &locale).await.map_err(ssr::internal)?;
    Ok(())
}

/// The journal's page, sort and filters, as they appear in its URL (`/transactions?page=2&sort=key&…`),
/// so that a link reproduces the view. Parsed leniently: anything invalid falls back to the default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalParams {
    pub page: u32,
    pub size: u32,
    pub sort: domain::journal::JournalSort,
    pub desc: bool,
    pub station: Option<StationId>,
    pub key: Option<KeyNumber>,
    pub status: Option<domain::journal::TxStatus>,
    /// `YYYY-MM-DD`, Zurich days, both included.
    pub from: Option<String>,
    pub to: Option<String>,
}

impl JournalParams {
    pub const SIZES: [u32; 4] = [10, 25, 50, 100];

    pub fn from_query(get: impl Fn(&str) -> Option<String>) -> Self {
        let sort = get("sort").and_then(|s| s.parse().ok()).unwrap_or_default();
        let date = |name| {
            get(name).filter(|d: &String| d.len() == 10 && d.as_bytes()[4] == b'-' && d.as_bytes()[7] == b'-')
        };
        Self {
            page: get("page").and_then(|p| p.parse().ok()).filter(|p| *p >= 1).unwrap_or(1),
            size: get("size").and_then(|s| s.parse().ok()).filter(|s| Self::SIZES.contains(s)).unwrap_or(25),
            desc: get("dir").is_none_or(|d| d != "asc"),
            sort,
            station: get("station").and_then(|s| s.parse().ok()),
            key: get("key").and_then(|k| KeyNumber::parse(&k).ok()),
            status: get("status").and_then(|s| s.parse().ok()),
            from: date("from"),
            to: date("to"),
        }
    }

    /// The query string for these parameters (without `?`), defaults left out.
    pub fn to_query(&self) -> String {
        let mut parts = Vec::new();
        if self.page > 1 {
            parts.push(format!("page={}", self.page));
        }
        if self.size != 25 {
            parts.push(format!("size={}", self.size));
        }
        if self.sort != domain::journal::JournalSort::Number {
            parts.push(format!("sort={}", self.sort.as_str()));
        }
        if !self.desc {
            parts.push("dir=asc".into());
        }
        if let Some(s) = self.station {
            parts.push(format!("station={s}"));
        }
        if let Some(k) = self.key {
            parts.push(format!("key={}", k.0));
        }
        if let Some(s) = self.status {
            parts.push(format!("status={}", s.as_str()));
        }
        if let Some(d) = &self.from {
            parts.push(format!("from={d}"));
        }
        if let Some(d) = &self.to {
            parts.push(format!("to={d}"));
        }
        parts.join("&")
    }
}

/// One page of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalPage {
    pub rows: Vec<TxView>,
    pub total: i64,
    /// The sum of the amounts reloaded among all the rows the view matches (not only this page's).
    pub reloaded: domain::Total,
    /// The journal version when read: live updates start after it.
    pub version: i64,
}

#[server(endpoint = "journal", output = TextJson)]
pub async fn journal(params: JournalParams) -> Result<JournalPage, ServerFnError> {
    let account = ssr::account().await?;
    let db = ssr::db()?;
    let version = db.journal_version().await.map_err(ssr::internal)?;
    let (filter, sort, desc) = ssr::journal_query(&params);
    let size = i64::from(params.size.clamp(1, 100));
    let offset = (i64::from(params.page.max(1)) - 1) * size;
    let (rows, total) = db
        .journal_page(
            db::JournalView { scope: db::Scope::of(&account), filter: &filter, sort, descending: desc },
            offset,
            size,
        )
        .await
        .map_err(ssr::internal)?;
    let reloaded = db.journal_reloaded(db::Scope::of(&account), &filter).await.map_err(ssr::internal)?;
    Ok(JournalPage { rows: rows.iter().map(|r| r.view()).collect(), total, reloaded, version })
}

/// The stations one may see, as `(id, label)`, for the journal's filter.
#[server(endpoint = "station_labels", output = TextJson)]
pub async fn station_labels() -> Result<Vec<(StationId, String)>, ServerFnError> {
    let account = ssr::account().await?;
    let stations = ssr::db()?.list_stations(db::Scope::of(&account)).await.map_err(ssr::internal)?;
    Ok(stations.into_iter().map(|s| (s.id, format!("{}, {}, {}", s.name, s.gerance.name, s.place))).collect())
}

#[server(endpoint = "topup_form", output = TextJson)]
pub async fn topup_form() -> Result<TopUpForm, ServerFnError> {
    let account = ssr::account().await?;
    use domain::topup::{USUAL_AMOUNTS_FROM, recent_keys, usual_amounts};
    let scope = db::Scope::of(&account);
    let db = ssr::db()?;
    let stations = db.list_stations(scope).await.map_err(ssr::internal)?;
    let mut usual = std::collections::HashMap::new();
    let mut choices = Vec::with_capacity(stations.len());
    for s in stations {
        let amounts = match usual.get(&s.gerance.id) {
            Some(amounts) => Clone::clone(amounts),
            None => {
                let recent = db.recent_amounts(scope, s.gerance.id, USUAL_AMOUNTS_FROM).await;
                let amounts = usual_amounts(&recent.map_err(ssr::internal)?, 4);
                usual.insert(s.gerance.id, amounts.clone());
                amounts
            }
        };
        let keys = db.recent_keys(scope, s.id, 50).await.map_err(ssr::internal)?;
        choices.push(StationChoice {
            id: s.id,
            label: format!("{}, {}, {}", s.name, s.gerance.name, s.place),
            max: s.max_amount,
            recent_keys: recent_keys(&keys, 6),
            usual_amounts: amounts,
        });
    }
    Ok(TopUpForm { stations: choices, token: ssr::token() })
}

/// Records a top-up after checking everything again (the form's checks are only a convenience).
///
/// Posted as a plain form (no script: the page's WebAssembly did not run), it answers with the top-up
/// page showing the result — the receipt with the transaction's progress, or the form with its
/// problems — never the empty form again, which would get a recorded top-up sent twice. The same form
/// sent again shows the first one's receipt. The same key and amount at the same station as a top-up
/// of the last hours is recorded only with `repeat` set (the person was asked first).
#[server(endpoint = "topup", output = TextJson)]
pub async fn top_up(
    station: String,
    key: String,
    amount: String,
    token: String,
    repeat: Option<String>,
) -> Result<TopUpResult, ServerFnError> {
    let plain = ssr::plain_form_post();
    let repeat = repeat.is_some_and(|r| !r.is_empty());
    let result = record_top_up(station.clone(), key.clone(), amount.clone(), token, repeat).await;
    if plain {
        ssr::answer_with_page(&TopUpAnswer::address(&result, &station, &key, &amount));
    }
    result
}

#[cfg(feature = "ssr")]
async fn record_top_up(
    station: String,
    key: String,
    amount: String,
    token: String,
    repeat: bool,
) -> Result<TopUpResult, ServerFnError> {
    use domain::Timestamp;
    let account = ssr::account().await?;
    let token = token.trim();
    if token.len() < 16 || token.len() > 64 {
        return Err(ServerFnError::new("invalid form token"));
    }
    // The station's maximum is checked with the station, in the same database transaction.
    let (station, key, amount) = match check_top_up(&station, &key, &amount, None) {
        Ok(checked) => checked,
        Err(problems) => return Ok(TopUpResult::Invalid(problems)),
    };
    let db = ssr::db()?;
    let scope = db::Scope::of(&account);
    let now = Timestamp::now();
    // Checked again in the database's write transaction: two forms sent at once cannot both pass.
    let unless_same_since = (!repeat).then(|| now.plus_millis(-domain::topup::REPEAT_WINDOW_MS));
    let new = db::NewTopUp {
        station_id: station,
        key,
        amount,
        user_id: Some(account.id),
        request_token: token,
        unless_same_since,
    };
    let created = db.create_top_up(scope, new, now).await.map_err(ssr::internal)?;
    Ok(match created {
        Ok(tx) => {
            ssr::host()?.0.wake_modem();
            TopUpResult::Created(Box::new(tx.view()))
        }
        Err(db::TopUpError::UnknownStation) => TopUpResult::Invalid(vec![Problem::NoStation]),
        Err(db::TopUpError::AboveMaximum(max)) => TopUpResult::Invalid(vec![Problem::AboveMaximum(max)]),
        Err(db::TopUpError::Repeat(first)) => TopUpResult::Repeat(Box::new(first.view())),
        Err(db::TopUpError::KeyBlocked) => TopUpResult::Invalid(vec![Problem::KeyBlocked]),
        Err(db::TopUpError::KeyRetired) => TopUpResult::Invalid(vec![Problem::KeyRetired]),
        // The same form again (sent twice without script, or again after its answer was lost): the
        // first one's receipt.
        Err(db::TopUpError::AlreadySent(id)) => {
            match db.transaction(scope, id).await.map_err(ssr::internal)? {
                Some(tx) => TopUpResult::Created(Box::new(tx.view())),
                None => TopUpResult::Invalid(vec![Problem::AlreadySent]),
            }
        }
    })
}

/// Asks the station to drop a top-up that is not loaded yet. The transaction shows *Cancelling* until
/// the station agrees (*Cancelled*), or *Reloaded* if the key was faster. False if it cannot be cancelled.
#[server(endpoint = "cancel", output = TextJson)]
pub async fn cancel_top_up(id: TxId) -> Result<bool, ServerFnError> {
    let account = ssr::account().await?;
    let done = ssr::db()?
        .request_cancel(db::Scope::of(&account), id, Some(account.id), domain::Timestamp::now())
        .await
        .map_err(ssr::internal)?;
    if done {
        ssr::host()?.0.wake_modem();
    }
    Ok(done)
}

/// One transaction, if it is one's own.
#[server(endpoint = "transaction", output = TextJson)]
pub async fn transaction(id: TxId) -> Result<Option<TxView>, ServerFnError> {
    let account = ssr::account().await?;
    let tx = ssr::db()?.transaction(db::Scope::of(&account), id).await.map_err(ssr::internal)?;
    Ok(tx.map(|t| t.view()))
}

/// The displays of one's simulated stations; `None` when the server drives a real modem.
#[server(endpoint = "station_screens", output = TextJson)]
pub async fn station_screens() -> Result<Option<Vec<StationScreen>>, ServerFnError> {
    let account = ssr::account().await?;
    let host = ssr::host()?;
    if !host.0.is_demo() {
        return Ok(None);
    }
    let stations = ssr::db()?.list_stations(db::Scope::of(&account)).await.map_err(ssr::internal)?;
    let displays = host.0.screens().await.map_err(|ssr::SimulatorSilent| ssr::simulator_silent())?;
    let mut screens = Vec::new();
    for s in stations {
        let label = format!("{}, {}, {}", s.name, s.gerance.name, s.place);
        match displays.get(&s.id) {
            Some(Some(lines)) => {
                screens.push(StationScreen { id: s.id, label, lines: lines.clone(), on: true })
            }
            Some(None) => {
                screens.push(StationScreen { id: s.id, label, lines: Default::default(), on: false })
            }
            None => {}
        }
    }
    Ok(Some(screens))
}

/// A person presents a key at one of one's simulated stations (demo only).
#[server(endpoint = "present_key", output = TextJson)]
pub async fn present_key(station: StationId, key: String) -> Result<[String; 4], ServerFnError> {
    let account = ssr::account().await?;
    let key = domain::KeyNumber::parse(&key).map_err(|_| ServerFnError::new("key"))?;
    let visible = ssr::db()?.station(db::Scope::of(&account), station).await.map_err(ssr::internal)?;
    if visible.is_none() {
        return Err(ServerFnError::new("no such station"));
    }
    match ssr::host()?.0.present_key(station, key).await {
        Ok(Some(lines)) => Ok(lines),
        Ok(None) => Err(ServerFnError::new("not a simulated station")),
        Err(ssr::SimulatorSilent) => Err(ssr::simulator_silent()),
    }
}

/// Powers one of one's simulated stations on or off (demo only): a station off answers nothing, as
/// when its power or its network is cut.
#[server(endpoint = "station_power", output = TextJson)]
pub async fn station_power(station: StationId, on: bool) -> Result<(), ServerFnError> {
    let account = ssr::account().await?;
    let visible = ssr::db()?.station(db::Scope::of(&account), station).await.map_err(ssr::internal)?;
    if visible.is_none() {
        return Err(ServerFnError::new("no such station"));
    }
    match ssr::host()?.0.set_power(station, on).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(ServerFnError::new("not a simulated station")),
        Err(ssr::SimulatorSilent) => Err(ssr::simulator_silent()),
    }
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! What server functions need from the host: the verified account and the database.

    use axum::Extension;
    use axum::http::StatusCode;
    use domain::{Account, GeranceId, KeyNumber, StationId};
    use leptos::prelude::*;
    use leptos_axum::ResponseOptions;

    /// The account the server's session check attached to this request.
    pub async fn account() -> Result<Account, ServerFnError> {
        match leptos_axum::extract::<Extension<Account>>().await {
            Ok(Extension(account)) => Ok(account),
            Err(_) => {
                if let Some(response) = use_context::<ResponseOptions>() {
                    response.set_status(StatusCode::UNAUTHORIZED);
                }
                Err(ServerFnError::new("not logged in"))
            }
        }
    }

    pub fn db() -> Result<db::Db, ServerFnError> {
        use_context::<db::Db>().ok_or_else(|| ServerFnError::new("the database is not available"))
    }

    /// The database's filter and order for the journal's URL parameters.
    pub fn journal_query(params: &super::JournalParams) -> (db::JournalFilter, db::JournalSort, bool) {
        use domain::Timestamp;
        let sort = params.sort;
        let filter = db::JournalFilter {
            station: params.station,
            key: params.key,
            status: params.status,
            from: params.from.as_deref().and_then(Timestamp::zurich_day_start),
            // Up to the end of that day: the start of the next one (23 to 25 hours later).
            until: params
                .to
                .as_deref()
                .and_then(Timestamp::zurich_day_start)
                .and_then(|t| Timestamp::zurich_day_start(&next_day(t))),
        };
        (filter, sort, params.desc)
    }

    /// The Zurich date of the day after the one that starts at `start`.
    fn next_day(start: domain::Timestamp) -> String {
        let noon = start.plus_millis(36 * 3600 * 1000);
        let shown = noon.zurich().to_string();
        // `dd.mm.yyyy HH:MM:SS` → `yyyy-mm-dd`
        format!("{}-{}-{}", &shown[6..10], &shown[3..5], &shown[0..2])
    }

    /// Every simulated station's display, by station (`None`: powered off).
    pub type Displays = std::collections::HashMap<StationId, Option<[String; 4]>>;

    /// The simulated stations did not answer in time (demo only: they run in the instance that holds the
    /// modem lease, and none did, or the database was away).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct SimulatorSilent;

    /// What a server function answers when the simulated stations did not: try again in a moment.
    pub fn simulator_silent() -> ServerFnError {
        answer_unavailable();
        ServerFnError::new("the simulated stations did not answer")
    }

    /// Marks the response `503` with `Retry-After`: not now, but in a moment.
    fn answer_unavailable() {
        if let Some(response) = use_context::<ResponseOptions>() {
            response.set_status(StatusCode::SERVICE_UNAVAILABLE);
            response.insert_header(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static(crate::RETRY_AFTER_SECS),
            );
        }
    }

    /// A future the host returns.
    pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

    /// What the host (the server binary) does for server functions besides the database.
    pub trait Host: Send + Sync + 'static {
        /// Something was queued: the modem task should look now.
        fn wake_modem(&self);
        /// Whether stations are simulated (no real modem).
        fn is_demo(&self) -> bool;
        /// Every simulated station's display (`None`: powered off).
        fn screens(&self) -> BoxFuture<'_, Result<Displays, SimulatorSilent>>;
        /// Presents a key at a simulated station; its display afterwards (`None`: not simulated).
        fn present_key(
            &self,
            station: StationId,
            key: KeyNumber,
        ) -> BoxFuture<'_, Result<Option<[String; 4]>, SimulatorSilent>>;
        /// The server modem's state (its outbox length left at 0).
        fn modem(&self) -> super::ModemView;
        /// A station was created or changed: in the demo, simulate it (again) as it is now.
        fn station_saved(&self, station: StationId) -> BoxFuture<'_, ()>;
        /// Registers a station (`server::stations::register`: its secret, its provisioning string).
        fn register_station(
            &self,
            gerance_id: GeranceId,
            fields: domain::station::StationFields,
        ) -> BoxFuture<'_, Result<Registration, String>>;
        /// Queues a signed STATUS request to a station; `false` when it was asked too recently (nothing
        /// is queued).
        fn request_status(&self, station: StationId) -> BoxFuture<'_, Result<bool, String>>;
        /// A new account's first password (readable, about 93 bits).
        fn new_password(&self) -> String;
        /// Argon2id of a password, on the blocking pool.
        fn hash_password(&self, password: String) -> BoxFuture<'_, Result<String, String>>;
        /// Powers a simulated station on or off (demo only); `false` when it is not simulated.
        fn set_power(&self, station: StationId, on: bool) -> BoxFuture<'_, Result<bool, SimulatorSilent>>;
        /// The alert thresholds of gérances that did not set their own.
        fn alert_defaults(&self) -> domain::alert::GeranceThresholds;
        /// Whether alerts are mailed (a mail server is configured).
        fn mail_configured(&self) -> bool;
    }

    /// What became of a station's registration.
    pub enum Registration {
        /// Its provisioning string (holding its secret, shown once), and whether it holds the server's
        /// real number (a placeholder stands in when the operator has not configured it).
        Registered { id: StationId, provisioning: String, server_number_known: bool },
        /// Its name or phone number is another station's.
        Taken,
    }

    #[derive(Clone)]
    pub struct HostHandle(pub std::sync::Arc<dyn Host>);

    pub fn host() -> Result<HostHandle, ServerFnError> {
        use_context::<HostHandle>().ok_or_else(|| ServerFnError::new("the host is not available"))
    }

    /// Whether this request is a form posted by the browser itself (no script ran: it asks for a page),
    /// rather than a call from an island.
    pub fn plain_form_post() -> bool {
        use_context::<axum::http::request::Parts>().is_some_and(|parts| {
            parts
                .headers
                .get(axum::http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|accept| accept.contains("text/html"))
        })
    }

    /// Answers a plain form post with the page at `address` (a same-site path) instead of the page it
    /// came from.
    pub fn answer_with_page(address: &str) {
        leptos_axum::redirect(address);
    }

    /// Refuses a request that would create a secret shown only in its answer (a station's provisioning
    /// string, a generated password) when it is a form posted without script: the browser would follow
    /// the redirect and the secret would be lost. The page comes back with `?error=script`, which it
    /// explains; nothing is created.
    pub fn refuse_without_script(page: &str) -> Result<(), ServerFnError> {
        if plain_form_post() {
            use domain::notice::{PageNotice, QueryNotice};
            answer_with_page(&format!("{page}?{}", PageNotice::NeedsScript.to_query()));
            return Err(ServerFnError::new("this action needs script"));
        }
        Ok(())
    }

    /// 128 random bits in hex: a form's one-time token.
    pub fn token() -> String {
        use rand::RngCore;
        let mut bytes = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Logs the details of an internal error and tells the browser only that something failed: 503
    /// with `Retry-After` when the database server is away for the moment (the same call may work in
    /// a moment), 500 otherwise.
    pub fn internal<E: std::fmt::Display + 'static>(e: E) -> ServerFnError {
        let away =
            (&e as &dyn std::any::Any).downcast_ref::<db::DbError>().is_some_and(db::DbError::is_unavailable);
        tracing::error!(error = %e, "server function failed");
        if away {
            answer_unavailable();
        } else if let Some(response) = use_context::<ResponseOptions>() {
            response.set_status(StatusCode::INTERNAL_SERVER_ERROR);
        }
        ServerFnError::new(if away { "unavailable" } else { "internal error" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_top_up_form_is_checked_field_by_field_in_the_form_s_order() {
        let chf = |rappen| Amount::from_rappen(rappen).unwrap();
        assert_eq!(
            check_top_up("3", "02524", "1'000.50", None),
            Ok((StationId(3), KeyNumber(2524), chf(100_050)))
        );
        assert_eq!(
            check_top_up("x", "65536", "0", None),
            Err(vec![Problem::NoStation, Problem::Key, Problem::Amount])
        );
        assert_eq!(
            check_top_up("3", "1", "500.01", Some(chf(50_000))),
            Err(vec![Problem::AboveMaximum(chf(50_000))])
        );
        assert!(check_top_up("3", "1", "500.00", Some(chf(50_000))).is_ok());
    }
}
