//! Transactions (the journal), the SMS sent to stations (the outbox) and the SMS received (the inbox).
//!
//! Every change of a transaction takes the next value of the `journal` counter as its `version`, in the
//! same database transaction: the event stream sends changes in that order and resumes from any version.

use domain::journal::{Answer, Delivery, TxStatus, after_answer, after_report, settles_failure};
use domain::{PhoneNumber, Timestamp};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, Transaction};

use crate::stations::{LINK_COLUMNS, Scope, StationLink, link_from_row};
use crate::{Db, DbError, Result, classify};

/// A journal row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxRecord {
    pub id: i64,
    pub gerance_id: i64,
    pub gerance_name: String,
    pub station_id: i64,
    pub station_name: String,
    pub station_place: String,
    pub key: u16,
    pub amount_rappen: i64,
    pub status: TxStatus,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
    pub confirmed_at: Option<Timestamp>,
    pub reloaded_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub balance_rappen: Option<i64>,
    pub reason: Option<String>,
    pub attempts: i64,
    pub version: i64,
    /// When the network reported its message on the station's SIM (while it waited for an answer).
    pub delivered_at: Option<Timestamp>,
}

pub(crate) const TX_COLUMNS: &str = "t.id, t.gerance_id, g.name AS gerance_name, t.station_id, s.name AS station_name, \
     s.place AS station_place, t.key_number, t.amount_rappen, t.status, t.created_at, t.sent_at, t.confirmed_at, \
     t.reloaded_at, t.ended_at, t.balance_rappen, t.reason, t.attempts, t.version, t.delivered_at";
pub(crate) const TX_FROM: &str =
    "transactions t JOIN stations s ON s.id = t.station_id JOIN gerances g ON g.id = t.gerance_id";

pub(crate) fn tx_from_row(row: &SqliteRow) -> Result<TxRecord> {
    let corrupt = |what: &str| DbError::Unusable(format!("invalid {what} in table transactions"));
    let status: String = row.try_get("status")?;
    let key: i64 = row.try_get("key_number")?;
    let time =
        |name: &str| -> Result<Option<Timestamp>> { Ok(row.try_get::<Option<i64>, _>(name)?.map(Timestamp)) };
    Ok(TxRecord {
        id: row.try_get("id")?,
        gerance_id: row.try_get("gerance_id")?,
        gerance_name: row.try_get("gerance_name")?,
        station_id: row.try_get("station_id")?,
        station_name: row.try_get("station_name")?,
        station_place: row.try_get("station_place")?,
        key: u16::try_from(key).map_err(|_| corrupt("key"))?,
        amount_rappen: row.try_get("amount_rappen")?,
        status: status.parse().map_err(|_| corrupt("status"))?,
        created_at: Timestamp(row.try_get("created_at")?),
        sent_at: time("sent_at")?,
        confirmed_at: time("confirmed_at")?,
        reloaded_at: time("reloaded_at")?,
        ended_at: time("ended_at")?,
        balance_rappen: row.try_get("balance_rappen")?,
        reason: row.try_get("reason")?,
        attempts: row.try_get("attempts")?,
        version: row.try_get("version")?,
        delivered_at: time("delivered_at")?,
    })
}

impl TxRecord {
    /// The row as the browser sees it.
    pub fn view(&self) -> domain::journal::TxView {
        domain::journal::TxView {
            id: self.id,
            station_id: self.station_id,
            station: format!("{}, {}, {}", self.station_name, self.gerance_name, self.station_place),
            key: self.key,
            amount_rappen: self.amount_rappen,
            status: self.status,
            created_at: self.created_at.millis(),
            sent_at: self.sent_at.map(|t| t.millis()),
            confirmed_at: self.confirmed_at.map(|t| t.millis()),
            reloaded_at: self.reloaded_at.map(|t| t.millis()),
            ended_at: self.ended_at.map(|t| t.millis()),
            balance_rappen: self.balance_rappen,
            reason: self.reason.clone(),
            version: self.version,
            shown_times: [Some(self.created_at), self.sent_at, self.confirmed_at, self.reloaded_at]
                .map(|t| t.map(|t| t.zurich().to_string())),
            shown_delivered: self.delivered_at.map(|t| t.zurich().to_string()),
        }
    }
}

/// What [`Db::message_reported`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reported {
    /// The report named a message we sent.
    pub matched: bool,
    /// The transaction's new version, if it changed.
    pub version: Option<i64>,
    /// Its transaction is due now: wake whoever sends.
    pub resend_now: bool,
}

/// Which journal rows to show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalFilter {
    pub station: Option<i64>,
    pub key: Option<u16>,
    pub status: Option<TxStatus>,
    /// Created at or after (UTC ms).
    pub from: Option<Timestamp>,
    /// Created before (UTC ms).
    pub until: Option<Timestamp>,
}

/// The journal's sortable columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalSort {
    Number,
    Date,
    Station,
    Key,
    Amount,
    Status,
}

impl JournalSort {
    /// The ORDER BY for this column; the transaction number breaks ties so pages never overlap.
    pub(crate) fn order_by(self, descending: bool) -> String {
        let dir = if descending { "DESC" } else { "ASC" };
        let column = match self {
            JournalSort::Number => return format!("t.id {dir}"),
            JournalSort::Date => "t.created_at",
            JournalSort::Station => "s.name",
            JournalSort::Key => "t.key_number",
            JournalSort::Amount => "t.amount_rappen",
            JournalSort::Status => "t.status",
        };
        format!("{column} {dir}, t.id {dir}")
    }
}

/// A top-up to record.
pub struct NewTopUp<'a> {
    pub station_id: i64,
    pub key: u16,
    pub amount_rappen: i64,
    /// Who entered it (`None`: the command line or a test).
    pub user_id: Option<i64>,
    /// The form's one-time token.
    pub request_token: &'a str,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TopUpError {
    #[error("no such station")]
    UnknownStation,
    #[error("above the station's maximum of {0} Rappen")]
    AboveMaximum(i64),
    #[error("this form was already sent")]
    AlreadySent(i64),
}

/// A transaction the modem task must act on now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueTx {
    pub id: i64,
    pub station_id: i64,
    pub status: TxStatus,
    pub key: u16,
    pub amount_rappen: i64,
    pub attempts: i64,
}

/// What the modem task decided for a due transaction, committed with the message it queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheduled {
    /// When to act again (`None`: not before an answer).
    pub next_attempt_at: Option<Timestamp>,
    /// Count this as an attempt.
    pub count_attempt: bool,
    /// The transaction fails with this reason (the message queued is then a cancellation).
    pub fail: Option<&'static str>,
}

/// An SMS waiting for the modem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutMessage {
    pub id: i64,
    pub station_id: i64,
    pub phone: String,
    pub text: String,
    pub transaction_id: Option<i64>,
}

/// What a verified station message does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StationEffect {
    Answer { tx: i64, answer: Answer, reason: Option<&'static str> },
    Heartbeat { pending: i64, signal_dbm: Option<i64>, sim_credit_rappen: Option<i64>, firmware: String },
}

/// What became of a received message, and what it said.
async fn record_verdict(
    executor: impl sqlx::SqliteExecutor<'_>,
    in_id: i64,
    verdict: &str,
    sender: Option<&str>,
    text: Option<&str>,
    station_id: Option<i64>,
) -> Result<()> {
    sqlx::query("UPDATE sms_in SET verdict = $2, sender = $3, text = $4, station_id = $5 WHERE id = $1")
        .bind(in_id)
        .bind(verdict)
        .bind(sender)
        .bind(text)
        .bind(station_id)
        .execute(executor)
        .await?;
    Ok(())
}

async fn next_version(tx: &mut Transaction<'_, Sqlite>) -> Result<i64> {
    Ok(sqlx::query_scalar("UPDATE counters SET value = value + 1 WHERE name = 'journal' RETURNING value")
        .fetch_one(&mut **tx)
        .await?)
}

/// What `Db::queue_message` does, inside the caller's database transaction.
async fn queue_in(
    tx: &mut Transaction<'_, Sqlite>,
    station_id: i64,
    tx_id: Option<i64>,
    schedule: Scheduled,
    now: Timestamp,
    make_text: impl FnOnce(u32, &StationLink) -> String,
) -> Result<(i64, Option<i64>)> {
    let row = sqlx::query(&format!(
        "UPDATE stations SET sent_counter = sent_counter + 1 WHERE id = $1 RETURNING {LINK_COLUMNS}"
    ))
    .bind(station_id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(DbError::NotFound)?;
    let link = link_from_row(&row)?;
    let counter =
        u32::try_from(link.sent_counter).map_err(|_| DbError::Unusable("counter exhausted".into()))?;
    let text = make_text(counter, &link);
    let out_id: i64 = sqlx::query_scalar(
        "INSERT INTO sms_out (station_id, transaction_id, text, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(station_id)
    .bind(tx_id)
    .bind(&text)
    .bind(now.millis())
    .fetch_one(&mut **tx)
    .await?;
    let mut version = None;
    if let Some(id) = tx_id {
        let v = next_version(tx).await?;
        sqlx::query(
            "UPDATE transactions SET attempts = attempts + $2, next_attempt_at = $3, version = $4,
                 status = CASE WHEN $5 IS NULL THEN status ELSE 'failed' END,
                 reason = COALESCE($5, reason),
                 ended_at = CASE WHEN $5 IS NULL THEN ended_at ELSE $6 END
             WHERE id = $1",
        )
        .bind(id)
        .bind(i64::from(schedule.count_attempt))
        .bind(schedule.next_attempt_at.map(|t| t.millis()))
        .bind(v)
        .bind(schedule.fail)
        .bind(now.millis())
        .execute(&mut **tx)
        .await?;
        version = Some(v);
    }
    Ok((out_id, version))
}

/// Shows `reason` on transaction `id` (what went wrong last); `uncount`: its last attempt did not happen.
/// Returns its new version.
async fn note_reason(tx: &mut Transaction<'_, Sqlite>, id: i64, reason: &str, uncount: bool) -> Result<i64> {
    let v = next_version(tx).await?;
    sqlx::query(
        "UPDATE transactions SET reason = $2, version = $3,
             attempts = CASE WHEN $4 AND status IN ('queued', 'sent') AND attempts > 0 THEN attempts - 1
                             ELSE attempts END
         WHERE id = $1",
    )
    .bind(id)
    .bind(reason)
    .bind(v)
    .bind(uncount)
    .execute(&mut **tx)
    .await?;
    Ok(v)
}

impl Db {
    /// Records a top-up (status queued, to be sent now) if `scope` may use the station and the amount is
    /// within its maximum. The same request token twice gives [`TopUpError::AlreadySent`].
    pub async fn create_top_up(
        &self,
        scope: Scope,
        new: NewTopUp<'_>,
        now: Timestamp,
    ) -> Result<std::result::Result<TxRecord, TopUpError>> {
        let mut tx = self.write_txn().await?;
        if let Some(id) = sqlx::query_scalar::<_, i64>("SELECT id FROM transactions WHERE request_token = $1")
            .bind(new.request_token)
            .fetch_optional(&mut *tx)
            .await?
        {
            return Ok(Err(TopUpError::AlreadySent(id)));
        }
        let (all, gerance) = scope.binds();
        let station: Option<(i64, i64)> = sqlx::query_as(
            "SELECT gerance_id, max_amount_rappen FROM stations WHERE id = $1 AND ($2 OR gerance_id = $3)",
        )
        .bind(new.station_id)
        .bind(all)
        .bind(gerance)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((gerance_id, max)) = station else { return Ok(Err(TopUpError::UnknownStation)) };
        if new.amount_rappen > max {
            return Ok(Err(TopUpError::AboveMaximum(max)));
        }
        let version = next_version(&mut tx).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO transactions (gerance_id, station_id, key_number, amount_rappen, status, created_by,
                 request_token, created_at, next_attempt_at, version)
             VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7, $7, $8) RETURNING id",
        )
        .bind(gerance_id)
        .bind(new.station_id)
        .bind(i64::from(new.key))
        .bind(new.amount_rappen)
        .bind(new.user_id)
        .bind(new.request_token)
        .bind(now.millis())
        .bind(version)
        .fetch_one(&mut *tx)
        .await
        .map_err(classify)?;
        tx.commit().await?;
        Ok(Ok(self.transaction(Scope::All, id).await?.ok_or(DbError::NotFound)?))
    }

    /// One transaction, if `scope` may see it.
    pub async fn transaction(&self, scope: Scope, id: i64) -> Result<Option<TxRecord>> {
        let (all, gerance) = scope.binds();
        let row = sqlx::query(&format!(
            "SELECT {TX_COLUMNS} FROM {TX_FROM} WHERE t.id = $1 AND ($2 OR t.gerance_id = $3)"
        ))
        .bind(id)
        .bind(all)
        .bind(gerance)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(tx_from_row).transpose()
    }

    /// Transactions changed after `version` that `scope` may see, oldest change first.
    pub async fn changes_since(&self, scope: Scope, version: i64, limit: i64) -> Result<Vec<TxRecord>> {
        let (all, gerance) = scope.binds();
        let rows = sqlx::query(&format!(
            "SELECT {TX_COLUMNS} FROM {TX_FROM} WHERE t.version > $1 AND ($2 OR t.gerance_id = $3)
             ORDER BY t.version LIMIT $4"
        ))
        .bind(version)
        .bind(all)
        .bind(gerance)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(tx_from_row).collect()
    }

    /// The latest version of the journal.
    pub async fn journal_version(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT value FROM counters WHERE name = 'journal'")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Asks to cancel a top-up that is not loaded yet; false if it cannot be cancelled any more.
    pub async fn request_cancel(&self, scope: Scope, id: i64, now: Timestamp) -> Result<bool> {
        let mut tx = self.write_txn().await?;
        let (all, gerance) = scope.binds();
        let status: Option<String> =
            sqlx::query_scalar("SELECT status FROM transactions WHERE id = $1 AND ($2 OR gerance_id = $3)")
                .bind(id)
                .bind(all)
                .bind(gerance)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(status) = status.and_then(|s| s.parse::<TxStatus>().ok()) else { return Ok(false) };
        if !status.cancellable() {
            return Ok(false);
        }
        let version = next_version(&mut tx).await?;
        sqlx::query(
            "UPDATE transactions SET status = 'cancelling', attempts = 0, next_attempt_at = $2, version = $3
             WHERE id = $1",
        )
        .bind(id)
        .bind(now.millis())
        .bind(version)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Transactions whose next attempt is due, in order; not those whose last message still waits in the
    /// outbox (their schedule starts when it leaves).
    pub async fn due_transactions(&self, now: Timestamp, limit: i64) -> Result<Vec<DueTx>> {
        let rows = sqlx::query(
            "SELECT id, station_id, status, key_number, amount_rappen, attempts FROM transactions t
             WHERE next_attempt_at <= $1 AND NOT EXISTS (SELECT 1 FROM sms_out o
                 WHERE o.transaction_id = t.id AND o.sent_at IS NULL AND o.error IS NULL)
             ORDER BY next_attempt_at, id LIMIT $2",
        )
        .bind(now.millis())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let status: String = row.try_get("status")?;
                let key: i64 = row.try_get("key_number")?;
                Ok(DueTx {
                    id: row.try_get("id")?,
                    station_id: row.try_get("station_id")?,
                    status: status.parse().map_err(|_| DbError::Unusable("invalid status".into()))?,
                    key: key as u16,
                    amount_rappen: row.try_get("amount_rappen")?,
                    attempts: row.try_get("attempts")?,
                })
            })
            .collect()
    }

    /// The earliest next attempt (of the transactions [`Self::due_transactions`] would consider), to know
    /// how long the modem task may sleep.
    pub async fn next_attempt_at(&self) -> Result<Option<Timestamp>> {
        let at: Option<i64> = sqlx::query_scalar(
            "SELECT next_attempt_at FROM transactions t
             WHERE next_attempt_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM sms_out o
                 WHERE o.transaction_id = t.id AND o.sent_at IS NULL AND o.error IS NULL)
             ORDER BY next_attempt_at LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(at.map(Timestamp))
    }

    /// Queues a message to `station_id`, signed with the station's next counter (`make_text(counter,
    /// link)`), and records `schedule` for transaction `tx_id`: all in one database transaction, before
    /// anything is sent. Returns the new message's id and the transaction's new version, if it changed.
    pub async fn queue_message(
        &self,
        station_id: i64,
        tx_id: Option<i64>,
        schedule: Scheduled,
        now: Timestamp,
        make_text: impl FnOnce(u32, &StationLink) -> String,
    ) -> Result<(i64, Option<i64>)> {
        let mut tx = self.write_txn().await?;
        let queued = queue_in(&mut tx, station_id, tx_id, schedule, now, make_text).await?;
        tx.commit().await?;
        Ok(queued)
    }

    /// Queues a STATUS request to `station_id` (a message of no transaction) unless one was queued at or
    /// after `not_since`; returns the new message's id, or `None` when it was asked recently. The check
    /// and the queueing are one database transaction: two requests at once queue one message.
    pub async fn queue_status_request(
        &self,
        station_id: i64,
        now: Timestamp,
        not_since: Timestamp,
        make_text: impl FnOnce(u32, &StationLink) -> String,
    ) -> Result<Option<i64>> {
        let mut tx = self.write_txn().await?;
        let recent: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM sms_out WHERE station_id = $1 AND transaction_id IS NULL AND created_at >= $2 LIMIT 1",
        )
        .bind(station_id)
        .bind(not_since.millis())
        .fetch_optional(&mut *tx)
        .await?;
        if recent.is_some() {
            return Ok(None);
        }
        let nothing = Scheduled { next_attempt_at: None, count_attempt: false, fail: None };
        let (out_id, _) = queue_in(&mut tx, station_id, None, nothing, now, make_text).await?;
        tx.commit().await?;
        Ok(Some(out_id))
    }

    /// How many messages wait to be handed to the modem.
    pub async fn outbox_length(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM sms_out WHERE sent_at IS NULL AND error IS NULL")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Messages not yet handed to the modem, oldest first.
    pub async fn pending_messages(&self, limit: i64) -> Result<Vec<OutMessage>> {
        let rows = sqlx::query(
            "SELECT o.id, o.station_id, s.phone, o.text, o.transaction_id FROM sms_out o
             JOIN stations s ON s.id = o.station_id
             WHERE o.sent_at IS NULL AND o.error IS NULL ORDER BY o.id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(OutMessage {
                    id: row.try_get("id")?,
                    station_id: row.try_get("station_id")?,
                    phone: row.try_get("phone")?,
                    text: row.try_get("text")?,
                    transaction_id: row.try_get("transaction_id")?,
                })
            })
            .collect()
    }

    /// The modem took the message: its reference, and a queued top-up becomes Sent. Returns the
    /// transaction's new version if it changed.
    pub async fn message_sent(&self, out_id: i64, reference: u8, now: Timestamp) -> Result<Option<i64>> {
        let mut tx = self.write_txn().await?;
        let (tx_id, queued_at): (Option<i64>, i64) = sqlx::query_as(
            "UPDATE sms_out SET sent_at = $2, reference = $3 WHERE id = $1 RETURNING transaction_id, created_at",
        )
        .bind(out_id)
        .bind(now.millis())
        .bind(i64::from(reference))
        .fetch_one(&mut *tx)
        .await?;
        let mut version = None;
        if let Some(id) = tx_id {
            // The wait for an answer starts now, not when the message was queued: the schedule moves by
            // the time it waited for the modem.
            sqlx::query(
                "UPDATE transactions SET next_attempt_at = next_attempt_at + $2
                 WHERE id = $1 AND next_attempt_at IS NOT NULL",
            )
            .bind(id)
            .bind((now.millis() - queued_at).max(0))
            .execute(&mut *tx)
            .await?;
            let queued: Option<i64> =
                sqlx::query_scalar("SELECT id FROM transactions WHERE id = $1 AND status = 'queued'")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if queued.is_some() {
                let v = next_version(&mut tx).await?;
                sqlx::query(
                    "UPDATE transactions SET status = 'sent', sent_at = $2, version = $3 WHERE id = $1",
                )
                .bind(id)
                .bind(now.millis())
                .bind(v)
                .execute(&mut *tx)
                .await?;
                version = Some(v);
            }
            // It left: a SIM without credit is no longer why it waits.
            let cleared: Option<i64> = sqlx::query_scalar(
                "UPDATE transactions SET reason = NULL WHERE id = $1 AND reason = 'sim_credit' RETURNING id",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            if cleared.is_some() && version.is_none() {
                let v = next_version(&mut tx).await?;
                sqlx::query("UPDATE transactions SET version = $2 WHERE id = $1")
                    .bind(id)
                    .bind(v)
                    .execute(&mut *tx)
                    .await?;
                version = Some(v);
            }
        }
        tx.commit().await?;
        Ok(version)
    }

    /// The modem or the network refused the message (it is not retried as such: the transaction's next
    /// attempt queues a new one). The reason is shown on the transaction.
    pub async fn message_refused(&self, out_id: i64, error: &str, reason: &str) -> Result<Option<i64>> {
        let mut tx = self.write_txn().await?;
        let tx_id: Option<i64> =
            sqlx::query_scalar("UPDATE sms_out SET error = $2 WHERE id = $1 RETURNING transaction_id")
                .bind(out_id)
                .bind(error)
                .fetch_one(&mut *tx)
                .await?;
        // The message never left: the station cannot have answered it, so it is not one of the attempts
        // after which a top-up fails.
        let version = match tx_id {
            Some(id) => Some(note_reason(&mut tx, id, reason, true).await?),
            None => None,
        };
        tx.commit().await?;
        Ok(version)
    }

    /// The message could not leave yet (the SIM has no credit): it stays in the outbox, and its
    /// transaction shows why it waits. Returns the transaction's new version if it changed.
    pub async fn message_waiting(&self, out_id: i64, reason: &str) -> Result<Option<i64>> {
        let mut tx = self.write_txn().await?;
        let tx_id: Option<i64> = sqlx::query_scalar(
            "SELECT t.id FROM sms_out o JOIN transactions t ON t.id = o.transaction_id
             WHERE o.id = $1 AND (t.reason IS NULL OR t.reason <> $2)",
        )
        .bind(out_id)
        .bind(reason)
        .fetch_optional(&mut *tx)
        .await?;
        let version = match tx_id {
            Some(id) => Some(note_reason(&mut tx, id, reason, false).await?),
            None => None,
        };
        tx.commit().await?;
        Ok(version)
    }

    /// A delivery report (TP-Status `status`) on the message sent to `phone` with `reference` (the latest
    /// such message), recorded on the message. When that is its transaction's latest message, the report
    /// changes the transaction as [`after_report`] says: it shows that the station's SIM has it, or it is
    /// due again now.
    pub async fn message_reported(
        &self,
        reference: u8,
        phone: &PhoneNumber,
        status: u8,
        now: Timestamp,
    ) -> Result<Reported> {
        let mut tx = self.write_txn().await?;
        let message: Option<(i64, Option<i64>)> = sqlx::query_as(
            "UPDATE sms_out SET report_status = $3, reported_at = $4 WHERE id = (
                 SELECT o.id FROM sms_out o JOIN stations s ON s.id = o.station_id
                 WHERE o.reference = $1 AND s.phone = $2 AND o.sent_at IS NOT NULL
                 ORDER BY o.sent_at DESC, o.id DESC LIMIT 1)
             RETURNING id, transaction_id",
        )
        .bind(i64::from(reference))
        .bind(phone.as_str())
        .bind(i64::from(status))
        .bind(now.millis())
        .fetch_optional(&mut *tx)
        .await?;
        let mut reported = Reported { matched: message.is_some(), ..Reported::default() };
        let Some((out_id, Some(tx_id))) = message else {
            tx.commit().await?;
            return Ok(reported);
        };
        // A report on an earlier attempt tells nothing about the one in flight.
        let latest: Option<(String, Option<i64>)> = sqlx::query_as(
            "SELECT t.status, t.delivered_at FROM transactions t WHERE t.id = $1 AND $2 = (
                 SELECT MAX(o.id) FROM sms_out o WHERE o.transaction_id = t.id AND o.sent_at IS NOT NULL)",
        )
        .bind(tx_id)
        .bind(out_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((status_text, delivered_at)) = latest {
            let tx_status: TxStatus = status_text
                .parse()
                .map_err(|_| DbError::Unusable("invalid status in table transactions".into()))?;
            let effect = after_report(tx_status, Delivery::from_tp_status(status));
            if effect.delivered && delivered_at.is_none() {
                let v = next_version(&mut tx).await?;
                sqlx::query("UPDATE transactions SET delivered_at = $2, version = $3 WHERE id = $1")
                    .bind(tx_id)
                    .bind(now.millis())
                    .bind(v)
                    .execute(&mut *tx)
                    .await?;
                reported.version = Some(v);
            }
            if effect.resend_now {
                let moved = sqlx::query(
                    "UPDATE transactions SET next_attempt_at = $2 WHERE id = $1 AND next_attempt_at > $2",
                )
                .bind(tx_id)
                .bind(now.millis())
                .execute(&mut *tx)
                .await?;
                reported.resend_now = moved.rows_affected() > 0;
            }
        }
        tx.commit().await?;
        Ok(reported)
    }

    /// Received messages the link could not read, as they came, and messages no decoder could make
    /// sense of: how many the server has kept (for the operators' modem card).
    pub async fn unreadable_count(&self) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM sms_in WHERE verdict = 'unreadable' OR verdict = 'undecodable'",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    /// Stores a message the link could not read (the line the modem wrote instead of its PDU), already
    /// judged, before it is deleted from the modem.
    pub async fn store_unreadable(&self, line: &str, now: Timestamp) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO sms_in (received_at, pdu, verdict) VALUES ($1, $2, 'unreadable') RETURNING id",
        )
        .bind(now.millis())
        .bind(line)
        .fetch_one(&self.writer)
        .await?)
    }

    /// Stores a received PDU before it is deleted from the modem.
    pub async fn store_incoming(&self, pdu_hex: &str, now: Timestamp) -> Result<i64> {
        Ok(sqlx::query_scalar("INSERT INTO sms_in (received_at, pdu) VALUES ($1, $2) RETURNING id")
            .bind(now.millis())
            .bind(pdu_hex)
            .fetch_one(&self.writer)
            .await?)
    }

    /// Received messages not processed yet (after a crash), oldest first.
    pub async fn unprocessed_incoming(&self) -> Result<Vec<(i64, String)>> {
        Ok(sqlx::query_as("SELECT id, pdu FROM sms_in WHERE verdict IS NULL ORDER BY id")
            .fetch_all(&self.pool)
            .await?)
    }

    /// Records what became of a received message that changed nothing.
    pub async fn incoming_verdict(
        &self,
        in_id: i64,
        verdict: &str,
        sender: Option<&str>,
        text: Option<&str>,
        station_id: Option<i64>,
    ) -> Result<()> {
        record_verdict(&self.writer, in_id, verdict, sender, text, station_id).await
    }

    /// Applies a verified station message: checks and advances the station's replay window (from
    /// `window_before` to `window_after`, both `(highest, bitmap)`), records when it was heard, changes the
    /// transaction or the station's facts, and marks the received message: all or nothing. A confirmed
    /// top-up is asked about again at `recheck_at` (in case its reloaded report gets lost). Returns the
    /// transaction's new version if it changed; `Err(Conflict)` if the window moved meanwhile.
    #[allow(clippy::too_many_arguments)]
    pub async fn apply_station_message(
        &self,
        in_id: i64,
        station_id: i64,
        window_before: (i64, i64),
        window_after: (i64, i64),
        sender: &str,
        text: &str,
        effect: &StationEffect,
        now: Timestamp,
        recheck_at: Timestamp,
    ) -> Result<Option<i64>> {
        let mut tx = self.write_txn().await?;
        let moved = sqlx::query(
            "UPDATE stations SET heard_highest = $4, heard_window = $5, last_heard_at = $6
             WHERE id = $1 AND heard_highest = $2 AND heard_window = $3",
        )
        .bind(station_id)
        .bind(window_before.0)
        .bind(window_before.1)
        .bind(window_after.0)
        .bind(window_after.1)
        .bind(now.millis())
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() != 1 {
            return Err(DbError::Conflict);
        }
        let mut verdict = "applied";
        let mut version = None;
        match effect {
            StationEffect::Heartbeat { pending, signal_dbm, sim_credit_rappen, firmware } => {
                sqlx::query(
                    "UPDATE stations SET pending = $2, signal_dbm = $3, sim_credit_rappen = $4, firmware = $5
                     WHERE id = $1",
                )
                .bind(station_id)
                .bind(pending)
                .bind(signal_dbm)
                .bind(sim_credit_rappen)
                .bind(firmware)
                .execute(&mut *tx)
                .await?;
            }
            StationEffect::Answer { tx: tx_id, answer, reason } => {
                let row: Option<(String, i64, i64)> = sqlx::query_as(
                    "SELECT status, key_number, amount_rappen FROM transactions WHERE id = $1 AND station_id = $2",
                )
                .bind(tx_id)
                .bind(station_id)
                .fetch_optional(&mut *tx)
                .await?;
                match row {
                    None => verdict = "unknown transaction",
                    Some((status, key, amount)) => {
                        let status: TxStatus =
                            status.parse().map_err(|_| DbError::Unusable("invalid status".into()))?;
                        let matches = match answer {
                            Answer::Reloaded { key: k, amount: a, .. } => {
                                i64::from(*k) == key && *a == amount
                            }
                            _ => true,
                        };
                        if !matches {
                            verdict = "reloaded with another key or amount";
                        } else if let Some(next) = after_answer(status, *answer) {
                            let v = next_version(&mut tx).await?;
                            let balance = match answer {
                                Answer::Reloaded { balance, .. } => Some(*balance),
                                _ => None,
                            };
                            let (confirmed, reloaded, ended) = match next {
                                TxStatus::Confirmed => (Some(now.millis()), None, None),
                                TxStatus::Reloaded => (None, Some(now.millis()), Some(now.millis())),
                                TxStatus::Failed | TxStatus::Cancelled => (None, None, Some(now.millis())),
                                _ => (None, None, None),
                            };
                            sqlx::query(
                                "UPDATE transactions SET status = $2, version = $3,
                                     confirmed_at = COALESCE(confirmed_at, $4),
                                     reloaded_at = COALESCE(reloaded_at, $5),
                                     ended_at = COALESCE($6, ended_at),
                                     balance_rappen = COALESCE($7, balance_rappen),
                                     reason = CASE WHEN $2 IN ('failed', 'cancelled') THEN COALESCE($8, reason)
                                                   WHEN $2 = 'reloaded' THEN NULL ELSE reason END,
                                     next_attempt_at = CASE WHEN $2 = 'confirmed' THEN $9
                                                            WHEN $2 IN ('reloaded', 'failed', 'cancelled') THEN NULL
                                                            ELSE next_attempt_at END
                                 WHERE id = $1",
                            )
                            .bind(tx_id)
                            .bind(next.as_str())
                            .bind(v)
                            .bind(confirmed)
                            .bind(reloaded)
                            .bind(ended)
                            .bind(balance)
                            .bind(reason)
                            .bind(recheck_at.millis())
                            .execute(&mut *tx)
                            .await?;
                            version = Some(v);
                        } else if status == TxStatus::Failed && settles_failure(*answer) {
                            // The station dropped it: its cancellation need not be sent again.
                            sqlx::query("UPDATE transactions SET next_attempt_at = NULL WHERE id = $1")
                                .bind(tx_id)
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                }
            }
        }
        record_verdict(&mut *tx, in_id, verdict, Some(sender), Some(text), Some(station_id)).await?;
        tx.commit().await?;
        Ok(version)
    }
}

#[cfg(test)]
mod tests {
    use domain::GeranceName;

    use super::*;
    use crate::NewStation;
    use crate::testing::fresh;

    async fn station(db: &Db, gerance: &str, phone: &str) -> (i64, i64) {
        let g = db.create_gerance(&GeranceName::parse(gerance).unwrap(), Timestamp(1)).await.unwrap();
        let new = NewStation {
            gerance_id: g.id,
            name: "Station",
            place: "Hérémence",
            phone,
            secret: &[7; 32],
            max_amount_rappen: 50_000,
        };
        (g.id, db.create_station(new, Timestamp(1)).await.unwrap())
    }

    fn top_up(station_id: i64, token: &str) -> NewTopUp<'_> {
        NewTopUp { station_id, key: 34586, amount_rappen: 1000, user_id: None, request_token: token }
    }

    #[tokio::test]
    async fn totals_follow_every_insert_and_status_change() {
        let (db, _dir) = fresh().await;
        let (g, station) = station(&db, "Gérance A", "+41790000101").await;
        let by = |status| JournalFilter { status: Some(status), ..JournalFilter::default() };
        let mut ids = Vec::new();
        for token in ["t-0000000000000001", "t-0000000000000002", "t-0000000000000003"] {
            ids.push(
                db.create_top_up(Scope::All, top_up(station, token), Timestamp(5)).await.unwrap().unwrap().id,
            );
        }
        assert!(db.request_cancel(Scope::All, ids[0], Timestamp(6)).await.unwrap());
        for (scope, status, expected) in [
            (Scope::All, TxStatus::Queued, 2),
            (Scope::All, TxStatus::Cancelling, 1),
            (Scope::Gerance(g), TxStatus::Queued, 2),
            (Scope::Gerance(g + 1), TxStatus::Queued, 0),
        ] {
            assert_eq!(db.journal_total(scope, &by(status)).await.unwrap(), expected, "{scope:?} {status:?}");
        }
        assert_eq!(db.journal_total(Scope::All, &JournalFilter::default()).await.unwrap(), 3);
        // The same as counting the rows.
        for status in TxStatus::ALL {
            let naive =
                db.journal_page_naive(Scope::All, &by(status), JournalSort::Number, true, 0, 10).await;
            let fast = db.journal_page(Scope::All, &by(status), JournalSort::Number, true, 0, 10).await;
            assert_eq!(fast.unwrap(), naive.unwrap());
        }
    }

    #[tokio::test]
    async fn a_gerance_sees_and_tops_up_only_its_own_stations() {
        let (db, _dir) = fresh().await;
        let (a, _) = station(&db, "Gérance A", "+41790000101").await;
        let (b, station_b) = station(&db, "Gérance B", "+41790000102").await;
        let (scope_a, scope_b) = (Scope::Gerance(a), Scope::Gerance(b));
        assert_eq!(db.list_stations(scope_a).await.unwrap().len(), 1);
        assert!(db.station(scope_a, station_b).await.unwrap().is_none());
        assert_eq!(
            db.create_top_up(scope_a, top_up(station_b, "t1"), Timestamp(2)).await.unwrap(),
            Err(TopUpError::UnknownStation)
        );
        let mine = db.create_top_up(scope_b, top_up(station_b, "t2"), Timestamp(2)).await;
        let mine = mine.unwrap().unwrap();
        assert!(db.transaction(scope_a, mine.id).await.unwrap().is_none());
        assert!(db.changes_since(scope_a, 0, 100).await.unwrap().is_empty());
        assert!(!db.request_cancel(scope_a, mine.id, Timestamp(3)).await.unwrap());
        assert_eq!(db.changes_since(Scope::All, 0, 100).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_station_is_asked_for_its_state_once_per_interval_with_one_counter_each() {
        let (db, _dir) = fresh().await;
        let (_, other) = station(&db, "Gérance B", "+41790000102").await;
        let (_, station) = station(&db, "Gérance A", "+41790000101").await;
        let ask = |station: i64, now: i64, not_since: i64| {
            let db = db.clone();
            async move {
                db.queue_status_request(station, Timestamp(now), Timestamp(not_since), |counter, _| {
                    format!("STATUS {counter}")
                })
                .await
                .unwrap()
            }
        };
        let first = ask(station, 1_000, 0).await;
        assert!(first.is_some());
        assert_eq!(ask(station, 1_500, 900).await, None, "asked at 1,000: not again since 900");
        assert!(ask(other, 1_500, 900).await.is_some(), "another station is asked on its own");
        let later = ask(station, 70_000, 10_000).await;
        assert!(later.is_some(), "asked at 1,000: again after 10,000");
        // A refused request used no counter: the messages are signed 1 and 2.
        let texts: Vec<String> = db
            .pending_messages(10)
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.station_id == station)
            .map(|m| m.text)
            .collect();
        assert_eq!(texts, ["STATUS 1", "STATUS 2"]);
    }

    #[tokio::test]
    async fn a_message_the_network_refused_is_not_an_attempt() {
        let (db, _dir) = fresh().await;
        let (_, s) = station(&db, "Gérance A", "+41790000101").await;
        let tx =
            db.create_top_up(Scope::All, top_up(s, "t-refused-0001"), Timestamp(2)).await.unwrap().unwrap();
        let again = Scheduled { next_attempt_at: Some(Timestamp(10)), count_attempt: true, fail: None };
        let (out, _) =
            db.queue_message(s, Some(tx.id), again, Timestamp(3), |_, _| "RC1".into()).await.unwrap();
        assert_eq!(db.transaction(Scope::All, tx.id).await.unwrap().unwrap().attempts, 1);
        db.message_refused(out, "+CMS ERROR: 8", "sim_credit").await.unwrap();
        let after = db.transaction(Scope::All, tx.id).await.unwrap().unwrap();
        assert_eq!((after.attempts, after.reason.as_deref()), (0, Some("sim_credit")));
        assert_eq!(after.status, TxStatus::Queued);
    }

    #[tokio::test]
    async fn a_transaction_waits_for_its_unsent_message_and_its_schedule_starts_when_it_leaves() {
        let (db, _dir) = fresh().await;
        let (_, s) = station(&db, "Gérance A", "+41790000101").await;
        let tx =
            db.create_top_up(Scope::All, top_up(s, "t-waiting-0001"), Timestamp(2)).await.unwrap().unwrap();
        assert_eq!(db.due_transactions(Timestamp(2), 10).await.unwrap().len(), 1);
        let again = Scheduled { next_attempt_at: Some(Timestamp(1_000)), count_attempt: true, fail: None };
        let (out, _) =
            db.queue_message(s, Some(tx.id), again, Timestamp(3), |_, _| "RC1".into()).await.unwrap();
        // The modem is away for an hour: the transaction is not due again, nothing piles up.
        assert!(db.due_transactions(Timestamp(3_600_000), 10).await.unwrap().is_empty());
        assert_eq!(db.next_attempt_at().await.unwrap(), None);
        // It leaves at last: the wait for an answer starts then.
        db.message_sent(out, 1, Timestamp(3_600_003)).await.unwrap();
        assert_eq!(db.next_attempt_at().await.unwrap(), Some(Timestamp(3_601_000)));
        assert!(db.due_transactions(Timestamp(3_600_999), 10).await.unwrap().is_empty());
        assert_eq!(db.due_transactions(Timestamp(3_601_000), 10).await.unwrap().len(), 1);
        assert_eq!(db.transaction(Scope::All, tx.id).await.unwrap().unwrap().status, TxStatus::Sent);
    }

    #[tokio::test]
    async fn one_form_creates_one_transaction_and_the_maximum_holds() {
        let (db, _dir) = fresh().await;
        let (g, s) = station(&db, "Gérance A", "+41790000101").await;
        let first =
            db.create_top_up(Scope::Gerance(g), top_up(s, "same"), Timestamp(2)).await.unwrap().unwrap();
        assert_eq!(first.status, TxStatus::Queued);
        assert_eq!(
            db.create_top_up(Scope::Gerance(g), top_up(s, "same"), Timestamp(3)).await.unwrap(),
            Err(TopUpError::AlreadySent(first.id))
        );
        let big = NewTopUp { amount_rappen: 50_001, ..top_up(s, "other") };
        assert_eq!(
            db.create_top_up(Scope::Gerance(g), big, Timestamp(3)).await.unwrap(),
            Err(TopUpError::AboveMaximum(50_000))
        );
    }
}
