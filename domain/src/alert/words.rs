//! What an alert says, in the four languages: its title, a sentence on what to do, and the words of the
//! mails around them. The page of alerts and the mails say the same, from here.

use super::Condition;
use crate::Language;
use crate::journal::Reason;

/// An amount of Rappen as a SIM's credit is written: `CHF 4.50`, `CHF -1.20`.
pub fn chf(rappen: i64) -> String {
    let sign = if rappen < 0 { "-" } else { "" };
    let r = rappen.unsigned_abs();
    format!("CHF {sign}{}.{:02}", r / 100, r % 100)
}

/// One line: what is wrong, and where.
pub fn title(c: &Condition, l: Language) -> String {
    use Language::*;
    match c {
        Condition::ModemCredit { credit, .. } => match l {
            Fr => format!("Crédit de la SIM du modem bas : {}", chf(*credit)),
            De => format!("Guthaben der Modem-SIM tief: {}", chf(*credit)),
            It => format!("Credito della SIM del modem basso: {}", chf(*credit)),
            En => format!("Modem SIM credit low: {}", chf(*credit)),
        },
        Condition::ModemCreditUnread { .. } => match l {
            Fr => "Crédit de la SIM du modem illisible".into(),
            De => "Guthaben der Modem-SIM nicht lesbar".into(),
            It => "Credito della SIM del modem illeggibile".into(),
            En => "Modem SIM credit could not be read".into(),
        },
        Condition::ModemDown { .. } => match l {
            Fr => "Modem GSM déconnecté".into(),
            De => "GSM-Modem getrennt".into(),
            It => "Modem GSM scollegato".into(),
            En => "GSM modem disconnected".into(),
        },
        Condition::OutboxStale { waiting, .. } => match l {
            Fr => format!("{waiting} SMS en attente d'envoi"),
            De => format!("{waiting} SMS warten auf den Versand"),
            It => format!("{waiting} SMS in attesa di invio"),
            En => format!("{waiting} SMS waiting to be sent"),
        },
        Condition::StationCredit { name, credit, .. } => match l {
            Fr => format!("{name} : crédit SIM bas ({})", chf(*credit)),
            De => format!("{name}: SIM-Guthaben tief ({})", chf(*credit)),
            It => format!("{name}: credito SIM basso ({})", chf(*credit)),
            En => format!("{name}: SIM credit low ({})", chf(*credit)),
        },
        Condition::StationSilent { name, .. } => match l {
            Fr => format!("{name} ne répond plus"),
            De => format!("{name} antwortet nicht mehr"),
            It => format!("{name} non risponde più"),
            En => format!("{name} is not answering"),
        },
        Condition::StationSignal { name, dbm, .. } => match l {
            Fr => format!("{name} : signal GSM faible ({dbm} dBm)"),
            De => format!("{name}: schwaches GSM-Signal ({dbm} dBm)"),
            It => format!("{name}: segnale GSM debole ({dbm} dBm)"),
            En => format!("{name}: weak GSM signal ({dbm} dBm)"),
        },
        Condition::TopUpFailed { tx, name, key, amount, .. } => match l {
            Fr => format!("Recharge N° {tx} échouée : clé {key}, {amount}, {name}"),
            De => format!("Aufladung Nr. {tx} fehlgeschlagen: Schlüssel {key}, {amount}, {name}"),
            It => format!("Ricarica N. {tx} fallita: chiave {key}, {amount}, {name}"),
            En => format!("Top-up No. {tx} failed: key {key}, {amount}, {name}"),
        },
        Condition::CancelUnconfirmed { tx, name, key, .. } => match l {
            Fr => format!("Annulation N° {tx} non confirmée : clé {key}, {name}"),
            De => format!("Stornierung Nr. {tx} unbestätigt: Schlüssel {key}, {name}"),
            It => format!("Annullamento N. {tx} non confermato: chiave {key}, {name}"),
            En => format!("Cancellation No. {tx} unconfirmed: key {key}, {name}"),
        },
        Condition::PaymentsWaiting { count, .. } => match l {
            Fr => format!("{count} paiement(s) en attente de décision"),
            De => format!("{count} Zahlung(en) warten auf einen Entscheid"),
            It => format!("{count} pagamento/i in attesa di decisione"),
            En => format!("{count} payment(s) waiting for a decision"),
        },
        Condition::BlockedKeyPayment { key, name, rappen, .. } => match l {
            Fr => format!("Paiement de {} pour la clé bloquée {key} ({name})", chf(*rappen)),
            De => format!("Zahlung von {} für den gesperrten Schlüssel {key} ({name})", chf(*rappen)),
            It => format!("Pagamento di {} per la chiave bloccata {key} ({name})", chf(*rappen)),
            En => format!("Payment of {} for the blocked key {key} ({name})", chf(*rappen)),
        },
    }
}

/// What it means and what to do, in a sentence or two.
pub fn detail(c: &Condition, l: Language) -> String {
    use Language::*;
    match c {
        Condition::ModemCredit { threshold, .. } => match l {
            Fr => format!(
                "Sous le seuil de {}. Rechargez la carte prépayée du modem : sans crédit, aucun SMS ne part.",
                chf(*threshold)
            ),
            De => format!(
                "Unter der Schwelle von {}. Laden Sie die Prepaid-Karte des Modems auf: ohne Guthaben geht kein SMS hinaus.",
                chf(*threshold)
            ),
            It => format!(
                "Sotto la soglia di {}. Ricaricate la carta prepagata del modem: senza credito nessun SMS parte.",
                chf(*threshold)
            ),
            En => format!(
                "Below the threshold of {}. Top up the modem's prepaid card: without credit no SMS leaves.",
                chf(*threshold)
            ),
        },
        Condition::ModemCreditUnread { answer } => match l {
            Fr => format!("L'opérateur a répondu « {answer} » : aucun montant n'a pu y être lu."),
            De => format!("Der Anbieter antwortete «{answer}»: kein Betrag war darin zu lesen."),
            It => format!("L'operatore ha risposto «{answer}»: nessun importo vi si è potuto leggere."),
            En => format!("The operator answered \"{answer}\": no amount could be read from it."),
        },
        Condition::ModemDown { since, error } => {
            let why = error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default();
            match l {
                Fr => format!(
                    "Depuis le {}{why}. Les recharges attendent dans la file et partiront au retour du modem.",
                    since.zurich()
                ),
                De => format!(
                    "Seit {}{why}. Die Aufladungen warten und gehen hinaus, sobald das Modem zurück ist.",
                    since.zurich()
                ),
                It => format!(
                    "Dal {}{why}. Le ricariche attendono e partiranno al ritorno del modem.",
                    since.zurich()
                ),
                En => format!(
                    "Since {}{why}. Top-ups wait in the queue and leave when the modem is back.",
                    since.zurich()
                ),
            }
        }
        Condition::OutboxStale { oldest, .. } => match l {
            Fr => format!("Le plus ancien attend depuis le {}.", oldest.zurich()),
            De => format!("Das älteste wartet seit {}.", oldest.zurich()),
            It => format!("Il più vecchio attende dal {}.", oldest.zurich()),
            En => format!("The oldest has been waiting since {}.", oldest.zurich()),
        },
        Condition::StationCredit { threshold, .. } => match l {
            Fr => format!(
                "Sous le seuil de {}. Rechargez la carte prépayée de la station avant qu'elle ne puisse plus répondre.",
                chf(*threshold)
            ),
            De => format!(
                "Unter der Schwelle von {}. Laden Sie die Prepaid-Karte der Station auf, bevor sie nicht mehr antworten kann.",
                chf(*threshold)
            ),
            It => format!(
                "Sotto la soglia di {}. Ricaricate la carta prepagata della stazione prima che non possa più rispondere.",
                chf(*threshold)
            ),
            En => format!(
                "Below the threshold of {}. Top up the station's prepaid card before it can no longer answer.",
                chf(*threshold)
            ),
        },
        Condition::StationSilent { heard, .. } => {
            let when = heard.map(|h| h.zurich().to_string());
            match (l, when) {
                (Fr, Some(w)) => format!("Dernier message le {w}; elle n'a pas répondu à une demande d'état."),
                (Fr, None) => "Aucun message depuis sa mise en service; elle n'a pas répondu à une demande d'état.".into(),
                (De, Some(w)) => format!("Letzte Nachricht am {w}; sie hat auf eine Statusabfrage nicht geantwortet."),
                (De, None) => "Keine Nachricht seit der Inbetriebnahme; sie hat auf eine Statusabfrage nicht geantwortet.".into(),
                (It, Some(w)) => format!("Ultimo messaggio il {w}; non ha risposto a una richiesta di stato."),
                (It, None) => "Nessun messaggio dalla messa in servizio; non ha risposto a una richiesta di stato.".into(),
                (En, Some(w)) => format!("Last message on {w}; it did not answer a status request."),
                (En, None) => "No message since it was installed; it did not answer a status request.".into(),
            }
        }
        Condition::StationSignal { threshold, since, .. } => match l {
            Fr => format!("Sous {threshold} dBm depuis le {}. Vérifiez l'antenne.", since.zurich()),
            De => format!("Unter {threshold} dBm seit {}. Prüfen Sie die Antenne.", since.zurich()),
            It => format!("Sotto {threshold} dBm dal {}. Controllate l'antenna.", since.zurich()),
            En => format!("Below {threshold} dBm since {}. Check the antenna.", since.zurich()),
        },
        Condition::TopUpFailed { reason, .. } => {
            let why = reason.map(|r| failure(r, l)).unwrap_or_default();
            match l {
                Fr => format!("{why} Le crédit n'a pas été chargé; saisissez-la à nouveau si besoin."),
                De => format!("{why} Das Guthaben wurde nicht geladen; erfassen Sie sie bei Bedarf neu."),
                It => format!("{why} Il credito non è stato caricato; inseritela di nuovo se serve."),
                En => format!("{why} The credit was not loaded; enter it again if need be."),
            }
            .trim()
            .to_owned()
        }
        Condition::CancelUnconfirmed { since, .. } => match l {
            Fr => format!("Demandée le {}; la station ne l'a pas encore confirmée.", since.zurich()),
            De => format!("Verlangt am {}; die Station hat sie noch nicht bestätigt.", since.zurich()),
            It => format!("Richiesto il {}; la stazione non l'ha ancora confermato.", since.zurich()),
            En => format!("Asked for on {}; the station has not confirmed it yet.", since.zurich()),
        },
        Condition::PaymentsWaiting { oldest, .. } => match l {
            Fr => format!("Le plus ancien attend depuis le {}.", oldest.zurich()),
            De => format!("Die älteste wartet seit {}.", oldest.zurich()),
            It => format!("Il più vecchio attende dal {}.", oldest.zurich()),
            En => format!("The oldest has been waiting since {}.", oldest.zurich()),
        },
        Condition::BlockedKeyPayment { .. } => match l {
            Fr => "Aucune recharge n'a été faite. Décidez : débloquer la clé, l'attribuer à une autre, ou écarter le paiement.".into(),
            De => "Es wurde nichts aufgeladen. Entscheiden Sie: Schlüssel entsperren, einem anderen zuweisen oder die Zahlung beiseitelegen.".into(),
            It => "Nessuna ricarica è stata fatta. Decidete: sbloccare la chiave, assegnarlo a un'altra o mettere da parte il pagamento.".into(),
            En => "Nothing was loaded. Decide: unblock the key, assign it to another, or set the payment aside.".into(),
        },
    }
}

fn failure(r: Reason, l: Language) -> &'static str {
    use Language::*;
    match (r, l) {
        (Reason::NoAnswer, Fr) => "La station n'a pas répondu.",
        (Reason::NoAnswer, De) => "Die Station hat nicht geantwortet.",
        (Reason::NoAnswer, It) => "La stazione non ha risposto.",
        (Reason::NoAnswer, En) => "The station did not answer.",
        (Reason::SimCredit, Fr) => "La SIM du modem n'a plus de crédit.",
        (Reason::SimCredit, De) => "Die Modem-SIM hat kein Guthaben mehr.",
        (Reason::SimCredit, It) => "La SIM del modem non ha più credito.",
        (Reason::SimCredit, En) => "The modem's SIM has no credit left.",
        (Reason::ModemRefused | Reason::InvalidPhone, Fr) => "Le réseau a refusé le SMS.",
        (Reason::ModemRefused | Reason::InvalidPhone, De) => "Das Netz hat das SMS abgelehnt.",
        (Reason::ModemRefused | Reason::InvalidPhone, It) => "La rete ha rifiutato l'SMS.",
        (Reason::ModemRefused | Reason::InvalidPhone, En) => "The network refused the SMS.",
        (Reason::StationLimit | Reason::StationAmount, Fr) => "La station l'a refusée (montant).",
        (Reason::StationLimit | Reason::StationAmount, De) => "Die Station hat sie abgelehnt (Betrag).",
        (Reason::StationLimit | Reason::StationAmount, It) => "La stazione l'ha rifiutata (importo).",
        (Reason::StationLimit | Reason::StationAmount, En) => "The station refused it (amount).",
        (Reason::StationFull, Fr) => "La station l'a refusée : sa mémoire est pleine.",
        (Reason::StationFull, De) => "Die Station hat sie abgelehnt: ihr Speicher ist voll.",
        (Reason::StationFull, It) => "La stazione l'ha rifiutata: la sua memoria è piena.",
        (Reason::StationFull, En) => "The station refused it: its memory is full.",
        (Reason::StationExpired, Fr) => "La station l'a refusée : trop ancienne.",
        (Reason::StationExpired, De) => "Die Station hat sie abgelehnt: zu alt.",
        (Reason::StationExpired, It) => "La stazione l'ha rifiutata: troppo vecchia.",
        (Reason::StationExpired, En) => "The station refused it: too old.",
        (Reason::Cancelled, Fr) => "Annulée.",
        (Reason::Cancelled, De) => "Storniert.",
        (Reason::Cancelled, It) => "Annullata.",
        (Reason::Cancelled, En) => "Cancelled.",
    }
}

/// The words of the mails around an alert's title and detail.
pub struct MailWords {
    /// Before a new alert's title in the subject.
    pub opened: &'static str,
    /// Before a cleared alert's title in the subject.
    pub cleared: &'static str,
    /// The cleared mail's first line.
    pub cleared_body: &'static str,
    pub since: &'static str,
    pub see: &'static str,
    pub digest_subject: &'static str,
    pub digest_intro: &'static str,
    pub acknowledged: &'static str,
    pub footer: &'static str,
}

pub fn mail_words(l: Language) -> MailWords {
    match l {
        Language::Fr => MailWords {
            opened: "Alerte",
            cleared: "Résolu",
            cleared_body: "Cette alerte est levée : la situation est revenue à la normale.",
            since: "Depuis le",
            see: "Voir",
            digest_subject: "Alertes ouvertes",
            digest_intro: "Les alertes ouvertes ce matin :",
            acknowledged: "vue par",
            footer: "Recharge vous écrit parce que votre compte reçoit les alertes. Vous pouvez les désactiver sur la page Alertes.",
        },
        Language::De => MailWords {
            opened: "Alarm",
            cleared: "Behoben",
            cleared_body: "Dieser Alarm ist aufgehoben: die Lage ist wieder normal.",
            since: "Seit",
            see: "Ansehen",
            digest_subject: "Offene Alarme",
            digest_intro: "Die heute Morgen offenen Alarme:",
            acknowledged: "gesehen von",
            footer: "Recharge schreibt Ihnen, weil Ihr Konto Alarme erhält. Sie können sie auf der Seite Alarme abbestellen.",
        },
        Language::It => MailWords {
            opened: "Allarme",
            cleared: "Risolto",
            cleared_body: "Questo allarme è rientrato: la situazione è tornata normale.",
            since: "Dal",
            see: "Vedere",
            digest_subject: "Allarmi aperti",
            digest_intro: "Gli allarmi aperti stamattina:",
            acknowledged: "visto da",
            footer: "Recharge vi scrive perché il vostro conto riceve gli allarmi. Potete disattivarli nella pagina Allarmi.",
        },
        Language::En => MailWords {
            opened: "Alert",
            cleared: "Resolved",
            cleared_body: "This alert has cleared: things are back to normal.",
            since: "Since",
            see: "See",
            digest_subject: "Open alerts",
            digest_intro: "The alerts open this morning:",
            acknowledged: "seen by",
            footer: "Recharge writes to you because your account receives alerts. You can turn them off on the Alerts page.",
        },
    }
}
