-- Counting a quota's leased backfill batch jobs (the backfill share, domain.md §2) reads only
-- this index instead of every live lease of the quota.
CREATE INDEX jobs_quota_lane ON jobs(tenant_id, quota_id, lane) WHERE status = 1;
