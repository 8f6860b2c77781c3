//! What a modem says, as values: its byte stream cut into lines and prompts, final result codes, unsolicited
//! result codes, and the information responses we use (3GPP TS 27.005 / 27.007). Pure: no I/O, an error
//! (or `None`) for anything unexpected, never a panic.

use crate::pdu::{self, gsm7};

/// The longest line we keep; a modem that sends more without a line end is cut there.
pub const MAX_LINE: usize = 4096;

/// One unit of modem output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// A non-empty line, without its line end.
    Line(String),
    /// The `> ` prompt of `AT+CMGS`, which has no line end.
    Prompt,
}

/// Cuts modem output into [`Token`]s. Line ends may be `\r\n`, `\n` or `\r`; empty lines (the blank line
/// Telit puts before a PDU, the `\r\n` before every verbose answer) are skipped.
#[derive(Debug, Default)]
pub struct LineReader {
    buf: Vec<u8>,
}

impl LineReader {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete token, if the bytes so far hold one.
    pub fn next_token(&mut self) -> Option<Token> {
        let start = self.buf.iter().position(|&b| b != b'\r' && b != b'\n' && b != 0);
        let Some(start) = start else {
            self.buf.clear();
            return None;
        };
        self.buf.drain(..start);
        if self.buf[0] == b'>' {
            let n = if self.buf.get(1) == Some(&b' ') { 2 } else { 1 };
            self.buf.drain(..n);
            return Some(Token::Prompt);
        }
        let end = self.buf.iter().position(|&b| b == b'\r' || b == b'\n');
        let end = match end {
            Some(end) => end,
            None if self.buf.len() >= MAX_LINE => MAX_LINE,
            None => return None,
        };
        let line: Vec<u8> = self.buf.drain(..end).collect();
        Some(Token::Line(String::from_utf8_lossy(&line).into_owned()))
    }

    /// Bytes received but not yet a whole token.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    pub fn clear(&mut self) {
        self.buf.clear();
    }
}

/// `+CME ERROR` / `+CMS ERROR`: a number (`AT+CMEE=1`) or a text (`AT+CMEE=2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorCode {
    pub code: Option<u16>,
    pub text: String,
}

impl ErrorCode {
    fn parse(rest: &str) -> Self {
        let rest = rest.trim();
        match rest.parse::<u16>() {
            Ok(code) => Self { code: Some(code), text: rest.to_owned() },
            Err(_) => Self { code: verbose_code(rest), text: rest.to_owned() },
        }
    }
}

/// The numbers of the verbose errors we act on, so both forms compare equal.
fn verbose_code(text: &str) -> Option<u16> {
    let t = text.to_ascii_lowercase();
    Some(match t.as_str() {
        "sim not inserted" => 10,
        "sim pin required" => 11,
        "sim puk required" => 12,
        "sim failure" => 13,
        "sim busy" => 14,
        "incorrect password" => 16,
        "memory full" => 20,
        "invalid index" => 21,
        "not found" => 22,
        "no network service" => 30,
        "network timeout" => 31,
        "operation not allowed" => 3,
        "operation not supported" => 4,
        _ => return None,
    })
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Final {
    Ok,
    Error,
    Cme(ErrorCode),
    Cms(ErrorCode),
    /// `NO CARRIER`, `BUSY`, `NO ANSWER`, `NO DIALTONE`: not expected for SMS, but final.
    Other(String),
}

/// The final result code on this line, if it is one.
pub fn final_code(line: &str) -> Option<Final> {
    let line = line.trim();
    match line {
        "OK" | "0" => return Some(Final::Ok),
        "ERROR" | "4" => return Some(Final::Error),
        "NO CARRIER" | "BUSY" | "NO ANSWER" | "NO DIALTONE" => return Some(Final::Other(line.to_owned())),
        _ => {}
    }
    if let Some(rest) = line.strip_prefix("+CME ERROR:") {
        return Some(Final::Cme(ErrorCode::parse(rest)));
    }
    line.strip_prefix("+CMS ERROR:").map(|rest| Final::Cms(ErrorCode::parse(rest)))
}

/// An unsolicited result code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Urc {
    /// `+CMTI: "SM",3`: a message was stored at this index.
    NewMessage { storage: String, index: u32 },
    /// `+CDSI: "SM",4`: a status report was stored at this index.
    NewReport { storage: String, index: u32 },
    /// `+CDS: <length>` and the PDU line: a status report routed directly.
    Report { pdu: Vec<u8> },
    /// `+CMT: [<alpha>],<length>` and the PDU line: a message routed directly (must be acknowledged).
    Message { pdu: Vec<u8> },
    /// `+CUSD: <m>[,<str>,<dcs>]`: an answer of the network to a USSD request.
    Ussd(Ussd),
    /// `+CREG: <stat>`: registration changed.
    Registration(Registration),
    /// Anything else a modem announces (`RING`, `^RSSI: 18`, `Call Ready`, …), kept for the log.
    Other(String),
}

/// The first line of a URC whose PDU comes on the next line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PduUrc {
    Report,
    Message,
}

/// What an unsolicited line is, given the command in progress (its answers look like some URCs: `+CREG:`
/// answers `AT+CREG?` but is unsolicited otherwise). `Err` for the URCs whose PDU is on the next line.
pub fn unsolicited(line: &str, command: Option<&str>) -> Option<Result<Urc, PduUrc>> {
    let line = line.trim();
    let answers = |prefix: &str| command.is_some_and(|c| c.to_ascii_uppercase().starts_with(prefix));
    if let Some(rest) = line.strip_prefix("+CMTI:") {
        let (storage, index) = storage_index(rest)?;
        return Some(Ok(Urc::NewMessage { storage, index }));
    }
    if let Some(rest) = line.strip_prefix("+CDSI:") {
        let (storage, index) = storage_index(rest)?;
        return Some(Ok(Urc::NewReport { storage, index }));
    }
    if line.starts_with("+CDS:") {
        return Some(Err(PduUrc::Report));
    }
    if line.starts_with("+CMT:") {
        return Some(Err(PduUrc::Message));
    }
    if let Some(rest) = line.strip_prefix("+CUSD:") {
        return Some(Ok(Urc::Ussd(parse_cusd(rest)?)));
    }
    if let Some(rest) = line.strip_prefix("+CREG:") {
        if answers("AT+CREG") {
            return None;
        }
        let fields = csv(rest);
        // The unsolicited form is `<stat>[,<lac>,<ci>[,<act>]]`; the answer form starts with `<n>,`.
        return Some(Ok(Urc::Registration(Registration::from_code(fields.first()?.parse().ok()?))));
    }
    let known = [
        "RING",
        "RDY",
        "Call Ready",
        "SMS Ready",
        "^RSSI:",
        "^BOOT:",
        "^MODE:",
        "^SRVST:",
        "+CIEV:",
        "^SIMST:",
    ];
    let pin_answer = line.starts_with("+CPIN:") && answers("AT+CPIN");
    if known.iter().any(|k| line.starts_with(k)) || (line.starts_with("+CPIN:") && !pin_answer) {
        return Some(Ok(Urc::Other(line.to_owned())));
    }
    None
}

fn storage_index(rest: &str) -> Option<(String, u32)> {
    let fields = csv(rest);
    match fields.as_slice() {
        [storage, index] => Some((storage.clone(), index.parse().ok()?)),
        _ => None,
    }
}

/// Network registration (`+CREG`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    NotRegistered,
    Home,
    Searching,
    Denied,
    Unknown,
    Roaming,
}

impl Registration {
    fn from_code(code: u8) -> Self {
        match code {
            0 => Self::NotRegistered,
            1 => Self::Home,
            2 => Self::Searching,
            3 => Self::Denied,
            5 => Self::Roaming,
            _ => Self::Unknown,
        }
    }

    pub fn code(self) -> u8 {
        match self {
            Self::NotRegistered => 0,
            Self::Home => 1,
            Self::Searching => 2,
            Self::Denied => 3,
            Self::Unknown => 4,
            Self::Roaming => 5,
        }
    }

    pub fn registered(self) -> bool {
        matches!(self, Self::Home | Self::Roaming)
    }
}

/// The comma-separated fields after `+XXX:`, quotes removed (commas inside quotes kept).
pub fn csv(rest: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    for c in rest.trim().chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    fields.push(field);
    fields.into_iter().map(|f| f.trim().to_owned()).collect()
}

/// The value after `prefix` on the first line that has it.
fn info<'a>(lines: &'a [String], prefix: &str) -> Option<&'a str> {
    lines.iter().find_map(|l| l.trim().strip_prefix(prefix))
}

/// `+CMGS: <mr>`: the message reference of a sent SMS.
pub fn parse_cmgs(lines: &[String]) -> Option<u8> {
    csv(info(lines, "+CMGS:")?).first()?.parse().ok()
}

/// `+CSQ: <rssi>,<ber>` as dBm (`None` for 99, unknown).
pub fn parse_csq(lines: &[String]) -> Option<Option<i16>> {
    let rssi: i16 = csv(info(lines, "+CSQ:")?).first()?.parse().ok()?;
    Some(match rssi {
        0..=31 => Some(-113 + 2 * rssi),
        _ => None,
    })
}

/// `+CREG: <n>,<stat>[,…]`, the answer to `AT+CREG?`.
pub fn parse_creg(lines: &[String]) -> Option<Registration> {
    let fields = csv(info(lines, "+CREG:")?);
    Some(Registration::from_code(fields.get(1)?.parse().ok()?))
}

/// `+COPS: <mode>[,<format>,<oper>[,<act>]]`: the operator's name, if registered.
pub fn parse_cops(lines: &[String]) -> Option<String> {
    csv(info(lines, "+COPS:")?).get(2).filter(|s| !s.is_empty()).cloned()
}

/// `+CPIN: READY` / `SIM PIN` / `SIM PUK` …
pub fn parse_cpin(lines: &[String]) -> Option<String> {
    Some(info(lines, "+CPIN:")?.trim().trim_matches('"').to_owned())
}

/// A message stored on the modem, from `+CMGL` or `+CMGR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub index: u32,
    /// 0 received unread, 1 received read, 2 stored unsent, 3 stored sent.
    pub status: u8,
    /// The PDU, or what the modem wrote in its place when that cannot be read.
    pub pdu: Result<Vec<u8>, Unreadable>,
}

/// A stored message whose PDU line cannot be read: kept as it came, so that it can be stored, counted
/// and deleted like any other instead of stopping the listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// The line where the PDU should be (empty when there was none).
    pub line: String,
    pub error: AtParseError,
}

/// `+CMGL: <index>,<stat>,[<alpha>],<length>` each followed by its PDU line. Never fails as a whole: an
/// entry whose PDU cannot be read is returned as [`Unreadable`] and the others as they are (one bad
/// message must not keep the rest on the SIM); a header without an index is skipped, as nothing can be
/// done with it.
pub fn parse_cmgl(lines: &[String]) -> Vec<Stored> {
    let mut out = Vec::new();
    let mut it = lines.iter().map(|l| l.trim()).filter(|l| !l.is_empty()).peekable();
    while let Some(line) = it.next() {
        let Some(rest) = line.strip_prefix("+CMGL:") else { continue };
        let fields = csv(rest);
        let Some(index) = fields.first().and_then(|f| f.parse().ok()) else { continue };
        let status = fields.get(1).and_then(|f| f.parse().ok()).unwrap_or(0);
        let pdu = match it.next_if(|l| !l.starts_with("+CMGL:")) {
            Some(line) => read_pdu_line(line),
            None => Err(Unreadable { line: String::new(), error: AtParseError::Malformed }),
        };
        out.push(Stored { index, status, pdu });
    }
    out
}

/// `+CMGR: <stat>,[<alpha>],<length>` and the PDU line; `None` for an empty slot (no answer line, or
/// `+CMGR: 0,,0` as some modems write it).
pub fn parse_cmgr(index: u32, lines: &[String]) -> Option<Stored> {
    let mut it = lines.iter().map(|l| l.trim()).filter(|l| !l.is_empty());
    let header = it.by_ref().find_map(|l| l.strip_prefix("+CMGR:"))?;
    let fields = csv(header);
    let status = fields.first().and_then(|f| f.parse().ok()).unwrap_or(0);
    if fields.last().is_some_and(|l| l == "0") {
        return None;
    }
    let pdu = match it.next() {
        Some(line) => read_pdu_line(line),
        None => Err(Unreadable { line: String::new(), error: AtParseError::Malformed }),
    };
    Some(Stored { index, status, pdu })
}

fn read_pdu_line(line: &str) -> Result<Vec<u8>, Unreadable> {
    pdu_line(line).map_err(|e| Unreadable { line: line.to_owned(), error: AtParseError::Pdu(e) })
}

/// The octets of a PDU line as modems write it: the service-centre address and the TPDU in hex. Some
/// firmwares add a character after the hex (a stray `"` or `,`): what follows the hex is ignored when it
/// holds no letter or digit. The length a `+CMGR`/`+CMGL` header announces is not used: recorded answers
/// of real devices get it wrong, and the PDU's own lengths say where the message ends (the decoder
/// ignores what a modem pads after it).
pub fn pdu_line(line: &str) -> Result<Vec<u8>, pdu::PduError> {
    let line = line.trim();
    let run = line.bytes().take_while(u8::is_ascii_hexdigit).count();
    if run == 0 || line[run..].bytes().any(|b| b.is_ascii_alphanumeric()) {
        return Err(pdu::PduError::InvalidHex);
    }
    pdu::from_hex(&line[..run])
}

/// A USSD answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ussd {
    /// 0 no further action, 1 further action required, 2 terminated by network, 4 not supported…
    pub status: u8,
    pub text: Option<String>,
}

/// `+CUSD: <m>[,<str>,<dcs>]`. The text comes as plain characters, as hex of packed GSM 7-bit (Huawei), or
/// as hex of UCS2, depending on the modem and the DCS; this returns the readable text in every case.
pub fn parse_cusd(rest: &str) -> Option<Ussd> {
    let fields = csv(rest);
    let status = fields.first()?.parse().ok()?;
    let Some(raw) = fields.get(1) else { return Some(Ussd { status, text: None }) };
    let dcs: u8 = fields.get(2).and_then(|d| d.parse().ok()).unwrap_or(15);
    Some(Ussd { status, text: Some(decode_ussd(raw, dcs)) })
}

fn decode_ussd(raw: &str, dcs: u8) -> String {
    let hex = raw.len() >= 2 && raw.len().is_multiple_of(2) && raw.bytes().all(|b| b.is_ascii_hexdigit());
    let ucs2 = dcs == 0x11 || (matches!(dcs >> 4, 0x4..=0x7) && (dcs >> 2) & 0x03 == 2);
    if hex && ucs2 {
        let bytes = pdu::from_hex(raw).unwrap_or_default();
        // DCS 0x11: "UCS2, preceded by language indication" (TS 23.038 §5): the language's two GSM
        // 7-bit characters take the first two octets, the text follows.
        let text = if dcs == 0x11 { bytes.get(2..).unwrap_or_default() } else { &bytes[..] };
        let units: Vec<u16> = text.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
        // A U+0000 ends the text: what some modems write after it is the rest of their buffer.
        let end = units.iter().position(|&u| u == 0).unwrap_or(units.len());
        return String::from_utf16_lossy(&units[..end]);
    }
    if hex && ussd_gsm7(dcs) {
        let bytes = pdu::from_hex(raw).unwrap_or_default();
        let count = bytes.len() * 8 / 7;
        if let Some(septets) = gsm7::unpack(&bytes, 0, count) {
            let text = gsm7::decode(&septets);
            // A trailing CR pads a message whose last octet has 7 spare bits (TS 23.038 §6.1.2.3.1).
            let text = text.strip_suffix('\r').unwrap_or(&text).trim_end_matches('@').to_owned();
            if text.chars().all(|c| !c.is_control() || c == '\n') {
                return text;
            }
        }
    }
    raw.to_owned()
}

/// Whether a cell-broadcast / USSD data coding scheme (TS 23.038 §5) means the GSM 7-bit alphabet.
fn ussd_gsm7(dcs: u8) -> bool {
    match dcs >> 4 {
        0x0 | 0x2 | 0x3 => true,
        0x1 => dcs == 0x10,
        0x4..=0x7 => (dcs >> 2) & 0x03 == 0,
        0xF => dcs & 0x04 == 0,
        _ => false,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AtParseError {
    #[error("malformed modem answer")]
    Malformed,
    #[error("invalid PDU in modem answer: {0}")]
    Pdu(pdu::PduError),
}

#[cfg(test)]
mod tests;
