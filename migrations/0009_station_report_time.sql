-- When a station last reported its own facts (a heartbeat: the top-ups it holds, signal, SIM credit),
-- apart from when it was last heard at all: the stations page gives each count with its age.
ALTER TABLE stations ADD COLUMN reported_at BIGINT;
UPDATE stations SET reported_at = last_heard_at WHERE pending IS NOT NULL;
