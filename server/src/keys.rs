//! Keys as papers and lists: a key's (or a station's) QR-bills drawn from the registry, and the CSV
//! list of keys and holders a gérance keeps, read whole or refused with every bad row named. Shared by
//! the *Clés* page and the command line.

use db::{Db, KeyRow, Scope};
use domain::key::{Holder, HolderField, HolderInput};
use domain::payment::{KeyReference, KeyState, QrBill};
use domain::{KeyNumber, Language, StationId};
use paper::KeyBill;

/// Why no bill could be drawn.
#[derive(Debug, thiserror::Error)]
pub enum BillError {
    #[error("no such station")]
    NoStation,
    #[error("the gérance has no account set yet: the bill needs it")]
    NoAccount,
    #[error("the station has no active key in the registry")]
    NoKeys,
    #[error(transparent)]
    Paper(#[from] paper::PaperError),
    #[error(transparent)]
    Db(#[from] db::DbError),
}

/// The QR-bill of one key, or of every active key of the station (a page each, by number). One key
/// need not be in the registry yet: its bill is how it gets its first payment.
pub async fn qr_bills(
    db: &Db,
    scope: Scope,
    station: StationId,
    key: Option<KeyNumber>,
) -> Result<Vec<u8>, BillError> {
    let record = db.station(scope, station).await?.ok_or(BillError::NoStation)?;
    let creditor = db.creditor(record.gerance.id).await?.ok_or(BillError::NoAccount)?;
    let keys = match key {
        Some(key) => vec![match db.key(scope, station, key).await? {
            Some(k) => (key, k.holder),
            None => (key, Holder::default()),
        }],
        None => db
            .station_keys(scope, station, "", u32::from(u16::MAX) + 1)
            .await?
            .ok_or(BillError::NoStation)?
            .into_iter()
            .filter(|k| k.state == KeyState::Active)
            .map(|k| (k.key, k.holder))
            .collect(),
    };
    if keys.is_empty() {
        return Err(BillError::NoKeys);
    }
    let station_name = record.name.clone();
    let bills: Vec<KeyBill> = keys
        .into_iter()
        .filter_map(|(key, holder)| {
            let language = holder.language.unwrap_or(Language::Fr);
            let message = KeyBill::message(language, key, &station_name);
            let bill = QrBill::for_key(&creditor, KeyReference { station, key }, &message)?;
            Some(KeyBill {
                bill,
                language,
                key,
                station: station_name.clone(),
                holder: holder.name,
                flat: holder.flat,
            })
        })
        .collect();
    Ok(paper::qr_bills(&bills)?)
}

/// The largest key list taken: 1 MB is some 10,000 keys with their holders.
pub const MAX_LIST_BYTES: usize = 1024 * 1024;

/// The columns of a key list, as the template has them. A list may leave out any but `key`, and name
/// them in French or German too.
pub const LIST_COLUMNS: [&str; 7] = ["key", "holder", "flat", "email", "language", "state", "note"];

/// The template offered for download: the header and one example row.
pub fn list_template() -> String {
    format!("{}\r\n34586;Anne Dupont;3.2;anne.dupont@example.ch;fr;active;\r\n", LIST_COLUMNS.join(";"))
}

/// What is wrong with one row of a list (its line in the file, counting the header as 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowProblem {
    /// Not a number from 0 to 65535.
    Key(String),
    /// The same key earlier in the list, on that line.
    Duplicate(u64),
    Field(HolderField),
    /// Not active, blocked or retired.
    State(String),
    /// Not the header's number of columns.
    Columns,
}

/// Why a list was refused: as a whole, or row by row (every bad row, up to a hundred).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    #[error("the list is larger than 1 MB")]
    TooLarge,
    #[error("the list is not text in UTF-8 (save it as \"CSV UTF-8\")")]
    Encoding,
    #[error("the first line must name the columns, with a column \"key\"")]
    Header,
    #[error("unknown column {0:?}")]
    Column(String),
    #[error("the list has no key")]
    Empty,
    #[error("{} bad rows", .0.len())]
    Rows(Vec<(u64, RowProblem)>),
}

impl std::fmt::Display for RowProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Key(found) => write!(f, "key {found:?} is not a number from 0 to 65535"),
            Self::Duplicate(line) => write!(f, "the same key is on line {line}"),
            Self::Field(field) => write!(f, "{} is not valid", field.code()),
            Self::State(found) => write!(f, "state {found:?} is not active, blocked or retired"),
            Self::Columns => f.write_str("not as many columns as the header"),
        }
    }
}

fn column(name: &str) -> Option<usize> {
    let name = name.trim().trim_start_matches('\u{feff}').to_lowercase();
    let canonical = match name.as_str() {
        "clé" | "cle" | "schlüssel" | "schluessel" | "chiave" | "key" => "key",
        "titulaire" | "inhaber" | "titolare" | "holder" | "name" | "nom" => "holder",
        "logement" | "wohnung" | "appartamento" | "flat" | "apartment" => "flat",
        "e-mail" | "email" | "courriel" => "email",
        "langue" | "sprache" | "lingua" | "language" => "language",
        "état" | "etat" | "zustand" | "stato" | "state" => "state",
        "remarque" | "notiz" | "nota" | "note" => "note",
        _ => return None,
    };
    LIST_COLUMNS.iter().position(|c| *c == canonical)
}

/// Reads a key list: CSV in UTF-8 (a byte-order mark is fine), separated by semicolons (as Swiss
/// spreadsheets save it) or commas, a header first. Whole or refused: one bad row refuses the list.
pub fn parse_list(bytes: &[u8]) -> Result<Vec<KeyRow>, ListError> {
    if bytes.len() > MAX_LIST_BYTES {
        return Err(ListError::TooLarge);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| ListError::Encoding)?;
    let text = text.trim_start_matches('\u{feff}');
    let first = text.lines().next().unwrap_or_default();
    let separator = if first.matches(';').count() >= first.matches(',').count() { b';' } else { b',' };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(separator)
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let header = reader.headers().map_err(|_| ListError::Header)?.clone();
    let mut columns = Vec::new();
    for name in &header {
        if name.trim().is_empty() {
            columns.push(None);
            continue;
        }
        columns.push(Some(column(name).ok_or_else(|| ListError::Column(name.chars().take(40).collect()))?));
    }
    if !columns.contains(&Some(0)) {
        return Err(ListError::Header);
    }
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for record in reader.records() {
        let Ok(record) = record else { return Err(ListError::Encoding) };
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(|v| v.trim().is_empty()) {
            continue;
        }
        if record.len() != header.len() {
            problems.push((line, RowProblem::Columns));
            continue;
        }
        let mut values: [&str; 7] = [""; 7];
        for (i, value) in record.iter().enumerate() {
            if let Some(Some(c)) = columns.get(i) {
                values[*c] = value;
            }
        }
        let [key, name, flat, email, language, state, note] = values;
        let key = match KeyNumber::parse(key) {
            Ok(k) => k,
            Err(_) => {
                problems.push((line, RowProblem::Key(key.chars().take(20).collect())));
                continue;
            }
        };
        if let Some(first) = seen.insert(key, line) {
            problems.push((line, RowProblem::Duplicate(first)));
            continue;
        }
        let input = HolderInput {
            name: name.into(),
            flat: flat.into(),
            email: email.into(),
            language: language.into(),
            note: note.into(),
        };
        let holder = match Holder::parse(&input) {
            Ok(h) => h,
            Err(bad) => {
                problems.extend(bad.into_iter().map(|f| (line, RowProblem::Field(f))));
                continue;
            }
        };
        let state = match state.trim().to_lowercase().as_str() {
            "" => None,
            "active" | "actif" | "aktiv" | "attiva" => Some(KeyState::Active),
            "blocked" | "bloquée" | "bloquee" | "gesperrt" | "bloccata" => Some(KeyState::Blocked),
            "retired" | "retirée" | "retiree" | "ausgemustert" | "ritirata" => Some(KeyState::Retired),
            other => {
                problems.push((line, RowProblem::State(other.chars().take(20).collect())));
                continue;
            }
        };
        rows.push(KeyRow { key, holder, state });
    }
    if !problems.is_empty() {
        problems.truncate(100);
        return Err(ListError::Rows(problems));
    }
    if rows.is_empty() {
        return Err(ListError::Empty);
    }
    Ok(rows)
}

/// A gérance's, a station's or a key's statements for a year, and who sends them.
pub struct Statements {
    pub items: Vec<domain::statement::Statement>,
    /// The gérance's creditor name and address, or its name when no account is set.
    pub issuer: Vec<String>,
}

/// Reads the statements of `of` for `year`; `NoStation` when `scope` does not see the gérance or
/// station. An empty list is the caller's to explain (no key had a payment or a top-up).
pub async fn statements(
    db: &Db,
    scope: Scope,
    of: db::StatementsOf,
    year: domain::statement::Year,
) -> Result<Statements, BillError> {
    if let Scope::Gerance(own) = scope
        && own != of.gerance
    {
        return Err(BillError::NoStation);
    }
    let issuer = match db.creditor(of.gerance).await? {
        Some(c) => c.address().lines(),
        None => {
            let gerances = db.list_gerances().await?;
            vec![gerances.iter().find(|g| g.id == of.gerance).map(|g| g.name.to_string()).unwrap_or_default()]
        }
    };
    let items = db.statements(scope, of, year).await?;
    Ok(Statements { items, issuer })
}

/// Today in Zurich, as a statement says when it was made: `04.12.2026`.
pub fn today() -> String {
    let now = domain::Timestamp::now().zurich().to_string();
    now.get(..10).unwrap_or(&now).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_reads_back() {
        let rows = parse_list(list_template().as_bytes()).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].key, KeyNumber(34586));
        assert_eq!(rows[0].holder.language, Some(Language::Fr));
        assert_eq!(rows[0].state, Some(KeyState::Active));
    }

    #[test]
    fn a_spreadsheet_list_in_french_with_commas_quotes_and_a_bom() {
        let list = "\u{feff}Clé,Titulaire,Logement,Langue,État\r\n\
                    00012,\"Müller, Hans\",3.2,de,bloquée\r\n\
                    ,,,,\r\n\
                    65535,\"Anne \"\"Nanou\"\" Dupont\",,,\r\n";
        let rows = parse_list(list.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].holder.name.as_deref(), Some("Müller, Hans"));
        assert_eq!(rows[0].state, Some(KeyState::Blocked));
        assert_eq!(rows[1].holder.name.as_deref(), Some("Anne \"Nanou\" Dupont"));
        assert_eq!(rows[1].state, None);
    }

    #[test]
    fn every_bad_row_is_named_with_its_line() {
        let list = "key;holder;email;language;state\n\
                    1;A;;fr;\n\
                    70000;B;;;\n\
                    2;C;c@;xx;\n\
                    1;D;;;\n\
                    3;E;;;lost\n\
                    4;F\n";
        let Err(ListError::Rows(problems)) = parse_list(list.as_bytes()) else { panic!("refused") };
        assert_eq!(
            problems,
            vec![
                (3, RowProblem::Key("70000".into())),
                (4, RowProblem::Field(HolderField::Email)),
                (4, RowProblem::Field(HolderField::Language)),
                (5, RowProblem::Duplicate(2)),
                (6, RowProblem::State("lost".into())),
                (7, RowProblem::Columns),
            ]
        );
    }

    #[test]
    fn lists_refused_as_a_whole() {
        assert_eq!(parse_list(b"holder;flat\nA;1\n"), Err(ListError::Header));
        assert_eq!(parse_list(b"key;shoe size\n1;44\n"), Err(ListError::Column("shoe size".into())));
        assert_eq!(parse_list(b"key\n"), Err(ListError::Empty));
        assert_eq!(parse_list(b"key;holder\n1;M\xfcller\n"), Err(ListError::Encoding));
        assert_eq!(parse_list(&vec![b'1'; MAX_LIST_BYTES + 1]), Err(ListError::TooLarge));
    }
}
