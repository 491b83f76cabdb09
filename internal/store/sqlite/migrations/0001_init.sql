-- costwarden schema version 1.
--
-- The store is untrusted: customer data lives only in sealed BLOB columns
-- (internal/seal); names are blind indexes (HMACs). Every time is an INTEGER of
-- Unix nanoseconds (UTC); NULL is the zero time. Tables are STRICT so a value of
-- the wrong type is an error, not a silent conversion.

PRAGMA application_id = 1129796420; -- "CWSD": marks the file as costwarden's

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;

-- Wrapped data keys. Version 0 is a tenant's blind-index key.
CREATE TABLE keys (
    tenant     TEXT    NOT NULL,
    version    INTEGER NOT NULL CHECK (version BETWEEN 0 AND 4294967295),
    kek_id     TEXT    NOT NULL,
    wrapped    BLOB    NOT NULL,
    created_at INTEGER,
    state      TEXT    NOT NULL,
    uses       INTEGER NOT NULL CHECK (uses >= 0),
    PRIMARY KEY (tenant, version)
) STRICT;

CREATE TABLE clusters (
    tenant     TEXT NOT NULL,
    id         TEXT NOT NULL,
    name_index BLOB NOT NULL,
    sealed     BLOB NOT NULL,
    created_at INTEGER,
    PRIMARY KEY (tenant, id),
    UNIQUE (tenant, name_index)
) STRICT;

-- start_unix and end_unix are Unix nanoseconds, like every other time.
CREATE TABLE windows (
    tenant     TEXT    NOT NULL,
    cluster_id TEXT    NOT NULL,
    resolution INTEGER NOT NULL CHECK (resolution BETWEEN 0 AND 255),
    start_unix INTEGER NOT NULL,
    end_unix   INTEGER,
    partial    INTEGER NOT NULL CHECK (partial IN (0, 1)),
    blob       BLOB    NOT NULL,
    updated_at INTEGER,
    PRIMARY KEY (tenant, cluster_id, resolution, start_unix)
) STRICT;

-- Scans of every cluster of a tenant, ordered by (start, cluster).
CREATE INDEX windows_by_start ON windows (tenant, resolution, start_unix, cluster_id);

CREATE TABLE principals (
    id         TEXT PRIMARY KEY,
    tenant     TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    name_index BLOB    NOT NULL,
    state      TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    sealed     BLOB    NOT NULL,
    created_at INTEGER,
    updated_at INTEGER,
    version    INTEGER NOT NULL,
    UNIQUE (tenant, name_index),
    UNIQUE (tenant, id) -- target of the tokens foreign key
) STRICT;

-- A token belongs to a principal of its own tenant and dies with it.
CREATE TABLE tokens (
    id           TEXT PRIMARY KEY,
    tenant       TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    hash         BLOB NOT NULL UNIQUE,
    sealed       BLOB NOT NULL,
    role         TEXT NOT NULL,
    created_at   INTEGER,
    expires_at   INTEGER,
    revoked_at   INTEGER,
    last_used_at INTEGER,
    FOREIGN KEY (tenant, principal_id) REFERENCES principals (tenant, id) ON DELETE CASCADE
) STRICT;

CREATE INDEX tokens_by_principal ON tokens (tenant, principal_id);
