-- PostgreSQL twin of migrations/0006_journal_deep_pages.sql: the buckets, kept by statement-level trigger
-- functions (see 0004).

CREATE TABLE journal_buckets (
    sort_by     TEXT    NOT NULL,
    bucket      BIGINT  NOT NULL,
    status      TEXT    NOT NULL,
    gerance_id  BIGINT  NOT NULL,
    n           BIGINT  NOT NULL,
    PRIMARY KEY (sort_by, bucket, status, gerance_id)
);
CREATE INDEX journal_buckets_by_status ON journal_buckets (sort_by, status, bucket, gerance_id, n);

INSERT INTO journal_buckets (sort_by, bucket, status, gerance_id, n)
    SELECT 'id', id / 8192, status, gerance_id, COUNT(*) FROM transactions
    GROUP BY id / 8192, status, gerance_id;
INSERT INTO journal_buckets (sort_by, bucket, status, gerance_id, n)
    SELECT 'key', key_number / 128, status, gerance_id, COUNT(*) FROM transactions
    GROUP BY key_number / 128, status, gerance_id;
INSERT INTO journal_buckets (sort_by, bucket, status, gerance_id, n)
    SELECT 'amount', amount_rappen / 100, status, gerance_id, COUNT(*) FROM transactions
    GROUP BY amount_rappen / 100, status, gerance_id;
INSERT INTO journal_buckets (sort_by, bucket, status, gerance_id, n)
    SELECT 'date', created_at / 2147483648, status, gerance_id, COUNT(*) FROM transactions
    GROUP BY created_at / 2147483648, status, gerance_id;

-- The rows' contributions (d = +1 or -1) to their four buckets, summed per bucket and upserted once.
CREATE FUNCTION journal_buckets_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH c AS (
        SELECT id, key_number, amount_rappen, created_at, status, gerance_id, 1 AS d FROM new_rows
    )
    INSERT INTO journal_buckets (sort_by, bucket, status, gerance_id, n)
        SELECT sort_by, bucket, status, gerance_id, SUM(d) FROM (
            SELECT 'id' AS sort_by, id / 8192 AS bucket, status, gerance_id, d FROM c
            UNION ALL SELECT 'key', key_number / 128, status, gerance_id, d FROM c
            UNION ALL SELECT 'amount', amount_rappen / 100, status, gerance_id, d FROM c
            UNION ALL SELECT 'date', created_at / 2147483648, status, gerance_id, d FROM c
        ) b
        GROUP BY sort_by, bucket, status, gerance_id
        ON CONFLICT (sort_by, bucket, status, gerance_id) DO UPDATE SET n = journal_buckets.n + excluded.n;
    RETURN NULL;
END
$$;

CREATE FUNCTION journal_buckets_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH c AS (
        SELECT o.id, o.key_number, o.amount_rappen, o.created_at, o.status, o.gerance_id, -1 AS d
            FROM old_rows o JOIN new_rows w ON w.id = o.id WHERE o.status <> w.status
        UNION ALL
        SELECT w.id, w.key_number, w.amount_rappen, w.created_at, w.status, w.gerance_id, 1 AS d
            FROM old_rows o JOIN new_rows w ON w.id = o.id WHERE o.status <> w.status
    )
    INSERT INTO journal_buckets (sort_by, bucket, status, gerance_id, n)
        SELECT sort_by, bucket, status, gerance_id, SUM(d) FROM (
            SELECT 'id' AS sort_by, id / 8192 AS bucket, status, gerance_id, d FROM c
            UNION ALL SELECT 'key', key_number / 128, status, gerance_id, d FROM c
            UNION ALL SELECT 'amount', amount_rappen / 100, status, gerance_id, d FROM c
            UNION ALL SELECT 'date', created_at / 2147483648, status, gerance_id, d FROM c
        ) b
        GROUP BY sort_by, bucket, status, gerance_id
        ON CONFLICT (sort_by, bucket, status, gerance_id) DO UPDATE SET n = journal_buckets.n + excluded.n;
    RETURN NULL;
END
$$;

CREATE TRIGGER journal_buckets_on_insert AFTER INSERT ON transactions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION journal_buckets_inserted();
CREATE TRIGGER journal_buckets_on_status AFTER UPDATE ON transactions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION journal_buckets_updated();

DROP INDEX transactions_by_key;
DROP INDEX transactions_by_amount;
DROP INDEX transactions_by_date;
DROP INDEX transactions_by_gerance_key;
DROP INDEX transactions_by_gerance_amount;
DROP INDEX transactions_by_gerance_date;
CREATE INDEX transactions_by_key ON transactions (key_number, id, status);
CREATE INDEX transactions_by_amount ON transactions (amount_rappen, id, status);
CREATE INDEX transactions_by_date ON transactions (created_at, id, status, amount_rappen);
CREATE INDEX transactions_by_gerance_key ON transactions (gerance_id, key_number, id, status);
CREATE INDEX transactions_by_gerance_amount ON transactions (gerance_id, amount_rappen, id, status);
CREATE INDEX transactions_by_gerance_date ON transactions (gerance_id, created_at, id, status, amount_rappen);
