//! Server functions of the alerts: the header's count, and the *Alertes* page (what is open, what
//! cleared lately, one's own choice of mails, the gérance's thresholds). Acknowledging and the forms are
//! plain posts to `server::http::alerts`.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::TextJson;

/// An alert as the page shows it, in the page's language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertView {
    pub id: i64,
    /// `domain::alert::Kind::as_str`.
    pub kind: String,
    pub title: String,
    pub detail: String,
    /// `04.12.2026 07:02:11`, Zurich.
    pub opened: String,
    pub cleared: Option<String>,
    /// Who saw it, and when.
    pub acknowledged: Option<(String, String)>,
    /// A recipient the mail server refused.
    pub mail_problem: Option<String>,
    /// The page it is best looked at on.
    pub link: String,
    /// Whose it is, for operators (`None`: the server's own).
    pub gerance: Option<String>,
}

/// A gérance's thresholds as its form shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThresholdsView {
    /// `5.00`
    pub station_credit: String,
    pub silent_hours: String,
    pub weak_signal_dbm: String,
    pub cancel_hours: String,
    pub payments_hours: String,
    /// The gérance set them (otherwise they are the operator's defaults).
    pub own: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertsData {
    pub open: Vec<AlertView>,
    /// Cleared in the last seven days.
    pub cleared: Vec<AlertView>,
    pub mails: bool,
    pub digest: bool,
    /// Whether the server sends mails at all (a mail server is configured).
    pub mail_configured: bool,
    /// An administrator's gérance's thresholds; `None` for operators (theirs are flags).
    pub thresholds: Option<ThresholdsView>,
}

/// How many open alerts the account may see that nobody acknowledged yet.
#[server(endpoint = "alert_count", output = TextJson)]
pub async fn alert_count() -> Result<i64, ServerFnError> {
    let account = super::ssr::account().await?;
    super::ssr::db()?.unacknowledged_alerts(db::Scope::of(&account)).await.map_err(super::ssr::internal)
}

/// Hours as a form shows them: `25`, `0.5`.
#[cfg(feature = "ssr")]
fn hours(ms: i64) -> String {
    let hundredths = (ms + 18_000) / 36_000;
    if hundredths % 100 == 0 {
        (hundredths / 100).to_string()
    } else {
        format!("{}.{:02}", hundredths / 100, hundredths % 100).trim_end_matches('0').to_owned()
    }
}

#[server(endpoint = "alerts_page", output = TextJson)]
pub async fn alerts_page(lang: String) -> Result<AlertsData, ServerFnError> {
    use domain::alert::words;
    use domain::{Language, Role, Timestamp};

    let account = super::ssr::account().await?;
    let db = super::ssr::db()?;
    let host = super::ssr::host()?;
    let language: Language = lang.parse().unwrap_or_default();
    let scope = db::Scope::of(&account);
    let week_ago = Timestamp::now().plus_millis(-7 * 24 * 3600 * 1000);
    let records = db.alerts(scope, week_ago, 300).await.map_err(super::ssr::internal)?;
    let names: std::collections::HashMap<i64, String> = if account.role == Role::Operator {
        db.list_gerances()
            .await
            .map_err(super::ssr::internal)?
            .into_iter()
            .map(|g| (g.id.get(), g.name.to_string()))
            .collect()
    } else {
        Default::default()
    };
    let (mut open, mut cleared) = (Vec::new(), Vec::new());
    for a in records {
        let view = AlertView {
            id: a.id.0,
            kind: a.condition.kind().as_str().to_owned(),
            title: words::title(&a.condition, language),
            detail: words::detail(&a.condition, language),
            opened: a.opened_at.zurich().to_string(),
            cleared: a.cleared_at.map(|t| t.zurich().to_string()),
            acknowledged: a.acknowledged.map(|(who, at)| (who, at.zurich().to_string())),
            mail_problem: a.mail_problem,
            link: a.condition.page(),
            gerance: a.gerance.and_then(|g| names.get(&g.get()).cloned()),
        };
        if view.cleared.is_some() { cleared.push(view) } else { open.push(view) }
    }
    let prefs = db.alert_prefs(account.id).await.map_err(super::ssr::internal)?;
    let thresholds = match &account.gerance {
        Some(g) if account.role == Role::Admin => {
            let own = db.gerance_thresholds(g.id).await.map_err(super::ssr::internal)?;
            let t = own.unwrap_or_else(|| host.0.alert_defaults());
            Some(ThresholdsView {
                station_credit: format!("{}.{:02}", t.station_credit / 100, t.station_credit % 100),
                silent_hours: hours(t.silent_ms),
                weak_signal_dbm: t.weak_signal_dbm.to_string(),
                cancel_hours: hours(t.cancel_wait_ms),
                payments_hours: hours(t.payments_wait_ms),
                own: own.is_some(),
            })
        }
        _ => None,
    };
    Ok(AlertsData {
        open,
        cleared,
        mails: prefs.mails,
        digest: prefs.digest,
        mail_configured: host.0.mail_configured(),
        thresholds,
    })
}
