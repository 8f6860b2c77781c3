//! The four languages of Switzerland the product speaks, for people who never log in (a key's holder).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A holder's language: what the papers sent to them (QR-bill, statement) are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    Fr,
    De,
    It,
    En,
}

impl Language {
    pub const ALL: [Self; 4] = [Self::Fr, Self::De, Self::It, Self::En];

    /// The ISO 639-1 code, as stored and as forms send it.
    pub fn code(self) -> &'static str {
        match self {
            Self::Fr => "fr",
            Self::De => "de",
            Self::It => "it",
            Self::En => "en",
        }
    }
}

impl FromStr for Language {
    type Err = crate::ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        Self::ALL.into_iter().find(|l| l.code() == s).ok_or(crate::ParseError::InvalidLanguage)
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}
