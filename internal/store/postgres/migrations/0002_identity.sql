-- costwarden PostgreSQL schema version 2: identity and access (the same contract
-- as SQLite's 0002). Principals gain optional blind indexes of their e-mail and of
-- an external identity, and the time they were last seen; sessions, login
-- throttling and access requests get their own tables. Personal data lives only in
-- sealed bytea columns, names and addresses only as blind indexes; times are bigint
-- Unix nanoseconds (NULL = zero).

ALTER TABLE principals ADD COLUMN email_index bytea;
ALTER TABLE principals ADD COLUMN subject_index bytea;
ALTER TABLE principals ADD COLUMN last_seen_at bigint;

CREATE UNIQUE INDEX principals_by_email ON principals (tenant, email_index) WHERE email_index IS NOT NULL;
CREATE UNIQUE INDEX principals_by_subject ON principals (tenant, subject_index) WHERE subject_index IS NOT NULL;

CREATE TABLE sessions (
    id           text COLLATE "C"  PRIMARY KEY,
    tenant       text COLLATE "C"  NOT NULL,
    principal_id text COLLATE "C"  NOT NULL,
    hash         bytea NOT NULL UNIQUE,
    stage        text COLLATE "C"  NOT NULL CHECK (stage IN ('active', 'mfa', 'setup')),
    sealed       bytea NOT NULL,
    created_at   bigint,
    last_seen_at bigint,
    expires_at   bigint NOT NULL,
    revoked_at   bigint,
    FOREIGN KEY (tenant, principal_id) REFERENCES principals (tenant, id) ON DELETE CASCADE
);

CREATE INDEX sessions_by_principal ON sessions (tenant, principal_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE lockouts (
    tenant           text COLLATE "C" NOT NULL,
    key              bytea  NOT NULL,
    failures         bigint NOT NULL CHECK (failures >= 0),
    first_failure_at bigint,
    last_failure_at  bigint,
    locked_until     bigint,
    PRIMARY KEY (tenant, key)
);

CREATE TABLE access_requests (
    id           text COLLATE "C" PRIMARY KEY,
    tenant       text COLLATE "C" NOT NULL,
    principal_id text COLLATE "C" NOT NULL,
    role         text COLLATE "C" NOT NULL,
    sealed       bytea NOT NULL,
    state        text COLLATE "C" NOT NULL CHECK (state IN ('pending', 'approved', 'rejected')),
    created_at   bigint,
    decided_at   bigint,
    decided_by   text COLLATE "C" NOT NULL,
    FOREIGN KEY (tenant, principal_id) REFERENCES principals (tenant, id) ON DELETE CASCADE
);

CREATE INDEX access_requests_by_state ON access_requests (tenant, state, created_at);
