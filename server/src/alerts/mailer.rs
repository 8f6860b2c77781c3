//! Sends the queued alert mails, one recipient per mail: a recipient the mail server refuses is given up
//! and said on its alert while the others still get theirs. A mail server that is away or refusing for
//! now: the mail is tried again later, waiting longer each time (30 s doubled up to 30 min), and the
//! outage is logged once, with its end.

use std::sync::Arc;
use std::time::Duration;

use db::{Db, MailJob};
use domain::Timestamp;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::Notify;

use super::MailSettings;
use super::mail::compose;

const MAX_RETRY_MS: i64 = 30 * 60_000;
/// Mails read per turn.
const BATCH: i64 = 20;

pub(super) async fn run(db: Db, settings: MailSettings, base: String, wake: Arc<Notify>) {
    let transport = match AsyncSmtpTransport::<Tokio1Executor>::from_url(settings.smtp.as_str()) {
        Ok(builder) => builder.timeout(Some(Duration::from_secs(30))).build(),
        Err(e) => {
            // Checked when the flags were read: only a changed library could land here.
            tracing::error!(error = %e, "the mail server's address cannot be used; no alert mail is sent");
            return;
        }
    };
    let mut outage = false;
    loop {
        let now = Timestamp::now();
        let jobs = match db.due_mails(now, BATCH).await {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::warn!(error = %e, "reading the mails to send failed");
                Vec::new()
            }
        };
        let full = jobs.len() as i64 == BATCH;
        for job in jobs {
            let id = job.id;
            let attempts = job.attempts;
            let result = send(&transport, &settings.from, &base, job).await;
            let stored = match result {
                Ok(()) => {
                    if outage {
                        tracing::info!("the mail server takes mails again");
                        outage = false;
                    }
                    db.mail_sent(id, Timestamp::now()).await
                }
                Err(Failure::Refused(problem)) => {
                    tracing::warn!(problem, "the mail server refused a recipient of an alert mail");
                    db.mail_refused(id, &problem).await
                }
                Err(Failure::Later(error)) => {
                    if !outage {
                        tracing::warn!(
                            error,
                            "the mail server cannot take mails now; they wait and are retried"
                        );
                        outage = true;
                    }
                    let first = i64::try_from(settings.first_retry.as_millis()).unwrap_or(30_000);
                    let wait = first.saturating_mul(1 << attempts.clamp(0, 10)).min(MAX_RETRY_MS);
                    db.mail_deferred(id, &error, Timestamp::now().plus_millis(wait)).await
                }
            };
            if let Err(e) = stored {
                tracing::warn!(error = %e, "recording a mail's result failed");
            }
        }
        if full {
            continue;
        }
        let wait = match db.next_mail_at().await {
            Ok(Some(next)) => {
                Duration::from_millis((next.millis() - Timestamp::now().millis()).clamp(0, 60_000) as u64)
            }
            _ => Duration::from_secs(60),
        };
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

enum Failure {
    /// The recipient is refused for good (the server's answer, with the address).
    Refused(String),
    /// Not now: the server away, refusing for the moment, or the login refused (a setting to mend).
    Later(String),
}

async fn send(
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    from: &Mailbox,
    base: &str,
    job: MailJob,
) -> Result<(), Failure> {
    let composed = compose(&job.content, job.language, base);
    let to: Mailbox =
        job.to.as_str().parse().map_err(|e| Failure::Refused(format!("{}: {e}", job.to.as_str())))?;
    let message = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(composed.subject)
        .multipart(MultiPart::alternative_plain_html(composed.text, composed.html))
        .map_err(|e| Failure::Refused(format!("{}: {e}", job.to.as_str())))?;
    match transport.send(message).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_permanent() && !login_refused(&e) => {
            Err(Failure::Refused(format!("{}: {e}", job.to.as_str())))
        }
        Err(e) => Err(Failure::Later(e.to_string())),
    }
}

/// The server refused the login or asks for one (530, 534, 535, 538): every mail would be refused the
/// same way; that is the operator's setting to mend, not the recipient's fault.
fn login_refused(e: &lettre::transport::smtp::Error) -> bool {
    e.status().is_some_and(|code| matches!(code.to_string().as_str(), "530" | "534" | "535" | "538"))
}
