//! Bank files: what a Swiss bank delivers about the gérance's account, read into
//! `domain::payment::BankTransaction`s.
//!
//! `camt` reads ISO 20022 camt.054 (debit/credit notification) and camt.053 (statement), versions
//! .001.04 and .001.08, one event at a time: memory does not grow with the file. No I/O besides the
//! reader it is given; the caller decides what a transaction becomes (`domain::payment::match_credit`)
//! and stores it.

pub mod camt;

pub use camt::{CamtError, CamtReader, Format, Item, Message};
