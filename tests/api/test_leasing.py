"""Black-box tests of leasing over HTTP (api.md §3.3 "Decisions", §3.4; domain.md §2; docs/api.md
"Jobs and leasing"): leasing order, the lease answer, validation, every quota cap through leasing
(maxActive, burst, hourly cap, pause), quota changes, the "*" quota and unquoted job types,
heartbeat, complete (succeeded, failed with backoff, maxAttempts), lease expiry, usage.pending,
and exactness under 16 concurrent workers.

Backfill batch jobs cannot be submitted through the API yet (backfills are not built), so the
live-before-backfill lane and the backfill share are not tested here."""

import math
import threading
import time
import unittest

from harness import (JOB_KEYS, JOBS, LEASED_JOB_KEYS, KeepAlive, ServerTestCase,
                     format_time_ms, hour_start_ms, job_path, job_summary, list_jobs_all, now_ms,
                     parse_time_ms, quota_body, run_threads, submit_job, submit_many)

CLIENTS = [
    ("admin", ["acme", "star"], ["Orch.Admin"]),
    ("viewer", ["acme"], ["Orch.Viewer"]),
    ("worker", ["acme", "star"], ["Orch.Worker"]),
]
Q = "/jobengine/quotas"
LEASE = JOBS + "/lease"


def qpath(qid, action=None):
    return Q + "/" + qid + ("/" + action if action else "")


class LeasingBase(ServerTestCase):
    """Helpers shared by the classes below; cls.srv, cls.tok (orch:quota), cls.work (orch:jobs +
    orch:read) of tenant acme."""

    @classmethod
    def tokens(cls, srv, tenant="acme"):
        return (srv.grant("admin", "orch:quota orch:read", tenant=tenant,
                          quota_reason="leasing tests"),
                srv.grant("worker", "orch:jobs orch:read", tenant=tenant))

    def create_quota(self, job_type, tok=None, **limits):
        st, _, body = self.srv.api("POST", Q, tok or self.tok, body=quota_body(job_type, **limits))
        self.assertEqual(st, 201, body)
        return body["quotaId"]

    def quota(self, qid, tok=None):
        return self.srv.get_json(qpath(qid), tok or self.tok)

    def usage(self, qid, tok=None):
        return self.quota(qid, tok)["usage"]

    def submit(self, job_type, n=1, tok=None, **fields):
        return [submit_job(self.srv, tok or self.work, job_type, {"k": i}, **fields)["jobId"]
                for i in range(n)]

    def lease(self, types, tok=None, worker="w-1", **extra):
        body = {"jobTypes": types if isinstance(types, list) else [types], "workerId": worker}
        body.update(extra)
        return self.srv.api("POST", LEASE, tok or self.work, body=body)

    def leased(self, types, n=None, tok=None, **extra):
        """A lease that must answer 200; returns (jobs, headers, body)."""
        st, hdrs, body = self.lease(types, tok, **extra)
        self.assertEqual(st, 200, body)
        if n is not None:
            self.assertEqual(len(body["jobs"]), n, body)
        return body["jobs"], hdrs, body

    def complete(self, job_id, lease_id, status="succeeded", tok=None, **extra):
        body = {"leaseId": lease_id, "status": status}
        body.update(extra)
        return self.srv.api("POST", job_path(job_id, "complete"), tok or self.work, body=body)

    def completed(self, job_id, lease_id, status="succeeded", **extra):
        st, _, job = self.complete(job_id, lease_id, status, **extra)
        self.assertEqual(st, 200, job)
        return job

    def heartbeat(self, job_id, lease_id, tok=None, **extra):
        body = {"leaseId": lease_id}
        body.update(extra)
        return self.srv.api("POST", job_path(job_id, "heartbeat"), tok or self.work, body=body)

    def job(self, job_id, tok=None):
        return self.srv.get_json(job_path(job_id), tok or self.work)

    def assertInvalid(self, resp, field):
        err = self.assertEnvelope(resp, 400, "VALIDATION_FAILED")
        self.assertEqual(err["details"].get("field"), field, err)
        return err

    def assertNothingPending(self, resp):
        """Nothing to lease and no quota held anything back: exactly {"jobs": []}."""
        st, hdrs, body = resp
        self.assertEqual((st, body), (200, {"jobs": []}))
        self.assertIsNone(hdrs.get("Retry-After"))

    def assertRateHeaders(self, hdrs, limit, remaining):
        self.assertEqual(hdrs.get("X-RateLimit-Limit"), str(limit), dict(hdrs))
        self.assertEqual(hdrs.get("X-RateLimit-Remaining"), str(remaining), dict(hdrs))
        reset = hdrs.get("X-RateLimit-Reset")
        self.assertRegex(reset or "", r"^[0-9]+$", "X-RateLimit-Reset missing")
        return int(reset)

    def assertHeldBack(self, resp, limit, remaining):
        """{"jobs": [], "nextEligibleAt": t} with Retry-After and the X-RateLimit-* headers;
        returns (nextEligibleAt ms, Retry-After s, time of the answer ms)."""
        t = now_ms()
        st, hdrs, body = resp
        self.assertEqual(st, 200, body)
        self.assertEqual(set(body.keys()), {"jobs", "nextEligibleAt"}, body)
        self.assertEqual(body["jobs"], [])
        nxt = parse_time_ms(body["nextEligibleAt"])
        reset = self.assertRateHeaders(hdrs, limit, remaining)
        self.assertEqual(reset, math.ceil(nxt / 1000.0), "Reset: nextEligibleAt, rounded up")
        ra = hdrs.get("Retry-After")
        self.assertRegex(ra or "", r"^[0-9]+$", "Retry-After missing: %r" % dict(hdrs))
        ra = int(ra)
        self.assertLessEqual(abs(ra - (nxt - t) / 1000.0), 1.5,
                             "Retry-After %d s for nextEligibleAt in %d ms" % (ra, nxt - t))
        return nxt, ra, t

    def assertClockNear(self, ms, expected, slack=1500):
        self.assertLessEqual(abs(ms - expected), slack,
                             "%s is not about %s" % (format_time_ms(ms), format_time_ms(expected)))


class LeasingTest(LeasingBase):
    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(CLIENTS, name="leasing")
        cls.tok, cls.work = cls.tokens(cls.srv)
        cls.star_tok, cls.star_work = cls.tokens(cls.srv, "star")
        cls.reader = cls.srv.grant("viewer", "orch:read")

    # -- order --------------------------------------------------------------------------------------
    def test_order_priority_then_age(self):
        prios = [0, 5, -3, 5, 10, 0, -1000, 1000, 10]
        ids = []
        for p in prios:
            ids.append(submit_job(self.srv, self.work, "ord.a", {"p": p}, priority=p)["jobId"])
            time.sleep(0.003)  # distinct createdAt
        expected = [ids[i] for i in sorted(range(len(prios)), key=lambda i: (-prios[i], i))]
        got = []
        for _ in prios:
            jobs, _, _ = self.leased("ord.a", 1)
            got.append(jobs[0]["jobId"])
        self.assertEqual(got, expected, "higher priority first, then older")
        self.assertNothingPending(self.lease("ord.a"))
        # one call leasing several answers them in the same order
        ids = []
        for p in prios:
            ids.append(submit_job(self.srv, self.work, "ord.b", {"p": p}, priority=p)["jobId"])
            time.sleep(0.003)
        expected = [ids[i] for i in sorted(range(len(prios)), key=lambda i: (-prios[i], i))]
        jobs, _, _ = self.leased("ord.b", len(prios), max=100)
        self.assertEqual([j["jobId"] for j in jobs], expected)
        self.assertEqual([j["priority"] for j in jobs], sorted(prios, reverse=True))

    def test_order_across_job_types(self):
        a1 = self.submit("ord.x", priority=1)[0]
        time.sleep(0.003)
        b5 = self.submit("ord.y", priority=5)[0]
        time.sleep(0.003)
        a5 = self.submit("ord.x", priority=5)[0]
        time.sleep(0.003)
        b0 = self.submit("ord.y")[0]
        self.submit("ord.z", priority=1000)  # not asked for
        jobs, _, _ = self.leased(["ord.x", "ord.y"], 3, max=3)
        self.assertEqual([j["jobId"] for j in jobs], [b5, a5, a1])
        self.assertEqual([j["jobType"] for j in jobs], ["ord.y", "ord.x", "ord.x"])
        jobs, _, _ = self.leased(["ord.y", "ord.x", "ord.y"], 1, max=5)  # duplicates are fine
        self.assertEqual(jobs[0]["jobId"], b0)

    # -- the lease answer -----------------------------------------------------------------------------
    def test_lease_shape(self):
        jid = submit_job(self.srv, self.work, "shape.l", {"b": [1, 2], "a": "x"}, priority=7,
                         sourceId="nvd", eventKey="CVE-1", eventTime="2026-01-02T03:04:05.006Z")
        jid = jid["jobId"]
        t0 = now_ms()
        jobs, hdrs, body = self.leased("shape.l", 1, worker="worker-7", leaseSeconds=30)
        t1 = now_ms()
        self.assertEqual(set(body.keys()), {"jobs"}, "something was leased: no nextEligibleAt")
        self.assertIsNone(hdrs.get("Retry-After"))
        self.assertIsNone(hdrs.get("X-RateLimit-Limit"), "no quota governs shape.l")
        j = jobs[0]
        self.assertEqual(set(j.keys()), LEASED_JOB_KEYS, j)
        self.assertEqual((j["jobId"], j["jobType"], j["attempt"], j["priority"]),
                         (jid, "shape.l", 1, 7))
        self.assertEqual(j["payload"], {"a": "x", "b": [1, 2]})
        self.assertEqual((j["sourceId"], j["eventKey"], j["eventTime"]),
                         ("nvd", "CVE-1", "2026-01-02T03:04:05.006Z"))
        self.assertIsInstance(j["leaseId"], str)
        self.assertTrue(j["leaseId"])
        until = parse_time_ms(j["leaseUntil"])
        self.assertTrue(t0 + 30000 - 5 <= until <= t1 + 30000 + 5,
                        "leaseUntil = now + leaseSeconds: %s" % j["leaseUntil"])
        got = self.job(jid)
        self.assertEqual(set(got.keys()), JOB_KEYS)
        self.assertEqual((got["status"], got["leaseId"], got["leaseUntil"], got["workerId"],
                          got["attempt"], got["completedAt"]),
                         ("leased", j["leaseId"], j["leaseUntil"], "worker-7", 1, None))
        self.assertTrue(t0 - 5 <= parse_time_ms(got["updatedAt"]) <= t1 + 5)
        # leaseSeconds defaults to 60
        self.submit("shape.l")
        t0 = now_ms()
        jobs, _, _ = self.leased("shape.l", 1)
        t1 = now_ms()
        until = parse_time_ms(jobs[0]["leaseUntil"])
        self.assertTrue(t0 + 60000 - 5 <= until <= t1 + 60000 + 5, jobs[0]["leaseUntil"])
        self.assertNotEqual(jobs[0]["leaseId"], j["leaseId"])
        # nothing pending: exactly {"jobs": []}
        self.assertNothingPending(self.lease("shape.l", max=10))
        self.assertNothingPending(self.lease("shape.nothing.here"))

    def test_max_respected(self):
        self.submit("max.a", 6)
        self.leased("max.a", 1)  # max defaults to 1
        self.leased("max.a", 3, max=3)
        self.leased("max.a", 2, max=100)
        self.assertNothingPending(self.lease("max.a", max=100))
        self.assertEqual(job_summary(self.srv, self.work)["max.a"]["leased"], 6)

    def test_lease_validation(self):
        self.submit("lv.a")
        base = {"jobTypes": ["lv.a"], "workerId": "w"}
        cases = [
            ({"workerId": "w"}, "jobTypes"),
            (dict(base, jobTypes=[]), "jobTypes"),
            (dict(base, jobTypes=["t%d" % i for i in range(33)]), "jobTypes"),
            (dict(base, jobTypes=["*"]), "jobTypes"),
            (dict(base, jobTypes=["lv.a", "*"]), "jobTypes"),
            (dict(base, jobTypes=["bad type"]), "jobTypes"),
            (dict(base, jobTypes=[""]), "jobTypes"),
            (dict(base, jobTypes=[5]), "jobTypes"),
            (dict(base, jobTypes="lv.a"), "jobTypes"),
            (dict(base, jobTypes=None), "jobTypes"),
            ({"jobTypes": ["lv.a"]}, "workerId"),
            (dict(base, workerId=""), "workerId"),
            (dict(base, workerId="x" * 129), "workerId"),
            (dict(base, workerId="tab\t"), "workerId"),
            (dict(base, workerId=7), "workerId"),
            (dict(base, max=0), "max"),
            (dict(base, max=101), "max"),
            (dict(base, max=-1), "max"),
            (dict(base, max=1.5), "max"),
            (dict(base, max="2"), "max"),
            (dict(base, leaseSeconds=0), "leaseSeconds"),
            (dict(base, leaseSeconds=3601), "leaseSeconds"),
            (dict(base, leaseSeconds=2.5), "leaseSeconds"),
            (dict(base, leaseSeconds="60"), "leaseSeconds"),
            (dict(base, extra=1), "extra"),
        ]
        for body, field in cases:
            with self.subTest(body={k: (v if not isinstance(v, list) or len(v) < 5 else "[%d]"
                                        % len(v)) for k, v in body.items()}):
                self.assertInvalid(self.srv.api("POST", LEASE, self.work, body=body), field)
        for raw in (b"", b"{", b"[]", b"null"):
            with self.subTest(raw=raw):
                self.assertEnvelope(self.srv.api("POST", LEASE, self.work, body=raw,
                                                 headers={"Content-Type": "application/json"}),
                                    400, "VALIDATION_FAILED")
        self.assertEqual(job_summary(self.srv, self.work)["lv.a"]["pending"], 1,
                         "refused leases lease nothing")
        # the bounds themselves are fine
        jobs, _, _ = self.leased(["t%d" % i for i in range(31)] + ["lv.a"], 1, max=100,
                                 leaseSeconds=3600, worker="x" * 128)
        self.assertClockNear(parse_time_ms(jobs[0]["leaseUntil"]), now_ms() + 3600000)
        self.submit("lv.a")
        jobs, _, _ = self.leased("lv.a", 1, max=1, leaseSeconds=1)
        self.assertClockNear(parse_time_ms(jobs[0]["leaseUntil"]), now_ms() + 1000, 300)

    # -- caps through leasing -------------------------------------------------------------------------
    def test_max_active_cap(self):
        qid = self.create_quota("cap.active", max_active=2, burst=100, refill=100)
        self.submit("cap.active", 5)
        jobs, hdrs, body = self.leased("cap.active", 1, leaseSeconds=30)
        if hdrs.get("X-RateLimit-Limit") is not None:  # (not required when nothing was held)
            self.assertRateHeaders(hdrs, 2, 1)
        time.sleep(0.01)
        jobs2, hdrs, body = self.leased("cap.active", 1, max=5, leaseSeconds=20)
        self.assertEqual(set(body.keys()), {"jobs"}, "one was leased: no nextEligibleAt")
        self.assertRateHeaders(hdrs, 2, 0)  # the quota held the rest back
        held = jobs + jobs2
        u = self.usage(qid)
        self.assertEqual((u["active"], u["hourCount"], u["pending"], u["throttled"]), (2, 2, 3, 1))
        nxt, ra, t = self.assertHeldBack(self.lease("cap.active", max=5), 2, 0)
        self.assertEqual(nxt, min(parse_time_ms(j["leaseUntil"]) for j in held),
                         "the earliest expiry of a current lease")
        self.assertEqual(nxt, parse_time_ms(jobs2[0]["leaseUntil"]))
        self.assertTrue(19 <= ra <= 21, ra)
        u = self.usage(qid)
        self.assertEqual((u["active"], u["pending"], u["throttled"]), (2, 3, 2))
        # completing frees a slot for the very next lease
        self.completed(held[0]["jobId"], held[0]["leaseId"])
        self.assertEqual(self.usage(qid)["active"], 1)
        jobs3, hdrs, _ = self.leased("cap.active", 1, max=5)
        self.assertRateHeaders(hdrs, 2, 0)
        self.assertEqual(self.usage(qid)["active"], 2)
        self.assertEqual(job_summary(self.srv, self.work)["cap.active"],
                         {"jobType": "cap.active", "pending": 2, "leased": 2, "succeeded": 1,
                          "failed": 0, "canceled": 0, "total": 5},
                         "jobs held back by a quota stay pending")

    def test_partial_lease_has_rate_headers_but_no_retry_after(self):
        """docs/api.md: when a quota held work back the answer carries its X-RateLimit-*
        headers; only when nothing at all was leased also nextEligibleAt and Retry-After."""
        self.create_quota("cap.partial", max_active=2, burst=100, refill=100)
        self.submit("cap.partial", 3)
        jobs, hdrs, body = self.leased("cap.partial", 2, max=3, leaseSeconds=20)
        self.assertEqual(set(body.keys()), {"jobs"}, "jobs were leased: no nextEligibleAt")
        self.assertRateHeaders(hdrs, 2, 0)
        self.assertIsNone(hdrs.get("Retry-After"),
                          "a worker that got jobs is not told to retry after %s s"
                          % hdrs.get("Retry-After"))

    def test_burst_cap(self):
        qid = self.create_quota("cap.burst", max_active=10, burst=2, refill=0.1)
        self.submit("cap.burst", 5)
        jobs, hdrs, body = self.leased("cap.burst", 2, max=5)
        self.assertEqual(set(body.keys()), {"jobs"})
        self.assertRateHeaders(hdrs, 10, 8)
        resp = self.lease("cap.burst", max=5)
        nxt, ra, t = self.assertHeldBack(resp, 10, 8)
        self.assertTrue(t + 8500 <= nxt <= t + 10050,
                        "one token at 0.1/s is up to 10 s away: %d ms" % (nxt - t))
        self.assertIn(ra, (9, 10))
        u = self.usage(qid)
        self.assertEqual((u["active"], u["hourCount"], u["pending"], u["throttled"]), (2, 2, 3, 2))
        self.assertLess(u["availableTokens"], 1)
        # completing does not give tokens back
        for j in jobs:
            self.completed(j["jobId"], j["leaseId"])
        self.assertHeldBack(self.lease("cap.burst", max=5), 10, 10)

    def test_burst_refill_leases_again(self):
        qid = self.create_quota("cap.refill", max_active=10, burst=1, refill=2)
        self.submit("cap.refill", 3)
        self.leased("cap.refill", 1, max=3)
        nxt, ra, t = self.assertHeldBack(self.lease("cap.refill", max=3), 10, 9)
        self.assertTrue(t <= nxt <= t + 550, nxt - t)
        self.assertEqual(ra, 1, "whole seconds, rounded up")
        time.sleep(max(0, nxt - now_ms()) / 1000.0 + 0.05)
        self.leased("cap.refill", 1, max=3)
        self.assertEqual(self.usage(qid)["hourCount"], 2)

    def test_hour_cap(self):
        qid = self.create_quota("cap.hour", max_active=10, max_per_hour=2, burst=100, refill=100)
        self.submit("cap.hour", 4)
        jobs, hdrs, _ = self.leased("cap.hour", 2, max=5)
        self.assertRateHeaders(hdrs, 10, 8)
        for j in jobs:
            self.completed(j["jobId"], j["leaseId"])
        nxt, ra, t = self.assertHeldBack(self.lease("cap.hour", max=5), 10, 10)
        self.assertEqual(nxt, hour_start_ms(t) + 3600000,
                         "the start of the next UTC hour: %s" % format_time_ms(nxt))
        u = self.usage(qid)
        self.assertEqual((u["active"], u["hourCount"], u["pending"], u["throttled"]),
                         (0, 2, 2, 2), "one denial in the first call, one in the second")
        # raising maxPerHour takes effect at the very next lease
        st, _, body = self.srv.api("PUT", qpath(qid), self.tok, body={"maxPerHour": 3})
        self.assertEqual(st, 200, body)
        self.leased("cap.hour", 1, max=5)

    def test_pause_and_resume(self):
        qid = self.create_quota("cap.pause", max_active=3, burst=100, refill=100)
        self.submit("cap.pause", 2)
        st, _, body = self.srv.api("POST", qpath(qid, "pause"), self.tok, body={})
        self.assertEqual(st, 200, body)
        t0 = now_ms()
        st, hdrs, body = self.lease("cap.pause", max=5)
        t1 = now_ms()
        self.assertEqual((st, body), (200, {"jobs": [], "nextEligibleAt": None}))
        self.assertIsNone(hdrs.get("Retry-After"), "paused: no Retry-After")
        reset = self.assertRateHeaders(hdrs, 3, 3)
        self.assertTrue(t0 // 1000 <= reset <= math.ceil(t1 / 1000.0), "Reset = now when paused")
        u = self.usage(qid)
        self.assertEqual((u["active"], u["hourCount"], u["pending"]), (0, 0, 2))
        self.assertEqual(job_summary(self.srv, self.work)["cap.pause"]["pending"], 2)
        st, _, body = self.srv.api("POST", qpath(qid, "resume"), self.tok, body={})
        self.assertEqual(st, 200, body)
        jobs, hdrs, body = self.leased("cap.pause", 2, max=5)
        self.assertEqual(set(body.keys()), {"jobs"})
        self.assertEqual(self.usage(qid)["active"], 2)

    def test_paused_and_exhausted_together(self):
        """A paused quota and an exhausted one both hold work back: nextEligibleAt comes from the
        exhausted one (not only paused quotas held work back)."""
        qp = self.create_quota("cap.mix.p", max_active=3)
        self.create_quota("cap.mix.e", max_active=1, burst=100, refill=100)
        self.submit("cap.mix.p")
        self.submit("cap.mix.e", 2)
        self.assertEqual(self.srv.api("POST", qpath(qp, "pause"), self.tok, body={})[0], 200)
        jobs, _, _ = self.leased("cap.mix.e", 1, leaseSeconds=40)
        st, hdrs, body = self.lease(["cap.mix.p", "cap.mix.e"], max=5)
        self.assertEqual(st, 200, body)
        self.assertEqual(body["jobs"], [])
        self.assertEqual(parse_time_ms(body["nextEligibleAt"]),
                         parse_time_ms(jobs[0]["leaseUntil"]))
        self.assertIsNotNone(hdrs.get("Retry-After"))

    def test_exhausted_then_paused(self):
        """The same two quotas, the exhausted one's job first: its nextEligibleAt and headers."""
        qp = self.create_quota("cap.mix2.p", max_active=3)
        self.create_quota("cap.mix2.e", max_active=1, burst=100, refill=100)
        self.submit("cap.mix2.e", 2)
        time.sleep(0.003)
        self.submit("cap.mix2.p")
        self.assertEqual(self.srv.api("POST", qpath(qp, "pause"), self.tok, body={})[0], 200)
        jobs, _, _ = self.leased("cap.mix2.e", 1, leaseSeconds=40)
        nxt, _, _ = self.assertHeldBack(self.lease(["cap.mix2.p", "cap.mix2.e"], max=5), 1, 0)
        self.assertEqual(nxt, parse_time_ms(jobs[0]["leaseUntil"]))

    def test_quota_change_applies_to_the_next_lease(self):
        qid = self.create_quota("cap.change", max_active=1, burst=100, refill=100)
        self.submit("cap.change", 5)
        self.leased("cap.change", 1, max=5)
        self.assertHeldBack(self.lease("cap.change", max=5), 1, 0)
        st, _, body = self.srv.api("PUT", qpath(qid), self.tok, body={"maxActive": 4})
        self.assertEqual(st, 200, body)
        jobs, hdrs, _ = self.leased("cap.change", 3, max=5)
        self.assertRateHeaders(hdrs, 4, 0)
        self.assertEqual(self.usage(qid)["active"], 4)
        # lowering below usage needs allowDecreaseBelowUsage; then nothing more is leased
        st, _, body = self.srv.api("PUT", qpath(qid), self.tok,
                                   body={"maxActive": 2, "allowDecreaseBelowUsage": True})
        self.assertEqual(st, 200, body)
        for j in jobs[:2]:
            self.completed(j["jobId"], j["leaseId"])
        self.assertHeldBack(self.lease("cap.change", max=5), 2, 0)
        self.assertEqual(self.usage(qid)["active"], 2)

    def test_quota_deleted_while_its_leases_run(self):
        """docs/api.md: the leases go on; completing them frees nothing."""
        qid = self.create_quota("del.a", max_active=2, burst=100, refill=100)
        self.submit("del.a", 5)
        (a, b), _, _ = self.leased("del.a", 2, max=5)
        st, _, body = self.srv.api("DELETE", qpath(qid), self.tok)
        self.assertEqual(st, 204, body)
        st, _, job = self.heartbeat(a["jobId"], a["leaseId"])
        self.assertEqual((st, job.get("status")), (200, "leased"), job)
        self.assertEqual(self.completed(a["jobId"], a["leaseId"])["status"], "succeeded")
        # a new quota for the type starts empty; the old quota's lease never frees its slots
        qid2 = self.create_quota("del.a", max_active=1, burst=100, refill=100)
        self.assertEqual(self.usage(qid2)["active"], 0)
        (c,), _, _ = self.leased("del.a", 1, max=5)
        self.assertEqual(self.usage(qid2)["active"], 1)
        self.assertEqual(self.completed(b["jobId"], b["leaseId"])["status"], "succeeded")
        self.assertEqual(self.usage(qid2)["active"], 1, "an old quota's lease frees nothing here")
        self.assertHeldBack(self.lease("del.a", max=5), 1, 0)
        self.completed(c["jobId"], c["leaseId"])
        self.assertEqual(self.usage(qid2)["active"], 0)

    def test_star_quota_governs_types_without_their_own(self):
        tok, work = self.star_tok, self.star_work
        star = self.create_quota("*", tok=tok, max_active=2, burst=100, refill=100)
        own = self.create_quota("star.own", tok=tok, max_active=5, burst=100, refill=100)
        self.submit("star.a", 2, tok=work)
        self.submit("star.b", 2, tok=work)
        self.submit("star.own", 4, tok=work)
        jobs, hdrs, _ = self.leased("star.a", 1, tok=work, leaseSeconds=30)
        if hdrs.get("X-RateLimit-Limit") is not None:  # (not required when nothing was held)
            self.assertRateHeaders(hdrs, 2, 1)
        jobs2, hdrs, _ = self.leased(["star.b", "star.a"], 1, tok=work, max=5, leaseSeconds=50)
        self.assertRateHeaders(hdrs, 2, 0)
        nxt, _, _ = self.assertHeldBack(self.lease(["star.a", "star.b"], tok=work, max=5), 2, 0)
        self.assertEqual(nxt, parse_time_ms(jobs[0]["leaseUntil"]))
        u = self.usage(star, tok)
        self.assertEqual((u["active"], u["hourCount"]), (2, 2))
        # a type with its own quota is governed by it, not by "*"
        self.leased("star.own", 4, tok=work, max=10)
        self.assertEqual(self.usage(own, tok)["active"], 4)
        self.assertEqual(self.usage(star, tok)["active"], 2)
        # completing a "*"-governed job frees a "*" slot
        self.assertEqual(self.complete(jobs[0]["jobId"], jobs[0]["leaseId"], tok=work)[0], 200)
        self.assertEqual(self.usage(star, tok)["active"], 1)
        self.leased("star.b", 1, tok=work, max=5)

    def test_unquoted_type_is_unlimited(self):
        self.submit("free.a", 12)
        jobs, hdrs, body = self.leased("free.a", 12, max=100)
        self.assertEqual(set(body.keys()), {"jobs"})
        self.assertIsNone(hdrs.get("X-RateLimit-Limit"), "no quota: no decision headers")
        self.assertIsNone(hdrs.get("Retry-After"))
        self.assertEqual(len({j["leaseId"] for j in jobs}), 12)

    # -- heartbeat ------------------------------------------------------------------------------------
    def test_heartbeat(self):
        qid = self.create_quota("hb.a", max_active=1, burst=100, refill=100)
        jid = self.submit("hb.a")[0]
        jobs, _, _ = self.leased("hb.a", 1, leaseSeconds=5)
        lid = jobs[0]["leaseId"]
        time.sleep(0.3)
        t0 = now_ms()
        st, _, job = self.heartbeat(jid, lid)
        t1 = now_ms()
        self.assertEqual(st, 200, job)
        self.assertEqual(set(job.keys()), JOB_KEYS)
        self.assertEqual((job["status"], job["leaseId"], job["attempt"]), ("leased", lid, 1))
        until = parse_time_ms(job["leaseUntil"])
        self.assertTrue(t0 + 5000 - 5 <= until <= t1 + 5000 + 5,
                        "default: the lease's own length (5 s) from now: %s" % job["leaseUntil"])
        self.assertGreater(until, parse_time_ms(jobs[0]["leaseUntil"]), "leaseUntil moved")
        t0 = now_ms()
        st, _, job = self.heartbeat(jid, lid, extendSeconds=40)
        t1 = now_ms()
        self.assertEqual(st, 200, job)
        until = parse_time_ms(job["leaseUntil"])
        self.assertTrue(t0 + 40000 - 5 <= until <= t1 + 40000 + 5, job["leaseUntil"])
        self.assertEqual(self.job(jid)["leaseUntil"], job["leaseUntil"])
        # the quota's nextEligibleAt follows the extended lease
        self.submit("hb.a")
        nxt, _, _ = self.assertHeldBack(self.lease("hb.a"), 1, 0)
        self.assertEqual(nxt, until)
        # a shorter extension also sets now + extendSeconds
        st, _, job = self.heartbeat(jid, lid, extendSeconds=1)
        self.assertEqual(st, 200, job)
        self.assertClockNear(parse_time_ms(job["leaseUntil"]), now_ms() + 1000, 300)
        st, _, job = self.heartbeat(jid, lid, extendSeconds=3600)
        self.assertEqual(st, 200, job)
        # a wrong leaseId
        self.assertEnvelope(self.heartbeat(jid, "01900000-0000-7000-8000-000000000000"), 409,
                            "LEASE_LOST")
        self.assertEnvelope(self.heartbeat(jid, "nope"), 409, "LEASE_LOST")
        self.assertEqual(self.job(jid)["leaseId"], lid)
        # validation (the job exists in this tenant)
        for body, field in (({"leaseId": lid, "extendSeconds": 0}, "extendSeconds"),
                            ({"leaseId": lid, "extendSeconds": 3601}, "extendSeconds"),
                            ({"leaseId": lid, "extendSeconds": 1.5}, "extendSeconds"),
                            ({"leaseId": lid, "extendSeconds": "5"}, "extendSeconds"),
                            ({}, "leaseId"), ({"leaseId": ""}, "leaseId"),
                            ({"leaseId": 5}, "leaseId"), ({"leaseId": lid, "x": 1}, "x")):
            with self.subTest(body=body):
                self.assertInvalid(self.srv.api("POST", job_path(jid, "heartbeat"), self.work,
                                                body=body), field)
        # a pending job has no lease to extend
        other = self.submit("hb.b")[0]
        self.assertEnvelope(self.heartbeat(other, lid), 409, "LEASE_LOST")
        self.assertEnvelope(self.heartbeat("01900000-0000-7000-8000-000000000000", lid), 404,
                            "NOT_FOUND")
        self.assertEqual(self.usage(qid)["active"], 1)

    # -- complete -------------------------------------------------------------------------------------
    def test_complete_succeeded(self):
        qid = self.create_quota("done.a", max_active=5, burst=100, refill=100)
        jid = self.submit("done.a")[0]
        jobs, _, _ = self.leased("done.a", 1)
        lid = jobs[0]["leaseId"]
        self.assertEqual(self.usage(qid)["active"], 1)
        t0 = now_ms()
        st, _, job = self.complete(jid, lid)
        t1 = now_ms()
        self.assertEqual(st, 200, job)
        self.assertEqual(set(job.keys()), JOB_KEYS)
        self.assertEqual((job["jobId"], job["status"], job["attempt"], job["error"]),
                         (jid, "succeeded", 1, None))
        done_at = parse_time_ms(job["completedAt"])
        self.assertTrue(t0 - 5 <= done_at <= t1 + 5, job["completedAt"])
        self.assertEqual(self.job(jid), job)
        u = self.usage(qid)
        self.assertEqual((u["active"], u["hourCount"], u["pending"]), (0, 1, 0))
        # again: the lease is gone
        self.assertEnvelope(self.complete(jid, lid), 409, "LEASE_LOST")
        self.assertEnvelope(self.complete(jid, lid, "failed"), 409, "LEASE_LOST")
        self.assertEnvelope(self.heartbeat(jid, lid), 409, "LEASE_LOST")
        self.assertEqual(self.job(jid), job, "nothing changed")
        self.assertEqual(self.usage(qid)["active"], 0, "never below 0, never freed twice")
        st, _, body = self.lease("done.a")
        self.assertEqual((st, body["jobs"]), (200, []))
        # an error may come with success too; validation
        jid2 = self.submit("done.a")[0]
        lid2 = self.leased("done.a", 1)[0][0]["leaseId"]
        for body, field in (({"leaseId": lid2}, "status"),
                            ({"leaseId": lid2, "status": "done"}, "status"),
                            ({"leaseId": lid2, "status": "canceled"}, "status"),
                            ({"leaseId": lid2, "status": None}, "status"),
                            ({"leaseId": lid2, "status": "failed", "error": 5}, "error"),
                            ({"leaseId": lid2, "status": "failed", "error": "e" * 2049}, "error"),
                            ({"status": "succeeded"}, "leaseId"),
                            ({"leaseId": lid2, "status": "succeeded", "x": 1}, "x")):
            with self.subTest(body={k: (v[:20] if isinstance(v, str) else v)
                                    for k, v in body.items()}):
                self.assertInvalid(self.srv.api("POST", job_path(jid2, "complete"), self.work,
                                                body=body), field)
        self.assertEqual(self.job(jid2)["status"], "leased")
        self.assertEnvelope(self.complete(jid2, lid), 409, "LEASE_LOST")
        self.assertEnvelope(self.complete(self.submit("done.b")[0], lid2), 409, "LEASE_LOST")
        self.completed(jid2, lid2)

    def test_complete_failed_backoff_and_retry(self):
        qid = self.create_quota("fail.a", max_active=5, burst=100, refill=100)
        jid = self.submit("fail.a")[0]
        lid = self.leased("fail.a", 1)[0][0]["leaseId"]
        t0 = now_ms()
        st, _, job = self.complete(jid, lid, "failed", error="disk full")
        t1 = now_ms()
        self.assertEqual(st, 200, job)
        self.assertEqual((job["status"], job["attempt"], job["maxAttempts"], job["error"],
                          job["leaseId"], job["completedAt"]),
                         ("pending", 1, 3, "disk full", None, None))
        avail = parse_time_ms(job["availableAt"])
        self.assertTrue(t0 + 2000 - 5 <= avail <= t1 + 2000 + 5,
                        "first backoff 2 s: %s" % job["availableAt"])
        self.assertEqual(self.usage(qid)["active"], 0, "a failed attempt frees its slot")
        self.assertEqual(self.usage(qid)["pending"], 1)
        self.assertEnvelope(self.complete(jid, lid, "failed"), 409, "LEASE_LOST")
        # not leasable before availableAt (and no quota held it back)
        st, hdrs, body = self.lease("fail.a", max=5)
        self.assertEqual((st, body), (200, {"jobs": []}))
        self.assertIsNone(hdrs.get("Retry-After"))
        time.sleep(max(0, avail - now_ms()) / 1000.0 + 0.05)
        jobs, _, _ = self.leased("fail.a", 1)
        self.assertEqual((jobs[0]["jobId"], jobs[0]["attempt"]), (jid, 2))
        self.assertNotEqual(jobs[0]["leaseId"], lid)
        got = self.job(jid)
        self.assertEqual((got["status"], got["attempt"]), ("leased", 2))
        # the second failure doubles the backoff (4 s); the third attempt remains
        t0 = now_ms()
        job = self.completed(jid, jobs[0]["leaseId"], "failed", error="disk full again")
        t1 = now_ms()
        self.assertEqual((job["status"], job["attempt"], job["error"]),
                         ("pending", 2, "disk full again"))
        avail = parse_time_ms(job["availableAt"])
        self.assertTrue(t0 + 4000 - 5 <= avail <= t1 + 4000 + 5,
                        "second backoff 4 s: %s" % job["availableAt"])
        st, _, body = self.lease("fail.a")
        self.assertEqual(body, {"jobs": []})
        # a failure without an error text
        jid2 = self.submit("fail.a")[0]
        lid2 = self.leased("fail.a", 1)[0][0]["leaseId"]
        job = self.completed(jid2, lid2, "failed")
        self.assertEqual((job["status"], job["error"]), ("pending", None))
        s = job_summary(self.srv, self.work)["fail.a"]
        self.assertEqual((s["pending"], s["failed"], s["total"]), (2, 0, 2))

    def test_error_length(self):
        jid = self.submit("err.len")[0]
        lid = self.leased("err.len", 1)[0][0]["leaseId"]
        self.assertInvalid(self.complete(jid, lid, "failed", error="x" * 2049), "error")
        self.assertInvalid(self.complete(jid, lid, "failed", error="\u00e9" * 1025), "error")
        job = self.completed(jid, lid, "failed", error="\u00e9" * 1024)
        self.assertEqual(job["error"], "\u00e9" * 1024, "2048 bytes are fine")

    # -- expiry ---------------------------------------------------------------------------------------
    def test_lease_expiry(self):
        qid = self.create_quota("exp.a", max_active=1, burst=100, refill=100)
        jid = self.submit("exp.a")[0]
        jobs, _, _ = self.leased("exp.a", 1, leaseSeconds=1)
        old = jobs[0]["leaseId"]
        until = parse_time_ms(jobs[0]["leaseUntil"])
        self.assertEqual(self.usage(qid)["active"], 1)
        # the engine's sweep returns it to pending and frees the slot, with no lease call between
        deadline = until + 2500
        while now_ms() < deadline:
            if self.job(jid)["status"] == "pending":
                break
            time.sleep(0.05)
        got = self.job(jid)
        self.assertEqual((got["status"], got["attempt"], got["error"], got["leaseId"],
                          got["leaseUntil"], got["completedAt"]),
                         ("pending", 1, None, None, None, None),
                         "expired (not failed): pending at once, attempt kept")
        self.assertLessEqual(parse_time_ms(got["availableAt"]), now_ms(), "no backoff")
        u = self.usage(qid)
        self.assertEqual((u["active"], u["pending"]), (0, 1))
        self.assertEnvelope(self.heartbeat(jid, old), 409, "LEASE_LOST")
        self.assertEnvelope(self.complete(jid, old), 409, "LEASE_LOST")
        jobs, _, _ = self.leased("exp.a", 1)
        self.assertEqual((jobs[0]["jobId"], jobs[0]["attempt"]), (jid, 2))
        self.assertNotEqual(jobs[0]["leaseId"], old)
        self.assertEnvelope(self.complete(jid, old), 409, "LEASE_LOST")
        self.assertEnvelope(self.heartbeat(jid, old), 409, "LEASE_LOST")
        self.completed(jid, jobs[0]["leaseId"])
        self.assertEqual(self.usage(qid)["active"], 0)
        self.assertEqual(self.job(jid)["status"], "succeeded")

    def test_expired_lease_never_holds_a_slot_at_decision_time(self):
        self.create_quota("exp.b", max_active=1, burst=100, refill=100)
        jid = self.submit("exp.b")[0]
        time.sleep(0.003)
        self.submit("exp.b")  # a second job, held back by maxActive 1
        jobs, _, _ = self.leased("exp.b", 1, leaseSeconds=1)
        until = parse_time_ms(jobs[0]["leaseUntil"])
        self.assertHeldBack(self.lease("exp.b"), 1, 0)
        while now_ms() <= until + 20:
            time.sleep(0.01)
        jobs2, _, _ = self.leased("exp.b", 1)  # right after expiry: the decision frees it first
        self.assertEqual((jobs2[0]["jobId"], jobs2[0]["attempt"]), (jid, 2),
                         "the expired job is pending again and older than the other")
        self.assertEnvelope(self.complete(jid, jobs[0]["leaseId"]), 409, "LEASE_LOST")

    def test_expired_lease_is_lost_before_the_sweep_too(self):
        """docs/api.md: heartbeat and complete with a lease that is not live (expired) are
        409 LEASE_LOST, also in the instant between the expiry and the engine's sweep."""
        for jt in ("exp.c", "exp.free.c"):  # with a quota and without
            with self.subTest(jobType=jt):
                if jt == "exp.c":
                    self.create_quota(jt, max_active=5, burst=100, refill=100)
                self.submit(jt, 2)
                jobs, _, _ = self.leased(jt, 2, max=2, leaseSeconds=1)
                until = max(parse_time_ms(j["leaseUntil"]) for j in jobs)
                while now_ms() <= until + 5:
                    time.sleep(0.002)
                self.assertEnvelope(self.heartbeat(jobs[0]["jobId"], jobs[0]["leaseId"]), 409,
                                    "LEASE_LOST")
                self.assertEnvelope(self.complete(jobs[1]["jobId"], jobs[1]["leaseId"]), 409,
                                    "LEASE_LOST")
                for j in jobs:
                    got = self.job(j["jobId"])
                    self.assertNotEqual(got["status"], "succeeded", got)
                    self.assertEqual(got["attempt"], 1, got)

    def test_expiry_of_an_unquoted_job(self):
        jid = self.submit("exp.free")[0]
        jobs, _, _ = self.leased("exp.free", 1, leaseSeconds=1)
        until = parse_time_ms(jobs[0]["leaseUntil"])
        while now_ms() <= until + 1300:  # swept at least once a second
            time.sleep(0.05)
        self.assertEqual(self.job(jid)["status"], "pending")
        self.assertEqual(self.leased("exp.free", 1)[0][0]["attempt"], 2)

    # -- usage.pending --------------------------------------------------------------------------------
    def test_usage_pending(self):
        qid = self.create_quota("pend.a", max_active=2, burst=100, refill=100)
        self.assertEqual(self.usage(qid)["pending"], 0)
        self.submit("pend.a", 5)
        self.submit("pend.other", 3)
        u = self.usage(qid)
        self.assertEqual((u["pending"], u["active"]), (5, 0))
        jobs, _, _ = self.leased("pend.a", 2, max=5)
        self.assertEqual(self.usage(qid)["pending"], 3)
        self.assertHeldBack(self.lease("pend.a", max=5), 2, 0)
        self.assertEqual(self.usage(qid)["pending"], 3, "held back jobs are still waiting")
        self.completed(jobs[0]["jobId"], jobs[0]["leaseId"])
        self.assertEqual(self.usage(qid)["pending"], 3)
        self.leased("pend.a", 1, max=5)
        self.assertEqual(self.usage(qid)["pending"], 2)
        # the quota summary agrees
        body = self.srv.get_json(Q + "/summary", self.tok)
        items = body["items"] if isinstance(body, dict) else body
        it = [i for i in items if i.get("jobType") == "pend.a"]
        self.assertEqual(len(it), 1, body)
        self.assertIn(2, [it[0].get("pending"), (it[0].get("usage") or {}).get("pending")], it)

    # -- concurrency ----------------------------------------------------------------------------------
    def test_concurrent_workers_never_exceed_max_active(self):
        srv = self.srv
        n_jobs = 400
        qid = self.create_quota("conc.a", max_active=3, max_per_hour=1000000, burst=10000,
                                refill=1000)
        hour0 = hour_start_ms(now_ms())
        ids = set(submit_many(srv, self.work, "conc.a", n_jobs))
        self.assertEqual(len(ids), n_jobs)
        self.assertEqual(self.usage(qid)["pending"], n_jobs)
        lock = threading.Lock()
        held = {}  # jobId -> worker currently holding it (as far as the workers know)
        st = {"max_held": 0, "leases": 0, "completed": 0, "empty": 0, "calls": 0,
              "violations": [], "other": [], "per_job": {}}
        done = threading.Event()
        # a bound on liveness only (nothing stalls), not a speed target: generous, so that a
        # shared machine running the sanitised build over PostgreSQL still finishes
        deadline = time.monotonic() + 90

        def worker(i):
            c = KeepAlive(srv.url)
            wid = "w-%d" % i
            try:
                while not done.is_set() and time.monotonic() < deadline:
                    code, _, body = c.request("POST", LEASE, self.work,
                                              body={"jobTypes": ["conc.a"], "workerId": wid,
                                                    "max": 1 + i % 3, "leaseSeconds": 60})
                    if code != 200:
                        with lock:
                            st["other"].append(("lease", code, body))
                        done.set()
                        return
                    jobs = body["jobs"]
                    with lock:
                        st["calls"] += 1
                        if not jobs:
                            st["empty"] += 1
                        for j in jobs:
                            if j["jobId"] in held:
                                st["violations"].append((j["jobId"], held[j["jobId"]], wid))
                            held[j["jobId"]] = wid
                            st["leases"] += 1
                            st["per_job"][j["jobId"]] = st["per_job"].get(j["jobId"], 0) + 1
                        st["max_held"] = max(st["max_held"], len(held))
                        if len(jobs) > 1 + i % 3:
                            st["violations"].append(("max", len(jobs)))
                    if not jobs:
                        time.sleep(0.002)
                        continue
                    time.sleep(0.004 * (1 + i % 3))  # hold a moment so holds overlap
                    for j in jobs:
                        with lock:  # forgotten BEFORE the complete is sent
                            if held.get(j["jobId"]) == wid:
                                del held[j["jobId"]]
                        code, _, b = c.request("POST", job_path(j["jobId"], "complete"),
                                               self.work, body={"leaseId": j["leaseId"],
                                                                "status": "succeeded"})
                        with lock:
                            if code == 200 and b.get("status") == "succeeded":
                                st["completed"] += 1
                                if st["completed"] >= n_jobs:
                                    done.set()
                            else:
                                st["other"].append(("complete", code, b))
                                done.set()
            finally:
                c.close()

        mon_stats = {"reads": 0, "max_active": 0, "bad": []}

        def monitor():
            c = KeepAlive(srv.url)
            try:
                while not done.is_set() and time.monotonic() < deadline:
                    code, _, q = c.request("GET", qpath(qid), self.tok)
                    if code == 200:
                        mon_stats["reads"] += 1
                        mon_stats["max_active"] = max(mon_stats["max_active"],
                                                      q["usage"]["active"])
                    else:
                        mon_stats["bad"].append((code, q))
                    time.sleep(0.01)
            finally:
                c.close()

        mon = threading.Thread(target=monitor, daemon=True)
        mon.start()
        t0 = time.monotonic()
        errors = run_threads(16, worker, 40)
        elapsed = time.monotonic() - t0
        done.set()
        mon.join(10)
        self.assertEqual(mon_stats["bad"], [])
        self.assertLessEqual(mon_stats["max_active"], 3, "usage.active above maxActive")
        self.assertEqual(errors, [], "thread errors: %r" % errors[:3])
        self.assertEqual(st["other"], [], "unexpected answers: %r" % st["other"][:5])
        self.assertEqual(st["violations"], [], "a job held by two workers at once")
        self.assertEqual(st["completed"], n_jobs, "not all completed in time: %r"
                         % {k: v for k, v in st.items() if k != "per_job"})
        self.assertLessEqual(st["max_held"], 3, st["max_held"])
        # no under-admission: at some moment all 3 slots were held (as the workers saw it, or as
        # the server's usage showed it)
        self.assertEqual(max(st["max_held"], mon_stats["max_active"]), 3,
                         "16 workers on 3 slots fill all 3")
        self.assertGreater(st["empty"], 0, "some lease calls found every slot taken")
        self.assertEqual(set(st["per_job"].keys()), ids)
        self.assertEqual([k for k, v in st["per_job"].items() if v != 1], [],
                         "each job leased exactly once (none expired, none failed)")
        self.assertEqual(st["leases"], n_jobs)
        s = job_summary(srv, self.work)["conc.a"]
        self.assertEqual(s, {"jobType": "conc.a", "pending": 0, "leased": 0,
                             "succeeded": n_jobs, "failed": 0, "canceled": 0, "total": n_jobs})
        every = list_jobs_all(srv, self.work, jobType="conc.a")
        self.assertEqual({j["jobId"] for j in every}, ids)
        self.assertTrue(all(j["status"] == "succeeded" and j["attempt"] == 1 for j in every))
        u = self.usage(qid)
        self.assertEqual((u["active"], u["pending"]), (0, 0), u)
        if hour_start_ms(now_ms()) == hour0:  # (no UTC hour boundary crossed meanwhile)
            self.assertEqual(u["hourCount"], st["leases"], "every lease counted once")
        print("\n[leasing storm] %d jobs, %d lease calls (%d empty), max held %d, max server "
              "active %d (%d reads), %.1f s" % (n_jobs, st["calls"], st["empty"], st["max_held"],
                                               mon_stats["max_active"], mon_stats["reads"],
                                               elapsed))

    def test_zz_clean_shutdown(self):
        """Last: SIGTERM ends the server with exit 0 and no sanitizer report."""
        rc = self.srv.stop()
        log = self.srv.log_text()
        self.assertNotIn("Sanitizer", log, log[-4000:])
        self.assertNotIn("runtime error", log, log[-4000:])
        self.assertEqual(rc, 0, log[-4000:])


class MaxAttemptsTest(LeasingBase):
    """serve --max-attempts 2: the second failure leaves the job failed."""

    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(CLIENTS, args=["--max-attempts", "2"],
                                         name="leasing-attempts")
        cls.tok, cls.work = cls.tokens(cls.srv)

    def test_second_failure_is_final(self):
        qid = self.create_quota("att.a", max_active=5, burst=100, refill=100)
        jid = self.submit("att.a")[0]
        self.assertEqual(self.job(jid)["maxAttempts"], 2)
        lid = self.leased("att.a", 1)[0][0]["leaseId"]
        job = self.completed(jid, lid, "failed", error="first")
        self.assertEqual((job["status"], job["attempt"], job["maxAttempts"]), ("pending", 1, 2))
        avail = parse_time_ms(job["availableAt"])
        time.sleep(max(0, avail - now_ms()) / 1000.0 + 0.05)
        jobs, _, _ = self.leased("att.a", 1)
        self.assertEqual(jobs[0]["attempt"], 2)
        t0 = now_ms()
        job = self.completed(jid, jobs[0]["leaseId"], "failed", error="second")
        t1 = now_ms()
        self.assertEqual((job["status"], job["attempt"], job["error"], job["leaseId"]),
                         ("failed", 2, "second", None))
        self.assertTrue(t0 - 5 <= parse_time_ms(job["completedAt"]) <= t1 + 5, job)
        self.assertEqual(self.job(jid), job)
        self.assertEqual(self.usage(qid)["active"], 0)
        self.assertEqual(self.usage(qid)["pending"], 0)
        st, _, body = self.lease("att.a", max=5)
        self.assertEqual((st, body), (200, {"jobs": []}), "a failed job is never leased again")
        self.assertEnvelope(self.complete(jid, jobs[0]["leaseId"]), 409, "LEASE_LOST")
        s = job_summary(self.srv, self.work)["att.a"]
        self.assertEqual((s["failed"], s["pending"], s["total"]), (1, 0, 1))
        st, _, body = self.srv.api("GET", JOBS + "?status=failed&jobType=att.a", self.work)
        self.assertEqual([j["jobId"] for j in body["items"]], [jid])

    def test_success_on_the_last_attempt(self):
        jid = self.submit("att.b")[0]
        lid = self.leased("att.b", 1)[0][0]["leaseId"]
        job = self.completed(jid, lid, "failed")
        time.sleep(max(0, parse_time_ms(job["availableAt"]) - now_ms()) / 1000.0 + 0.05)
        lid = self.leased("att.b", 1)[0][0]["leaseId"]
        job = self.completed(jid, lid)
        self.assertEqual((job["status"], job["attempt"]), ("succeeded", 2))

    def test_zz_clean_shutdown(self):
        rc = self.srv.stop()
        log = self.srv.log_text()
        self.assertNotIn("Sanitizer", log, log[-4000:])
        self.assertEqual(rc, 0, log[-4000:])


class UnquotedDenyTest(LeasingBase):
    """serve --unquoted-job-types deny: a job type with neither its own quota nor "*" never
    leases."""

    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(CLIENTS, args=["--unquoted-job-types", "deny"],
                                         name="leasing-deny")
        cls.tok, cls.work = cls.tokens(cls.srv)
        cls.star_tok, cls.star_work = cls.tokens(cls.srv, "star")

    def test_never_leased_without_a_quota(self):
        jid = self.submit("deny.a")[0]
        for _ in range(3):
            st, hdrs, body = self.lease("deny.a", max=10)
            self.assertEqual(st, 200, body)
            self.assertEqual(body["jobs"], [])
        self.assertEqual(self.job(jid)["status"], "pending", "never failed or dropped")
        # a quota of its own makes it leasable
        self.create_quota("deny.a", max_active=2)
        jobs, _, _ = self.leased("deny.a", 1, max=10)
        self.assertEqual(jobs[0]["jobId"], jid)
        # quota-governed and unquoted types in one call: only the governed ones lease
        self.submit("deny.a")
        other = self.submit("deny.b")[0]
        jobs, _, _ = self.leased(["deny.b", "deny.a"], 1, max=10)
        self.assertEqual(jobs[0]["jobType"], "deny.a")
        self.assertEqual(self.job(other)["status"], "pending")

    def test_star_quota_admits_types(self):
        tok, work = self.star_tok, self.star_work
        self.submit("deny.s", 3, tok=work)
        st, _, body = self.lease("deny.s", tok=work, max=10)
        self.assertEqual((st, body["jobs"]), (200, []))
        self.create_quota("*", tok=tok, max_active=2, burst=100, refill=100)
        self.leased("deny.s", 2, tok=work, max=10)

    def test_zz_clean_shutdown(self):
        rc = self.srv.stop()
        log = self.srv.log_text()
        self.assertNotIn("Sanitizer", log, log[-4000:])
        self.assertEqual(rc, 0, log[-4000:])


if __name__ == "__main__":
    unittest.main()
