-- PostgreSQL twin of migrations/0007_status_requests.sql.

CREATE INDEX sms_out_status_requests ON sms_out (station_id, created_at) WHERE transaction_id IS NULL;
