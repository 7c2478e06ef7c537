-- 001_init.sql: the whole schema of the PostgreSQL backend (store/postgres.c), the same tables
-- and columns as the SQLite migrations of store/migrations/, in PostgreSQL's types. Applied once,
-- in its own transaction, under an advisory lock, so several nodes starting together apply it
-- once; the version is a row of je_schema_migrations.

CREATE TABLE clients (
    id TEXT NOT NULL PRIMARY KEY,
    secret_sha256 BYTEA NOT NULL,
    tenants TEXT NOT NULL,          -- JSON array of tenant ids
    roles TEXT NOT NULL,            -- JSON array of role names
    created_ms BIGINT,
    updated_ms BIGINT
);

CREATE TABLE signing_keys (
    kid TEXT NOT NULL PRIMARY KEY,
    priv BYTEA NOT NULL,            -- raw Ed25519 seed: protect the database like a key file
    pub BYTEA NOT NULL,
    created_ms BIGINT NOT NULL,
    current INTEGER NOT NULL
);

CREATE TABLE revoked_tokens (
    jti TEXT NOT NULL PRIMARY KEY,
    exp_ms BIGINT NOT NULL
);
CREATE INDEX revoked_tokens_by_exp ON revoked_tokens(exp_ms);

-- One chain per tenant; entry_json is the canonical (JCS) form of the whole entry, hash
-- included. The other columns are copies of its members, for filtering.
CREATE TABLE audit_entries (
    tenant_id TEXT NOT NULL,
    sequence BIGINT NOT NULL,
    entry_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    resource_type TEXT,
    resource_id TEXT,
    actor_id TEXT,
    occurred_ms BIGINT NOT NULL,
    hash TEXT NOT NULL,
    entry_json TEXT NOT NULL,
    PRIMARY KEY (tenant_id, sequence)
);
CREATE INDEX audit_by_event ON audit_entries(tenant_id, event_type, sequence);
CREATE INDEX audit_by_resource ON audit_entries(tenant_id, resource_type, resource_id, sequence);
CREATE INDEX audit_by_time ON audit_entries(tenant_id, occurred_ms);

-- The head of every chain. An append locks its tenant's row (FOR UPDATE) and moves it in the
-- transaction of the change it records: appends of one tenant are serialised, of two never.
CREATE TABLE audit_heads (
    tenant_id TEXT NOT NULL PRIMARY KEY,
    head_sequence BIGINT NOT NULL,
    head_hash TEXT NOT NULL
);

CREATE TABLE audit_checkpoints (
    tenant_id TEXT NOT NULL,
    head_sequence BIGINT NOT NULL,
    head_hash TEXT NOT NULL,
    checkpoint_json TEXT NOT NULL,  -- the signed object, as JCS
    signature TEXT NOT NULL,        -- unpadded base64url Ed25519
    kid TEXT NOT NULL,
    issued_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, head_sequence)
);

CREATE TABLE quotas (
    tenant_id TEXT NOT NULL,
    quota_id TEXT NOT NULL,
    job_type TEXT NOT NULL,
    max_active BIGINT NOT NULL,
    max_per_hour BIGINT NOT NULL,
    burst_capacity BIGINT NOT NULL,
    refill_per_second DOUBLE PRECISION NOT NULL,
    paused INTEGER NOT NULL,
    pause_reason TEXT NOT NULL,
    pause_ticket TEXT NOT NULL,
    active BIGINT NOT NULL,
    hour_count BIGINT NOT NULL,
    hour_start_ms BIGINT NOT NULL,
    tokens DOUBLE PRECISION NOT NULL,
    last_refill_ms BIGINT NOT NULL,
    throttled BIGINT NOT NULL,
    throttled_hour_ms BIGINT NOT NULL,
    elevation_expires_ms BIGINT,
    prev_max_active BIGINT NOT NULL,
    prev_max_per_hour BIGINT NOT NULL,
    prev_burst_capacity BIGINT NOT NULL,
    prev_refill_per_second DOUBLE PRECISION NOT NULL,
    version BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    updated_ms BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    last_reason TEXT NOT NULL,
    last_ticket TEXT NOT NULL,
    PRIMARY KEY (tenant_id, quota_id),
    UNIQUE (tenant_id, job_type)
);
CREATE INDEX quotas_elevation ON quotas(elevation_expires_ms)
    WHERE elevation_expires_ms IS NOT NULL;

CREATE TABLE permits (
    tenant_id TEXT NOT NULL,
    permit_id TEXT NOT NULL,
    quota_id TEXT NOT NULL,
    expires_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, permit_id)
);
CREATE INDEX permits_quota ON permits(tenant_id, quota_id, expires_ms);
CREATE INDEX permits_expiry ON permits(expires_ms);

CREATE TABLE idempotency (
    tenant_id TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, method, path, idem_key)
);
CREATE INDEX idempotency_age ON idempotency(created_ms);

CREATE TABLE jobs (
    tenant_id TEXT NOT NULL,
    job_id TEXT COLLATE "C" NOT NULL, -- ordered bytewise (leasing order, lists), as in SQLite
    job_type TEXT NOT NULL,
    status INTEGER NOT NULL,          -- core/jobs.h je_job_status
    lane INTEGER NOT NULL,            -- 0 live, 1 backfill
    priority BIGINT NOT NULL,
    payload TEXT NOT NULL,            -- JSON
    source_id TEXT,
    event_key TEXT,
    event_time_ms BIGINT,
    backfill_id TEXT,
    batch BIGINT,
    window_start_ms BIGINT,
    window_end_ms BIGINT,
    attempt BIGINT NOT NULL,
    failures BIGINT NOT NULL,
    max_attempts BIGINT NOT NULL,
    available_ms BIGINT NOT NULL,
    lease_id TEXT,
    lease_until_ms BIGINT,
    lease_ms BIGINT,
    worker_id TEXT,
    quota_id TEXT,
    error TEXT,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    completed_ms BIGINT,
    PRIMARY KEY (tenant_id, job_id)
);
CREATE INDEX jobs_ready ON jobs(tenant_id, job_type, lane, priority DESC, created_ms, job_id)
    WHERE status = 0;
CREATE INDEX jobs_leases ON jobs(lease_until_ms) WHERE status = 1;
CREATE INDEX jobs_quota_leases ON jobs(tenant_id, quota_id, lease_until_ms) WHERE status = 1;
CREATE INDEX jobs_quota_lane ON jobs(tenant_id, quota_id, lane) WHERE status = 1;
CREATE INDEX jobs_list ON jobs(tenant_id, created_ms, job_id);
-- A backfill's batch is one job, ever: two nodes advancing the same backfill cannot both
-- submit it.
CREATE UNIQUE INDEX jobs_batch ON jobs(tenant_id, backfill_id, batch)
    WHERE backfill_id IS NOT NULL;

CREATE TABLE backfills (
    tenant_id TEXT NOT NULL,
    backfill_id TEXT NOT NULL,
    source_id TEXT NOT NULL,
    job_type TEXT NOT NULL,
    window_start_ms BIGINT NOT NULL,
    window_end_ms BIGINT NOT NULL,
    batch_ms BIGINT NOT NULL,
    force_reprocess INTEGER NOT NULL,
    status INTEGER NOT NULL,          -- core/backfill.h je_backfill_state
    reason TEXT NOT NULL,
    ticket TEXT NOT NULL,
    plan_batches BIGINT NOT NULL,
    plan_known BIGINT NOT NULL,
    plan_processed BIGINT NOT NULL,
    plan_hash TEXT NOT NULL,
    safety_checks TEXT NOT NULL,
    batches_submitted BIGINT NOT NULL,
    batches_done BIGINT NOT NULL,
    events_processed BIGINT NOT NULL,
    duplicates_skipped BIGINT NOT NULL,
    events_failed BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    started_ms BIGINT,
    completed_ms BIGINT,
    error TEXT,
    version BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, backfill_id)
);
CREATE INDEX backfills_key ON backfills(tenant_id, source_id, job_type, status);
CREATE INDEX backfills_running ON backfills(status) WHERE status = 1;
CREATE INDEX backfills_newest ON backfills(tenant_id, created_ms DESC, backfill_id DESC);

-- A backfill create locks this row of its (tenant, source, job type) first, so two overlapping
-- creates on two nodes are serialised and exactly one passes no_overlap.
CREATE TABLE backfill_keys (
    tenant_id TEXT NOT NULL,
    source_id TEXT NOT NULL,
    job_type TEXT NOT NULL,
    PRIMARY KEY (tenant_id, source_id, job_type)
);

CREATE TABLE ledger (
    tenant_id TEXT NOT NULL,
    source_id TEXT NOT NULL,
    event_key TEXT NOT NULL,
    event_time_ms BIGINT NOT NULL,
    processed INTEGER NOT NULL,
    processed_digest TEXT,
    claim_job_id TEXT,
    claim_digest TEXT,
    PRIMARY KEY (tenant_id, source_id, event_key)
);
CREATE INDEX ledger_time ON ledger(tenant_id, source_id, event_time_ms);
CREATE INDEX ledger_claims ON ledger(tenant_id, claim_job_id) WHERE claim_job_id IS NOT NULL;
