//! The gérance as a creditor: the account tenants pay into and the structured address the QR-bill
//! prints, with how its payments become top-ups. Checked once for the UI and the CLI alike.

use serde::{Deserialize, Serialize};

use super::{Fee, Iban, PaymentError, QrrPrefix};
use crate::Amount;

/// A field of the creditor form that was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CreditorField {
    Iban(PaymentError),
    /// 1 to 70 characters.
    Name,
    /// 1 to 70 characters.
    Street,
    /// Up to 16 characters (may be empty: some addresses have no number).
    Building,
    /// 1 to 16 characters.
    Postcode,
    /// 1 to 35 characters.
    Town,
    /// Two capital letters (ISO 3166-1).
    Country,
    QrrPrefix(PaymentError),
    BillAmount,
    Fee,
    AutoApprove,
}

impl CreditorField {
    const ALL: [Self; 14] = [
        Self::Iban(PaymentError::IbanCheckDigits),
        Self::Iban(PaymentError::IbanNotSwiss),
        Self::Iban(PaymentError::InvalidIban),
        Self::Name,
        Self::Street,
        Self::Building,
        Self::Postcode,
        Self::Town,
        Self::Country,
        Self::QrrPrefix(PaymentError::QrrNeedsQrIban),
        Self::QrrPrefix(PaymentError::InvalidQrrPrefix),
        Self::BillAmount,
        Self::Fee,
        Self::AutoApprove,
    ];

    /// The field as a form's address names it after a refusal (`bad=iban-check,town`).
    pub fn code(self) -> &'static str {
        match self {
            Self::Iban(PaymentError::IbanCheckDigits) => "iban-check",
            Self::Iban(PaymentError::IbanNotSwiss) => "iban-swiss",
            Self::Iban(_) => "iban",
            Self::Name => "name",
            Self::Street => "street",
            Self::Building => "building",
            Self::Postcode => "postcode",
            Self::Town => "town",
            Self::Country => "country",
            Self::QrrPrefix(PaymentError::QrrNeedsQrIban) => "prefix-qr-iban",
            Self::QrrPrefix(_) => "prefix",
            Self::BillAmount => "bill_amount",
            Self::Fee => "fee",
            Self::AutoApprove => "auto_approve",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.code() == code)
    }
}

/// What the settings form sends, as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditorInput {
    pub iban: String,
    pub name: String,
    pub street: String,
    pub building: String,
    pub postcode: String,
    pub town: String,
    pub country: String,
    pub qrr_prefix: String,
    /// CHF, empty to leave the amount open on the bills.
    pub bill_amount: String,
    /// CHF per payment and percent, empty for none.
    pub fee_fixed: String,
    pub fee_percent: String,
    /// CHF, empty for no automatic approval.
    pub auto_approve: String,
}

/// A gérance's creditor settings, all valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Creditor {
    pub iban: Iban,
    pub name: String,
    pub street: String,
    pub building: String,
    pub postcode: String,
    pub town: String,
    pub country: String,
    pub qrr_prefix: QrrPrefix,
    pub bill_amount: Option<Amount>,
    pub fee: Fee,
    /// Automatic mode: proposals with a key reference up to this amount are approved at import.
    pub auto_approve: Option<Amount>,
}

/// The characters a QR-bill may carry (SIX Implementation Guidelines v2.3, 4.1.1): Latin letters with
/// their accents, digits, punctuation; no control characters.
pub fn qr_bill_text(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{7e}' | '\u{a0}'..='\u{17f}' | '\u{218}'..='\u{21b}' | '\u{20ac}')
}

impl Creditor {
    /// Every refused field at once, so that a form can mark them all.
    pub fn parse(input: &CreditorInput) -> Result<Self, Vec<CreditorField>> {
        let mut refused = Vec::new();
        let mut text = |s: &str, min: usize, max: usize, field: CreditorField| {
            let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
            let n = s.chars().count();
            if n < min || n > max || !s.chars().all(qr_bill_text) {
                refused.push(field);
            }
            s
        };
        let name = text(&input.name, 1, 70, CreditorField::Name);
        let street = text(&input.street, 1, 70, CreditorField::Street);
        let building = text(&input.building, 0, 16, CreditorField::Building);
        let postcode = text(&input.postcode, 1, 16, CreditorField::Postcode);
        let town = text(&input.town, 1, 35, CreditorField::Town);
        let country = input.country.trim().to_ascii_uppercase();
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
            refused.push(CreditorField::Country);
        }
        let iban = Iban::parse_swiss(&input.iban).map_err(|e| refused.push(CreditorField::Iban(e))).ok();
        let qrr_prefix =
            QrrPrefix::parse(&input.qrr_prefix).map_err(|e| refused.push(CreditorField::QrrPrefix(e))).ok();
        // A prefix is for QR references, which only a QR-IBAN takes.
        if let (Some(iban), Some(prefix)) = (&iban, &qrr_prefix)
            && !prefix.as_str().is_empty()
            && !iban.is_qr_iban()
        {
            refused.push(CreditorField::QrrPrefix(PaymentError::QrrNeedsQrIban));
        }
        let optional_chf = |s: &str| match s.trim() {
            "" => Ok(None),
            s => Amount::parse_chf(s).map(Some),
        };
        let bill_amount =
            optional_chf(&input.bill_amount).map_err(|_| refused.push(CreditorField::BillAmount)).ok();
        let fee = Fee::parse(&input.fee_fixed, &input.fee_percent)
            .map_err(|_| refused.push(CreditorField::Fee))
            .ok();
        let auto_approve =
            optional_chf(&input.auto_approve).map_err(|_| refused.push(CreditorField::AutoApprove)).ok();
        match (iban, qrr_prefix, bill_amount, fee, auto_approve) {
            (Some(iban), Some(qrr_prefix), Some(bill_amount), Some(fee), Some(auto_approve))
                if refused.is_empty() =>
            {
                Ok(Self {
                    iban,
                    name,
                    street,
                    building,
                    postcode,
                    town,
                    country,
                    qrr_prefix,
                    bill_amount,
                    fee,
                    auto_approve,
                })
            }
            _ => Err(refused),
        }
    }

    /// The settings as the form shows them again.
    pub fn input(&self) -> CreditorInput {
        let chf = |a: Option<Amount>| {
            a.map(|a| format!("{}.{:02}", a.rappen() / 100, a.rappen() % 100)).unwrap_or_default()
        };
        let fee_fixed = if self.fee.fixed_rappen == 0 {
            String::new()
        } else {
            format!("{}.{:02}", self.fee.fixed_rappen / 100, self.fee.fixed_rappen % 100)
        };
        let fee_percent = if self.fee.basis_points == 0 {
            String::new()
        } else {
            format!("{}.{:02}", self.fee.basis_points / 100, self.fee.basis_points % 100)
        };
        CreditorInput {
            iban: self.iban.to_string(),
            name: self.name.clone(),
            street: self.street.clone(),
            building: self.building.clone(),
            postcode: self.postcode.clone(),
            town: self.town.clone(),
            country: self.country.clone(),
            qrr_prefix: self.qrr_prefix.as_str().to_owned(),
            bill_amount: chf(self.bill_amount),
            fee_fixed,
            fee_percent,
            auto_approve: chf(self.auto_approve),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> CreditorInput {
        CreditorInput {
            iban: "CH44 3199 9123 0008 8901 2".into(),
            name: "Gérance Exemple SA".into(),
            street: "Rue du Lac".into(),
            building: "12".into(),
            postcode: "1950".into(),
            town: "Sion".into(),
            country: "ch".into(),
            ..CreditorInput::default()
        }
    }

    #[test]
    fn field_codes_read_back() {
        for field in CreditorField::ALL {
            assert_eq!(CreditorField::from_code(field.code()).map(CreditorField::code), Some(field.code()));
        }
    }

    #[test]
    fn a_good_creditor_and_back_to_its_form() {
        let c = Creditor::parse(&input()).unwrap();
        assert_eq!((c.iban.as_str(), c.country.as_str()), ("CH4431999123000889012", "CH"));
        assert_eq!((c.bill_amount, c.auto_approve, c.fee), (None, None, Fee::NONE));
        let mut full = input();
        full.qrr_prefix = "123456".into();
        full.bill_amount = "50".into();
        full.fee_fixed = "0.5".into();
        full.fee_percent = "2.5".into();
        full.auto_approve = "200".into();
        let c = Creditor::parse(&full).unwrap();
        assert_eq!(Creditor::parse(&c.input()).unwrap(), c);
        assert_eq!(c.input().fee_percent, "2.50");
    }

    #[test]
    fn every_bad_field_is_named_and_a_prefix_needs_a_qr_iban() {
        let bad = CreditorInput {
            iban: "CH44 3199 9123 0008 8901 3".into(),
            name: String::new(),
            street: "x".repeat(71),
            building: "1".repeat(17),
            postcode: String::new(),
            town: "Zürich\u{7}".into(),
            country: "Suisse".into(),
            qrr_prefix: "12a".into(),
            bill_amount: "0".into(),
            fee_fixed: "-1".into(),
            fee_percent: String::new(),
            auto_approve: "abc".into(),
        };
        assert_eq!(
            Creditor::parse(&bad).unwrap_err(),
            vec![
                CreditorField::Name,
                CreditorField::Street,
                CreditorField::Building,
                CreditorField::Postcode,
                CreditorField::Town,
                CreditorField::Country,
                CreditorField::Iban(PaymentError::IbanCheckDigits),
                CreditorField::QrrPrefix(PaymentError::InvalidQrrPrefix),
                CreditorField::BillAmount,
                CreditorField::Fee,
                CreditorField::AutoApprove,
            ]
        );
        let mut mixed = input();
        mixed.iban = "CH58 0079 1123 0008 8901 2".into();
        mixed.qrr_prefix = "123456".into();
        assert_eq!(
            Creditor::parse(&mixed).unwrap_err(),
            vec![CreditorField::QrrPrefix(PaymentError::QrrNeedsQrIban)]
        );
        let mut foreign = input();
        foreign.iban = "DE89 3704 0044 0532 0130 00".into();
        assert_eq!(
            Creditor::parse(&foreign).unwrap_err(),
            vec![CreditorField::Iban(PaymentError::IbanNotSwiss)]
        );
    }
}
