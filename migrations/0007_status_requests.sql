-- A station is asked for its state at most once a minute (each request is an SMS paid from the
-- server's SIM credit): status requests are the outbox's messages of no transaction, and this finds a
-- station's latest one quickly.
CREATE INDEX sms_out_status_requests ON sms_out (station_id, created_at) WHERE transaction_id IS NULL;
