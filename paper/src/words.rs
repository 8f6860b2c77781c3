//! What the papers say to a key's holder, in their language. The QR-bill's payment part has its own,
//! fixed words (`domain::payment::BillWords`).

use domain::Language;

/// The letter above a key's payment part.
pub(crate) struct BillLetter {
    /// "{key}" is replaced.
    pub title: &'static str,
    pub station: &'static str,
    pub flat: &'static str,
    pub reference: &'static str,
    pub how: &'static str,
    pub open_amount: &'static str,
    /// "{amount}" is replaced.
    pub fixed_amount: &'static str,
    pub load: &'static str,
    /// The QR-bill's additional information: "{key}" and "{station}" are replaced.
    pub message: &'static str,
}

pub(crate) fn bill_letter(language: Language) -> &'static BillLetter {
    match language {
        Language::Fr => &BillLetter {
            title: "Recharge de votre clé n° {key}",
            station: "Station",
            flat: "Logement",
            reference: "Référence de la clé",
            how: "Payez avec ce bulletin dans votre application bancaire (scannez le code QR), à un guichet \
                  postal ou par un ordre permanent avec la référence ci-dessus : chaque paiement recharge \
                  cette clé, et elle seule. Ce bulletin sert pour toutes vos recharges.",
            open_amount: "Inscrivez le montant que vous souhaitez charger.",
            fixed_amount: "Le montant prévu est de CHF {amount}.",
            load: "Dès que le paiement est reçu, la recharge part vers la station : présentez votre clé au \
                   lecteur pour charger le crédit.",
            message: "Recharge clé {key} - {station}",
        },
        Language::De => &BillLetter {
            title: "Aufladung Ihres Schlüssels Nr. {key}",
            station: "Station",
            flat: "Wohnung",
            reference: "Referenz des Schlüssels",
            how: "Bezahlen Sie mit diesem Einzahlungsschein in Ihrer Banking-App (QR-Code scannen), am \
                  Postschalter oder per Dauerauftrag mit der obigen Referenz: Jede Zahlung lädt diesen \
                  Schlüssel auf, und nur ihn. Der Schein gilt für alle Ihre Aufladungen.",
            open_amount: "Tragen Sie den Betrag ein, den Sie aufladen möchten.",
            fixed_amount: "Der vorgesehene Betrag ist CHF {amount}.",
            load: "Sobald die Zahlung eingegangen ist, geht die Aufladung an die Station: Halten Sie Ihren \
                   Schlüssel an das Lesegerät, um das Guthaben zu laden.",
            message: "Aufladung Schlüssel {key} - {station}",
        },
        Language::It => &BillLetter {
            title: "Ricarica della sua chiave n. {key}",
            station: "Stazione",
            flat: "Appartamento",
            reference: "Riferimento della chiave",
            how: "Paghi con questa polizza nella sua app bancaria (scansioni il codice QR), allo sportello \
                  postale o con un ordine permanente con il riferimento qui sopra: ogni pagamento ricarica \
                  questa chiave, e solo essa. La polizza vale per tutte le sue ricariche.",
            open_amount: "Indichi l'importo che desidera caricare.",
            fixed_amount: "L'importo previsto è di CHF {amount}.",
            load: "Appena il pagamento è ricevuto, la ricarica parte verso la stazione: presenti la chiave \
                   al lettore per caricare il credito.",
            message: "Ricarica chiave {key} - {station}",
        },
        Language::En => &BillLetter {
            title: "Top-up of your key no. {key}",
            station: "Station",
            flat: "Flat",
            reference: "Key reference",
            how: "Pay with this slip in your banking app (scan the QR code), at a post office counter or by \
                  standing order with the reference above: every payment tops up this key, and only this \
                  one. The slip serves for all your top-ups.",
            open_amount: "Enter the amount you want to load.",
            fixed_amount: "The amount foreseen is CHF {amount}.",
            load: "As soon as the payment arrives, the top-up goes to the station: hold your key to the \
                   reader to load the credit.",
            message: "Top-up key {key} - {station}",
        },
    }
}
