//! Alerts: once a check interval the server reads the facts (the modem's state in memory, the rest from
//! the database), `domain::alert::evaluate` says what holds, and `Db::sync_alerts` opens and clears the
//! kept alerts with their mails in one commit. Silent stations are asked for their state first. At 07:00
//! in Zurich the digests are queued. The mailer (`mailer`) sends the queued mails apart from everything
//! else: a mail server away delays mails, never a top-up.

pub mod mail;
mod mailer;

use std::sync::Arc;
use std::time::Duration;

use chrono::Timelike;
use db::Db;
use domain::Timestamp;
use domain::alert::{self, GeranceThresholds, ServerThresholds};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::config::SmtpUrl;
use crate::feed::Journal;
use crate::sms::{ModemStatus, queue_status_request};

/// How alerts are decided and sent.
#[derive(Debug, Clone)]
pub struct AlertSettings {
    pub server: ServerThresholds,
    /// The thresholds of gérances that did not set their own.
    pub defaults: GeranceThresholds,
    pub check_every: Duration,
    /// Without it, alerts are shown in the app only (no mail is queued).
    pub mail: Option<MailSettings>,
    /// The address people reach the application at, for links (`https://recharge.example.ch`).
    pub public_url: String,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            server: ServerThresholds::default(),
            defaults: GeranceThresholds::default(),
            check_every: Duration::from_secs(60),
            mail: None,
            public_url: "http://localhost:3000".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct MailSettings {
    pub smtp: SmtpUrl,
    pub from: lettre::message::Mailbox,
    /// The first wait before a mail is tried again (doubled each time, up to 30 minutes).
    pub first_retry: Duration,
}

/// The hour (Zurich) from which the day's digest is sent, and the hour after which a server started
/// late no longer sends that day's.
const DIGEST_FROM_HOUR: u32 = 7;
const DIGEST_UNTIL_HOUR: u32 = 12;

/// Starts the checks and, when a mail server is configured, the mailer.
pub fn start(db: Db, journal: Journal, modem: ModemStatus, settings: AlertSettings) -> Vec<JoinHandle<()>> {
    let wake_mailer = Arc::new(Notify::new());
    let mut tasks = Vec::new();
    let mail = settings.mail.is_some();
    if let Some(mail) = settings.mail.clone() {
        tasks.push(tokio::spawn(mailer::run(
            db.clone(),
            mail,
            settings.public_url.clone(),
            wake_mailer.clone(),
        )));
    } else {
        tracing::info!("no mail server (--smtp-url): alerts are shown in the app only");
    }
    tasks.push(tokio::spawn(async move {
        let mut tick = tokio::time::interval(settings.check_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match check(&db, &journal, &modem, &settings, mail).await {
                Ok(true) => wake_mailer.notify_one(),
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "checking alerts failed"),
            }
        }
    }));
    tasks
}

/// One check: `true` when mails were queued.
async fn check(
    db: &Db,
    journal: &Journal,
    modem: &ModemStatus,
    settings: &AlertSettings,
    mail: bool,
) -> db::Result<bool> {
    let now = Timestamp::now();
    let mut facts = db.alert_facts(now).await?;
    facts.server = settings.server;
    facts.default_thresholds = settings.defaults;
    let m = modem.get();
    facts.modem = Some(alert::ModemFacts {
        connected: m.connected,
        since: m.since,
        error: m.error,
        credit_answer: m.credit,
    });
    let evaluation = alert::evaluate(&facts);
    let mut asked = false;
    for station in &evaluation.ask {
        match queue_status_request(db, *station).await {
            Ok(queued) => asked |= queued,
            Err(e) => tracing::warn!(error = %e, %station, "asking a silent station for its state failed"),
        }
    }
    if asked {
        journal.wake();
    }
    let changes = db.sync_alerts(&evaluation.raised, &evaluation.weak, now, mail).await?;
    if changes.opened + changes.cleared > 0 {
        tracing::info!(opened = changes.opened, cleared = changes.cleared, "alerts changed");
    }
    let mut queued = mail && changes.opened + changes.cleared > 0;
    if mail && let Some(day) = digest_day(now) {
        queued |= db.queue_digests(&day, now).await? > 0;
    }
    Ok(queued)
}

/// The Zurich day whose digest is due at `now`, between 07:00 and noon.
fn digest_day(now: Timestamp) -> Option<String> {
    let utc = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(now.millis())?;
    let zurich = utc.with_timezone(&chrono_tz::Europe::Zurich);
    (DIGEST_FROM_HOUR..DIGEST_UNTIL_HOUR)
        .contains(&zurich.hour())
        .then(|| zurich.format("%Y-%m-%d").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_is_due_from_seven_in_zurich_until_noon() {
        // 2026-12-04 06:00 UTC is 07:00 in Zurich (winter); 2026-07-01 05:00 UTC is 07:00 (summer).
        let at = |s: &str| Timestamp(chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis());
        assert_eq!(digest_day(at("2026-12-04T05:59:59Z")), None);
        assert_eq!(digest_day(at("2026-12-04T06:00:00Z")).as_deref(), Some("2026-12-04"));
        assert_eq!(digest_day(at("2026-12-04T10:59:59Z")).as_deref(), Some("2026-12-04"));
        assert_eq!(digest_day(at("2026-12-04T11:00:00Z")), None);
        assert_eq!(digest_day(at("2026-07-01T04:59:00Z")), None);
        assert_eq!(digest_day(at("2026-07-01T05:00:00Z")).as_deref(), Some("2026-07-01"));
    }
}
