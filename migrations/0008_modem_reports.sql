-- When the network reported that the station's SIM received a top-up's message (a delivery report);
-- the progress and the journal show it.
ALTER TABLE transactions ADD COLUMN delivered_at BIGINT;

-- The PIN the modem's SIM refused, as an Argon2id hash (never the PIN): the server does not enter it
-- again, since a SIM locks itself after three wrong PINs. Cleared once the SIM takes a PIN.
CREATE TABLE sim_pin_refused (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    pin_hash    TEXT    NOT NULL,
    refused_at  BIGINT  NOT NULL
);
