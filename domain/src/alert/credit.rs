//! Reading a prepaid SIM's credit from the network's answer to the balance code (USSD).
//!
//! The Swiss operators answer in the SIM's language with a sentence, not a number: "Votre crédit est de
//! CHF 12.50.", "Ihr Guthaben beträgt 7.35 CHF, gültig bis 31.12.2026", "Il suo credito: Fr. 5.–",
//! "Your balance is CHF 1'250.00". The amount is the number written next to a currency mark (`CHF`,
//! `Fr.`, `SFr.`), before or after it; dates, phone numbers and other numbers in the sentence are not
//! read as the credit. An answer with no such amount is `None`: the caller says that the credit could not
//! be read rather than guessing.

/// The credit in Rappen (negative when the operator reports a debt), or `None` when no amount next to a
/// currency mark is in `answer`.
pub fn ussd_credit(answer: &str) -> Option<i64> {
    let tokens = tokens(answer);
    for (i, token) in tokens.iter().enumerate() {
        if !matches!(token, Token::Currency) {
            continue;
        }
        // "CHF 12.50" first, then "12.50 CHF".
        if let Some(Token::Number(rappen)) = tokens.get(i + 1) {
            return Some(*rappen);
        }
        if let Some(Token::Number(rappen)) = i.checked_sub(1).and_then(|j| tokens.get(j)) {
            return Some(*rappen);
        }
    }
    None
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Token {
    Currency,
    Number(i64),
    Other,
}

/// Words, currency marks and amounts; punctuation between words is dropped, a colon or a space between
/// a mark and its amount does not separate them.
fn tokens(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphabetic() {
            let start = i;
            while i < chars.len() && chars[i].is_alphabetic() {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect::<String>().to_lowercase();
            out.push(if matches!(word.as_str(), "chf" | "fr" | "sfr" | "frs" | "fs") {
                Token::Currency
            } else {
                Token::Other
            });
        } else if c.is_ascii_digit() || (c == '-' || c == '−') && next_is_digit(&chars, i) {
            let (rappen, end) = number(&chars, i);
            i = end;
            out.push(rappen.map_or(Token::Other, Token::Number));
        } else {
            i += 1;
        }
    }
    out
}

fn next_is_digit(chars: &[char], i: usize) -> bool {
    chars.get(i + 1).is_some_and(char::is_ascii_digit)
}

/// An amount starting at `start`: digits with `'` or `’` grouping, a decimal point or comma and up to
/// two decimals, or `.-` / `.–` for whole francs. A date (`31.12.2026`) or a time is not an amount.
fn number(chars: &[char], start: usize) -> (Option<i64>, usize) {
    let mut i = start;
    let negative = matches!(chars[i], '-' | '−');
    if negative {
        i += 1;
    }
    let mut francs: i64 = 0;
    let mut digits = 0;
    while i < chars.len() {
        match chars[i] {
            d @ '0'..='9' => {
                francs = francs.saturating_mul(10).saturating_add(i64::from(d as u8 - b'0'));
                digits += 1;
                i += 1;
            }
            '\'' | '’' if next_is_digit(chars, i) && digits > 0 => i += 1,
            _ => break,
        }
    }
    let mut rappen = 0;
    if i < chars.len() && matches!(chars[i], '.' | ',') {
        let decimals: String = chars[i + 1..].iter().take_while(|c| c.is_ascii_digit()).collect();
        let after = i + 1 + decimals.len();
        if decimals.is_empty() {
            // "5.–" / "5.-": whole francs; a sentence's full stop after a number is fine too.
            i += 1;
            if i < chars.len() && matches!(chars[i], '-' | '–' | '—') {
                i += 1;
            }
        } else if decimals.len() <= 2
            && !(matches!(chars.get(after), Some('.' | ':')) && next_is_digit(chars, after))
        {
            rappen = decimals.parse::<i64>().unwrap_or(0) * if decimals.len() == 1 { 10 } else { 1 };
            i = after;
        } else {
            // 31.12.2026, 12:30, 1.2345: not an amount of money; skip the whole thing.
            let mut j = i;
            while j < chars.len() && (chars[j].is_ascii_digit() || matches!(chars[j], '.' | ',' | ':')) {
                j += 1;
            }
            return (None, j);
        }
    }
    if digits == 0 {
        return (None, i.max(start + 1));
    }
    let total = francs.saturating_mul(100).saturating_add(rappen);
    (Some(if negative { -total } else { total }), i)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers in the shapes the Swiss operators' balance codes give (Swisscom `*130#`, Salt and Sunrise
    /// `*121#`), in the four languages, written for these tests.
    #[test]
    fn the_operators_answers_in_their_languages() {
        let cases = [
            ("Votre crédit est de CHF 12.50.", Some(1250)),
            ("Ihr Guthaben beträgt CHF 7.35. Gültig bis 31.12.2026", Some(735)),
            ("Il suo credito è di CHF 0.40", Some(40)),
            ("Your balance is CHF 1'250.00", Some(125_000)),
            ("Ihr Guthaben: 23.00 CHF, gültig bis 01.06.2027.", Some(2300)),
            ("Votre solde: 4,20 CHF", Some(420)),
            ("Credito: Fr. 5.–", Some(500)),
            ("Guthaben SFr. 3.5", Some(350)),
            ("Guthaben CHF -1.20. Bitte laden Sie auf.", Some(-120)),
            ("Le 31.12.2026 à 23:59 votre crédit était de CHF 9.95", Some(995)),
            ("Votre credit est de CHF 0.00", Some(0)),
            // The emulator's answer (sms::emulator).
            ("Votre credit est de CHF 12.00", Some(1200)),
        ];
        for (answer, credit) in cases {
            assert_eq!(ussd_credit(answer), credit, "{answer}");
        }
    }

    #[test]
    fn an_answer_without_an_amount_next_to_a_currency_is_not_read() {
        for answer in [
            "Abonnement sans limite de credit",
            "Code inconnu",
            "Service momentanément indisponible. Rappelez le 0800 800 800.",
            "Guthaben gültig bis 31.12.2026",
            "CHF",
            "",
            "12.50",
        ] {
            assert_eq!(ussd_credit(answer), None, "{answer}");
        }
    }

    #[test]
    fn arbitrary_text_never_panics() {
        for answer in ["CHF -", "CHF 99999999999999999999999.99", "Fr.,-", "'''1", "CHF 1'", "-"] {
            let _ = ussd_credit(answer);
        }
    }
}
