//! Reading a row's columns into domain types: a value the domain refuses means the file was changed
//! behind the product's back, and is reported as such rather than passed on.

use domain::{Amount, GeranceId, KeyNumber, PhoneNumber, StationId, Timestamp, TxId, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{DbError, Result};

fn corrupt(column: &str) -> DbError {
    DbError::Unusable(format!("invalid value in column {column}"))
}

pub(crate) fn key(row: &AnyRow, column: &str) -> Result<KeyNumber> {
    let raw: i64 = row.try_get(column)?;
    u16::try_from(raw).map(KeyNumber).map_err(|_| corrupt(column))
}

pub(crate) fn amount(row: &AnyRow, column: &str) -> Result<Amount> {
    Amount::from_rappen(row.try_get(column)?).map_err(|_| corrupt(column))
}

pub(crate) fn phone(row: &AnyRow, column: &str) -> Result<PhoneNumber> {
    PhoneNumber::parse(row.try_get(column)?).map_err(|_| corrupt(column))
}

pub(crate) fn time(row: &AnyRow, column: &str) -> Result<Timestamp> {
    Ok(Timestamp(row.try_get(column)?))
}

pub(crate) fn maybe_time(row: &AnyRow, column: &str) -> Result<Option<Timestamp>> {
    Ok(row.try_get::<Option<i64>, _>(column)?.map(Timestamp))
}

pub(crate) fn station(row: &AnyRow, column: &str) -> Result<StationId> {
    Ok(StationId(row.try_get(column)?))
}

pub(crate) fn tx(row: &AnyRow, column: &str) -> Result<TxId> {
    Ok(TxId(row.try_get(column)?))
}

pub(crate) fn gerance(row: &AnyRow, column: &str) -> Result<GeranceId> {
    Ok(GeranceId(row.try_get(column)?))
}

pub(crate) fn user(row: &AnyRow, column: &str) -> Result<UserId> {
    Ok(UserId(row.try_get(column)?))
}

/// A BOOLEAN column, selected as `CAST(column AS INTEGER)`: the `Any` driver reads neither SQLite's
/// declared BOOLEAN nor a value of another type as a boolean.
pub(crate) fn flag(row: &AnyRow, column: &str) -> Result<bool> {
    match row.try_get::<i64, _>(column)? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(corrupt(column)),
    }
}
