-- Accounts, sessions and login throttling, plus the ownership skeleton that stations and transactions
-- hang from. Times are UTC milliseconds since the Unix epoch (BIGINT), money is whole Rappen.

CREATE TABLE gerances (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    created_at  BIGINT  NOT NULL
);

CREATE TABLE users (
    id                   INTEGER PRIMARY KEY,
    -- Stored lower-cased (domain::Email), so UNIQUE makes addresses unique regardless of case.
    email                TEXT    NOT NULL UNIQUE,
    password_hash        TEXT    NOT NULL,
    role                 TEXT    NOT NULL CHECK (role IN ('operator', 'admin')),
    gerance_id           INTEGER REFERENCES gerances (id),
    locale               TEXT,
    created_at           BIGINT  NOT NULL,
    password_changed_at  BIGINT  NOT NULL,
    -- An operator belongs to no gérance; an admin to exactly one.
    CHECK ((role = 'operator' AND gerance_id IS NULL) OR (role = 'admin' AND gerance_id IS NOT NULL))
);

CREATE TABLE sessions (
    -- SHA-256 of the token in the cookie: a copy of the database does not give away live sessions.
    token_hash    BLOB    PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    BIGINT  NOT NULL,
    last_seen_at  BIGINT  NOT NULL,
    expires_at    BIGINT  NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);

-- Failed logins per subject ('email:…' or 'client:…'), for slowing down and then refusing guessing.
CREATE TABLE login_throttle (
    subject          TEXT    PRIMARY KEY,
    failures         INTEGER NOT NULL,
    first_failure_at BIGINT  NOT NULL,
    last_failure_at  BIGINT  NOT NULL
);

CREATE TABLE stations (
    id          INTEGER PRIMARY KEY,
    gerance_id  INTEGER NOT NULL REFERENCES gerances (id),
    name        TEXT    NOT NULL,
    place       TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    UNIQUE (gerance_id, name)
);
CREATE INDEX stations_by_gerance ON stations (gerance_id);

CREATE TABLE transactions (
    -- The journal's N°: one counter for the whole system, as in the original.
    id             INTEGER PRIMARY KEY,
    gerance_id     INTEGER NOT NULL REFERENCES gerances (id),
    station_id     INTEGER NOT NULL REFERENCES stations (id),
    key_number     INTEGER NOT NULL CHECK (key_number BETWEEN 0 AND 65535),
    amount_rappen  BIGINT  NOT NULL CHECK (amount_rappen > 0),
    status         TEXT    NOT NULL,
    created_at     BIGINT  NOT NULL
);
CREATE INDEX transactions_by_gerance ON transactions (gerance_id, id);
