-- costwarden schema version 3: the audit trail (issue 7).
--
-- Each record is sealed whole (actor, target, source address, details); the
-- columns beside it are what filters need (time, action code, outcome, the
-- opaque actor id and a keyed hash of the actor's name) and the record's hash
-- in the chain. Records are appended with gapless sequence numbers per tenant.
-- Checkpoints are ed25519 signatures over (sequence number, hash).

CREATE TABLE audit (
    tenant      TEXT    NOT NULL,
    seq         INTEGER NOT NULL CHECK (seq > 0),
    at          INTEGER NOT NULL,
    action      TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,
    actor_id    TEXT    NOT NULL,
    actor_index BLOB    NOT NULL,
    hash        BLOB    NOT NULL,
    sealed      BLOB    NOT NULL,
    PRIMARY KEY (tenant, seq)
) STRICT;

CREATE INDEX audit_by_time ON audit (tenant, at);

CREATE TABLE audit_checkpoints (
    tenant    TEXT    NOT NULL,
    seq       INTEGER NOT NULL CHECK (seq > 0),
    hash      BLOB    NOT NULL,
    at        INTEGER NOT NULL,
    key_id    TEXT    NOT NULL,
    signature BLOB    NOT NULL,
    PRIMARY KEY (tenant, seq)
) STRICT;
