"""Black-box tests of backfills over HTTP (api.md §3.2, §3.4, §3.5, §3.6; domain.md §2-§5;
docs/api.md "Jobs and leasing" and "Backfills and the ledger"): a backfill's whole life with
workers and its audit, duplicate requests (overlap, suppression, forceReprocess), every safety
check and the order of refusals, preview and dryRun, planHash (an independent computation, and
PLAN_CHANGED), the state machine, cancel and pause with batch jobs, validation, reads and lists,
the backfill share of a quota with live jobs leasing first, and tenant isolation."""

import threading
import time
import unittest
import urllib.parse
import uuid

from harness import (BACKFILL_KEYS, BACKFILL_PLAN_KEYS, BACKFILL_PROGRESS_KEYS, BACKFILLS,
                     DAY_MS, DEDUP_CLAIM, HOUR_MS, JOBS, SAFETY_CHECKS, TIME_RE, BackfillWorker,
                     FakeSource, ServerTestCase, Tally, backfill_body, backfill_path,
                     checks_by_name, format_time_ms, get_backfill, hour_start_ms, job_path,
                     list_jobs_all, now_ms, parse_time_ms, plan_hash, quota_body, run_threads,
                     run_workers, submit_job, submit_live, verify_chain, wait_backfill,
                     wait_until, window_batches)

TENANTS = ["acme", "globex", "lister", "star"]
CLIENTS = [
    ("admin", TENANTS, ["Orch.Admin"]),
    ("worker", TENANTS, ["Orch.Worker"]),
    ("viewer", ["acme"], ["Orch.Viewer"]),
]
Q = "/jobengine/quotas"
REASON = "re-ingest after parser fix"
TICKET = "SEC-2231"
ALL_PASS = {c: True for c in SAFETY_CHECKS}


def base_time():
    """The start of a UTC hour two days ago: windows after it are in the past, and well inside
    the ledger's retention."""
    return hour_start_ms(now_ms()) - 2 * DAY_MS


class BackfillBase(ServerTestCase):
    """Helpers; cls.srv, cls.tok (admin: orch:quota orch:backfill, backfill reason and ticket),
    cls.work (worker: orch:jobs orch:read) of tenant acme."""

    @classmethod
    def tokens(cls, srv, tenant="acme"):
        return (srv.grant("admin", "orch:quota orch:backfill", tenant=tenant,
                          quota_reason="backfill tests", backfill_reason=REASON,
                          backfill_ticket=TICKET),
                srv.grant("worker", "orch:jobs orch:read", tenant=tenant))

    # -- requests -----------------------------------------------------------------------------------
    def create_quota(self, job_type, tok=None, **limits):
        limits.setdefault("max_per_hour", 100000)
        limits.setdefault("burst", 1000)
        limits.setdefault("refill", 100)
        st, _, body = self.srv.api("POST", Q, tok or self.tok, body=quota_body(job_type, **limits))
        self.assertEqual(st, 201, body)
        return body["quotaId"]

    def preview(self, body, tok=None):
        st, _, js = self.srv.api("POST", BACKFILLS + "/preview", tok or self.tok, body=body)
        self.assertEqual(st, 200, js)
        self.assertEqual(set(js.keys()) - {"existingBackfillId"}, {"plan", "safetyChecks"}, js)
        self.assertEqual(set(js["plan"].keys()), BACKFILL_PLAN_KEYS, js)
        return js

    def create(self, body, tok=None, headers=None):
        return self.srv.api("POST", BACKFILLS, tok or self.tok, body=body, headers=headers)

    def created(self, body, tok=None, headers=None):
        st, hdrs, js = self.create(body, tok, headers)
        self.assertEqual(st, 201, js)
        self.assertBackfill(js)
        self.assertEqual(js["status"], "pending")
        self.assertEqual(hdrs.get("ETag"), '"%d"' % js["version"])
        self.assertEqual(hdrs.get("Location"), backfill_path(js["backfillId"]))
        return js

    def move(self, bid, action, body=None, tok=None, headers=None):
        return self.srv.api("POST", backfill_path(bid, action), tok or self.tok,
                            body=body if body is not None else {}, headers=headers)

    def moved(self, bid, action, body=None, status=None):
        st, hdrs, js = self.move(bid, action, body)
        self.assertEqual(st, 200, js)
        self.assertBackfill(js)
        self.assertEqual(hdrs.get("ETag"), '"%d"' % js["version"])
        if status is not None:
            self.assertEqual(js["status"], status)
        return js

    def get(self, bid, tok=None):
        return get_backfill(self.srv, tok or self.tok, bid)

    def audit_of(self, bid, tok=None):
        return self.srv.audit_all(tok or self.tok, resourceId=bid)

    def rejected_since(self, seq, tok=None):
        """backfill.rejected entries after sequence seq."""
        return [e for e in self.srv.audit_all(tok or self.tok, eventType="backfill.rejected")
                if e["sequence"] > seq]

    def head(self, tok=None):
        return self.srv.audit_verify(tok or self.tok)["headSequence"]

    def batch_jobs(self, job_type, status=None, tok=None):
        q = {"jobType": job_type}
        if status:
            q["status"] = status
        return [j for j in list_jobs_all(self.srv, tok or self.work, **q) if j.get("backfillId")]

    def lease(self, job_type, max_jobs=1, tok=None, lease_seconds=60):
        st, _, js = self.srv.api("POST", JOBS + "/lease", tok or self.work,
                                 body={"jobTypes": [job_type], "workerId": "t", "max": max_jobs,
                                       "leaseSeconds": lease_seconds})
        self.assertEqual(st, 200, js)
        return js["jobs"]

    def complete(self, job, status="succeeded", tok=None):
        st, _, js = self.srv.api("POST", job_path(job["jobId"], "complete"), tok or self.work,
                                 body={"leaseId": job["leaseId"], "status": status})
        self.assertEqual(st, 200, js)
        return js

    def drive(self, bid, job_type, sources, tally, workers=2, timeout=30, status="completed"):
        """Runs workers on job_type until the backfill reaches status; returns it."""
        stop = threading.Event()
        join = run_workers(lambda i: BackfillWorker(self.srv, self.work, [job_type], sources,
                                                    tally, "w-%d" % i), workers, stop)
        try:
            b = wait_backfill(self.srv, self.tok, bid, (status, "failed", "canceled"), timeout)
        finally:
            errors = join()
        self.assertEqual(errors, [])
        self.assertEqual(tally.problems, [])
        self.assertEqual(b["status"], status, b)
        return b

    def process_live(self, job_type, source, keys, tally):
        """Live jobs for keys of source, worked by one worker until each succeeded."""
        ids = [submit_live(self.srv, self.work, job_type, source.source_id, k,
                           source.get(k)[0])["jobId"] for k in keys]
        w = BackfillWorker(self.srv, self.work, [job_type], {source.source_id: source}, tally,
                           "live", max_jobs=10)
        try:
            wait_until("live jobs done", lambda: w.poll() == 0 and
                       all(tally.job_done[i] == 1 for i in ids), 20)
        finally:
            w.close()
        self.assertEqual(tally.problems, [])
        return ids

    def list_all(self, tok=None, **filters):
        items, cont = [], None
        while True:
            q = dict(filters, limit=500)
            if cont:
                q["continuationToken"] = cont
            st, _, js = self.srv.api("GET", BACKFILLS + "?" + urllib.parse.urlencode(q),
                                     tok or self.tok)
            self.assertEqual(st, 200, js)
            items += js["items"]
            cont = js["continuationToken"]
            if cont is None:
                return items

    # -- assertions ---------------------------------------------------------------------------------
    def assertBackfill(self, b):
        self.assertEqual(set(b.keys()), BACKFILL_KEYS, b)
        self.assertEqual(set(b["plan"].keys()), BACKFILL_PLAN_KEYS, b)
        self.assertEqual(set(b["progress"].keys()), BACKFILL_PROGRESS_KEYS, b)
        self.assertRegex(b["plan"]["planHash"], r"^sha256:[0-9a-f]{64}$")
        for k in ("windowStart", "windowEnd", "createdAt"):
            self.assertRegex(b[k], TIME_RE, k)
        for k in ("startedAt", "completedAt"):
            if b[k] is not None:
                self.assertRegex(b[k], TIME_RE, k)
        self.assertIn(b["status"], ("pending", "running", "paused", "completed", "failed",
                                    "canceled"))
        checks_by_name(b["safetyChecks"])
        self.assertIsInstance(b["version"], int)
        return b

    def assertInvalid(self, resp, field):
        err = self.assertEnvelope(resp, 400, "VALIDATION_FAILED")
        self.assertEqual(err["details"].get("field"), field, err)
        return err

    def assertInvalidState(self, resp):
        return self.assertEnvelope(resp, 409, "INVALID_STATE")

    def assertDuplicate(self, resp, existing):
        err = self.assertEnvelope(resp, 409, "BACKFILL_DUPLICATE")
        self.assertEqual(err["details"].get("existingBackfillId"), existing, err)
        checks = checks_by_name(err["details"].get("safetyChecks"))
        self.assertFalse(checks["no_overlap"], err)
        return checks

    def assertUnsafe(self, resp, failing):
        """422 BACKFILL_UNSAFE whose checks fail exactly as in failing (others pass)."""
        err = self.assertEnvelope(resp, 422, "BACKFILL_UNSAFE")
        checks = checks_by_name(err["details"].get("safetyChecks"))
        for name in SAFETY_CHECKS:
            if name in failing:
                self.assertFalse(checks[name], "%s should fail: %r" % (name, checks))
        return checks


class BackfillTest(BackfillBase):
    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(CLIENTS, name="backfills")
        cls.tok, cls.work = cls.tokens(cls.srv)
        cls.viewer = cls.srv.grant("viewer", "orch:read")
        cls.T = base_time()

    # -- 1. a backfill's whole life -----------------------------------------------------------------
    def test_lifecycle_counts_and_audit(self):
        jt, T = "bf.life", self.T
        self.create_quota(jt, max_active=10)
        src = FakeSource("nvd-life")
        inside = []
        for h in range(6):
            for off, tag in ((0, "a"), (17 * 60000, "b"), (HOUR_MS - 1, "c")):
                k = "CVE-%d-%s" % (h, tag)
                src.put(k, T + h * HOUR_MS + off, "d1")
                inside.append(k)
        src.put("before", T - 1, "d1")
        src.put("at-end", T + 6 * HOUR_MS, "d1")  # windows are half-open: not in the window
        src.put("after", T + 6 * HOUR_MS + 300000, "d1")
        tally = Tally()
        live = ["CVE-0-a", "CVE-2-b", "CVE-5-c", "CVE-3-a", "before"]
        self.process_live(jt, src, live, tally)

        body = backfill_body(src.source_id, jt, T, T + 6 * HOUR_MS)
        pv = self.preview(body)
        expect_hash = plan_hash("acme", src.source_id, jt, T, T + 6 * HOUR_MS, 3600, False, 6, 4, 4)
        self.assertEqual(pv["plan"], {"batches": 6, "knownEvents": 4, "alreadyProcessed": 4,
                                      "planHash": expect_hash})
        self.assertEqual(checks_by_name(pv["safetyChecks"]), ALL_PASS)

        t0 = now_ms()
        b = self.created(dict(body, planHash=pv["plan"]["planHash"]))
        bid = b["backfillId"]
        self.assertEqual((b["tenantId"], b["sourceId"], b["jobType"]), ("acme", src.source_id, jt))
        self.assertEqual((b["windowStart"], b["windowEnd"]),
                         (format_time_ms(T), format_time_ms(T + 6 * HOUR_MS)))
        self.assertEqual((b["batchSeconds"], b["forceReprocess"]), (3600, False))
        self.assertEqual((b["reason"], b["ticket"], b["createdBy"]), (REASON, TICKET, "admin"))
        self.assertEqual(b["plan"], pv["plan"])
        self.assertEqual(b["progress"], {k: 0 for k in BACKFILL_PROGRESS_KEYS})
        self.assertEqual(checks_by_name(b["safetyChecks"]), ALL_PASS)
        self.assertEqual((b["startedAt"], b["completedAt"], b["error"], b["version"]),
                         (None, None, None, 1))
        self.assertLessEqual(abs(parse_time_ms(b["createdAt"]) - t0), 5000)
        st, hdrs, got = self.srv.api("GET", backfill_path(bid), self.tok)
        self.assertEqual((st, got), (200, b))
        self.assertEqual(hdrs.get("ETag"), '"1"')

        s = self.moved(bid, "start", status="running")
        self.assertEqual(s["version"], 2)
        self.assertIsNotNone(s["startedAt"])
        self.assertIsNone(s["completedAt"])

        done = self.drive(bid, jt, {src.source_id: src}, tally, workers=3)
        self.assertEqual(done["progress"], {"batchesSubmitted": 6, "batchesDone": 6,
                                            "eventsProcessed": len(inside) - 4,
                                            "duplicatesSkipped": 4, "eventsFailed": 0})
        self.assertEqual(done["plan"], b["plan"])
        self.assertIsNone(done["error"])
        self.assertGreaterEqual(parse_time_ms(done["completedAt"]), parse_time_ms(s["startedAt"]))
        self.assertGreater(done["version"], s["version"], "completing is a change")

        # every event of the window processed exactly once overall, nothing outside it twice
        for k in inside + ["before"]:
            self.assertEqual(tally.processed[(src.source_id, k)], 1, k)
        for k in ("at-end", "after"):
            self.assertEqual(tally.processed[(src.source_id, k)], 0, k)
        self.assertEqual(dict(tally.batch_done), {(bid, i): 1 for i in range(6)})
        self.assertEqual({k[1]: v for k, v in tally.batch_windows.items() if k[0] == bid},
                         {i: (format_time_ms(s_), format_time_ms(e_)) for i, (s_, e_)
                          in enumerate(window_batches(T, T + 6 * HOUR_MS, 3600))})
        jobs = self.batch_jobs(jt)
        self.assertEqual(sorted(j["batch"] for j in jobs), list(range(6)), "one job per batch")
        for j in jobs:
            self.assertEqual((j["status"], j["backfillId"], j["sourceId"]),
                             ("succeeded", bid, src.source_id), j)

        # audit: created, started, completed (by the engine, with the backfill's reason/ticket)
        entries = self.audit_of(bid)
        self.assertEqual([e["eventType"] for e in entries],
                         ["backfill.created", "backfill.started", "backfill.completed"])
        created, started, completed = entries
        for e in entries:
            self.assertEqual((e["resourceType"], e["resourceId"], e["tenantId"]),
                             ("backfill", bid, "acme"))
            self.assertEqual((e["reason"], e["ticket"]), (REASON, TICKET), e)
        for e in (created, started):
            self.assertEqual((e["actorId"], e["actorType"]), ("admin", "client"), e)
            tokd = e["details"]["token"]
            self.assertEqual((tokd["reason"], tokd["ticket"]), (REASON, TICKET))
        self.assertIsNone(created["details"]["before"])
        self.assertEqual(created["details"]["after"]["status"], "pending")
        self.assertEqual(started["details"]["before"]["status"], "pending")
        self.assertEqual(started["details"]["after"]["status"], "running")
        self.assertEqual((completed["actorId"], completed["actorType"]), ("jobengine", "system"))
        self.assertEqual(completed["details"]["after"]["status"], "completed")
        self.assertEqual(completed["details"]["after"]["progress"]["batchesDone"], 6)
        all_entries = self.srv.audit_all(self.tok)
        mine = verify_chain(all_entries)
        self.assertTrue(mine["valid"], mine)
        v = self.srv.audit_verify(self.tok)
        self.assertTrue(v["valid"], v)
        self.assertEqual(v["headHash"], mine["headHash"])

    # -- 2. duplicate requests ----------------------------------------------------------------------
    def test_duplicates_and_suppression(self):
        jt, jt2, T = "bf.dup", "bf.dup2", self.T
        self.create_quota(jt)
        self.create_quota(jt2)
        src = FakeSource("dup-a")
        for i in range(6):
            src.put("e%d" % i, T + i * 20 * 60000, "x")
        W = (T, T + 2 * HOUR_MS)
        head = self.head()
        refusals = []

        def refused(start, end, existing, **extra):
            resp = self.create(backfill_body("dup-a", jt, start, end, **extra))
            checks = self.assertDuplicate(resp, existing)
            refusals.append(existing)
            return checks

        A = self.created(backfill_body("dup-a", jt, *W))["backfillId"]
        checks = refused(W[0], W[1], A)
        self.assertEqual(checks, dict(ALL_PASS, no_overlap=False), "only no_overlap fails")
        refused(T + HOUR_MS, T + 3 * HOUR_MS, A)             # overlaps the end
        refused(T - HOUR_MS, T + HOUR_MS, A)                 # overlaps the start
        refused(T - HOUR_MS, T + 3 * HOUR_MS, A)             # contains it
        refused(T + 30 * 60000, T + HOUR_MS, A)              # inside it
        refused(T + 2 * HOUR_MS - 1, T + 3 * HOUR_MS, A)     # by one millisecond
        # half-open windows: touching is not overlapping
        B = self.created(backfill_body("dup-a", jt, T + 2 * HOUR_MS, T + 3 * HOUR_MS))
        C = self.created(backfill_body("dup-a", jt, T - HOUR_MS, T))
        # another source, another job type: no conflict
        D = self.created(backfill_body("dup-b", jt, *W))
        E = self.created(backfill_body("dup-a", jt2, *W))
        for x in (B, C, D, E):
            self.moved(x["backfillId"], "cancel", status="canceled")
        # canceled backfills do not count
        B2 = self.created(backfill_body("dup-a", jt, T + 2 * HOUR_MS, T + 3 * HOUR_MS))
        self.moved(B2["backfillId"], "cancel", status="canceled")
        # running and paused are unfinished too
        self.moved(A, "start", status="running")
        refused(T + HOUR_MS, T + 90 * 60000, A)
        self.moved(A, "pause", status="paused")
        refused(T, T + HOUR_MS, A)
        self.moved(A, "resume", status="running")

        done = self.drive(A, jt, {"dup-a": src}, Tally())
        self.assertEqual(done["progress"]["eventsProcessed"], 6)
        # within the suppression period: the exact window is refused (whatever its batches)
        refused(W[0], W[1], A)
        refused(W[0], W[1], A, batchSeconds=1800)
        # a different window that overlaps the completed one is allowed
        F = self.created(backfill_body("dup-a", jt, T + HOUR_MS, T + 3 * HOUR_MS))
        self.moved(F["backfillId"], "cancel", status="canceled")
        # forceReprocess passes the suppression
        G = self.created(backfill_body("dup-a", jt, *W, forceReprocess=True))
        self.assertIs(G["forceReprocess"], True)
        self.assertEqual(checks_by_name(G["safetyChecks"]), ALL_PASS)
        # ...but not an unfinished overlap
        refused(W[0], W[1], G["backfillId"], forceReprocess=True)
        self.moved(G["backfillId"], "cancel", status="canceled")

        rej = self.rejected_since(head)
        self.assertEqual(len(rej), len(refusals), [e["details"].get("code") for e in rej])
        for e, existing in zip(rej, refusals):
            self.assertEqual(e["details"].get("code"), "BACKFILL_DUPLICATE", e)
            self.assertEqual(e["details"].get("existingBackfillId"), existing, e)
            self.assertEqual((e["actorId"], e["actorType"], e["resourceType"]),
                             ("admin", "client", "backfill"))
            self.assertEqual((e["reason"], e["ticket"]), (REASON, TICKET))
        self.assertTrue(self.srv.audit_verify(self.tok)["valid"])

    def test_concurrent_overlapping_creates_only_one_passes(self):
        jt, T = "bf.race", self.T
        self.create_quota(jt)
        results = []
        lock = threading.Lock()
        body = backfill_body("race", jt, T, T + HOUR_MS)

        def go(i):
            st, _, js = self.create(body)
            with lock:
                results.append((st, js))
        self.assertEqual(run_threads(6, go, 30), [])
        ok = [js for st, js in results if st == 201]
        self.assertEqual(len(ok), 1, [st for st, _ in results])
        for st, js in results:
            if st != 201:
                self.assertEqual((st, js["error"]["code"]), (409, "BACKFILL_DUPLICATE"))
                self.assertEqual(js["error"]["details"]["existingBackfillId"], ok[0]["backfillId"])

    # -- 5. safety checks ---------------------------------------------------------------------------
    def test_each_safety_check_fails_when_it_should(self):
        T = self.T
        self.create_quota("bf.safe")
        st, _, _ = self.srv.api("POST", Q + "/" + self.create_quota("bf.safe.p2") + "/pause",
                                self.tok, body={})
        self.assertEqual(st, 200)
        head = self.head()
        n_before = len(self.list_all())
        codes = []

        def unsafe(body, failing):
            resp = self.create(body)
            checks = self.assertUnsafe(resp, failing)
            codes.append("BACKFILL_UNSAFE")
            pv = self.preview(body)  # preview answers 200 with the same checks
            self.assertEqual(checks_by_name(pv["safetyChecks"]), checks)
            return checks

        # window_order: end <= start
        c = unsafe(backfill_body("s1", "bf.safe", T + HOUR_MS, T + HOUR_MS), {"window_order"})
        for k in ("window_not_future", "quota_exists", "quota_not_paused", "no_overlap"):
            self.assertTrue(c[k], c)
        c = unsafe(backfill_body("s1", "bf.safe", T + HOUR_MS, T), {"window_order"})
        self.assertTrue(c["window_not_future"] and c["quota_exists"] and c["no_overlap"], c)
        # window_not_future: the end is in the future
        c = unsafe(backfill_body("s1", "bf.safe", T, now_ms() + HOUR_MS), {"window_not_future"})
        self.assertEqual(c, dict(ALL_PASS, window_not_future=False))
        # window_within_limit: longer than 31 days (by default), a 31-day one passes
        end = hour_start_ms(now_ms()) - HOUR_MS
        c = unsafe(backfill_body("s1", "bf.safe", end - 31 * DAY_MS - 1000, end),
                   {"window_within_limit"})
        self.assertEqual(c, dict(ALL_PASS, window_within_limit=False))
        pv = self.preview(backfill_body("s1", "bf.safe", end - 31 * DAY_MS, end))
        self.assertEqual(checks_by_name(pv["safetyChecks"]), ALL_PASS)
        self.assertEqual(pv["plan"]["batches"], 31 * 24)
        # batch_count_within_limit: more than 10,000 batches (by default)
        c = unsafe(backfill_body("s1", "bf.safe", T, T + 10001 * 1000, batchSeconds=1),
                   {"batch_count_within_limit"})
        self.assertEqual(c, dict(ALL_PASS, batch_count_within_limit=False))
        pv = self.preview(backfill_body("s1", "bf.safe", T, T + 10000 * 1000, batchSeconds=1))
        self.assertEqual(checks_by_name(pv["safetyChecks"]), ALL_PASS)
        self.assertEqual(pv["plan"]["batches"], 10000)
        # quota_exists: no quota of the job type and no "*" in this tenant
        c = unsafe(backfill_body("s1", "bf.noquota", T, T + HOUR_MS),
                   {"quota_exists", "quota_not_paused"})
        self.assertEqual(c, dict(ALL_PASS, quota_exists=False, quota_not_paused=False))
        # quota_not_paused
        c = unsafe(backfill_body("s1", "bf.safe.p2", T, T + HOUR_MS), {"quota_not_paused"})
        self.assertEqual(c, dict(ALL_PASS, quota_not_paused=False))
        # several at once: all reported
        c = unsafe(backfill_body("s1", "bf.safe.p2", now_ms() - 40 * DAY_MS, now_ms() + DAY_MS),
                   {"window_not_future", "window_within_limit", "quota_not_paused"})
        self.assertEqual(c, dict(ALL_PASS, window_not_future=False, window_within_limit=False,
                                 quota_not_paused=False))
        c = unsafe(backfill_body("s1", "bf.noquota", now_ms() + 2 * HOUR_MS, now_ms() + HOUR_MS),
                   {"window_order", "window_not_future", "quota_exists", "quota_not_paused"})
        self.assertTrue(c["no_overlap"])

        self.assertEqual(len(self.list_all()), n_before, "refused requests create nothing")
        rej = self.rejected_since(head)
        self.assertEqual([e["details"].get("code") for e in rej], codes)

    def test_star_quota_counts_for_quota_checks(self):
        tok, _ = self.tokens(self.srv, "star")
        body = backfill_body("s1", "bf.anything", self.T, self.T + HOUR_MS)
        st, _, js = self.create(body, tok)
        c = self.assertUnsafe((st, _, js), {"quota_exists", "quota_not_paused"})
        self.assertEqual(c, dict(ALL_PASS, quota_exists=False, quota_not_paused=False))
        qid = self.create_quota("*", tok)
        pv = self.preview(body, tok)
        self.assertEqual(checks_by_name(pv["safetyChecks"]), ALL_PASS)
        st, _, js = self.srv.api("POST", Q + "/" + qid + "/pause", tok, body={})
        self.assertEqual(st, 200, js)
        c = self.assertUnsafe(self.create(body, tok), {"quota_not_paused"})
        self.assertEqual(c, dict(ALL_PASS, quota_not_paused=False))
        # the job type's own quota wins over "*"
        self.create_quota("bf.anything", tok)
        b = self.created(body, tok)
        self.assertEqual(checks_by_name(b["safetyChecks"]), ALL_PASS)

    def test_duplicate_wins_over_other_checks(self):
        jt, T = "bf.dupwins", self.T
        qid = self.create_quota(jt)
        A = self.created(backfill_body("dw", jt, T + 10 * HOUR_MS, T + 12 * HOUR_MS))["backfillId"]
        head = self.head()
        # overlapping A and ending in the future
        c = self.assertDuplicate(self.create(backfill_body("dw", jt, T + 11 * HOUR_MS,
                                                           now_ms() + HOUR_MS)), A)
        self.assertEqual(c, dict(ALL_PASS, window_not_future=False, no_overlap=False))
        # overlapping A, too long, and with its quota paused
        st, _, js = self.srv.api("POST", Q + "/" + qid + "/pause", self.tok, body={})
        self.assertEqual(st, 200, js)
        c = self.assertDuplicate(self.create(backfill_body("dw", jt, T - 40 * DAY_MS,
                                                           now_ms() + HOUR_MS)), A)
        self.assertEqual(c, dict(ALL_PASS, window_not_future=False, window_within_limit=False,
                                 quota_not_paused=False, no_overlap=False))
        # not overlapping: the other checks answer (422)
        self.assertUnsafe(self.create(backfill_body("dw", jt, T, T + HOUR_MS)),
                          {"quota_not_paused"})
        # and with a planHash that does not match, the duplicate still wins
        self.assertDuplicate(self.create(backfill_body("dw", jt, T + 10 * HOUR_MS,
                                                       T + 11 * HOUR_MS, planHash="sha256:00")), A)
        rej = self.rejected_since(head)
        self.assertEqual([e["details"]["code"] for e in rej],
                         ["BACKFILL_DUPLICATE", "BACKFILL_DUPLICATE", "BACKFILL_UNSAFE",
                          "BACKFILL_DUPLICATE"])
        st, _, js = self.srv.api("POST", Q + "/" + qid + "/resume", self.tok, body={})
        self.assertEqual(st, 200, js)

    # -- preview, dryRun, planHash ------------------------------------------------------------------
    def test_preview_and_dry_run_create_nothing(self):
        jt, T = "bf.preview", self.T
        self.create_quota(jt)
        A = self.created(backfill_body("pv", jt, T, T + 2 * HOUR_MS))["backfillId"]
        n, head = len(self.list_all()), self.head()
        ok = backfill_body("pv", jt, T + 2 * HOUR_MS, T + 5 * HOUR_MS, batchSeconds=1800)
        pv = self.preview(ok)
        self.assertEqual(checks_by_name(pv["safetyChecks"]), ALL_PASS)
        self.assertEqual(pv["plan"]["batches"], 6)
        self.assertNotIn("existingBackfillId", pv)
        # failing checks still answer 200, naming the backfill a request would duplicate
        bad = backfill_body("pv", jt, T + HOUR_MS, now_ms() + HOUR_MS)
        pv2 = self.preview(bad)
        self.assertEqual(checks_by_name(pv2["safetyChecks"]),
                         dict(ALL_PASS, window_not_future=False, no_overlap=False))
        self.assertEqual(pv2.get("existingBackfillId"), A)
        # dryRun: true is a preview
        for body, want in ((ok, pv), (bad, pv2)):
            st, _, js = self.create(dict(body, dryRun=True))
            self.assertEqual(st, 200, js)
            self.assertEqual(js, want)
        self.assertEqual(len(self.list_all()), n, "preview and dryRun create nothing")
        self.assertEqual(self.head(), head, "preview and dryRun change nothing")
        # dryRun: false is a create
        st, _, js = self.create(dict(ok, dryRun=False))
        self.assertEqual(st, 201, js)

    def test_plan_hash_independent_and_plan_changed(self):
        jt, T = "bf.plan", self.T
        self.create_quota(jt)
        src = FakeSource("plan-src")
        for i in range(4):
            src.put("p%d" % i, T + i * 40 * 60000, "d")  # all in [T, T+3h)
        src.put("out", T + 3 * HOUR_MS, "d")
        tally = Tally()
        self.process_live(jt, src, ["p0", "p1", "out"], tally)
        W = (T, T + 3 * HOUR_MS)
        body = backfill_body("plan-src", jt, *W)

        def expected(known, processed, force=False, batch=3600):
            return plan_hash("acme", "plan-src", jt, W[0], W[1], batch, force,
                             -(-(W[1] - W[0]) // (batch * 1000)), known, processed)
        h1 = self.preview(body)["plan"]
        self.assertEqual(h1, {"batches": 3, "knownEvents": 2, "alreadyProcessed": 2,
                              "planHash": expected(2, 2)})
        # forceReprocess and batchSeconds are in the hash
        self.assertEqual(self.preview(dict(body, forceReprocess=True))["plan"]["planHash"],
                         expected(2, 2, force=True))
        self.assertEqual(self.preview(dict(body, batchSeconds=1800))["plan"]["planHash"],
                         expected(2, 2, batch=1800))
        # a claim in flight is known but not processed
        job = submit_live(self.srv, self.work, jt, "plan-src", "p2", src.get("p2")[0])
        leased = self.lease(jt)
        self.assertEqual([j["jobId"] for j in leased], [job["jobId"]])
        st, _, js = self.srv.api("POST", DEDUP_CLAIM, self.work,
                                 body={"sourceId": "plan-src", "jobId": job["jobId"],
                                       "events": src.claim_events(["p2"])})
        self.assertEqual((st, js), (200, {"new": ["p2"], "duplicates": []}))
        h2 = self.preview(body)["plan"]
        self.assertEqual((h2["knownEvents"], h2["alreadyProcessed"], h2["planHash"]),
                         (3, 2, expected(3, 2)))
        self.complete(leased[0])
        h3 = self.preview(body)["plan"]
        self.assertEqual((h3["knownEvents"], h3["alreadyProcessed"], h3["planHash"]),
                         (3, 3, expected(3, 3)))

        head = self.head()
        err = self.assertEnvelope(self.create(dict(body, planHash=h1["planHash"])), 409,
                                  "PLAN_CHANGED")
        self.assertEqual(err["details"].get("planHash"), h3["planHash"], err)
        err = self.assertEnvelope(self.create(dict(body, batchSeconds=1800,
                                                   planHash=h3["planHash"])), 409, "PLAN_CHANGED")
        self.assertEqual(err["details"].get("planHash"), expected(3, 3, batch=1800))
        rej = self.rejected_since(head)
        self.assertEqual([e["details"]["code"] for e in rej], ["PLAN_CHANGED", "PLAN_CHANGED"])
        self.assertEqual(rej[0]["details"].get("planHash"), h3["planHash"])
        self.assertEqual(len([b for b in self.list_all() if b["sourceId"] == "plan-src"]), 0)
        b = self.created(dict(body, planHash=h3["planHash"]))
        self.assertEqual(b["plan"], h3)

    def test_plan_hash_normalises_window_times(self):
        jt, T = "bf.norm", self.T
        self.create_quota(jt)
        start_local = time.strftime("%Y-%m-%dT%H:%M:%S+01:00", time.gmtime((T + HOUR_MS) / 1000))
        end = T + 3 * HOUR_MS + 250
        end_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(end // 1000)) + ".25Z"
        body = {"sourceId": "norm", "jobType": jt, "windowStart": start_local,
                "windowEnd": end_text, "batchSeconds": 3600}
        pv = self.preview(body)
        self.assertEqual(pv["plan"]["batches"], 4, "3 h 250 ms in batches of 1 h")
        self.assertEqual(pv["plan"]["planHash"],
                         plan_hash("acme", "norm", jt, T, end, 3600, False, 4, 0, 0))
        b = self.created(dict(body, planHash=pv["plan"]["planHash"]))
        self.assertEqual((b["windowStart"], b["windowEnd"]), (format_time_ms(T),
                                                              format_time_ms(end)))

    # -- state machine ------------------------------------------------------------------------------
    def test_state_machine(self):
        jt, T = "bf.sm", self.T
        self.create_quota(jt)
        bid = self.created(backfill_body("sm", jt, T, T + 3 * HOUR_MS))["backfillId"]
        head = self.head()
        bad = 0
        for action in ("pause", "resume"):
            self.assertInvalidState(self.move(bid, action))
            bad += 1
        self.assertEqual(self.get(bid)["version"], 1)
        r = self.moved(bid, "start", status="running")
        for action in ("start", "resume"):
            self.assertInvalidState(self.move(bid, action))
            bad += 1
        p = self.moved(bid, "pause", {"reason": "maintenance window", "ticket": "OPS-9"},
                       status="paused")
        self.assertEqual(p["version"], r["version"] + 1)
        self.assertEqual((p["reason"], p["ticket"]), (REASON, TICKET), "the backfill keeps its own")
        for action in ("pause", "start"):
            self.assertInvalidState(self.move(bid, action))
            bad += 1
        self.moved(bid, "resume", status="running")
        c = self.moved(bid, "cancel", status="canceled")
        for action in ("cancel", "start", "resume", "pause"):
            self.assertInvalidState(self.move(bid, action))
            bad += 1
        self.assertEqual(self.get(bid), c, "a canceled backfill never changes")
        # unknown backfill: 404
        for action in ("start", "pause", "resume", "cancel"):
            self.assertEnvelope(self.move(str(uuid.uuid4()), action), 404, "NOT_FOUND")

        entries = [e for e in self.audit_of(bid) if e["sequence"] > head]
        kinds = [e["eventType"] for e in entries]
        self.assertEqual([k for k in kinds if k != "backfill.rejected"],
                         ["backfill.started", "backfill.paused", "backfill.resumed",
                          "backfill.canceled"])
        rej = [e for e in entries if e["eventType"] == "backfill.rejected"]
        self.assertEqual(len(rej), bad)
        for e in rej:
            self.assertEqual(e["details"].get("code"), "INVALID_STATE", e)
            self.assertEqual(e["resourceId"], bid)
        paused = [e for e in entries if e["eventType"] == "backfill.paused"][0]
        self.assertEqual((paused["reason"], paused["ticket"]), ("maintenance window", "OPS-9"))
        self.assertEqual((paused["details"]["before"]["status"],
                          paused["details"]["after"]["status"]), ("running", "paused"))

    def test_if_match_on_moves(self):
        jt, T = "bf.ifm", self.T
        self.create_quota(jt)
        bid = self.created(backfill_body("ifm", jt, T, T + HOUR_MS))["backfillId"]
        head = self.head()
        self.assertEnvelope(self.move(bid, "start", headers={"If-Match": '"7"'}), 412,
                            "VERSION_MISMATCH")
        self.assertEqual(self.get(bid)["status"], "pending")
        rej = self.rejected_since(head)
        self.assertEqual([e["details"]["code"] for e in rej], ["VERSION_MISMATCH"])
        st, _, js = self.move(bid, "start", headers={"If-Match": '"1"'})
        self.assertEqual((st, js.get("status")), (200, "running"), js)
        self.moved(bid, "cancel")
        # order of checks (api.md §1): exists (404) -> body (400) -> If-Match (412) -> state (409)
        stale = {"If-Match": '"1"'}
        self.assertEnvelope(self.move(str(uuid.uuid4()), "start", {"bogus": 1}, headers=stale),
                            404, "NOT_FOUND")
        self.assertInvalid(self.move(bid, "start", {"bogus": 1}, headers=stale), "bogus")
        self.assertEnvelope(self.move(bid, "start", headers=stale), 412, "VERSION_MISMATCH")
        self.assertInvalidState(self.move(bid, "start"))

    def test_order_of_checks_on_create(self):
        jt, T = "bf.order", self.T
        self.create_quota(jt)
        A = self.created(backfill_body("ord", jt, T, T + HOUR_MS))["backfillId"]
        dup = backfill_body("ord", jt, T, T + HOUR_MS)
        # body and justification come before the duplicate check
        self.assertInvalid(self.create(dict(dup, bogus=True)), "bogus")
        self.assertEnvelope(self.create(dict(dup, reason=" ")), 400, "REASON_REQUIRED")
        self.assertDuplicate(self.create(dup), A)
        # the duplicate check before the other checks, and those before planHash
        unsafe = backfill_body("ord", "bf.order.none", T, T + HOUR_MS, planHash="sha256:00")
        self.assertUnsafe(self.create(unsafe), {"quota_exists"})

    def test_cancel_cancels_batches_not_yet_leased(self):
        jt, T = "bf.cancel", self.T
        self.create_quota(jt)
        bid = self.created(backfill_body("cx", jt, T, T + 6 * HOUR_MS))["backfillId"]
        self.moved(bid, "start")
        wait_until("4 batch jobs pending", lambda: len(self.batch_jobs(jt, "pending")) == 4, 15)
        held = self.lease(jt)
        self.assertEqual(len(held), 1)
        c = self.moved(bid, "cancel", status="canceled")
        self.assertEqual(c["progress"]["batchesSubmitted"], 4)
        time.sleep(0.8)  # a few engine ticks: nothing more is submitted
        jobs = {j["jobId"]: j for j in self.batch_jobs(jt)}
        self.assertEqual(len(jobs), 4, "no batch submitted after cancel")
        for jid, j in jobs.items():
            self.assertEqual(j["status"], "leased" if jid == held[0]["jobId"] else "canceled", j)
        self.assertEqual(self.lease(jt), [], "canceled batch jobs are not leased")
        # the leased one may still finish; the backfill stays canceled
        self.complete(held[0])
        time.sleep(0.4)
        b = self.get(bid)
        self.assertEqual(b["status"], "canceled")
        self.assertEqual(b["progress"]["batchesSubmitted"], 4)
        self.assertInvalidState(self.move(bid, "start"))

    def test_pause_stops_submitting_and_completes_on_resume(self):
        jt, T = "bf.pause", self.T
        self.create_quota(jt)
        src = FakeSource("pz")
        for h in range(6):
            src.put("z%d" % h, T + h * HOUR_MS + 5, None)
        bid = self.created(backfill_body("pz", jt, T, T + 6 * HOUR_MS))["backfillId"]
        self.moved(bid, "start")
        wait_until("4 batches submitted",
                   lambda: self.get(bid)["progress"]["batchesSubmitted"] == 4, 15)
        tally = Tally()
        w = BackfillWorker(self.srv, self.work, [jt], {"pz": src}, tally, max_jobs=10)
        try:
            jobs = w.lease()
            self.assertEqual(len(jobs), 4)
            self.moved(bid, "pause", status="paused")
            for j in jobs:  # running batches finish while paused
                self.assertTrue(w.work(j))
            time.sleep(0.8)
            self.assertEqual(w.poll(), 0, "nothing is submitted while paused")
        finally:
            w.close()
        b = self.get(bid)
        self.assertEqual((b["status"], b["progress"]["batchesSubmitted"],
                          b["progress"]["batchesDone"]), ("paused", 4, 4))
        self.moved(bid, "resume", status="running")
        done = self.drive(bid, jt, {"pz": src}, tally, workers=1)
        self.assertEqual(done["progress"]["batchesDone"], 6)
        self.assertEqual(dict(tally.batch_done), {(bid, i): 1 for i in range(6)})

    def test_last_batch_done_while_paused_completes_on_resume(self):
        jt, T = "bf.pause2", self.T
        self.create_quota(jt)
        bid = self.created(backfill_body("pz2", jt, T, T + 2 * HOUR_MS))["backfillId"]
        self.moved(bid, "start")
        wait_until("2 batch jobs", lambda: len(self.batch_jobs(jt, "pending")) == 2, 15)
        jobs = self.lease(jt, 2)
        self.assertEqual(len(jobs), 2)
        self.moved(bid, "pause", status="paused")
        for j in jobs:
            self.complete(j)
        time.sleep(0.6)
        b = self.get(bid)
        self.assertEqual((b["status"], b["progress"]["batchesDone"]), ("paused", 2))
        self.moved(bid, "resume")
        b = wait_backfill(self.srv, self.tok, bid, "completed", 10)
        self.assertEqual(b["progress"]["batchesDone"], 2)
        kinds = [e["eventType"] for e in self.audit_of(bid)]
        self.assertEqual(kinds[-1], "backfill.completed", kinds)

    # -- validation, justification, scopes, idempotency -----------------------------------------
    def test_validation(self):
        T = self.T
        self.create_quota("bf.val")
        good = backfill_body("val", "bf.val", T, T + HOUR_MS)
        head = self.head()
        cases = [
            ({k: v for k, v in good.items() if k != "sourceId"}, "sourceId"),
            ({k: v for k, v in good.items() if k != "jobType"}, "jobType"),
            ({k: v for k, v in good.items() if k != "windowStart"}, "windowStart"),
            ({k: v for k, v in good.items() if k != "windowEnd"}, "windowEnd"),
            (dict(good, sourceId=""), "sourceId"),
            (dict(good, sourceId="*"), "sourceId"),
            (dict(good, sourceId="a b"), "sourceId"),
            (dict(good, sourceId=7), "sourceId"),
            (dict(good, sourceId="s" * 129), "sourceId"),
            (dict(good, jobType="*"), "jobType"),
            (dict(good, jobType=None), "jobType"),
            (dict(good, windowStart="yesterday"), "windowStart"),
            (dict(good, windowStart="2026-11-01"), "windowStart"),
            (dict(good, windowEnd=12345), "windowEnd"),
            (dict(good, batchSeconds=0), "batchSeconds"),
            (dict(good, batchSeconds=-60), "batchSeconds"),
            (dict(good, batchSeconds=1.5), "batchSeconds"),
            (dict(good, batchSeconds="60"), "batchSeconds"),
            (dict(good, batchSeconds=366 * 86400 + 1), "batchSeconds"),
            (dict(good, forceReprocess="yes"), "forceReprocess"),
            (dict(good, dryRun=1), "dryRun"),
            (dict(good, planHash=5), "planHash"),
            (dict(good, window="x"), "window"),
        ]
        for body, field in cases:
            with self.subTest(field=field, body=body):
                self.assertInvalid(self.create(body), field)
                st, hdrs, js = self.srv.api("POST", BACKFILLS + "/preview", self.tok, body=body)
                self.assertInvalid((st, hdrs, js), field)
        for raw in ("{", "[]", '"x"', ""):
            st, hdrs, js = self.srv.api("POST", BACKFILLS, self.tok, body=raw,
                                        headers={"Content-Type": "application/json"})
            self.assertEnvelope((st, hdrs, js), 400, "VALIDATION_FAILED")
        # the longest batch (366 days) is valid
        pv = self.preview(dict(good, batchSeconds=366 * 86400))
        self.assertEqual(pv["plan"]["batches"], 1)
        rej = self.rejected_since(head)
        self.assertEqual(len(rej), len(cases) + 4, "every refused create is audited")
        for e, (_, field) in zip(rej, cases):
            self.assertEqual(e["details"].get("code"), "VALIDATION_FAILED", e)
            self.assertEqual(e["details"].get("field"), field, e)
        self.assertEqual([b for b in self.list_all() if b["sourceId"] == "val"], [])

    def test_justification_sources(self):
        T = self.T
        self.create_quota("bf.just")
        head = self.head()
        body = backfill_body("just", "bf.just", T, T + HOUR_MS)
        b = self.created(dict(body, reason="manual replay", ticket="OPS-1"))
        self.assertEqual((b["reason"], b["ticket"]), ("manual replay", "OPS-1"))
        b2 = self.created(dict(backfill_body("just2", "bf.just", T, T + HOUR_MS)),
                          headers={"X-StellaOps-Reason": "from header"})
        self.assertEqual((b2["reason"], b2["ticket"]), ("from header", None))
        self.assertEnvelope(self.create(dict(backfill_body("just3", "bf.just", T, T + HOUR_MS),
                                             reason="   ")), 400, "REASON_REQUIRED")
        self.assertInvalid(self.create(dict(backfill_body("just3", "bf.just", T, T + HOUR_MS),
                                            ticket="OPS-2")), "ticket")
        self.assertEnvelope(self.move(b["backfillId"], "start", {"reason": ""}), 400,
                            "REASON_REQUIRED")
        self.assertEqual(self.get(b["backfillId"])["status"], "pending")
        entries = [e for e in self.srv.audit_all(self.tok, resourceType="backfill")
                   if e["sequence"] > head]
        self.assertEqual([(e["eventType"], e["details"].get("code")) for e in entries],
                         [("backfill.created", None), ("backfill.created", None),
                          ("backfill.rejected", "REASON_REQUIRED"),
                          ("backfill.rejected", "VALIDATION_FAILED"),
                          ("backfill.rejected", "REASON_REQUIRED")])
        self.assertEqual((entries[0]["reason"], entries[0]["ticket"]), ("manual replay", "OPS-1"))
        self.assertEqual(entries[0]["details"]["token"],
                         {"jti": entries[0]["details"]["token"]["jti"], "reason": REASON,
                          "ticket": TICKET})

    def test_scopes(self):
        T = self.T
        body = backfill_body("scope", "bf.scope", T, T + HOUR_MS)
        self.assertEnvelope(self.create(body, self.work), 403, "SCOPE_REQUIRED")
        self.assertEnvelope(self.srv.api("POST", BACKFILLS + "/preview", self.viewer, body=body),
                            403, "SCOPE_REQUIRED")
        self.create_quota("bf.scope")
        bid = self.created(body)["backfillId"]
        for tok in (self.work, self.viewer):  # reads: orch:read is enough
            self.assertEqual(self.get(bid, tok)["backfillId"], bid)
            st, _, js = self.srv.api("GET", BACKFILLS, tok)
            self.assertEqual(st, 200, js)
        self.assertEnvelope(self.move(bid, "start", tok=self.viewer), 403, "SCOPE_REQUIRED")
        # dedup/claim is the worker's: orch:jobs
        self.assertEnvelope(self.srv.api("POST", DEDUP_CLAIM, self.tok,
                                         body={"sourceId": "scope", "jobId": "x", "events": []}),
                            403, "SCOPE_REQUIRED")

    def test_idempotency_key_on_create(self):
        T = self.T
        self.create_quota("bf.idem")
        body = backfill_body("idem", "bf.idem", T, T + HOUR_MS)
        h = {"Idempotency-Key": "bf-idem-1"}
        first = self.created(body, headers=h)
        head = self.head()
        st, _, js = self.create(body, headers=h)
        self.assertEqual((st, js), (201, first), "a repeat returns the first response")
        self.assertEqual(self.head(), head, "and does nothing else")
        self.assertEqual(len([b for b in self.list_all() if b["sourceId"] == "idem"]), 1)
        self.assertEnvelope(self.create(dict(body, batchSeconds=60), headers=h), 409,
                            "IDEMPOTENCY_KEY_REUSED")

    # -- reads ----------------------------------------------------------------------------------------
    def test_list_newest_first_filter_and_pagination(self):
        tok, _ = self.tokens(self.srv, "lister")
        self.create_quota("bf.list", tok)
        T = self.T
        ids = []
        for i in range(5):
            ids.append(self.created(backfill_body("ls-%d" % i, "bf.list", T, T + HOUR_MS),
                                    tok)["backfillId"])
            time.sleep(0.003)
        self.moved_as(tok, ids[1], "start")
        self.moved_as(tok, ids[3], "start")
        self.moved_as(tok, ids[4], "cancel")
        newest_first = list(reversed(ids))
        items = self.list_all(tok)
        self.assertEqual([b["backfillId"] for b in items], newest_first)
        for b in items:
            self.assertBackfill(b)
        created = [parse_time_ms(b["createdAt"]) for b in items]
        self.assertEqual(created, sorted(created, reverse=True))
        for status, want in (("running", [ids[3], ids[1]]), ("pending", [ids[2], ids[0]]),
                             ("canceled", [ids[4]]), ("completed", [])):
            got = [b["backfillId"] for b in self.list_all(tok, status=status)]
            self.assertEqual(got, want, status)
        # pages of 2
        seen, cont, pages = [], None, 0
        while True:
            q = {"limit": 2}
            if cont:
                q["continuationToken"] = cont
            st, _, js = self.srv.api("GET", BACKFILLS + "?" + urllib.parse.urlencode(q), tok)
            self.assertEqual(st, 200, js)
            self.assertEqual(set(js.keys()), {"items", "continuationToken"})
            self.assertLessEqual(len(js["items"]), 2)
            seen += [b["backfillId"] for b in js["items"]]
            cont = js["continuationToken"]
            pages += 1
            if cont is None:
                break
            self.assertIsInstance(cont, str)
        self.assertEqual(seen, newest_first)
        self.assertEqual(pages, 3)
        st, _, js = self.srv.api("GET", BACKFILLS + "?status=running&limit=1", tok)
        self.assertEqual([b["backfillId"] for b in js["items"]], [ids[3]])
        self.assertIsNotNone(js["continuationToken"])
        for q, field in (("status=done", "status"), ("limit=0", "limit"), ("limit=501", "limit"),
                         ("limit=x", "limit"), ("continuationToken=garbage", "continuationToken")):
            self.assertInvalid(self.srv.api("GET", BACKFILLS + "?" + q, tok), field)

    def moved_as(self, tok, bid, action):
        st, _, js = self.move(bid, action, tok=tok)
        self.assertEqual(st, 200, js)
        return js

    def test_get_unknown_is_404(self):
        for bid in (str(uuid.uuid4()), "not-a-backfill"):
            self.assertEnvelope(self.srv.api("GET", backfill_path(bid), self.tok), 404,
                                "NOT_FOUND")

    # -- 6. the backfill share ------------------------------------------------------------------------
    def test_backfill_share_and_live_first(self):
        jt, T = "bf.share", self.T
        qid = self.create_quota(jt, max_active=4)
        src = FakeSource("share")
        for h in range(8):
            src.put("s%d" % h, T + h * HOUR_MS + 1, None)
        bid = self.created(backfill_body("share", jt, T, T + 8 * HOUR_MS))["backfillId"]
        self.moved(bid, "start")
        wait_until("4 batches pending", lambda: len(self.batch_jobs(jt, "pending")) == 4, 15)
        def submit_live_jobs(ns):
            ids = []
            for i in ns:  # distinct createdAt: older first; the lowest priority still wins
                ids.append(submit_job(self.srv, self.work, jt, {"live": i},
                                      priority=-1000)["jobId"])
                time.sleep(0.003)
            return ids
        live = submit_live_jobs(range(2))
        # both waiting: live first, then batches up to ceil(4 * 0.5) = 2
        got = self.lease(jt, 4)
        self.assertEqual(len(got), 4, got)
        self.assertEqual([j["jobId"] for j in got[:2]], live, "live jobs lease first")
        self.assertEqual([bool(j.get("backfillId")) for j in got], [False, False, True, True])
        self.assertEqual(self.srv.get_json(Q + "/" + qid, self.tok)["usage"]["active"], 4)
        # the two live jobs finish; two more live jobs and the batches wait: live ones get the slots
        for j in got[:2]:
            self.complete(j)
        more = submit_live_jobs((2, 3, 4))
        got2 = self.lease(jt, 4)
        self.assertEqual([j["jobId"] for j in got2], more[:2])
        # a batch finishes: its slot goes to the waiting live job, not to a batch
        self.complete(got[2])
        got3 = self.lease(jt, 4)
        self.assertEqual([j["jobId"] for j in got3], more[2:])
        # live jobs done, one batch held: one more batch may lease (share 2), not more
        for j in got2 + got3:
            self.complete(j)
        wait_until("batches pending", lambda: len(self.batch_jobs(jt, "pending")) >= 2, 15)
        got4 = self.lease(jt, 4)
        self.assertEqual(len(got4), 1, got4)
        self.assertTrue(got4[0].get("backfillId"))
        st, _, js = self.srv.api("POST", JOBS + "/lease", self.work,
                                 body={"jobTypes": [jt], "workerId": "t", "max": 4})
        self.assertEqual((st, js.get("jobs")), (200, []), "the share is full")
        # ...while live work still gets the free slots
        lj = submit_job(self.srv, self.work, jt, {"live": 5})["jobId"]
        got5 = self.lease(jt, 4)
        self.assertEqual([j["jobId"] for j in got5], [lj])
        held = [got[3], got4[0], got5[0]]
        for j in held:
            self.complete(j)
        jobs = list_jobs_all(self.srv, self.work, jobType=jt, status="leased")
        for j in jobs:
            self.assertFalse(j.get("backfillId"), j)

        # threads: workers and live traffic at once; never more than 2 batches held
        lock, state = threading.Lock(), {"held": 0, "max": 0}

        def on_leased(job):
            if job.get("backfillId"):
                with lock:
                    state["held"] += 1
                    state["max"] = max(state["max"], state["held"])
            return True

        def on_claimed(job, new):
            if job.get("backfillId"):
                time.sleep(0.05)
                with lock:
                    state["held"] -= 1  # before complete: never over-counts
            return True
        tally = Tally()
        stop = threading.Event()
        join = run_workers(lambda i: BackfillWorker(self.srv, self.work, [jt], {"share": src},
                                                    tally, "w-%d" % i, max_jobs=2,
                                                    on_leased=on_leased, on_claimed=on_claimed),
                           4, stop)
        try:
            for i in range(12):
                submit_job(self.srv, self.work, jt, {"live": 10 + i})
                time.sleep(0.02)
            b = wait_backfill(self.srv, self.tok, bid, ("completed", "failed"), 30)
        finally:
            errors = join()
        self.assertEqual(errors, [])
        self.assertEqual(tally.problems, [])
        self.assertEqual(b["status"], "completed")
        self.assertLessEqual(state["max"], 2, "more than ceil(maxActive * 0.5) batches held")
        self.assertEqual(self.srv.get_json(Q + "/" + qid, self.tok)["usage"]["active"], 0)

    # -- 7. tenant isolation --------------------------------------------------------------------------
    def test_tenant_isolation(self):
        jt, T = "bf.iso", self.T
        self.create_quota(jt)
        src = FakeSource("iso")
        src.put("i1", T + 10, "d")
        tally = Tally()
        self.process_live(jt, src, ["i1"], tally)
        bid = self.created(backfill_body("iso", jt, T, T + 2 * HOUR_MS))["backfillId"]
        before = self.get(bid)
        job = submit_live(self.srv, self.work, jt, "iso", "i2", T + 20)
        leased = self.lease(jt)
        self.assertEqual([j["jobId"] for j in leased], [job["jobId"]])

        gtok, gwork = self.tokens(self.srv, "globex")
        self.assertEnvelope(self.srv.api("GET", backfill_path(bid), gtok), 404, "NOT_FOUND")
        self.assertEnvelope(self.srv.api("GET", backfill_path(bid), gwork), 404, "NOT_FOUND")
        self.assertNotIn(bid, [b["backfillId"] for b in self.list_all(gtok)])
        for action in ("start", "pause", "resume", "cancel"):
            self.assertEnvelope(self.move(bid, action, tok=gtok), 404, "NOT_FOUND")
        self.assertEnvelope(self.srv.api("POST", DEDUP_CLAIM, gwork,
                                         body={"sourceId": "iso", "jobId": job["jobId"],
                                               "events": [{"eventKey": "i2",
                                                           "eventTime": format_time_ms(T + 20)}]}),
                            404, "NOT_FOUND")
        self.assertEqual(self.get(bid), before, "nothing changed")
        self.assertEqual(self.srv.audit_all(gtok, resourceId=bid), [])
        # the other tenant's requests and ledger are its own
        self.create_quota(jt, gtok)
        pv = self.preview(backfill_body("iso", jt, T, T + 2 * HOUR_MS), gtok)
        self.assertEqual(checks_by_name(pv["safetyChecks"]), ALL_PASS, "no overlap across tenants")
        self.assertEqual((pv["plan"]["knownEvents"], pv["plan"]["alreadyProcessed"]), (0, 0))
        g = self.created(backfill_body("iso", jt, T, T + 2 * HOUR_MS), gtok)
        self.assertEqual(g["tenantId"], "globex")
        self.assertEnvelope(self.srv.api("GET", backfill_path(g["backfillId"]), self.tok), 404,
                            "NOT_FOUND")
        gjob = submit_live(self.srv, gwork, jt, "iso", "i1", T + 10)
        gl = self.lease(jt, tok=gwork)
        self.assertEqual([j["jobId"] for j in gl], [gjob["jobId"]])
        st, _, js = self.srv.api("POST", DEDUP_CLAIM, gwork,
                                 body={"sourceId": "iso", "jobId": gjob["jobId"],
                                       "events": [{"eventKey": "i1",
                                                   "eventTime": format_time_ms(T + 10)}]})
        self.assertEqual((st, js), (200, {"new": ["i1"], "duplicates": []}),
                         "acme's processed event is new to globex")
        # the acme job's claims still work for acme
        st, _, js = self.srv.api("POST", DEDUP_CLAIM, self.work,
                                 body={"sourceId": "iso", "jobId": job["jobId"],
                                       "events": [{"eventKey": "i2",
                                                   "eventTime": format_time_ms(T + 20)}]})
        self.assertEqual((st, js), (200, {"new": ["i2"], "duplicates": []}))


class BackfillSettingsTest(BackfillBase):
    """Serve settings (docs/api.md): --backfill-max-window-days, --backfill-max-batches,
    --backfill-share, --max-attempts, --backfill-in-flight, --backfill-suppression-hours."""

    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(
            CLIENTS, name="backfill-settings",
            args=["--backfill-max-window-days", "1", "--backfill-max-batches", "3",
                  "--backfill-share", "0.25", "--max-attempts", "2",
                  "--backfill-in-flight", "2", "--backfill-suppression-hours", "0"])
        cls.tok, cls.work = cls.tokens(cls.srv)
        cls.T = base_time()

    def test_configured_limits(self):
        T = self.T
        self.create_quota("bf.lim")
        ok = self.preview(backfill_body("lim", "bf.lim", T, T + 3 * HOUR_MS))
        self.assertEqual(checks_by_name(ok["safetyChecks"]), ALL_PASS)
        c = self.assertUnsafe(self.create(backfill_body("lim", "bf.lim", T, T + 4 * HOUR_MS)),
                              {"batch_count_within_limit"})
        self.assertEqual(c, dict(ALL_PASS, batch_count_within_limit=False))
        ok = self.preview(backfill_body("lim", "bf.lim", T, T + DAY_MS, batchSeconds=28800))
        self.assertEqual(checks_by_name(ok["safetyChecks"]), ALL_PASS, "exactly one day")
        c = self.assertUnsafe(self.create(backfill_body("lim", "bf.lim", T, T + DAY_MS + 1000,
                                                        batchSeconds=86400)),
                              {"window_within_limit"})
        self.assertEqual(c, dict(ALL_PASS, window_within_limit=False))
        c = self.assertUnsafe(self.create(backfill_body("lim", "bf.lim", T, T + DAY_MS + 1000)),
                              {"window_within_limit", "batch_count_within_limit"})
        self.assertEqual(c, dict(ALL_PASS, window_within_limit=False,
                                 batch_count_within_limit=False))
        b = self.created(backfill_body("lim", "bf.lim", T, T + 3 * HOUR_MS))
        self.assertEqual(b["plan"]["batches"], 3)

    def test_share_rounds_up(self):
        jt, T = "bf.share3", self.T
        self.create_quota(jt, max_active=3)
        bid = self.created(backfill_body("sh3", jt, T, T + 3 * HOUR_MS))["backfillId"]
        self.moved(bid, "start")
        wait_until("2 batches pending", lambda: len(self.batch_jobs(jt, "pending")) == 2, 15)
        got = self.lease(jt, 3)
        self.assertEqual(len(got), 1, "ceil(3 * 0.25) = 1 batch at a time")
        self.assertEqual(self.lease(jt, 3), [])
        live = submit_job(self.srv, self.work, jt, {})["jobId"]
        got2 = self.lease(jt, 3)
        self.assertEqual([j["jobId"] for j in got2], [live])
        self.complete(got[0])
        self.complete(got2[0])
        got3 = self.lease(jt, 3)
        self.assertEqual(len(got3), 1)
        self.moved(bid, "cancel")
        self.complete(got3[0])

    def test_share_is_shared_by_all_backfills(self):
        jt, T = "bf.share8", self.T
        self.create_quota(jt, max_active=8)  # ceil(8 * 0.25) = 2 for all its backfills together
        bids = [self.created(backfill_body(src, jt, T, T + 3 * HOUR_MS))["backfillId"]
                for src in ("sh8-a", "sh8-b")]
        for bid in bids:
            self.moved(bid, "start")
        wait_until("4 batches pending", lambda: len(self.batch_jobs(jt, "pending")) == 4, 15)
        got = self.lease(jt, 8)
        self.assertEqual(len(got), 2, got)
        self.assertEqual(self.lease(jt, 8), [])
        for bid in bids:
            self.moved(bid, "cancel")
        for j in got:
            self.complete(j)

    def test_in_flight_setting_and_no_suppression(self):
        jt, T = "bf.inflight", self.T
        self.create_quota(jt)
        src = FakeSource("inf")
        body = backfill_body("inf", jt, T, T + 3 * HOUR_MS)
        bid = self.created(body)["backfillId"]
        self.moved(bid, "start")
        wait_until("2 submitted", lambda: self.get(bid)["progress"]["batchesSubmitted"] == 2, 15)
        time.sleep(0.6)
        self.assertEqual(self.get(bid)["progress"]["batchesSubmitted"], 2,
                         "--backfill-in-flight 2: two outstanding at most")
        tally = Tally()
        w = BackfillWorker(self.srv, self.work, [jt], {"inf": src}, tally, max_jobs=3)
        try:
            first = w.lease()
            self.assertEqual(len(first), 2)
            self.assertTrue(w.work(first[0]))
            wait_until("the third submitted",
                       lambda: self.get(bid)["progress"]["batchesSubmitted"] == 3, 15)
            time.sleep(0.3)
            self.assertEqual(self.get(bid)["progress"]["batchesSubmitted"], 3)
            self.assertTrue(w.work(first[1]))
        finally:
            w.close()
        self.drive(bid, jt, {"inf": src}, tally, workers=1)
        # a suppression period of 0: the exact window of a completed backfill passes again
        again = self.created(body)
        self.assertEqual(checks_by_name(again["safetyChecks"]), ALL_PASS)

    def test_batch_failing_its_last_attempt_fails_the_backfill(self):
        jt, T = "bf.fail", self.T
        self.create_quota(jt)
        src = FakeSource("fl")
        for h in range(2):
            for i in range(2):
                src.put("f%d%d" % (h, i), T + h * HOUR_MS + i, "d")
        body = backfill_body("fl", jt, T, T + 2 * HOUR_MS)
        bid = self.created(body)["backfillId"]
        self.moved(bid, "start")
        wait_until("2 batches pending", lambda: len(self.batch_jobs(jt, "pending")) == 2, 15)
        tally = Tally()
        w = BackfillWorker(self.srv, self.work, [jt], {"fl": src}, tally, max_jobs=2)
        try:
            jobs = sorted(w.lease(), key=lambda j: j["batch"])
            self.assertEqual([j["batch"] for j in jobs], [0, 1])
            self.assertTrue(w.work(jobs[1]))
            bad = jobs[0]
            st, js = w.claim(bad, w.events_of(bad))
            self.assertEqual((st, sorted(js["new"])), (200, ["f00", "f01"]), js)
            j = self.complete(bad, "failed")
            self.assertEqual(j["status"], "pending", "a first failure is retried")
            b = self.get(bid)
            self.assertEqual((b["status"], b["progress"]["eventsFailed"]), ("running", 0))
            again = wait_until("the retry", lambda: w.lease(), 10)
            self.assertEqual([x["jobId"] for x in again], [bad["jobId"]])
            st, js = w.claim(again[0], w.events_of(again[0]))
            self.assertEqual((st, sorted(js["new"])), (200, ["f00", "f01"]),
                             "the failed attempt's claims were given up")
            j = self.complete(again[0], "failed")
            self.assertEqual(j["status"], "failed")
        finally:
            w.close()
        b = wait_backfill(self.srv, self.tok, bid, "failed", 10)
        self.assertIsInstance(b["error"], str)
        self.assertTrue(b["error"])
        self.assertIsNotNone(b["completedAt"])
        p = b["progress"]
        self.assertEqual((p["batchesDone"], p["eventsProcessed"], p["eventsFailed"]), (1, 2, 2))
        entries = self.audit_of(bid)
        self.assertEqual([e["eventType"] for e in entries],
                         ["backfill.created", "backfill.started", "backfill.failed"])
        failed = entries[-1]
        self.assertEqual((failed["actorId"], failed["actorType"], failed["reason"],
                          failed["ticket"]), ("jobengine", "system", REASON, TICKET))
        self.assertEqual(failed["details"]["after"]["status"], "failed")
        for action in ("start", "resume", "pause", "cancel"):
            self.assertInvalidState(self.move(bid, action))
        # a failed backfill does not suppress a repeat, and its events are new to the next one
        b2 = self.created(body)["backfillId"]
        self.moved(b2, "start")
        done = self.drive(b2, jt, {"fl": src}, tally, workers=1)
        self.assertEqual((done["progress"]["eventsProcessed"],
                          done["progress"]["duplicatesSkipped"]), (2, 2))
        for k in ("f00", "f01", "f10", "f11"):
            self.assertEqual(tally.processed[("fl", k)], 1, k)


if __name__ == "__main__":
    unittest.main(verbosity=2)
