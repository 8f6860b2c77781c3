-- The sum of the amounts beside each count of `journal_counts` (migration 0004): the journal shows the
-- total reloaded in its view next to the number of rows, without summing a million rows. A transaction's
-- amount never changes; its status does, and the triggers move its amount with its count.
ALTER TABLE journal_counts ADD COLUMN rappen BIGINT NOT NULL DEFAULT 0;
UPDATE journal_counts SET rappen = (
    SELECT COALESCE(SUM(t.amount_rappen), 0) FROM transactions t
    WHERE t.gerance_id = journal_counts.gerance_id AND t.station_id = journal_counts.station_id
      AND t.status = journal_counts.status
);

DROP TRIGGER journal_counts_on_insert;
DROP TRIGGER journal_counts_on_status;

CREATE TRIGGER journal_counts_on_insert AFTER INSERT ON transactions
BEGIN
    INSERT INTO journal_counts (gerance_id, station_id, status, n, rappen)
        VALUES (NEW.gerance_id, NEW.station_id, NEW.status, 1, NEW.amount_rappen)
        ON CONFLICT (gerance_id, station_id, status) DO UPDATE SET n = n + 1, rappen = rappen + NEW.amount_rappen;
END;

CREATE TRIGGER journal_counts_on_status AFTER UPDATE OF status ON transactions
WHEN OLD.status <> NEW.status
BEGIN
    UPDATE journal_counts SET n = n - 1, rappen = rappen - OLD.amount_rappen
        WHERE gerance_id = OLD.gerance_id AND station_id = OLD.station_id AND status = OLD.status;
    INSERT INTO journal_counts (gerance_id, station_id, status, n, rappen)
        VALUES (NEW.gerance_id, NEW.station_id, NEW.status, 1, NEW.amount_rappen)
        ON CONFLICT (gerance_id, station_id, status) DO UPDATE SET n = n + 1, rappen = rappen + NEW.amount_rappen;
END;
