//! Row identities: a station's number, a transaction's N°, a gérance's and an account's id. Each is its
//! own type so that one cannot be passed where another is meant; the database hands them out, and the
//! SMS protocol's narrower fields are reached through checked conversions, never `as`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! row_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl $name {
            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        /// Decimal digits, as in a URL or a form (`/stations/12`).
        impl FromStr for $name {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(());
                }
                s.parse().map(Self).map_err(|_| ())
            }
        }
    };
}

row_id!(
    /// A station, as its provisioning string and every SMS to and from it name it.
    StationId
);
row_id!(
    /// A transaction: the journal's N°, and the number its SMS carry.
    TxId
);
row_id!(
    /// A gérance (property manager): what every scoped query filters on.
    GeranceId
);
row_id!(
    /// A person's account.
    UserId
);
row_id!(
    /// A movement a bank file reported on a gérance's account.
    PaymentId
);
row_id!(
    /// A bank file taken in.
    ImportId
);

impl StationId {
    /// The station number in the SMS protocol (32 bits); `None` for an id the protocol cannot carry.
    pub fn protocol(self) -> Option<u32> {
        u32::try_from(self.0).ok()
    }

    /// The station a protocol number names.
    pub fn from_protocol(number: u32) -> Self {
        Self(i64::from(number))
    }
}

impl TxId {
    /// The transaction number in the SMS protocol (64 bits, never negative).
    pub fn protocol(self) -> Option<u64> {
        u64::try_from(self.0).ok()
    }

    /// The transaction a protocol number names; `None` past the database's range.
    pub fn from_protocol(number: u64) -> Option<Self> {
        i64::try_from(number).ok().map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_digits_only() {
        assert_eq!("12".parse::<StationId>(), Ok(StationId(12)));
        assert_eq!("007".parse::<TxId>(), Ok(TxId(7)));
        for bad in ["", "-1", "+1", "1.0", " 1", "99999999999999999999"] {
            assert_eq!(bad.parse::<StationId>(), Err(()), "{bad:?}");
        }
    }

    #[test]
    fn the_protocol_carries_what_fits_and_nothing_else() {
        assert_eq!(StationId(4_294_967_295).protocol(), Some(u32::MAX));
        assert_eq!(StationId(4_294_967_296).protocol(), None);
        assert_eq!(StationId(-1).protocol(), None);
        assert_eq!(TxId(-1).protocol(), None);
        assert_eq!(TxId::from_protocol(u64::MAX), None);
        assert_eq!(TxId::from_protocol(42), Some(TxId(42)));
        assert_eq!(StationId::from_protocol(7), StationId(7));
    }
}
