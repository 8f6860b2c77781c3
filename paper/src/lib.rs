//! The papers Recharge hands out, as PDF: a key's QR-bill ([`qr_bills`]) and its annual statement
//! ([`statements`], [`statements_csv`]).
//!
//! What a paper says is decided elsewhere (the bill's payload and words in `domain::payment`, the
//! statement's lines by the database); this crate only lays it out on A4. Measurements are in
//! millimetres from the page's top-left corner, as the QR-bill guidelines give them. The one font is
//! Liberation Sans (SIL Open Font License, `fonts/LICENSE`), one of the four the guidelines allow,
//! embedded and subset to the glyphs used.

mod canvas;
mod qr_bill;
mod statement;
mod words;

pub use qr_bill::{KeyBill, qr_bills};
pub use statement::{statements, statements_csv};

/// Why a PDF could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PaperError {
    #[error("the QR code cannot hold the bill's {0} characters")]
    QrCode(usize),
    #[error("the PDF could not be written: {0}")]
    Pdf(String),
    #[error("nothing to print")]
    Empty,
}
