-- Deep pages of the journal without skipping half a million index entries (see db/src/paging.rs): the
-- number of transactions per sort column's bucket, status and gérance, kept up to date by triggers like
-- journal_counts. A page deep in the journal starts in the bucket where the running sum reaches its
-- offset; only that bucket's rows are skipped, through the column's index.
--
-- Buckets (the widths are repeated in db/src/paging.rs, `Buckets`, and checked by its tests):
--   'id'     transaction number / 8192      (sorted by number, and by status then number)
--   'key'    key number / 128
--   'amount' amount in Rappen / 100         (one franc)
--   'date'   created_at in ms / 2^31        (about 25 days)
-- Integer division of non-negative integers: the same in SQLite and PostgreSQL.

CREATE TABLE journal_buckets (
    sort_by     TEXT    NOT NULL,
    bucket      BIGINT  NOT NULL,
    status      TEXT    NOT NULL,
    gerance_id  INTEGER NOT NULL,
    n           BIGINT  NOT NULL,
    PRIMARY KEY (sort_by, bucket, status, gerance_id)
);
-- Sorted by status, or one status only: status first.
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

-- In the same database transaction as the change itself. A transaction's number, key, amount, date and
-- gérance never change; its status does.
CREATE TRIGGER journal_buckets_on_insert AFTER INSERT ON transactions
BEGIN
    INSERT INTO journal_buckets (sort_by, bucket, status, gerance_id, n)
        VALUES ('id', NEW.id / 8192, NEW.status, NEW.gerance_id, 1),
               ('key', NEW.key_number / 128, NEW.status, NEW.gerance_id, 1),
               ('amount', NEW.amount_rappen / 100, NEW.status, NEW.gerance_id, 1),
               ('date', NEW.created_at / 2147483648, NEW.status, NEW.gerance_id, 1)
        ON CONFLICT (sort_by, bucket, status, gerance_id) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER journal_buckets_on_status AFTER UPDATE OF status ON transactions
WHEN OLD.status <> NEW.status
BEGIN
    UPDATE journal_buckets SET n = n - 1
        WHERE sort_by = 'id' AND bucket = OLD.id / 8192 AND status = OLD.status
          AND gerance_id = OLD.gerance_id;
    UPDATE journal_buckets SET n = n - 1
        WHERE sort_by = 'key' AND bucket = OLD.key_number / 128 AND status = OLD.status
          AND gerance_id = OLD.gerance_id;
    UPDATE journal_buckets SET n = n - 1
        WHERE sort_by = 'amount' AND bucket = OLD.amount_rappen / 100 AND status = OLD.status
          AND gerance_id = OLD.gerance_id;
    UPDATE journal_buckets SET n = n - 1
        WHERE sort_by = 'date' AND bucket = OLD.created_at / 2147483648 AND status = OLD.status
          AND gerance_id = OLD.gerance_id;
    INSERT INTO journal_buckets (sort_by, bucket, status, gerance_id, n)
        VALUES ('id', NEW.id / 8192, NEW.status, NEW.gerance_id, 1),
               ('key', NEW.key_number / 128, NEW.status, NEW.gerance_id, 1),
               ('amount', NEW.amount_rappen / 100, NEW.status, NEW.gerance_id, 1),
               ('date', NEW.created_at / 2147483648, NEW.status, NEW.gerance_id, 1)
        ON CONFLICT (sort_by, bucket, status, gerance_id) DO UPDATE SET n = n + 1;
END;

-- Sorted by key, amount or date with a status filter (reloaded by amount, say), the status is read from
-- the sort column's index as it is walked: each of those indexes carries it, after the number, so that
-- their order is unchanged (db/src/paging.rs, `push_filters`). The date indexes carry the amount too: a
-- status and a date range sorted by amount (reloaded in the last 100 days, by amount) read only them.
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
