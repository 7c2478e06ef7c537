-- Quotas (api.md §3.3, domain.md §2): limits, bucket and window state, elevation, and the
-- permits that hold concurrency slots; idempotency keys for POSTs that create something.
CREATE TABLE quotas (
    tenant_id TEXT NOT NULL,
    quota_id TEXT NOT NULL,
    job_type TEXT NOT NULL,
    max_active INTEGER NOT NULL,
    max_per_hour INTEGER NOT NULL,
    burst_capacity INTEGER NOT NULL,
    refill_per_second REAL NOT NULL,
    paused INTEGER NOT NULL,
    pause_reason TEXT NOT NULL,
    pause_ticket TEXT NOT NULL,
    active INTEGER NOT NULL,
    hour_count INTEGER NOT NULL,
    hour_start_ms INTEGER NOT NULL,
    tokens REAL NOT NULL,
    last_refill_ms INTEGER NOT NULL,
    throttled INTEGER NOT NULL,
    throttled_hour_ms INTEGER NOT NULL,
    elevation_expires_ms INTEGER,
    prev_max_active INTEGER NOT NULL,
    prev_max_per_hour INTEGER NOT NULL,
    prev_burst_capacity INTEGER NOT NULL,
    prev_refill_per_second REAL NOT NULL,
    version INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    updated_ms INTEGER NOT NULL,
    updated_by TEXT NOT NULL,
    last_reason TEXT NOT NULL,
    last_ticket TEXT NOT NULL,
    PRIMARY KEY (tenant_id, quota_id),
    UNIQUE (tenant_id, job_type)
) STRICT;

CREATE INDEX quotas_elevation ON quotas(elevation_expires_ms) WHERE elevation_expires_ms IS NOT NULL;

CREATE TABLE permits (
    tenant_id TEXT NOT NULL,
    permit_id TEXT NOT NULL,
    quota_id TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, permit_id)
) STRICT;

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
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, method, path, idem_key)
) STRICT;

CREATE INDEX idempotency_age ON idempotency(created_ms);
