//! The SMS received (the inbox): stored raw before they leave the modem's SIM, then verified and
//! applied, or judged and kept for the record.

use domain::journal::{Answer, AnswerEffect, Reason, TxStatus, answer_effect};
use domain::{StationId, Timestamp, TxId};

use crate::journal::next_version;
use crate::{Db, DbError, Result};

/// What a verified station message does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StationEffect {
    Answer { tx: TxId, answer: Answer, reason: Option<Reason> },
    Heartbeat { pending: i64, signal_dbm: Option<i64>, sim_credit_rappen: Option<i64>, firmware: String },
}

/// A station's message that verified, as the inbox stored it, with what it does.
#[derive(Debug, Clone, Copy)]
pub struct VerifiedMessage<'a> {
    /// Its row in `sms_in`.
    pub in_id: i64,
    pub station_id: StationId,
    /// The station's replay window before and after its counter, both `(highest, bitmap)`.
    pub window_before: (i64, i64),
    pub window_after: (i64, i64),
    pub sender: &'a str,
    pub text: &'a str,
    pub effect: &'a StationEffect,
}

/// What became of a received message, and what it said.
async fn record_verdict(
    executor: impl sqlx::any::AnyExecutor<'_>,
    in_id: i64,
    verdict: &str,
    sender: Option<&str>,
    text: Option<&str>,
    station_id: Option<StationId>,
) -> Result<()> {
    sqlx::query("UPDATE sms_in SET verdict = $2, sender = $3, text = $4, station_id = $5 WHERE id = $1")
        .bind(in_id)
        .bind(verdict)
        .bind(sender)
        .bind(text)
        .bind(station_id.map(StationId::get))
        .execute(executor)
        .await?;
    Ok(())
}

impl Db {
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
        station_id: Option<StationId>,
    ) -> Result<()> {
        record_verdict(&self.writer, in_id, verdict, sender, text, station_id).await
    }

    /// Applies a verified station message: checks and advances the station's replay window (from
    /// `window_before` to `window_after`, both `(highest, bitmap)`), records when it was heard, changes the
    /// transaction or the station's facts, and marks the received message: all or nothing. A confirmed
    /// top-up is asked about again at `recheck_at` (in case its reloaded report gets lost). Returns the
    /// transaction's new version if it changed; `Err(Conflict)` if the window moved meanwhile.
    pub async fn apply_station_message(
        &self,
        message: VerifiedMessage<'_>,
        now: Timestamp,
        recheck_at: Timestamp,
    ) -> Result<Option<i64>> {
        let VerifiedMessage { in_id, station_id, window_before, window_after, sender, text, effect } =
            message;
        let mut tx = self.write_txn().await?;
        let moved = sqlx::query(
            "UPDATE stations SET heard_highest = $4, heard_window = $5, last_heard_at = $6
             WHERE id = $1 AND heard_highest = $2 AND heard_window = $3",
        )
        .bind(station_id.get())
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
                    "UPDATE stations SET pending = $2, signal_dbm = $3, sim_credit_rappen = $4, firmware = $5,
                         reported_at = $6
                     WHERE id = $1",
                )
                .bind(station_id.get())
                .bind(pending)
                .bind(signal_dbm)
                .bind(sim_credit_rappen)
                .bind(firmware)
                .bind(now.millis())
                .execute(&mut *tx)
                .await?;
            }
            StationEffect::Answer { tx: tx_id, answer, reason } => {
                let row: Option<(String, i64, i64)> = sqlx::query_as(
                    "SELECT status, key_number, amount_rappen FROM transactions WHERE id = $1 AND station_id = $2",
                )
                .bind(tx_id.get())
                .bind(station_id.get())
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
                        } else {
                            match answer_effect(status, *answer, *reason, now, recheck_at) {
                                AnswerEffect::Change(change) => {
                                    let v = next_version(&mut tx).await?;
                                    let at = |t: Option<Timestamp>| t.map(|t| t.millis());
                                    sqlx::query(
                                        "UPDATE transactions SET status = $2, version = $3,
                                             confirmed_at = COALESCE(confirmed_at, $4),
                                             reloaded_at = COALESCE(reloaded_at, $5),
                                             ended_at = COALESCE($6, ended_at),
                                             balance_rappen = COALESCE($7, balance_rappen),
                                             reason = CASE WHEN $8 THEN $9 ELSE reason END,
                                             next_attempt_at = CASE WHEN $10 THEN $11 ELSE next_attempt_at END
                                         WHERE id = $1",
                                    )
                                    .bind(tx_id.get())
                                    .bind(change.status.as_str())
                                    .bind(v)
                                    .bind(at(change.confirmed_at))
                                    .bind(at(change.reloaded_at))
                                    .bind(at(change.ended_at))
                                    .bind(change.balance_rappen)
                                    .bind(change.reason.is_some())
                                    .bind(change.reason.flatten().map(Reason::as_str))
                                    .bind(change.next_attempt_at.is_some())
                                    .bind(at(change.next_attempt_at.flatten()))
                                    .execute(&mut *tx)
                                    .await?;
                                    version = Some(v);
                                }
                                AnswerEffect::SettleFailure => {
                                    // The station dropped it: its cancellation need not be sent again.
                                    sqlx::query(
                                        "UPDATE transactions SET next_attempt_at = NULL WHERE id = $1",
                                    )
                                    .bind(tx_id.get())
                                    .execute(&mut *tx)
                                    .await?;
                                }
                                AnswerEffect::Nothing => {}
                            }
                        }
                    }
                }
            }
        }
        record_verdict(&mut *tx, in_id, verdict, Some(sender), Some(text), Some(station_id)).await?;
        tx.commit().await?;
        self.tell_changed(version);
        Ok(version)
    }
}
