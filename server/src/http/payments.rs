//! The *Paiements* forms: a bank file uploaded (multipart, up to 10 MB, two at once), a payment
//! approved, assigned or set aside, the gérance's account saved. Each answers with a redirect to its
//! page and a notice (`domain::notice::PaymentsNotice`), so that they work without script and a reload
//! does not post again.

use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::FormRejection;
use axum::extract::{Extension, Form, Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use db::{ApproveError, ImportRefused, Scope};
use domain::notice::{PaymentsNotice, PaymentsProblem as P};
use domain::payment::{Creditor, CreditorField, CreditorInput};
use domain::{Account, GeranceId, KeyNumber, PaymentId, Role, StationId, Timestamp};
use serde::Deserialize;

use super::AppState;
use super::auth::redirect;
use crate::payments::{ImportError, MAX_FILE_BYTES};

/// The largest upload: the file and the form around it.
pub const UPLOAD_BYTES: usize = MAX_FILE_BYTES + 64 * 1024;
/// Files taken in at once (each holds up to 10 MB in memory and the database's writer while it runs).
pub const IMPORTS_AT_ONCE: usize = 2;

fn back(page: &str, notice: PaymentsNotice, found: Option<&str>) -> Response {
    let mut to = format!("{page}?{}", notice.to_query());
    if let Some(found) = found {
        let found: String = found.chars().filter(|c| !c.is_control()).take(200).collect();
        to.push('&');
        to.push_str(&form_urlencoded::Serializer::new(String::new()).append_pair("found", &found).finish());
    }
    redirect(&to)
}

fn problem(p: P, found: Option<&str>) -> Response {
    back("/payments", PaymentsNotice::Problem(p), found)
}

/// `POST /payments/import`: a camt file from the page's file picker.
pub async fn import(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    form: Result<Multipart, MultipartRejection>,
) -> Response {
    let Ok(_turn) = state.imports.clone().try_acquire_owned() else { return problem(P::Busy, None) };
    let Ok(mut form) = form else { return problem(P::Invalid, None) };
    let mut file = None;
    loop {
        match form.next_field().await {
            Ok(Some(field)) if field.name() == Some("file") => {
                let name = field.file_name().map(file_name).unwrap_or_else(|| "upload.xml".to_owned());
                match field.bytes().await {
                    Ok(bytes) => file = Some((name, bytes)),
                    Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                        return (StatusCode::PAYLOAD_TOO_LARGE, "The file is larger than 10 MB.\n")
                            .into_response();
                    }
                    Err(_) => return problem(P::Invalid, None),
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return (StatusCode::PAYLOAD_TOO_LARGE, "The file is larger than 10 MB.\n").into_response();
            }
            Err(_) => return problem(P::Invalid, None),
        }
    }
    let Some((name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else { return problem(P::Invalid, None) };
    let gerance = account.gerance.as_ref().map(|g| g.id);
    match crate::payments::import(&state.db, gerance, Some(account.id), &name, &bytes).await {
        Ok(summary) => {
            tracing::info!(file = %name, %summary, "bank file taken in");
            if summary.approved > 0 {
                state.journal.wake();
            }
            let import = summary.import.map_or(0, |i| i.get());
            back("/payments", PaymentsNotice::Imported { import }, None)
        }
        Err(e) => {
            let (p, found) = refusal(&e);
            if matches!(e, ImportError::Db(_)) {
                tracing::error!(error = %e, "taking a bank file in failed");
            } else {
                tracing::info!(file = %name, why = %e, "bank file refused");
            }
            problem(p, found.as_deref())
        }
    }
}

/// The name a file is shown with: its last path part, printable, at most 100 characters.
fn file_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    let clean: String = base.chars().filter(|c| !c.is_control()).take(100).collect();
    if clean.trim().is_empty() { "upload.xml".to_owned() } else { clean }
}

fn refusal(e: &ImportError) -> (P, Option<String>) {
    use bank::CamtError as C;
    match e {
        ImportError::TooLarge => (P::TooLarge, None),
        ImportError::Camt(c) => match c {
            C::Malformed { at, .. } => (P::Malformed, Some(format!("{at}"))),
            C::Empty => (P::Malformed, None),
            C::TooDeep(name) | C::TooLong(name) => (P::Malformed, Some(format!("<{name}>"))),
            C::Doctype => (P::Doctype, None),
            C::Entity(name) => (P::Entity, Some(format!("&{name};"))),
            C::Encoding(found) => (P::Encoding, Some(found.clone())),
            C::NotCamt { root, namespace } => {
                (P::NotCamt, Some(format!("<{root}> {namespace}").trim().to_owned()))
            }
            C::Version { found } => (P::Version, Some(found.clone())),
            C::NoIban(_) => (P::NoIban, None),
            C::BadIban(found) => (P::NoIban, Some(found.clone())),
            C::Amount { entry, found } => (P::BadEntry, Some(format!("{entry}: {found}"))),
            C::Missing { entry, field } => (P::BadEntry, Some(format!("{entry}: {field}"))),
            C::Invalid { entry, field, found } => (P::BadEntry, Some(format!("{entry}: {field} {found}"))),
        },
        ImportError::Refused(ImportRefused::NoCreditor) => (P::NoCreditor, None),
        ImportError::Refused(ImportRefused::WrongAccount { found, .. }) => {
            (P::WrongAccount, Some(found.to_string()))
        }
        ImportError::Refused(ImportRefused::NoAccount) | ImportError::NoAccount => (P::NoIban, None),
        ImportError::UnknownAccount(found) => (P::UnknownAccount, Some(found.clone())),
        ImportError::Db(_) => (P::Unavailable, None),
    }
}

#[derive(Debug, Deserialize)]
pub struct ApproveForm {
    /// One payment, or several separated by commas (the page's "approve all").
    ids: String,
}

/// `POST /payments/approve`.
pub async fn approve(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    form: Result<Form<ApproveForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else { return problem(P::Invalid, None) };
    let ids: Option<Vec<PaymentId>> = form.ids.split(',').map(|s| s.trim().parse().ok()).collect();
    let Some(ids) = ids.filter(|ids| !ids.is_empty() && ids.len() <= 500) else {
        return problem(P::Invalid, None);
    };
    let scope = Scope::of(&account);
    let mut approved = 0;
    let mut first_problem = None;
    for id in ids {
        match state.db.approve_payment(scope, id, Some(account.id), Timestamp::now()).await {
            Ok(Ok(_)) => approved += 1,
            Ok(Err(e)) => {
                first_problem.get_or_insert(approve_problem(&e));
            }
            Err(e) => {
                tracing::error!(error = %e, "approving a payment failed");
                first_problem.get_or_insert(P::Unavailable);
            }
        }
    }
    if approved > 0 {
        state.journal.wake();
    }
    match (approved, first_problem) {
        (0, Some(p)) => problem(p, None),
        _ => back("/payments", PaymentsNotice::Approved { count: approved }, None),
    }
}

fn approve_problem(e: &ApproveError) -> P {
    match e {
        ApproveError::NotFound => P::Invalid,
        ApproveError::AlreadyApproved(_) => P::AlreadyApproved,
        ApproveError::NotOpen(_) => P::NotOpen,
        ApproveError::NoKey => P::NoKey,
        ApproveError::UnknownStation => P::UnknownStation,
        ApproveError::NothingToLoad => P::NothingToLoad,
        ApproveError::AboveMaximum(_) => P::AboveMaximum,
        ApproveError::KeyBlocked => P::KeyBlocked,
        ApproveError::KeyRetired => P::KeyRetired,
    }
}

#[derive(Debug, Deserialize)]
pub struct AssignForm {
    id: String,
    station: String,
    key: String,
}

/// `POST /payments/assign`: an exception (or a suggestion) to a key; its top-up is made.
pub async fn assign(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    form: Result<Form<AssignForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else { return problem(P::Invalid, None) };
    let (Ok(id), Ok(station)) = (form.id.parse::<PaymentId>(), form.station.parse::<StationId>()) else {
        return problem(P::Invalid, None);
    };
    let Ok(key) = KeyNumber::parse(&form.key) else { return problem(P::Key, Some(&form.key)) };
    match state
        .db
        .assign_payment(Scope::of(&account), id, station, key, Some(account.id), Timestamp::now())
        .await
    {
        Ok(Ok(_)) => {
            state.journal.wake();
            back("/payments", PaymentsNotice::Approved { count: 1 }, None)
        }
        Ok(Err(e)) => problem(approve_problem(&e), None),
        Err(e) => {
            tracing::error!(error = %e, "assigning a payment failed");
            problem(P::Unavailable, None)
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct AsideForm {
    id: String,
    reason: String,
}

/// `POST /payments/aside`: a payment that is no top-up, with the person's reason.
pub async fn set_aside(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    form: Result<Form<AsideForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else { return problem(P::Invalid, None) };
    let Ok(id) = form.id.parse::<PaymentId>() else { return problem(P::Invalid, None) };
    let reason = form.reason.split_whitespace().collect::<Vec<_>>().join(" ");
    if reason.is_empty() || reason.chars().count() > 200 {
        return problem(P::Reason, None);
    }
    match state
        .db
        .set_payment_aside(Scope::of(&account), id, &reason, Some(account.id), Timestamp::now())
        .await
    {
        Ok(true) => back("/payments", PaymentsNotice::SetAside, None),
        Ok(false) => problem(P::NotOpen, None),
        Err(e) => {
            tracing::error!(error = %e, "setting a payment aside failed");
            problem(P::Unavailable, None)
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct CreditorForm {
    /// An operator's choice; an admin's own gérance otherwise (this field is then ignored).
    #[serde(default)]
    gerance: String,
    #[serde(flatten)]
    input: CreditorInput,
}

/// `POST /payments/account`: the gérance's account and settings. Refused fields come back marked, with
/// what was typed (none of it is secret: it is what the QR-bills print).
pub async fn save_creditor(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    form: Result<Form<CreditorForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return redirect(&format!("/payments/account?{}", PaymentsNotice::Problem(P::Invalid).to_query()));
    };
    let gerance = match (&account.gerance, account.role) {
        (Some(g), _) => g.id,
        (None, Role::Operator) => match form.gerance.parse::<i64>() {
            Ok(id) => GeranceId(id),
            Err(_) => {
                return redirect(&format!(
                    "/payments/account?{}",
                    PaymentsNotice::Problem(P::Invalid).to_query()
                ));
            }
        },
        (None, Role::Admin) => return redirect("/payments/account"),
    };
    let again = |p: P, bad: &[CreditorField]| {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("error", p.code()).append_pair("gerance", &gerance.to_string());
        let bad: Vec<&str> = bad.iter().map(|f| f.code()).collect();
        q.append_pair("bad", &bad.join(","));
        let i = &form.input;
        for (name, value) in [
            ("iban", &i.iban),
            ("name", &i.name),
            ("street", &i.street),
            ("building", &i.building),
            ("postcode", &i.postcode),
            ("town", &i.town),
            ("country", &i.country),
            ("qrr_prefix", &i.qrr_prefix),
            ("bill_amount", &i.bill_amount),
            ("fee_fixed", &i.fee_fixed),
            ("fee_percent", &i.fee_percent),
            ("auto_approve", &i.auto_approve),
        ] {
            let value: String = value.chars().filter(|c| !c.is_control()).take(100).collect();
            q.append_pair(name, &value);
        }
        redirect(&format!("/payments/account?{}", q.finish()))
    };
    let creditor = match Creditor::parse(&form.input) {
        Ok(c) => c,
        Err(bad) => return again(P::Creditor, &bad),
    };
    match state.db.set_creditor(gerance, &creditor, Some(account.id), Timestamp::now()).await {
        Ok(()) => {
            redirect(&format!("/payments/account?{}&gerance={gerance}", PaymentsNotice::Saved.to_query()))
        }
        Err(db::DbError::Conflict) => again(P::AccountTaken, &[]),
        Err(db::DbError::NotFound) => {
            redirect(&format!("/payments/account?{}", PaymentsNotice::Problem(P::Invalid).to_query()))
        }
        Err(e) => {
            tracing::error!(error = %e, "saving a creditor failed");
            again(P::Unavailable, &[])
        }
    }
}
