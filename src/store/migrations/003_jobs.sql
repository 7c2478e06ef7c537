-- Jobs and leases (api.md §3.4, domain.md §2). A leased job holds one slot of the quota it was
-- charged to (quota_id); the quota's active count covers its leases and its permits.
CREATE TABLE jobs (
    tenant_id TEXT NOT NULL,
    job_id TEXT NOT NULL,
    job_type TEXT NOT NULL,
    status INTEGER NOT NULL,          -- core/jobs.h je_job_status
    lane INTEGER NOT NULL,            -- 0 live, 1 backfill
    priority INTEGER NOT NULL,
    payload TEXT NOT NULL,            -- JSON
    source_id TEXT,
    event_key TEXT,
    event_time_ms INTEGER,
    backfill_id TEXT,
    batch INTEGER,
    window_start_ms INTEGER,
    window_end_ms INTEGER,
    attempt INTEGER NOT NULL,         -- attempts started (leases granted)
    failures INTEGER NOT NULL,        -- attempts completed as failed
    max_attempts INTEGER NOT NULL,
    available_ms INTEGER NOT NULL,    -- not leased before (retry backoff)
    lease_id TEXT,
    lease_until_ms INTEGER,
    lease_ms INTEGER,
    worker_id TEXT,
    quota_id TEXT,                    -- the quota charged by the current lease, if any
    error TEXT,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    completed_ms INTEGER,
    PRIMARY KEY (tenant_id, job_id)
) STRICT;

CREATE INDEX jobs_ready ON jobs(tenant_id, job_type, lane, priority DESC, created_ms, job_id)
    WHERE status = 0;
CREATE INDEX jobs_leases ON jobs(lease_until_ms) WHERE status = 1;
CREATE INDEX jobs_quota_leases ON jobs(tenant_id, quota_id, lease_until_ms) WHERE status = 1;
CREATE INDEX jobs_list ON jobs(tenant_id, created_ms, job_id);
