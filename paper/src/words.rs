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

/// An annual statement's words.
pub(crate) struct StatementWords {
    /// "{year}" is replaced.
    pub title: &'static str,
    pub key: &'static str,
    pub station: &'static str,
    pub holder: &'static str,
    pub flat: &'static str,
    pub date: &'static str,
    pub operation: &'static str,
    pub amount: &'static str,
    pub fee: &'static str,
    pub balance: &'static str,
    pub payment: &'static str,
    pub payment_waiting: &'static str,
    pub top_up: &'static str,
    pub paid: &'static str,
    pub fees: &'static str,
    pub loaded: &'static str,
    pub last_balance: &'static str,
    pub nothing: &'static str,
    /// "{date}" is replaced.
    pub made: &'static str,
    pub continued: &'static str,
}

pub(crate) fn statement_words(language: Language) -> &'static StatementWords {
    match language {
        Language::Fr => &StatementWords {
            title: "Relevé annuel {year}",
            key: "Clé",
            station: "Station",
            holder: "Titulaire",
            flat: "Logement",
            date: "Date",
            operation: "Opération",
            amount: "Montant (CHF)",
            fee: "Frais (CHF)",
            balance: "Solde (CHF)",
            payment: "Paiement reçu",
            payment_waiting: "Paiement reçu, recharge en attente",
            top_up: "Recharge chargée sur la clé",
            paid: "Paiements reçus",
            fees: "dont frais",
            loaded: "Chargé sur la clé",
            last_balance: "Dernier solde signalé",
            nothing: "Aucun paiement ni aucune recharge cette année.",
            made: "Établi le {date}.",
            continued: "(suite)",
        },
        Language::De => &StatementWords {
            title: "Jahresauszug {year}",
            key: "Schlüssel",
            station: "Station",
            holder: "Inhaber",
            flat: "Wohnung",
            date: "Datum",
            operation: "Vorgang",
            amount: "Betrag (CHF)",
            fee: "Gebühr (CHF)",
            balance: "Guthaben (CHF)",
            payment: "Zahlung erhalten",
            payment_waiting: "Zahlung erhalten, Aufladung ausstehend",
            top_up: "Aufladung auf den Schlüssel geladen",
            paid: "Erhaltene Zahlungen",
            fees: "davon Gebühren",
            loaded: "Auf den Schlüssel geladen",
            last_balance: "Zuletzt gemeldetes Guthaben",
            nothing: "Keine Zahlung und keine Aufladung in diesem Jahr.",
            made: "Erstellt am {date}.",
            continued: "(Fortsetzung)",
        },
        Language::It => &StatementWords {
            title: "Estratto annuale {year}",
            key: "Chiave",
            station: "Stazione",
            holder: "Titolare",
            flat: "Appartamento",
            date: "Data",
            operation: "Operazione",
            amount: "Importo (CHF)",
            fee: "Spese (CHF)",
            balance: "Saldo (CHF)",
            payment: "Pagamento ricevuto",
            payment_waiting: "Pagamento ricevuto, ricarica in attesa",
            top_up: "Ricarica caricata sulla chiave",
            paid: "Pagamenti ricevuti",
            fees: "di cui spese",
            loaded: "Caricato sulla chiave",
            last_balance: "Ultimo saldo segnalato",
            nothing: "Nessun pagamento e nessuna ricarica quest'anno.",
            made: "Allestito il {date}.",
            continued: "(seguito)",
        },
        Language::En => &StatementWords {
            title: "Annual statement {year}",
            key: "Key",
            station: "Station",
            holder: "Holder",
            flat: "Flat",
            date: "Date",
            operation: "Operation",
            amount: "Amount (CHF)",
            fee: "Fee (CHF)",
            balance: "Balance (CHF)",
            payment: "Payment received",
            payment_waiting: "Payment received, top-up waiting",
            top_up: "Top-up loaded onto the key",
            paid: "Payments received",
            fees: "of which fees",
            loaded: "Loaded onto the key",
            last_balance: "Last balance reported",
            nothing: "No payment and no top-up this year.",
            made: "Made on {date}.",
            continued: "(continued)",
        },
    }
}
