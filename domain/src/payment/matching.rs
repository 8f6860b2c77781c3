//! The matching rules: what a credit on the gérance's account becomes. Pure: the registry (stations,
//! keys) is asked through a trait, so the same rules run at import and in the tests.
//!
//! - Not a booked CHF credit (a debit, a reversal, another currency, a pending entry): **listed** only.
//! - A structured reference that is one of the gérance's key references: a **proposal** to top up that
//!   key with the amount less the fee.
//! - No usable reference, and the text names one key ("clé 34586", "Schlüssel 34586", "key 34586",
//!   "chiave 34586"): a **suggestion**, which a person confirms.
//! - Anything else, or a key that is blocked or retired, or an amount over the station's maximum: an
//!   **exception**, which a person assigns to a key or sets aside.

use serde::{Deserialize, Serialize};

use super::{BankTransaction, Direction, Fee, Iban, KeyReference, PaymentError, QrrPrefix, Reference};
use crate::{Amount, KeyNumber, StationId};

/// A key's state in the registry: only an active key is topped up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyState {
    Active,
    Blocked,
    Retired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Active => "active",
            KeyState::Blocked => "blocked",
            KeyState::Retired => "retired",
        }
    }
}

impl std::str::FromStr for KeyState {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "active" => Ok(KeyState::Active),
            "blocked" => Ok(KeyState::Blocked),
            "retired" => Ok(KeyState::Retired),
            _ => Err(()),
        }
    }
}

/// What the rules need to know of one gérance's stations and keys.
pub trait Registry {
    /// The station's maximum top-up, if the station is the gérance's.
    fn station_maximum(&self, station: StationId) -> Option<Amount>;
    /// The key's state; a key not yet in the registry is active (it is created by its first top-up).
    fn key_state(&self, station: StationId, key: KeyNumber) -> KeyState;
    /// The gérance's stations where this key number is registered.
    fn stations_with_key(&self, key: KeyNumber) -> Vec<StationId>;
    /// The gérance's only station, if it has exactly one.
    fn only_station(&self) -> Option<StationId>;
}

/// A top-up a payment pays for: the key, the payment, the fee kept, and what is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopUpFor {
    pub station: StationId,
    pub key: KeyNumber,
    pub fee_rappen: i64,
    pub amount: Amount,
}

/// Entries that are never a top-up, listed for the accountant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Listed {
    Debit,
    Reversal,
    NotChf,
    NotBooked,
}

/// Why a credit waits for a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Exception {
    /// Neither a key reference nor a key named in the text.
    NoKey,
    /// A structured reference whose check digit is wrong.
    ReferenceCheckDigit,
    /// A reference of the wrong kind for the account (a QR reference on an ordinary IBAN).
    WrongReferenceKind,
    /// A key reference for a station that is not the gérance's.
    NotOurStation,
    /// The text names several keys, or a key registered at several stations.
    Ambiguous,
    KeyBlocked,
    KeyRetired,
    /// More than the station's maximum top-up.
    AboveMaximum,
    /// Nothing left once the fee is taken, or a zero amount.
    NothingToLoad,
}

impl Exception {
    pub fn as_str(self) -> &'static str {
        match self {
            Exception::NoKey => "no_key",
            Exception::ReferenceCheckDigit => "reference_check_digit",
            Exception::WrongReferenceKind => "wrong_reference_kind",
            Exception::NotOurStation => "not_our_station",
            Exception::Ambiguous => "ambiguous",
            Exception::KeyBlocked => "key_blocked",
            Exception::KeyRetired => "key_retired",
            Exception::AboveMaximum => "above_maximum",
            Exception::NothingToLoad => "nothing_to_load",
        }
    }
}

impl Listed {
    pub fn as_str(self) -> &'static str {
        match self {
            Listed::Debit => "debit",
            Listed::Reversal => "reversal",
            Listed::NotChf => "not_chf",
            Listed::NotBooked => "not_booked",
        }
    }
}

/// What one transaction of a bank file becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Listed(Listed),
    Proposal(TopUpFor),
    Suggestion(TopUpFor),
    /// Waits for a person; the key, when one was found, is kept to help them.
    Exception(Exception, Option<(StationId, KeyNumber)>),
}

/// Applies the rules to one transaction credited to `account`.
pub fn match_credit(
    tx: &BankTransaction,
    account: &Iban,
    prefix: &QrrPrefix,
    fee: Fee,
    registry: &impl Registry,
) -> Outcome {
    if tx.direction == Direction::Debit {
        return Outcome::Listed(Listed::Debit);
    }
    if tx.reversal {
        return Outcome::Listed(Listed::Reversal);
    }
    if !tx.currency.is_chf() {
        return Outcome::Listed(Listed::NotChf);
    }
    if !tx.booked {
        return Outcome::Listed(Listed::NotBooked);
    }
    let structured = tx.reference.as_deref().map(Reference::parse);
    let (key, proposal) = match structured {
        Some(Ok(reference)) => {
            if reference.fits(account).is_err() {
                return Outcome::Exception(Exception::WrongReferenceKind, None);
            }
            match KeyReference::decode(&reference, prefix) {
                Some(k) if registry.station_maximum(k.station).is_some() => ((k.station, k.key), true),
                Some(_) => return Outcome::Exception(Exception::NotOurStation, None),
                // Another invoice's reference: the text may still name the key.
                None => match key_from_text(tx, registry) {
                    Ok(found) => (found, false),
                    Err(why) => return Outcome::Exception(why, None),
                },
            }
        }
        Some(Err(PaymentError::ReferenceCheckDigit)) => {
            return Outcome::Exception(Exception::ReferenceCheckDigit, None);
        }
        Some(Err(_)) | None => match key_from_text(tx, registry) {
            Ok(found) => (found, false),
            Err(why) => return Outcome::Exception(why, None),
        },
    };
    let (station, number) = key;
    match registry.key_state(station, number) {
        KeyState::Active => {}
        KeyState::Blocked => return Outcome::Exception(Exception::KeyBlocked, Some(key)),
        KeyState::Retired => return Outcome::Exception(Exception::KeyRetired, Some(key)),
    }
    let fee_rappen = fee.on(tx.amount_minor);
    let Ok(amount) = Amount::from_rappen(tx.amount_minor - fee_rappen) else {
        return Outcome::Exception(Exception::NothingToLoad, Some(key));
    };
    if registry.station_maximum(station).is_none_or(|max| amount > max) {
        return Outcome::Exception(Exception::AboveMaximum, Some(key));
    }
    let top_up = TopUpFor { station, key: number, fee_rappen, amount };
    if proposal { Outcome::Proposal(top_up) } else { Outcome::Suggestion(top_up) }
}

/// The one key the text names, at the station where it is registered (or the gérance's only station).
fn key_from_text(
    tx: &BankTransaction,
    registry: &impl Registry,
) -> Result<(StationId, KeyNumber), Exception> {
    let named = keys_named(tx.text.as_deref().unwrap_or(""));
    let key = match named.as_slice() {
        [] => return Err(Exception::NoKey),
        [key] => *key,
        _ => return Err(Exception::Ambiguous),
    };
    match registry.stations_with_key(key).as_slice() {
        [station] => Ok((*station, key)),
        [] => registry.only_station().map(|s| (s, key)).ok_or(Exception::NoKey),
        _ => Err(Exception::Ambiguous),
    }
}

/// The key numbers a payment's text names, in the four languages: "clé 34586", "Schlüssel: 34586",
/// "key #34586", "chiave n. 34586", "cle no 34586". Each number once, in order.
pub fn keys_named(text: &str) -> Vec<KeyNumber> {
    const WORDS: [&str; 7] = ["clé", "cle", "schlüssel", "schluessel", "schlussel", "key", "chiave"];
    let lower = text.to_lowercase();
    let mut found = Vec::new();
    for word in WORDS {
        let mut from = 0;
        while let Some(at) = lower[from..].find(word).map(|i| i + from) {
            from = at + word.len();
            let starts_word = lower[..at].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
            if !starts_word {
                continue;
            }
            if let Some(key) = number_after(&lower[from..])
                && !found.contains(&key)
            {
                found.push(key);
            }
        }
    }
    found
}

/// The key number right after a keyword: separators and "nr", "no", "n°", "n." may come between.
fn number_after(rest: &str) -> Option<KeyNumber> {
    let mut s = rest;
    loop {
        let before = s;
        s = s.trim_start_matches([' ', '\u{a0}', ':', '-', '#', '.', '°', 'º']);
        for filler in ["nr", "no", "n"] {
            if let Some(after) = s.strip_prefix(filler)
                && after.starts_with(|c: char| !c.is_alphanumeric())
            {
                s = after;
            }
        }
        if s == before {
            break;
        }
    }
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    let next = s[digits.len()..].chars().next();
    if digits.is_empty() || digits.len() > 5 || next.is_some_and(|c| c.is_alphanumeric()) {
        return None;
    }
    KeyNumber::parse(&digits).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payment::{Currency, Day};

    struct Two;
    impl Registry for Two {
        fn station_maximum(&self, station: StationId) -> Option<Amount> {
            [1, 2].contains(&station.0).then(|| Amount::from_rappen(20_000).unwrap())
        }
        fn key_state(&self, _: StationId, key: KeyNumber) -> KeyState {
            match key.0 {
                666 => KeyState::Blocked,
                999 => KeyState::Retired,
                _ => KeyState::Active,
            }
        }
        fn stations_with_key(&self, key: KeyNumber) -> Vec<StationId> {
            match key.0 {
                34586 => vec![StationId(2)],
                777 => vec![StationId(1), StationId(2)],
                _ => vec![],
            }
        }
        fn only_station(&self) -> Option<StationId> {
            None
        }
    }

    fn credit(rappen: i64, reference: Option<&str>, text: Option<&str>) -> BankTransaction {
        BankTransaction {
            bank_ref: "R1".into(),
            direction: Direction::Credit,
            reversal: false,
            booked: true,
            amount_minor: rappen,
            currency: Currency::chf(),
            booking_date: Day::parse("2026-12-04"),
            value_date: Day::parse("2026-12-04"),
            reference: reference.map(str::to_owned),
            text: text.map(str::to_owned),
            debtor_name: None,
            debtor_iban: None,
        }
    }

    fn qr_iban() -> Iban {
        Iban::parse_swiss("CH4431999123000889012").unwrap()
    }

    fn key_ref(station: i64, key: u16) -> String {
        let k = KeyReference { station: StationId(station), key: KeyNumber(key) };
        k.encode(&qr_iban(), &QrrPrefix::default()).unwrap().as_str().to_owned()
    }

    fn run(tx: &BankTransaction, fee: Fee) -> Outcome {
        match_credit(tx, &qr_iban(), &QrrPrefix::default(), fee, &Two)
    }

    #[test]
    fn a_key_reference_is_a_proposal_less_the_fee() {
        let tx = credit(5_000, Some(&key_ref(1, 34586)), None);
        let fee = Fee::new(50, 250).unwrap();
        let Outcome::Proposal(top_up) = run(&tx, fee) else { panic!("{:?}", run(&tx, fee)) };
        assert_eq!((top_up.station, top_up.key), (StationId(1), KeyNumber(34586)));
        assert_eq!(top_up.fee_rappen, 175);
        assert_eq!(top_up.amount.rappen(), 4_825);
    }

    #[test]
    fn a_key_named_in_the_text_is_a_suggestion() {
        for text in
            ["Clé 34586", "Schlüssel: 34586 Waschküche", "key #34586", "chiave n. 34586", "CLE NO 34586"]
        {
            let tx = credit(2_000, None, Some(text));
            let Outcome::Suggestion(top_up) = run(&tx, Fee::NONE) else {
                panic!("{text}: {:?}", run(&tx, Fee::NONE))
            };
            assert_eq!(
                (top_up.station, top_up.key, top_up.amount.rappen()),
                (StationId(2), KeyNumber(34586), 2_000)
            );
        }
    }

    #[test]
    fn what_is_not_a_booked_chf_credit_is_listed_only() {
        let mut tx = credit(1_000, Some(&key_ref(1, 5)), None);
        tx.direction = Direction::Debit;
        assert_eq!(run(&tx, Fee::NONE), Outcome::Listed(Listed::Debit));
        let mut tx = credit(1_000, Some(&key_ref(1, 5)), None);
        tx.reversal = true;
        assert_eq!(run(&tx, Fee::NONE), Outcome::Listed(Listed::Reversal));
        let mut tx = credit(1_000, Some(&key_ref(1, 5)), None);
        tx.currency = Currency::parse("EUR").unwrap();
        assert_eq!(run(&tx, Fee::NONE), Outcome::Listed(Listed::NotChf));
        let mut tx = credit(1_000, Some(&key_ref(1, 5)), None);
        tx.booked = false;
        assert_eq!(run(&tx, Fee::NONE), Outcome::Listed(Listed::NotBooked));
    }

    #[test]
    fn everything_else_is_an_exception_with_its_reason() {
        let cases = [
            (credit(1_000, None, None), Exception::NoKey),
            (credit(1_000, None, Some("Miete Dezember")), Exception::NoKey),
            (credit(1_000, None, Some("clé 12 et clé 13")), Exception::Ambiguous),
            (credit(1_000, None, Some("key 777")), Exception::Ambiguous),
            (credit(1_000, None, Some("key 123")), Exception::NoKey),
            (credit(1_000, Some("210000000003139471430009018"), None), Exception::ReferenceCheckDigit),
            (credit(1_000, Some("RF18539007547034"), None), Exception::WrongReferenceKind),
            (credit(1_000, Some(&key_ref(3, 1)), None), Exception::NotOurStation),
            (credit(1_000, Some(&key_ref(1, 666)), None), Exception::KeyBlocked),
            (credit(1_000, Some(&key_ref(1, 999)), None), Exception::KeyRetired),
            (credit(20_001, Some(&key_ref(1, 5)), None), Exception::AboveMaximum),
            (credit(0, Some(&key_ref(1, 5)), None), Exception::NothingToLoad),
        ];
        for (tx, why) in cases {
            let Outcome::Exception(got, _) = run(&tx, Fee::NONE) else {
                panic!("{tx:?}: {:?}", run(&tx, Fee::NONE))
            };
            assert_eq!(got, why, "{tx:?}");
        }
        // The fee taking all of it.
        let tx = credit(40, Some(&key_ref(1, 5)), None);
        assert!(matches!(
            run(&tx, Fee::new(50, 0).unwrap()),
            Outcome::Exception(Exception::NothingToLoad, _)
        ));
        // The maximum is compared with what is loaded, after the fee.
        let tx = credit(20_050, Some(&key_ref(1, 5)), None);
        assert!(matches!(run(&tx, Fee::new(50, 0).unwrap()), Outcome::Proposal(_)));
    }

    #[test]
    fn key_words_must_start_a_word_and_numbers_fit_a_key() {
        assert_eq!(keys_named("monkey 123"), vec![]);
        assert_eq!(keys_named("key 65536"), vec![]);
        assert_eq!(keys_named("key 123456"), vec![]);
        assert_eq!(keys_named("key 12ab"), vec![]);
        assert_eq!(keys_named("Clé:00042, clé 42"), vec![KeyNumber(42)]);
        assert_eq!(keys_named("Schluessel Nr. 7"), vec![KeyNumber(7)]);
        assert_eq!(keys_named("clé n°8"), vec![KeyNumber(8)]);
        assert_eq!(keys_named(""), vec![]);
    }
}
