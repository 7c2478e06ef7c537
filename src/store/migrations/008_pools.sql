-- Capacity pools (issue 15): one per job type, platform-wide, shared by every tenant whose work
-- is of that type. The pool's use is not kept as a counter: each decision counts, inside its
-- write transaction, the live leases of the job type and the live permits of its quotas, so
-- nothing has to be given back when a lease or permit ends.
CREATE TABLE pools (
    job_type TEXT PRIMARY KEY,
    strategy INTEGER NOT NULL,
    max_active INTEGER NOT NULL,
    max_per_hour INTEGER NOT NULL,  -- -1: none
    hour_start_ms INTEGER NOT NULL,
    hour_count INTEGER NOT NULL,
    throttled INTEGER NOT NULL,
    last_cap INTEGER NOT NULL,
    last_refusal_ms INTEGER NOT NULL,
    version INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    updated_ms INTEGER NOT NULL,
    updated_by TEXT NOT NULL,
    last_reason TEXT NOT NULL,
    last_ticket TEXT NOT NULL
) STRICT;

CREATE TABLE pool_shares (
    job_type TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    weight REAL NOT NULL,
    tier INTEGER NOT NULL,
    reserved INTEGER NOT NULL,
    max_active INTEGER NOT NULL,  -- -1: none
    PRIMARY KEY (job_type, tenant_id)
) STRICT;

-- A pool's decision counts the live leases of its job type across tenants.
CREATE INDEX jobs_type_leases ON jobs(job_type, tenant_id, lease_until_ms) WHERE status = 1;
-- and the live permits of the quotas of its job type, whichever tenant holds them.
CREATE INDEX quotas_job_type ON quotas(job_type, tenant_id);
