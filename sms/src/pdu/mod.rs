//! SMS in PDU mode: SMS-SUBMIT (what we send), SMS-DELIVER and SMS-STATUS-REPORT (what we receive), after
//! the service-centre address as modems show them. 3GPP TS 23.040 (fields) and TS 23.038 (alphabets).

mod address;
mod concat;
pub mod gsm7;
mod timestamp;

pub use address::{Address, AddressKind};
pub use concat::{Concat, Reassembler, split};
pub use timestamp::Timestamp;

/// Why bytes are not a valid PDU, or a message cannot be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PduError {
    #[error("the PDU ends before its last field")]
    Truncated,
    #[error("the PDU has bytes after its last field")]
    TrailingBytes,
    #[error("not a hexadecimal string")]
    InvalidHex,
    #[error("invalid address")]
    InvalidAddress,
    #[error("invalid service-centre time stamp")]
    InvalidTimestamp,
    #[error("message type {0} is not expected in this direction")]
    UnexpectedType(u8),
    #[error("compressed or reserved data coding {0:#04x} is not supported")]
    UnsupportedCoding(u8),
    #[error("invalid user-data header")]
    InvalidHeader,
    #[error("invalid user data")]
    InvalidUserData,
    #[error("the text is too long for one message")]
    TooLong,
}

/// How the user data is coded (from TP-DCS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Coding {
    Gsm7,
    EightBit,
    Ucs2,
}

impl Coding {
    fn from_dcs(dcs: u8) -> Result<Self, PduError> {
        match dcs >> 4 {
            // General data coding: bit 5 compressed, bits 3–2 alphabet.
            0x0..=0x3 => {
                if dcs & 0x20 != 0 {
                    return Err(PduError::UnsupportedCoding(dcs));
                }
                match (dcs >> 2) & 0x03 {
                    0 => Ok(Coding::Gsm7),
                    1 => Ok(Coding::EightBit),
                    2 => Ok(Coding::Ucs2),
                    _ => Err(PduError::UnsupportedCoding(dcs)),
                }
            }
            // Automatic deletion group: as the general group.
            0x4..=0x7 => Self::from_dcs(dcs & 0x3F),
            // Message waiting indication groups.
            0xC | 0xD => Ok(Coding::Gsm7),
            0xE => Ok(Coding::Ucs2),
            // Data coding / message class.
            0xF => Ok(if dcs & 0x04 == 0 { Coding::Gsm7 } else { Coding::EightBit }),
            _ => Err(PduError::UnsupportedCoding(dcs)),
        }
    }

    fn dcs(self) -> u8 {
        match self {
            Coding::Gsm7 => 0x00,
            Coding::EightBit => 0x04,
            Coding::Ucs2 => 0x08,
        }
    }
}

/// One information element of a user-data header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InformationElement {
    pub id: u8,
    pub data: Vec<u8>,
}

/// The user data: an optional header and the text (or, for 8-bit data, the bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserData {
    pub coding: Coding,
    pub header: Vec<InformationElement>,
    pub text: String,
    /// The raw octets of 8-bit data (empty for text).
    pub binary: Vec<u8>,
}

impl UserData {
    pub fn text(text: &str) -> Self {
        let coding = if gsm7::can_encode(text) { Coding::Gsm7 } else { Coding::Ucs2 };
        Self { coding, header: Vec::new(), text: text.to_owned(), binary: Vec::new() }
    }

    /// The concatenation information element, if this is a part of a longer message.
    pub fn concat(&self) -> Option<Concat> {
        self.header.iter().find_map(Concat::from_element)
    }

    fn header_bytes(&self) -> Result<Vec<u8>, PduError> {
        if self.header.is_empty() {
            return Ok(Vec::new());
        }
        let mut h = vec![0u8];
        for ie in &self.header {
            h.push(ie.id);
            h.push(u8::try_from(ie.data.len()).map_err(|_| PduError::InvalidHeader)?);
            h.extend_from_slice(&ie.data);
        }
        h[0] = u8::try_from(h.len() - 1).map_err(|_| PduError::InvalidHeader)?;
        Ok(h)
    }

    /// TP-UDL and TP-UD.
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), PduError> {
        let header = self.header_bytes()?;
        match self.coding {
            Coding::Gsm7 => {
                let septets = gsm7::encode(&self.text).ok_or(PduError::InvalidUserData)?;
                let header_septets = (header.len() * 8).div_ceil(7);
                let udl = header_septets + septets.len();
                if udl > 160 {
                    return Err(PduError::TooLong);
                }
                out.push(udl as u8);
                out.extend(&header);
                // After the header, zero fill bits put the first character on a septet boundary.
                out.extend(gsm7::pack(&septets, header_septets * 7 - header.len() * 8));
            }
            Coding::Ucs2 | Coding::EightBit => {
                let body: Vec<u8> = if self.coding == Coding::Ucs2 {
                    self.text.encode_utf16().flat_map(u16::to_be_bytes).collect()
                } else {
                    self.binary.clone()
                };
                let udl = header.len() + body.len();
                if udl > 140 {
                    return Err(PduError::TooLong);
                }
                out.push(udl as u8);
                out.extend(header);
                out.extend(body);
            }
        }
        Ok(())
    }

    fn decode(r: &mut Reader<'_>, coding: Coding, has_header: bool) -> Result<Self, PduError> {
        let udl = usize::from(r.u8()?);
        let octets = match coding {
            Coding::Gsm7 => {
                if udl > 160 {
                    return Err(PduError::InvalidUserData);
                }
                (udl * 7).div_ceil(8)
            }
            _ => {
                if udl > 140 {
                    return Err(PduError::InvalidUserData);
                }
                udl
            }
        };
        let ud = r.take(octets)?;
        let (header, header_len) = if has_header { parse_header(ud)? } else { (Vec::new(), 0) };
        let (text, binary) = match coding {
            Coding::Gsm7 => {
                let header_septets = (header_len * 8).div_ceil(7);
                let count = udl.checked_sub(header_septets).ok_or(PduError::InvalidHeader)?;
                let fill = header_septets * 7 - header_len * 8;
                let septets = gsm7::unpack(&ud[header_len..], fill, count).ok_or(PduError::Truncated)?;
                (gsm7::decode(&septets), Vec::new())
            }
            Coding::Ucs2 => {
                let body = &ud[header_len..];
                let units: Vec<u16> =
                    body.chunks(2).map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])).collect();
                (
                    char::decode_utf16(units).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)).collect(),
                    Vec::new(),
                )
            }
            Coding::EightBit => (String::new(), ud[header_len..].to_vec()),
        };
        Ok(Self { coding, header, text, binary })
    }
}

/// Parses a user-data header; returns it and its length in octets (the UDHL octet included).
fn parse_header(ud: &[u8]) -> Result<(Vec<InformationElement>, usize), PduError> {
    let udhl = usize::from(*ud.first().ok_or(PduError::InvalidHeader)?);
    let bytes = ud.get(1..1 + udhl).ok_or(PduError::InvalidHeader)?;
    let mut elements = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let id = bytes[i];
        let len = usize::from(*bytes.get(i + 1).ok_or(PduError::InvalidHeader)?);
        let data = bytes.get(i + 2..i + 2 + len).ok_or(PduError::InvalidHeader)?;
        elements.push(InformationElement { id, data: data.to_vec() });
        i += 2 + len;
    }
    Ok((elements, 1 + udhl))
}

/// How long the service centre keeps trying to deliver a message (relative format).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidityPeriod(pub u8);

impl ValidityPeriod {
    /// The longest relative period that is at most `minutes` (5 minutes to 63 weeks).
    pub fn at_most_minutes(minutes: u32) -> Self {
        let code = match minutes {
            0..=719 => (minutes / 5).max(1) - 1,
            720..=1439 => 143 + (minutes - 720) / 30,
            1440..=43199 => 166 + minutes / 1440,
            _ => (192 + minutes / 10080).min(255),
        };
        Self(code as u8)
    }

    pub fn minutes(self) -> u32 {
        let v = u32::from(self.0);
        match v {
            0..=143 => (v + 1) * 5,
            144..=167 => 720 + (v - 143) * 30,
            168..=196 => (v - 166) * 1440,
            _ => (v - 192) * 10080,
        }
    }
}

/// An SMS to send (mobile-originated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submit {
    /// TP-MR; modems replace it with their own counter and answer `+CMGS: <mr>`.
    pub reference: u8,
    pub destination: Address,
    pub reject_duplicates: bool,
    pub status_report_request: bool,
    pub validity: Option<ValidityPeriod>,
    pub user_data: UserData,
}

/// An SMS received (mobile-terminated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deliver {
    pub originator: Address,
    pub more_messages: bool,
    pub status_report_indication: bool,
    pub pid: u8,
    pub timestamp: Timestamp,
    pub user_data: UserData,
}

/// The network's report on a message we sent with a status-report request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    /// The TP-MR of the submitted message this reports on.
    pub reference: u8,
    pub recipient: Address,
    /// When the service centre received the message; `None` when the centre wrote an invalid time
    /// stamp (real networks send impossible time-zone octets): the reference and status still count.
    pub submitted: Option<Timestamp>,
    /// When the status below was reached (`None` as above).
    pub discharged: Option<Timestamp>,
    /// TP-ST.
    pub status: u8,
}

impl StatusReport {
    /// TP-ST 0x00–0x1F: the message was delivered (or replaced).
    pub fn delivered(&self) -> bool {
        self.status < 0x20
    }

    /// TP-ST 0x20–0x3F: the centre is still trying.
    pub fn pending(&self) -> bool {
        (0x20..0x40).contains(&self.status)
    }

    /// TP-ST 0x40 and above: the centre gave up.
    pub fn failed(&self) -> bool {
        self.status >= 0x40
    }
}

/// A decoded PDU as a modem shows it: the service-centre address, then the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdu<T> {
    /// `None` when the PDU leaves it to the SIM (length 0).
    pub service_centre: Option<Address>,
    pub message: T,
}

/// What a modem gives us: a received SMS or a status report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    Deliver(Deliver),
    StatusReport(StatusReport),
}

impl Submit {
    /// The PDU for `AT+CMGS`, with an empty service-centre address (the SIM's). Also returns the TPDU
    /// length, the number `AT+CMGS=<length>` wants.
    pub fn encode(&self) -> Result<(Vec<u8>, usize), PduError> {
        let mut out = vec![0x00];
        let mut first = 0x01;
        if self.reject_duplicates {
            first |= 0x04;
        }
        if self.validity.is_some() {
            first |= 0x10;
        }
        if self.status_report_request {
            first |= 0x20;
        }
        if !self.user_data.header.is_empty() {
            first |= 0x40;
        }
        out.push(first);
        out.push(self.reference);
        self.destination.encode_tp(&mut out)?;
        out.push(0x00);
        out.push(self.user_data.coding.dcs());
        if let Some(vp) = self.validity {
            out.push(vp.0);
        }
        self.user_data.encode(&mut out)?;
        let tpdu_len = out.len() - 1;
        Ok((out, tpdu_len))
    }

    /// Reads an SMS-SUBMIT (what a modem's client sent), as a network emulator must.
    pub fn decode(bytes: &[u8]) -> Result<Pdu<Submit>, PduError> {
        let mut r = Reader::new(bytes);
        let service_centre = Address::decode_sc(&mut r)?;
        let first = r.u8()?;
        if first & 0x03 != 0x01 {
            return Err(PduError::UnexpectedType(first & 0x03));
        }
        let reference = r.u8()?;
        let destination = Address::decode_tp(&mut r)?;
        let _pid = r.u8()?;
        let coding = Coding::from_dcs(r.u8()?)?;
        let validity = match (first >> 3) & 0x03 {
            0b00 => None,
            0b10 => Some(ValidityPeriod(r.u8()?)),
            // Enhanced or absolute formats: seven octets we do not interpret.
            _ => {
                r.take(7)?;
                None
            }
        };
        let user_data = UserData::decode(&mut r, coding, first & 0x40 != 0)?;
        r.finish()?;
        let message = Submit {
            reference,
            destination,
            reject_duplicates: first & 0x04 != 0,
            status_report_request: first & 0x20 != 0,
            validity,
            user_data,
        };
        Ok(Pdu { service_centre, message })
    }
}

impl Deliver {
    /// The PDU a modem would show for this message (service-centre address included).
    pub fn encode(&self, service_centre: &Address) -> Result<Vec<u8>, PduError> {
        let mut out = Vec::new();
        service_centre.encode_sc(&mut out)?;
        let mut first = 0x00;
        if !self.more_messages {
            first |= 0x04;
        }
        if self.status_report_indication {
            first |= 0x20;
        }
        if !self.user_data.header.is_empty() {
            first |= 0x40;
        }
        out.push(first);
        self.originator.encode_tp(&mut out)?;
        out.push(self.pid);
        out.push(self.user_data.coding.dcs());
        self.timestamp.encode(&mut out);
        self.user_data.encode(&mut out)?;
        Ok(out)
    }
}

impl StatusReport {
    pub fn encode(&self, service_centre: &Address) -> Result<Vec<u8>, PduError> {
        let mut out = Vec::new();
        service_centre.encode_sc(&mut out)?;
        out.push(0x06); // SMS-STATUS-REPORT, no more messages
        out.push(self.reference);
        self.recipient.encode_tp(&mut out)?;
        self.submitted.ok_or(PduError::InvalidTimestamp)?.encode(&mut out);
        self.discharged.ok_or(PduError::InvalidTimestamp)?.encode(&mut out);
        out.push(self.status);
        Ok(out)
    }
}

/// Reads a PDU a modem received: an SMS-DELIVER or an SMS-STATUS-REPORT.
pub fn decode_incoming(bytes: &[u8]) -> Result<Pdu<Incoming>, PduError> {
    let mut r = Reader::new(bytes);
    let service_centre = Address::decode_sc(&mut r)?;
    let first = r.u8()?;
    let message = match first & 0x03 {
        0x00 => {
            let originator = Address::decode_tp(&mut r)?;
            let pid = r.u8()?;
            let coding = Coding::from_dcs(r.u8()?)?;
            let timestamp = Timestamp::decode(&mut r)?;
            let user_data = UserData::decode(&mut r, coding, first & 0x40 != 0)?;
            // Octets after the user data its length announces are padding (modems fill the line with
            // `FF`, or pad to their buffer's length): the length is what the sender meant.
            Incoming::Deliver(Deliver {
                originator,
                more_messages: first & 0x04 == 0,
                status_report_indication: first & 0x20 != 0,
                pid,
                timestamp,
                user_data,
            })
        }
        0x02 => {
            let reference = r.u8()?;
            let recipient = Address::decode_tp(&mut r)?;
            let submitted = Timestamp::from_octets(r.take(7)?).ok();
            let discharged = Timestamp::from_octets(r.take(7)?).ok();
            let status = r.u8()?;
            // Optional parameters (PI, PID, DCS, UD) may follow; they tell us nothing we use.
            Incoming::StatusReport(StatusReport { reference, recipient, submitted, discharged, status })
        }
        other => return Err(PduError::UnexpectedType(other)),
    };
    Ok(Pdu { service_centre, message })
}

/// Hexadecimal, as modems print PDUs.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

pub fn from_hex(hex: &str) -> Result<Vec<u8>, PduError> {
    let hex = hex.trim();
    if !hex.len().is_multiple_of(2) {
        return Err(PduError::InvalidHex);
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| hex.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()).ok_or(PduError::InvalidHex))
        .collect()
}

/// A cursor over the PDU's octets that fails instead of panicking when they run out.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    pub(crate) fn u8(&mut self) -> Result<u8, PduError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], PduError> {
        let end = self.pos.checked_add(n).ok_or(PduError::Truncated)?;
        let s = self.bytes.get(self.pos..end).ok_or(PduError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    fn finish(&self) -> Result<(), PduError> {
        if self.pos == self.bytes.len() { Ok(()) } else { Err(PduError::TrailingBytes) }
    }
}

#[cfg(test)]
mod tests;
