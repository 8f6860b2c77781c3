//! Concatenated messages (TS 23.040 §9.2.3.24.1 and .8): splitting a long text into parts, and putting
//! received parts back together whatever order they arrive in.

use std::collections::{BTreeMap, HashMap};

use super::{Coding, InformationElement, PduError, UserData, gsm7};

/// Where a part belongs: the message's reference, how many parts it has, and this part's number (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Concat {
    pub reference: u16,
    pub total: u8,
    pub sequence: u8,
}

impl Concat {
    pub(crate) fn from_element(ie: &InformationElement) -> Option<Self> {
        match (ie.id, ie.data.as_slice()) {
            (0x00, &[r, total, sequence]) => Some(Self { reference: u16::from(r), total, sequence }),
            (0x08, &[hi, lo, total, sequence]) => {
                Some(Self { reference: u16::from_be_bytes([hi, lo]), total, sequence })
            }
            _ => None,
        }
    }

    /// An 8-bit reference when it fits, else a 16-bit one.
    fn element(&self) -> InformationElement {
        match u8::try_from(self.reference) {
            Ok(r) => InformationElement { id: 0x00, data: vec![r, self.total, self.sequence] },
            Err(_) => {
                let [hi, lo] = self.reference.to_be_bytes();
                InformationElement { id: 0x08, data: vec![hi, lo, self.total, self.sequence] }
            }
        }
    }
}

/// Splits a text into the user data of one SMS, or of several concatenated parts carrying `reference`.
/// GSM 7-bit when every character allows it (160 per SMS, 153 or 152 per part), else UCS2 (70, 67 or 66).
/// An escaped character or a surrogate pair is never cut in two.
pub fn split(text: &str, reference: u16) -> Result<Vec<UserData>, PduError> {
    let single = UserData::text(text);
    let wide = reference > 0xFF;
    let pieces: Vec<String> = match single.coding {
        Coding::Gsm7 => {
            let septets = gsm7::encode(text).ok_or(PduError::InvalidUserData)?.len();
            if septets <= 160 {
                return Ok(vec![single]);
            }
            let room = if wide { 152 } else { 153 };
            chunk(text, room, |c| gsm7::char_septets(c).map_or(1, <[u8]>::len))
        }
        _ => {
            if text.encode_utf16().count() <= 70 {
                return Ok(vec![single]);
            }
            let room = if wide { 66 } else { 67 };
            chunk(text, room, char::len_utf16)
        }
    };
    let total = u8::try_from(pieces.len()).map_err(|_| PduError::TooLong)?;
    Ok(pieces
        .into_iter()
        .enumerate()
        .map(|(i, piece)| {
            let concat = Concat { reference, total, sequence: i as u8 + 1 };
            UserData {
                coding: single.coding,
                header: vec![concat.element()],
                text: piece,
                binary: Vec::new(),
            }
        })
        .collect())
}

fn chunk(text: &str, room: usize, cost: impl Fn(char) -> usize) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut used = 0;
    for c in text.chars() {
        let n = cost(c);
        if used + n > room {
            parts.push(String::new());
            used = 0;
        }
        parts.last_mut().expect("never empty").push(c);
        used += n;
    }
    parts
}

/// Collects the parts of concatenated messages per sender until each is complete.
#[derive(Debug, Default)]
pub struct Reassembler {
    pending: HashMap<(String, u16, u8), Pending>,
}

#[derive(Debug)]
struct Pending {
    parts: BTreeMap<u8, String>,
    first_seen: i64,
}

impl Reassembler {
    /// Takes one received SMS; returns the whole text once every part has arrived (at once for a message
    /// that is not concatenated). A part received twice counts once.
    pub fn push(&mut self, sender: &str, user_data: &UserData, now: i64) -> Option<String> {
        let Some(c) = user_data.concat().filter(|c| c.total > 1 && (1..=c.total).contains(&c.sequence))
        else {
            return Some(user_data.text.clone());
        };
        let key = (sender.to_owned(), c.reference, c.total);
        let pending = self
            .pending
            .entry(key.clone())
            .or_insert_with(|| Pending { parts: BTreeMap::new(), first_seen: now });
        pending.parts.entry(c.sequence).or_insert_with(|| user_data.text.clone());
        if pending.parts.len() == usize::from(c.total) {
            let done = self.pending.remove(&key)?;
            return Some(done.parts.into_values().collect());
        }
        None
    }

    /// Forgets incomplete messages first seen before `before`; returns how many were dropped.
    pub fn expire(&mut self, before: i64) -> usize {
        let n = self.pending.len();
        self.pending.retain(|_, p| p.first_seen >= before);
        n - self.pending.len()
    }

    /// How many messages are waiting for parts.
    pub fn incomplete(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_texts_are_one_sms_without_header() {
        let parts = split(&"a".repeat(160), 7).unwrap();
        assert_eq!(parts.len(), 1);
        assert!(parts[0].header.is_empty());
        assert_eq!(split(&"é".repeat(70), 7).unwrap().len(), 1); // é is in the GSM alphabet
        assert_eq!(split(&"ŝ".repeat(70), 7).unwrap()[0].coding, Coding::Ucs2);
    }

    #[test]
    fn long_texts_split_at_the_per_part_room() {
        let parts = split(&"a".repeat(161), 7).unwrap();
        assert_eq!(parts.iter().map(|p| p.text.len()).collect::<Vec<_>>(), [153, 8]);
        assert_eq!(parts[1].concat(), Some(Concat { reference: 7, total: 2, sequence: 2 }));
        let wide = split(&"a".repeat(161), 0x1234).unwrap();
        assert_eq!(wide[0].text.len(), 152);
        assert_eq!(wide[0].header[0].id, 0x08);
    }

    #[test]
    fn escapes_and_surrogate_pairs_are_never_cut() {
        let text = format!("{}€", "a".repeat(152));
        let parts = split(&format!("{text}{}", "b".repeat(10)), 1).unwrap();
        assert_eq!(parts[0].text, "a".repeat(152), "the € (two septets) moves to the next part");
        let emoji = "😀".repeat(40); // 80 UTF-16 units
        let parts = split(&emoji, 1).unwrap();
        assert_eq!(parts[0].text.encode_utf16().count(), 66);
        assert_eq!(parts.iter().map(|p| p.text.as_str()).collect::<String>(), emoji);
    }

    #[test]
    fn parts_in_any_order_and_twice_give_the_text_once() {
        let text = "ŝ".repeat(200) + &"x".repeat(40);
        let parts = split(&text, 42).unwrap();
        assert_eq!(parts.len(), 4);
        let mut r = Reassembler::default();
        assert_eq!(r.push("+41790000000", &parts[2], 0), None);
        assert_eq!(r.push("+41790000000", &parts[0], 1), None);
        assert_eq!(r.push("+41790000000", &parts[2], 2), None);
        assert_eq!(r.push("+41790000001", &parts[1], 2), None, "another sender's part does not mix in");
        assert_eq!(r.push("+41790000000", &parts[3], 3), None);
        assert_eq!(r.push("+41790000000", &parts[1], 4), Some(text));
        assert_eq!(r.incomplete(), 1);
        assert_eq!(r.expire(3), 1);
    }
}
