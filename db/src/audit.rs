//! The audit log: every money action, appended in the same database transaction as the action itself,
//! so that one is never without the other. The database refuses to change or delete its rows (triggers
//! of migration 0011); nothing here tries.

use domain::{Email, GeranceId, Timestamp, UserId};
use sqlx::{Any, Row, Transaction};

use crate::stations::Scope;
use crate::{Db, DbError, Result};

/// What was done, as the log names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    /// A bank file taken in.
    Import,
    /// A payment turned into its top-up by a person.
    Approve,
    /// A payment turned into its top-up by the automatic mode.
    AutoApprove,
    /// A payment assigned to a key by a person.
    Assign,
    /// A payment set aside with a reason.
    SetAside,
    /// The creditor account or the payment settings changed.
    Settings,
    /// A top-up entered by hand.
    TopUp,
    /// A top-up's cancellation asked for.
    Cancel,
    /// A key's holder or state changed.
    Key,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Import => "import",
            AuditAction::Approve => "approve",
            AuditAction::AutoApprove => "auto_approve",
            AuditAction::Assign => "assign",
            AuditAction::SetAside => "set_aside",
            AuditAction::Settings => "settings",
            AuditAction::TopUp => "top_up",
            AuditAction::Cancel => "cancel",
            AuditAction::Key => "key",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            AuditAction::Import,
            AuditAction::Approve,
            AuditAction::AutoApprove,
            AuditAction::Assign,
            AuditAction::SetAside,
            AuditAction::Settings,
            AuditAction::TopUp,
            AuditAction::Cancel,
            AuditAction::Key,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: i64,
    pub gerance_id: Option<GeranceId>,
    pub by: Option<Email>,
    pub action: AuditAction,
    pub subject: String,
    pub details: String,
    pub at: Timestamp,
}

/// Appends a line in the caller's transaction.
pub(crate) async fn append(
    tx: &mut Transaction<'_, Any>,
    gerance: Option<GeranceId>,
    by: Option<UserId>,
    action: AuditAction,
    subject: &str,
    details: &str,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (gerance_id, user_id, action, subject, details, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(gerance.map(GeranceId::get))
    .bind(by.map(UserId::get))
    .bind(action.as_str())
    .bind(subject)
    .bind(details)
    .bind(now.millis())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Db {
    /// The newest lines `scope` may see (an operator: all; a gérance: its own), before `before` (an id)
    /// when given.
    pub async fn audit_log(&self, scope: Scope, before: Option<i64>, limit: i64) -> Result<Vec<AuditEntry>> {
        let (all, gerance) = scope.binds();
        let rows = sqlx::query(
            "SELECT a.id, a.gerance_id, u.email, a.action, a.subject, a.details, a.created_at
             FROM audit_log a LEFT JOIN users u ON u.id = a.user_id
             WHERE ($1 OR a.gerance_id = $2) AND a.id < $3
             ORDER BY a.id DESC LIMIT $4",
        )
        .bind(all)
        .bind(gerance)
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let corrupt = |what: &str| DbError::Unusable(format!("invalid {what} in table audit_log"));
        rows.iter()
            .map(|row| {
                Ok(AuditEntry {
                    id: row.try_get("id")?,
                    gerance_id: row.try_get::<Option<i64>, _>("gerance_id")?.map(GeranceId),
                    by: row
                        .try_get::<Option<String>, _>("email")?
                        .map(|e| Email::parse(&e).map_err(|_| corrupt("e-mail")))
                        .transpose()?,
                    action: AuditAction::parse(row.try_get("action")?).ok_or_else(|| corrupt("action"))?,
                    subject: row.try_get("subject")?,
                    details: row.try_get("details")?,
                    at: Timestamp(row.try_get("created_at")?),
                })
            })
            .collect()
    }
}
