//! The key registry: a key is its station and its number, with a holder and a state.

use std::collections::HashMap;

use domain::journal::TxStatus;
use domain::key::Holder;
use domain::payment::{KeyState, Registry};
use domain::{Amount, Email, GeranceId, KeyNumber, Language, StationId, Timestamp, UserId};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::{DbError, Result, Scope, columns};

/// A key of the registry with what the *Clés* page shows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub station: StationId,
    pub station_name: String,
    pub gerance: GeranceId,
    pub key: KeyNumber,
    pub state: KeyState,
    pub holder: Holder,
    pub last_top_up: Option<LastTopUp>,
    /// The balance the station last reported for the key, in Rappen, and when.
    pub balance: Option<(Timestamp, i64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastTopUp {
    pub at: Timestamp,
    pub amount: Amount,
    pub status: TxStatus,
}

/// One row of a key list being imported: the key, its holder, and its state if the list gives one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    pub key: KeyNumber,
    pub holder: Holder,
    pub state: Option<KeyState>,
}

const KEY_COLUMNS: &str = "k.station_id, s.name AS station_name, k.gerance_id, k.key_number, k.state, \
     k.holder_name, k.flat, k.email, k.locale, k.note,
     (SELECT t.id FROM transactions t WHERE t.key_number = k.key_number AND t.station_id = k.station_id
      ORDER BY t.id DESC LIMIT 1) AS last_tx,
     (SELECT t.id FROM transactions t WHERE t.key_number = k.key_number AND t.station_id = k.station_id
      AND t.balance_rappen IS NOT NULL ORDER BY t.id DESC LIMIT 1) AS balance_tx";

fn key_record(row: &AnyRow) -> Result<KeyRecord> {
    let corrupt = |column: &str| DbError::Unusable(format!("invalid value in column keys.{column}"));
    let state: String = row.try_get("state")?;
    let email: Option<String> = row.try_get("email")?;
    let locale: Option<String> = row.try_get("locale")?;
    Ok(KeyRecord {
        station: columns::station(row, "station_id")?,
        station_name: row.try_get("station_name")?,
        gerance: GeranceId(row.try_get("gerance_id")?),
        key: columns::key(row, "key_number")?,
        state: state.parse().map_err(|_| corrupt("state"))?,
        holder: Holder {
            name: row.try_get("holder_name")?,
            flat: row.try_get("flat")?,
            email: email.map(|e| Email::parse(&e)).transpose().map_err(|_| corrupt("email"))?,
            language: locale.map(|l| l.parse::<Language>()).transpose().map_err(|_| corrupt("locale"))?,
            note: row.try_get("note")?,
        },
        last_top_up: None,
        balance: None,
    })
}

impl crate::Db {
    /// The keys of a station `scope` sees, by number; `search` narrows them to those whose number,
    /// holder, flat or e-mail contains it. `None` when the station is not one `scope` sees.
    pub async fn station_keys(
        &self,
        scope: Scope,
        station: StationId,
        search: &str,
        limit: u32,
    ) -> Result<Option<Vec<KeyRecord>>> {
        let (all, gerance) = scope.binds();
        let visible: Option<i64> =
            sqlx::query_scalar("SELECT id FROM stations WHERE id = $1 AND ($2 OR gerance_id = $3)")
                .bind(station.get())
                .bind(all)
                .bind(gerance)
                .fetch_optional(&self.pool)
                .await?;
        if visible.is_none() {
            return Ok(None);
        }
        let search = search.trim();
        let pattern = format!("%{}%", search.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM keys k JOIN stations s ON s.id = k.station_id
             WHERE k.station_id = $1 AND ($2 = '' OR CAST(k.key_number AS TEXT) LIKE $3 ESCAPE '\\'
                OR LOWER(k.holder_name) LIKE LOWER($3) ESCAPE '\\' OR LOWER(k.flat) LIKE LOWER($3) ESCAPE '\\'
                OR LOWER(k.email) LIKE LOWER($3) ESCAPE '\\')
             ORDER BY k.key_number LIMIT $4"
        ))
        .bind(station.get())
        .bind(search)
        .bind(&pattern)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut keys = Vec::with_capacity(rows.len());
        for row in &rows {
            keys.push(self.with_history(row).await?);
        }
        Ok(Some(keys))
    }

    /// One registered key of a station `scope` sees.
    pub async fn key(&self, scope: Scope, station: StationId, key: KeyNumber) -> Result<Option<KeyRecord>> {
        let (all, gerance) = scope.binds();
        let row = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM keys k JOIN stations s ON s.id = k.station_id
             WHERE k.station_id = $1 AND k.key_number = $2 AND ($3 OR k.gerance_id = $4)"
        ))
        .bind(station.get())
        .bind(i64::from(key))
        .bind(all)
        .bind(gerance)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => Ok(Some(self.with_history(&row).await?)),
            None => Ok(None),
        }
    }

    async fn with_history(&self, row: &AnyRow) -> Result<KeyRecord> {
        let mut record = key_record(row)?;
        if let Some(id) = row.try_get::<Option<i64>, _>("last_tx")? {
            let t = sqlx::query("SELECT created_at, amount_rappen, status FROM transactions WHERE id = $1")
                .bind(id)
                .fetch_one(&self.pool)
                .await?;
            let status: String = t.try_get("status")?;
            record.last_top_up = Some(LastTopUp {
                at: columns::time(&t, "created_at")?,
                amount: columns::amount(&t, "amount_rappen")?,
                status: status.parse().map_err(|_| DbError::Unusable("invalid status".into()))?,
            });
        }
        if let Some(id) = row.try_get::<Option<i64>, _>("balance_tx")? {
            let t = sqlx::query(
                "SELECT COALESCE(reloaded_at, ended_at, created_at) AS at, balance_rappen FROM transactions
                 WHERE id = $1",
            )
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
            record.balance = Some((columns::time(&t, "at")?, t.try_get("balance_rappen")?));
        }
        Ok(record)
    }

    /// Registers a key by hand or changes its holder, if `scope` sees its station. False otherwise.
    pub async fn save_key(
        &self,
        scope: Scope,
        station: StationId,
        key: KeyNumber,
        holder: &Holder,
        by: Option<UserId>,
        now: Timestamp,
    ) -> Result<bool> {
        let mut tx = self.write_txn().await?;
        let Some(owner) = owner(&mut tx, scope, station).await? else { return Ok(false) };
        upsert_holder(&mut tx, owner, station, key, holder, None, now).await?;
        crate::audit::append(
            &mut tx,
            Some(owner),
            by,
            crate::AuditAction::Key,
            &format!("key {station}/{key}"),
            "holder saved",
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Registers or updates the keys of a list in one transaction: all of them or, if `scope` does not
    /// see the station, none. The caller has checked every row.
    pub async fn import_keys(
        &self,
        scope: Scope,
        station: StationId,
        rows: &[KeyRow],
        file_name: &str,
        by: Option<UserId>,
        now: Timestamp,
    ) -> Result<bool> {
        let mut tx = self.write_txn().await?;
        let Some(owner) = owner(&mut tx, scope, station).await? else { return Ok(false) };
        for row in rows {
            upsert_holder(&mut tx, owner, station, row.key, &row.holder, row.state, now).await?;
        }
        crate::audit::append(
            &mut tx,
            Some(owner),
            by,
            crate::AuditAction::Key,
            &format!("station {station}"),
            &format!("key list {file_name:?}: {} keys", rows.len()),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}

async fn owner(tx: &mut Transaction<'_, Any>, scope: Scope, station: StationId) -> Result<Option<GeranceId>> {
    let (all, gerance) = scope.binds();
    let owner: Option<i64> =
        sqlx::query_scalar("SELECT gerance_id FROM stations WHERE id = $1 AND ($2 OR gerance_id = $3)")
            .bind(station.get())
            .bind(all)
            .bind(gerance)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(owner.map(GeranceId))
}

async fn upsert_holder(
    tx: &mut Transaction<'_, Any>,
    owner: GeranceId,
    station: StationId,
    key: KeyNumber,
    holder: &Holder,
    state: Option<KeyState>,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO keys (station_id, key_number, gerance_id, state, holder_name, flat, email, locale, note,
                           created_at, updated_at)
         VALUES ($1, $2, $3, COALESCE($4, 'active'), $5, $6, $7, $8, $9, $10, $10)
         ON CONFLICT (station_id, key_number) DO UPDATE SET state = COALESCE($4, keys.state),
             holder_name = $5, flat = $6, email = $7, locale = $8, note = $9, updated_at = $10",
    )
    .bind(station.get())
    .bind(i64::from(key))
    .bind(owner.get())
    .bind(state.map(KeyState::as_str))
    .bind(holder.name.as_deref())
    .bind(holder.flat.as_deref())
    .bind(holder.email.as_ref().map(Email::as_str))
    .bind(holder.language.map(Language::code))
    .bind(holder.note.as_deref())
    .bind(now.millis())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One gérance's stations and keys as the matching rules ask for them, read once per bank file.
#[derive(Debug, Default)]
pub(crate) struct GeranceRegistry {
    maximum: HashMap<StationId, Amount>,
    not_active: HashMap<(StationId, KeyNumber), KeyState>,
    stations_of: HashMap<KeyNumber, Vec<StationId>>,
}

impl GeranceRegistry {
    pub(crate) async fn load(tx: &mut Transaction<'_, Any>, gerance: GeranceId) -> Result<Self> {
        let mut registry = Self::default();
        let stations = sqlx::query("SELECT id, max_amount_rappen FROM stations WHERE gerance_id = $1")
            .bind(gerance.get())
            .fetch_all(&mut **tx)
            .await?;
        for row in &stations {
            registry.maximum.insert(columns::station(row, "id")?, columns::amount(row, "max_amount_rappen")?);
        }
        let keys = sqlx::query("SELECT station_id, key_number, state FROM keys WHERE gerance_id = $1")
            .bind(gerance.get())
            .fetch_all(&mut **tx)
            .await?;
        for row in &keys {
            let station = columns::station(row, "station_id")?;
            let key = columns::key(row, "key_number")?;
            let state: String = row.try_get("state")?;
            let state: KeyState =
                state.parse().map_err(|_| DbError::Unusable("invalid value in column keys.state".into()))?;
            if state != KeyState::Active {
                registry.not_active.insert((station, key), state);
            }
            registry.stations_of.entry(key).or_default().push(station);
        }
        Ok(registry)
    }
}

impl Registry for GeranceRegistry {
    fn station_maximum(&self, station: StationId) -> Option<Amount> {
        self.maximum.get(&station).copied()
    }

    fn key_state(&self, station: StationId, key: KeyNumber) -> KeyState {
        self.not_active.get(&(station, key)).copied().unwrap_or(KeyState::Active)
    }

    fn stations_with_key(&self, key: KeyNumber) -> Vec<StationId> {
        self.stations_of.get(&key).cloned().unwrap_or_default()
    }

    fn only_station(&self) -> Option<StationId> {
        match self.maximum.len() {
            1 => self.maximum.keys().next().copied(),
            _ => None,
        }
    }
}

impl crate::Db {
    /// Sets a key's state (registering the key if it is not yet), if `scope` may use its station.
    /// False when the station is not one `scope` sees.
    pub async fn set_key_state(
        &self,
        scope: crate::Scope,
        station: StationId,
        key: KeyNumber,
        state: KeyState,
        by: Option<domain::UserId>,
        now: domain::Timestamp,
    ) -> Result<bool> {
        let mut tx = self.write_txn().await?;
        let Some(owner) = owner(&mut tx, scope, station).await? else { return Ok(false) };
        sqlx::query(
            "INSERT INTO keys (station_id, key_number, gerance_id, state, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5)
             ON CONFLICT (station_id, key_number) DO UPDATE SET state = $4, updated_at = $5",
        )
        .bind(station.get())
        .bind(i64::from(key))
        .bind(owner.get())
        .bind(state.as_str())
        .bind(now.millis())
        .execute(&mut *tx)
        .await?;
        crate::audit::append(
            &mut tx,
            Some(owner),
            by,
            crate::AuditAction::Key,
            &format!("key {station}/{key}"),
            &format!("state: {}", state.as_str()),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use domain::key::HolderInput;

    use super::*;
    use crate::NewTopUp;
    use crate::testing::{fresh, gerance_with_station as station, rappen};

    fn holder(name: &str) -> Holder {
        Holder::parse(&HolderInput { name: name.into(), language: "it".into(), ..HolderInput::default() })
            .unwrap()
    }

    #[tokio::test]
    async fn keys_are_found_with_their_last_top_up_and_only_by_their_gerance() {
        let (db, _dir) = fresh().await;
        let (a, station_a) = station(&db, "Gérance A", "+41790000001").await;
        let (b, _) = station(&db, "Gérance B", "+41790000002").await;
        let (mine, theirs) = (Scope::Gerance(a), Scope::Gerance(b));
        assert!(
            db.save_key(mine, station_a, KeyNumber(7), &holder("Lucia Rossi"), None, Timestamp(2))
                .await
                .unwrap()
        );
        assert!(
            !db.save_key(theirs, station_a, KeyNumber(8), &holder("X"), None, Timestamp(2)).await.unwrap()
        );
        assert_eq!(db.station_keys(theirs, station_a, "", 100).await.unwrap(), None);
        assert_eq!(db.key(theirs, station_a, KeyNumber(7)).await.unwrap(), None);

        let new = NewTopUp {
            station_id: station_a,
            key: KeyNumber(7),
            amount: rappen(2_500),
            user_id: None,
            request_token: "tok-key-0000001",
            unless_same_since: None,
        };
        db.create_top_up(mine, new, Timestamp(3)).await.unwrap().unwrap();
        let keys = db.station_keys(mine, station_a, "ross", 100).await.unwrap().unwrap();
        assert_eq!(keys.len(), 1);
        let key = &keys[0];
        assert_eq!(
            (key.key, key.state, key.holder.language),
            (KeyNumber(7), KeyState::Active, Some(Language::It))
        );
        let last = key.last_top_up.unwrap();
        assert_eq!((last.at, last.amount), (Timestamp(3), rappen(2_500)));
        assert_eq!(key.balance, None, "no balance reported yet");
        assert!(db.station_keys(mine, station_a, "dupont", 100).await.unwrap().unwrap().is_empty());
        // A search is text, not a pattern.
        assert!(db.station_keys(mine, station_a, "%", 100).await.unwrap().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_list_is_saved_whole_and_keeps_states_it_does_not_give() {
        let (db, _dir) = fresh().await;
        let (a, station_a) = station(&db, "Gérance A", "+41790000001").await;
        let scope = Scope::Gerance(a);
        db.set_key_state(scope, station_a, KeyNumber(1), KeyState::Blocked, None, Timestamp(2))
            .await
            .unwrap();
        let rows = vec![
            KeyRow { key: KeyNumber(1), holder: holder("Un"), state: None },
            KeyRow { key: KeyNumber(2), holder: holder("Deux"), state: Some(KeyState::Retired) },
        ];
        assert!(db.import_keys(scope, station_a, &rows, "keys.csv", None, Timestamp(3)).await.unwrap());
        let keys = db.station_keys(scope, station_a, "", 100).await.unwrap().unwrap();
        let states: Vec<_> =
            keys.iter().map(|k| (k.key.0, k.state, k.holder.name.clone().unwrap())).collect();
        assert_eq!(
            states,
            [(1, KeyState::Blocked, "Un".to_owned()), (2, KeyState::Retired, "Deux".to_owned())]
        );
        let log = db.audit_log(scope, None, 10).await.unwrap();
        assert!(log.iter().any(|e| e.details.contains("key list \"keys.csv\": 2 keys")), "{log:?}");
    }
}
