//! Annual statements on A4 (a key's year from its first page, in its holder's language, continued on
//! further pages as needed) and as CSV for a spreadsheet.

use domain::statement::{Entry, Statement};
use domain::{Language, Total};

use crate::PaperError;
use crate::canvas::{A4_WIDTH, Align, Canvas, Pdf, Weight, wrap};
use crate::words::{StatementWords, statement_words};

const LEFT: f32 = 20.0;
const RIGHT: f32 = A4_WIDTH - 20.0;
/// Where a page's lines stop.
const BOTTOM: f32 = 275.0;
const LINE: f32 = 5.2;
/// The totals' height, and where they must end.
const TOTALS: f32 = 42.0;
const PAGE_END: f32 = 287.0;

fn language(s: &Statement) -> Language {
    s.holder.language.unwrap_or_default()
}

fn chf(rappen: i64) -> String {
    Total::from_rappen(rappen).map_or_else(|_| format!("{rappen}"), |t| t.to_string().replace(" CHF", ""))
}

/// One PDF with every statement, each starting on its own page. `issuer` is who sends them (the
/// gérance's name and address lines); `made` the day they were made, `04.12.2026`.
pub fn statements(items: &[Statement], issuer: &[String], made: &str) -> Result<Vec<u8>, PaperError> {
    let first = items.first().ok_or(PaperError::Empty)?;
    let words = statement_words(language(first));
    let title = match items {
        [one] => format!("{} {:05}", words.title.replace("{year}", &one.year.to_string()), one.key.0),
        _ => words.title.replace("{year}", &first.year.to_string()),
    };
    let mut pdf = Pdf::new(&title, language(first).code());
    for s in items {
        draw(&mut pdf, s, issuer, made);
    }
    pdf.finish()
}

fn draw(pdf: &mut Pdf, s: &Statement, issuer: &[String], made: &str) {
    let w = statement_words(language(s));
    let mut rows: Vec<[String; 5]> = s
        .entries
        .iter()
        .map(|e| match e {
            Entry::Payment { amount, fee_rappen, debtor, loaded, .. } => {
                let what = if *loaded { w.payment } else { w.payment_waiting };
                let what = match debtor {
                    Some(d) => format!("{what} ({d})"),
                    None => what.to_owned(),
                };
                let fee = if *fee_rappen > 0 { chf(*fee_rappen) } else { String::new() };
                [e.day_shown(), what, chf(amount.rappen()), fee, String::new()]
            }
            Entry::TopUp { amount, balance_rappen, .. } => {
                let balance = balance_rappen.map(chf).unwrap_or_default();
                [e.day_shown(), w.top_up.to_owned(), chf(amount.rappen()), String::new(), balance]
            }
        })
        .collect::<Vec<_>>();
    rows.reverse();
    let mut first_page = true;
    let mut done = false;
    while !done {
        pdf.page(|c| {
            let mut y = header(c, s, w, issuer, first_page);
            y = table_head(c, w, y);
            let mut placed = false;
            while let Some(row) = rows.last() {
                let lines = wrap(&row[1], Weight::Regular, 9.0, 66.0);
                let height = LINE * lines.len() as f32;
                // A page takes at least one line, however tall: no page is ever empty.
                if y + height > BOTTOM && placed {
                    break;
                }
                placed = true;
                let row = rows.pop().unwrap_or_default();
                c.text(LEFT, y, &row[0], Weight::Regular, 9.0, Align::Left);
                for (i, line) in lines.iter().enumerate() {
                    c.text(LEFT + 22.0, y + LINE * i as f32, line, Weight::Regular, 9.0, Align::Left);
                }
                c.text(LEFT + 110.0, y, &row[2], Weight::Regular, 9.0, Align::Right);
                c.text(LEFT + 135.0, y, &row[3], Weight::Regular, 9.0, Align::Right);
                c.text(RIGHT, y, &row[4], Weight::Regular, 9.0, Align::Right);
                y += height;
            }
            // The totals (about 40 mm) go under the last line, or on a page of their own.
            if rows.is_empty() && y + TOTALS <= PAGE_END {
                if s.entries.is_empty() {
                    c.text(LEFT, y + 2.0, w.nothing, Weight::Regular, 10.0, Align::Left);
                    y += LINE;
                }
                totals(c, s, w, y + 4.0, made);
                done = true;
            }
        });
        first_page = false;
    }
}

fn header(c: &mut Canvas<'_, '_>, s: &Statement, w: &StatementWords, issuer: &[String], first: bool) -> f32 {
    let mut y = 22.0;
    for line in issuer {
        c.text(LEFT, y, line, Weight::Regular, 10.0, Align::Left);
        y += 4.5;
    }
    let title = w.title.replace("{year}", &s.year.to_string());
    let title = if first { title } else { format!("{title} {}", w.continued) };
    let mut y = y.max(40.0) + 8.0;
    c.text(LEFT, y, &title, Weight::Bold, 16.0, Align::Left);
    y += 9.0;
    let mut facts = vec![(w.key, format!("{:05}", s.key.0)), (w.station, s.station_name.clone())];
    if let Some(name) = &s.holder.name {
        facts.push((w.holder, name.clone()));
    }
    if let Some(flat) = &s.holder.flat {
        facts.push((w.flat, flat.clone()));
    }
    for (label, value) in facts {
        c.text(LEFT, y, label, Weight::Bold, 10.0, Align::Left);
        c.text(LEFT + 30.0, y, &value, Weight::Regular, 10.0, Align::Left);
        y += 5.0;
    }
    y + 5.0
}

fn table_head(c: &mut Canvas<'_, '_>, w: &StatementWords, y: f32) -> f32 {
    c.text(LEFT, y, w.date, Weight::Bold, 8.0, Align::Left);
    c.text(LEFT + 22.0, y, w.operation, Weight::Bold, 8.0, Align::Left);
    c.text(LEFT + 110.0, y, w.amount, Weight::Bold, 8.0, Align::Right);
    c.text(LEFT + 135.0, y, w.fee, Weight::Bold, 8.0, Align::Right);
    c.text(RIGHT, y, w.balance, Weight::Bold, 8.0, Align::Right);
    c.line(&[(LEFT, y + 1.8), (RIGHT, y + 1.8)], 0.5, false);
    y + 6.5
}

fn totals(c: &mut Canvas<'_, '_>, s: &Statement, w: &StatementWords, y: f32, made: &str) {
    c.line(&[(LEFT, y - 3.5), (RIGHT, y - 3.5)], 0.5, false);
    let mut y = y + 2.0;
    let mut lines = vec![
        (w.paid, chf(s.paid().rappen())),
        (w.fees, chf(s.fees().rappen())),
        (w.loaded, chf(s.loaded().rappen())),
    ];
    if let Some((day, balance)) = s.last_balance() {
        lines.push((w.last_balance, format!("{} ({day})", chf(balance))));
    }
    for (label, value) in lines {
        c.text(LEFT, y, label, Weight::Bold, 10.0, Align::Left);
        c.text(LEFT + 110.0, y, &value, Weight::Regular, 10.0, Align::Right);
        y += 5.5;
    }
    c.text(LEFT, y + 6.0, &w.made.replace("{date}", made), Weight::Regular, 8.0, Align::Left);
}

/// The statements as CSV in `language` (the asker's): UTF-8 with a byte-order mark, semicolons, CRLF,
/// as spreadsheets in Switzerland open it; amounts in CHF with a point and two decimals.
pub fn statements_csv(items: &[Statement], language: Language) -> String {
    let w = statement_words(language);
    let mut out = String::from("\u{feff}");
    let header = [w.station, w.key, w.holder, w.date, w.operation, w.amount, w.fee, w.balance];
    out.push_str(&header.map(field).join(";"));
    out.push_str("\r\n");
    let plain = |rappen: i64| format!("{}.{:02}", rappen / 100, rappen % 100);
    for s in items {
        for e in &s.entries {
            let (what, amount, fee, balance) = match e {
                Entry::Payment { amount, fee_rappen, loaded, .. } => {
                    let what = if *loaded { w.payment } else { w.payment_waiting };
                    (what, plain(amount.rappen()), plain(*fee_rappen), String::new())
                }
                Entry::TopUp { amount, balance_rappen, .. } => (
                    w.top_up,
                    plain(amount.rappen()),
                    String::new(),
                    balance_rappen.map(plain).unwrap_or_default(),
                ),
            };
            let row = [
                field(&s.station_name),
                format!("{:05}", s.key.0),
                field(s.holder.name.as_deref().unwrap_or_default()),
                e.day_shown(),
                field(what),
                amount,
                fee,
                balance,
            ];
            out.push_str(&row.join(";"));
            out.push_str("\r\n");
        }
    }
    out
}

/// A text field, quoted when it holds a separator, a quote or a line end; a leading `=`, `+`, `-`, `@`
/// is prefixed with `'` so that a spreadsheet never runs a holder's name as a formula.
fn field(text: &str) -> String {
    let text = match text.chars().next() {
        Some('=' | '+' | '-' | '@') => format!("'{text}"),
        _ => text.to_owned(),
    };
    if text.contains([';', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text }
}

#[cfg(test)]
mod tests {
    use domain::key::Holder;
    use domain::payment::Day;
    use domain::statement::Year;
    use domain::{Amount, KeyNumber, StationId, Timestamp};

    use super::*;

    fn statement(lines: usize) -> Statement {
        let holder = Holder {
            name: Some("=Anne; \"Nanou\"".into()),
            language: Some(Language::De),
            ..Holder::default()
        };
        let mut s = Statement::new(
            Year::parse("2026").unwrap(),
            StationId(1),
            "Buanderie".into(),
            KeyNumber(42),
            holder,
        );
        for i in 0..lines {
            s.entries.push(Entry::Payment {
                day: Day::parse("2026-03-02").unwrap(),
                amount: Amount::from_rappen(2_000).unwrap(),
                fee_rappen: 50,
                debtor: Some("Anne Dupont".into()),
                loaded: i % 2 == 0,
            });
            s.entries.push(Entry::TopUp {
                at: Timestamp(1_772_442_000_000),
                amount: Amount::from_rappen(1_950).unwrap(),
                balance_rappen: Some(1_950 * (i as i64 + 1)),
            });
        }
        s
    }

    #[test]
    fn a_long_year_continues_on_more_pages_and_an_empty_one_says_so() {
        let issuer = ["Gérance Exemple SA".to_owned(), "Rue du Lac 12".to_owned(), "1950 Sion".to_owned()];
        let one = statements(&[statement(3)], &issuer, "04.12.2026").unwrap();
        assert!(String::from_utf8_lossy(&one).contains("/Type/Pages/Count 1"));
        let pages = |pdf: &[u8]| {
            let text = String::from_utf8_lossy(pdf);
            let count = text.split("/Type/Pages/Count ").nth(1).unwrap_or_default();
            count.chars().take_while(char::is_ascii_digit).collect::<String>().parse::<usize>().unwrap()
        };
        // 120 lines, some wrapped onto two: at most 36 lines a page.
        let long = pages(&statements(&[statement(60)], &issuer, "04.12.2026").unwrap());
        assert!((4..=7).contains(&long), "{long} pages");
        let both = statements(&[statement(0), statement(1)], &issuer, "04.12.2026").unwrap();
        assert!(String::from_utf8_lossy(&both).contains("/Type/Pages/Count 2"), "a page each");
        assert!(matches!(statements(&[], &issuer, ""), Err(PaperError::Empty)));
    }

    #[test]
    fn the_csv_is_what_a_spreadsheet_opens_and_runs_no_formula() {
        let csv = statements_csv(&[statement(1)], Language::Fr);
        let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').split("\r\n").collect();
        assert_eq!(lines[0], "Station;Clé;Titulaire;Date;Opération;Montant (CHF);Frais (CHF);Solde (CHF)");
        assert_eq!(
            lines[1],
            "Buanderie;00042;\"'=Anne; \"\"Nanou\"\"\";02.03.2026;Paiement reçu;20.00;0.50;"
        );
        assert_eq!(
            lines[2],
            "Buanderie;00042;\"'=Anne; \"\"Nanou\"\"\";02.03.2026;Recharge chargée sur la clé;19.50;;19.50"
        );
        assert!(csv.starts_with('\u{feff}') && csv.ends_with("\r\n"));
    }
}
