//! Recharge stations: what they are, whose they are, and what we last heard from them.

use domain::{Account, Amount, Gerance, GeranceId, GeranceName, PhoneNumber, Role, StationId, Timestamp};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::columns;
use crate::{Db, DbError, Result, classify};

/// Whose data a query may see: an operator sees everything, an administrator only its gérance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    All,
    Gerance(GeranceId),
}

impl Scope {
    pub fn of(account: &Account) -> Self {
        match (account.role, &account.gerance) {
            (Role::Operator, _) => Scope::All,
            (Role::Admin, Some(g)) => Scope::Gerance(g.id),
            // An admin without a gérance cannot exist (a CHECK forbids it); see nothing if it did.
            (Role::Admin, None) => Scope::Gerance(GeranceId(-1)),
        }
    }

    /// Whether a row of gérance `gerance_id` is visible in this scope.
    pub fn allows(self, gerance_id: GeranceId) -> bool {
        match self {
            Scope::All => true,
            Scope::Gerance(id) => id == gerance_id,
        }
    }

    /// `(all, gerance_id)` for the `($n = 1 OR gerance_id = $m)` filter every scoped query uses.
    pub(crate) fn binds(self) -> (bool, i64) {
        match self {
            Scope::All => (true, 0),
            Scope::Gerance(id) => (false, id.get()),
        }
    }
}

pub struct NewStation<'a> {
    pub gerance_id: GeranceId,
    pub name: &'a str,
    pub place: &'a str,
    pub phone: &'a PhoneNumber,
    pub secret: &'a [u8; 32],
    pub max_amount: Amount,
}

/// A station's fields an operator may change (its gérance and secret stay).
pub struct StationEdit<'a> {
    pub name: &'a str,
    pub place: &'a str,
    pub phone: &'a PhoneNumber,
    pub max_amount: Amount,
}

/// A station as the UI shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StationRecord {
    pub id: StationId,
    pub gerance: Gerance,
    pub name: String,
    pub place: String,
    pub phone: PhoneNumber,
    pub max_amount: Amount,
    pub last_heard_at: Option<Timestamp>,
    /// The top-ups the station said it holds for keys not presented yet, in its last report
    /// (`reported_at`).
    pub pending: Option<i64>,
    pub reported_at: Option<Timestamp>,
    /// Its top-ups the journal has as Confirmed: stored at the station, waiting for their key. Live.
    pub waiting_for_key: i64,
    pub signal_dbm: Option<i64>,
    pub sim_credit_rappen: Option<i64>,
    pub firmware: Option<String>,
    pub rejected: i64,
}

/// What the modem task needs to talk to a station.
#[derive(Clone, PartialEq, Eq)]
pub struct StationLink {
    pub id: StationId,
    pub phone: PhoneNumber,
    pub secret: [u8; 32],
    pub max_amount: Amount,
    pub sent_counter: i64,
    pub heard_highest: i64,
    /// The replay window's bitmap, as stored (the bits of a `u64`).
    pub heard_window: i64,
}

impl std::fmt::Debug for StationLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StationLink")
            .field("id", &self.id)
            .field("phone", &self.phone)
            .finish_non_exhaustive()
    }
}

const STATION_COLUMNS: &str = "s.id, s.gerance_id, g.name AS gerance_name, s.name, s.place, s.phone, \
     s.max_amount_rappen, s.last_heard_at, s.pending, s.signal_dbm, s.sim_credit_rappen, s.firmware, s.rejected, \
     s.reported_at, COALESCE((SELECT c.n FROM journal_counts c WHERE c.gerance_id = s.gerance_id \
         AND c.station_id = s.id AND c.status = 'confirmed'), 0) AS waiting_for_key";

fn station_from_row(row: &AnyRow) -> Result<StationRecord> {
    let gerance_name: String = row.try_get("gerance_name")?;
    Ok(StationRecord {
        id: columns::station(row, "id")?,
        gerance: Gerance {
            id: columns::gerance(row, "gerance_id")?,
            name: GeranceName::parse(&gerance_name)
                .map_err(|_| DbError::Unusable("invalid gérance name".into()))?,
        },
        name: row.try_get("name")?,
        place: row.try_get("place")?,
        phone: columns::phone(row, "phone")?,
        max_amount: columns::amount(row, "max_amount_rappen")?,
        last_heard_at: columns::maybe_time(row, "last_heard_at")?,
        pending: row.try_get("pending")?,
        reported_at: columns::maybe_time(row, "reported_at")?,
        waiting_for_key: row.try_get("waiting_for_key")?,
        signal_dbm: row.try_get("signal_dbm")?,
        sim_credit_rappen: row.try_get("sim_credit_rappen")?,
        firmware: row.try_get("firmware")?,
        rejected: row.try_get("rejected")?,
    })
}

pub(crate) fn link_from_row(db: &Db, row: &AnyRow) -> Result<StationLink> {
    let secret: Vec<u8> = row.try_get("secret")?;
    Ok(StationLink {
        id: columns::station(row, "id")?,
        phone: columns::phone(row, "phone")?,
        secret: db.open_secret(&secret)?,
        max_amount: columns::amount(row, "max_amount_rappen")?,
        sent_counter: row.try_get("sent_counter")?,
        heard_highest: row.try_get("heard_highest")?,
        heard_window: row.try_get("heard_window")?,
    })
}

pub(crate) const LINK_COLUMNS: &str =
    "id, phone, secret, max_amount_rappen, sent_counter, heard_highest, heard_window";

impl Db {
    /// Creates a station; [`DbError::Conflict`] if its name (in the gérance) or phone number is taken.
    pub async fn create_station(&self, new: NewStation<'_>, now: Timestamp) -> Result<StationId> {
        sqlx::query_scalar(
            "INSERT INTO stations (gerance_id, name, place, phone, secret, max_amount_rappen, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(new.gerance_id.get())
        .bind(new.name)
        .bind(new.place)
        .bind(new.phone.as_str())
        .bind(self.seal_secret(new.secret)?)
        .bind(new.max_amount.rappen())
        .bind(now.millis())
        .fetch_one(&self.writer)
        .await
        .map(StationId)
        .map_err(classify)
    }

    /// Changes a station's name, place, SIM number and maximum; [`DbError::Conflict`] if the name (in its
    /// gérance) or the phone number is another station's, [`DbError::NotFound`] if there is no such station.
    pub async fn update_station(&self, id: StationId, edit: StationEdit<'_>) -> Result<()> {
        let updated = sqlx::query(
            "UPDATE stations SET name = $2, place = $3, phone = $4, max_amount_rappen = $5 WHERE id = $1",
        )
        .bind(id.get())
        .bind(edit.name)
        .bind(edit.place)
        .bind(edit.phone.as_str())
        .bind(edit.max_amount.rappen())
        .execute(&self.writer)
        .await
        .map_err(classify)?
        .rows_affected();
        if updated == 0 { Err(DbError::NotFound) } else { Ok(()) }
    }

    /// The stations `scope` may see, by gérance and name.
    pub async fn list_stations(&self, scope: Scope) -> Result<Vec<StationRecord>> {
        let (all, gerance) = scope.binds();
        let rows = sqlx::query(&format!(
            "SELECT {STATION_COLUMNS} FROM stations s JOIN gerances g ON g.id = s.gerance_id
             WHERE ($1 OR s.gerance_id = $2) ORDER BY g.name, s.name"
        ))
        .bind(all)
        .bind(gerance)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(station_from_row).collect()
    }

    /// One station, if `scope` may see it.
    pub async fn station(&self, scope: Scope, id: StationId) -> Result<Option<StationRecord>> {
        let (all, gerance) = scope.binds();
        let row = sqlx::query(&format!(
            "SELECT {STATION_COLUMNS} FROM stations s JOIN gerances g ON g.id = s.gerance_id
             WHERE s.id = $1 AND ($2 OR s.gerance_id = $3)"
        ))
        .bind(id.get())
        .bind(all)
        .bind(gerance)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(station_from_row).transpose()
    }

    /// Every station's protocol state, for the modem task.
    pub async fn station_links(&self) -> Result<Vec<StationLink>> {
        let rows = sqlx::query(&format!("SELECT {LINK_COLUMNS} FROM stations ORDER BY id"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| link_from_row(self, r)).collect()
    }

    pub async fn station_link(&self, id: StationId) -> Result<Option<StationLink>> {
        let row = sqlx::query(&format!("SELECT {LINK_COLUMNS} FROM stations WHERE id = $1"))
            .bind(id.get())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(|r| link_from_row(self, r)).transpose()
    }

    /// Counts a message that claimed to come from this station and failed verification.
    pub async fn count_rejected(&self, station_id: StationId) -> Result<()> {
        sqlx::query("UPDATE stations SET rejected = rejected + 1 WHERE id = $1")
            .bind(station_id.get())
            .execute(&self.writer)
            .await?;
        Ok(())
    }
}
