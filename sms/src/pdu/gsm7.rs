//! The GSM 7-bit default alphabet and its extension table (TS 23.038 §6.2.1), and septet packing.

/// The default alphabet, indexed by septet value. 0x1B is the escape to the extension table.
const DEFAULT: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u{1B}', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

const ESCAPE: u8 = 0x1B;

/// The extension table: septet after the escape, and the character it stands for.
const EXTENSION: [(u8, char); 10] = [
    (0x0A, '\u{0C}'),
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x65, '€'),
];

/// The septets of one character: one from the default table, two (escape + code) from the extension table,
/// `None` if the alphabet cannot express it.
pub fn char_septets(c: char) -> Option<&'static [u8]> {
    static SEPTETS: [u8; 128] = {
        let mut s = [0u8; 128];
        let mut i = 0;
        while i < 128 {
            s[i] = i as u8;
            i += 1;
        }
        s
    };
    static ESCAPED: [[u8; 2]; 10] = {
        let mut e = [[0u8; 2]; 10];
        let mut i = 0;
        while i < 10 {
            e[i] = [ESCAPE, EXTENSION[i].0];
            i += 1;
        }
        e
    };
    if c != '\u{1B}'
        && let Some(i) = DEFAULT.iter().position(|&d| d == c)
    {
        return Some(&SEPTETS[i..=i]);
    }
    EXTENSION.iter().position(|&(_, e)| e == c).map(|i| &ESCAPED[i][..])
}

/// Whether the whole text can be sent in the 7-bit alphabet.
pub fn can_encode(text: &str) -> bool {
    text.chars().all(|c| char_septets(c).is_some())
}

/// The text as septets (one byte each, 0–127); `None` if a character is not in the alphabet.
pub fn encode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        out.extend_from_slice(char_septets(c)?);
    }
    Some(out)
}

/// Septets to text. An escape followed by a code the extension table lacks stands for the default
/// character of that code (TS 23.038); a trailing escape is dropped.
pub fn decode(septets: &[u8]) -> String {
    let mut out = String::with_capacity(septets.len());
    let mut it = septets.iter().map(|s| s & 0x7F);
    while let Some(s) = it.next() {
        if s == ESCAPE {
            match it.next() {
                Some(code) => match EXTENSION.iter().find(|&&(k, _)| k == code) {
                    Some(&(_, c)) => out.push(c),
                    None => out.push(DEFAULT[code as usize]),
                },
                None => break,
            }
        } else {
            out.push(DEFAULT[s as usize]);
        }
    }
    out
}

/// Packs septets into octets, least significant bit first, after `fill_bits` zero bits (used to align the
/// text on a septet boundary after a user-data header).
pub fn pack(septets: &[u8], fill_bits: usize) -> Vec<u8> {
    let total_bits = fill_bits + septets.len() * 7;
    let mut out = vec![0u8; total_bits.div_ceil(8)];
    for (i, &s) in septets.iter().enumerate() {
        let bit = fill_bits + i * 7;
        let (byte, shift) = (bit / 8, bit % 8);
        let v = u16::from(s & 0x7F) << shift;
        out[byte] |= v as u8;
        if shift > 1 {
            out[byte + 1] |= (v >> 8) as u8;
        }
    }
    out
}

/// Unpacks `count` septets from octets, skipping `fill_bits`; `None` if the octets are too few.
pub fn unpack(octets: &[u8], fill_bits: usize, count: usize) -> Option<Vec<u8>> {
    if (fill_bits + count * 7).div_ceil(8) > octets.len() {
        return None;
    }
    Some(
        (0..count)
            .map(|i| {
                let bit = fill_bits + i * 7;
                let (byte, shift) = (bit / 8, bit % 8);
                let lo = u16::from(octets[byte]);
                let hi = octets.get(byte + 1).copied().map(u16::from).unwrap_or(0);
                (((hi << 8 | lo) >> shift) & 0x7F) as u8
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hellohello_packs_as_in_every_reference() {
        let s = encode("hellohello").unwrap();
        assert_eq!(pack(&s, 0), [0xE8, 0x32, 0x9B, 0xFD, 0x46, 0x97, 0xD9, 0xEC, 0x37]);
        assert_eq!(decode(&unpack(&pack(&s, 0), 0, 10).unwrap()), "hellohello");
    }

    #[test]
    fn the_extension_table_costs_two_septets() {
        let s = encode("€[]{}\\^~|").unwrap();
        assert_eq!(s.len(), 18);
        assert_eq!(&s[..2], &[0x1B, 0x65]);
        assert_eq!(decode(&s), "€[]{}\\^~|");
    }

    #[test]
    fn swiss_text_fits_and_other_scripts_do_not() {
        assert!(can_encode("Gérance Hérémence: 5.00 CHF, Zürich ß ä ö ü à è é"));
        assert!(!can_encode("Ça coûte 5 CHF")); // û is not in the GSM alphabet
        assert!(!can_encode("日本"));
        assert!(!can_encode("\u{1B}"));
    }

    #[test]
    fn fill_bits_align_after_a_header() {
        let s = encode("abc").unwrap();
        for fill in 0..7 {
            assert_eq!(unpack(&pack(&s, fill), fill, 3).unwrap(), s, "fill {fill}");
        }
        assert_eq!(unpack(&[0xFF], 0, 2), None);
    }
}
