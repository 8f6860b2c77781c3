//! The key registry: a key is its station and its number, with a holder and a state.

use std::collections::HashMap;

use domain::payment::{KeyState, Registry};
use domain::{Amount, GeranceId, KeyNumber, StationId};
use sqlx::{Row, Sqlite, Transaction};

use crate::{DbError, Result, columns};

/// One gérance's stations and keys as the matching rules ask for them, read once per bank file.
#[derive(Debug, Default)]
pub(crate) struct GeranceRegistry {
    maximum: HashMap<StationId, Amount>,
    not_active: HashMap<(StationId, KeyNumber), KeyState>,
    stations_of: HashMap<KeyNumber, Vec<StationId>>,
}

impl GeranceRegistry {
    pub(crate) async fn load(tx: &mut Transaction<'_, Sqlite>, gerance: GeranceId) -> Result<Self> {
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
        let (all, gerance) = scope.binds();
        let owner: Option<i64> =
            sqlx::query_scalar("SELECT gerance_id FROM stations WHERE id = $1 AND ($2 OR gerance_id = $3)")
                .bind(station.get())
                .bind(all)
                .bind(gerance)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(owner) = owner else { return Ok(false) };
        sqlx::query(
            "INSERT INTO keys (station_id, key_number, gerance_id, state, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5)
             ON CONFLICT (station_id, key_number) DO UPDATE SET state = $4, updated_at = $5",
        )
        .bind(station.get())
        .bind(i64::from(key))
        .bind(owner)
        .bind(state.as_str())
        .bind(now.millis())
        .execute(&mut *tx)
        .await?;
        crate::audit::append(
            &mut tx,
            Some(GeranceId(owner)),
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
