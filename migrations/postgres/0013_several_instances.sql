-- Several server instances on one database: exactly one drives the modem (or the demo's network) at a
-- time, by a lease in this one row. Its holder renews it every second by counting `beat` up; another
-- instance that sees neither `epoch` nor `beat` move for the lease's length (by its own clock, so the
-- instances' clocks need not agree) takes it over and counts `epoch` up. The modem's facts as its owner
-- last saw them travel in the same row, for the instances that do not own it.

CREATE TABLE modem_lease (
    id          BIGINT  PRIMARY KEY CHECK (id = 1),
    -- The owning instance as people read it (host and process), NULL when let go.
    holder      TEXT,
    -- Where the holder runs, to tell at once that it died on this machine: boot id, PID namespace, PID.
    holder_at   TEXT,
    epoch       BIGINT  NOT NULL,
    beat        BIGINT  NOT NULL,
    -- UTC ms of the last renewal, for people: instances never compare it with their own clock.
    renewed_at  BIGINT  NOT NULL,
    -- The modem's facts (JSON), as its owner last saw them.
    facts       TEXT
);
INSERT INTO modem_lease (id, holder, holder_at, epoch, beat, renewed_at, facts) VALUES (1, NULL, NULL, 0, 0, 0, NULL);

-- What every instance's event streams and modem task follow, told to all of them at commit (NOTIFY is
-- transactional: a rolled-back change tells nothing). Payloads stay small; a listener that lost its
-- connection reads the database again instead of trusting what it may have missed.

-- The journal's version after a change (`counters` row 'journal'), and which instance made it (each
-- instance connects under an application name of its own): an instance told of its own change does not
-- take it for another's.
CREATE FUNCTION tell_journal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('recharge_journal', NEW.value::text || ' ' || current_setting('application_name'));
    RETURN NULL;
END $$;
CREATE TRIGGER tell_journal AFTER UPDATE ON counters
    FOR EACH ROW WHEN (NEW.name = 'journal') EXECUTE FUNCTION tell_journal();

-- A session that ended (logout, expiry, password changed, account disabled): its token's hash in hex.
CREATE FUNCTION tell_session_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('recharge_sessions', encode(OLD.token_hash, 'hex'));
    RETURN NULL;
END $$;
CREATE TRIGGER tell_session_ended AFTER DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION tell_session_ended();

-- The gérances whose alerts changed ('-' for the server's own), or '*' when too many to list.
CREATE FUNCTION tell_alerts() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed TEXT;
    n BIGINT;
BEGIN
    SELECT COUNT(DISTINCT COALESCE(gerance_id, -1)),
           string_agg(DISTINCT COALESCE(CAST(gerance_id AS TEXT), '-'), ',')
      INTO n, changed FROM changed_rows;
    IF n > 0 THEN
        PERFORM pg_notify('recharge_alerts', CASE WHEN n > 400 THEN '*' ELSE changed END);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER tell_alerts_on_insert AFTER INSERT ON alerts
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION tell_alerts();
CREATE TRIGGER tell_alerts_on_update AFTER UPDATE ON alerts
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION tell_alerts();

-- The lease's renewal, every second while an instance holds it: a listener that hears nothing for a
-- while knows its connection is gone even when the network dropped it without a word.
CREATE FUNCTION tell_lease() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('recharge_lease', NEW.beat::text);
    RETURN NULL;
END $$;
CREATE TRIGGER tell_lease AFTER UPDATE ON modem_lease FOR EACH ROW EXECUTE FUNCTION tell_lease();

-- A message queued for the modem outside a top-up (a person asked a station for its state), and by which
-- instance: the lease's holder sends it now. A top-up's messages are queued by the modem task itself,
-- which needs no telling.
CREATE FUNCTION tell_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('recharge_outbox', current_setting('application_name'));
    RETURN NULL;
END $$;
CREATE TRIGGER tell_outbox AFTER INSERT ON sms_out
    FOR EACH ROW WHEN (NEW.transaction_id IS NULL) EXECUTE FUNCTION tell_outbox();
