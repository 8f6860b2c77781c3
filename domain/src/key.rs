//! A key as a thing the gérance keeps track of: who holds it, in which flat, in which language papers
//! reach them. Personal data: only the gérance's accounts and the operators see it.

use serde::{Deserialize, Serialize};

use crate::{Email, Language};

/// A field of the holder form (or a column of a key list) that was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HolderField {
    /// Up to 70 characters.
    Name,
    /// Up to 70 characters.
    Flat,
    Email,
    /// fr, de, it or en.
    Language,
    /// Up to 500 characters.
    Note,
}

impl HolderField {
    pub const ALL: [Self; 5] = [Self::Name, Self::Flat, Self::Email, Self::Language, Self::Note];

    pub fn code(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Flat => "flat",
            Self::Email => "email",
            Self::Language => "language",
            Self::Note => "note",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.code() == code)
    }
}

/// What a form or a CSV row gives for a holder, as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HolderInput {
    pub name: String,
    pub flat: String,
    pub email: String,
    pub language: String,
    pub note: String,
}

/// A key's holder, all checked; every part optional (a key may be known only by its number).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub name: Option<String>,
    pub flat: Option<String>,
    pub email: Option<Email>,
    pub language: Option<Language>,
    pub note: Option<String>,
}

impl Holder {
    pub const NAME_CHARS: usize = 70;
    pub const NOTE_CHARS: usize = 500;

    /// Every refused field at once.
    pub fn parse(input: &HolderInput) -> Result<Self, Vec<HolderField>> {
        let mut refused = Vec::new();
        let mut text = |raw: &str, max: usize, field: HolderField| {
            let s = raw.split_whitespace().collect::<Vec<_>>().join(" ");
            if s.chars().count() > max || s.chars().any(char::is_control) {
                refused.push(field);
            }
            (!s.is_empty()).then_some(s)
        };
        let name = text(&input.name, Self::NAME_CHARS, HolderField::Name);
        let flat = text(&input.flat, Self::NAME_CHARS, HolderField::Flat);
        let email = match input.email.trim() {
            "" => None,
            e => Email::parse(e).map_err(|_| refused.push(HolderField::Email)).ok(),
        };
        let language = match input.language.trim() {
            "" => None,
            l => l.parse::<Language>().map_err(|_| refused.push(HolderField::Language)).ok(),
        };
        // A note keeps its line breaks.
        let note = input.note.trim();
        if note.chars().count() > Self::NOTE_CHARS
            || note.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
        {
            refused.push(HolderField::Note);
        }
        let note = (!note.is_empty()).then(|| note.replace("\r\n", "\n"));
        if refused.is_empty() { Ok(Self { name, flat, email, language, note }) } else { Err(refused) }
    }

    /// The holder as the form shows it again.
    pub fn input(&self) -> HolderInput {
        HolderInput {
            name: self.name.clone().unwrap_or_default(),
            flat: self.flat.clone().unwrap_or_default(),
            email: self.email.as_ref().map(|e| e.as_str().to_owned()).unwrap_or_default(),
            language: self.language.map(|l| l.code().to_owned()).unwrap_or_default(),
            note: self.note.clone().unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_reads_back_and_empty_fields_are_none() {
        let input = HolderInput {
            name: "  Anne   Dupont ".into(),
            flat: "3.2".into(),
            email: "anne@example.ch".into(),
            language: "DE".into(),
            note: "Clé de la buanderie\r\nremise le 1er mars".into(),
        };
        let holder = Holder::parse(&input).unwrap();
        assert_eq!(holder.name.as_deref(), Some("Anne Dupont"));
        assert_eq!(holder.language, Some(Language::De));
        assert_eq!(holder.note.as_deref(), Some("Clé de la buanderie\nremise le 1er mars"));
        assert_eq!(Holder::parse(&holder.input()).unwrap(), holder);
        assert_eq!(Holder::parse(&HolderInput::default()).unwrap(), Holder::default());
    }

    #[test]
    fn every_bad_field_is_named() {
        let bad = HolderInput {
            name: "x".repeat(71),
            flat: "a\u{7}".into(),
            email: "anne@".into(),
            language: "rm".into(),
            note: "n".repeat(501),
        };
        assert_eq!(Holder::parse(&bad).unwrap_err(), HolderField::ALL.to_vec());
        for field in HolderField::ALL {
            assert_eq!(HolderField::from_code(field.code()), Some(field));
        }
    }
}
