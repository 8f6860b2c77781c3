//! Registering a station: the one place that makes its secret and its provisioning string, for the
//! command line (`recharge station add`) and the operators' page alike.

use db::{Db, DbError, NewStation};
use domain::station::StationFields;
use domain::{GeranceId, PhoneNumber, StationId, Timestamp};
use station::protocol::{Provisioning, Secret};

/// Stands in for the server's number in a provisioning string when the operator has not configured it
/// (`--server-number`); the person who installs the station replaces it.
pub const PLACEHOLDER_NUMBER: &str = "+SERVERNUMBER";

/// A station just registered. Its provisioning string holds its secret: shown this once, never again.
#[derive(Debug)]
pub struct Registered {
    pub id: StationId,
    pub provisioning: String,
    /// The provisioning string holds the server's real number (not the placeholder).
    pub server_number_known: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("a station with this name or phone number already exists")]
    Taken,
    /// The station protocol numbers stations with 32 bits.
    #[error("station number {0} is beyond what the station protocol can carry")]
    OutOfRange(StationId),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Registers a station of gérance `gerance_id` with a new secret from the operating system's random
/// source, and returns its provisioning string for the server number `server_number`.
pub async fn register(
    db: &Db,
    gerance_id: GeranceId,
    fields: &StationFields,
    server_number: Option<&PhoneNumber>,
) -> Result<Registered, RegisterError> {
    let secret = crate::sms::new_station_secret();
    let new = NewStation {
        gerance_id,
        name: &fields.name,
        place: &fields.place,
        phone: &fields.phone,
        secret: &secret,
        max_amount: fields.max,
    };
    let id = match db.create_station(new, Timestamp::now()).await {
        Ok(id) => id,
        Err(DbError::Conflict) => return Err(RegisterError::Taken),
        Err(e) => return Err(e.into()),
    };
    let station = id.protocol().ok_or(RegisterError::OutOfRange(id))?;
    let provisioning = Provisioning {
        station,
        server_number: server_number.map_or_else(|| PLACEHOLDER_NUMBER.into(), ToString::to_string),
        secret: Secret::from_bytes(secret),
    };
    Ok(Registered { id, provisioning: provisioning.encode(), server_number_known: server_number.is_some() })
}
