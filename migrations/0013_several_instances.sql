-- Several server instances on one database: exactly one drives the modem (or the demo's network) at a
-- time, by a lease in this one row. Its holder renews it every second by counting `beat` up; another
-- instance that sees neither `epoch` nor `beat` move for the lease's length (by its own clock, so the
-- instances' clocks need not agree) takes it over and counts `epoch` up. The modem's facts as its owner
-- last saw them travel in the same row, for the instances that do not own it.

CREATE TABLE modem_lease (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    -- The owning instance as people read it (host and process), NULL when let go.
    holder      TEXT,
    -- Where the holder runs, to tell at once that it died on this machine: boot id, PID namespace, PID.
    holder_at   TEXT,
    epoch       BIGINT  NOT NULL,
    beat        BIGINT  NOT NULL,
    -- UTC ms of the last renewal, for people: instances never compare it with their own clock.
    renewed_at  BIGINT  NOT NULL,
    -- The modem's facts (JSON), as its owner last saw them.
    facts       TEXT
);
INSERT INTO modem_lease (id, holder, holder_at, epoch, beat, renewed_at, facts) VALUES (1, NULL, NULL, 0, 0, 0, NULL);
