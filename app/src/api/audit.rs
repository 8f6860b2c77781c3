//! Server function of the audit log page: the money actions, newest first, a page at a time. An
//! admin reads its gérance's, an operator everyone's.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::TextJson;

/// One line of the log as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditView {
    pub id: i64,
    /// `04.12.2026 14:02:11`, Zurich.
    pub at: String,
    /// The account, or `None` for the command line and the automatic mode.
    pub by: Option<String>,
    /// `import`, `approve`, … (`db::AuditAction::as_str`).
    pub action: String,
    pub subject: String,
    pub details: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditData {
    pub entries: Vec<AuditView>,
    /// The id to ask for the next, older page, when there is one.
    pub older: Option<i64>,
}

pub const AUDIT_ROWS: i64 = 100;

#[server(endpoint = "audit_page", output = TextJson)]
pub async fn audit_page(before: Option<i64>) -> Result<AuditData, ServerFnError> {
    let account = super::ssr::account().await?;
    let db = super::ssr::db()?;
    let scope = db::Scope::of(&account);
    let mut rows = db.audit_log(scope, before, AUDIT_ROWS + 1).await.map_err(super::ssr::internal)?;
    let older = (rows.len() as i64 > AUDIT_ROWS).then(|| {
        rows.truncate(AUDIT_ROWS as usize);
        rows.last().map_or(0, |e| e.id)
    });
    let entries = rows
        .into_iter()
        .map(|e| AuditView {
            id: e.id,
            at: e.at.zurich().to_string(),
            by: e.by.map(|b| b.to_string()),
            action: e.action.as_str().to_owned(),
            subject: e.subject,
            details: e.details,
        })
        .collect();
    Ok(AuditData { entries, older })
}
