//! A key's QR-bill on A4: a short letter to the holder above, the payment part with its receipt below,
//! laid out as the SIX Implementation Guidelines for the QR-bill v2.3 (chapter 3) measure it.

use domain::payment::{BillWords, QrBill, amount_on_bill};
use domain::{KeyNumber, Language};
use qrcode::bits::Bits;
use qrcode::{Color, EcLevel, QrCode, Version};

use crate::PaperError;
use crate::canvas::{A4_HEIGHT, A4_WIDTH, Align, Canvas, Pdf, Weight, wrap};
use crate::words::bill_letter;

/// One key's bill and what the letter above it says.
#[derive(Debug, Clone)]
pub struct KeyBill {
    pub bill: QrBill,
    pub language: Language,
    pub key: KeyNumber,
    pub station: String,
    pub holder: Option<String>,
    pub flat: Option<String>,
}

impl KeyBill {
    /// The bill's additional information in the holder's language: the key and its station, so that the
    /// bank statement of the payer says what the money was for.
    pub fn message(language: Language, key: KeyNumber, station: &str) -> String {
        bill_letter(language).message.replace("{key}", &format!("{:05}", key.0)).replace("{station}", station)
    }
}

/// One PDF with a page per bill, in the order given.
pub fn qr_bills(bills: &[KeyBill]) -> Result<Vec<u8>, PaperError> {
    let first = bills.first().ok_or(PaperError::Empty)?;
    let title = match bills {
        [one] => format!("QR-bill {} {:05}", one.station, one.key.0),
        _ => format!("QR-bills {}", first.station),
    };
    let mut pdf = Pdf::new(&title, first.language.code());
    for bill in bills {
        let code = matrix(&bill.bill.payload())?;
        pdf.page(|c| {
            letter(c, bill);
            payment_part(c, &bill.bill, BillWords::of(bill.language), &code);
        });
    }
    pdf.finish()
}

/// The QR code's modules: byte mode (UTF-8), error correction M, the smallest version that holds the
/// payload (at most 25 for the guidelines' 997 characters).
fn matrix(payload: &str) -> Result<QrCode, PaperError> {
    let too_long = || PaperError::QrCode(payload.chars().count());
    for version in 1..=25 {
        let mut bits = Bits::new(Version::Normal(version));
        if bits.push_byte_data(payload.as_bytes()).is_ok() && bits.push_terminator(EcLevel::M).is_ok() {
            return QrCode::with_bits(bits, EcLevel::M).map_err(|_| too_long());
        }
    }
    Err(too_long())
}

/// Top of the payment part: A4 minus 105 mm.
const TOP: f32 = A4_HEIGHT - 105.0;
const RECEIPT_WIDTH: f32 = 62.0;
const MARGIN: f32 = 5.0;
/// Line heights: 9 pt on the receipt, 11 pt on the payment part, in millimetres.
const RECEIPT_LINE: f32 = 9.0 * 25.4 / 72.0;
const PAYMENT_LINE: f32 = 11.0 * 25.4 / 72.0;

fn letter(c: &mut Canvas<'_, '_>, bill: &KeyBill) {
    let words = bill_letter(bill.language);
    let left = 20.0;
    let mut y = 22.0;
    for line in bill.bill.creditor.lines() {
        c.text(left, y, &line, Weight::Regular, 10.0, Align::Left);
        y += 4.5;
    }
    let mut y = 55.0;
    for line in [&bill.holder, &bill.flat].into_iter().flatten() {
        c.text(120.0, y, line, Weight::Regular, 10.0, Align::Left);
        y += 4.5;
    }
    let title = words.title.replace("{key}", &format!("{:05}", bill.key.0));
    c.text(left, 85.0, &title, Weight::Regular, 16.0, Align::Left);
    let mut y = 96.0;
    let mut pairs = vec![(words.station, bill.station.clone())];
    if let Some(flat) = &bill.flat {
        pairs.push((words.flat, flat.clone()));
    }
    pairs.push((words.reference, bill.bill.reference.to_string()));
    for (label, value) in pairs {
        c.text(left, y, label, Weight::Regular, 10.0, Align::Left);
        c.text(left + 45.0, y, &value, Weight::Regular, 10.0, Align::Left);
        y += 5.5;
    }
    y += 4.0;
    let amount = match bill.bill.amount {
        None => words.open_amount.to_owned(),
        Some(a) => words.fixed_amount.replace("{amount}", &amount_on_bill(a)),
    };
    for paragraph in [words.how.to_owned(), amount, words.load.to_owned()] {
        for line in wrap(&paragraph, Weight::Regular, 10.0, A4_WIDTH - 2.0 * left) {
            c.text(left, y, &line, Weight::Regular, 10.0, Align::Left);
            y += 4.6;
        }
        y += 2.5;
    }
}

fn payment_part(c: &mut Canvas<'_, '_>, bill: &QrBill, words: &BillWords, code: &QrCode) {
    separation(c, words);
    receipt(c, bill, words);
    let x = RECEIPT_WIDTH + MARGIN;
    c.text(x, TOP + MARGIN + 4.0, words.payment_part, Weight::Bold, 11.0, Align::Left);
    qr_code(c, code, x, TOP + 17.0);
    // Amount section, under the code.
    let y = TOP + 68.0;
    c.text(x, y + 3.0, words.currency, Weight::Bold, 8.0, Align::Left);
    c.text(x + 14.0, y + 3.0, words.amount, Weight::Bold, 8.0, Align::Left);
    c.text(x, y + 3.0 + PAYMENT_LINE, "CHF", Weight::Regular, 10.0, Align::Left);
    match bill.amount {
        Some(a) => {
            c.text(x + 14.0, y + 3.0 + PAYMENT_LINE, &amount_on_bill(a), Weight::Regular, 10.0, Align::Left)
        }
        None => c.corners(x + 11.0, y + 5.0, 40.0, 15.0),
    }
    // Information section, to the right of the code.
    let x = RECEIPT_WIDTH + 56.0;
    let width = A4_WIDTH - MARGIN - x;
    let mut y = TOP + MARGIN + 3.0;
    let heading = |c: &mut Canvas<'_, '_>, y: &mut f32, text: &str| {
        c.text(x, *y, text, Weight::Bold, 8.0, Align::Left);
        *y += PAYMENT_LINE;
    };
    let value = |c: &mut Canvas<'_, '_>, y: &mut f32, text: &str| {
        for line in wrap(text, Weight::Regular, 10.0, width) {
            c.text(x, *y, &line, Weight::Regular, 10.0, Align::Left);
            *y += PAYMENT_LINE;
        }
    };
    heading(c, &mut y, words.account_payable_to);
    value(c, &mut y, &bill.account.to_string());
    for line in bill.creditor.lines() {
        value(c, &mut y, &line);
    }
    y += PAYMENT_LINE;
    heading(c, &mut y, words.reference);
    value(c, &mut y, &bill.reference.to_string());
    if !bill.message.is_empty() {
        y += PAYMENT_LINE;
        heading(c, &mut y, words.additional_information);
        value(c, &mut y, &bill.message);
    }
    y += PAYMENT_LINE;
    heading(c, &mut y, words.payable_by_name_address);
    c.corners(x, y - 2.0, 65.0, 25.0);
}

fn receipt(c: &mut Canvas<'_, '_>, bill: &QrBill, words: &BillWords) {
    let x = MARGIN;
    let width = RECEIPT_WIDTH - 2.0 * MARGIN;
    c.text(x, TOP + MARGIN + 4.0, words.receipt, Weight::Bold, 11.0, Align::Left);
    let mut y = TOP + 15.0;
    let heading = |c: &mut Canvas<'_, '_>, y: &mut f32, text: &str| {
        c.text(x, *y, text, Weight::Bold, 6.0, Align::Left);
        *y += RECEIPT_LINE;
    };
    let value = |c: &mut Canvas<'_, '_>, y: &mut f32, text: &str| {
        for line in wrap(text, Weight::Regular, 8.0, width) {
            c.text(x, *y, &line, Weight::Regular, 8.0, Align::Left);
            *y += RECEIPT_LINE;
        }
    };
    heading(c, &mut y, words.account_payable_to);
    value(c, &mut y, &bill.account.to_string());
    for line in bill.creditor.lines() {
        value(c, &mut y, &line);
    }
    y += RECEIPT_LINE;
    heading(c, &mut y, words.reference);
    value(c, &mut y, &bill.reference.to_string());
    y += RECEIPT_LINE;
    heading(c, &mut y, words.payable_by_name_address);
    // A long address leaves less room above the amount section: the box gives way.
    let room = TOP + 66.0 - (y - 2.0);
    c.corners(x, y - 2.0, 52.0, room.clamp(8.0, 20.0));
    // Amount section.
    let y = TOP + 68.0;
    c.text(x, y + 3.0, words.currency, Weight::Bold, 6.0, Align::Left);
    c.text(x + 12.0, y + 3.0, words.amount, Weight::Bold, 6.0, Align::Left);
    c.text(x, y + 3.0 + RECEIPT_LINE, "CHF", Weight::Regular, 8.0, Align::Left);
    match bill.amount {
        Some(a) => {
            c.text(x + 12.0, y + 3.0 + RECEIPT_LINE, &amount_on_bill(a), Weight::Regular, 8.0, Align::Left)
        }
        None => c.corners(RECEIPT_WIDTH - MARGIN - 30.0, y + 5.0, 30.0, 10.0),
    }
    c.text(RECEIPT_WIDTH - MARGIN, TOP + 86.0, words.acceptance_point, Weight::Bold, 6.0, Align::Right);
}

/// The lines along which the payment part and the receipt are cut off, dashed, with the note above
/// (a PDF is printed on plain paper, without perforation).
fn separation(c: &mut Canvas<'_, '_>, words: &BillWords) {
    c.line(&[(0.0, TOP), (A4_WIDTH, TOP)], 0.5, true);
    c.line(&[(RECEIPT_WIDTH, TOP), (RECEIPT_WIDTH, A4_HEIGHT)], 0.5, true);
    let note_width = crate::canvas::width(words.separate, Weight::Regular, 7.0);
    c.text((A4_WIDTH - note_width) / 2.0, TOP - 1.5, words.separate, Weight::Regular, 7.0, Align::Left);
}

/// The code, 46 × 46 mm, with the Swiss cross (7 × 7 mm) over its centre.
fn qr_code(c: &mut Canvas<'_, '_>, code: &QrCode, x: f32, y: f32) {
    const SIZE: f32 = 46.0;
    let pixels = code.to_colors().iter().map(|c| if *c == Color::Dark { 0 } else { 255 }).collect();
    c.bitmap(x, y, SIZE, pixels);
    // The cross: a white border, a black square, a white cross whose arms are a sixth longer than
    // they are wide (the Swiss federal proportions).
    let (cx, cy) = (x + SIZE / 2.0, y + SIZE / 2.0);
    c.rects(&[(cx - 3.5, cy - 3.5, 7.0, 7.0)], true);
    c.rects(&[(cx - 3.1, cy - 3.1, 6.2, 6.2)], false);
    let arm_width = 1.2;
    let reach = arm_width / 2.0 + arm_width * 7.0 / 6.0;
    c.rects(
        &[
            (cx - arm_width / 2.0, cy - reach, arm_width, 2.0 * reach),
            (cx - reach, cy - arm_width / 2.0, 2.0 * reach, arm_width),
        ],
        true,
    );
}

#[cfg(test)]
mod tests {
    use domain::StationId;
    use domain::payment::{Creditor, CreditorInput, KeyReference};

    use super::*;

    fn bill(language: Language, amount: &str) -> KeyBill {
        let creditor = Creditor::parse(&CreditorInput {
            iban: "CH44 3199 9123 0008 8901 2".into(),
            name: "Gérance Exemple SA".into(),
            street: "Rue du Lac".into(),
            building: "12".into(),
            postcode: "1950".into(),
            town: "Sion".into(),
            country: "CH".into(),
            bill_amount: amount.into(),
            ..CreditorInput::default()
        })
        .unwrap();
        let key = KeyNumber(34586);
        let message = KeyBill::message(language, key, "Station Hérémence");
        KeyBill {
            bill: QrBill::for_key(&creditor, KeyReference { station: StationId(7), key }, &message).unwrap(),
            language,
            key,
            station: "Station Hérémence".into(),
            holder: Some("Anne Dupont".into()),
            flat: Some("3e étage gauche".into()),
        }
    }

    #[test]
    fn a_bill_is_a_small_pdf_with_its_fonts_embedded() {
        let pdf = qr_bills(&[bill(Language::Fr, "")]).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(pdf.len() < 30_000, "{} bytes", pdf.len());
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.contains("/FontFile2"), "the TrueType font is embedded");
        assert!(text.contains("/Type/Pages/Count 1"), "one page");
    }

    #[test]
    fn one_page_per_key_and_nothing_for_no_key() {
        let bills: Vec<KeyBill> = Language::ALL.iter().map(|l| bill(*l, "20")).collect();
        let pdf = qr_bills(&bills).unwrap();
        assert!(String::from_utf8_lossy(&pdf).contains("/Count 4"));
        assert!(matches!(qr_bills(&[]), Err(PaperError::Empty)));
    }

    #[test]
    fn the_code_is_byte_mode_at_level_m_and_the_longest_payload_fits() {
        let code = matrix(&bill(Language::De, "").bill.payload()).unwrap();
        assert_eq!(code.error_correction_level(), EcLevel::M);
        assert!(matrix(&"é".repeat(997)).is_err(), "1994 bytes do not fit version 25");
        assert!(matrix(&"x".repeat(997)).is_ok());
    }
}
