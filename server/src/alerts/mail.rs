//! An alert mail's subject and bodies (plain text and HTML), in the recipient's language. Pure: what is
//! sent is decided here and tested without a mail server. Nothing secret is in an alert's facts (no
//! password, PIN or station key), so nothing secret can be in a mail.

use db::{AlertRecord, MailContent};
use domain::Language;
use domain::alert::words::{self, mail_words};

/// A mail ready to be handed to the mail server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// What `content` says to a reader of `language`, with links under `base` (`https://host`).
pub fn compose(content: &MailContent, language: Language, base: &str) -> Composed {
    let w = mail_words(language);
    match content {
        MailContent::Opened(a) | MailContent::Cleared(a) => {
            let cleared = matches!(content, MailContent::Cleared(_));
            let title = words::title(&a.condition, language);
            let detail = words::detail(&a.condition, language);
            let link = format!("{base}{}", a.condition.page());
            let since = format!("{} {}", w.since, a.opened_at.zurich());
            let prefix = if cleared { w.cleared } else { w.opened };
            let subject = format!("[Recharge] {prefix} : {title}");
            let subject = if language == Language::Fr { subject } else { subject.replacen(" : ", ": ", 1) };
            let mut lines = Vec::new();
            if cleared {
                lines.push(w.cleared_body.to_owned());
                lines.push(String::new());
            }
            lines.push(title.clone());
            if !cleared {
                lines.push(detail.clone());
            }
            lines.push(since.clone());
            let text = format!("{}\n\n{}: {link}\n\n-- \n{}\n", lines.join("\n"), w.see, w.footer);
            let intro = if cleared { format!("<p>{}</p>", esc(w.cleared_body)) } else { String::new() };
            let detail_html = if cleared { String::new() } else { format!("<p>{}</p>", esc(&detail)) };
            let html = page(
                language,
                &format!(
                    "{intro}<h1 style=\"font-size:18px\">{}</h1>{detail_html}<p>{}</p>\
                     <p><a href=\"{}\">{}</a></p>",
                    esc(&title),
                    esc(&since),
                    esc(&link),
                    esc(w.see),
                ),
                w.footer,
            );
            Composed { subject, text, html }
        }
        MailContent::Digest { day, alerts } => {
            let link = format!("{base}/alerts");
            let subject = format!("[Recharge] {} — {day} ({})", w.digest_subject, alerts.len());
            let items: Vec<(String, String)> = alerts.iter().map(|a| digest_line(a, language)).collect();
            let text = format!(
                "{}\n\n{}\n\n{}: {link}\n\n-- \n{}\n",
                w.digest_intro,
                items.iter().map(|(t, s)| format!("- {t} ({s})")).collect::<Vec<_>>().join("\n"),
                w.see,
                w.footer
            );
            let list: String = items
                .iter()
                .map(|(t, s)| format!("<li>{} <small>({})</small></li>", esc(t), esc(s)))
                .collect();
            let html = page(
                language,
                &format!(
                    "<p>{}</p><ul>{list}</ul><p><a href=\"{}\">{}</a></p>",
                    esc(w.digest_intro),
                    esc(&link),
                    esc(w.see)
                ),
                w.footer,
            );
            Composed { subject, text, html }
        }
    }
}

fn digest_line(a: &AlertRecord, language: Language) -> (String, String) {
    let w = mail_words(language);
    let mut since = format!("{} {}", w.since.to_lowercase(), a.opened_at.zurich());
    if let Some((who, _)) = &a.acknowledged {
        since.push_str(&format!(", {} {who}", w.acknowledged));
    }
    (words::title(&a.condition, language), since)
}

fn page(language: Language, body: &str, footer: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"{}\"><head><meta charset=\"utf-8\"><title>Recharge</title></head>\
         <body style=\"font-family:sans-serif;color:#1a1a1a\">{body}<hr><p style=\"color:#555;font-size:12px\">{}</p>\
         </body></html>",
        language.code(),
        esc(footer)
    )
}

/// Text for HTML: the five characters that mean something there.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use db::AlertId;
    use domain::alert::Condition;
    use domain::{StationId, Timestamp};

    use super::*;

    fn alert(condition: Condition) -> AlertRecord {
        AlertRecord {
            id: AlertId(1),
            gerance: None,
            condition,
            opened_at: Timestamp(1_780_000_000_000),
            cleared_at: None,
            acknowledged: None,
            mail_problem: None,
        }
    }

    #[test]
    fn a_mail_says_what_where_and_since_when_in_the_readers_language_with_a_link() {
        let a =
            alert(Condition::StationSilent { station: StationId(3), name: "Sion <A&B>".into(), heard: None });
        let fr = compose(&MailContent::Opened(a.clone()), Language::Fr, "https://r.example.ch");
        assert_eq!(fr.subject, "[Recharge] Alerte : Sion <A&B> ne répond plus");
        assert!(fr.text.contains("Voir: https://r.example.ch/stations"), "{}", fr.text);
        assert!(fr.text.contains("Depuis le 28.05.2026"), "{}", fr.text);
        assert!(fr.html.contains("Sion &lt;A&amp;B&gt; ne répond plus"), "{}", fr.html);
        assert!(!fr.html.contains("<A&B>"));
        let de = compose(&MailContent::Cleared(a), Language::De, "https://r.example.ch");
        assert_eq!(de.subject, "[Recharge] Behoben: Sion <A&B> antwortet nicht mehr");
        assert!(de.text.starts_with("Dieser Alarm ist aufgehoben"), "{}", de.text);
    }

    #[test]
    fn the_digest_lists_what_is_open() {
        let mut b = alert(Condition::PaymentsWaiting { count: 2, oldest: Timestamp(1_780_000_000_000) });
        b.acknowledged = Some(("anna@example.ch".into(), Timestamp(1_780_000_100_000)));
        let alerts = vec![alert(Condition::OutboxStale { oldest: Timestamp(1), waiting: 3 }), b];
        let m = compose(&MailContent::Digest { day: "2026-12-04".into(), alerts }, Language::It, "http://h");
        assert_eq!(m.subject, "[Recharge] Allarmi aperti — 2026-12-04 (2)");
        assert!(m.text.contains("- 3 SMS in attesa di invio (dal "), "{}", m.text);
        assert!(m.text.contains("visto da anna@example.ch"), "{}", m.text);
        assert!(m.text.contains("http://h/alerts"));
    }
}
