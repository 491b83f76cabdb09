-- costwarden PostgreSQL schema version 3: the audit trail (the same contract as
-- SQLite's 0003).
--
-- Each record is sealed whole (actor, target, source address, details); the
-- columns beside it are what filters need (time, action code, outcome, the
-- opaque actor id and a keyed hash of the actor's name) and the record's hash
-- in the chain. Records are appended with gapless sequence numbers per tenant.
-- Checkpoints are ed25519 signatures over (sequence number, hash).

CREATE TABLE audit (
    tenant      text COLLATE "C" NOT NULL,
    seq         bigint NOT NULL CHECK (seq > 0),
    at          bigint NOT NULL,
    action      text COLLATE "C" NOT NULL,
    outcome     text COLLATE "C" NOT NULL,
    actor_id    text COLLATE "C" NOT NULL,
    actor_index bytea NOT NULL,
    hash        bytea NOT NULL,
    sealed      bytea NOT NULL,
    PRIMARY KEY (tenant, seq)
);

CREATE INDEX audit_by_time ON audit (tenant, at);

CREATE TABLE audit_checkpoints (
    tenant    text COLLATE "C" NOT NULL,
    seq       bigint NOT NULL CHECK (seq > 0),
    hash      bytea NOT NULL,
    at        bigint NOT NULL,
    key_id    text COLLATE "C" NOT NULL,
    signature bytea NOT NULL,
    PRIMARY KEY (tenant, seq)
);
