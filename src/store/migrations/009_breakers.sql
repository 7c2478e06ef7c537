-- Circuit breakers (issue 15): one row per job type (tenant_id ''), holding its settings and,
-- unless per_tenant, its state; with per_tenant one more row per tenant whose work of the job
-- type has used it. The window's buckets are kept as two comma-separated lists of counts.
CREATE TABLE breakers (
    job_type TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    per_tenant INTEGER NOT NULL,
    failure_rate REAL NOT NULL,
    min_samples INTEGER NOT NULL,
    window_ms INTEGER NOT NULL,
    open_ms INTEGER NOT NULL,
    probes INTEGER NOT NULL,
    state INTEGER NOT NULL,
    force INTEGER NOT NULL,
    opened_ms INTEGER NOT NULL,
    bucket_ms INTEGER NOT NULL,
    ok TEXT NOT NULL,
    failed TEXT NOT NULL,
    probes_admitted INTEGER NOT NULL,
    probes_ok INTEGER NOT NULL,
    version INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    updated_by TEXT NOT NULL,
    last_reason TEXT NOT NULL,
    last_ticket TEXT NOT NULL,
    PRIMARY KEY (job_type, tenant_id)
) STRICT;
