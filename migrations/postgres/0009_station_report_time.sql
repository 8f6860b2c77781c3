-- PostgreSQL twin of migrations/0009_station_report_time.sql.

ALTER TABLE stations ADD COLUMN reported_at BIGINT;
UPDATE stations SET reported_at = last_heard_at WHERE pending IS NOT NULL;
