//! Server functions of the *Stations* and *Administration* pages.
//!
//! Anyone sees the stations of their scope with their live facts; only operators create or change
//! stations, gérances and accounts (`ssr::operator` refuses everyone else with 403). Secrets (a station's
//! provisioning string, a new account's password) are returned once, in the answer to the request that
//! made them, and never stored in clear.

use domain::station::StationField;
use domain::{Amount, GeranceId, PhoneNumber, StationId, UserId};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::TextJson;

#[cfg(feature = "ssr")]
use super::ssr as base;

/// A station with what we last heard from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StationInfo {
    pub id: StationId,
    pub gerance_id: GeranceId,
    pub gerance: String,
    pub name: String,
    pub place: String,
    pub phone: PhoneNumber,
    pub max: Amount,
    /// Europe/Zurich, `dd.mm.yyyy HH:MM:SS`.
    pub last_heard: Option<String>,
    /// Top-ups the station said it holds for keys not presented yet, in its last report, and how long
    /// ago that was.
    pub pending: Option<i64>,
    pub reported: Option<domain::Age>,
    /// Its top-ups the journal has as Confirmed (stored there, waiting for their key), now.
    pub waiting_for_key: i64,
    pub signal_dbm: Option<i64>,
    pub sim_credit_rappen: Option<i64>,
    pub firmware: Option<String>,
    /// Messages claiming to be from it that failed verification.
    pub rejected: i64,
}

/// Why the SIM keeps the server's modem down: each asks something else of the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SimProblem {
    /// It asks for a PIN and none is configured.
    PinMissing,
    /// The configured PIN is not 4 to 8 digits.
    PinInvalid,
    /// It refused the configured PIN, which is not entered again.
    PinRefused,
    /// It is locked and asks for its PUK.
    PukRequired,
    /// It does not become ready.
    NotReady,
}

/// The server's modem, as the operators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModemView {
    /// The emulated network of the demo, not a real modem.
    pub demo: bool,
    pub connected: bool,
    pub since: Option<String>,
    pub model: Option<String>,
    pub error: Option<String>,
    pub signal_dbm: Option<i64>,
    pub registered: Option<bool>,
    pub operator: Option<String>,
    pub credit: Option<String>,
    pub credit_at: Option<String>,
    /// The balance code's last question got no usable answer, at this time.
    pub credit_unanswered_at: Option<String>,
    /// Why the SIM keeps the modem down.
    pub sim_problem: Option<SimProblem>,
    /// SMS waiting to be handed to the modem.
    pub outbox: i64,
    /// Received messages that could not be read, kept as they came.
    pub unreadable: i64,
}

/// What an operator additionally gets on the stations page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StationsAdmin {
    pub gerances: Vec<(GeranceId, String)>,
    pub modem: ModemView,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StationsView {
    pub stations: Vec<StationInfo>,
    /// Only for operators.
    pub admin: Option<StationsAdmin>,
}

/// Why a station could not be saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StationProblem {
    Field(StationField),
    Gerance,
    NameTaken,
    PhoneTaken,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StationSaved {
    /// A new station and its provisioning string, shown this once.
    Created {
        id: StationId,
        name: String,
        provisioning: String,
        server_number_known: bool,
    },
    Updated {
        id: StationId,
    },
    Invalid(Vec<StationProblem>),
}

#[server(endpoint = "stations", output = TextJson)]
pub async fn stations_page() -> Result<StationsView, ServerFnError> {
    let account = base::account().await?;
    let db = base::db()?;
    let stations = db.list_stations(db::Scope::of(&account)).await.map_err(base::internal)?;
    let stations = stations.into_iter().map(ssr::station_info).collect();
    let admin = if account.role == domain::Role::Operator {
        let gerances = db.list_gerances().await.map_err(base::internal)?;
        Some(StationsAdmin {
            gerances: gerances.into_iter().map(|g| (g.id, g.name.to_string())).collect(),
            modem: ssr::modem_view(&db).await?,
        })
    } else {
        None
    };
    Ok(StationsView { stations, admin })
}

/// Creates a station (`id` empty) or changes one. Operators only.
#[server(endpoint = "save_station", output = TextJson)]
pub async fn save_station(
    id: Option<StationId>,
    gerance: Option<GeranceId>,
    name: String,
    place: String,
    phone: String,
    max: String,
) -> Result<StationSaved, ServerFnError> {
    use domain::station::StationFields;
    let _operator = ssr::operator().await?;
    if id.is_none() {
        base::refuse_without_script("/stations")?;
    }
    let db = base::db()?;
    let mut problems: Vec<StationProblem> = Vec::new();
    let fields = StationFields::parse(&name, &place, &phone, &max)
        .map_err(|refused| problems.extend(refused.into_iter().map(StationProblem::Field)))
        .ok();
    let all = db.list_stations(db::Scope::All).await.map_err(base::internal)?;
    let existing = match id {
        Some(id) => match all.iter().find(|s| s.id == id) {
            Some(s) => Some(s.clone()),
            None => return Err(ServerFnError::new("no such station")),
        },
        None => None,
    };
    // A station stays in its gérance: its journal belongs there.
    let gerance_id = match (&existing, gerance) {
        (Some(s), _) => Some(s.gerance.id),
        (None, Some(g)) => {
            let known = db.list_gerances().await.map_err(base::internal)?;
            known.iter().any(|k| k.id == g).then_some(g)
        }
        (None, None) => None,
    };
    if gerance_id.is_none() {
        problems.push(StationProblem::Gerance);
    }
    if let (Some(f), Some(g)) = (&fields, gerance_id) {
        let others = || all.iter().filter(|s| Some(s.id) != id);
        // In the form's order.
        if others().any(|s| s.gerance.id == g && s.name == f.name) {
            problems.push(StationProblem::NameTaken);
        }
        if others().any(|s| s.phone == f.phone) {
            problems.push(StationProblem::PhoneTaken);
        }
    }
    let (Some(fields), Some(gerance_id), true) = (fields, gerance_id, problems.is_empty()) else {
        return Ok(StationSaved::Invalid(problems));
    };
    let host = base::host()?;
    match id {
        Some(id) => {
            let edit = db::StationEdit {
                name: &fields.name,
                place: &fields.place,
                phone: &fields.phone,
                max_amount: fields.max,
            };
            match db.update_station(id, edit).await {
                Ok(()) => {
                    host.0.station_saved(id).await;
                    Ok(StationSaved::Updated { id })
                }
                // Taken meanwhile by someone else.
                Err(db::DbError::Conflict) => Ok(StationSaved::Invalid(vec![StationProblem::PhoneTaken])),
                Err(e) => Err(base::internal(e)),
            }
        }
        None => {
            let name = fields.name.clone();
            match host.0.register_station(gerance_id, fields).await.map_err(base::internal)? {
                base::Registration::Registered { id, provisioning, server_number_known } => {
                    host.0.station_saved(id).await;
                    Ok(StationSaved::Created { id, name, provisioning, server_number_known })
                }
                base::Registration::Taken => Ok(StationSaved::Invalid(vec![StationProblem::PhoneTaken])),
            }
        }
    }
}

/// What became of a request for a station's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StatusAsked {
    /// The request is on its way; the station answers within about a minute.
    Sent,
    /// It was asked less than a minute ago: its answer is on the way, nothing more was sent.
    Recently,
    /// No such station for this account.
    NoStation,
}

/// Asks a station for its state (it answers with a heartbeat: pending top-ups, signal, SIM credit).
/// Anyone who sees the station may ask, once a minute (each request is an SMS paid from the server's
/// SIM credit).
#[server(endpoint = "station_status", output = TextJson)]
pub async fn request_station_status(id: StationId) -> Result<StatusAsked, ServerFnError> {
    let account = base::account().await?;
    let db = base::db()?;
    if db.station(db::Scope::of(&account), id).await.map_err(base::internal)?.is_none() {
        return Ok(StatusAsked::NoStation);
    }
    let queued = base::host()?.0.request_status(id).await.map_err(base::internal)?;
    Ok(if queued { StatusAsked::Sent } else { StatusAsked::Recently })
}

/// A gérance with how much hangs from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeranceInfo {
    pub id: GeranceId,
    pub name: String,
    pub stations: i64,
    pub accounts: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfo {
    pub id: UserId,
    pub email: String,
    pub role: domain::Role,
    pub gerance: Option<String>,
    /// Europe/Zurich.
    pub created: String,
    pub disabled: bool,
    /// The operator looking at the list.
    pub me: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminView {
    pub gerances: Vec<GeranceInfo>,
    pub accounts: Vec<AccountInfo>,
}

#[server(endpoint = "admin", output = TextJson)]
pub async fn admin_page() -> Result<AdminView, ServerFnError> {
    let me = ssr::operator().await?;
    let db = base::db()?;
    let gerances = db.gerance_overview().await.map_err(base::internal)?;
    let accounts = db.list_users().await.map_err(base::internal)?;
    Ok(AdminView {
        gerances: gerances
            .into_iter()
            .map(|g| GeranceInfo {
                id: g.gerance.id,
                name: g.gerance.name.to_string(),
                stations: g.stations,
                accounts: g.accounts,
            })
            .collect(),
        accounts: accounts
            .into_iter()
            .map(|u| AccountInfo {
                id: u.account.id,
                email: u.account.email.to_string(),
                role: u.account.role,
                gerance: u.account.gerance.map(|g| g.name.to_string()),
                created: u.created_at.zurich().to_string(),
                disabled: u.disabled,
                me: u.account.id == me.id,
            })
            .collect(),
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GeranceSaved {
    Created { id: GeranceId, name: String },
    InvalidName,
    NameTaken,
}

#[server(endpoint = "create_gerance", output = TextJson)]
pub async fn create_gerance(name: String) -> Result<GeranceSaved, ServerFnError> {
    let _operator = ssr::operator().await?;
    let Ok(name) = domain::GeranceName::parse(&name) else {
        return Ok(GeranceSaved::InvalidName);
    };
    match base::db()?.create_gerance(&name, domain::Timestamp::now()).await {
        Ok(g) => Ok(GeranceSaved::Created { id: g.id, name: g.name.to_string() }),
        Err(db::DbError::Conflict) => Ok(GeranceSaved::NameTaken),
        Err(e) => Err(base::internal(e)),
    }
}

/// Why an account could not be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountProblem {
    Email,
    EmailTaken,
    Role,
    /// An admin needs a gérance; an operator has none.
    Gerance,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountSaved {
    /// The account and its first password, shown this once; the person changes it under *Mon compte*.
    Created {
        id: UserId,
        email: String,
        password: String,
    },
    Invalid(Vec<AccountProblem>),
}

#[server(endpoint = "create_account", output = TextJson)]
pub async fn create_account(
    email: String,
    role: String,
    gerance: Option<GeranceId>,
) -> Result<AccountSaved, ServerFnError> {
    use domain::{Email, Role};
    let _operator = ssr::operator().await?;
    base::refuse_without_script("/admin")?;
    let db = base::db()?;
    let mut problems = Vec::new();
    let email = Email::parse(&email).map_err(|_| problems.push(AccountProblem::Email)).ok();
    let role = role.parse::<Role>().map_err(|_| problems.push(AccountProblem::Role)).ok();
    let known = db.list_gerances().await.map_err(base::internal)?;
    let gerance = gerance.filter(|g| known.iter().any(|k| k.id == *g));
    let gerance_id = match (role, gerance) {
        (Some(Role::Operator), _) => None,
        (Some(Role::Admin), Some(g)) => Some(g),
        (Some(Role::Admin), None) => {
            problems.push(AccountProblem::Gerance);
            None
        }
        (None, _) => None,
    };
    let (Some(email), Some(role), true) = (email, role, problems.is_empty()) else {
        return Ok(AccountSaved::Invalid(problems));
    };
    let host = base::host()?;
    let password = host.0.new_password();
    let hash = host.0.hash_password(password.clone()).await.map_err(base::internal)?;
    let new = db::NewUser { email: &email, password_hash: &hash, role, gerance_id };
    match db.create_user(new, domain::Timestamp::now()).await {
        Ok(id) => Ok(AccountSaved::Created { id, email: email.to_string(), password }),
        Err(db::DbError::Conflict) => Ok(AccountSaved::Invalid(vec![AccountProblem::EmailTaken])),
        Err(e) => Err(base::internal(e)),
    }
}

/// Gives an account a new generated password (shown once) and ends all of its sessions.
#[server(endpoint = "reset_password", output = TextJson)]
pub async fn reset_password(id: UserId) -> Result<String, ServerFnError> {
    let _operator = ssr::operator().await?;
    base::refuse_without_script("/admin")?;
    let host = base::host()?;
    let password = host.0.new_password();
    let hash = host.0.hash_password(password.clone()).await.map_err(base::internal)?;
    match base::db()?.set_password(id, &hash, domain::Timestamp::now()).await {
        Ok(()) => Ok(password),
        Err(db::DbError::NotFound) => Err(ServerFnError::new("no such account")),
        Err(e) => Err(base::internal(e)),
    }
}

/// Disables an account (it cannot log in, its sessions end) or enables it again. Not one's own: an
/// operator cannot lock everyone out by mistake.
#[server(endpoint = "set_disabled", output = TextJson)]
pub async fn set_account_disabled(id: UserId, disabled: bool) -> Result<bool, ServerFnError> {
    let operator = ssr::operator().await?;
    if id == operator.id {
        return Ok(false);
    }
    match base::db()?.set_disabled(id, disabled, domain::Timestamp::now()).await {
        Ok(()) => Ok(true),
        Err(db::DbError::NotFound) => Ok(false),
        Err(e) => Err(base::internal(e)),
    }
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use domain::{Account, Role};
    use leptos::prelude::*;

    use super::super::ssr as base;
    use super::{ModemView, StationInfo};

    /// The account, if it is an operator's; 403 for anyone else.
    pub async fn operator() -> Result<Account, ServerFnError> {
        let account = base::account().await?;
        if account.role == Role::Operator {
            return Ok(account);
        }
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(axum::http::StatusCode::FORBIDDEN);
        }
        Err(ServerFnError::new("operators only"))
    }

    pub fn station_info(s: db::StationRecord) -> StationInfo {
        StationInfo {
            id: s.id,
            gerance_id: s.gerance.id,
            gerance: s.gerance.name.to_string(),
            name: s.name,
            place: s.place,
            phone: s.phone,
            max: s.max_amount,
            last_heard: s.last_heard_at.map(|t| t.zurich().to_string()),
            pending: s.pending,
            reported: s.reported_at.map(|at| domain::Age::between(at, domain::Timestamp::now())),
            waiting_for_key: s.waiting_for_key,
            signal_dbm: s.signal_dbm,
            sim_credit_rappen: s.sim_credit_rappen,
            firmware: s.firmware,
            rejected: s.rejected,
        }
    }

    pub async fn modem_view(db: &db::Db) -> Result<ModemView, ServerFnError> {
        let host = base::host()?;
        let mut view = host.0.modem();
        view.outbox = db.outbox_length().await.map_err(base::internal)?;
        view.unreadable = db.unreadable_count().await.map_err(base::internal)?;
        Ok(view)
    }
}
