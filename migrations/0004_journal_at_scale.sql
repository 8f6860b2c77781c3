-- The journal at operator scale (see db/src/paging.rs): counts kept up to date for the "sur N" totals, and
-- an index for every filter and sort column, alone and within a gérance, so that no page or total scans
-- the table.

CREATE TABLE journal_counts (
    gerance_id  INTEGER NOT NULL,
    station_id  INTEGER NOT NULL,
    status      TEXT    NOT NULL,
    n           BIGINT  NOT NULL,
    PRIMARY KEY (gerance_id, station_id, status)
);

INSERT INTO journal_counts (gerance_id, station_id, status, n)
    SELECT gerance_id, station_id, status, COUNT(*) FROM transactions
    GROUP BY gerance_id, station_id, status;

-- Kept in the same database transaction as the change itself, whichever code makes it. (A PostgreSQL
-- set of migrations does the same with a trigger function.) A transaction never changes station or
-- gérance.
CREATE TRIGGER journal_counts_on_insert AFTER INSERT ON transactions
BEGIN
    INSERT INTO journal_counts (gerance_id, station_id, status, n)
        VALUES (NEW.gerance_id, NEW.station_id, NEW.status, 1)
        ON CONFLICT (gerance_id, station_id, status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER journal_counts_on_status AFTER UPDATE OF status ON transactions
WHEN OLD.status <> NEW.status
BEGIN
    UPDATE journal_counts SET n = n - 1
        WHERE gerance_id = OLD.gerance_id AND station_id = OLD.station_id AND status = OLD.status;
    INSERT INTO journal_counts (gerance_id, station_id, status, n)
        VALUES (NEW.gerance_id, NEW.station_id, NEW.status, 1)
        ON CONFLICT (gerance_id, station_id, status) DO UPDATE SET n = n + 1;
END;

-- Filters and sorts for everyone (operators) ...
CREATE INDEX transactions_by_station ON transactions (station_id, id);
CREATE INDEX transactions_by_key ON transactions (key_number, id);
CREATE INDEX transactions_by_status ON transactions (status, id);
CREATE INDEX transactions_by_date ON transactions (created_at, id);
CREATE INDEX transactions_by_amount ON transactions (amount_rappen, id);
-- ... and within one gérance (administrators); (gerance_id, id) exists since 0002.
CREATE INDEX transactions_by_gerance_key ON transactions (gerance_id, key_number, id);
CREATE INDEX transactions_by_gerance_status ON transactions (gerance_id, status, id);
CREATE INDEX transactions_by_gerance_date ON transactions (gerance_id, created_at, id);
CREATE INDEX transactions_by_gerance_amount ON transactions (gerance_id, amount_rappen, id);
-- Sorting by station name walks the stations in name order.
CREATE INDEX stations_by_name ON stations (name, id);
