-- 001_init.sql: the first schema — clients, signing keys, revoked tokens and audit chains.
-- Applied once, in its own transaction, by the SQLite backend (store/sqlite.c); the version is
-- tracked with PRAGMA user_version.

CREATE TABLE clients (
    id TEXT NOT NULL PRIMARY KEY,
    secret_sha256 BLOB NOT NULL,
    tenants TEXT NOT NULL,          -- JSON array of tenant ids
    roles TEXT NOT NULL,            -- JSON array of role names
    created_ms INTEGER,
    updated_ms INTEGER
) STRICT;

CREATE TABLE signing_keys (
    kid TEXT NOT NULL PRIMARY KEY,
    priv BLOB NOT NULL,             -- raw Ed25519 seed: the file is created mode 0600
    pub BLOB NOT NULL,
    created_ms INTEGER NOT NULL,
    current INTEGER NOT NULL
) STRICT;

CREATE TABLE revoked_tokens (
    jti TEXT NOT NULL PRIMARY KEY,
    exp_ms INTEGER NOT NULL
) STRICT;

CREATE INDEX revoked_tokens_by_exp ON revoked_tokens(exp_ms);

-- One chain per tenant; entry_json is the canonical (JCS) form of the whole entry, hash
-- included. The other columns are copies of its members, for filtering.
CREATE TABLE audit_entries (
    tenant_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    entry_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    resource_type TEXT,
    resource_id TEXT,
    actor_id TEXT,
    occurred_ms INTEGER NOT NULL,
    hash TEXT NOT NULL,
    entry_json TEXT NOT NULL,
    PRIMARY KEY (tenant_id, sequence)
) STRICT, WITHOUT ROWID;

CREATE INDEX audit_by_event ON audit_entries(tenant_id, event_type, sequence);
CREATE INDEX audit_by_resource ON audit_entries(tenant_id, resource_type, resource_id, sequence);
CREATE INDEX audit_by_time ON audit_entries(tenant_id, occurred_ms);
