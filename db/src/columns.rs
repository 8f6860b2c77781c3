//! Reading a row's columns into domain types: a value the domain refuses means the file was changed
//! behind the product's back, and is reported as such rather than passed on.

use domain::{Amount, GeranceId, KeyNumber, PhoneNumber, StationId, Timestamp, TxId, UserId};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::{DbError, Result};

fn corrupt(column: &str) -> DbError {
    DbError::Unusable(format!("invalid value in column {column}"))
}

pub(crate) fn key(row: &SqliteRow, column: &str) -> Result<KeyNumber> {
    let raw: i64 = row.try_get(column)?;
    u16::try_from(raw).map(KeyNumber).map_err(|_| corrupt(column))
}

pub(crate) fn amount(row: &SqliteRow, column: &str) -> Result<Amount> {
    Amount::from_rappen(row.try_get(column)?).map_err(|_| corrupt(column))
}

pub(crate) fn phone(row: &SqliteRow, column: &str) -> Result<PhoneNumber> {
    PhoneNumber::parse(row.try_get(column)?).map_err(|_| corrupt(column))
}

pub(crate) fn time(row: &SqliteRow, column: &str) -> Result<Timestamp> {
    Ok(Timestamp(row.try_get(column)?))
}

pub(crate) fn maybe_time(row: &SqliteRow, column: &str) -> Result<Option<Timestamp>> {
    Ok(row.try_get::<Option<i64>, _>(column)?.map(Timestamp))
}

pub(crate) fn station(row: &SqliteRow, column: &str) -> Result<StationId> {
    Ok(StationId(row.try_get(column)?))
}

pub(crate) fn tx(row: &SqliteRow, column: &str) -> Result<TxId> {
    Ok(TxId(row.try_get(column)?))
}

pub(crate) fn gerance(row: &SqliteRow, column: &str) -> Result<GeranceId> {
    Ok(GeranceId(row.try_get(column)?))
}

pub(crate) fn user(row: &SqliteRow, column: &str) -> Result<UserId> {
    Ok(UserId(row.try_get(column)?))
}
