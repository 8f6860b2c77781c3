//! Alerts: the facts their conditions are decided on, the alerts kept (opened, refreshed, cleared,
//! acknowledged), the mails they cause, the gérances' thresholds and each account's choice of mails.
//! An alert's change and its mails are written in one transaction: a restart neither mails it again nor
//! forgets it.

use domain::alert::{
    BlockedPayment, Cancelling, Condition, Exceptions, Facts, FailedTopUp, GeranceThresholds, Kind, Raised,
    StationFacts,
};
use domain::{Email, GeranceId, Language, PaymentId, Role, StationId, Timestamp, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::columns::{amount, gerance, key, maybe_time, station, time, tx};
use crate::{Db, DbError, Result, Scope};

/// An alert's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AlertId(pub i64);

impl std::fmt::Display for AlertId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// An alert as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRecord {
    pub id: AlertId,
    pub gerance: Option<GeranceId>,
    pub condition: Condition,
    pub opened_at: Timestamp,
    pub cleared_at: Option<Timestamp>,
    /// Who acknowledged it (their e-mail) and when.
    pub acknowledged: Option<(String, Timestamp)>,
    /// A recipient the mail server refused, with its answer.
    pub mail_problem: Option<String>,
}

/// What a sync changed: the gérances whose alerts changed (`None`: the server's), for the live pages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertChanges {
    pub opened: usize,
    pub cleared: usize,
    pub gerances: Vec<Option<GeranceId>>,
}

/// An account's choice of mails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertPrefs {
    /// A mail when an alert opens and when it clears.
    pub mails: bool,
    /// The morning digest of what is open.
    pub digest: bool,
}

/// What a mail is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailContent {
    Opened(AlertRecord),
    Cleared(AlertRecord),
    /// The open alerts the recipient may see, on this day (Zurich).
    Digest {
        day: String,
        alerts: Vec<AlertRecord>,
    },
}

/// A mail due to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailJob {
    pub id: i64,
    pub to: Email,
    pub language: Language,
    pub attempts: i64,
    pub content: MailContent,
}

const ALERT_COLUMNS: &str = "a.id, a.gerance_id, a.detail, a.opened_at, a.cleared_at, u.email AS ack_email, \
     a.acknowledged_at, a.mail_problem";

fn alert_row(row: &AnyRow) -> Result<AlertRecord> {
    let detail: String = row.try_get("detail")?;
    let condition = serde_json::from_str(&detail)
        .map_err(|_| DbError::Unusable("invalid value in column detail".into()))?;
    let ack: Option<String> = row.try_get("ack_email")?;
    Ok(AlertRecord {
        id: AlertId(row.try_get("id")?),
        gerance: row.try_get::<Option<i64>, _>("gerance_id")?.map(GeranceId),
        condition,
        opened_at: time(row, "opened_at")?,
        cleared_at: maybe_time(row, "cleared_at")?,
        acknowledged: match (ack, maybe_time(row, "acknowledged_at")?) {
            (Some(who), Some(at)) => Some((who, at)),
            _ => None,
        },
        mail_problem: row.try_get("mail_problem")?,
    })
}

/// Failed top-ups older than this are not alerted any more (a database taken over from before alerts).
const FAILED_LOOKBACK_MS: i64 = 2 * 24 * 3600 * 1000;

impl Db {
    /// The facts the alert conditions are decided on, as stored; the caller adds the modem's state and
    /// the thresholds it was given.
    pub async fn alert_facts(&self, now: Timestamp) -> Result<Facts> {
        let mut facts = Facts { now, ..Facts::default() };
        let outbox: (Option<i64>, i64) = sqlx::query_as(
            "SELECT MIN(created_at), COUNT(*) FROM sms_out WHERE sent_at IS NULL AND error IS NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        facts.outbox = outbox.0.map(|oldest| (Timestamp(oldest), outbox.1));
        let rows = sqlx::query(
            "SELECT s.id, s.gerance_id, s.name, s.created_at, s.last_heard_at, s.signal_dbm, s.sim_credit_rappen,
                    (SELECT MAX(o.created_at) FROM sms_out o
                      WHERE o.station_id = s.id AND o.transaction_id IS NULL) AS asked_at,
                    (SELECT w.since FROM alert_watch w
                      WHERE w.kind = 'station_signal' AND w.subject = 's' || s.id) AS weak_since,
                    CAST(EXISTS (SELECT 1 FROM alerts a WHERE a.kind = 'station_silent'
                             AND a.subject = 's' || s.id AND a.cleared_at IS NULL) AS INTEGER) AS reported_silent
             FROM stations s ORDER BY s.id",
        )
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            facts.stations.push(StationFacts {
                id: station(row, "id")?,
                gerance: gerance(row, "gerance_id")?,
                name: row.try_get("name")?,
                created_at: time(row, "created_at")?,
                heard_at: maybe_time(row, "last_heard_at")?,
                signal_dbm: row.try_get("signal_dbm")?,
                sim_credit: row.try_get("sim_credit_rappen")?,
                asked_at: maybe_time(row, "asked_at")?,
                weak_since: maybe_time(row, "weak_since")?,
                reported_silent: crate::columns::flag(row, "reported_silent")?,
            });
        }
        let rows = sqlx::query(
            "SELECT t.id, t.gerance_id, t.station_id, s.name, t.key_number, t.amount_rappen, t.reason
             FROM transactions t JOIN stations s ON s.id = t.station_id
             WHERE t.status = 'failed' AND COALESCE(t.ended_at, t.created_at) >= $1
               AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.kind = 'top_up_failed' AND a.subject = 't' || t.id)
             ORDER BY t.id LIMIT 1000",
        )
        .bind(now.millis() - FAILED_LOOKBACK_MS)
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            facts.failed.push(FailedTopUp {
                tx: tx(row, "id")?,
                gerance: gerance(row, "gerance_id")?,
                station: station(row, "station_id")?,
                name: row.try_get("name")?,
                key: key(row, "key_number")?,
                amount: amount(row, "amount_rappen")?,
                reason: row.try_get::<Option<String>, _>("reason")?.and_then(|r| r.parse().ok()),
            });
        }
        let rows = sqlx::query(
            "SELECT t.id, t.gerance_id, t.station_id, s.name, t.key_number,
                    COALESCE(t.cancelling_since, t.created_at) AS since
             FROM transactions t JOIN stations s ON s.id = t.station_id
             WHERE t.status = 'cancelling' ORDER BY t.id LIMIT 1000",
        )
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            facts.cancelling.push(Cancelling {
                tx: tx(row, "id")?,
                gerance: gerance(row, "gerance_id")?,
                station: station(row, "station_id")?,
                name: row.try_get("name")?,
                key: key(row, "key_number")?,
                since: time(row, "since")?,
            });
        }
        let rows = sqlx::query(
            "SELECT gerance_id, COUNT(*) AS n, MIN(created_at) AS oldest FROM payments
             WHERE state = 'exception' GROUP BY gerance_id ORDER BY gerance_id",
        )
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            facts.exceptions.push(Exceptions {
                gerance: gerance(row, "gerance_id")?,
                count: row.try_get("n")?,
                oldest: time(row, "oldest")?,
            });
        }
        let rows = sqlx::query(
            "SELECT p.id, p.gerance_id, p.station_id, s.name, p.key_number, p.amount_minor
             FROM payments p JOIN stations s ON s.id = p.station_id
             WHERE p.state = 'exception' AND p.reason = 'key_blocked' AND p.key_number IS NOT NULL
             ORDER BY p.id LIMIT 1000",
        )
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            facts.blocked.push(BlockedPayment {
                payment: PaymentId(row.try_get("id")?),
                gerance: gerance(row, "gerance_id")?,
                station: station(row, "station_id")?,
                name: row.try_get("name")?,
                key: key(row, "key_number")?,
                rappen: row.try_get("amount_minor")?,
            });
        }
        let rows = sqlx::query(
            "SELECT gerance_id, station_credit_rappen, silent_ms, weak_signal_dbm, cancel_wait_ms, payments_wait_ms
             FROM alert_thresholds",
        )
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            facts.thresholds.push((gerance(row, "gerance_id")?, thresholds_row(row)?));
        }
        Ok(facts)
    }

    /// Makes the kept alerts what `raised` says holds now: a condition that started opens an alert (and
    /// mails for its recipients, when `mail`), one still holding has its facts refreshed, one that ended
    /// clears its alert (and mails those who were told it opened). A failed top-up's alert ends only when
    /// acknowledged. `weak` are the stations whose signal is weak now: since when is kept. One commit.
    pub async fn sync_alerts(
        &self,
        raised: &[Raised],
        weak: &[StationId],
        now: Timestamp,
        mail: bool,
    ) -> Result<AlertChanges> {
        let mut t = self.write_txn().await?;
        let watched: Vec<String> =
            sqlx::query_scalar("SELECT subject FROM alert_watch WHERE kind = 'station_signal'")
                .fetch_all(&mut *t)
                .await?;
        let weak: Vec<String> = weak.iter().map(|s| format!("s{s}")).collect();
        for subject in weak.iter().filter(|s| !watched.contains(s)) {
            sqlx::query("INSERT INTO alert_watch (kind, subject, since) VALUES ('station_signal', $1, $2)")
                .bind(subject)
                .bind(now.millis())
                .execute(&mut *t)
                .await?;
        }
        for subject in watched.iter().filter(|s| !weak.contains(s)) {
            sqlx::query("DELETE FROM alert_watch WHERE kind = 'station_signal' AND subject = $1")
                .bind(subject)
                .execute(&mut *t)
                .await?;
        }
        let open: Vec<(i64, String, String, Option<i64>)> =
            sqlx::query_as("SELECT id, kind, subject, gerance_id FROM alerts WHERE cleared_at IS NULL")
                .fetch_all(&mut *t)
                .await?;
        let mut changes = AlertChanges::default();
        for r in raised {
            let kind = r.condition.kind().as_str();
            let subject = r.subject();
            let detail = serde_json::to_string(&r.condition).expect("serialisable");
            if let Some((id, ..)) = open.iter().find(|(_, k, s, _)| k == kind && *s == subject) {
                let updated = sqlx::query("UPDATE alerts SET detail = $2 WHERE id = $1 AND detail <> $2")
                    .bind(id)
                    .bind(&detail)
                    .execute(&mut *t)
                    .await?;
                if updated.rows_affected() > 0 {
                    touched(r.gerance, &mut changes);
                }
                continue;
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO alerts (kind, subject, gerance_id, station_id, detail, opened_at)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(kind)
            .bind(&subject)
            .bind(r.gerance.map(GeranceId::get))
            .bind(r.condition.station().map(StationId::get))
            .bind(&detail)
            .bind(now.millis())
            .fetch_one(&mut *t)
            .await?;
            if mail {
                sqlx::query(
                    "INSERT INTO alert_mails (alert_id, user_id, what, created_at, next_attempt_at)
                     SELECT $1, u.id, 'opened', $2, $2 FROM users u
                     WHERE u.disabled_at IS NULL AND u.alert_mails
                       AND (u.role = 'operator' OR ($3 IS NOT NULL AND u.gerance_id = $3))",
                )
                .bind(id)
                .bind(now.millis())
                .bind(r.gerance.map(GeranceId::get))
                .execute(&mut *t)
                .await?;
            }
            changes.opened += 1;
            touched(r.gerance, &mut changes);
        }
        for (id, kind, subject, g) in &open {
            let ends = kind.parse::<Kind>().is_ok_and(Kind::ends_by_itself);
            let holds = raised.iter().any(|r| r.condition.kind().as_str() == kind && r.subject() == *subject);
            if !ends || holds {
                continue;
            }
            sqlx::query("UPDATE alerts SET cleared_at = $2 WHERE id = $1")
                .bind(id)
                .bind(now.millis())
                .execute(&mut *t)
                .await?;
            if mail {
                // Those told it opened (and who still want mails) are told it cleared.
                sqlx::query(
                    "INSERT INTO alert_mails (alert_id, user_id, what, created_at, next_attempt_at)
                     SELECT $1, m.user_id, 'cleared', $2, $2 FROM alert_mails m JOIN users u ON u.id = m.user_id
                     WHERE m.alert_id = $1 AND m.what = 'opened' AND u.disabled_at IS NULL AND u.alert_mails",
                )
                .bind(id)
                .bind(now.millis())
                .execute(&mut *t)
                .await?;
            }
            changes.cleared += 1;
            touched(g.map(GeranceId), &mut changes);
        }
        t.commit().await?;
        if !changes.gerances.is_empty() {
            let _ = self.alert_changes.send(changes.gerances.clone());
        }
        Ok(changes)
    }

    /// The gérances whose alerts changed, told after each commit (`None`: the server's own).
    pub fn alert_changes(&self) -> tokio::sync::broadcast::Receiver<Vec<Option<GeranceId>>> {
        self.alert_changes.subscribe()
    }

    /// How many open alerts in `scope` nobody acknowledged yet (the header's count).
    pub async fn unacknowledged_alerts(&self, scope: Scope) -> Result<i64> {
        let (all, g) = scope.binds();
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM alerts
             WHERE cleared_at IS NULL AND acknowledged_at IS NULL AND ($1 OR gerance_id = $2)",
        )
        .bind(all)
        .bind(g)
        .fetch_one(&self.pool)
        .await?)
    }

    /// The alerts of `scope`: the open ones (newest first), then those cleared since `cleared_since`.
    pub async fn alerts(
        &self,
        scope: Scope,
        cleared_since: Timestamp,
        limit: i64,
    ) -> Result<Vec<AlertRecord>> {
        let (all, g) = scope.binds();
        let rows = sqlx::query(&format!(
            "SELECT {ALERT_COLUMNS} FROM alerts a LEFT JOIN users u ON u.id = a.acknowledged_by
             WHERE ($1 OR a.gerance_id = $2) AND (a.cleared_at IS NULL OR a.cleared_at >= $3)
             ORDER BY a.cleared_at IS NOT NULL, COALESCE(a.cleared_at, a.opened_at) DESC, a.id DESC LIMIT $4"
        ))
        .bind(all)
        .bind(g)
        .bind(cleared_since.millis())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(alert_row).collect()
    }

    /// `by` saw the open alert `id` (of `scope`): it leaves the header's count; a failed top-up's alert
    /// ends. `false` when there is no such open alert there, or it was acknowledged already.
    pub async fn acknowledge_alert(
        &self,
        scope: Scope,
        id: AlertId,
        by: UserId,
        now: Timestamp,
    ) -> Result<bool> {
        self.acknowledge(scope, Some(id), by, now).await.map(|n| n > 0)
    }

    /// `by` saw every open alert of `scope`; how many.
    pub async fn acknowledge_all_alerts(&self, scope: Scope, by: UserId, now: Timestamp) -> Result<u64> {
        self.acknowledge(scope, None, by, now).await
    }

    async fn acknowledge(
        &self,
        scope: Scope,
        id: Option<AlertId>,
        by: UserId,
        now: Timestamp,
    ) -> Result<u64> {
        let (all, g) = scope.binds();
        let mut t = self.write_txn().await?;
        let gerances: Vec<Option<i64>> = sqlx::query_scalar(
            "UPDATE alerts SET acknowledged_by = $1, acknowledged_at = $2,
                    cleared_at = CASE WHEN kind = 'top_up_failed' THEN $2 ELSE cleared_at END
             WHERE cleared_at IS NULL AND acknowledged_at IS NULL AND ($3 OR gerance_id = $4)
               AND ($5 IS NULL OR id = $5)
             RETURNING gerance_id",
        )
        .bind(by.get())
        .bind(now.millis())
        .bind(all)
        .bind(g)
        .bind(id.map(|a| a.0))
        .fetch_all(&mut *t)
        .await?;
        t.commit().await?;
        let n = gerances.len() as u64;
        let mut changed = AlertChanges::default();
        for g in gerances {
            touched(g.map(GeranceId), &mut changed);
        }
        if n > 0 {
            let _ = self.alert_changes.send(changed.gerances);
        }
        Ok(n)
    }

    /// A gérance's own thresholds, if it set them.
    pub async fn gerance_thresholds(&self, g: GeranceId) -> Result<Option<GeranceThresholds>> {
        let row = sqlx::query(
            "SELECT station_credit_rappen, silent_ms, weak_signal_dbm, cancel_wait_ms, payments_wait_ms
             FROM alert_thresholds WHERE gerance_id = $1",
        )
        .bind(g.get())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(thresholds_row).transpose()
    }

    /// Sets a gérance's thresholds (checked by the caller with `GeranceThresholds::check`).
    pub async fn set_gerance_thresholds(
        &self,
        g: GeranceId,
        th: &GeranceThresholds,
        by: Option<UserId>,
        now: Timestamp,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO alert_thresholds (gerance_id, station_credit_rappen, silent_ms, weak_signal_dbm,
                                           cancel_wait_ms, payments_wait_ms, updated_by, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (gerance_id) DO UPDATE SET station_credit_rappen = excluded.station_credit_rappen,
                silent_ms = excluded.silent_ms, weak_signal_dbm = excluded.weak_signal_dbm,
                cancel_wait_ms = excluded.cancel_wait_ms, payments_wait_ms = excluded.payments_wait_ms,
                updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        )
        .bind(g.get())
        .bind(th.station_credit)
        .bind(th.silent_ms)
        .bind(th.weak_signal_dbm)
        .bind(th.cancel_wait_ms)
        .bind(th.payments_wait_ms)
        .bind(by.map(UserId::get))
        .bind(now.millis())
        .execute(&self.writer)
        .await
        .map_err(crate::classify)?;
        Ok(())
    }

    pub async fn alert_prefs(&self, user: UserId) -> Result<AlertPrefs> {
        let (mails, digest): (i64, i64) = sqlx::query_as(
            "SELECT CAST(alert_mails AS INTEGER), CAST(alert_digest AS INTEGER) FROM users WHERE id = $1",
        )
        .bind(user.get())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(DbError::NotFound)?;
        Ok(AlertPrefs { mails: mails != 0, digest: digest != 0 })
    }

    pub async fn set_alert_prefs(&self, user: UserId, prefs: AlertPrefs) -> Result<()> {
        sqlx::query("UPDATE users SET alert_mails = $2, alert_digest = $3 WHERE id = $1")
            .bind(user.get())
            .bind(prefs.mails)
            .bind(prefs.digest)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Queues the digest of `day` (Zurich) for every account that chose it and may see an open alert;
    /// once per account and day, however often it is called. How many were queued.
    pub async fn queue_digests(&self, day: &str, now: Timestamp) -> Result<u64> {
        let done = sqlx::query(
            "INSERT INTO alert_mails (user_id, what, day, created_at, next_attempt_at)
             SELECT u.id, 'digest', $1, $2, $2 FROM users u
             WHERE u.disabled_at IS NULL AND u.alert_digest
               AND EXISTS (SELECT 1 FROM alerts a WHERE a.cleared_at IS NULL
                            AND (u.role = 'operator' OR a.gerance_id = u.gerance_id))
             ON CONFLICT (user_id, day) WHERE what = 'digest' DO NOTHING",
        )
        .bind(day)
        .bind(now.millis())
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected())
    }

    /// The mails due at `now`, oldest first, with what they say.
    pub async fn due_mails(&self, now: Timestamp, limit: i64) -> Result<Vec<MailJob>> {
        let rows = sqlx::query(
            "SELECT m.id, m.alert_id, m.what, m.day, m.attempts, u.email, u.locale, u.role, u.gerance_id
             FROM alert_mails m JOIN users u ON u.id = m.user_id
             WHERE m.next_attempt_at IS NOT NULL AND m.next_attempt_at <= $1
             ORDER BY m.next_attempt_at, m.id LIMIT $2",
        )
        .bind(now.millis())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut jobs = Vec::with_capacity(rows.len());
        for row in &rows {
            let email: String = row.try_get("email")?;
            let to = Email::parse(&email)
                .map_err(|_| DbError::Unusable("invalid value in column email".into()))?;
            let language =
                row.try_get::<Option<String>, _>("locale")?.and_then(|l| l.parse().ok()).unwrap_or_default();
            let what: String = row.try_get("what")?;
            let content = match what.as_str() {
                "digest" => {
                    let role: String = row.try_get("role")?;
                    let scope = match (role.parse::<Role>(), row.try_get::<Option<i64>, _>("gerance_id")?) {
                        (Ok(Role::Operator), _) => Scope::All,
                        (_, Some(g)) => Scope::Gerance(GeranceId(g)),
                        _ => Scope::Gerance(GeranceId(-1)),
                    };
                    let open = self.alerts(scope, Timestamp(i64::MAX), 200).await?;
                    MailContent::Digest {
                        day: row.try_get::<Option<String>, _>("day")?.unwrap_or_default(),
                        alerts: open,
                    }
                }
                _ => {
                    let id: i64 = row.try_get::<Option<i64>, _>("alert_id")?.ok_or(DbError::NotFound)?;
                    let alert = sqlx::query(&format!(
                        "SELECT {ALERT_COLUMNS} FROM alerts a LEFT JOIN users u ON u.id = a.acknowledged_by
                         WHERE a.id = $1"
                    ))
                    .bind(id)
                    .fetch_one(&self.pool)
                    .await?;
                    let alert = alert_row(&alert)?;
                    if what == "cleared" { MailContent::Cleared(alert) } else { MailContent::Opened(alert) }
                }
            };
            jobs.push(MailJob {
                id: row.try_get("id")?,
                to,
                language,
                attempts: row.try_get("attempts")?,
                content,
            });
        }
        Ok(jobs)
    }

    /// When the next mail is due, if any.
    pub async fn next_mail_at(&self) -> Result<Option<Timestamp>> {
        let next: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(next_attempt_at) FROM alert_mails WHERE next_attempt_at IS NOT NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(next.map(Timestamp))
    }

    pub async fn mail_sent(&self, id: i64, now: Timestamp) -> Result<()> {
        sqlx::query(
            "UPDATE alert_mails SET sent_at = $2, next_attempt_at = NULL, attempts = attempts + 1, error = NULL
             WHERE id = $1",
        )
        .bind(id)
        .bind(now.millis())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// The mail could not be handed over (the server away, or refusing for now): tried again at `next`.
    pub async fn mail_deferred(&self, id: i64, error: &str, next: Timestamp) -> Result<()> {
        sqlx::query(
            "UPDATE alert_mails SET next_attempt_at = $2, attempts = attempts + 1, error = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(next.millis())
        .bind(error)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// The mail server refused the recipient for good: given up, and said on the alert.
    pub async fn mail_refused(&self, id: i64, problem: &str) -> Result<()> {
        let mut t = self.write_txn().await?;
        let alert: Option<Option<i64>> = sqlx::query_scalar(
            "UPDATE alert_mails SET next_attempt_at = NULL, attempts = attempts + 1, error = $2 WHERE id = $1
             RETURNING alert_id",
        )
        .bind(id)
        .bind(problem)
        .fetch_optional(&mut *t)
        .await?;
        let mut gerance = None;
        if let Some(Some(alert)) = alert {
            gerance = Some(
                sqlx::query_scalar::<_, Option<i64>>(
                    "UPDATE alerts SET mail_problem = $2 WHERE id = $1 RETURNING gerance_id",
                )
                .bind(alert)
                .bind(problem)
                .fetch_one(&mut *t)
                .await?,
            );
        }
        t.commit().await?;
        if let Some(g) = gerance {
            let _ = self.alert_changes.send(vec![g.map(GeranceId)]);
        }
        Ok(())
    }

    /// How many mails wait to be sent (for the operators' view and the tests).
    pub async fn mails_waiting(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM alert_mails WHERE next_attempt_at IS NOT NULL")
            .fetch_one(&self.pool)
            .await?)
    }
}

fn touched(g: Option<GeranceId>, changes: &mut AlertChanges) {
    if !changes.gerances.contains(&g) {
        changes.gerances.push(g);
    }
}

fn thresholds_row(row: &AnyRow) -> Result<GeranceThresholds> {
    GeranceThresholds {
        station_credit: row.try_get("station_credit_rappen")?,
        silent_ms: row.try_get("silent_ms")?,
        weak_signal_dbm: row.try_get("weak_signal_dbm")?,
        cancel_wait_ms: row.try_get("cancel_wait_ms")?,
        payments_wait_ms: row.try_get("payments_wait_ms")?,
    }
    .check()
    .map_err(|_| DbError::Unusable("invalid value in table alert_thresholds".into()))
}

#[cfg(test)]
mod tests {
    use domain::Role;
    use domain::alert::{Condition, Raised};

    use super::*;
    use crate::testing::{fresh, gerance_with_station, low_credit as credit, rappen, user};

    /// (recipient, what) of every mail queued, in order.
    async fn queued(db: &Db) -> Vec<(String, String)> {
        sqlx::query_as(
            "SELECT u.email, m.what FROM alert_mails m JOIN users u ON u.id = m.user_id ORDER BY m.id",
        )
        .fetch_all(&db.pool)
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn an_alert_opens_once_mails_its_gerance_and_the_operators_and_clears_with_a_mail() {
        let (db, _dir) = fresh().await;
        let (a, sa) = gerance_with_station(&db, "Gérance A", "+41790000001").await;
        let (b, _) = gerance_with_station(&db, "Gérance B", "+41790000002").await;
        let admin_a = user(&db, "a@example.ch", Role::Admin, Some(a)).await;
        let _admin_b = user(&db, "b@example.ch", Role::Admin, Some(b)).await;
        let _op = user(&db, "op@example.ch", Role::Operator, None).await;
        let quiet = user(&db, "quiet@example.ch", Role::Admin, Some(a)).await;
        db.set_alert_prefs(quiet, AlertPrefs { mails: false, digest: true }).await.unwrap();
        let mut changes = db.alert_changes();

        let opened = db.sync_alerts(&[credit(a, sa, 300)], &[], Timestamp(10), true).await.unwrap();
        assert_eq!((opened.opened, opened.gerances.clone()), (1, vec![Some(a)]));
        assert_eq!(changes.try_recv().unwrap(), vec![Some(a)]);
        // Seen again with a new credit: the same alert, refreshed, no new mail.
        let again = db.sync_alerts(&[credit(a, sa, 250)], &[], Timestamp(20), true).await.unwrap();
        assert_eq!(again.opened, 0);
        assert_eq!(
            queued(&db).await,
            [("a@example.ch".into(), "opened".into()), ("op@example.ch".into(), "opened".into())]
        );
        let open = db.alerts(Scope::Gerance(a), Timestamp(0), 10).await.unwrap();
        assert_eq!(open.len(), 1);
        assert!(matches!(open[0].condition, Condition::StationCredit { credit: 250, .. }));
        assert!(db.alerts(Scope::Gerance(b), Timestamp(0), 10).await.unwrap().is_empty());
        assert_eq!(db.unacknowledged_alerts(Scope::Gerance(b)).await.unwrap(), 0);
        assert_eq!(db.unacknowledged_alerts(Scope::All).await.unwrap(), 1);

        // Acknowledged: out of the count, still open; a neighbour cannot acknowledge it.
        let id = open[0].id;
        assert!(!db.acknowledge_alert(Scope::Gerance(b), id, admin_a, Timestamp(25)).await.unwrap());
        assert!(db.acknowledge_alert(Scope::Gerance(a), id, admin_a, Timestamp(25)).await.unwrap());
        assert!(!db.acknowledge_alert(Scope::Gerance(a), id, admin_a, Timestamp(26)).await.unwrap());
        assert_eq!(db.unacknowledged_alerts(Scope::Gerance(a)).await.unwrap(), 0);
        let open = db.alerts(Scope::Gerance(a), Timestamp(0), 10).await.unwrap();
        assert_eq!(open[0].acknowledged, Some(("a@example.ch".into(), Timestamp(25))));
        assert_eq!(open[0].cleared_at, None);

        // The condition ends: cleared, and those told it opened are told it cleared.
        let cleared = db.sync_alerts(&[], &[], Timestamp(30), true).await.unwrap();
        assert_eq!(cleared.cleared, 1);
        assert_eq!(queued(&db).await.len(), 4);
        assert_eq!(
            queued(&db).await[2..],
            [("a@example.ch".into(), "cleared".into()), ("op@example.ch".into(), "cleared".into())]
        );
        // It starts again: a new alert.
        db.sync_alerts(&[credit(a, sa, 100)], &[], Timestamp(40), false).await.unwrap();
        let all = db.alerts(Scope::All, Timestamp(0), 10).await.unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].cleared_at, None, "the open one first");
        assert_eq!(queued(&db).await.len(), 4, "no mail without a mail server");
    }

    #[tokio::test]
    async fn a_failed_top_up_stays_until_acknowledged_and_is_never_raised_twice() {
        let (db, _dir) = fresh().await;
        let (a, sa) = gerance_with_station(&db, "Gérance A", "+41790000001").await;
        let op = user(&db, "op@example.ch", Role::Operator, None).await;
        let failed = Raised {
            gerance: Some(a),
            condition: Condition::TopUpFailed {
                tx: domain::TxId(1),
                station: sa,
                name: "Buanderie".into(),
                key: domain::KeyNumber(5),
                amount: rappen(1_000),
                reason: None,
            },
        };
        db.sync_alerts(std::slice::from_ref(&failed), &[], Timestamp(10), true).await.unwrap();
        let later = db.sync_alerts(&[], &[], Timestamp(20), true).await.unwrap();
        assert_eq!(later.cleared, 0, "an event does not end by itself");
        assert_eq!(db.acknowledge_all_alerts(Scope::All, op, Timestamp(30)).await.unwrap(), 1);
        let all = db.alerts(Scope::All, Timestamp(0), 10).await.unwrap();
        assert_eq!(all[0].cleared_at, Some(Timestamp(30)));
        assert_eq!(queued(&db).await, [("op@example.ch".into(), "opened".into())], "no clearing mail");
    }

    #[tokio::test]
    async fn a_weak_signal_is_watched_from_when_it_was_first_seen() {
        let (db, _dir) = fresh().await;
        let (_, sa) = gerance_with_station(&db, "Gérance A", "+41790000001").await;
        db.sync_alerts(&[], &[sa], Timestamp(10), false).await.unwrap();
        db.sync_alerts(&[], &[sa], Timestamp(20), false).await.unwrap();
        let facts = db.alert_facts(Timestamp(30)).await.unwrap();
        assert_eq!(facts.stations[0].weak_since, Some(Timestamp(10)));
        db.sync_alerts(&[], &[], Timestamp(40), false).await.unwrap();
        assert_eq!(db.alert_facts(Timestamp(50)).await.unwrap().stations[0].weak_since, None);
    }

    #[tokio::test]
    async fn digests_once_a_day_to_those_who_chose_them_and_refused_recipients_are_said_on_the_alert() {
        let (db, _dir) = fresh().await;
        let (a, sa) = gerance_with_station(&db, "Gérance A", "+41790000001").await;
        let (b, _) = gerance_with_station(&db, "Gérance B", "+41790000002").await;
        let admin_a = user(&db, "a@example.ch", Role::Admin, Some(a)).await;
        let admin_b = user(&db, "b@example.ch", Role::Admin, Some(b)).await;
        for u in [admin_a, admin_b] {
            db.set_alert_prefs(u, AlertPrefs { mails: true, digest: true }).await.unwrap();
        }
        db.sync_alerts(&[credit(a, sa, 300)], &[], Timestamp(10), true).await.unwrap();
        assert_eq!(db.queue_digests("2026-12-04", Timestamp(20)).await.unwrap(), 1, "B has nothing open");
        assert_eq!(db.queue_digests("2026-12-04", Timestamp(30)).await.unwrap(), 0);
        let jobs = db.due_mails(Timestamp(40), 10).await.unwrap();
        assert_eq!(jobs.len(), 2);
        assert!(matches!(&jobs[0].content, MailContent::Opened(_)));
        let MailContent::Digest { day, alerts } = &jobs[1].content else { panic!("{jobs:?}") };
        assert_eq!((day.as_str(), alerts.len()), ("2026-12-04", 1));

        db.mail_refused(jobs[0].id, "a@example.ch: 550 no such user").await.unwrap();
        db.mail_deferred(jobs[1].id, "connection refused", Timestamp(100)).await.unwrap();
        assert_eq!(db.due_mails(Timestamp(99), 10).await.unwrap().len(), 0);
        assert_eq!(db.due_mails(Timestamp(100), 10).await.unwrap()[0].attempts, 1);
        let alert = &db.alerts(Scope::Gerance(a), Timestamp(0), 10).await.unwrap()[0];
        assert_eq!(alert.mail_problem.as_deref(), Some("a@example.ch: 550 no such user"));
        db.mail_sent(jobs[1].id, Timestamp(110)).await.unwrap();
        assert_eq!(db.mails_waiting().await.unwrap(), 0);
    }

    #[tokio::test]
    async fn thresholds_are_kept_per_gerance() {
        let (db, _dir) = fresh().await;
        let (a, _) = gerance_with_station(&db, "Gérance A", "+41790000001").await;
        assert_eq!(db.gerance_thresholds(a).await.unwrap(), None);
        let th = GeranceThresholds { station_credit: 800, ..GeranceThresholds::default() };
        db.set_gerance_thresholds(a, &th, None, Timestamp(5)).await.unwrap();
        assert_eq!(db.gerance_thresholds(a).await.unwrap(), Some(th));
        assert_eq!(db.alert_facts(Timestamp(6)).await.unwrap().thresholds, vec![(a, th)]);
    }
}
