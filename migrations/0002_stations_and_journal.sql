-- Stations with their SIM and protocol state, transactions with their life cycle, the SMS sent and
-- received. The 0001 `stations` and `transactions` tables were placeholders that nothing could fill: they
-- are replaced.

DROP INDEX transactions_by_gerance;
DROP TABLE transactions;
DROP INDEX stations_by_gerance;
DROP TABLE stations;

CREATE TABLE stations (
    -- Also the station's number in the protocol (s=…).
    id                 INTEGER PRIMARY KEY,
    gerance_id         INTEGER NOT NULL REFERENCES gerances (id),
    name               TEXT    NOT NULL,
    place              TEXT    NOT NULL,
    -- The station SIM's number, E.164 with '+'.
    phone              TEXT    NOT NULL UNIQUE,
    -- 32 random bytes shared with the station (the protocol's HMAC key).
    secret             BLOB    NOT NULL,
    max_amount_rappen  BIGINT  NOT NULL CHECK (max_amount_rappen > 0),
    -- Counter of the last message sent to the station; its replay window for messages from it.
    sent_counter       BIGINT  NOT NULL DEFAULT 0,
    heard_highest      BIGINT  NOT NULL DEFAULT 0,
    heard_window       BIGINT  NOT NULL DEFAULT 0,
    -- Live facts from its messages.
    last_heard_at      BIGINT,
    pending            BIGINT,
    signal_dbm         BIGINT,
    sim_credit_rappen  BIGINT,
    firmware           TEXT,
    rejected           BIGINT  NOT NULL DEFAULT 0,
    created_at         BIGINT  NOT NULL,
    UNIQUE (gerance_id, name)
);
CREATE INDEX stations_by_gerance ON stations (gerance_id);

-- Monotonic counters: 'journal' numbers every change of a transaction (the event stream's ids).
CREATE TABLE counters (
    name   TEXT    PRIMARY KEY,
    value  BIGINT  NOT NULL
);
INSERT INTO counters (name, value) VALUES ('journal', 0);

CREATE TABLE transactions (
    -- The journal's N°: one counter for the whole system, as in the original; the protocol's tx=.
    id               INTEGER PRIMARY KEY,
    gerance_id       INTEGER NOT NULL REFERENCES gerances (id),
    station_id       INTEGER NOT NULL REFERENCES stations (id),
    key_number       INTEGER NOT NULL CHECK (key_number BETWEEN 0 AND 65535),
    amount_rappen    BIGINT  NOT NULL CHECK (amount_rappen > 0),
    status           TEXT    NOT NULL CHECK (status IN
                         ('queued', 'sent', 'confirmed', 'reloaded', 'failed', 'cancelling', 'cancelled')),
    created_by       INTEGER REFERENCES users (id),
    -- The form's one-time token: a double click or a resubmitted form creates nothing twice.
    request_token    TEXT    UNIQUE,
    created_at       BIGINT  NOT NULL,
    sent_at          BIGINT,
    confirmed_at     BIGINT,
    reloaded_at      BIGINT,
    ended_at         BIGINT,
    balance_rappen   BIGINT,
    -- Why it failed or what went wrong last (a code, translated in the UI).
    reason           TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    -- When the modem task should send (again); NULL when nothing is to be sent.
    next_attempt_at  BIGINT,
    -- The 'journal' counter value of its last change.
    version          BIGINT  NOT NULL
);
CREATE INDEX transactions_by_gerance ON transactions (gerance_id, id);
CREATE INDEX transactions_due ON transactions (next_attempt_at);
CREATE INDEX transactions_by_version ON transactions (version);

-- Every SMS the server sent to a station, with the modem's message reference and the delivery report.
CREATE TABLE sms_out (
    id              INTEGER PRIMARY KEY,
    station_id      INTEGER NOT NULL REFERENCES stations (id),
    transaction_id  INTEGER REFERENCES transactions (id),
    text            TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    sent_at         BIGINT,
    reference       INTEGER,
    error           TEXT,
    report_status   INTEGER,
    reported_at     BIGINT
);
CREATE INDEX sms_out_by_reference ON sms_out (reference, sent_at);

-- Every SMS received, stored raw before it leaves the modem's SIM; unverifiable ones stay for audit.
CREATE TABLE sms_in (
    id           INTEGER PRIMARY KEY,
    received_at  BIGINT  NOT NULL,
    pdu          TEXT    NOT NULL,
    sender       TEXT,
    text         TEXT,
    station_id   INTEGER REFERENCES stations (id),
    -- NULL until processed; then 'applied', 'report', or why it was rejected.
    verdict      TEXT
);
CREATE INDEX sms_in_unprocessed ON sms_in (verdict);
