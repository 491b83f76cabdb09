-- costwarden schema version 2: identity and access (issue 5).
--
-- Principals gain optional blind indexes of their e-mail and of an external
-- identity (OIDC issuer and subject), and the time they were last seen (inactivity
-- disabling). Sessions, login throttling and access requests get their own tables.
-- As in version 1, personal data lives only in sealed BLOB columns, names and
-- addresses only as blind indexes, and times are Unix nanoseconds (NULL = zero).

ALTER TABLE principals ADD COLUMN email_index BLOB;
ALTER TABLE principals ADD COLUMN subject_index BLOB;
ALTER TABLE principals ADD COLUMN last_seen_at INTEGER;

CREATE UNIQUE INDEX principals_by_email ON principals (tenant, email_index) WHERE email_index IS NOT NULL;
CREATE UNIQUE INDEX principals_by_subject ON principals (tenant, subject_index) WHERE subject_index IS NOT NULL;

-- Only the SHA-256 of a session secret is stored. A session dies with its
-- principal.
CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    tenant       TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    hash         BLOB NOT NULL UNIQUE,
    stage        TEXT NOT NULL CHECK (stage IN ('active', 'mfa', 'setup')),
    sealed       BLOB NOT NULL,
    created_at   INTEGER,
    last_seen_at INTEGER,
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    FOREIGN KEY (tenant, principal_id) REFERENCES principals (tenant, id) ON DELETE CASCADE
) STRICT;

CREATE INDEX sessions_by_principal ON sessions (tenant, principal_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- Failed-login counters per blind-indexed key (an account or a source address).
CREATE TABLE lockouts (
    tenant           TEXT    NOT NULL,
    key              BLOB    NOT NULL,
    failures         INTEGER NOT NULL CHECK (failures >= 0),
    first_failure_at INTEGER,
    last_failure_at  INTEGER,
    locked_until     INTEGER,
    PRIMARY KEY (tenant, key)
) STRICT;

CREATE TABLE access_requests (
    id           TEXT PRIMARY KEY,
    tenant       TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    role         TEXT NOT NULL,
    sealed       BLOB NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected')),
    created_at   INTEGER,
    decided_at   INTEGER,
    decided_by   TEXT NOT NULL,
    FOREIGN KEY (tenant, principal_id) REFERENCES principals (tenant, id) ON DELETE CASCADE
) STRICT;

CREATE INDEX access_requests_by_state ON access_requests (tenant, state, created_at);
