//! Writes QR-bills covering what varies from one gérance and key to another (both reference kinds,
//! open and fixed amounts, the four languages, the longest names and messages, a Liechtenstein
//! address) into a directory, for `scripts/check-qr-bills` to read back with other implementations.
//!
//! `cargo run -p paper --example qr-bills -- DIR`

use domain::payment::{Creditor, CreditorInput, KeyReference, QrBill};
use domain::{KeyNumber, Language, StationId};
use paper::{KeyBill, qr_bills};

fn creditor(iban: &str, amount: &str, long: bool) -> Creditor {
    let mut input = CreditorInput {
        iban: iban.into(),
        name: "Gérance Exemple SA".into(),
        street: "Rue du Lac".into(),
        building: "12".into(),
        postcode: "1950".into(),
        town: "Sion".into(),
        country: "CH".into(),
        bill_amount: amount.into(),
        ..CreditorInput::default()
    };
    if long {
        input.name = "Régie Immobilière des Vallées Latérales du Valais Central et Associés".into();
        input.street = "Chemin des Écureuils et de la Forêt Domaniale, Commune de Hérémence ab".into();
        input.building = "1234b-Bâtiment C".into();
        input.postcode = "FL-9490".into();
        input.town = "Vaduz-Schaanwald-Mühleholz Oberdorf".into();
        input.country = "LI".into();
    }
    Creditor::parse(&input).unwrap_or_else(|e| panic!("{iban}: {e:?}"))
}

fn main() {
    let dir = std::env::args().nth(1).expect("usage: qr-bills DIR");
    std::fs::create_dir_all(&dir).expect("the directory can be made");
    let cases = [
        ("qrr-open-fr", "CH44 3199 9123 0008 8901 2", "", false, Language::Fr, 7, 34586),
        ("qrr-amount-de", "CH44 3199 9123 0008 8901 2", "1949.75", false, Language::De, 1, 0),
        ("scor-open-it", "CH58 0079 1123 0008 8901 2", "", false, Language::It, 12, 65535),
        ("scor-amount-en", "CH58 0079 1123 0008 8901 2", "50", false, Language::En, 3, 2524),
        ("long-li", "LI21 0881 0000 2324 013A A", "999999", true, Language::Fr, 123456789, 40000),
    ];
    let mut all = Vec::new();
    for (name, iban, amount, long, language, station, key) in cases {
        let creditor = creditor(iban, amount, long);
        let key = KeyNumber(key);
        let station_name = if long {
            "Résidence « Les Mélèzes » – Bâtiment Nord-Est, entrée 3"
        } else {
            "Station Hérémence"
        };
        let message = KeyBill::message(language, key, station_name);
        let bill = QrBill::for_key(&creditor, KeyReference { station: StationId(station), key }, &message)
            .expect("a reference for the station");
        let key_bill = KeyBill {
            bill,
            language,
            key,
            station: station_name.into(),
            holder: Some("Anne-Françoise Müller-Dupont".into()),
            flat: Some("3e étage, appartement 3.2".into()),
        };
        let pdf = qr_bills(std::slice::from_ref(&key_bill)).expect("the bill is drawn");
        std::fs::write(format!("{dir}/{name}.pdf"), &pdf).expect("the file is written");
        println!("{name}.pdf: {} bytes", pdf.len());
        all.push(key_bill);
    }
    let pdf = qr_bills(&all).expect("the bills are drawn");
    std::fs::write(format!("{dir}/station.pdf"), &pdf).expect("the file is written");
    println!("station.pdf: {} pages, {} bytes", all.len(), pdf.len());
}
