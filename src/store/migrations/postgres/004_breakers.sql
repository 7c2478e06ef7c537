-- Circuit breakers (issue 15), as on SQLite (009_breakers.sql). A decision locks the breaker row
-- after the pool rows and before job rows; a completion after its job row.
CREATE TABLE breakers (
    job_type TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    per_tenant INTEGER NOT NULL,
    failure_rate DOUBLE PRECISION NOT NULL,
    min_samples BIGINT NOT NULL,
    window_ms BIGINT NOT NULL,
    open_ms BIGINT NOT NULL,
    probes BIGINT NOT NULL,
    state INTEGER NOT NULL,
    force INTEGER NOT NULL,
    opened_ms BIGINT NOT NULL,
    bucket_ms BIGINT NOT NULL,
    ok TEXT NOT NULL,
    failed TEXT NOT NULL,
    probes_admitted BIGINT NOT NULL,
    probes_ok BIGINT NOT NULL,
    version BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    last_reason TEXT NOT NULL,
    last_ticket TEXT NOT NULL,
    PRIMARY KEY (job_type, tenant_id)
);
