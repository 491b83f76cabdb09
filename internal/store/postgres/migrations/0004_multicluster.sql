-- costwarden PostgreSQL schema version 4: many clusters and several replicas (the
-- same contract as SQLite's 0004). Windows get the tenant's window version their
-- last write took (the change feed that keeps replicas' caches current);
-- window_versions holds each tenant's counters, and its row lock orders the
-- writers of a tenant. Agents are cluster enrolments (hashes, serials, ids and
-- times only); tenants and their host names are hosted mode's routing table.

ALTER TABLE windows ADD COLUMN version bigint NOT NULL DEFAULT 0;

CREATE INDEX windows_by_version ON windows (tenant, version) INCLUDE (resolution, cluster_id, start_unix, end_unix, partial, updated_at);

CREATE TABLE window_versions (
    tenant  text COLLATE "C" PRIMARY KEY,
    version bigint NOT NULL CHECK (version >= 0),
    deletes bigint NOT NULL CHECK (deletes >= 0)
);

CREATE TABLE agents (
    id               text COLLATE "C" PRIMARY KEY,
    tenant           text COLLATE "C" NOT NULL,
    cluster_id       text COLLATE "C" NOT NULL,
    state            text COLLATE "C" NOT NULL CHECK (state IN ('active', 'revoked')),
    generation       bigint NOT NULL CHECK (generation >= 0),
    token_hash       bytea UNIQUE,
    token_expires_at bigint,
    token_used_at    bigint,
    cert_serial      text COLLATE "C" NOT NULL,
    cert_not_after   bigint,
    created_at       bigint,
    revoked_at       bigint,
    last_seen_at     bigint,
    clock_skew_ns    bigint NOT NULL,
    UNIQUE (tenant, id),
    FOREIGN KEY (tenant, cluster_id) REFERENCES clusters (tenant, id) ON DELETE CASCADE
);

CREATE INDEX agents_by_tenant ON agents (tenant, created_at);

CREATE TABLE tenants (
    id         text COLLATE "C" PRIMARY KEY,
    state      text COLLATE "C" NOT NULL CHECK (state IN ('active')),
    created_at bigint
);

CREATE TABLE tenant_hosts (
    host   text COLLATE "C" PRIMARY KEY,
    tenant text COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE
);

CREATE INDEX tenant_hosts_by_tenant ON tenant_hosts (tenant);
