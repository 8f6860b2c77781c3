-- The money half: the gérance's creditor account, the key registry, bank files and the payments they
-- report, the link from a payment to the one top-up it paid for, and the append-only audit log.

-- Per gérance: the account tenants pay into, as a QR-bill names it (structured address only), and how
-- payments become top-ups.
CREATE TABLE creditors (
    gerance_id                 INTEGER PRIMARY KEY REFERENCES gerances (id),
    -- Without spaces, checked (domain::payment::Iban); one account belongs to one gérance.
    iban                       TEXT    NOT NULL UNIQUE,
    name                       TEXT    NOT NULL,
    street                     TEXT    NOT NULL,
    building                   TEXT    NOT NULL,
    postcode                   TEXT    NOT NULL,
    town                       TEXT    NOT NULL,
    country                    TEXT    NOT NULL CHECK (length(country) = 2),
    -- Digits the bank wants at the start of every QR reference ('' for none).
    qrr_prefix                 TEXT    NOT NULL DEFAULT '',
    -- The amount printed on the QR-bills; NULL leaves it open.
    bill_amount_rappen         BIGINT  CHECK (bill_amount_rappen IS NULL OR bill_amount_rappen > 0),
    fee_fixed_rappen           BIGINT  NOT NULL DEFAULT 0 CHECK (fee_fixed_rappen >= 0),
    fee_basis_points           BIGINT  NOT NULL DEFAULT 0 CHECK (fee_basis_points BETWEEN 0 AND 10000),
    -- Automatic mode: proposals with a key reference up to this amount are approved at import; NULL: off.
    auto_approve_rappen        BIGINT  CHECK (auto_approve_rappen IS NULL OR auto_approve_rappen > 0),
    updated_at                 BIGINT  NOT NULL
);

-- The key registry: a key is its station and its number. Created by its first top-up, by hand or by a
-- list; its holder is personal data, seen only by its gérance and operators.
CREATE TABLE keys (
    station_id   INTEGER NOT NULL REFERENCES stations (id),
    key_number   INTEGER NOT NULL CHECK (key_number BETWEEN 0 AND 65535),
    gerance_id   INTEGER NOT NULL REFERENCES gerances (id),
    state        TEXT    NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'blocked', 'retired')),
    holder_name  TEXT,
    flat         TEXT,
    email        TEXT,
    locale       TEXT    CHECK (locale IS NULL OR locale IN ('fr', 'de', 'it', 'en')),
    note         TEXT,
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL,
    PRIMARY KEY (station_id, key_number)
);
CREATE INDEX keys_by_gerance ON keys (gerance_id, key_number);

-- Every key already topped up is in the registry.
INSERT INTO keys (station_id, key_number, gerance_id, created_at, updated_at)
    SELECT station_id, key_number, MIN(gerance_id), MIN(created_at), MIN(created_at)
    FROM transactions GROUP BY station_id, key_number;

-- One row per bank file taken in: who, which file (name and SHA-256), what it gave.
CREATE TABLE payment_imports (
    id            INTEGER PRIMARY KEY,
    gerance_id    INTEGER NOT NULL REFERENCES gerances (id),
    -- NULL: the command line.
    imported_by   INTEGER REFERENCES users (id),
    file_name     TEXT    NOT NULL,
    sha256        TEXT    NOT NULL,
    format        TEXT    NOT NULL,
    message_id    TEXT,
    new_count     BIGINT  NOT NULL,
    duplicates    BIGINT  NOT NULL,
    proposals     BIGINT  NOT NULL,
    suggestions   BIGINT  NOT NULL,
    exceptions    BIGINT  NOT NULL,
    listed        BIGINT  NOT NULL,
    approved      BIGINT  NOT NULL,
    created_at    BIGINT  NOT NULL
);
CREATE INDEX payment_imports_by_gerance ON payment_imports (gerance_id, id);

-- Every movement a bank file reported on a gérance's account, once: the bank's reference for it is the
-- same in every file that reports it (a camt.053 after the camt.054).
CREATE TABLE payments (
    id             INTEGER PRIMARY KEY,
    gerance_id     INTEGER NOT NULL REFERENCES gerances (id),
    import_id      INTEGER NOT NULL REFERENCES payment_imports (id),
    account_iban   TEXT    NOT NULL,
    bank_ref       TEXT    NOT NULL,
    direction      TEXT    NOT NULL CHECK (direction IN ('CRDT', 'DBIT')),
    reversal       BOOLEAN NOT NULL,
    booked         BOOLEAN NOT NULL,
    -- Hundredths of the currency (Rappen for CHF).
    amount_minor   BIGINT  NOT NULL CHECK (amount_minor >= 0),
    currency       TEXT    NOT NULL,
    booking_date   TEXT,
    value_date     TEXT,
    reference      TEXT,
    text           TEXT,
    debtor_name    TEXT,
    debtor_iban    TEXT,
    -- What the matching rules made of it, then what a person did with it.
    state          TEXT    NOT NULL CHECK (state IN
                       ('listed', 'proposal', 'suggestion', 'exception', 'approved', 'set_aside')),
    -- listed: why (debit, reversal, not_chf, not_booked); exception: its code; set_aside: the person's words.
    reason         TEXT,
    -- The key it pays for (proposal, suggestion, approved; an exception's key when one was found).
    station_id     INTEGER REFERENCES stations (id),
    key_number     INTEGER CHECK (key_number IS NULL OR key_number BETWEEN 0 AND 65535),
    fee_rappen     BIGINT  CHECK (fee_rappen IS NULL OR fee_rappen >= 0),
    load_rappen    BIGINT  CHECK (load_rappen IS NULL OR load_rappen > 0),
    decided_by     INTEGER REFERENCES users (id),
    decided_at     BIGINT,
    created_at     BIGINT  NOT NULL,
    UNIQUE (account_iban, bank_ref)
);
CREATE INDEX payments_by_gerance ON payments (gerance_id, state, id);
CREATE INDEX payments_by_key ON payments (station_id, key_number);

-- A payment becomes at most one top-up, ever: two approvals at once, a double click or a re-import
-- cannot make two.
ALTER TABLE transactions ADD COLUMN payment_id INTEGER REFERENCES payments (id);
CREATE UNIQUE INDEX transactions_by_payment ON transactions (payment_id);

-- Every money action, appended: imports, approvals, assignments, settings aside, settings changed,
-- top-ups entered by hand and cancellations. Never updated, never deleted.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    -- NULL: an action on no gérance in particular.
    gerance_id  INTEGER REFERENCES gerances (id),
    -- NULL: the command line or the system (the automatic mode).
    user_id     INTEGER REFERENCES users (id),
    action      TEXT    NOT NULL,
    -- What it acted on: 'payment 12', 'import 3', 'transaction 44', 'key 1/02524'.
    subject     TEXT    NOT NULL,
    -- What changed, for a person to read.
    details     TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);
CREATE INDEX audit_log_by_gerance ON audit_log (gerance_id, id);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
