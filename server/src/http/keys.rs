//! The *Clés* forms and papers: a key saved (holder and state), a CSV list taken in (multipart, 1 MB),
//! the template, and the QR-bills as PDF downloads. Forms answer with a redirect to the page and a
//! notice in its address; nothing a person typed goes into it but the key number.

use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Extension, Form, Multipart, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use db::Scope;
use domain::key::{Holder, HolderInput};
use domain::payment::KeyState;
use domain::{Account, KeyNumber, StationId, Timestamp};
use serde::Deserialize;

use super::AppState;
use super::auth::redirect;
use crate::keys::{BillError, ListError, MAX_LIST_BYTES, RowProblem};

/// The largest list upload: the file and the form around it.
pub const UPLOAD_BYTES: usize = MAX_LIST_BYTES + 16 * 1024;

fn back(station: Option<StationId>, pairs: &[(&str, &str)]) -> Response {
    let mut q = form_urlencoded::Serializer::new(String::new());
    if let Some(s) = station {
        q.append_pair("station", &s.to_string());
    }
    for (name, value) in pairs {
        q.append_pair(name, value);
    }
    redirect(&format!("/keys?{}", q.finish()))
}

#[derive(Debug, Deserialize)]
pub struct SaveForm {
    station: String,
    key: String,
    #[serde(default)]
    state: String,
    #[serde(flatten)]
    holder: HolderInput,
}

/// `POST /keys/save`: a key registered by hand, or its holder and state changed.
pub async fn save(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    form: Result<Form<SaveForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else { return back(None, &[("error", "invalid")]) };
    let Ok(station) = form.station.parse::<StationId>() else { return back(None, &[("error", "station")]) };
    let Ok(key) = KeyNumber::parse(&form.key) else { return back(Some(station), &[("error", "key")]) };
    let Ok(holder) = Holder::parse(&form.holder) else { return back(Some(station), &[("error", "holder")]) };
    let key_state = match form.state.as_str() {
        "" => None,
        s => match s.parse::<KeyState>() {
            Ok(s) => Some(s),
            Err(()) => return back(Some(station), &[("error", "invalid")]),
        },
    };
    let scope = Scope::of(&account);
    let now = Timestamp::now();
    let saved = async {
        let known = state.db.key(scope, station, key).await?;
        if !state.db.save_key(scope, station, key, &holder, Some(account.id), now).await? {
            return Ok(false);
        }
        match (key_state, known.map(|k| k.state)) {
            (Some(new), Some(old)) if new == old => Ok(true),
            (Some(KeyState::Active), None) | (None, _) => Ok(true),
            (Some(new), _) => state.db.set_key_state(scope, station, key, new, Some(account.id), now).await,
        }
    };
    match saved.await {
        Ok(true) => back(Some(station), &[("saved", &format!("{:05}", key.0))]),
        Ok(false) => back(None, &[("error", "station")]),
        Err(e) => {
            tracing::error!(error = %e, "saving a key failed");
            back(Some(station), &[("error", "unavailable")])
        }
    }
}

/// `POST /keys/import`: a CSV list of keys and holders, all rows or none.
pub async fn import(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    form: Result<Multipart, MultipartRejection>,
) -> Response {
    let Ok(_turn) = state.imports.clone().try_acquire_owned() else {
        return back(None, &[("error", "busy")]);
    };
    let Ok(mut form) = form else { return back(None, &[("error", "invalid")]) };
    let (mut station, mut file) = (None, None);
    loop {
        match form.next_field().await {
            Ok(Some(field)) if field.name() == Some("station") => {
                station = field.text().await.ok().and_then(|s| s.trim().parse::<StationId>().ok());
            }
            Ok(Some(field)) if field.name() == Some("file") => {
                let name =
                    field.file_name().map(|n| n.chars().filter(|c| !c.is_control()).take(100).collect());
                match field.bytes().await {
                    Ok(bytes) => file = Some((name.unwrap_or_else(|| "keys.csv".to_owned()), bytes)),
                    Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                        return (StatusCode::PAYLOAD_TOO_LARGE, "The list is larger than 1 MB.\n")
                            .into_response();
                    }
                    Err(_) => return back(station, &[("error", "invalid")]),
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return (StatusCode::PAYLOAD_TOO_LARGE, "The list is larger than 1 MB.\n").into_response();
            }
            Err(_) => return back(station, &[("error", "invalid")]),
        }
    }
    let Some(station) = station else { return back(None, &[("error", "station")]) };
    let Some((name, bytes)) = file else { return back(Some(station), &[("error", "invalid")]) };
    let rows = match crate::keys::parse_list(&bytes) {
        Ok(rows) => rows,
        Err(e) => {
            let (why, found, rows) = match &e {
                ListError::TooLarge => ("too-large", String::new(), String::new()),
                ListError::Encoding => ("encoding", String::new(), String::new()),
                ListError::Header => ("header", String::new(), String::new()),
                ListError::Column(c) => ("column", c.clone(), String::new()),
                ListError::Empty => ("empty", String::new(), String::new()),
                ListError::Rows(problems) => {
                    let each: Vec<String> =
                        problems.iter().take(30).map(|(line, p)| format!("{line}.{}", row_code(p))).collect();
                    ("rows", String::new(), each.join(","))
                }
            };
            return back(
                Some(station),
                &[("error", "list"), ("why", why), ("found", &found), ("rows", &rows)],
            );
        }
    };
    match state
        .db
        .import_keys(Scope::of(&account), station, &rows, &name, Some(account.id), Timestamp::now())
        .await
    {
        Ok(true) => back(Some(station), &[("imported", &rows.len().to_string())]),
        Ok(false) => back(None, &[("error", "station")]),
        Err(e) => {
            tracing::error!(error = %e, "saving a key list failed");
            back(Some(station), &[("error", "unavailable")])
        }
    }
}

fn row_code(p: &RowProblem) -> &'static str {
    match p {
        RowProblem::Key(_) => "key",
        RowProblem::Duplicate(_) => "duplicate",
        RowProblem::Field(f) => f.code(),
        RowProblem::State(_) => "state",
        RowProblem::Columns => "columns",
    }
}

/// `GET /keys/template.csv`: the list's header and an example row.
pub async fn template() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"keys.csv\""),
        ],
        crate::keys::list_template(),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
pub struct BillQuery {
    station: String,
    #[serde(default)]
    key: Option<String>,
}

/// `GET /keys/qr-bill.pdf?station=ID&key=N`: one key's QR-bill; `/keys/qr-bills.pdf?station=ID`: a page
/// per active key of the station.
pub async fn qr_bill(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    query: Result<Query<BillQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else { return back(None, &[("error", "invalid")]) };
    let Ok(station) = q.station.parse::<StationId>() else { return back(None, &[("error", "station")]) };
    let key = match q.key.as_deref().map(KeyNumber::parse).transpose() {
        Ok(key) => key,
        Err(_) => return back(Some(station), &[("error", "key")]),
    };
    match crate::keys::qr_bills(&state.db, Scope::of(&account), station, key).await {
        Ok(pdf) => {
            let name = match key {
                Some(k) => format!("attachment; filename=\"qr-bill-{station}-{:05}.pdf\"", k.0),
                None => format!("attachment; filename=\"qr-bills-{station}.pdf\""),
            };
            (
                [
                    (header::CONTENT_TYPE, "application/pdf".to_owned()),
                    (header::CONTENT_DISPOSITION, name),
                    (header::CACHE_CONTROL, "no-store".to_owned()),
                ],
                pdf,
            )
                .into_response()
        }
        Err(BillError::NoStation) => back(None, &[("error", "station")]),
        Err(BillError::NoAccount) => back(Some(station), &[("error", "account")]),
        Err(BillError::NoKeys) => back(Some(station), &[("error", "nokeys")]),
        Err(e) => {
            tracing::error!(error = %e, "drawing a QR-bill failed");
            back(Some(station), &[("error", "unavailable")])
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct StatementQuery {
    station: String,
    #[serde(default)]
    key: Option<String>,
    year: String,
}

/// `GET /keys/statement.pdf?station=ID&key=N&year=YYYY` (one key, in its holder's language),
/// `/keys/statements.pdf?station=ID&year=YYYY` (every key of the station with something in the year),
/// and the same as `.csv` (in the account's language).
pub async fn statement(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    uri: axum::http::Uri,
    query: Result<Query<StatementQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else { return back(None, &[("error", "invalid")]) };
    let Ok(station) = q.station.parse::<StationId>() else { return back(None, &[("error", "station")]) };
    let Some(year) = domain::statement::Year::parse(&q.year) else {
        return back(Some(station), &[("error", "year")]);
    };
    let key = match q.key.as_deref().filter(|k| !k.is_empty()).map(KeyNumber::parse).transpose() {
        Ok(key) => key,
        Err(_) => return back(Some(station), &[("error", "key")]),
    };
    let scope = Scope::of(&account);
    let record = match state.db.station(scope, station).await {
        Ok(Some(r)) => r,
        Ok(None) => return back(None, &[("error", "station")]),
        Err(e) => {
            tracing::error!(error = %e, "reading a station failed");
            return back(Some(station), &[("error", "unavailable")]);
        }
    };
    let of = db::StatementsOf { gerance: record.gerance.id, station: Some(station), key };
    let found = match crate::keys::statements(&state.db, scope, of, year).await {
        Ok(found) if found.items.is_empty() => return back(Some(station), &[("error", "nostatement")]),
        Ok(found) => found,
        Err(BillError::NoStation) => return back(None, &[("error", "station")]),
        Err(e) => {
            tracing::error!(error = %e, "reading statements failed");
            return back(Some(station), &[("error", "unavailable")]);
        }
    };
    let base = match key {
        Some(k) => format!("statement-{year}-{station}-{:05}", k.0),
        None => format!("statements-{year}-{station}"),
    };
    if uri.path().ends_with(".csv") {
        let language = account.locale.as_deref().and_then(|l| l.parse().ok()).unwrap_or_default();
        let csv = paper::statements_csv(&found.items, language);
        return (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{base}.csv\"")),
                (header::CACHE_CONTROL, "no-store".to_owned()),
            ],
            csv,
        )
            .into_response();
    }
    match paper::statements(&found.items, &found.issuer, &crate::keys::today()) {
        Ok(pdf) => (
            [
                (header::CONTENT_TYPE, "application/pdf".to_owned()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{base}.pdf\"")),
                (header::CACHE_CONTROL, "no-store".to_owned()),
            ],
            pdf,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "drawing statements failed");
            back(Some(station), &[("error", "unavailable")])
        }
    }
}
