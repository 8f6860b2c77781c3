//! The SMS sent to stations (the outbox): messages queued with their transaction's schedule in one
//! commit, what the modem did with them, and what the network's delivery reports said.

use domain::journal::{Delivery, Reason, TxStatus, after_report};
use domain::{PhoneNumber, StationId, Timestamp, TxId};
use sqlx::{Any, Row, Transaction};

use crate::columns;
use crate::journal::next_version;
use crate::stations::{LINK_COLUMNS, StationLink, link_from_row};
use crate::{Db, DbError, Result};

/// What [`Db::message_reported`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reported {
    /// The transaction's new version, if it changed.
    pub version: Option<i64>,
    /// Its transaction is due now: wake whoever sends.
    pub resend_now: bool,
}

/// What the modem task decided for a due transaction, committed with the message it queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheduled {
    /// When to act again (`None`: not before an answer).
    pub next_attempt_at: Option<Timestamp>,
    /// Count this as an attempt.
    pub count_attempt: bool,
    /// The transaction fails with this reason (the message queued is then a cancellation).
    pub fail: Option<Reason>,
}

/// An SMS waiting for the modem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutMessage {
    pub id: i64,
    pub station_id: StationId,
    pub phone: PhoneNumber,
    pub text: String,
    pub transaction_id: Option<TxId>,
}

/// What `Db::queue_message` does, inside the caller's database transaction.
async fn queue_in(
    db: &Db,
    tx: &mut Transaction<'_, Any>,
    station_id: StationId,
    tx_id: Option<TxId>,
    schedule: Scheduled,
    now: Timestamp,
    make_text: impl FnOnce(u32, &StationLink) -> String,
) -> Result<(i64, Option<i64>)> {
    let (station_id, tx_id) = (station_id.get(), tx_id.map(TxId::get));
    let row = sqlx::query(&format!(
        "UPDATE stations SET sent_counter = sent_counter + 1 WHERE id = $1 RETURNING {LINK_COLUMNS}"
    ))
    .bind(station_id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(DbError::NotFound)?;
    let link = link_from_row(db, &row)?;
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
        .bind(schedule.fail.map(Reason::as_str))
        .bind(now.millis())
        .execute(&mut **tx)
        .await?;
        version = Some(v);
    }
    Ok((out_id, version))
}

/// Shows `reason` on transaction `id` (what went wrong last); `uncount`: its last attempt did not happen.
/// Returns its new version.
async fn note_reason(tx: &mut Transaction<'_, Any>, id: i64, reason: Reason, uncount: bool) -> Result<i64> {
    let v = next_version(tx).await?;
    sqlx::query(
        "UPDATE transactions SET reason = $2, version = $3,
             attempts = CASE WHEN $4 AND status IN ('queued', 'sent') AND attempts > 0 THEN attempts - 1
                             ELSE attempts END
         WHERE id = $1",
    )
    .bind(id)
    .bind(reason.as_str())
    .bind(v)
    .bind(uncount)
    .execute(&mut **tx)
    .await?;
    Ok(v)
}

impl Db {
    /// Queues a message to `station_id`, signed with the station's next counter (`make_text(counter,
    /// link)`), and records `schedule` for transaction `tx_id`: all in one database transaction, before
    /// anything is sent. Returns the new message's id and the transaction's new version, if it changed.
    pub async fn queue_message(
        &self,
        station_id: StationId,
        tx_id: Option<TxId>,
        schedule: Scheduled,
        now: Timestamp,
        make_text: impl FnOnce(u32, &StationLink) -> String,
    ) -> Result<(i64, Option<i64>)> {
        let mut tx = self.write_txn().await?;
        let queued = queue_in(self, &mut tx, station_id, tx_id, schedule, now, make_text).await?;
        tx.commit().await?;
        self.tell_changed(queued.1);
        Ok(queued)
    }

    /// Queues a STATUS request to `station_id` (a message of no transaction) unless one was queued at or
    /// after `not_since`; returns the new message's id, or `None` when it was asked recently. The check
    /// and the queueing are one database transaction: two requests at once queue one message.
    pub async fn queue_status_request(
        &self,
        station_id: StationId,
        now: Timestamp,
        not_since: Timestamp,
        make_text: impl FnOnce(u32, &StationLink) -> String,
    ) -> Result<Option<i64>> {
        let mut tx = self.write_txn().await?;
        let recent: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM sms_out WHERE station_id = $1 AND transaction_id IS NULL AND created_at >= $2 LIMIT 1",
        )
        .bind(station_id.get())
        .bind(not_since.millis())
        .fetch_optional(&mut *tx)
        .await?;
        if recent.is_some() {
            return Ok(None);
        }
        let nothing = Scheduled { next_attempt_at: None, count_attempt: false, fail: None };
        let (out_id, _) = queue_in(self, &mut tx, station_id, None, nothing, now, make_text).await?;
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
                    station_id: columns::station(row, "station_id")?,
                    phone: columns::phone(row, "phone")?,
                    text: row.try_get("text")?,
                    transaction_id: row.try_get::<Option<i64>, _>("transaction_id")?.map(TxId),
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
        self.tell_changed(version);
        Ok(version)
    }

    /// The modem or the network refused the message (it is not retried as such: the transaction's next
    /// attempt queues a new one). The reason is shown on the transaction.
    pub async fn message_refused(&self, out_id: i64, error: &str, reason: Reason) -> Result<Option<i64>> {
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
        self.tell_changed(version);
        Ok(version)
    }

    /// The message could not leave yet (the SIM has no credit): it stays in the outbox, and its
    /// transaction shows why it waits. Returns the transaction's new version if it changed.
    pub async fn message_waiting(&self, out_id: i64, reason: Reason) -> Result<Option<i64>> {
        let mut tx = self.write_txn().await?;
        let tx_id: Option<i64> = sqlx::query_scalar(
            "SELECT t.id FROM sms_out o JOIN transactions t ON t.id = o.transaction_id
             WHERE o.id = $1 AND (t.reason IS NULL OR t.reason <> $2)",
        )
        .bind(out_id)
        .bind(reason.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let version = match tx_id {
            Some(id) => Some(note_reason(&mut tx, id, reason, false).await?),
            None => None,
        };
        tx.commit().await?;
        self.tell_changed(version);
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
        let mut reported = Reported::default();
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
        self.tell_changed(reported.version);
        Ok(reported)
    }
}
