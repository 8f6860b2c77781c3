-- Alerts: conditions that hold (a SIM running out of credit, a station silent, a failed top-up, …), kept
-- so that a restart neither mails them again nor forgets them; the mails they cause, sent and retried
-- apart from the modem; the thresholds a gérance set; each account's choice of mails.

CREATE TABLE alerts (
    id               INTEGER PRIMARY KEY,
    -- domain::alert::Kind.
    kind             TEXT    NOT NULL,
    -- What it is about within its kind: '' (the server), 's<station>', 't<transaction>', 'p<payment>',
    -- 'g<gérance>'.
    subject          TEXT    NOT NULL,
    -- NULL: the server's own (operators only).
    gerance_id       INTEGER REFERENCES gerances (id),
    station_id       INTEGER REFERENCES stations (id),
    -- domain::alert::Condition as JSON, as last seen.
    detail           TEXT    NOT NULL,
    opened_at        BIGINT  NOT NULL,
    cleared_at       BIGINT,
    acknowledged_by  INTEGER REFERENCES users (id),
    acknowledged_at  BIGINT,
    -- A recipient the mail server refused, with its answer.
    mail_problem     TEXT
);
-- At most one open alert per condition and subject.
CREATE UNIQUE INDEX alerts_open ON alerts (kind, subject) WHERE cleared_at IS NULL;
CREATE INDEX alerts_by_subject ON alerts (kind, subject, id);
CREATE INDEX alerts_by_gerance ON alerts (gerance_id, cleared_at, id);

-- A mail to one account: when an alert opens or clears, or the morning digest. Written in the same
-- transaction as the alert's change; sent (and retried) by the mailer.
CREATE TABLE alert_mails (
    id               INTEGER PRIMARY KEY,
    alert_id         INTEGER REFERENCES alerts (id),
    user_id          INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    what             TEXT    NOT NULL CHECK (what IN ('opened', 'cleared', 'digest')),
    -- The digest's day in Zurich (YYYY-MM-DD).
    day              TEXT,
    created_at       BIGINT  NOT NULL,
    -- When to try (again); NULL once sent or given up.
    next_attempt_at  BIGINT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    sent_at          BIGINT,
    -- The last failure, or why it was given up (the recipient refused).
    error            TEXT,
    CHECK ((what = 'digest') = (day IS NOT NULL AND alert_id IS NULL))
);
CREATE INDEX alert_mails_due ON alert_mails (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX alert_mails_by_alert ON alert_mails (alert_id);
CREATE UNIQUE INDEX alert_mails_one_digest ON alert_mails (user_id, day) WHERE what = 'digest';

-- Since when a condition that must last (a weak signal) has been seen.
CREATE TABLE alert_watch (
    kind     TEXT    NOT NULL,
    subject  TEXT    NOT NULL,
    since    BIGINT  NOT NULL,
    PRIMARY KEY (kind, subject)
);

-- A gérance's own thresholds (without a row: the operator's defaults).
CREATE TABLE alert_thresholds (
    gerance_id             INTEGER PRIMARY KEY REFERENCES gerances (id),
    station_credit_rappen  BIGINT  NOT NULL,
    silent_ms              BIGINT  NOT NULL,
    weak_signal_dbm        BIGINT  NOT NULL,
    cancel_wait_ms         BIGINT  NOT NULL,
    payments_wait_ms       BIGINT  NOT NULL,
    updated_by             INTEGER REFERENCES users (id),
    updated_at             BIGINT  NOT NULL
);

-- Each account's choice: a mail when an alert opens and clears (on unless turned off), the morning
-- digest (off unless chosen).
ALTER TABLE users ADD COLUMN alert_mails BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE users ADD COLUMN alert_digest BOOLEAN NOT NULL DEFAULT FALSE;

-- When a cancellation was asked for: one unconfirmed after a while is an alert.
ALTER TABLE transactions ADD COLUMN cancelling_since BIGINT;
