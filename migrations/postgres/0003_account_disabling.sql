-- PostgreSQL twin of migrations/0003_account_disabling.sql.

ALTER TABLE users ADD COLUMN disabled_at BIGINT;
