-- The modem task keeps at most one unsent message per transaction in the outbox: a transaction whose
-- message still waits for the modem (unplugged, SIM out of credit) is not due again, so a long outage
-- neither piles up copies nor uses up its attempts. This finds that message quickly.
CREATE INDEX sms_out_unsent ON sms_out (transaction_id) WHERE sent_at IS NULL AND error IS NULL;
