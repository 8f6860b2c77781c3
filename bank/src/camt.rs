//! ISO 20022 camt.053 / camt.054 (.001.04 and .001.08), streamed.
//!
//! What is read, per statement or notification: the account's IBAN (`Acct/Id/IBAN`), and per entry
//! (`Ntry`) and each of its transactions (`NtryDtls/TxDtls`, several in a batched entry): amount and
//! currency, credit or debit, reversal, status, booking and value dates, the bank's references, the
//! structured reference (`RmtInf/Strd/CdtrRefInf/Ref`), the unstructured text (`RmtInf/Ustrd`, and
//! `Strd/AddtlRmtInf`, where the QR-bill's message arrives), the debtor's name and IBAN. Everything
//! else is skipped. An entry without transaction details is one transaction.
//!
//! Refused, with a message that names what was found: a document that is not well-formed, a DTD or
//! any entity besides XML's five (no expansion: XXE and "billion laughs" cannot happen), a root that is
//! not a camt.053/054 `Document` of a supported version, an encoding other than UTF-8, nesting deeper
//! than any camt message, a field longer than its schema allows several times over, an amount that is
//! negative or has more than two decimals, a statement without an IBAN.

use std::borrow::Cow;
use std::fmt;
use std::io::BufRead;

use domain::payment::{BankTransaction, Currency, Day, Direction, Iban};
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};
use sha2::{Digest, Sha256};

/// Which message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    /// camt.053, the account statement.
    Statement,
    /// camt.054, the debit/credit notification.
    Notification,
}

/// A message and its version, as the document's namespace names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format {
    pub message: Message,
    /// 4 or 8 (`camt.054.001.04`, `camt.054.001.08`).
    pub version: u8,
}

impl Format {
    const SUPPORTED: [u8; 2] = [4, 8];

    fn from_namespace(ns: &str) -> Option<Self> {
        let name = ns.strip_prefix("urn:iso:std:iso:20022:tech:xsd:")?;
        let (message, version) = match name.split_at_checked(12)? {
            ("camt.053.001", v) => (Message::Statement, v),
            ("camt.054.001", v) => (Message::Notification, v),
            _ => return None,
        };
        let version: u8 = version.strip_prefix('.')?.parse().ok()?;
        Self::SUPPORTED.contains(&version).then_some(Self { message, version })
    }

    /// The element under `Document` and the one per account.
    fn elements(self) -> (&'static str, &'static str) {
        match self.message {
            Message::Statement => ("BkToCstmrStmt", "Stmt"),
            Message::Notification => ("BkToCstmrDbtCdtNtfctn", "Ntfctn"),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = match self.message {
            Message::Statement => "053",
            Message::Notification => "054",
        };
        write!(f, "camt.{n}.001.{:02}", self.version)
    }
}

/// Why a file was refused. The messages are for the person who uploaded it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CamtError {
    #[error("the file is not well-formed XML (at byte {at}): {why}")]
    Malformed { at: u64, why: String },
    #[error("the file declares a document type (DTD); bank files have none, and it is not read")]
    Doctype,
    #[error("the file uses the entity &{0}; which is not one of XML's own; entities are not expanded")]
    Entity(String),
    #[error("the file is encoded as {0}; camt files are UTF-8")]
    Encoding(String),
    #[error("the file is empty or has no root element")]
    Empty,
    #[error("this is not a camt.053 or camt.054 file: its root is <{root}> in namespace \"{namespace}\"")]
    NotCamt { root: String, namespace: String },
    #[error("{found} is not supported: camt.053 and camt.054 in versions .001.04 and .001.08 are")]
    Version { found: String },
    #[error("<{0}> is nested deeper than any camt message")]
    TooDeep(String),
    #[error("<{0}> is longer than a camt message allows")]
    TooLong(String),
    #[error("the account of statement {0} has no IBAN")]
    NoIban(String),
    #[error("the account's IBAN \"{0}\" is not valid")]
    BadIban(String),
    #[error("entry {entry}: the amount \"{found}\" is not a positive amount with at most two decimals")]
    Amount { entry: u64, found: String },
    #[error("entry {entry}: {field} is missing")]
    Missing { entry: u64, field: &'static str },
    #[error("entry {entry}: {field} is \"{found}\"")]
    Invalid { entry: u64, field: &'static str, found: String },
}

/// What the reader hands out, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A statement's or notification's account; every transaction after it, up to the next, is on it.
    Account(Iban),
    Transaction(BankTransaction),
}

/// Deeper than any path of camt.053/054 (about 15 levels); a deeper one is an attack or a mistake.
const MAX_DEPTH: usize = 32;
/// The longest field read is 500 characters (`Max500Text`), IBANs 34, references 35, texts 140.
const MAX_TEXT: usize = 4_096;
/// What is kept of the unstructured text of one transaction.
const MAX_REMITTANCE: usize = 1_000;

/// A streaming reader: `CamtReader::new` reads up to the root element (and refuses what is not
/// camt); `next` returns the items one by one.
pub struct CamtReader<R> {
    xml: Reader<R>,
    buf: Vec<u8>,
    format: Format,
    message_id: Option<String>,
    /// Local names from the root's child down to the current element.
    path: Vec<String>,
    text: String,
    /// The current element's `Ccy` attribute (an amount's currency).
    ccy: Option<String>,
    statement: Option<Statement>,
    entry: Option<Entry>,
    tx: Option<Tx>,
    entries: u64,
    done: bool,
}

#[derive(Default)]
struct Statement {
    id: String,
    iban: Option<String>,
    announced: bool,
}

#[derive(Default)]
struct Entry {
    number: u64,
    amount: Option<(String, String)>,
    direction: Option<String>,
    reversal: bool,
    status: Option<String>,
    booking: Option<String>,
    value: Option<String>,
    bank_ref: Option<String>,
    transactions: u32,
    additional: Option<String>,
}

#[derive(Default)]
struct Tx {
    amount: Option<(String, String)>,
    tx_amount: Option<(String, String)>,
    direction: Option<String>,
    bank_ref: Option<String>,
    end_to_end: Option<String>,
    reference: Option<String>,
    texts: Vec<String>,
    debtor_name: Option<String>,
    debtor_iban: Option<String>,
}

impl<R: BufRead> CamtReader<R> {
    pub fn new(input: R) -> Result<Self, CamtError> {
        let mut xml = Reader::from_reader(input);
        let config = xml.config_mut();
        config.expand_empty_elements = true;
        config.check_end_names = true;
        let mut buf = Vec::new();
        let format = loop {
            let at = xml.buffer_position();
            match xml.read_event_into(&mut buf).map_err(|e| malformed(at, e))? {
                Event::Decl(decl) => {
                    if let Some(encoding) = decl.encoding() {
                        let encoding = encoding.map_err(|e| malformed(at, e))?;
                        if !encoding.eq_ignore_ascii_case("utf-8") {
                            return Err(CamtError::Encoding(encoding.into_owned()));
                        }
                    }
                }
                Event::DocType(_) => return Err(CamtError::Doctype),
                Event::Start(root) => break root_format(&root)?,
                Event::Eof => return Err(CamtError::Empty),
                Event::Text(_) | Event::Comment(_) | Event::PI(_) => {}
                Event::End(_) | Event::Empty(_) | Event::CData(_) | Event::GeneralRef(_) => {
                    return Err(CamtError::Empty);
                }
            }
            buf.clear();
        };
        Ok(Self {
            xml,
            buf,
            format,
            message_id: None,
            path: Vec::new(),
            text: String::new(),
            ccy: None,
            statement: None,
            entry: None,
            tx: None,
            entries: 0,
            done: false,
        })
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// The message's id (`GrpHdr/MsgId`), once read (it comes before the first account).
    pub fn message_id(&self) -> Option<&str> {
        self.message_id.as_deref()
    }

    /// The next account or transaction; `None` at the end of the document.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Item>, CamtError> {
        if self.done {
            return Ok(None);
        }
        loop {
            self.buf.clear();
            let at = self.xml.buffer_position();
            let event = self.xml.read_event_into(&mut self.buf).map_err(|e| malformed(at, e))?;
            match event {
                Event::Start(e) => {
                    let name = e.local_name().as_ref().to_owned();
                    if self.path.len() >= MAX_DEPTH {
                        return Err(CamtError::TooDeep(name));
                    }
                    self.ccy = None;
                    for attr in e.attributes() {
                        let attr = attr.map_err(|e| malformed(at, e))?;
                        if attr.key.local_name().as_ref() == "Ccy" {
                            let value = attr
                                .normalized_value(XmlVersion::Implicit1_0)
                                .map_err(|e| malformed(at, e))?;
                            self.ccy = Some(value.into_owned());
                        }
                    }
                    self.path.push(name);
                    self.text.clear();
                    self.opened();
                }
                Event::Text(t) => push_text(&mut self.text, &self.path, &t.xml10_content())?,
                Event::CData(t) => push_text(&mut self.text, &self.path, &t.xml10_content())?,
                Event::GeneralRef(r) => {
                    let c = match r.resolve_char_ref().map_err(|e| malformed(at, e))? {
                        Some(c) => c,
                        None => match &*r {
                            "amp" => '&',
                            "lt" => '<',
                            "gt" => '>',
                            "quot" => '"',
                            "apos" => '\'',
                            other => return Err(CamtError::Entity(other.to_owned())),
                        },
                    };
                    push_text(&mut self.text, &self.path, c.encode_utf8(&mut [0; 4]))?;
                }
                Event::End(_) => {
                    if self.path.is_empty() {
                        // The root's end: nothing may follow but comments and white space.
                        self.done = true;
                        return Ok(None);
                    }
                    let item = self.closed()?;
                    self.path.pop();
                    self.text.clear();
                    if item.is_some() {
                        return Ok(item);
                    }
                }
                Event::DocType(_) => return Err(CamtError::Doctype),
                Event::Eof => {
                    return Err(CamtError::Malformed {
                        at,
                        why: "the document ends before its root element".into(),
                    });
                }
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::Empty(_) => {}
            }
        }
    }

    /// At an element's start: a new statement, entry or transaction.
    fn opened(&mut self) {
        let (top, per_account) = self.format.elements();
        let p: Vec<&str> = self.path.iter().map(String::as_str).collect();
        match p.as_slice() {
            [t, s] if *t == top && *s == per_account => self.statement = Some(Statement::default()),
            [t, s, "Ntry"] if *t == top && *s == per_account => {
                self.entries += 1;
                self.entry = Some(Entry { number: self.entries, ..Entry::default() });
            }
            [t, s, "Ntry", "NtryDtls", "TxDtls"] if *t == top && *s == per_account => {
                self.tx = Some(Tx::default())
            }
            _ => {}
        }
    }

    /// At an element's end, with its text: keeps what it says; returns an item when one is complete.
    fn closed(&mut self) -> Result<Option<Item>, CamtError> {
        let (top, per_account) = self.format.elements();
        let depth = self.path.len();
        if depth < 2 || self.path[0] != top {
            return Ok(None);
        }
        if depth == 3 && self.path[1] == "GrpHdr" && self.path[2] == "MsgId" {
            self.message_id = Some(self.text.trim().to_owned());
            return Ok(None);
        }
        if self.path[1] != per_account {
            return Ok(None);
        }
        let text = std::mem::take(&mut self.text).trim().to_owned();
        let ccy = self.ccy.take();
        let below = self.path[2..].to_vec();
        let rel: Vec<&str> = below.iter().map(String::as_str).collect();
        match rel.as_slice() {
            [] => {
                self.statement = None;
                Ok(None)
            }
            ["Id"] => {
                if let Some(s) = &mut self.statement {
                    s.id = text;
                }
                Ok(None)
            }
            ["Acct", "Id", "IBAN"] => {
                if let Some(s) = &mut self.statement {
                    s.iban = Some(text);
                }
                Ok(None)
            }
            ["Acct"] => self.announce(),
            ["Ntry", rest @ ..] => self.entry_field(rest, text, ccy),
            _ => Ok(None),
        }
    }

    /// The account, once its `Acct` element is read (it comes before the entries).
    fn announce(&mut self) -> Result<Option<Item>, CamtError> {
        let Some(s) = &mut self.statement else { return Ok(None) };
        s.announced = true;
        let raw = s.iban.clone().ok_or_else(|| CamtError::NoIban(s.id.clone()))?;
        let iban = Iban::parse(&raw).map_err(|_| CamtError::BadIban(raw))?;
        Ok(Some(Item::Account(iban)))
    }

    fn entry_field(
        &mut self,
        rel: &[&str],
        text: String,
        ccy: Option<String>,
    ) -> Result<Option<Item>, CamtError> {
        if !self.statement.as_ref().is_some_and(|s| s.announced) {
            let id = self.statement.as_ref().map(|s| s.id.clone()).unwrap_or_default();
            return Err(CamtError::NoIban(id));
        }
        if rel.is_empty() {
            let Some(entry) = self.entry.take() else { return Ok(None) };
            if entry.transactions > 0 {
                return Ok(None);
            }
            return self.transaction(&entry, Tx::default()).map(Some);
        }
        let Some(entry) = &mut self.entry else { return Ok(None) };
        match rel {
            ["Amt"] => entry.amount = Some((text, ccy.unwrap_or_default())),
            ["CdtDbtInd"] => entry.direction = Some(text),
            ["RvslInd"] => entry.reversal = text == "true" || text == "1",
            ["Sts"] | ["Sts", "Cd"] if !text.is_empty() => entry.status = Some(text),
            ["BookgDt", "Dt" | "DtTm"] => entry.booking = Some(text),
            ["ValDt", "Dt" | "DtTm"] => entry.value = Some(text),
            ["AcctSvcrRef"] => entry.bank_ref = Some(text),
            ["AddtlNtryInf"] => entry.additional = Some(text),
            ["NtryDtls", "TxDtls", rest @ ..] => return self.tx_field(rest, text, ccy),
            _ => {}
        }
        Ok(None)
    }

    fn tx_field(
        &mut self,
        rel: &[&str],
        text: String,
        ccy: Option<String>,
    ) -> Result<Option<Item>, CamtError> {
        if rel.is_empty() {
            let (Some(tx), Some(mut entry)) = (self.tx.take(), self.entry.take()) else { return Ok(None) };
            entry.transactions += 1;
            let result = self.transaction(&entry, tx);
            self.entry = Some(entry);
            return result.map(Some);
        }
        let Some(tx) = &mut self.tx else { return Ok(None) };
        match rel {
            ["Refs", "AcctSvcrRef"] => tx.bank_ref = Some(text),
            ["Refs", "EndToEndId"] => tx.end_to_end = Some(text),
            ["Amt"] => tx.amount = Some((text, ccy.unwrap_or_default())),
            ["AmtDtls", "TxAmt", "Amt"] => tx.tx_amount = Some((text, ccy.unwrap_or_default())),
            ["CdtDbtInd"] => tx.direction = Some(text),
            ["RltdPties", "Dbtr", "Nm"] | ["RltdPties", "Dbtr", "Pty", "Nm"] => tx.debtor_name = Some(text),
            ["RltdPties", "DbtrAcct", "Id", "IBAN"] => tx.debtor_iban = Some(text),
            ["RmtInf", "Strd", "CdtrRefInf", "Ref"] => tx.reference = Some(text),
            ["RmtInf", "Ustrd"] if !text.is_empty() => tx.texts.push(text),
            // PostFinance writes its own codes here (`?REJECT?0`); the QR-bill's message is plain text.
            ["RmtInf", "Strd", "AddtlRmtInf"] if !text.is_empty() && !text.starts_with('?') => {
                tx.texts.push(text)
            }
            _ => {}
        }
        Ok(None)
    }

    /// One transaction: the transaction's own fields, else its entry's.
    fn transaction(&self, entry: &Entry, tx: Tx) -> Result<Item, CamtError> {
        let n = entry.number;
        let (amount, ccy) = tx
            .amount
            .clone()
            .or_else(|| tx.tx_amount.clone())
            .or_else(|| (entry.transactions <= 1).then(|| entry.amount.clone()).flatten())
            .ok_or(CamtError::Missing { entry: n, field: "the transaction's amount (Amt)" })?;
        let amount_minor =
            minor_units(&amount).ok_or(CamtError::Amount { entry: n, found: amount.clone() })?;
        let currency = Currency::parse(&ccy).ok_or_else(|| CamtError::Invalid {
            entry: n,
            field: "the currency (Ccy)",
            found: ccy.clone(),
        })?;
        let direction = match tx.direction.as_deref().or(entry.direction.as_deref()) {
            Some("CRDT") => Direction::Credit,
            Some("DBIT") => Direction::Debit,
            Some(other) => {
                return Err(CamtError::Invalid {
                    entry: n,
                    field: "credit or debit (CdtDbtInd)",
                    found: other.into(),
                });
            }
            None => return Err(CamtError::Missing { entry: n, field: "credit or debit (CdtDbtInd)" }),
        };
        let status =
            entry.status.as_deref().ok_or(CamtError::Missing { entry: n, field: "the status (Sts)" })?;
        let day = |raw: &Option<String>, field: &'static str| -> Result<Option<Day>, CamtError> {
            raw.as_deref()
                .map(|s| Day::parse(s).ok_or(CamtError::Invalid { entry: n, field, found: s.to_owned() }))
                .transpose()
        };
        let booking_date = day(&entry.booking, "the booking date (BookgDt)")?;
        let value_date = day(&entry.value, "the value date (ValDt)")?;
        let mut text = tx.texts.join(" ");
        if text.is_empty() && entry.transactions <= 1 {
            text = entry.additional.clone().unwrap_or_default();
        }
        let text = shorten(text.split_whitespace().collect::<Vec<_>>().join(" "), MAX_REMITTANCE);
        let none_if_empty = |s: Option<String>| s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        let bank_ref = bank_ref(entry, &tx, &amount, &ccy);
        Ok(Item::Transaction(BankTransaction {
            bank_ref,
            direction,
            reversal: entry.reversal,
            booked: status == "BOOK",
            amount_minor,
            currency,
            booking_date,
            value_date,
            reference: none_if_empty(tx.reference),
            text: (!text.is_empty()).then_some(text),
            debtor_name: none_if_empty(tx.debtor_name),
            debtor_iban: none_if_empty(tx.debtor_iban),
        }))
    }
}

/// The key that makes a transaction the same in every file: the bank's reference for the transaction;
/// else its entry's, numbered within the entry; else (a bank that gives neither) a digest of what the
/// file says of it.
fn bank_ref(entry: &Entry, tx: &Tx, amount: &str, ccy: &str) -> String {
    if let Some(r) = tx.bank_ref.as_deref().filter(|r| !r.is_empty()) {
        return r.to_owned();
    }
    if let Some(r) = entry.bank_ref.as_deref().filter(|r| !r.is_empty()) {
        return if entry.transactions == 0 { r.to_owned() } else { format!("{r}/{}", entry.transactions) };
    }
    let mut digest = Sha256::new();
    for part in [
        entry.booking.as_deref(),
        entry.value.as_deref(),
        Some(amount),
        Some(ccy),
        tx.direction.as_deref().or(entry.direction.as_deref()),
        tx.end_to_end.as_deref(),
        tx.reference.as_deref(),
        tx.debtor_iban.as_deref(),
        tx.debtor_name.as_deref(),
        Some(&entry.transactions.to_string()),
    ] {
        digest.update(part.unwrap_or("").as_bytes());
        digest.update([0]);
    }
    let hex: String = digest.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// `522.10` → 52210; more than two decimals only when they are zeros; no sign, no exponent.
fn minor_units(raw: &str) -> Option<i64> {
    let (whole, frac) = raw.split_once('.').unwrap_or((raw, ""));
    if whole.is_empty() || whole.len() > 15 || frac.len() > 5 {
        return None;
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if frac.len() > 2 && frac[2..].bytes().any(|b| b != b'0') {
        return None;
    }
    let cents = format!("{:0<2}", frac.get(..2).unwrap_or(frac));
    whole.parse::<i64>().ok()?.checked_mul(100)?.checked_add(cents.parse().ok()?)
}

/// Adds to the current element's text, within bounds.
fn push_text(text: &mut String, path: &[String], s: &str) -> Result<(), CamtError> {
    if text.len() + s.len() > MAX_TEXT {
        return Err(CamtError::TooLong(path.last().cloned().unwrap_or_default()));
    }
    text.push_str(s);
    Ok(())
}

fn shorten(s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

fn root_format(root: &BytesStart<'_>) -> Result<Format, CamtError> {
    let qname = root.name();
    let name = qname.as_ref();
    let local = root.local_name().as_ref().to_owned();
    let wanted = match name.split_once(':') {
        Some((prefix, _)) => Cow::Owned(format!("xmlns:{prefix}")),
        None => Cow::Borrowed("xmlns"),
    };
    let mut namespace = String::new();
    for attr in root.attributes() {
        let attr = attr.map_err(|e| malformed(0, e))?;
        if attr.key.as_ref() == wanted {
            namespace =
                attr.normalized_value(XmlVersion::Implicit1_0).map_err(|e| malformed(0, e))?.into_owned();
        }
    }
    if local != "Document" || !namespace.starts_with("urn:iso:std:iso:20022:tech:xsd:") {
        return Err(CamtError::NotCamt { root: name.to_owned(), namespace });
    }
    Format::from_namespace(&namespace).ok_or_else(|| CamtError::Version {
        found: namespace.trim_start_matches("urn:iso:std:iso:20022:tech:xsd:").to_owned(),
    })
}

fn malformed(at: u64, e: impl fmt::Display) -> CamtError {
    CamtError::Malformed { at, why: e.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_whole_minor_units() {
        assert_eq!(minor_units("522.10"), Some(52_210));
        assert_eq!(minor_units("522.1"), Some(52_210));
        assert_eq!(minor_units("522"), Some(52_200));
        assert_eq!(minor_units("0.05"), Some(5));
        assert_eq!(minor_units("1.23000"), Some(123));
        for bad in ["", "-1.00", "1.234", "1e3", "1,00", ".5", "1.234567", "9999999999999999"] {
            assert_eq!(minor_units(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn namespaces_name_the_format() {
        let f = Format::from_namespace("urn:iso:std:iso:20022:tech:xsd:camt.054.001.08").unwrap();
        assert_eq!(
            (f.message, f.version, f.to_string().as_str()),
            (Message::Notification, 8, "camt.054.001.08")
        );
        let f = Format::from_namespace("urn:iso:std:iso:20022:tech:xsd:camt.053.001.04").unwrap();
        assert_eq!(f.to_string(), "camt.053.001.04");
        for other in [
            "urn:iso:std:iso:20022:tech:xsd:camt.054.001.02",
            "urn:iso:std:iso:20022:tech:xsd:camt.052.001.08",
            "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09",
            "urn:iso:std:iso:20022:tech:xsd:camt.054.001",
        ] {
            assert_eq!(Format::from_namespace(other), None, "{other}");
        }
    }
}
