-- PostgreSQL twin of migrations/0010_journal_sums.sql: the trigger functions of 0004 move a
-- transaction's amount with its count.

ALTER TABLE journal_counts ADD COLUMN rappen BIGINT NOT NULL DEFAULT 0;
UPDATE journal_counts SET rappen = (
    SELECT COALESCE(SUM(t.amount_rappen), 0) FROM transactions t
    WHERE t.gerance_id = journal_counts.gerance_id AND t.station_id = journal_counts.station_id
      AND t.status = journal_counts.status
);

CREATE OR REPLACE FUNCTION journal_counts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO journal_counts (gerance_id, station_id, status, n, rappen)
        SELECT gerance_id, station_id, status, COUNT(*), SUM(amount_rappen) FROM new_rows
        GROUP BY gerance_id, station_id, status
        ON CONFLICT (gerance_id, station_id, status)
        DO UPDATE SET n = journal_counts.n + excluded.n, rappen = journal_counts.rappen + excluded.rappen;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION journal_counts_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO journal_counts (gerance_id, station_id, status, n, rappen)
        SELECT gerance_id, station_id, status, SUM(d), SUM(d * amount_rappen) FROM (
            SELECT o.gerance_id, o.station_id, o.status, o.amount_rappen, -1 AS d
                FROM old_rows o JOIN new_rows w ON w.id = o.id WHERE o.status <> w.status
            UNION ALL
            SELECT w.gerance_id, w.station_id, w.status, w.amount_rappen, 1 AS d
                FROM old_rows o JOIN new_rows w ON w.id = o.id WHERE o.status <> w.status
        ) changes
        GROUP BY gerance_id, station_id, status
        ON CONFLICT (gerance_id, station_id, status)
        DO UPDATE SET n = journal_counts.n + excluded.n, rappen = journal_counts.rappen + excluded.rappen;
    RETURN NULL;
END
$$;
