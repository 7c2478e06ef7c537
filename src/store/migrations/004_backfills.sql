-- Backfills (api.md §3.5, domain.md §3-5) and the event ledger of duplicate suppression (§4).
CREATE TABLE backfills (
    tenant_id TEXT NOT NULL,
    backfill_id TEXT NOT NULL,
    source_id TEXT NOT NULL,
    job_type TEXT NOT NULL,
    window_start_ms INTEGER NOT NULL,
    window_end_ms INTEGER NOT NULL,
    batch_ms INTEGER NOT NULL,
    force_reprocess INTEGER NOT NULL,
    status INTEGER NOT NULL,          -- core/backfill.h je_backfill_state
    reason TEXT NOT NULL,
    ticket TEXT NOT NULL,             -- '' when none
    plan_batches INTEGER NOT NULL,
    plan_known INTEGER NOT NULL,
    plan_processed INTEGER NOT NULL,
    plan_hash TEXT NOT NULL,
    safety_checks TEXT NOT NULL,      -- JSON array as reported at creation
    batches_submitted INTEGER NOT NULL,
    batches_done INTEGER NOT NULL,
    events_processed INTEGER NOT NULL,
    duplicates_skipped INTEGER NOT NULL,
    events_failed INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    started_ms INTEGER,
    completed_ms INTEGER,
    error TEXT,
    version INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, backfill_id)
) STRICT;

CREATE INDEX backfills_key ON backfills(tenant_id, source_id, job_type, status);
CREATE INDEX backfills_running ON backfills(status) WHERE status = 1;
CREATE INDEX backfills_newest ON backfills(tenant_id, created_ms DESC, backfill_id DESC);

-- One row per (tenant, source, event): whether it was processed (and with which digest), apart
-- from the claim a job may hold on it now.
CREATE TABLE ledger (
    tenant_id TEXT NOT NULL,
    source_id TEXT NOT NULL,
    event_key TEXT NOT NULL,
    event_time_ms INTEGER NOT NULL,
    processed INTEGER NOT NULL,
    processed_digest TEXT,
    claim_job_id TEXT,
    claim_digest TEXT,
    PRIMARY KEY (tenant_id, source_id, event_key)
) STRICT, WITHOUT ROWID;

CREATE INDEX ledger_time ON ledger(tenant_id, source_id, event_time_ms);
CREATE INDEX ledger_claims ON ledger(tenant_id, claim_job_id) WHERE claim_job_id IS NOT NULL;
