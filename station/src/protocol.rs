//! The station protocol, version 1: what the server and a station say to each other by SMS.
//!
//! Every message is one line of printable ASCII (a subset of the GSM 7-bit alphabet without escapes) of at
//! most 160 characters, so it always fits in one SMS:
//!
//! ```text
//! RC1 TOPUP s=17 n=42 tx=226 key=34586 amt=1000 m=<32 hex digits>
//! ```
//!
//! `m` is HMAC-SHA256 under the station's 256-bit secret, truncated to 128 bits, over the direction label
//! and the text before ` m=` (which holds the station, the counter and every field). Numbers are canonical
//! decimal (no sign, no leading zero), so one message has exactly one spelling. `docs/protocol.md` is the
//! specification, with the MAC input byte by byte and test vectors that `tests/protocol_vectors.rs` checks.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The version tag every message starts with.
pub const VERSION: &str = "RC1";
/// Length of the MAC in bytes (128 bits; the protocol requires at least 64).
pub const TAG_BYTES: usize = 16;
/// The longest message: one SMS of 7-bit characters.
pub const MAX_LEN: usize = 160;
/// How far behind the highest counter seen a message may still arrive (and be accepted once).
pub const REPLAY_WINDOW: u32 = 64;

/// A station's 256-bit secret, shared with the server.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret([u8; 32]);

impl Secret {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// From 64 hexadecimal digits.
    pub fn from_hex(hex: &str) -> Result<Self, ProtocolError> {
        let bytes = decode_hex(hex).ok_or(ProtocolError::Secret)?;
        Ok(Self(bytes.try_into().map_err(|_| ProtocolError::Secret)?))
    }

    /// 64 lowercase hexadecimal digits, for provisioning only.
    pub fn to_hex(&self) -> String {
        encode_hex(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// Who sends: the label that makes a message valid in one direction only (no reflection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Server to station.
    ToStation,
    /// Station to server.
    ToServer,
}

impl Direction {
    pub fn label(self) -> &'static str {
        match self {
            Direction::ToStation => "RC1/S2T",
            Direction::ToServer => "RC1/T2S",
        }
    }
}

/// Why a station refuses a top-up or a cancellation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Reason {
    /// The amount is above the station's maximum.
    Limit,
    /// The amount is zero.
    Amount,
    /// The station's store of pending top-ups is full; sending again later may succeed.
    Full,
    /// The transaction was cancelled before this top-up arrived.
    Cancelled,
    /// The transaction is older than what the station still remembers: it was not applied now.
    Expired,
}

impl Reason {
    pub const ALL: [Reason; 5] =
        [Reason::Limit, Reason::Amount, Reason::Full, Reason::Cancelled, Reason::Expired];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Limit => "limit",
            Reason::Amount => "amount",
            Reason::Full => "full",
            Reason::Cancelled => "cancelled",
            Reason::Expired => "expired",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// What a message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    // Server to station.
    /// Load `amount` Rappen onto key `key` when it is presented; `tx` is the idempotency key.
    TopUp { tx: u64, key: u16, amount: u32 },
    /// Do not load transaction `tx`.
    Cancel { tx: u64 },
    /// Answer with a heartbeat now.
    Status,
    // Station to server.
    /// Top-up `tx` is stored (the journal's *Confirmed*).
    Received { tx: u64 },
    /// Top-up `tx` was written onto the key, whose balance is now `balance` Rappen (*Reloaded*).
    Reloaded { tx: u64, key: u16, amount: u32, balance: u32 },
    /// Top-up or cancellation `tx` is refused.
    Refused { tx: u64, reason: Reason },
    /// Transaction `tx` will never be loaded.
    Cancelled { tx: u64 },
    /// The station is alive: pending top-ups, signal in dBm, SIM credit in Rappen, firmware version.
    Heartbeat { pending: u32, signal: Option<i16>, credit: Option<u32>, firmware: String },
}

impl Body {
    pub fn direction(&self) -> Direction {
        match self {
            Body::TopUp { .. } | Body::Cancel { .. } | Body::Status => Direction::ToStation,
            _ => Direction::ToServer,
        }
    }

    fn keyword(&self) -> &'static str {
        match self {
            Body::TopUp { .. } => "TOPUP",
            Body::Cancel { .. } => "CANCEL",
            Body::Status => "STATUS",
            Body::Received { .. } => "RECEIVED",
            Body::Reloaded { .. } => "RELOADED",
            Body::Refused { .. } => "REFUSED",
            Body::Cancelled { .. } => "CANCELLED",
            Body::Heartbeat { .. } => "HEARTBEAT",
        }
    }

    /// The transaction this message is about, if any.
    pub fn tx(&self) -> Option<u64> {
        match *self {
            Body::TopUp { tx, .. }
            | Body::Cancel { tx }
            | Body::Received { tx }
            | Body::Reloaded { tx, .. }
            | Body::Refused { tx, .. }
            | Body::Cancelled { tx } => Some(tx),
            Body::Status | Body::Heartbeat { .. } => None,
        }
    }

    fn fields(&self) -> Vec<(&'static str, String)> {
        match self {
            Body::TopUp { tx, key, amount } => {
                vec![("tx", tx.to_string()), ("key", key.to_string()), ("amt", amount.to_string())]
            }
            Body::Cancel { tx } | Body::Received { tx } | Body::Cancelled { tx } => {
                vec![("tx", tx.to_string())]
            }
            Body::Status => vec![],
            Body::Reloaded { tx, key, amount, balance } => vec![
                ("tx", tx.to_string()),
                ("key", key.to_string()),
                ("amt", amount.to_string()),
                ("bal", balance.to_string()),
            ],
            Body::Refused { tx, reason } => vec![("tx", tx.to_string()), ("why", reason.as_str().to_owned())],
            Body::Heartbeat { pending, signal, credit, firmware } => vec![
                ("pending", pending.to_string()),
                ("sig", signal.map_or_else(|| "none".to_owned(), |s| s.to_string())),
                ("credit", credit.map_or_else(|| "none".to_owned(), |c| c.to_string())),
                ("fw", firmware.clone()),
            ],
        }
    }
}

/// A message: from or to station `station`, with the sender's counter `counter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub station: u32,
    pub counter: u32,
    pub body: Body,
}

impl Message {
    /// The text before ` m=`: what the MAC covers after the direction label.
    pub fn signed_text(&self) -> String {
        let mut text = format!("{VERSION} {} s={} n={}", self.body.keyword(), self.station, self.counter);
        for (name, value) in self.body.fields() {
            text.push(' ');
            text.push_str(name);
            text.push('=');
            text.push_str(&value);
        }
        text
    }

    /// The SMS text, signed with the station's secret.
    pub fn encode(&self, secret: &Secret) -> String {
        let text = self.signed_text();
        let tag = tag(secret, self.body.direction(), &text);
        format!("{text} m={}", encode_hex(&tag))
    }
}

/// A message that parsed but whose MAC is not checked yet: look up the secret of `station`, then verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unverified {
    pub station: u32,
    message: Message,
    signed_text: String,
    tag: [u8; TAG_BYTES],
}

impl Unverified {
    /// The message, if its MAC is right for `secret` and it travels in `expected` direction.
    pub fn verify(self, secret: &Secret, expected: Direction) -> Result<Message, ProtocolError> {
        if self.message.body.direction() != expected {
            return Err(ProtocolError::Direction);
        }
        let mac = new_mac(secret, expected, &self.signed_text);
        mac.verify_truncated_left(&self.tag).map_err(|_| ProtocolError::Mac)?;
        Ok(self.message)
    }
}

/// Why a text is not an acceptable message. The receiver never answers these; it counts and logs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("not a version 1 station message")]
    NotProtocol,
    #[error("malformed message")]
    Malformed,
    #[error("longer than one SMS")]
    TooLong,
    #[error("wrong direction")]
    Direction,
    #[error("MAC does not verify")]
    Mac,
    #[error("counter already seen or too old (replay)")]
    Replay,
    #[error("unknown station")]
    UnknownStation,
    #[error("a secret is 64 hexadecimal digits")]
    Secret,
    #[error("invalid provisioning string")]
    Provisioning,
}

/// Parses a received text. Strict: exactly the canonical spelling `encode` produces, nothing else.
pub fn parse(text: &str) -> Result<Unverified, ProtocolError> {
    if text.len() > MAX_LEN {
        return Err(ProtocolError::TooLong);
    }
    let (signed_text, tag_hex) = text.rsplit_once(" m=").ok_or(ProtocolError::NotProtocol)?;
    let mut tokens = signed_text.split(' ');
    if tokens.next() != Some(VERSION) {
        return Err(ProtocolError::NotProtocol);
    }
    let keyword = tokens.next().ok_or(ProtocolError::Malformed)?;
    let station = number::<u32>(field(&mut tokens, "s")?)?;
    let counter = number::<u32>(field(&mut tokens, "n")?)?;
    let mut next = |name| field(&mut tokens, name);
    let body = match keyword {
        "TOPUP" => Body::TopUp {
            tx: number(next("tx")?)?,
            key: number(next("key")?)?,
            amount: number(next("amt")?)?,
        },
        "CANCEL" => Body::Cancel { tx: number(next("tx")?)? },
        "STATUS" => Body::Status,
        "RECEIVED" => Body::Received { tx: number(next("tx")?)? },
        "RELOADED" => Body::Reloaded {
            tx: number(next("tx")?)?,
            key: number(next("key")?)?,
            amount: number(next("amt")?)?,
            balance: number(next("bal")?)?,
        },
        "REFUSED" => Body::Refused {
            tx: number(next("tx")?)?,
            reason: Reason::parse(next("why")?).ok_or(ProtocolError::Malformed)?,
        },
        "CANCELLED" => Body::Cancelled { tx: number(next("tx")?)? },
        "HEARTBEAT" => Body::Heartbeat {
            pending: number(next("pending")?)?,
            signal: optional(next("sig")?, signed)?,
            credit: optional(next("credit")?, number)?,
            firmware: firmware(next("fw")?)?,
        },
        _ => return Err(ProtocolError::Malformed),
    };
    if tokens.next().is_some() {
        return Err(ProtocolError::Malformed);
    }
    let tag_bytes = decode_hex(tag_hex).filter(|_| tag_hex.bytes().all(|b| !b.is_ascii_uppercase()));
    let tag = tag_bytes.and_then(|b| <[u8; TAG_BYTES]>::try_from(b).ok()).ok_or(ProtocolError::Malformed)?;
    let message = Message { station, counter, body };
    // Canonical spelling only: what we parsed must print back to the same text.
    if message.signed_text() != signed_text {
        return Err(ProtocolError::Malformed);
    }
    Ok(Unverified { station, message, signed_text: signed_text.to_owned(), tag })
}

fn field<'a>(tokens: &mut impl Iterator<Item = &'a str>, name: &str) -> Result<&'a str, ProtocolError> {
    let token = tokens.next().ok_or(ProtocolError::Malformed)?;
    match token.split_once('=') {
        Some((n, value)) if n == name => Ok(value),
        _ => Err(ProtocolError::Malformed),
    }
}

fn number<T: std::str::FromStr>(s: &str) -> Result<T, ProtocolError> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if !canonical {
        return Err(ProtocolError::Malformed);
    }
    s.parse().map_err(|_| ProtocolError::Malformed)
}

fn signed(s: &str) -> Result<i16, ProtocolError> {
    match s.strip_prefix('-') {
        Some(rest) if rest != "0" => number::<u16>(rest)
            .and_then(|v| i16::try_from(-i32::from(v)).map_err(|_| ProtocolError::Malformed)),
        Some(_) => Err(ProtocolError::Malformed),
        None => number(s),
    }
}

fn optional<T>(s: &str, parse: fn(&str) -> Result<T, ProtocolError>) -> Result<Option<T>, ProtocolError> {
    if s == "none" { Ok(None) } else { parse(s).map(Some) }
}

fn firmware(s: &str) -> Result<String, ProtocolError> {
    let ok =
        (1..=16).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    if ok { Ok(s.to_owned()) } else { Err(ProtocolError::Malformed) }
}

fn new_mac(secret: &Secret, direction: Direction, signed_text: &str) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&secret.0).expect("HMAC takes keys of any length");
    mac.update(direction.label().as_bytes());
    mac.update(b"\n");
    mac.update(signed_text.as_bytes());
    mac
}

/// The truncated MAC: HMAC-SHA256(secret, label || "\n" || signed text), first 16 bytes.
fn tag(secret: &Secret, direction: Direction, signed_text: &str) -> [u8; TAG_BYTES] {
    let full = new_mac(secret, direction, signed_text).finalize().into_bytes();
    full[..TAG_BYTES].try_into().expect("SHA-256 is 32 bytes")
}

/// The counters a receiver has accepted from one sender: the highest, and which of the 64 below it.
/// Accepts each counter at most once, in any order, as long as it is within the window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReplayWindow {
    pub highest: u32,
    /// Bit `i` set: counter `highest - i` was accepted.
    pub seen: u64,
}

impl ReplayWindow {
    /// Whether `counter` would be accepted, without recording it.
    pub fn check(&self, counter: u32) -> Result<(), ProtocolError> {
        if counter == 0 {
            return Err(ProtocolError::Replay);
        }
        if counter > self.highest {
            return Ok(());
        }
        let behind = self.highest - counter;
        if behind >= REPLAY_WINDOW || self.seen & (1 << behind) != 0 {
            return Err(ProtocolError::Replay);
        }
        Ok(())
    }

    /// Records `counter` if it is acceptable. The caller must persist the window before acting on the
    /// message.
    pub fn accept(&mut self, counter: u32) -> Result<(), ProtocolError> {
        self.check(counter)?;
        if counter > self.highest {
            let shift = counter - self.highest;
            self.seen = if shift >= 64 { 0 } else { self.seen << shift };
            self.seen |= 1;
            self.highest = counter;
        } else {
            self.seen |= 1 << (self.highest - counter);
        }
        Ok(())
    }
}

/// What a station needs to talk to the server: its number in the protocol, the server's phone number
/// and the secret. Printed once when a station is created, typed or scanned into the station.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioning {
    pub station: u32,
    /// The server modem's number, E.164 with `+`.
    pub server_number: String,
    pub secret: Secret,
}

impl Provisioning {
    /// `RC1-PROV:<station>:<server number>:<secret as 64 hex digits>`
    pub fn encode(&self) -> String {
        format!("{VERSION}-PROV:{}:{}:{}", self.station, self.server_number, self.secret.to_hex())
    }

    pub fn parse(s: &str) -> Result<Self, ProtocolError> {
        let rest = s.trim().strip_prefix("RC1-PROV:").ok_or(ProtocolError::Provisioning)?;
        let mut parts = rest.split(':');
        let (Some(station), Some(number), Some(secret), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ProtocolError::Provisioning);
        };
        let station = number_field(station)?;
        let valid_number = number.strip_prefix('+').is_some_and(|d| {
            (3..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
        });
        if !valid_number {
            return Err(ProtocolError::Provisioning);
        }
        Ok(Self { station, server_number: number.to_owned(), secret: Secret::from_hex(secret)? })
    }
}

fn number_field(s: &str) -> Result<u32, ProtocolError> {
    number(s).map_err(|_| ProtocolError::Provisioning)
}

fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok()).collect()
}

#[cfg(test)]
mod tests;
