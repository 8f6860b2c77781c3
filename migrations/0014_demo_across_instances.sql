-- The demo's simulated stations run in the instance that holds the modem lease. Another instance asks it
-- through this table: a person's action at a simulated station (present a key, power it off or on, show
-- the displays, simulate a station saved elsewhere) is queued here, done by the lease's holder, and its
-- outcome (JSON) written back for the asking instance to read. Not used outside the demo.

CREATE TABLE demo_actions (
    id          INTEGER PRIMARY KEY,
    -- NULL for the displays of every station.
    station_id  BIGINT  REFERENCES stations (id),
    action      TEXT    NOT NULL CHECK (action IN ('present', 'power_on', 'power_off', 'restart', 'screens')),
    key_number  BIGINT  CHECK (key_number BETWEEN 0 AND 65535),
    created_at  BIGINT  NOT NULL,
    -- When the lease's holder took it: from then on it is done, and no longer withdrawn by its asker.
    taken_at    BIGINT,
    done_at     BIGINT,
    outcome     TEXT
);
CREATE INDEX demo_actions_waiting ON demo_actions (id) WHERE taken_at IS NULL;
