-- Capacity pools (issue 15), as on SQLite (008_pools.sql): one per job type, platform-wide. A
-- decision locks the pool's row (after the quota rows, before job rows: postgres_impl.h's lock
-- order) and counts the live leases of the job type and live permits of its quotas under it.
CREATE TABLE pools (
    job_type TEXT PRIMARY KEY,
    strategy INTEGER NOT NULL,
    max_active BIGINT NOT NULL,
    max_per_hour BIGINT NOT NULL,
    hour_start_ms BIGINT NOT NULL,
    hour_count BIGINT NOT NULL,
    throttled BIGINT NOT NULL,
    last_cap INTEGER NOT NULL,
    last_refusal_ms BIGINT NOT NULL,
    version BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    updated_ms BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    last_reason TEXT NOT NULL,
    last_ticket TEXT NOT NULL
);

CREATE TABLE pool_shares (
    job_type TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    weight DOUBLE PRECISION NOT NULL,
    tier BIGINT NOT NULL,
    reserved BIGINT NOT NULL,
    max_active BIGINT NOT NULL,
    PRIMARY KEY (job_type, tenant_id)
);

CREATE INDEX jobs_type_leases ON jobs(job_type, tenant_id, lease_until_ms) WHERE status = 1;
-- and the live permits of the quotas of its job type, whichever tenant holds them.
CREATE INDEX quotas_job_type ON quotas(job_type, tenant_id);
