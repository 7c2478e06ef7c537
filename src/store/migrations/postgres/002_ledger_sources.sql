-- The sources of the event ledger (domain.md §4), one row per (tenant, source) that has ever had
-- an entry: the prune walks each source's entries by ledger_time instead of scanning the whole
-- ledger. The ledger itself keeps its text key on PostgreSQL (docs/architecture.md "The ledger": a
-- claim here is a few statements over arrays whatever its size; SQLite's integer key and
-- separate claims table are not measured on this backend yet).
CREATE TABLE ledger_sources (
    tenant_id TEXT NOT NULL,
    source_id TEXT NOT NULL,
    PRIMARY KEY (tenant_id, source_id)
);

INSERT INTO ledger_sources(tenant_id, source_id)
    SELECT DISTINCT tenant_id, source_id FROM ledger;
