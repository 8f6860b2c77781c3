-- PostgreSQL twin of migrations/0008_modem_reports.sql.

ALTER TABLE transactions ADD COLUMN delivered_at BIGINT;

CREATE TABLE sim_pin_refused (
    id          BIGINT  PRIMARY KEY CHECK (id = 1),
    pin_hash    TEXT    NOT NULL,
    refused_at  BIGINT  NOT NULL
);
