//! How server functions answer: JSON, read in the browser from text.
//!
//! Leptos's `Json` reads answers from bytes (`serde_json::from_slice`), while an island's properties and
//! the journal's events are read from text (`from_str`): serde_json compiles every type's reader once per
//! input kind, so every type both ways was twice in the WebAssembly. Reading answers from text too keeps
//! one copy. The wire format is unchanged (`application/json`).

use leptos::server_fn::codec::Post;
use leptos::server_fn::{Bytes, ContentType, Decodes, Encodes, Format, FormatType};
use serde::Serialize;
use serde::de::{DeserializeOwned, Error as _};

pub struct TextJsonEncoding;

/// The output encoding of every server function here.
pub type TextJson = Post<TextJsonEncoding>;

impl ContentType for TextJsonEncoding {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl FormatType for TextJsonEncoding {
    const FORMAT_TYPE: Format = Format::Text;
}

impl<T: Serialize> Encodes<T> for TextJsonEncoding {
    type Error = serde_json::Error;

    fn encode(output: &T) -> Result<Bytes, Self::Error> {
        serde_json::to_vec(output).map(Bytes::from)
    }
}

impl<T: DeserializeOwned> Decodes<T> for TextJsonEncoding {
    type Error = serde_json::Error;

    fn decode(bytes: Bytes) -> Result<T, Self::Error> {
        let text = std::str::from_utf8(&bytes).map_err(serde_json::Error::custom)?;
        serde_json::from_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_read_back_as_written() {
        let value = (42_i64, "Genève ✓".to_owned(), vec![Some(1_u16), None]);
        let bytes = <TextJsonEncoding as Encodes<_>>::encode(&value).unwrap();
        let back: (i64, String, Vec<Option<u16>>) = TextJsonEncoding::decode(bytes).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn an_answer_that_is_not_text_is_an_error() {
        let read: Result<String, _> = TextJsonEncoding::decode(Bytes::from_static(b"\"\xff\""));
        assert!(read.is_err());
    }
}
