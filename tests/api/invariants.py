"""What must hold after a server was killed (domain.md §2 "stored ... durably, before the caller
hears of them", §4 "each event is processed once ... across a crash", §6 the audit chain): the
checks shared by the crash tests (test_durability.py, test_quota_durability.py,
test_leasing_crash.py, test_backfill_crash.py, test_ledger.py, test_crash_loop.py).

Each function either raises AssertionError or returns what is wrong as a list or dict (empty
when all holds), so a test can gather several findings before it fails:

  assert_chain_valid(srv, token)     the independent verifier over the whole chain and
                                     GET /jobengine/audit/verify agree that it is valid
  cli_audit_verify(srv, token)       `jobengine audit verify` against the server says valid
  ChainFollower                      the same, incrementally: reads only the entries appended
                                     since the last call (audit export) and checks they continue
                                     the chain already read, so a tail lost or rewritten shows
  stable_accounting(...)             usage.active == live leases + live permits of a quota
  lease_problems(...)                every acknowledged lease is still held, was completed, or
                                     has expired; none was granted again while it ran
  completion_problems(...)           every acknowledged completion stayed
  exactly_once_problems(...)         each event processed exactly `times` times
  batch_problems(...)                a backfill's batches: each submitted and completed once
"""

import json
import time

from harness import (GRANT_EVENT, ZERO_HASH, export_lines, fetch_export, format_time_ms,
                     list_jobs_all, now_ms, parse_time_ms, run_cli, verify_chain,
                     window_batches)


# ------------------------------------------------------------------------------------------------
# The audit chain


def assert_chain_valid(srv, token, entries=None):
    """Every entry of the token's tenant (read unless given), verified independently
    (harness.verify_chain), and the server's own verify agreeing: valid, same number of entries,
    same head. Returns the entries."""
    if entries is None:
        entries = srv.audit_all(token)
    mine = verify_chain(entries)
    if not mine["valid"]:
        raise AssertionError("the chain does not verify independently: %r" % (mine,))
    v = srv.audit_verify(token)
    if v.get("valid") is not True:
        raise AssertionError("GET /jobengine/audit/verify: %r" % (v,))
    head = entries[-1]["sequence"] if entries else 0
    if (v["entries"], v["headSequence"], v["headHash"]) != (len(entries), head,
                                                            mine["headHash"]):
        raise AssertionError("the server verified %r, the independent verifier %d entries up to "
                             "%d, %r" % (v, len(entries), head, mine["headHash"]))
    return entries


def cli_audit_verify(srv, token):
    """`jobengine audit verify` against the running server: exit 0 and a `valid:` verdict.
    Returns its stdout."""
    p = run_cli(["audit", "verify", "--url", srv.url, "--token", token], timeout=60)
    if p.returncode != 0 or not p.stdout.startswith("valid"):
        raise AssertionError("jobengine audit verify: exit %d\n%s%s"
                             % (p.returncode, p.stdout, p.stderr))
    return p.stdout


class ChainFollower:
    """One tenant's chain, read a piece at a time through GET /jobengine/audit/export from the
    last entry already read: that entry must come back unchanged, and what follows must link to
    it (hashes and sequences recomputed here, harness.verify_chain). entries holds the chain read
    so far; grants[jti] the grant entries of each token id; by_resource[id] the entries of each
    resource, in order."""

    def __init__(self, tenant):
        self.tenant = tenant
        self.entries = []
        self.grants = {}
        self.by_resource = {}

    @property
    def head(self):
        return self.entries[-1]["sequence"] if self.entries else 0

    def follow(self, srv, token):
        """Reads and checks the new entries; returns them."""
        last = self.entries[-1] if self.entries else None
        lines = export_lines(fetch_export(srv, token, from_sequence=last["sequence"]
                                          if last else None))
        got = [json.loads(x) for x in lines[:-1]]
        if last is not None:
            if not got or got[0] != last:
                raise AssertionError("tenant %s: entry %d changed or vanished since it was read: "
                                     "%r, was %r" % (self.tenant, last["sequence"],
                                                     got[:1], last))
            got = got[1:]
        v = verify_chain(got, from_sequence=self.head + 1,
                         previous_hash=last["hash"] if last else ZERO_HASH)
        if not v["valid"]:
            raise AssertionError("tenant %s: the chain breaks after %d: %r"
                                 % (self.tenant, self.head, v))
        for e in got:
            if e["tenantId"] != self.tenant:
                raise AssertionError("tenant %s: an entry of %r in its chain"
                                     % (self.tenant, e["tenantId"]))
            if e["eventType"] == GRANT_EVENT and e["details"].get("jti"):
                self.grants.setdefault(e["details"]["jti"], []).append(e)
            if e["resourceId"] is not None:
                self.by_resource.setdefault(e["resourceId"], []).append(e)
        self.entries += got
        return got

    def check_server_verify(self, srv, token):
        """GET /jobengine/audit/verify is valid and reaches at least the head read here, with the
        same hash when it is the same head."""
        v = srv.audit_verify(token)
        if v.get("valid") is not True or v["headSequence"] < self.head:
            raise AssertionError("tenant %s: verify says %r, the chain read reaches %d"
                                 % (self.tenant, v, self.head))
        if v["headSequence"] == self.head and self.entries \
                and v["headHash"] != self.entries[-1]["hash"]:
            raise AssertionError("tenant %s: verify's head hash %r, read %r"
                                 % (self.tenant, v["headHash"], self.entries[-1]["hash"]))
        return v


# ------------------------------------------------------------------------------------------------
# Quotas, permits and leases


def stable_accounting(srv, token, quota_id, job_types, permits, tries=50):
    """usage.active of the quota == its jobs leased now (of job_types) + permits (the live permits,
    a number), read on a stable snapshot: the engine's sweep may expire leases between two reads,
    and changes usage and jobs in one transaction, so two equal reads in a row are a snapshot.
    Returns ({jobId: leaseId} of the leased jobs, the usage)."""
    path = "/jobengine/quotas/" + quota_id

    def leased():
        out = {}
        for jt in job_types:
            out.update((j["jobId"], j["leaseId"])
                       for j in list_jobs_all(srv, token, status="leased", jobType=jt))
        return out
    for _ in range(tries):
        u1, l1 = srv.get_json(path, token)["usage"], leased()
        u2, l2 = srv.get_json(path, token)["usage"], leased()
        if u1["active"] == u2["active"] and l1 == l2:
            if u1["active"] != len(l1) + permits:
                raise AssertionError("quota %s: usage.active %d, leased jobs %d, live permits %d"
                                     % (quota_id, u1["active"], len(l1), permits))
            return l1, u2
        time.sleep(0.02)
    raise AssertionError("no stable snapshot of usage and leases in %d tries" % tries)


def lease_problems(jobs, leases, done_lease_ids, now=None, lease_seconds=None):
    """jobs: {jobId: job} read after the restart; leases: the acknowledged leases (as the lease
    call answered them); done_lease_ids: the leaseIds whose completion was acknowledged;
    lease_seconds: {leaseId: seconds asked}, to check that a job leased again was leased only
    after the earlier lease ran out. Returns what is wrong."""
    now = now_ms() if now is None else now
    out = []
    by_job = {}
    for le in leases:
        by_job.setdefault(le["jobId"], []).append(le)
        if le["leaseId"] in done_lease_ids:
            continue
        j = jobs.get(le["jobId"])
        until = parse_time_ms(le["leaseUntil"])
        if j is None:
            out.append("leased job %s is gone" % le["jobId"])
        elif j["attempt"] < le["attempt"]:
            out.append("job %s: attempt %d, an acknowledged lease had %d"
                       % (le["jobId"], j["attempt"], le["attempt"]))
        elif j["attempt"] > le["attempt"]:
            if until > now:
                out.append("job %s leased again (attempt %d) while lease %s (attempt %d) runs "
                           "until %s" % (le["jobId"], j["attempt"], le["leaseId"],
                                         le["attempt"], le["leaseUntil"]))
        elif j["status"] == "leased":
            if (j["leaseId"], j["leaseUntil"]) != (le["leaseId"], le["leaseUntil"]):
                out.append("job %s: an acknowledged lease was replaced: %r, acknowledged %r"
                           % (le["jobId"], j, le))
        elif j["status"] == "pending":
            if until > now:
                out.append("job %s pending while its lease runs until %s"
                           % (le["jobId"], le["leaseUntil"]))
        elif j["status"] != "succeeded":  # succeeded: completed, the answer lost to the crash
            out.append("job %s: %s after an acknowledged lease" % (le["jobId"], j["status"]))
    if lease_seconds:
        for job_id, ls in by_job.items():
            ls = sorted(ls, key=lambda x: x["attempt"])
            for a, b in zip(ls, ls[1:]):
                if a["leaseId"] in done_lease_ids or a["leaseId"] not in lease_seconds \
                        or b["leaseId"] not in lease_seconds:
                    continue
                b_start = parse_time_ms(b["leaseUntil"]) - lease_seconds[b["leaseId"]] * 1000
                if b_start < parse_time_ms(a["leaseUntil"]):
                    out.append("job %s: lease %s (attempt %d) granted at %s, before lease %s "
                               "(attempt %d) ran out at %s: held twice"
                               % (job_id, b["leaseId"], b["attempt"], format_time_ms(b_start),
                                  a["leaseId"], a["attempt"], a["leaseUntil"]))
    for j in jobs.values():
        if j["attempt"] == 0 and j["status"] != "pending":
            out.append("job %s never leased but %s" % (j["jobId"], j["status"]))
    return out


def completion_problems(jobs, completes):
    """completes: the jobs whose completion 'succeeded' was acknowledged (as leased). Each must
    still be succeeded, by the attempt of that lease."""
    out = []
    for c in completes:
        j = jobs.get(c["jobId"])
        if j is None or (j["status"], j["attempt"]) != ("succeeded", c["attempt"]):
            out.append("an acknowledged completion of %s (attempt %d) was lost: %r"
                       % (c["jobId"], c["attempt"], j))
    return out


# ------------------------------------------------------------------------------------------------
# Backfills and the ledger


def exactly_once_problems(tally, source, keys, times=1):
    """{eventKey: times processed} of the keys not processed exactly `times` times."""
    return {k: tally.processed[(source, k)] for k in keys
            if tally.processed[(source, k)] != times}


def batch_problems(jobs, backfill, tally, finished=True):
    """jobs: the backfill's batch jobs. Each batch number is submitted once, with the window of
    domain.md §3, as many as progress.batchesSubmitted say. finished: moreover every batch
    0..n-1 is there, succeeded, and completed once by the workers (tally.batch_done)."""
    out = []
    bid = backfill["backfillId"]
    nums = sorted(j["batch"] for j in jobs)
    if len(set(nums)) != len(nums):
        out.append("backfill %s: a batch submitted twice: %r" % (bid, nums))
    if len(nums) != backfill["progress"]["batchesSubmitted"]:
        out.append("backfill %s: %d batch jobs, batchesSubmitted %d"
                   % (bid, len(nums), backfill["progress"]["batchesSubmitted"]))
    wins = window_batches(parse_time_ms(backfill["windowStart"]),
                          parse_time_ms(backfill["windowEnd"]), backfill["batchSeconds"])
    for j in jobs:
        want = tuple(format_time_ms(x) for x in wins[j["batch"]]) \
            if 0 <= j["batch"] < len(wins) else None
        if (j["windowStart"], j["windowEnd"]) != want:
            out.append("backfill %s batch %d: window %r, expected %r"
                       % (bid, j["batch"], (j["windowStart"], j["windowEnd"]), want))
    if finished:
        n = len(wins)
        if nums != list(range(n)):
            out.append("backfill %s: batches %r, expected 0..%d" % (bid, nums, n - 1))
        out += ["backfill %s batch %d: %s" % (bid, j["batch"], j["status"]) for j in jobs
                if j["status"] != "succeeded"]
        done = {k[1]: v for k, v in tally.batch_done.items() if k[0] == bid}
        if done != {i: 1 for i in range(n)}:
            out.append("backfill %s: batches completed %r, each exactly once expected"
                       % (bid, done))
    return out
