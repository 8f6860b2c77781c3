//! Transactions: the journal's rows, their pages' building blocks, and the changes an administrator makes
//! (a new top-up, a cancellation); what is due for the modem task.
//!
//! Every change of a transaction takes the next value of the `journal` counter as its `version`, in the
//! same database transaction: the event stream sends changes in that order and resumes from any version.
//! Once committed, the method that made it tells its version to [`Db::journal_changes`] (here, in
//! `outbox` and in `inbox`): whoever changes the journal, open journals learn of it without the caller
//! having to remember.

pub use domain::journal::JournalSort;
use domain::journal::{Reason, TxStatus};
use domain::{Amount, Email, GeranceId, KeyNumber, PaymentId, StationId, Timestamp, TxId, UserId};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::audit::{self, AuditAction};
use crate::columns;
use crate::stations::Scope;
use crate::{Db, DbError, Result, classify};

/// A journal row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxRecord {
    pub id: TxId,
    pub gerance_id: GeranceId,
    pub gerance_name: String,
    pub station_id: StationId,
    pub station_name: String,
    pub station_place: String,
    pub key: KeyNumber,
    pub amount: Amount,
    pub status: TxStatus,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
    pub confirmed_at: Option<Timestamp>,
    pub reloaded_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub balance_rappen: Option<i64>,
    pub reason: Option<Reason>,
    pub attempts: i64,
    pub version: i64,
    /// When the network reported its message on the station's SIM (while it waited for an answer).
    pub delivered_at: Option<Timestamp>,
    /// The account that entered it (`None`: the command line, or an account deleted since).
    pub sent_by: Option<Email>,
    /// The payment it was paid with, when it came from a bank file.
    pub payment: Option<PaymentId>,
}

pub(crate) const TX_COLUMNS: &str = "t.id, t.gerance_id, g.name AS gerance_name, t.station_id, s.name AS station_name, \
     s.place AS station_place, t.key_number, t.amount_rappen, t.status, t.created_at, t.sent_at, t.confirmed_at, \
     t.reloaded_at, t.ended_at, t.balance_rappen, t.reason, t.attempts, t.version, t.delivered_at, \
     u.email AS sent_by, t.payment_id";

pub(crate) const TX_FROM: &str = "transactions t JOIN stations s ON s.id = t.station_id JOIN gerances g ON g.id = t.gerance_id \
     LEFT JOIN users u ON u.id = t.created_by";

pub(crate) fn tx_from_row(row: &AnyRow) -> Result<TxRecord> {
    let corrupt = |what: &str| DbError::Unusable(format!("invalid {what} in table transactions"));
    let status: String = row.try_get("status")?;
    let time = |name: &str| columns::maybe_time(row, name);
    Ok(TxRecord {
        id: columns::tx(row, "id")?,
        gerance_id: columns::gerance(row, "gerance_id")?,
        gerance_name: row.try_get("gerance_name")?,
        station_id: columns::station(row, "station_id")?,
        station_name: row.try_get("station_name")?,
        station_place: row.try_get("station_place")?,
        key: columns::key(row, "key_number")?,
        amount: columns::amount(row, "amount_rappen")?,
        status: status.parse().map_err(|_| corrupt("status"))?,
        created_at: columns::time(row, "created_at")?,
        sent_at: time("sent_at")?,
        confirmed_at: time("confirmed_at")?,
        reloaded_at: time("reloaded_at")?,
        ended_at: time("ended_at")?,
        balance_rappen: row.try_get("balance_rappen")?,
        reason: row
            .try_get::<Option<String>, _>("reason")?
            .map(|r| r.parse().map_err(|_| corrupt("reason")))
            .transpose()?,
        attempts: row.try_get("attempts")?,
        version: row.try_get("version")?,
        delivered_at: time("delivered_at")?,
        sent_by: row
            .try_get::<Option<String>, _>("sent_by")?
            .map(|e| Email::parse(&e).map_err(|_| corrupt("e-mail")))
            .transpose()?,
        payment: row.try_get::<Option<i64>, _>("payment_id")?.map(PaymentId),
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
            amount: self.amount,
            status: self.status,
            created_at: self.created_at.millis(),
            sent_at: self.sent_at.map(|t| t.millis()),
            confirmed_at: self.confirmed_at.map(|t| t.millis()),
            reloaded_at: self.reloaded_at.map(|t| t.millis()),
            ended_at: self.ended_at.map(|t| t.millis()),
            balance_rappen: self.balance_rappen,
            reason: self.reason,
            version: self.version,
            shown_times: [Some(self.created_at), self.sent_at, self.confirmed_at, self.reloaded_at]
                .map(|t| t.map(|t| t.zurich().to_string())),
            shown_delivered: self.delivered_at.map(|t| t.zurich().to_string()),
            sent_by: self.sent_by.as_ref().map(ToString::to_string),
            payment: self.payment,
        }
    }
}

/// Which journal rows to show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalFilter {
    pub station: Option<StationId>,
    pub key: Option<KeyNumber>,
    pub status: Option<TxStatus>,
    /// Created at or after (UTC ms).
    pub from: Option<Timestamp>,
    /// Created before (UTC ms).
    pub until: Option<Timestamp>,
}

/// A view of the journal: whose rows (`scope`), which (`filter`), in what order.
#[derive(Debug, Clone, Copy)]
pub struct JournalView<'a> {
    pub scope: Scope,
    pub filter: &'a JournalFilter,
    pub sort: JournalSort,
    pub descending: bool,
}

/// The ORDER BY for `sort`; the transaction number breaks ties so pages never overlap.
pub(crate) fn order_by(sort: JournalSort, descending: bool) -> String {
    let dir = if descending { "DESC" } else { "ASC" };
    let column = match sort {
        JournalSort::Number => return format!("t.id {dir}"),
        JournalSort::Date => "t.created_at",
        JournalSort::Station => "s.name",
        JournalSort::Key => "t.key_number",
        JournalSort::Amount => "t.amount_rappen",
        JournalSort::Status => "t.status",
    };
    format!("{column} {dir}, t.id {dir}")
}

/// A top-up to record.
pub struct NewTopUp<'a> {
    pub station_id: StationId,
    pub key: KeyNumber,
    pub amount: Amount,
    /// Who entered it (`None`: the command line or a test).
    pub user_id: Option<UserId>,
    /// The form's one-time token.
    pub request_token: &'a str,
    /// When set, not recorded if the same key and amount went to the same station at or after this time
    /// and may still load ([`TopUpError::Repeat`]); `None` once the person said they meant it.
    pub unless_same_since: Option<Timestamp>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TopUpError {
    #[error("no such station")]
    UnknownStation,
    #[error("above the station's maximum of {0}")]
    AboveMaximum(Amount),
    #[error("this form was already sent")]
    AlreadySent(TxId),
    #[error("the same top-up was sent at {}", .0.created_at.millis())]
    Repeat(Box<TxRecord>),
    /// The key registry says the key is blocked: it gets no top-up.
    #[error("the key is blocked")]
    KeyBlocked,
    /// The key registry says the key is retired: it gets no top-up.
    #[error("the key is retired")]
    KeyRetired,
}

/// A top-up as `insert_top_up` records it: typed by a person, or paid for by a payment.
pub(crate) struct TopUpRow<'a> {
    pub gerance_id: GeranceId,
    pub station: StationId,
    pub key: KeyNumber,
    pub amount: Amount,
    pub by: Option<UserId>,
    pub token: Option<&'a str>,
    pub payment: Option<PaymentId>,
}

/// Records a queued top-up, due now, in the caller's write transaction, after asking the key registry:
/// a blocked or retired key gets none; a key's first top-up registers it. Returns its number and
/// journal version. The one way a top-up enters the journal, typed or paid for.
pub(crate) async fn insert_top_up(
    tx: &mut Transaction<'_, Any>,
    row: &TopUpRow<'_>,
    now: Timestamp,
) -> Result<std::result::Result<(TxId, i64), TopUpError>> {
    let state: Option<String> =
        sqlx::query_scalar("SELECT state FROM keys WHERE station_id = $1 AND key_number = $2")
            .bind(row.station.get())
            .bind(i64::from(row.key))
            .fetch_optional(&mut **tx)
            .await?;
    match state.as_deref() {
        Some("blocked") => return Ok(Err(TopUpError::KeyBlocked)),
        Some("retired") => return Ok(Err(TopUpError::KeyRetired)),
        Some(_) => {}
        None => {
            sqlx::query(
                "INSERT INTO keys (station_id, key_number, gerance_id, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $4)",
            )
            .bind(row.station.get())
            .bind(i64::from(row.key))
            .bind(row.gerance_id.get())
            .bind(now.millis())
            .execute(&mut **tx)
            .await?;
        }
    }
    let version = next_version(tx).await?;
    let id: i64 = sqlx::query_scalar(
        // The next N°, but never below the floor a restore sets (`maintenance::restore`): numbers given
        // out after the backup was made may be known to stations.
        "INSERT INTO transactions (id, gerance_id, station_id, key_number, amount_rappen, status, created_by,
             request_token, payment_id, created_at, next_attempt_at, version)
         VALUES ((SELECT CASE WHEN a.m + 1 > b.f THEN a.m + 1 ELSE b.f END
                  FROM (SELECT COALESCE(MAX(id), 0) AS m FROM transactions) a
                  CROSS JOIN (SELECT COALESCE(MAX(value), 0) AS f FROM counters WHERE name = 'tx_floor') b),
                 $1, $2, $3, $4, 'queued', $5, $6, $7, $8, $8, $9) RETURNING id",
    )
    .bind(row.gerance_id.get())
    .bind(row.station.get())
    .bind(i64::from(row.key.0))
    .bind(row.amount.rappen())
    .bind(row.by.map(UserId::get))
    .bind(row.token)
    .bind(row.payment.map(PaymentId::get))
    .bind(now.millis())
    .bind(version)
    .fetch_one(&mut **tx)
    .await
    .map_err(classify)?;
    Ok(Ok((TxId(id), version)))
}

/// A transaction the modem task must act on now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueTx {
    pub id: TxId,
    pub station_id: StationId,
    pub status: TxStatus,
    pub key: KeyNumber,
    pub amount: Amount,
    pub attempts: i64,
}

pub(crate) async fn next_version(tx: &mut Transaction<'_, Any>) -> Result<i64> {
    Ok(sqlx::query_scalar("UPDATE counters SET value = value + 1 WHERE name = 'journal' RETURNING value")
        .fetch_one(&mut **tx)
        .await?)
}

impl Db {
    /// Records a top-up (status queued, to be sent now) if `scope` may use the station and the amount is
    /// within its maximum. The same request token twice gives [`TopUpError::AlreadySent`]; the same key
    /// and amount at the same station since [`NewTopUp::unless_same_since`] gives [`TopUpError::Repeat`].
    /// All is checked in the one write transaction: two forms sent at once cannot both pass the check.
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
            return Ok(Err(TopUpError::AlreadySent(TxId(id))));
        }
        let (all, gerance) = scope.binds();
        let station: Option<(i64, i64)> = sqlx::query_as(
            "SELECT gerance_id, max_amount_rappen FROM stations WHERE id = $1 AND ($2 OR gerance_id = $3)",
        )
        .bind(new.station_id.get())
        .bind(all)
        .bind(gerance)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((gerance_id, max)) = station else { return Ok(Err(TopUpError::UnknownStation)) };
        let max = Amount::from_rappen(max)
            .map_err(|_| DbError::Unusable("invalid value in column max_amount_rappen".into()))?;
        if new.amount > max {
            return Ok(Err(TopUpError::AboveMaximum(max)));
        }
        if let Some(since) = new.unless_same_since {
            let rows = sqlx::query(&format!(
                "SELECT {TX_COLUMNS} FROM {TX_FROM} WHERE t.key_number = $1 AND t.station_id = $2
                     AND t.amount_rappen = $3 AND t.created_at >= $4 AND t.gerance_id = $5
                 ORDER BY t.id DESC LIMIT 20"
            ))
            .bind(i64::from(new.key))
            .bind(new.station_id.get())
            .bind(new.amount.rappen())
            .bind(since.millis())
            .bind(gerance_id)
            .fetch_all(&mut *tx)
            .await?;
            for row in &rows {
                let first = tx_from_row(row)?;
                if first.status.may_load() {
                    return Ok(Err(TopUpError::Repeat(Box::new(first))));
                }
            }
        }
        let row = TopUpRow {
            gerance_id: GeranceId(gerance_id),
            station: new.station_id,
            key: new.key,
            amount: new.amount,
            by: new.user_id,
            token: Some(new.request_token),
            payment: None,
        };
        let (id, version) = match insert_top_up(&mut tx, &row, now).await? {
            Ok(inserted) => inserted,
            Err(refused) => return Ok(Err(refused)),
        };
        let details = format!("key {} at station {}: {}", new.key, new.station_id, new.amount);
        audit::append(
            &mut tx,
            Some(row.gerance_id),
            new.user_id,
            AuditAction::TopUp,
            &format!("transaction {id}"),
            &details,
            now,
        )
        .await?;
        tx.commit().await?;
        self.tell_changed(Some(version));
        Ok(Ok(self.transaction(Scope::All, id).await?.ok_or(DbError::NotFound)?))
    }

    /// One transaction, if `scope` may see it.
    pub async fn transaction(&self, scope: Scope, id: TxId) -> Result<Option<TxRecord>> {
        let (all, gerance) = scope.binds();
        let row = sqlx::query(&format!(
            "SELECT {TX_COLUMNS} FROM {TX_FROM} WHERE t.id = $1 AND ($2 OR t.gerance_id = $3)"
        ))
        .bind(id.get())
        .bind(all)
        .bind(gerance)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(tx_from_row).transpose()
    }

    /// The keys of the latest `limit` top-ups at `station` (newest first, repeated as they were sent), if
    /// `scope` may see it.
    pub async fn recent_keys(&self, scope: Scope, station: StationId, limit: i64) -> Result<Vec<KeyNumber>> {
        let rows = self.latest(scope, "key_number", "station_id", station.get(), limit).await?;
        rows.iter().map(|row| columns::key(row, "key_number")).collect()
    }

    /// The amounts of gérance `of`'s latest `limit` top-ups (newest first), if `scope` may see them.
    pub async fn recent_amounts(&self, scope: Scope, of: GeranceId, limit: i64) -> Result<Vec<Amount>> {
        let rows = self.latest(scope, "amount_rappen", "gerance_id", of.get(), limit).await?;
        rows.iter().map(|row| columns::amount(row, "amount_rappen")).collect()
    }

    /// `column` of the latest `limit` transactions whose `owner` column is `id`, newest first (both
    /// column names are this module's constants, never input).
    async fn latest(
        &self,
        scope: Scope,
        column: &'static str,
        owner: &'static str,
        id: i64,
        limit: i64,
    ) -> Result<Vec<AnyRow>> {
        let (all, gerance) = scope.binds();
        Ok(sqlx::query(&format!(
            "SELECT {column} FROM transactions WHERE {owner} = $1 AND ($2 OR gerance_id = $3)
             ORDER BY id DESC LIMIT $4"
        ))
        .bind(id)
        .bind(all)
        .bind(gerance)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
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

    /// The versions of the journal's changes from now on, each told once it is committed (by whichever
    /// method of this process made it, or, on PostgreSQL once [`Db::follow_others`] runs, another
    /// instance), in increasing order. A receiver that falls behind gets `Lagged`: read
    /// [`Db::changes_since`] its last version to catch up.
    pub fn journal_changes(&self) -> tokio::sync::broadcast::Receiver<i64> {
        self.versions.subscribe()
    }

    pub(crate) fn tell_changed(&self, version: Option<i64>) {
        // Told once each: on PostgreSQL a change of this process comes back as a notification too (and
        // a newer one of another instance may come first; whoever reads since the last version it read
        // gets both).
        if let Some(v) = version
            && self.told.fetch_max(v, std::sync::atomic::Ordering::SeqCst) < v
        {
            // Nobody listening is fine.
            let _ = self.versions.send(v);
        }
    }

    /// The latest version of the journal.
    pub async fn journal_version(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT value FROM counters WHERE name = 'journal'")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Asks to cancel a top-up that is not loaded yet; false if it cannot be cancelled any more.
    pub async fn request_cancel(
        &self,
        scope: Scope,
        id: TxId,
        by: Option<UserId>,
        now: Timestamp,
    ) -> Result<bool> {
        let mut tx = self.write_txn().await?;
        let (all, gerance) = scope.binds();
        let found: Option<(String, i64)> = sqlx::query_as(
            "SELECT status, gerance_id FROM transactions WHERE id = $1 AND ($2 OR gerance_id = $3)",
        )
        .bind(id.get())
        .bind(all)
        .bind(gerance)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((status, owner)) = found else { return Ok(false) };
        let Ok(status) = status.parse::<TxStatus>() else { return Ok(false) };
        if !status.cancellable() {
            return Ok(false);
        }
        let version = next_version(&mut tx).await?;
        sqlx::query(
            "UPDATE transactions SET status = 'cancelling', attempts = 0, next_attempt_at = $2, version = $3,
                                     cancelling_since = $2
             WHERE id = $1",
        )
        .bind(id.get())
        .bind(now.millis())
        .bind(version)
        .execute(&mut *tx)
        .await?;
        audit::append(
            &mut tx,
            Some(GeranceId(owner)),
            by,
            AuditAction::Cancel,
            &format!("transaction {id}"),
            "",
            now,
        )
        .await?;
        tx.commit().await?;
        self.tell_changed(Some(version));
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
                Ok(DueTx {
                    id: columns::tx(row, "id")?,
                    station_id: columns::station(row, "station_id")?,
                    status: status.parse().map_err(|_| DbError::Unusable("invalid status".into()))?,
                    key: columns::key(row, "key_number")?,
                    amount: columns::amount(row, "amount_rappen")?,
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
}

#[cfg(test)]
mod tests {
    use domain::GeranceName;

    use super::*;
    use crate::testing::{fresh, rappen};
    use crate::{NewStation, Scheduled};

    async fn station(db: &Db, gerance: &str, phone: &str) -> (GeranceId, StationId) {
        let g = db.create_gerance(&GeranceName::parse(gerance).unwrap(), Timestamp(1)).await.unwrap();
        let new = NewStation {
            gerance_id: g.id,
            name: "Station",
            place: "Hérémence",
            phone: &crate::testing::phone(phone),
            secret: &[7; 32],
            max_amount: rappen(50_000),
        };
        (g.id, db.create_station(new, Timestamp(1)).await.unwrap())
    }

    fn top_up(station_id: StationId, token: &str) -> NewTopUp<'_> {
        NewTopUp {
            station_id,
            key: KeyNumber(34586),
            amount: rappen(1000),
            user_id: None,
            request_token: token,
            unless_same_since: None,
        }
    }

    #[tokio::test]
    async fn another_instances_changes_and_ended_sessions_are_told_here_once_on_postgresql() {
        if crate::test_support::postgres_server().is_none() {
            // Instances tell each other through PostgreSQL's notifications; a SQLite file is one
            // machine's, served by one instance.
            return;
        }
        let (here, _dir, url, options) = crate::testing::fresh_at().await;
        let elsewhere = Db::open_with(&url, &options).await.unwrap();
        let (_, s) = station(&elsewhere, "G", "+41790000101").await;
        let user = crate::testing::user(&elsewhere, "a@example.ch", domain::Role::Operator, None).await;
        elsewhere.create_session(b"hash-1", user, Timestamp(1), Timestamp(i64::MAX)).await.unwrap();
        let mut told = here.journal_changes();
        let mut ended = here.ended_sessions();
        let listening = here.follow_others().expect("a listener on PostgreSQL");
        // Once listening, it reads the database again: the version as it stands, and every session to be
        // checked (none of this was told while nobody listened).
        let within = std::time::Duration::from_secs(10);
        let first = tokio::time::timeout(within, told.recv()).await.unwrap().unwrap();
        assert_eq!(first, here.journal_version().await.unwrap());
        let missed = tokio::time::timeout(within, ended.recv()).await.unwrap().unwrap();
        assert_eq!(missed, crate::SessionEnded::Missed);

        let tx = elsewhere.create_top_up(Scope::All, top_up(s, "t-1"), Timestamp(2)).await.unwrap().unwrap();
        let next = tokio::time::timeout(within, told.recv()).await.unwrap().unwrap();
        assert_eq!(next, tx.version, "another instance's change, told here");
        elsewhere.delete_session(b"hash-1").await.unwrap();
        let gone = tokio::time::timeout(within, ended.recv()).await.unwrap().unwrap();
        assert_eq!(gone, crate::SessionEnded::Session(b"hash-1".to_vec()));

        // A change made here is told once, though the database tells it back.
        let mine = here.create_top_up(Scope::All, top_up(s, "t-2"), Timestamp(3)).await.unwrap().unwrap();
        assert_eq!(told.try_recv().unwrap(), mine.version);
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        assert!(told.try_recv().is_err(), "not told twice");
        listening.abort();
    }

    #[tokio::test]
    async fn every_committed_change_is_told_with_its_version_and_a_refused_one_is_not() {
        let (db, _dir) = fresh().await;
        let (gerance, s) = station(&db, "G", "+41790000101").await;
        let mut told = db.journal_changes();
        let tx = db.create_top_up(Scope::All, top_up(s, "t-1"), Timestamp(2)).await.unwrap().unwrap();
        assert_eq!(told.try_recv().unwrap(), tx.version);
        assert!(db.create_top_up(Scope::All, top_up(s, "t-1"), Timestamp(3)).await.unwrap().is_err());
        assert!(told.try_recv().is_err(), "the same form again changed nothing");
        assert!(db.request_cancel(Scope::Gerance(gerance), tx.id, None, Timestamp(4)).await.unwrap());
        let cancelling = db.transaction(Scope::All, tx.id).await.unwrap().unwrap();
        assert_eq!(told.try_recv().unwrap(), cancelling.version);
        assert!(
            !db.request_cancel(Scope::Gerance(GeranceId(gerance.get() + 1)), tx.id, None, Timestamp(5))
                .await
                .unwrap()
        );
        assert!(told.try_recv().is_err(), "another gérance's cancellation changed nothing");
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
        assert!(db.request_cancel(Scope::All, ids[0], None, Timestamp(6)).await.unwrap());
        for (scope, status, expected) in [
            (Scope::All, TxStatus::Queued, 2),
            (Scope::All, TxStatus::Cancelling, 1),
            (Scope::Gerance(g), TxStatus::Queued, 2),
            (Scope::Gerance(GeranceId(g.get() + 1)), TxStatus::Queued, 0),
        ] {
            assert_eq!(db.journal_total(scope, &by(status)).await.unwrap(), expected, "{scope:?} {status:?}");
        }
        assert_eq!(db.journal_total(Scope::All, &JournalFilter::default()).await.unwrap(), 3);
        // The same as counting the rows.
        for status in TxStatus::ALL {
            let filter = by(status);
            let view = JournalView {
                scope: Scope::All,
                filter: &filter,
                sort: JournalSort::Number,
                descending: true,
            };
            let naive = db.journal_page_naive(view, 0, 10).await;
            let fast = db.journal_page(view, 0, 10).await;
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
        assert!(!db.request_cancel(scope_a, mine.id, None, Timestamp(3)).await.unwrap());
        assert_eq!(db.changes_since(Scope::All, 0, 100).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_station_is_asked_for_its_state_once_per_interval_with_one_counter_each() {
        let (db, _dir) = fresh().await;
        let (_, other) = station(&db, "Gérance B", "+41790000102").await;
        let (_, station) = station(&db, "Gérance A", "+41790000101").await;
        let ask = |station: StationId, now: i64, not_since: i64| {
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
        db.message_refused(out, "+CMS ERROR: 8", Reason::SimCredit).await.unwrap();
        let after = db.transaction(Scope::All, tx.id).await.unwrap().unwrap();
        assert_eq!((after.attempts, after.reason), (0, Some(Reason::SimCredit)));
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
    async fn the_same_top_up_is_not_recorded_again_while_it_may_load_unless_meant() {
        let (db, _dir) = fresh().await;
        let (g, s) = station(&db, "Gérance A", "+41790000101").await;
        let (_, other) = station(&db, "Gérance B", "+41790000102").await;
        let first = db.create_top_up(Scope::All, top_up(s, "t-same-0001"), Timestamp(1_000)).await;
        let first = first.unwrap().unwrap();
        let asking = |station, token, since| NewTopUp {
            unless_same_since: Some(Timestamp(since)),
            ..top_up(station, token)
        };
        let create = |new: NewTopUp<'static>, now| {
            let db = db.clone();
            async move { db.create_top_up(Scope::All, new, Timestamp(now)).await.unwrap() }
        };
        let again = db.create_top_up(Scope::Gerance(g), asking(s, "t-same-0002", 0), Timestamp(2_000)).await;
        assert_eq!(again.unwrap(), Err(TopUpError::Repeat(Box::new(first.clone()))));
        let unseen = Scope::Gerance(GeranceId(g.get() + 1));
        let hidden = db.create_top_up(unseen, asking(s, "t-same-0003", 0), Timestamp(2_000)).await;
        assert_eq!(hidden.unwrap(), Err(TopUpError::UnknownStation), "another gérance's station");
        assert!(create(asking(other, "t-same-0004", 0), 2_000).await.is_ok(), "another station");
        let other_amount = NewTopUp { amount: rappen(1001), ..asking(s, "t-same-0005", 0) };
        assert!(create(other_amount, 2_000).await.is_ok(), "another amount");
        // Meant: recorded; the next question names the latest.
        let second = create(top_up(s, "t-same-0006"), 3_000).await.unwrap();
        let asked = create(asking(s, "t-same-0007", 0), 4_000).await;
        assert_eq!(asked, Err(TopUpError::Repeat(Box::new(second.clone()))));
        // Cancelled, they will not load: sending it again is no repeat.
        for id in [first.id, second.id] {
            assert!(db.request_cancel(Scope::All, id, None, Timestamp(5_000)).await.unwrap());
        }
        let third = create(asking(s, "t-same-0008", 0), 6_000).await.unwrap();
        let later = create(asking(s, "t-same-0009", third.created_at.millis() + 1), 7_000).await;
        assert!(later.is_ok(), "earlier than the window");
        assert_eq!(db.recent_keys(Scope::Gerance(g), s, 1).await.unwrap(), [KeyNumber(34586)]);
        assert!(db.recent_keys(unseen, s, 10).await.unwrap().is_empty());
        assert_eq!(db.recent_amounts(Scope::All, g, 2).await.unwrap(), [rappen(1000), rappen(1000)]);
    }

    #[tokio::test]
    async fn of_two_identical_top_ups_sent_at_once_one_is_recorded_and_the_other_asks() {
        let (db, _dir) = fresh().await;
        let (g, s) = station(&db, "Gérance A", "+41790000101").await;
        let tokens = ["t-race-0001", "t-race-0002", "t-race-0003", "t-race-0004"];
        let forms = tokens.map(|token| {
            let db = db.clone();
            let new = NewTopUp { unless_same_since: Some(Timestamp(0)), ..top_up(s, token) };
            tokio::spawn(
                async move { db.create_top_up(Scope::Gerance(g), new, Timestamp(10)).await.unwrap() },
            )
        });
        let mut created = Vec::new();
        let mut asked = Vec::new();
        for form in forms {
            match form.await.unwrap() {
                Ok(tx) => created.push(tx.id),
                Err(TopUpError::Repeat(first)) => asked.push(first.id),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(created.len(), 1, "one recorded: {created:?}");
        assert!(asked.iter().all(|id| *id == created[0]), "the others name it: {asked:?}");
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
        let big = NewTopUp { amount: rappen(50_001), ..top_up(s, "other") };
        assert_eq!(
            db.create_top_up(Scope::Gerance(g), big, Timestamp(3)).await.unwrap(),
            Err(TopUpError::AboveMaximum(rappen(50_000)))
        );
    }
}
