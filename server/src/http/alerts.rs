//! The *Alertes* forms: an alert (or all) acknowledged, one's own choice of mails, a gérance's
//! thresholds. Each answers with a redirect to the page and a notice in its address.

use axum::extract::rejection::FormRejection;
use axum::extract::{Extension, Form, State};
use axum::response::Response;
use db::{AlertId, AlertPrefs, Scope};
use domain::alert::{GeranceThresholds, ThresholdError, check_signal_threshold, parse_credit_threshold};
use domain::{Account, Role, Timestamp};
use serde::Deserialize;

use super::AppState;
use super::auth::redirect;

fn back(name: &str, value: &str) -> Response {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair(name, value);
    redirect(&format!("/alerts?{}", q.finish()))
}

fn unavailable(e: db::DbError, what: &str) -> Response {
    tracing::error!(error = %e, what, "an alerts form failed");
    back("error", "unavailable")
}

#[derive(Debug, Deserialize)]
pub struct AckForm {
    #[serde(default)]
    id: Option<i64>,
    #[serde(default)]
    all: Option<String>,
}

/// `POST /alerts/ack`: an alert seen (it leaves the header's count; a failed top-up's alert ends), or
/// all of them.
pub async fn acknowledge(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    form: Result<Form<AckForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else { return back("error", "invalid") };
    let scope = Scope::of(&account);
    let now = Timestamp::now();
    let done = match (form.id, form.all) {
        (_, Some(_)) => state.db.acknowledge_all_alerts(scope, account.id, now).await.map(|n| n > 0),
        (Some(id), None) => state.db.acknowledge_alert(scope, AlertId(id), account.id, now).await,
        (None, None) => return back("error", "invalid"),
    };
    match done {
        Ok(true) => back("done", "ack"),
        // Someone else saw it first, or it is not one's own: nothing to do.
        Ok(false) => back("error", "gone"),
        Err(e) => unavailable(e, "acknowledge"),
    }
}

#[derive(Debug, Deserialize)]
pub struct MailsForm {
    #[serde(default)]
    mails: Option<String>,
    #[serde(default)]
    digest: Option<String>,
}

/// `POST /alerts/mails`: whether one gets a mail when an alert opens and clears, and the morning digest.
pub async fn mails(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    form: Result<Form<MailsForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else { return back("error", "invalid") };
    let prefs = AlertPrefs { mails: form.mails.is_some(), digest: form.digest.is_some() };
    match state.db.set_alert_prefs(account.id, prefs).await {
        Ok(()) => back("done", "mails"),
        Err(e) => unavailable(e, "mails"),
    }
}

#[derive(Debug, Deserialize)]
pub struct ThresholdsForm {
    station_credit: String,
    silent_hours: String,
    weak_signal_dbm: String,
    cancel_hours: String,
    payments_hours: String,
}

/// Hours as typed (`25`, `0.5`, `1,5`) in milliseconds; at most two decimals.
fn hours(text: &str, bounds: domain::alert::DurationBounds) -> Result<i64, ThresholdError> {
    let bad = ThresholdError::Duration(bounds);
    let t = text.trim().replace(',', ".");
    let (whole, frac) = t.split_once('.').unwrap_or((&t, ""));
    if whole.is_empty() && frac.is_empty()
        || whole.len() > 5
        || frac.len() > 2
        || !whole.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return Err(bad);
    }
    let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| bad)? };
    let frac: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().map_err(|_| bad)? * 10,
        _ => frac.parse().map_err(|_| bad)?,
    };
    bounds.check(whole * 3_600_000 + frac * 36_000)
}

fn thresholds(form: &ThresholdsForm) -> Result<GeranceThresholds, ThresholdError> {
    use domain::alert::DurationBounds::Long;
    let dbm = form.weak_signal_dbm.trim().parse::<i64>().map_err(|_| ThresholdError::Signal)?;
    GeranceThresholds {
        station_credit: parse_credit_threshold(&form.station_credit)?,
        silent_ms: hours(&form.silent_hours, Long)?,
        weak_signal_dbm: check_signal_threshold(dbm)?,
        cancel_wait_ms: hours(&form.cancel_hours, Long)?,
        payments_wait_ms: hours(&form.payments_hours, Long)?,
    }
    .check()
}

/// `POST /alerts/thresholds`: an administrator sets the thresholds of their gérance.
pub async fn set_thresholds(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    form: Result<Form<ThresholdsForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else { return back("error", "invalid") };
    let (Role::Admin, Some(gerance)) = (account.role, &account.gerance) else {
        return back("error", "forbidden");
    };
    let th = match thresholds(&form) {
        Ok(th) => th,
        Err(ThresholdError::Credit) => return back("error", "credit"),
        Err(ThresholdError::Duration(_)) => return back("error", "duration"),
        Err(ThresholdError::Signal) => return back("error", "signal"),
    };
    match state.db.set_gerance_thresholds(gerance.id, &th, Some(account.id), Timestamp::now()).await {
        Ok(()) => back("done", "thresholds"),
        Err(e) => unavailable(e, "thresholds"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::alert::DurationBounds::Long;

    #[test]
    fn hours_as_people_type_them() {
        assert_eq!(hours("25", Long), Ok(25 * 3_600_000));
        assert_eq!(hours("0,5", Long), Ok(1_800_000));
        assert_eq!(hours(" 1.25 ", Long), Ok(4_500_000));
        for bad in ["", "-1", "0", "721", "1.234", "1h", "."] {
            assert_eq!(hours(bad, Long), Err(ThresholdError::Duration(Long)), "{bad}");
        }
    }
}
