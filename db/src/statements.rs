//! The annual statements of a gérance's keys: for a Zurich calendar year, each key's payments (approved,
//! or matched by reference and waiting) and the top-ups its station loaded, read in three statements
//! whatever the number of keys.

use std::collections::BTreeMap;

use domain::key::Holder;
use domain::payment::Day;
use domain::statement::{Entry, Statement, Year};
use domain::{Email, GeranceId, KeyNumber, Language, StationId, Timestamp};
use sqlx::Row;

use crate::{DbError, Result, Scope, columns};

/// Which keys: all the gérance's, one station's, or one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatementsOf {
    pub gerance: GeranceId,
    pub station: Option<StationId>,
    pub key: Option<KeyNumber>,
}

impl crate::Db {
    /// The statements of every key with a payment or a top-up in `year` (or, for one key asked by
    /// number, its statement even if empty), by station and key. Empty when `scope` does not see the
    /// gérance.
    pub async fn statements(&self, scope: Scope, of: StatementsOf, year: Year) -> Result<Vec<Statement>> {
        if let Scope::Gerance(own) = scope
            && own != of.gerance
        {
            return Ok(Vec::new());
        }
        let g = of.gerance.get();
        let station = of.station.map(StationId::get);
        let key = of.key.map(i64::from);
        let names: BTreeMap<i64, String> =
            sqlx::query("SELECT id, name FROM stations WHERE gerance_id = $1 AND ($2 IS NULL OR id = $2)")
                .bind(g)
                .bind(station)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| Ok((r.try_get("id")?, r.try_get("name")?)))
                .collect::<Result<_>>()?;
        let mut holders: BTreeMap<(i64, i64), Holder> = BTreeMap::new();
        for row in sqlx::query(
            "SELECT station_id, key_number, holder_name, flat, email, locale, note FROM keys
             WHERE gerance_id = $1 AND ($2 IS NULL OR station_id = $2) AND ($3 IS NULL OR key_number = $3)",
        )
        .bind(g)
        .bind(station)
        .bind(key)
        .fetch_all(&self.pool)
        .await?
        {
            let email: Option<String> = row.try_get("email")?;
            let locale: Option<String> = row.try_get("locale")?;
            let corrupt = |c: &str| DbError::Unusable(format!("invalid value in column keys.{c}"));
            holders.insert(
                (row.try_get("station_id")?, row.try_get("key_number")?),
                Holder {
                    name: row.try_get("holder_name")?,
                    flat: row.try_get("flat")?,
                    email: email.map(|e| Email::parse(&e)).transpose().map_err(|_| corrupt("email"))?,
                    language: locale
                        .map(|l| l.parse::<Language>())
                        .transpose()
                        .map_err(|_| corrupt("locale"))?,
                    note: row.try_get("note")?,
                },
            );
        }
        let mut statements: BTreeMap<(i64, i64), Statement> = BTreeMap::new();
        let blank = |station: i64, number: i64| -> Result<Statement> {
            let key =
                u16::try_from(number).map(KeyNumber).map_err(|_| DbError::Unusable("invalid key".into()))?;
            let holder = holders.get(&(station, number)).cloned().unwrap_or_default();
            let name = names.get(&station).cloned().unwrap_or_default();
            Ok(Statement::new(year, StationId(station), name, key, holder))
        };
        let mut add = |station: i64, number: i64, entry: Option<Entry>| -> Result<()> {
            let statement = match statements.entry((station, number)) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => e.insert(blank(station, number)?),
            };
            statement.entries.extend(entry);
            Ok(())
        };
        if let (Some(s), Some(k)) = (station, key) {
            add(s, k, None)?;
        }

        let (from, until) = year.bounds();
        // A top-up waits at its station until its key is presented, for months if need be: only its
        // entry before the year's end narrows the search.
        let topups = sqlx::query(
            "SELECT station_id, key_number, amount_rappen, reloaded_at, balance_rappen FROM transactions
             WHERE gerance_id = $1 AND created_at < $3 AND status = 'reloaded'
               AND reloaded_at >= $2 AND reloaded_at < $3
               AND ($4 IS NULL OR station_id = $4) AND ($5 IS NULL OR key_number = $5)
             ORDER BY reloaded_at, id",
        )
        .bind(g)
        .bind(from.millis())
        .bind(until.millis())
        .bind(station)
        .bind(key)
        .fetch_all(&self.pool)
        .await?;
        let (first_day, next_year) = year.days();
        let payments = sqlx::query(
            "SELECT station_id, key_number, amount_minor, fee_rappen, booking_date, debtor_name, state
             FROM payments
             WHERE gerance_id = $1 AND state IN ('approved', 'proposal') AND direction = 'CRDT'
               AND currency = 'CHF' AND station_id IS NOT NULL
               AND booking_date >= $2 AND booking_date < $3
               AND ($4 IS NULL OR station_id = $4) AND ($5 IS NULL OR key_number = $5)
             ORDER BY booking_date, id",
        )
        .bind(g)
        .bind(&first_day)
        .bind(&next_year)
        .bind(station)
        .bind(key)
        .fetch_all(&self.pool)
        .await?;
        for row in &payments {
            let state: String = row.try_get("state")?;
            let day: String = row.try_get("booking_date")?;
            let entry = Entry::Payment {
                day: Day::parse(&day).ok_or_else(|| DbError::Unusable("invalid booking date".into()))?,
                amount: columns::amount(row, "amount_minor")?,
                fee_rappen: row.try_get::<Option<i64>, _>("fee_rappen")?.unwrap_or(0),
                debtor: row.try_get("debtor_name")?,
                loaded: state == "approved",
            };
            add(row.try_get("station_id")?, row.try_get("key_number")?, Some(entry))?;
        }
        for row in &topups {
            let entry = Entry::TopUp {
                at: Timestamp(row.try_get("reloaded_at")?),
                amount: columns::amount(row, "amount_rappen")?,
                balance_rappen: row.try_get("balance_rappen")?,
            };
            add(row.try_get("station_id")?, row.try_get("key_number")?, Some(entry))?;
        }
        let mut all: Vec<Statement> = statements.into_values().collect();
        for s in &mut all {
            s.sort();
        }
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use domain::journal::TxStatus;
    use domain::{Amount, GeranceName};

    use super::*;
    use crate::testing::{fresh, phone, rappen};
    use crate::{GeneratedTx, NewStation};

    #[tokio::test]
    async fn a_year_in_zurich_with_its_payments_top_ups_and_balances_for_its_gerance_only() {
        let (db, _dir) = fresh().await;
        let g = db.create_gerance(&GeranceName::parse("Gérance A").unwrap(), Timestamp(1)).await.unwrap().id;
        let other =
            db.create_gerance(&GeranceName::parse("Gérance B").unwrap(), Timestamp(1)).await.unwrap().id;
        let new = NewStation {
            gerance_id: g,
            name: "Buanderie",
            place: "Sion",
            phone: &phone("+41790000001"),
            secret: &[7; 32],
            max_amount: rappen(20_000),
        };
        let station = db.create_station(new, Timestamp(1)).await.unwrap();
        let reloaded = |key: u16, at: i64, amount: i64| GeneratedTx {
            gerance_id: g,
            station_id: station,
            key: KeyNumber(key),
            amount: Amount::from_rappen(amount).unwrap(),
            status: TxStatus::Reloaded,
            created_at: at - 60_000,
            sent_at: Some(at - 50_000),
            confirmed_at: Some(at - 40_000),
            reloaded_at: Some(at),
            ended_at: Some(at),
        };
        // 31 Dec 2025 23:30 in Zurich (22:30 UTC): 2025. 1 Jan 2026 00:30 in Zurich (31 Dec 23:30 UTC): 2026.
        let (end_2025, start_2026) = (1_767_220_200_000, 1_767_223_800_000);
        db.insert_generated_transactions(&[
            reloaded(7, end_2025, 1_000),
            reloaded(7, start_2026, 2_000),
            reloaded(9, start_2026 + 86_400_000 * 100, 500),
            // Entered in 2025, loaded in 2026 when its key was presented four months later.
            GeneratedTx {
                created_at: start_2026 - 86_400_000 * 120,
                ..reloaded(11, start_2026 + 86_400_000 * 30, 700)
            },
        ])
        .await
        .unwrap();
        sqlx::query("UPDATE transactions SET balance_rappen = 2500 WHERE reloaded_at = $1")
            .bind(start_2026)
            .execute(&db.pool)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO payment_imports (id, gerance_id, file_name, sha256, format, new_count, duplicates,
                 proposals, suggestions, exceptions, listed, approved, created_at)
             VALUES (1, $1, 'camt.xml', 'x', 'camt.054.001.08', 3, 0, 0, 0, 0, 0, 0, 1)",
        )
        .bind(g.get())
        .execute(&db.pool)
        .await
        .unwrap();
        for (id, day, state) in
            [(1, "2025-12-31", "approved"), (2, "2026-01-02", "approved"), (3, "2026-02-01", "set_aside")]
        {
            sqlx::query(
                "INSERT INTO payments (id, gerance_id, import_id, account_iban, bank_ref, direction, reversal, booked,
                     amount_minor, currency, booking_date, state, station_id, key_number, fee_rappen, created_at)
                 VALUES ($1, $2, 1, 'CH4431999123000889012', $6, 'CRDT', FALSE, TRUE, 2050, 'CHF', $3, $4, $5, 7, 50,
                         1)",
            )
            .bind(id)
            .bind(g.get())
            .bind(day)
            .bind(state)
            .bind(station.get())
            .bind(id.to_string())
            .execute(&db.pool)
            .await
            .unwrap();
        }
        let year = Year::parse("2026").unwrap();
        let of = StatementsOf { gerance: g, station: None, key: None };
        let all = db.statements(Scope::Gerance(g), of, year).await.unwrap();
        assert_eq!(all.iter().map(|s| s.key.0).collect::<Vec<_>>(), [7, 9, 11]);
        let seven = &all[0];
        assert_eq!(
            seven.entries.len(),
            2,
            "the 2025 top-up and payment and the set-aside one are not in 2026"
        );
        assert_eq!(
            (seven.paid().rappen(), seven.fees().rappen(), seven.loaded().rappen()),
            (2_050, 50, 2_000)
        );
        assert_eq!(seven.last_balance(), Some(("01.01.2026".to_owned(), 2_500)));
        assert!(db.statements(Scope::Gerance(other), of, year).await.unwrap().is_empty());
        // One key asked by number: its statement even in a year without anything.
        let one = StatementsOf { gerance: g, station: Some(station), key: Some(KeyNumber(9)) };
        let empty = db.statements(Scope::All, one, Year::parse("2024").unwrap()).await.unwrap();
        assert_eq!((empty.len(), empty[0].entries.len()), (1, 0));
    }
}
