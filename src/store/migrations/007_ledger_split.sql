-- The event ledger of duplicate suppression (domain.md §4) in three tables, so that a claim of a
-- new event is one insert into a small table (docs/architecture.md "The ledger"):
--   ledger_sources  interns each (tenant, source) as an INTEGER, the first column of every key;
--   ledger          the settled entries, keyed (source, event_key): time, processed, digest;
--   ledger_claims   the unsettled claims, keyed (source, event_key): the claiming job, the time
--                   and digest claimed with; settled into ledger (or given up) when the job ends.
-- An event's entry is its ledger row and its claims row taken together: it exists when either
-- does; its time is the claim's while claimed; processed and the processed digest are the
-- ledger row's. Every row of the old ledger moves to ledger; a row held by a claim also gets
-- its claims row.
CREATE TABLE ledger_sources (
    id INTEGER PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    source_id TEXT NOT NULL,
    UNIQUE (tenant_id, source_id)
) STRICT;

INSERT INTO ledger_sources(tenant_id, source_id)
    SELECT DISTINCT tenant_id, source_id FROM ledger ORDER BY tenant_id, source_id;

CREATE TABLE ledger_settled (
    source INTEGER NOT NULL,          -- ledger_sources.id
    event_key TEXT NOT NULL,
    event_time_ms INTEGER NOT NULL,
    processed INTEGER NOT NULL,       -- 0: a claim was given up (the event is known)
    processed_digest TEXT,
    PRIMARY KEY (source, event_key)
) STRICT, WITHOUT ROWID;

INSERT INTO ledger_settled(source, event_key, event_time_ms, processed, processed_digest)
    SELECT s.id, l.event_key, l.event_time_ms, l.processed, l.processed_digest
    FROM ledger l JOIN ledger_sources s ON s.tenant_id = l.tenant_id AND s.source_id = l.source_id
    ORDER BY s.id, l.event_key;

CREATE TABLE ledger_claims_new (
    source INTEGER NOT NULL,          -- ledger_sources.id
    event_key TEXT NOT NULL,
    job_id TEXT NOT NULL,             -- the claiming job (of the source's tenant)
    event_time_ms INTEGER NOT NULL,
    digest TEXT,
    PRIMARY KEY (source, event_key)
) STRICT, WITHOUT ROWID;

INSERT INTO ledger_claims_new(source, event_key, job_id, event_time_ms, digest)
    SELECT s.id, l.event_key, l.claim_job_id, l.event_time_ms, l.claim_digest
    FROM ledger l JOIN ledger_sources s ON s.tenant_id = l.tenant_id AND s.source_id = l.source_id
    WHERE l.claim_job_id IS NOT NULL
    ORDER BY s.id, l.event_key;

DROP TABLE ledger;
ALTER TABLE ledger_settled RENAME TO ledger;
ALTER TABLE ledger_claims_new RENAME TO ledger_claims;
-- The prune and the backfill plan's counts walk a source's entries by time (processed too: one
-- byte per entry, and neither reads the table).
CREATE INDEX ledger_time ON ledger(source, event_time_ms, processed);
-- A job's end finds its claims.
CREATE INDEX ledger_claims_job ON ledger_claims(job_id);
