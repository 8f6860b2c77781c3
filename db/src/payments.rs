//! Payments: the gérance's creditor settings, bank files taken in (one database transaction per file),
//! what each movement became, and the approvals that turn a payment into its one top-up.
//!
//! A payment becomes at most one top-up, ever: the top-up carries the payment's id under a unique index
//! (migration 0011), and the payment's state moves to `approved` in the same transaction; two people
//! approving at once, a double click or a re-import cannot make two.

use domain::payment::{
    BankTransaction, Creditor, Currency, Day, Direction, Fee, Iban, Outcome, QrrPrefix, match_credit,
};
use domain::{Amount, Email, GeranceId, ImportId, KeyNumber, PaymentId, StationId, Timestamp, TxId, UserId};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::audit::{self, AuditAction};
use crate::journal::{TopUpError, TopUpRow, TxRecord, insert_top_up};
use crate::keys::GeranceRegistry;
use crate::stations::Scope;
use crate::{Db, DbError, Result, classify, columns};

/// Where a payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentState {
    /// Never a top-up: a debit, a reversal, another currency, not booked.
    Listed,
    /// A key reference: a top-up to approve.
    Proposal,
    /// A key named in the text: a top-up to confirm.
    Suggestion,
    /// Waits for a person to assign it to a key or set it aside.
    Exception,
    /// Its top-up is in the journal.
    Approved,
    /// A person decided it is no top-up, and said why.
    SetAside,
}

impl PaymentState {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentState::Listed => "listed",
            PaymentState::Proposal => "proposal",
            PaymentState::Suggestion => "suggestion",
            PaymentState::Exception => "exception",
            PaymentState::Approved => "approved",
            PaymentState::SetAside => "set_aside",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            PaymentState::Listed,
            PaymentState::Proposal,
            PaymentState::Suggestion,
            PaymentState::Exception,
            PaymentState::Approved,
            PaymentState::SetAside,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }

    /// Whether a person can still turn it into a top-up.
    pub fn open(self) -> bool {
        matches!(self, PaymentState::Proposal | PaymentState::Suggestion | PaymentState::Exception)
    }
}

/// A payment as the pages and the command line show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRecord {
    pub id: PaymentId,
    pub gerance_id: GeranceId,
    pub import_id: ImportId,
    pub account: String,
    pub movement: BankTransaction,
    pub state: PaymentState,
    /// Why it is listed or an exception (a code), or why it was set aside (a person's words).
    pub reason: Option<String>,
    pub key: Option<(StationId, KeyNumber)>,
    pub fee_rappen: Option<i64>,
    /// What its top-up loads (or would).
    pub load: Option<Amount>,
    pub decided_by: Option<Email>,
    pub decided_at: Option<Timestamp>,
    pub created_at: Timestamp,
    /// Its top-up, once approved.
    pub top_up: Option<TxId>,
}

/// Who takes which file in, for whom.
#[derive(Debug, Clone)]
pub struct ImportMeta<'a> {
    pub gerance: GeranceId,
    pub by: Option<UserId>,
    pub file_name: &'a str,
    pub sha256: &'a str,
    /// `camt.054.001.08`.
    pub format: &'a str,
}

/// Why a file is refused as a whole (nothing of it is kept).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportRefused {
    #[error("the gérance has no account set: set its creditor account first")]
    NoCreditor,
    #[error("the file is for account {found}, which is not this gérance's ({ours})")]
    WrongAccount { found: Iban, ours: Iban },
    #[error("the file names no account before its entries")]
    NoAccount,
}

/// What a file gave: the command line prints it on one line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub import: Option<ImportId>,
    pub new: i64,
    pub duplicates: i64,
    pub proposals: i64,
    pub suggestions: i64,
    pub exceptions: i64,
    pub listed: i64,
    /// Approved at import by the automatic mode (counted among the proposals too).
    pub approved: i64,
}

impl std::fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "new {}, duplicates {}, proposals {}, exceptions {}, suggestions {}, listed {}, approved {}",
            self.new,
            self.duplicates,
            self.proposals,
            self.exceptions,
            self.suggestions,
            self.listed,
            self.approved
        )
    }
}

/// A bank file being taken in: everything it adds is in one database transaction, committed by
/// [`Import::finish`]; dropped before, it leaves nothing behind.
pub struct Import {
    db: Db,
    tx: Transaction<'static, Any>,
    gerance: GeranceId,
    by: Option<UserId>,
    creditor: Creditor,
    registry: GeranceRegistry,
    id: ImportId,
    account_ok: bool,
    summary: ImportSummary,
    versions: Option<i64>,
    now: Timestamp,
    file: String,
    /// Movements matched but not yet written (at most [`BATCH`]).
    pending: Vec<(BankTransaction, Matched)>,
}

/// Movements written per statement: one statement per movement costs twice as much as 25 per statement,
/// and larger statements are slower again in SQLite (`cargo bench -p server --bench payments`: 10,000
/// movements in 1.1 s one by one, 0.51 s by 25, 0.65 s by 50, 0.9 s by 100); a batch's memory is bounded
/// (the file is never held as rows).
const BATCH: usize = 25;

/// What the rules made of a movement, as its row stores it.
#[derive(Debug, Clone, Copy)]
struct Matched {
    state: PaymentState,
    reason: Option<&'static str>,
    key: Option<(StationId, KeyNumber)>,
    fee: Option<i64>,
    load: Option<Amount>,
}

impl Matched {
    fn new(
        state: PaymentState,
        reason: Option<&'static str>,
        key: Option<(StationId, KeyNumber)>,
        fee: Option<i64>,
        load: Option<Amount>,
    ) -> Self {
        Self { state, reason, key, fee, load }
    }
}

/// Why a payment could not be turned into its top-up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApproveError {
    #[error("no such payment")]
    NotFound,
    #[error("the payment's top-up is already in the journal")]
    AlreadyApproved(Option<TxId>),
    #[error("the payment is not waiting for a decision")]
    NotOpen(PaymentState),
    #[error("the payment names no key: assign it to one")]
    NoKey,
    #[error("the station is not one of the gérance's")]
    UnknownStation,
    #[error("nothing is left to load once the fee is taken")]
    NothingToLoad,
    #[error("above the station's maximum of {0}")]
    AboveMaximum(Amount),
    #[error("the key is blocked")]
    KeyBlocked,
    #[error("the key is retired")]
    KeyRetired,
}

const PAYMENT_COLUMNS: &str = "p.id, p.gerance_id, p.import_id, p.account_iban, p.bank_ref, p.direction, \
     CAST(p.reversal AS INTEGER) AS reversal, CAST(p.booked AS INTEGER) AS booked, p.amount_minor, p.currency, p.booking_date, p.value_date, p.reference, p.text, p.debtor_name, \
     p.debtor_iban, p.state, p.reason, p.station_id, p.key_number, p.fee_rappen, p.load_rappen, u.email AS decided_by, \
     p.decided_at, p.created_at, t.id AS top_up";

const PAYMENT_FROM: &str =
    "payments p LEFT JOIN users u ON u.id = p.decided_by LEFT JOIN transactions t ON t.payment_id = p.id";

fn payment_from_row(row: &AnyRow) -> Result<PaymentRecord> {
    let corrupt = |what: &str| DbError::Unusable(format!("invalid {what} in table payments"));
    let day = |name: &str| -> Result<Option<Day>> {
        row.try_get::<Option<String>, _>(name)?
            .map(|d| Day::parse(&d).ok_or_else(|| corrupt(name)))
            .transpose()
    };
    let direction = match row.try_get::<String, _>("direction")?.as_str() {
        "CRDT" => Direction::Credit,
        "DBIT" => Direction::Debit,
        _ => return Err(corrupt("direction")),
    };
    let station: Option<i64> = row.try_get("station_id")?;
    let key = match station {
        Some(s) => Some((StationId(s), columns::key(row, "key_number")?)),
        None => None,
    };
    Ok(PaymentRecord {
        id: PaymentId(row.try_get("id")?),
        gerance_id: columns::gerance(row, "gerance_id")?,
        import_id: ImportId(row.try_get("import_id")?),
        account: row.try_get("account_iban")?,
        movement: BankTransaction {
            bank_ref: row.try_get("bank_ref")?,
            direction,
            reversal: columns::flag(row, "reversal")?,
            booked: columns::flag(row, "booked")?,
            amount_minor: row.try_get("amount_minor")?,
            currency: Currency::parse(row.try_get("currency")?).ok_or_else(|| corrupt("currency"))?,
            booking_date: day("booking_date")?,
            value_date: day("value_date")?,
            reference: row.try_get("reference")?,
            text: row.try_get("text")?,
            debtor_name: row.try_get("debtor_name")?,
            debtor_iban: row.try_get("debtor_iban")?,
        },
        state: PaymentState::parse(row.try_get("state")?).ok_or_else(|| corrupt("state"))?,
        reason: row.try_get("reason")?,
        key,
        fee_rappen: row.try_get("fee_rappen")?,
        load: row
            .try_get::<Option<i64>, _>("load_rappen")?
            .map(|r| Amount::from_rappen(r).map_err(|_| corrupt("load_rappen")))
            .transpose()?,
        decided_by: row
            .try_get::<Option<String>, _>("decided_by")?
            .map(|e| Email::parse(&e).map_err(|_| corrupt("e-mail")))
            .transpose()?,
        decided_at: columns::maybe_time(row, "decided_at")?,
        created_at: columns::time(row, "created_at")?,
        top_up: row.try_get::<Option<i64>, _>("top_up")?.map(TxId),
    })
}

fn creditor_from_row(row: &AnyRow) -> Result<Creditor> {
    let corrupt = |what: &str| DbError::Unusable(format!("invalid {what} in table creditors"));
    let amount = |name: &str| -> Result<Option<Amount>> {
        row.try_get::<Option<i64>, _>(name)?
            .map(|r| Amount::from_rappen(r).map_err(|_| corrupt(name)))
            .transpose()
    };
    let basis_points: i64 = row.try_get("fee_basis_points")?;
    Ok(Creditor {
        iban: Iban::parse_swiss(row.try_get("iban")?).map_err(|_| corrupt("iban"))?,
        name: row.try_get("name")?,
        street: row.try_get("street")?,
        building: row.try_get("building")?,
        postcode: row.try_get("postcode")?,
        town: row.try_get("town")?,
        country: row.try_get("country")?,
        qrr_prefix: QrrPrefix::parse(row.try_get("qrr_prefix")?).map_err(|_| corrupt("qrr_prefix"))?,
        bill_amount: amount("bill_amount_rappen")?,
        fee: Fee::new(row.try_get("fee_fixed_rappen")?, u32::try_from(basis_points).unwrap_or(u32::MAX))
            .map_err(|_| corrupt("fee"))?,
        auto_approve: amount("auto_approve_rappen")?,
    })
}

async fn creditor_in(tx: &mut Transaction<'_, Any>, gerance: GeranceId) -> Result<Option<Creditor>> {
    let row = sqlx::query("SELECT * FROM creditors WHERE gerance_id = $1")
        .bind(gerance.get())
        .fetch_optional(&mut **tx)
        .await?;
    row.as_ref().map(creditor_from_row).transpose()
}

impl Db {
    /// The gérance's creditor settings, if set.
    pub async fn creditor(&self, gerance: GeranceId) -> Result<Option<Creditor>> {
        let row = sqlx::query("SELECT * FROM creditors WHERE gerance_id = $1")
            .bind(gerance.get())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(creditor_from_row).transpose()
    }

    /// The gérance whose account this is, if any.
    pub async fn gerance_by_account(&self, iban: &Iban) -> Result<Option<GeranceId>> {
        let id: Option<i64> = sqlx::query_scalar("SELECT gerance_id FROM creditors WHERE iban = $1")
            .bind(iban.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(id.map(GeranceId))
    }

    /// Sets the gérance's creditor settings. [`DbError::Conflict`] when the account is another
    /// gérance's.
    pub async fn set_creditor(
        &self,
        gerance: GeranceId,
        creditor: &Creditor,
        by: Option<UserId>,
        now: Timestamp,
    ) -> Result<()> {
        let mut tx = self.write_txn().await?;
        let before = creditor_in(&mut tx, gerance).await?;
        sqlx::query(
            "INSERT INTO creditors (gerance_id, iban, name, street, building, postcode, town, country, qrr_prefix,
                 bill_amount_rappen, fee_fixed_rappen, fee_basis_points, auto_approve_rappen, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
             ON CONFLICT (gerance_id) DO UPDATE SET iban = $2, name = $3, street = $4, building = $5,
                 postcode = $6, town = $7, country = $8, qrr_prefix = $9, bill_amount_rappen = $10,
                 fee_fixed_rappen = $11, fee_basis_points = $12, auto_approve_rappen = $13, updated_at = $14",
        )
        .bind(gerance.get())
        .bind(creditor.iban.as_str())
        .bind(&creditor.name)
        .bind(&creditor.street)
        .bind(&creditor.building)
        .bind(&creditor.postcode)
        .bind(&creditor.town)
        .bind(&creditor.country)
        .bind(creditor.qrr_prefix.as_str())
        .bind(creditor.bill_amount.map(Amount::rappen))
        .bind(creditor.fee.fixed_rappen)
        .bind(i64::from(creditor.fee.basis_points))
        .bind(creditor.auto_approve.map(Amount::rappen))
        .bind(now.millis())
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
        let details = settings_change(before.as_ref(), creditor);
        audit::append(&mut tx, Some(gerance), by, AuditAction::Settings, "creditor", &details, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Starts taking a bank file in for `meta.gerance`: refused at once when the gérance has no account.
    pub async fn begin_import(
        &self,
        meta: &ImportMeta<'_>,
        now: Timestamp,
    ) -> Result<std::result::Result<Import, ImportRefused>> {
        let mut tx = self.write_txn().await?;
        let Some(creditor) = creditor_in(&mut tx, meta.gerance).await? else {
            return Ok(Err(ImportRefused::NoCreditor));
        };
        let registry = GeranceRegistry::load(&mut tx, meta.gerance).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO payment_imports (gerance_id, imported_by, file_name, sha256, format, new_count, duplicates,
                 proposals, suggestions, exceptions, listed, approved, created_at)
             VALUES ($1, $2, $3, $4, $5, 0, 0, 0, 0, 0, 0, 0, $6) RETURNING id",
        )
        .bind(meta.gerance.get())
        .bind(meta.by.map(UserId::get))
        .bind(meta.file_name)
        .bind(meta.sha256)
        .bind(meta.format)
        .bind(now.millis())
        .fetch_one(&mut *tx)
        .await?;
        Ok(Ok(Import {
            db: self.clone(),
            tx,
            gerance: meta.gerance,
            by: meta.by,
            creditor,
            registry,
            id: ImportId(id),
            account_ok: false,
            summary: ImportSummary { import: Some(ImportId(id)), ..ImportSummary::default() },
            versions: None,
            now,
            file: format!("{} ({}, SHA-256 {})", meta.file_name, meta.format, meta.sha256),
            pending: Vec::with_capacity(BATCH),
        }))
    }

    /// The payments `scope` may see in these states, newest first, before `before` when given.
    pub async fn payments(
        &self,
        scope: Scope,
        states: &[PaymentState],
        before: Option<PaymentId>,
        limit: i64,
    ) -> Result<Vec<PaymentRecord>> {
        let (all, gerance) = scope.binds();
        let wanted: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
        // States are a closed set of words, bound one by one.
        let placeholders: Vec<String> = (0..wanted.len()).map(|i| format!("${}", i + 5)).collect();
        let sql = format!(
            "SELECT {PAYMENT_COLUMNS} FROM {PAYMENT_FROM}
             WHERE ($1 OR p.gerance_id = $2) AND p.id < $3 AND p.state IN ({})
             ORDER BY p.id DESC LIMIT $4",
            if placeholders.is_empty() { "NULL".to_owned() } else { placeholders.join(", ") }
        );
        let mut query = sqlx::query(&sql)
            .bind(all)
            .bind(gerance)
            .bind(before.map_or(i64::MAX, PaymentId::get))
            .bind(limit);
        for state in wanted {
            query = query.bind(state);
        }
        query.fetch_all(&self.pool).await?.iter().map(payment_from_row).collect()
    }

    /// What a file taken in gave, if `scope` may see it: its summary, file name and format.
    pub async fn payment_import(
        &self,
        scope: Scope,
        id: ImportId,
    ) -> Result<Option<(ImportSummary, String, String)>> {
        let (all, gerance) = scope.binds();
        let row = sqlx::query(
            "SELECT file_name, format, new_count, duplicates, proposals, suggestions, exceptions, listed, approved
             FROM payment_imports WHERE id = $1 AND ($2 OR gerance_id = $3)",
        )
        .bind(id.get())
        .bind(all)
        .bind(gerance)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let summary = ImportSummary {
            import: Some(id),
            new: row.try_get("new_count")?,
            duplicates: row.try_get("duplicates")?,
            proposals: row.try_get("proposals")?,
            suggestions: row.try_get("suggestions")?,
            exceptions: row.try_get("exceptions")?,
            listed: row.try_get("listed")?,
            approved: row.try_get("approved")?,
        };
        Ok(Some((summary, row.try_get("file_name")?, row.try_get("format")?)))
    }

    /// One payment, if `scope` may see it.
    pub async fn payment(&self, scope: Scope, id: PaymentId) -> Result<Option<PaymentRecord>> {
        let (all, gerance) = scope.binds();
        let row = sqlx::query(&format!(
            "SELECT {PAYMENT_COLUMNS} FROM {PAYMENT_FROM} WHERE p.id = $1 AND ($2 OR p.gerance_id = $3)"
        ))
        .bind(id.get())
        .bind(all)
        .bind(gerance)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(payment_from_row).transpose()
    }

    /// Turns a proposal or suggestion into its top-up, exactly as a typed one enters the journal.
    pub async fn approve_payment(
        &self,
        scope: Scope,
        id: PaymentId,
        by: Option<UserId>,
        now: Timestamp,
    ) -> Result<std::result::Result<TxRecord, ApproveError>> {
        self.decide(scope, id, None, by, now).await
    }

    /// Assigns a payment waiting for a person to a key of its gérance and turns it into its top-up (the
    /// amount less the gérance's fee).
    pub async fn assign_payment(
        &self,
        scope: Scope,
        id: PaymentId,
        station: StationId,
        key: KeyNumber,
        by: Option<UserId>,
        now: Timestamp,
    ) -> Result<std::result::Result<TxRecord, ApproveError>> {
        self.decide(scope, id, Some((station, key)), by, now).await
    }

    async fn decide(
        &self,
        scope: Scope,
        id: PaymentId,
        assign: Option<(StationId, KeyNumber)>,
        by: Option<UserId>,
        now: Timestamp,
    ) -> Result<std::result::Result<TxRecord, ApproveError>> {
        let mut tx = self.write_txn().await?;
        let (all, gerance) = scope.binds();
        let row = sqlx::query(&format!(
            "SELECT {PAYMENT_COLUMNS} FROM {PAYMENT_FROM} WHERE p.id = $1 AND ($2 OR p.gerance_id = $3)"
        ))
        .bind(id.get())
        .bind(all)
        .bind(gerance)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(payment) = row.as_ref().map(payment_from_row).transpose()? else {
            return Ok(Err(ApproveError::NotFound));
        };
        if payment.state == PaymentState::Approved {
            return Ok(Err(ApproveError::AlreadyApproved(payment.top_up)));
        }
        let open = match assign {
            // A proposal or suggestion is approved as it is; anything a person may decide can be assigned.
            None => matches!(payment.state, PaymentState::Proposal | PaymentState::Suggestion),
            Some(_) => {
                payment.state.open()
                    && payment.movement.currency.is_chf()
                    && payment.movement.direction == Direction::Credit
            }
        };
        if !open {
            return Ok(Err(ApproveError::NotOpen(payment.state)));
        }
        let (station, key, fee, load) = match (assign, payment.key, payment.load) {
            (None, Some((station, key)), Some(load)) => (station, key, payment.fee_rappen.unwrap_or(0), load),
            (None, _, _) => return Ok(Err(ApproveError::NoKey)),
            (Some((station, key)), _, _) => {
                let fee = creditor_in(&mut tx, payment.gerance_id).await?.map_or(Fee::NONE, |c| c.fee);
                let fee_rappen = fee.on(payment.movement.amount_minor);
                let Ok(load) = Amount::from_rappen(payment.movement.amount_minor - fee_rappen) else {
                    return Ok(Err(ApproveError::NothingToLoad));
                };
                (station, key, fee_rappen, load)
            }
        };
        let max: Option<i64> =
            sqlx::query_scalar("SELECT max_amount_rappen FROM stations WHERE id = $1 AND gerance_id = $2")
                .bind(station.get())
                .bind(payment.gerance_id.get())
                .fetch_optional(&mut *tx)
                .await?;
        let Some(max) = max else { return Ok(Err(ApproveError::UnknownStation)) };
        let max = Amount::from_rappen(max)
            .map_err(|_| DbError::Unusable("invalid value in column max_amount_rappen".into()))?;
        if load > max {
            return Ok(Err(ApproveError::AboveMaximum(max)));
        }
        let row = TopUpRow {
            gerance_id: payment.gerance_id,
            station,
            key,
            amount: load,
            by,
            token: None,
            payment: Some(id),
        };
        let (tx_id, version) = match insert_top_up(&mut tx, &row, now).await {
            Ok(Ok(inserted)) => inserted,
            Ok(Err(TopUpError::KeyBlocked)) => return Ok(Err(ApproveError::KeyBlocked)),
            Ok(Err(TopUpError::KeyRetired)) => return Ok(Err(ApproveError::KeyRetired)),
            Ok(Err(_)) => return Ok(Err(ApproveError::UnknownStation)),
            // The unique link: another approval of the same payment committed first.
            Err(DbError::Conflict) => return Ok(Err(ApproveError::AlreadyApproved(None))),
            Err(e) => return Err(e),
        };
        sqlx::query(
            "UPDATE payments SET state = 'approved', station_id = $2, key_number = $3, fee_rappen = $4,
                 load_rappen = $5, decided_by = $6, decided_at = $7
             WHERE id = $1",
        )
        .bind(id.get())
        .bind(station.get())
        .bind(i64::from(key))
        .bind(fee)
        .bind(load.rappen())
        .bind(by.map(UserId::get))
        .bind(now.millis())
        .execute(&mut *tx)
        .await?;
        let (action, details) = match assign {
            None => (
                AuditAction::Approve,
                format!("top-up {tx_id}: key {key} at station {station}, {load} (fee {})", rappen(fee)),
            ),
            Some(_) => (
                AuditAction::Assign,
                format!(
                    "was {}; top-up {tx_id}: key {key} at station {station}, {load} (fee {})",
                    payment.state.as_str(),
                    rappen(fee)
                ),
            ),
        };
        audit::append(&mut tx, Some(payment.gerance_id), by, action, &format!("payment {id}"), &details, now)
            .await?;
        tx.commit().await?;
        self.tell_changed(Some(version));
        Ok(Ok(self.transaction(Scope::All, tx_id).await?.ok_or(DbError::NotFound)?))
    }

    /// Sets a payment waiting for a person aside, with the person's reason. False when it is not one
    /// `scope` sees or no longer waits.
    pub async fn set_payment_aside(
        &self,
        scope: Scope,
        id: PaymentId,
        reason: &str,
        by: Option<UserId>,
        now: Timestamp,
    ) -> Result<bool> {
        let mut tx = self.write_txn().await?;
        let (all, gerance) = scope.binds();
        let owner: Option<(i64, String)> = sqlx::query_as(
            "UPDATE payments SET state = 'set_aside', reason = $4, decided_by = $5, decided_at = $6
             WHERE id = $1 AND ($2 OR gerance_id = $3) AND state IN ('proposal', 'suggestion', 'exception')
             RETURNING gerance_id, state",
        )
        .bind(id.get())
        .bind(all)
        .bind(gerance)
        .bind(reason)
        .bind(by.map(UserId::get))
        .bind(now.millis())
        .fetch_optional(&mut *tx)
        .await?;
        let Some((owner, _)) = owner else { return Ok(false) };
        audit::append(
            &mut tx,
            Some(GeranceId(owner)),
            by,
            AuditAction::SetAside,
            &format!("payment {id}"),
            reason,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}

impl Import {
    pub fn id(&self) -> ImportId {
        self.id
    }

    /// The account a statement in the file is for: it must be the gérance's.
    pub fn account(&mut self, iban: &Iban) -> std::result::Result<(), ImportRefused> {
        if *iban != self.creditor.iban {
            return Err(ImportRefused::WrongAccount {
                found: iban.clone(),
                ours: self.creditor.iban.clone(),
            });
        }
        self.account_ok = true;
        Ok(())
    }

    /// Keeps one movement (nothing if a file already brought it) with what the matching rules make of
    /// it; in the automatic mode, a proposal within the gérance's limit becomes its top-up at once.
    /// Movements are written [`BATCH`] at a time (one statement each), and the rest by `finish`.
    pub async fn add(
        &mut self,
        movement: &BankTransaction,
    ) -> Result<std::result::Result<(), ImportRefused>> {
        if !self.account_ok {
            return Ok(Err(ImportRefused::NoAccount));
        }
        let outcome = match_credit(
            movement,
            &self.creditor.iban,
            &self.creditor.qrr_prefix,
            self.creditor.fee,
            &self.registry,
        );
        let matched = match outcome {
            Outcome::Listed(why) => Matched::new(PaymentState::Listed, Some(why.as_str()), None, None, None),
            Outcome::Proposal(t) => Matched::new(
                PaymentState::Proposal,
                None,
                Some((t.station, t.key)),
                Some(t.fee_rappen),
                Some(t.amount),
            ),
            Outcome::Suggestion(t) => Matched::new(
                PaymentState::Suggestion,
                None,
                Some((t.station, t.key)),
                Some(t.fee_rappen),
                Some(t.amount),
            ),
            Outcome::Exception(why, key) => {
                Matched::new(PaymentState::Exception, Some(why.as_str()), key, None, None)
            }
        };
        self.pending.push((movement.clone(), matched));
        if self.pending.len() >= BATCH {
            self.flush().await?;
        }
        Ok(Ok(()))
    }

    /// Writes the movements waiting in `pending` in one statement; counts what was new and approves
    /// in the automatic mode.
    async fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        // Which are known already (a re-import, a camt.053 after its camt.054): one read for the batch,
        // and only the others are written.
        let places: Vec<String> = (0..self.pending.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT bank_ref FROM payments WHERE account_iban = $1 AND bank_ref IN ({})",
            places.join(", ")
        );
        let mut known = sqlx::query_scalar::<_, String>(&sql).bind(self.creditor.iban.as_str());
        for (movement, _) in &self.pending {
            known = known.bind(&movement.bank_ref);
        }
        let known: std::collections::HashSet<String> =
            known.fetch_all(&mut *self.tx).await?.into_iter().collect();
        let mut seen = std::collections::HashSet::new();
        let fresh: Vec<usize> = (0..self.pending.len())
            .filter(|&i| {
                let bank_ref = &self.pending[i].0.bank_ref;
                !known.contains(bank_ref) && seen.insert(bank_ref.clone())
            })
            .collect();
        self.summary.duplicates += (self.pending.len() - fresh.len()) as i64;
        if fresh.is_empty() {
            self.pending.clear();
            return Ok(());
        }
        const COLUMNS: usize = 22;
        let rows: Vec<String> = (0..fresh.len())
            .map(|r| {
                let places: Vec<String> = (1..=COLUMNS).map(|c| format!("${}", r * COLUMNS + c)).collect();
                format!("({})", places.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO payments (gerance_id, import_id, account_iban, bank_ref, direction, reversal, booked,
                 amount_minor, currency, booking_date, value_date, reference, text, debtor_name, debtor_iban,
                 state, reason, station_id, key_number, fee_rappen, load_rappen, created_at)
             VALUES {}
             ON CONFLICT (account_iban, bank_ref) DO NOTHING RETURNING id, bank_ref",
            rows.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for &i in &fresh {
            let (movement, m) = &self.pending[i];
            query = query
                .bind(self.gerance.get())
                .bind(self.id.get())
                .bind(self.creditor.iban.as_str())
                .bind(&movement.bank_ref)
                .bind(movement.direction.as_str())
                .bind(movement.reversal)
                .bind(movement.booked)
                .bind(movement.amount_minor)
                .bind(movement.currency.as_str())
                .bind(movement.booking_date.map(Day::iso))
                .bind(movement.value_date.map(Day::iso))
                .bind(&movement.reference)
                .bind(&movement.text)
                .bind(&movement.debtor_name)
                .bind(&movement.debtor_iban)
                .bind(m.state.as_str())
                .bind(m.reason)
                .bind(m.key.map(|(s, _)| s.get()))
                .bind(m.key.map(|(_, k)| i64::from(k)))
                .bind(m.fee)
                .bind(m.load.map(Amount::rappen))
                .bind(self.now.millis());
        }
        let inserted = query.fetch_all(&mut *self.tx).await?;
        let pending = std::mem::take(&mut self.pending);
        // The first of the batch with each bank reference is the one written (a file may repeat one).
        let mut first: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for (i, (movement, _)) in pending.iter().enumerate() {
            first.entry(movement.bank_ref.as_str()).or_insert(i);
        }
        // Written by nobody else meanwhile (the writer is ours), so every fresh row came back.
        self.summary.duplicates += (fresh.len() - inserted.len()) as i64;
        for row in &inserted {
            let id: i64 = row.try_get("id")?;
            let bank_ref: String = row.try_get("bank_ref")?;
            let Some(&i) = first.get(bank_ref.as_str()) else { continue };
            let (movement, m) = &pending[i];
            let s = &mut self.summary;
            s.new += 1;
            match m.state {
                PaymentState::Listed => s.listed += 1,
                PaymentState::Proposal => s.proposals += 1,
                PaymentState::Suggestion => s.suggestions += 1,
                _ => s.exceptions += 1,
            }
            if let (PaymentState::Proposal, Some((station, key)), Some(load), Some(limit)) =
                (m.state, m.key, m.load, self.creditor.auto_approve)
                && movement.amount_minor <= limit.rappen()
            {
                self.approve_now(PaymentId(id), station, key, load, m.fee.unwrap_or(0)).await?;
            }
        }
        Ok(())
    }

    /// The automatic mode's approval, in the file's transaction.
    async fn approve_now(
        &mut self,
        id: PaymentId,
        station: StationId,
        key: KeyNumber,
        load: Amount,
        fee: i64,
    ) -> Result<()> {
        let row = TopUpRow {
            gerance_id: self.gerance,
            station,
            key,
            amount: load,
            by: None,
            token: None,
            payment: Some(id),
        };
        // The rules checked the key and the maximum against the registry read in this transaction.
        let Ok((tx_id, version)) = insert_top_up(&mut self.tx, &row, self.now).await? else { return Ok(()) };
        sqlx::query("UPDATE payments SET state = 'approved', decided_at = $2 WHERE id = $1")
            .bind(id.get())
            .bind(self.now.millis())
            .execute(&mut *self.tx)
            .await?;
        let details = format!("top-up {tx_id}: key {key} at station {station}, {load} (fee {})", rappen(fee));
        audit::append(
            &mut self.tx,
            Some(self.gerance),
            None,
            AuditAction::AutoApprove,
            &format!("payment {id}"),
            &details,
            self.now,
        )
        .await?;
        self.summary.approved += 1;
        self.versions = Some(version);
        Ok(())
    }

    /// Commits everything the file brought, with its line in the audit log.
    pub async fn finish(mut self, message_id: Option<&str>) -> Result<ImportSummary> {
        self.flush().await?;
        let s = self.summary;
        sqlx::query(
            "UPDATE payment_imports SET message_id = $2, new_count = $3, duplicates = $4, proposals = $5,
                 suggestions = $6, exceptions = $7, listed = $8, approved = $9
             WHERE id = $1",
        )
        .bind(self.id.get())
        .bind(message_id)
        .bind(s.new)
        .bind(s.duplicates)
        .bind(s.proposals)
        .bind(s.suggestions)
        .bind(s.exceptions)
        .bind(s.listed)
        .bind(s.approved)
        .execute(&mut *self.tx)
        .await?;
        let details = format!("{}: {s}", self.file);
        audit::append(
            &mut self.tx,
            Some(self.gerance),
            self.by,
            AuditAction::Import,
            &format!("import {}", self.id),
            &details,
            self.now,
        )
        .await?;
        self.tx.commit().await?;
        self.db.tell_changed(self.versions);
        Ok(s)
    }
}

/// Rappen as the log writes them: `1.25 CHF`, `0.00 CHF`.
fn rappen(r: i64) -> String {
    domain::Total::from_rappen(r).map_or_else(|_| r.to_string(), |t| t.to_string())
}

/// What a settings change changed, for the audit log.
fn settings_change(before: Option<&Creditor>, after: &Creditor) -> String {
    let describe = |c: &Creditor| {
        vec![
            ("account", c.iban.to_string()),
            (
                "creditor",
                format!("{}, {} {}, {} {}, {}", c.name, c.street, c.building, c.postcode, c.town, c.country),
            ),
            ("QRR prefix", c.qrr_prefix.as_str().to_owned()),
            ("bill amount", c.bill_amount.map_or("open".to_owned(), |a| a.to_string())),
            (
                "fee",
                format!(
                    "{} + {}.{:02} %",
                    rappen(c.fee.fixed_rappen),
                    c.fee.basis_points / 100,
                    c.fee.basis_points % 100
                ),
            ),
            ("automatic up to", c.auto_approve.map_or("off".to_owned(), |a| a.to_string())),
        ]
    };
    let after = describe(after);
    match before.map(describe) {
        None => after.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join("; "),
        Some(before) => before
            .iter()
            .zip(&after)
            .filter(|(b, a)| b.1 != a.1)
            .map(|(b, a)| format!("{}: {} → {}", a.0, b.1, a.1))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use domain::payment::{CreditorInput, KeyState};
    use domain::{GeranceName, KeyNumber};

    use super::*;
    use crate::testing::{fresh, rappen};
    use crate::{NewStation, NewTopUp};

    async fn gerance_with_station(db: &Db, name: &str, phone: &str) -> (GeranceId, StationId) {
        let g = db.create_gerance(&GeranceName::parse(name).unwrap(), Timestamp(1)).await.unwrap();
        let new = NewStation {
            gerance_id: g.id,
            name: "Buanderie",
            place: "Sion",
            phone: &crate::testing::phone(phone),
            secret: &[7; 32],
            max_amount: rappen(20_000),
        };
        (g.id, db.create_station(new, Timestamp(1)).await.unwrap())
    }

    fn creditor(iban: &str, auto_approve: &str) -> Creditor {
        Creditor::parse(&CreditorInput {
            iban: iban.into(),
            name: "Gérance Exemple SA".into(),
            street: "Rue du Lac".into(),
            building: "12".into(),
            postcode: "1950".into(),
            town: "Sion".into(),
            country: "CH".into(),
            auto_approve: auto_approve.into(),
            ..CreditorInput::default()
        })
        .unwrap()
    }

    const QR_IBAN: &str = "CH4431999123000889012";

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/../bank/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    /// Takes a fixture in as the server does; `Err` with the refusal, nothing committed.
    async fn import(
        db: &Db,
        gerance: GeranceId,
        name: &str,
    ) -> std::result::Result<ImportSummary, ImportRefused> {
        let meta = ImportMeta { gerance, by: None, file_name: name, sha256: "00", format: "camt" };
        let mut import = db.begin_import(&meta, Timestamp(10)).await.unwrap()?;
        let bytes = fixture(name);
        let mut reader = bank::CamtReader::new(Cursor::new(bytes)).unwrap();
        while let Some(item) = reader.next().unwrap() {
            match item {
                bank::Item::Account(iban) => import.account(&iban)?,
                bank::Item::Transaction(t) => import.add(&t).await.unwrap()?,
            }
        }
        let message_id = reader.message_id().map(str::to_owned);
        Ok(import.finish(message_id.as_deref()).await.unwrap())
    }

    async fn count(db: &Db, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(&db.pool).await.unwrap()
    }

    #[tokio::test]
    async fn a_notification_becomes_proposals_suggestions_exceptions_and_a_list() {
        let (db, _dir) = fresh().await;
        let (g, station) = gerance_with_station(&db, "G", "+41790000201").await;
        db.set_creditor(g, &creditor(QR_IBAN, ""), None, Timestamp(2)).await.unwrap();
        let s = import(&db, g, "camt054_v08.xml").await.unwrap();
        assert_eq!(
            (s.new, s.duplicates, s.proposals, s.suggestions, s.exceptions, s.listed, s.approved),
            (9, 0, 2, 1, 3, 3, 0)
        );
        assert_eq!(
            s.to_string(),
            "new 9, duplicates 0, proposals 2, exceptions 3, suggestions 1, listed 3, approved 0"
        );
        let proposals = db.payments(Scope::All, &[PaymentState::Proposal], None, 10).await.unwrap();
        let keys: Vec<_> = proposals.iter().map(|p| (p.key, p.load.map(Amount::rappen))).collect();
        assert_eq!(
            keys,
            vec![
                (Some((station, KeyNumber(2524))), Some(5_000)),
                (Some((station, KeyNumber(34586))), Some(2_000))
            ]
        );
        let exceptions = db.payments(Scope::All, &[PaymentState::Exception], None, 10).await.unwrap();
        let reasons: Vec<_> = exceptions.iter().rev().map(|p| p.reason.clone().unwrap()).collect();
        assert_eq!(reasons, ["reference_check_digit", "no_key", "no_key"]);
        let listed = db.payments(Scope::All, &[PaymentState::Listed], None, 10).await.unwrap();
        let reasons: Vec<_> = listed.iter().rev().map(|p| p.reason.clone().unwrap()).collect();
        assert_eq!(reasons, ["debit", "reversal", "not_chf"]);
        // Nothing became a top-up by itself.
        assert_eq!(count(&db, "transactions").await, 0);
        let log = db.audit_log(Scope::Gerance(g), None, 10).await.unwrap();
        assert_eq!(log[0].action, AuditAction::Import);
        assert!(log[0].details.contains("new 9, duplicates 0"), "{}", log[0].details);
    }

    #[tokio::test]
    async fn the_same_file_again_or_an_overlapping_statement_adds_only_what_is_new() {
        let (db, _dir) = fresh().await;
        let (g, _) = gerance_with_station(&db, "G", "+41790000202").await;
        db.set_creditor(g, &creditor(QR_IBAN, ""), None, Timestamp(2)).await.unwrap();
        import(&db, g, "camt054_v08.xml").await.unwrap();
        let again = import(&db, g, "camt054_v08.xml").await.unwrap();
        assert_eq!((again.new, again.duplicates), (0, 9));
        let statement = import(&db, g, "camt053_v08.xml").await.unwrap();
        assert_eq!((statement.new, statement.duplicates, statement.proposals), (1, 9, 1));
        assert_eq!(count(&db, "payments").await, 10);
    }

    #[tokio::test]
    async fn a_file_for_another_account_or_without_settings_leaves_nothing_behind() {
        let (db, _dir) = fresh().await;
        let (g, _) = gerance_with_station(&db, "G", "+41790000203").await;
        assert_eq!(import(&db, g, "camt054_v08.xml").await.unwrap_err(), ImportRefused::NoCreditor);
        db.set_creditor(g, &creditor("CH5800791123000889012", ""), None, Timestamp(2)).await.unwrap();
        let refused = import(&db, g, "camt054_v04.xml").await.unwrap_err();
        assert!(matches!(refused, ImportRefused::WrongAccount { .. }), "{refused:?}");
        assert!(refused.to_string().contains("CH44 3199 9123 0008 8901 2"), "{refused}");
        for table in ["payments", "payment_imports", "transactions"] {
            assert_eq!(count(&db, table).await, 0, "{table}");
        }
        // One account belongs to one gérance.
        let (other, _) = gerance_with_station(&db, "H", "+41790000204").await;
        let taken = db.set_creditor(other, &creditor("CH5800791123000889012", ""), None, Timestamp(3)).await;
        assert!(matches!(taken, Err(DbError::Conflict)), "{taken:?}");
    }

    #[tokio::test]
    async fn approving_makes_one_top_up_whatever_happens_at_once() {
        let (db, _dir) = fresh().await;
        let (g, station) = gerance_with_station(&db, "G", "+41790000205").await;
        db.set_creditor(g, &creditor(QR_IBAN, ""), None, Timestamp(2)).await.unwrap();
        import(&db, g, "camt054_v08.xml").await.unwrap();
        let proposal = db.payments(Scope::All, &[PaymentState::Proposal], None, 1).await.unwrap().remove(0);
        let mut tasks = Vec::new();
        for _ in 0..6 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                db.approve_payment(Scope::Gerance(g), proposal.id, None, Timestamp(20)).await.unwrap()
            }));
        }
        let mut made = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                Ok(tx) => made.push(tx),
                Err(ApproveError::AlreadyApproved(_)) => {}
                Err(other) => panic!("{other:?}"),
            }
        }
        assert_eq!(made.len(), 1);
        let top_up = &made[0];
        assert_eq!(
            (top_up.station_id, top_up.key, top_up.amount.rappen()),
            (station, KeyNumber(2524), 5_000)
        );
        assert_eq!(top_up.payment, Some(proposal.id));
        let approved = db.payment(Scope::All, proposal.id).await.unwrap().unwrap();
        assert_eq!((approved.state, approved.top_up), (PaymentState::Approved, Some(top_up.id)));
        // The database itself refuses a second top-up for the payment.
        let second = sqlx::query(
            "INSERT INTO transactions (gerance_id, station_id, key_number, amount_rappen, status, payment_id,
                 created_at, version) VALUES ($1, $2, 1, 100, 'queued', $3, 0, 0)",
        )
        .bind(g.get())
        .bind(station.get())
        .bind(proposal.id.get())
        .execute(&db.writer)
        .await;
        assert!(second.is_err());
        // A re-import does not reopen it.
        import(&db, g, "camt054_v08.xml").await.unwrap();
        assert_eq!(db.payment(Scope::All, proposal.id).await.unwrap().unwrap().state, PaymentState::Approved);
        assert_eq!(count(&db, "transactions").await, 1);
    }

    #[tokio::test]
    async fn the_automatic_mode_approves_key_references_up_to_its_limit_only() {
        let (db, _dir) = fresh().await;
        let (g, _) = gerance_with_station(&db, "G", "+41790000206").await;
        db.set_creditor(g, &creditor(QR_IBAN, "30"), None, Timestamp(2)).await.unwrap();
        let mut told = db.journal_changes();
        let s = import(&db, g, "camt054_v08.xml").await.unwrap();
        assert_eq!((s.proposals, s.approved, s.suggestions), (2, 1, 1));
        assert!(told.try_recv().is_ok(), "open journals hear of the new top-up");
        let approved = db.payments(Scope::All, &[PaymentState::Approved], None, 10).await.unwrap();
        assert_eq!(approved.len(), 1);
        assert_eq!(approved[0].movement.amount_minor, 2_000);
        let tx = db.transaction(Scope::All, approved[0].top_up.unwrap()).await.unwrap().unwrap();
        assert_eq!((tx.key, tx.status.as_str()), (KeyNumber(34586), "queued"));
        let log = db.audit_log(Scope::All, None, 10).await.unwrap();
        assert!(log.iter().any(|e| e.action == AuditAction::AutoApprove && e.by.is_none()));
    }

    #[tokio::test]
    async fn a_blocked_key_gets_neither_a_payment_nor_a_typed_top_up() {
        let (db, _dir) = fresh().await;
        let (g, station) = gerance_with_station(&db, "G", "+41790000207").await;
        db.set_creditor(g, &creditor(QR_IBAN, ""), None, Timestamp(2)).await.unwrap();
        assert!(
            db.set_key_state(
                Scope::Gerance(g),
                station,
                KeyNumber(2524),
                KeyState::Blocked,
                None,
                Timestamp(3)
            )
            .await
            .unwrap()
        );
        let s = import(&db, g, "camt054_v08.xml").await.unwrap();
        assert_eq!((s.proposals, s.exceptions), (1, 4));
        let blocked = db.payments(Scope::All, &[PaymentState::Exception], None, 10).await.unwrap();
        assert!(
            blocked
                .iter()
                .any(|p| p.reason.as_deref() == Some("key_blocked")
                    && p.key == Some((station, KeyNumber(2524))))
        );
        // What the alerts are decided on: the gérance's undecided exceptions, and the payment for the
        // blocked key.
        let facts = db.alert_facts(Timestamp(20)).await.unwrap();
        assert_eq!(
            facts.exceptions,
            [domain::alert::Exceptions { gerance: g, count: 4, oldest: Timestamp(10) }]
        );
        assert_eq!(facts.blocked.len(), 1);
        assert_eq!((facts.blocked[0].station, facts.blocked[0].key), (station, KeyNumber(2524)));
        let typed = NewTopUp {
            station_id: station,
            key: KeyNumber(2524),
            amount: rappen(1_000),
            user_id: None,
            request_token: "tok-blocked-0001",
            unless_same_since: None,
        };
        assert_eq!(
            db.create_top_up(Scope::All, typed, Timestamp(4)).await.unwrap().unwrap_err(),
            TopUpError::KeyBlocked
        );
        // Retired: the same, with its own reason.
        db.set_key_state(Scope::All, station, KeyNumber(2524), KeyState::Retired, None, Timestamp(5))
            .await
            .unwrap();
        let typed = NewTopUp {
            station_id: station,
            key: KeyNumber(2524),
            amount: rappen(1_000),
            user_id: None,
            request_token: "tok-retired-0001",
            unless_same_since: None,
        };
        assert_eq!(
            db.create_top_up(Scope::All, typed, Timestamp(6)).await.unwrap().unwrap_err(),
            TopUpError::KeyRetired
        );
    }

    #[tokio::test]
    async fn exceptions_are_assigned_or_set_aside_and_other_gerances_see_none_of_it() {
        let (db, _dir) = fresh().await;
        let (g, station) = gerance_with_station(&db, "G", "+41790000208").await;
        let (other, _) = gerance_with_station(&db, "H", "+41790000209").await;
        db.set_creditor(g, &creditor(QR_IBAN, ""), None, Timestamp(2)).await.unwrap();
        import(&db, g, "camt054_v08.xml").await.unwrap();
        let exceptions = db.payments(Scope::Gerance(g), &[PaymentState::Exception], None, 10).await.unwrap();
        assert_eq!(exceptions.len(), 3);
        assert!(
            db.payments(Scope::Gerance(other), &[PaymentState::Exception], None, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(db.payment(Scope::Gerance(other), exceptions[0].id).await.unwrap(), None);
        let theirs = db.assign_payment(
            Scope::Gerance(other),
            exceptions[0].id,
            station,
            KeyNumber(5),
            None,
            Timestamp(3),
        );
        assert_eq!(theirs.await.unwrap().unwrap_err(), ApproveError::NotFound);
        assert!(
            !db.set_payment_aside(Scope::Gerance(other), exceptions[0].id, "x", None, Timestamp(3))
                .await
                .unwrap()
        );

        let tx = db
            .assign_payment(Scope::Gerance(g), exceptions[0].id, station, KeyNumber(5), None, Timestamp(4))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((tx.key, tx.amount.rappen()), (KeyNumber(5), exceptions[0].movement.amount_minor));
        assert!(
            db.set_payment_aside(
                Scope::Gerance(g),
                exceptions[1].id,
                "Loyer, pas une recharge",
                None,
                Timestamp(5)
            )
            .await
            .unwrap()
        );
        let aside = db.payment(Scope::All, exceptions[1].id).await.unwrap().unwrap();
        assert_eq!(
            (aside.state, aside.reason.as_deref()),
            (PaymentState::SetAside, Some("Loyer, pas une recharge"))
        );
        // Listed movements are never top-ups, whoever asks.
        let debit = db.payments(Scope::All, &[PaymentState::Listed], None, 10).await.unwrap().pop().unwrap();
        let refused =
            db.assign_payment(Scope::All, debit.id, station, KeyNumber(5), None, Timestamp(6)).await.unwrap();
        assert_eq!(refused.unwrap_err(), ApproveError::NotOpen(PaymentState::Listed));
        let actions: Vec<_> =
            db.audit_log(Scope::Gerance(g), None, 10).await.unwrap().iter().map(|e| e.action).collect();
        assert_eq!(&actions[..2], [AuditAction::SetAside, AuditAction::Assign]);
        assert!(db.audit_log(Scope::Gerance(other), None, 10).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_movement_a_file_repeats_is_kept_once_in_a_batch_and_across_batches() {
        let (db, _dir) = fresh().await;
        let (g, _) = gerance_with_station(&db, "G", "+41790000211").await;
        db.set_creditor(g, &creditor(QR_IBAN, ""), None, Timestamp(2)).await.unwrap();
        let meta = ImportMeta { gerance: g, by: None, file_name: "f", sha256: "00", format: "camt" };
        let mut import = db.begin_import(&meta, Timestamp(3)).await.unwrap().unwrap();
        import.account(&Iban::parse(QR_IBAN).unwrap()).unwrap();
        let movement = |bank_ref: &str| BankTransaction {
            bank_ref: bank_ref.into(),
            direction: Direction::Credit,
            reversal: false,
            booked: true,
            amount_minor: 1_000,
            currency: Currency::chf(),
            booking_date: None,
            value_date: None,
            reference: None,
            text: Some("clé 5".into()),
            debtor_name: None,
            debtor_iban: None,
        };
        // 250 movements, each bank reference twice in a row, and the first again at the end.
        for n in 0..125 {
            import.add(&movement(&format!("R{n}"))).await.unwrap().unwrap();
            import.add(&movement(&format!("R{n}"))).await.unwrap().unwrap();
        }
        import.add(&movement("R0")).await.unwrap().unwrap();
        let s = import.finish(None).await.unwrap();
        assert_eq!((s.new, s.duplicates, s.suggestions), (125, 126, 125));
        assert_eq!(count(&db, "payments").await, 125);
    }

    #[tokio::test]
    async fn the_audit_log_cannot_be_changed_or_emptied() {
        let (db, _dir) = fresh().await;
        let (g, _) = gerance_with_station(&db, "G", "+41790000210").await;
        db.set_creditor(g, &creditor(QR_IBAN, ""), None, Timestamp(2)).await.unwrap();
        for sql in ["UPDATE audit_log SET details = 'x'", "DELETE FROM audit_log"] {
            let err = sqlx::query(sql).execute(&db.writer).await.unwrap_err();
            assert!(err.to_string().contains("append-only"), "{err}");
        }
        assert_eq!(count(&db, "audit_log").await, 1);
    }
}
