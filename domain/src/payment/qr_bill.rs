//! The Swiss QR-bill of a key: what its QR code says and the words its payment part prints, as the SIX
//! Implementation Guidelines for the QR-bill v2.3 fix them. Laying it out on paper is the `paper`
//! crate's; everything that decides what the bill *means* is here, without I/O.

use std::fmt::Write as _;

use super::{Creditor, Iban, KeyReference, Reference, qr_bill_text};
use crate::{Amount, Language};

/// A creditor's structured address (address type `S`, the only one v2.3 allows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub name: String,
    pub street: String,
    pub building: String,
    pub postcode: String,
    pub town: String,
    pub country: String,
}

impl Address {
    /// The lines the payment part prints: name, street and number, postcode and town.
    pub fn lines(&self) -> Vec<String> {
        let street = match self.building.as_str() {
            "" => self.street.clone(),
            b => format!("{} {b}", self.street),
        };
        let place = match self.country.as_str() {
            "CH" => format!("{} {}", self.postcode, self.town),
            c => format!("{c}-{} {}", self.postcode, self.town),
        };
        vec![self.name.clone(), street, place]
    }
}

impl Creditor {
    /// The structured address the bills print and the statements are sent from.
    pub fn address(&self) -> Address {
        Address {
            name: self.name.clone(),
            street: self.street.clone(),
            building: self.building.clone(),
            postcode: self.postcode.clone(),
            town: self.town.clone(),
            country: self.country.clone(),
        }
    }
}

/// One QR-bill: payable to the gérance's account, carrying one key's reference. The debtor is left
/// blank (the payment part then prints an empty box for it): a key's holder has a name and a flat, not
/// the full postal address the guidelines ask for, and whoever pays is the one who counts for the bank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrBill {
    pub account: Iban,
    pub creditor: Address,
    /// `None` leaves the amount open: the tenant writes in what they want to load.
    pub amount: Option<Amount>,
    pub reference: Reference,
    /// The unstructured message (up to 140 characters of the QR-bill's set).
    pub message: String,
}

impl QrBill {
    /// The most characters of the unstructured message.
    pub const MESSAGE_CHARS: usize = 140;
    /// The most characters of the whole payload.
    pub const PAYLOAD_CHARS: usize = 997;

    /// The bill of one key on the gérance's account. `None` when the key's reference cannot be made
    /// (a station id no reference carries: never one the database hands out).
    pub fn for_key(creditor: &Creditor, key: KeyReference, message: &str) -> Option<Self> {
        let reference = key.encode(&creditor.iban, &creditor.qrr_prefix)?;
        Some(Self {
            account: creditor.iban.clone(),
            creditor: creditor.address(),
            amount: creditor.bill_amount,
            reference,
            message: message_text(message),
        })
    }

    /// The QR code's text (guidelines 4.3): elements in their fixed order, one per line, separated by
    /// LF, no line break after the last (the trailer `EPD`; the optional bill information and
    /// alternative procedures are left out).
    pub fn payload(&self) -> String {
        let a = &self.creditor;
        let amount = self.amount.map(amount_in_payload).unwrap_or_default();
        let mut lines: Vec<&str> = vec!["SPC", "0200", "1", self.account.as_str()];
        lines.extend(["S", &a.name, &a.street, &a.building, &a.postcode, &a.town, &a.country]);
        // Ultimate creditor: reserved, empty.
        lines.extend(["", "", "", "", "", "", ""]);
        lines.extend([amount.as_str(), "CHF"]);
        // Ultimate debtor: left open.
        lines.extend(["", "", "", "", "", "", ""]);
        lines.extend([self.reference.kind(), self.reference.as_str(), &self.message, "EPD"]);
        lines.join("\n")
    }
}

/// A message cut to what the QR-bill carries: its character set (typographic dashes and quotes as
/// their plain forms, anything else outside it as `?` rather than vanishing, so that nobody reads a
/// changed word), single spaces, at most 140 characters.
fn message_text(raw: &str) -> String {
    let spaced = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    let mapped = spaced.chars().map(|c| match c {
        c if qr_bill_text(c) => c,
        '\u{2010}'..='\u{2015}' | '\u{2212}' => '-',
        '\u{2018}' | '\u{2019}' | '\u{201a}' | '\u{2032}' => '\'',
        '\u{201c}' | '\u{201d}' | '\u{201e}' => '"',
        _ => '?',
    });
    mapped.take(QrBill::MESSAGE_CHARS).collect::<String>().trim_end().to_owned()
}

/// `1234.50`: francs, a point and two digits, no separators (the payload's form).
fn amount_in_payload(amount: Amount) -> String {
    format!("{}.{:02}", amount.rappen() / 100, amount.rappen() % 100)
}

/// `1 234.50`: the payment part's form, with spaces between thousands.
pub fn amount_on_bill(amount: Amount) -> String {
    let francs = (amount.rappen() / 100).to_string();
    let mut out = String::new();
    for (i, digit) in francs.chars().enumerate() {
        if i > 0 && (francs.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(digit);
    }
    let _ = write!(out, ".{:02}", amount.rappen() % 100);
    out
}

/// The payment part's fixed words (guidelines 3.5, annex "Translations"), in one language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BillWords {
    pub receipt: &'static str,
    pub payment_part: &'static str,
    pub account_payable_to: &'static str,
    pub reference: &'static str,
    pub additional_information: &'static str,
    pub payable_by_name_address: &'static str,
    pub currency: &'static str,
    pub amount: &'static str,
    pub acceptance_point: &'static str,
    pub separate: &'static str,
}

impl BillWords {
    pub fn of(language: Language) -> &'static Self {
        match language {
            Language::Fr => &FR,
            Language::De => &DE,
            Language::It => &IT,
            Language::En => &EN,
        }
    }
}

const FR: BillWords = BillWords {
    receipt: "Récépissé",
    payment_part: "Section paiement",
    account_payable_to: "Compte / Payable à",
    reference: "Référence",
    additional_information: "Informations supplémentaires",
    payable_by_name_address: "Payable par (nom/adresse)",
    currency: "Monnaie",
    amount: "Montant",
    acceptance_point: "Point de dépôt",
    separate: "A détacher avant le versement",
};
const DE: BillWords = BillWords {
    receipt: "Empfangsschein",
    payment_part: "Zahlteil",
    account_payable_to: "Konto / Zahlbar an",
    reference: "Referenz",
    additional_information: "Zusätzliche Informationen",
    payable_by_name_address: "Zahlbar durch (Name/Adresse)",
    currency: "Währung",
    amount: "Betrag",
    acceptance_point: "Annahmestelle",
    separate: "Vor der Einzahlung abzutrennen",
};
const IT: BillWords = BillWords {
    receipt: "Ricevuta",
    payment_part: "Sezione pagamento",
    account_payable_to: "Conto / Pagabile a",
    reference: "Riferimento",
    additional_information: "Informazioni supplementari",
    payable_by_name_address: "Pagabile da (nome/indirizzo)",
    currency: "Valuta",
    amount: "Importo",
    acceptance_point: "Punto di accettazione",
    separate: "Da staccare prima del versamento",
};
const EN: BillWords = BillWords {
    receipt: "Receipt",
    payment_part: "Payment part",
    account_payable_to: "Account / Payable to",
    reference: "Reference",
    additional_information: "Additional information",
    payable_by_name_address: "Payable by (name/address)",
    currency: "Currency",
    amount: "Amount",
    acceptance_point: "Acceptance point",
    separate: "Separate before paying in",
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payment::{CreditorInput, QrrPrefix};
    use crate::{KeyNumber, StationId};

    fn creditor(iban: &str, bill_amount: &str) -> Creditor {
        Creditor::parse(&CreditorInput {
            iban: iban.into(),
            name: "Robert Schneider AG".into(),
            street: "Rue du Lac".into(),
            building: "1268".into(),
            postcode: "2501".into(),
            town: "Biel".into(),
            country: "CH".into(),
            bill_amount: bill_amount.into(),
            ..CreditorInput::default()
        })
        .unwrap()
    }

    // The layout of the payload is the guidelines' example 1 (v2.3, annex), with our own account,
    // reference and message: every element on its line, in this order, nothing after `EPD`.
    #[test]
    fn payload_of_a_qr_iban_bill_with_an_amount() {
        let c = creditor("CH44 3199 9123 0008 8901 2", "1949.75");
        let key = KeyReference { station: StationId(7), key: KeyNumber(34586) };
        let bill = QrBill::for_key(&c, key, "Clé 34586 · Station Hérémence").unwrap();
        let expected = [
            "SPC",
            "0200",
            "1",
            "CH4431999123000889012",
            "S",
            "Robert Schneider AG",
            "Rue du Lac",
            "1268",
            "2501",
            "Biel",
            "CH",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "1949.75",
            "CHF",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "QRR",
            "000000000000000000007345866",
            "Clé 34586 · Station Hérémence",
            "EPD",
        ]
        .join("\n");
        assert_eq!(bill.payload(), expected);
        assert_eq!(bill.payload().lines().count(), 31);
    }

    #[test]
    fn an_ordinary_iban_takes_a_creditor_reference_and_the_amount_may_stay_open() {
        let c = creditor("CH58 0079 1123 0008 8901 2", "");
        let key = KeyReference { station: StationId(7), key: KeyNumber(34586) };
        let bill = QrBill::for_key(&c, key, "key 34586").unwrap();
        let payload = bill.payload();
        let lines: Vec<&str> = payload.split('\n').collect();
        assert_eq!((lines[18], lines[19]), ("", "CHF"));
        assert_eq!((lines[27], lines[28]), ("SCOR", "RF877K34586"));
        assert!(!bill.payload().ends_with('\n'));
        assert!(QrrPrefix::parse("").is_ok());
    }

    #[test]
    fn messages_keep_to_the_character_set_and_length() {
        assert_eq!(message_text("Clé\t 12  \u{1F600} ok"), "Clé 12 ? ok");
        assert_eq!(message_text(&"é".repeat(200)).chars().count(), QrBill::MESSAGE_CHARS);
        assert_eq!(message_text("x\ny"), "x y");
        assert_eq!(message_text("Clé 1 – l’entrée “B”"), "Clé 1 - l'entrée \"B\"");
    }

    #[test]
    fn amounts_on_the_bill_and_in_the_code() {
        let a = |r| Amount::from_rappen(r).unwrap();
        assert_eq!(amount_on_bill(a(5)), "0.05");
        assert_eq!(amount_on_bill(a(123_450)), "1 234.50");
        assert_eq!(amount_on_bill(a(100_000_000)), "1 000 000.00");
        assert_eq!(amount_in_payload(a(123_450)), "1234.50");
    }

    #[test]
    fn addresses_print_as_three_lines() {
        let c = creditor("CH44 3199 9123 0008 8901 2", "");
        let bill =
            QrBill::for_key(&c, KeyReference { station: StationId(1), key: KeyNumber(1) }, "").unwrap();
        assert_eq!(bill.creditor.lines(), ["Robert Schneider AG", "Rue du Lac 1268", "2501 Biel"]);
        let mut abroad = bill.creditor.clone();
        (abroad.country, abroad.building) = ("LI".into(), String::new());
        assert_eq!(abroad.lines()[1..], ["Rue du Lac".to_owned(), "LI-2501 Biel".to_owned()]);
    }
}
