-- costwarden PostgreSQL schema version 1 (the same contract as SQLite's 0001).
--
-- The store is untrusted: customer data lives only in sealed bytea columns
-- (internal/seal); names are blind indexes (HMACs). Every time is a bigint of
-- Unix nanoseconds (UTC); NULL is the zero time.

CREATE TABLE meta (
    key   text COLLATE "C"  PRIMARY KEY,
    value bytea NOT NULL
);

-- Wrapped data keys. Version 0 is a tenant's blind-index key.
CREATE TABLE keys (
    tenant     text COLLATE "C"   NOT NULL,
    version    bigint NOT NULL CHECK (version BETWEEN 0 AND 4294967295),
    kek_id     text COLLATE "C"   NOT NULL,
    wrapped    bytea  NOT NULL,
    created_at bigint,
    state      text COLLATE "C"   NOT NULL,
    uses       bigint NOT NULL CHECK (uses >= 0),
    PRIMARY KEY (tenant, version)
);

CREATE TABLE clusters (
    tenant     text COLLATE "C"  NOT NULL,
    id         text COLLATE "C"  NOT NULL,
    name_index bytea NOT NULL,
    sealed     bytea NOT NULL,
    created_at bigint,
    PRIMARY KEY (tenant, id),
    UNIQUE (tenant, name_index)
);

-- The primary key makes a window's (tenant, cluster, resolution, start) unique:
-- replicas writing the same hour upsert one row.
CREATE TABLE windows (
    tenant     text COLLATE "C"     NOT NULL,
    cluster_id text COLLATE "C"     NOT NULL,
    resolution smallint NOT NULL CHECK (resolution BETWEEN 0 AND 255),
    start_unix bigint   NOT NULL,
    end_unix   bigint,
    partial    boolean  NOT NULL,
    blob       bytea    NOT NULL,
    updated_at bigint,
    PRIMARY KEY (tenant, cluster_id, resolution, start_unix)
);

CREATE INDEX windows_by_start ON windows (tenant, resolution, start_unix, cluster_id);

CREATE TABLE principals (
    id         text COLLATE "C"   PRIMARY KEY,
    tenant     text COLLATE "C"   NOT NULL,
    kind       text COLLATE "C"   NOT NULL,
    name_index bytea  NOT NULL,
    state      text COLLATE "C"   NOT NULL,
    role       text COLLATE "C"   NOT NULL,
    sealed     bytea  NOT NULL,
    created_at bigint,
    updated_at bigint,
    version    bigint NOT NULL,
    UNIQUE (tenant, name_index),
    UNIQUE (tenant, id)
);

CREATE TABLE tokens (
    id           text COLLATE "C"  PRIMARY KEY,
    tenant       text COLLATE "C"  NOT NULL,
    principal_id text COLLATE "C"  NOT NULL,
    hash         bytea NOT NULL UNIQUE,
    sealed       bytea NOT NULL,
    role         text COLLATE "C"  NOT NULL,
    created_at   bigint,
    expires_at   bigint,
    revoked_at   bigint,
    last_used_at bigint,
    FOREIGN KEY (tenant, principal_id) REFERENCES principals (tenant, id) ON DELETE CASCADE
);

CREATE INDEX tokens_by_principal ON tokens (tenant, principal_id);
