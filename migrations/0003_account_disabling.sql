-- An operator can disable an account (someone left the gérance) without deleting it: the transactions it
-- created keep their author. A disabled account cannot log in and its sessions are ended.

ALTER TABLE users ADD COLUMN disabled_at BIGINT;
