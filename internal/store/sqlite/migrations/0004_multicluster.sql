-- costwarden schema version 4: many clusters and several replicas (issue 9).
--
-- Windows get the tenant's window version their last write took (the change feed
-- that keeps other processes' caches current); window_versions holds each
-- tenant's counters. Agents are cluster enrolments: only hashes, serial numbers,
-- ids and times, no customer data (a cluster's name stays sealed in clusters).
-- Tenants and their host names are hosted mode's routing table.

ALTER TABLE windows ADD COLUMN version INTEGER NOT NULL DEFAULT 0;

-- The change feed reads (tenant, version > v) from the index alone.
CREATE INDEX windows_by_version ON windows (tenant, version, resolution, cluster_id, start_unix, end_unix, partial, updated_at);

CREATE TABLE window_versions (
    tenant  TEXT PRIMARY KEY,
    version INTEGER NOT NULL CHECK (version >= 0),
    deletes INTEGER NOT NULL CHECK (deletes >= 0)
) STRICT;

CREATE TABLE agents (
    id               TEXT PRIMARY KEY,
    tenant           TEXT    NOT NULL,
    cluster_id       TEXT    NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('active', 'revoked')),
    generation       INTEGER NOT NULL CHECK (generation >= 0),
    token_hash       BLOB UNIQUE,
    token_expires_at INTEGER,
    token_used_at    INTEGER,
    cert_serial      TEXT    NOT NULL,
    cert_not_after   INTEGER,
    created_at       INTEGER,
    revoked_at       INTEGER,
    last_seen_at     INTEGER,
    clock_skew_ns    INTEGER NOT NULL,
    UNIQUE (tenant, id),
    FOREIGN KEY (tenant, cluster_id) REFERENCES clusters (tenant, id) ON DELETE CASCADE
) STRICT;

CREATE INDEX agents_by_tenant ON agents (tenant, created_at);

CREATE TABLE tenants (
    id         TEXT PRIMARY KEY,
    state      TEXT NOT NULL CHECK (state IN ('active')),
    created_at INTEGER
) STRICT;

CREATE TABLE tenant_hosts (
    host   TEXT PRIMARY KEY,
    tenant TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE
) STRICT;

CREATE INDEX tenant_hosts_by_tenant ON tenant_hosts (tenant);
