//! Addresses (TS 23.040 §9.1.2.5): phone numbers as swapped semi-octets, or alphanumeric sender names.

use std::fmt;

use super::{PduError, Reader, gsm7};

/// What kind of number an address holds (its type-of-number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressKind {
    /// With country code, shown with a leading `+`.
    International,
    /// Without country code.
    National,
    /// As dialled.
    Unknown,
    /// A sender name such as `Swisscom`, in the 7-bit alphabet.
    Alphanumeric,
}

/// A phone number or sender name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    pub kind: AddressKind,
    /// Digits (and `*#abc`) without the `+`, or the name for an alphanumeric address.
    pub value: String,
}

impl Address {
    /// Parses a number as people write it: `+41 79 123 45 67` is international, `079 123 45 67` as dialled.
    pub fn parse(raw: &str) -> Result<Self, PduError> {
        let compact: String = raw.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')')).collect();
        let (kind, digits) = match compact.strip_prefix('+') {
            Some(rest) => (AddressKind::International, rest),
            None => (AddressKind::Unknown, compact.as_str()),
        };
        if digits.is_empty() || digits.len() > 20 || !digits.chars().all(|c| semi_octet(c).is_some()) {
            return Err(PduError::InvalidAddress);
        }
        Ok(Self { kind, value: digits.to_owned() })
    }

    fn type_octet(&self) -> u8 {
        match self.kind {
            AddressKind::International => 0x91,
            AddressKind::National => 0xA1,
            AddressKind::Unknown => 0x81,
            AddressKind::Alphanumeric => 0xD0,
        }
    }

    /// The address as the TP-DA/TP-OA field: length in useful semi-octets, type, value.
    pub(crate) fn encode_tp(&self, out: &mut Vec<u8>) -> Result<(), PduError> {
        let (len, body) = self.body()?;
        out.push(len);
        out.push(self.type_octet());
        out.extend(body);
        Ok(())
    }

    /// The address as the service-centre field: length in octets (type included), type, value.
    pub(crate) fn encode_sc(&self, out: &mut Vec<u8>) -> Result<(), PduError> {
        let (_, body) = self.body()?;
        out.push(u8::try_from(body.len() + 1).map_err(|_| PduError::InvalidAddress)?);
        out.push(self.type_octet());
        out.extend(body);
        Ok(())
    }

    fn body(&self) -> Result<(u8, Vec<u8>), PduError> {
        if self.kind == AddressKind::Alphanumeric {
            let septets = gsm7::encode(&self.value).ok_or(PduError::InvalidAddress)?;
            if septets.len() > 11 {
                return Err(PduError::InvalidAddress);
            }
            let packed = gsm7::pack(&septets, 0);
            let semi_octets = (septets.len() * 7).div_ceil(4);
            return Ok((semi_octets as u8, packed));
        }
        let nibbles: Vec<u8> = self
            .value
            .chars()
            .map(|c| semi_octet(c).ok_or(PduError::InvalidAddress))
            .collect::<Result<_, _>>()?;
        if nibbles.is_empty() || nibbles.len() > 20 {
            return Err(PduError::InvalidAddress);
        }
        let body = nibbles.chunks(2).map(|p| p[0] | (p.get(1).copied().unwrap_or(0xF) << 4)).collect();
        Ok((nibbles.len() as u8, body))
    }

    pub(crate) fn decode_tp(r: &mut Reader<'_>) -> Result<Self, PduError> {
        let semi_octets = usize::from(r.u8()?);
        let toa = r.u8()?;
        if semi_octets > 20 {
            return Err(PduError::InvalidAddress);
        }
        let body = r.take(semi_octets.div_ceil(2))?;
        Self::from_parts(toa, body, semi_octets)
    }

    /// The service-centre address; `None` when its length is 0 (the SIM's default centre).
    pub(crate) fn decode_sc(r: &mut Reader<'_>) -> Result<Option<Self>, PduError> {
        let octets = usize::from(r.u8()?);
        if octets == 0 {
            return Ok(None);
        }
        if octets > 11 {
            return Err(PduError::InvalidAddress);
        }
        let toa = r.u8()?;
        let body = r.take(octets - 1)?;
        let semi_octets =
            if body.last().is_some_and(|b| b >> 4 == 0xF) { body.len() * 2 - 1 } else { body.len() * 2 };
        Self::from_parts(toa, body, semi_octets).map(Some)
    }

    fn from_parts(toa: u8, body: &[u8], semi_octets: usize) -> Result<Self, PduError> {
        let kind = match (toa >> 4) & 0x07 {
            0b001 => AddressKind::International,
            0b010 => AddressKind::National,
            0b101 => AddressKind::Alphanumeric,
            _ => AddressKind::Unknown,
        };
        let value = if kind == AddressKind::Alphanumeric {
            gsm7::decode(&gsm7::unpack(body, 0, semi_octets * 4 / 7).ok_or(PduError::Truncated)?)
        } else {
            let mut digits = String::with_capacity(semi_octets);
            for i in 0..semi_octets {
                let nibble = if i % 2 == 0 { body[i / 2] & 0x0F } else { body[i / 2] >> 4 };
                digits.push(digit(nibble).ok_or(PduError::InvalidAddress)?);
            }
            digits
        };
        Ok(Self { kind, value })
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind == AddressKind::International {
            f.write_str("+")?;
        }
        f.write_str(&self.value)
    }
}

fn semi_octet(c: char) -> Option<u8> {
    match c {
        '0'..='9' => Some(c as u8 - b'0'),
        '*' => Some(0xA),
        '#' => Some(0xB),
        'a' => Some(0xC),
        'b' => Some(0xD),
        'c' => Some(0xE),
        _ => None,
    }
}

fn digit(n: u8) -> Option<char> {
    match n {
        0..=9 => Some((b'0' + n) as char),
        0xA => Some('*'),
        0xB => Some('#'),
        0xC => Some('a'),
        0xD => Some('b'),
        0xE => Some('c'),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(a: &Address) -> Vec<u8> {
        let mut v = Vec::new();
        a.encode_tp(&mut v).unwrap();
        v
    }

    #[test]
    fn numbers_are_swapped_semi_octets_padded_with_f() {
        let a = Address::parse("+46708251358").unwrap();
        assert_eq!(tp(&a), [0x0B, 0x91, 0x64, 0x07, 0x28, 0x15, 0x53, 0xF8]);
        assert_eq!(a.to_string(), "+46708251358");
        let back = Address::decode_tp(&mut Reader::new(&tp(&a))).unwrap();
        assert_eq!(back, a);
        assert_eq!(Address::parse("079 123 45 67").unwrap().value, "0791234567");
        assert!(Address::parse("+41 79 xyz").is_err());
        assert!(Address::parse("").is_err());
    }

    #[test]
    fn alphanumeric_senders_decode() {
        let a = Address { kind: AddressKind::Alphanumeric, value: "Swisscom".into() };
        let bytes = tp(&a);
        assert_eq!(bytes[1], 0xD0);
        assert_eq!(Address::decode_tp(&mut Reader::new(&bytes)).unwrap(), a);
    }
}
