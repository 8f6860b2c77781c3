-- PostgreSQL twin of migrations/0005_one_unsent_message.sql.

CREATE INDEX sms_out_unsent ON sms_out (transaction_id) WHERE sent_at IS NULL AND error IS NULL;
