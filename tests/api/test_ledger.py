"""Black-box tests of the dedup ledger over HTTP (api.md §3.5 dedup/claim; domain.md §4, §5;
docs/api.md "Backfills and the ledger"): exactly-once processing of events that arrive live, by
a backfill, by both at the same time, by overlapping backfills and by a forced repeat; digests;
and the claim rules (live lease, in-flight claims, claims given up on failure or expiry, limits,
validation, atomicity)."""

import random
import threading
import time
import unittest
import uuid

from harness import (BACKFILLS, DAY_MS, DEDUP_CLAIM, HOUR_MS, JOBS, BackfillWorker, FakeSource,
                     ServerTestCase, Tally, backfill_body, backfill_path, format_time_ms,
                     get_backfill, hour_start_ms, job_path, list_jobs_all, now_ms, quota_body,
                     run_workers, submit_job, submit_live, wait_backfill, wait_until)
from invariants import exactly_once_problems

CLIENTS = [
    ("admin", ["acme"], ["Orch.Admin"]),
    ("worker", ["acme"], ["Orch.Worker"]),
]
Q = "/jobengine/quotas"


class LedgerTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(CLIENTS, name="ledger")
        cls.tok = cls.srv.grant("admin", "orch:quota orch:backfill", quota_reason="ledger tests",
                                backfill_reason="ledger tests")
        cls.work = cls.srv.grant("worker", "orch:jobs orch:read")
        cls.T = hour_start_ms(now_ms()) - 2 * DAY_MS

    # -- helpers ----------------------------------------------------------------------------------
    def create_quota(self, job_type, max_active=20):
        st, _, body = self.srv.api("POST", Q, self.tok,
                                   body=quota_body(job_type, max_active=max_active,
                                                   max_per_hour=100000, burst=1000, refill=100))
        self.assertEqual(st, 201, body)

    def backfill(self, source_id, job_type, start, end, **extra):
        """Creates and starts a backfill; returns its id."""
        st, _, b = self.srv.api("POST", BACKFILLS, self.tok,
                                body=backfill_body(source_id, job_type, start, end, **extra))
        self.assertEqual(st, 201, b)
        st, _, s = self.srv.api("POST", backfill_path(b["backfillId"], "start"), self.tok, body={})
        self.assertEqual((st, s.get("status")), (200, "running"), s)
        return b["backfillId"]

    def workers(self, job_types, sources, tally, n=3, max_jobs=1):
        stop = threading.Event()
        return run_workers(lambda i: BackfillWorker(self.srv, self.work, job_types, sources,
                                                    tally, "w-%d" % i, max_jobs=max_jobs),
                           n, stop)

    def finish(self, join, tally):
        self.assertEqual(join(), [])
        self.assertEqual(tally.problems, [])

    _live_n = 0

    def live_job(self, job_type, source_id, key, time_ms, lease_seconds=60):
        """A live job for one event, leased; returns it. Each gets a job type of its own (no
        quota: not limited), so leasing it cannot pick up anything else."""
        type(self)._live_n += 1
        jt = "%s.%d" % (job_type, self._live_n)
        job = submit_live(self.srv, self.work, jt, source_id, key, time_ms)
        return self.lease_one(jt, job["jobId"], lease_seconds)

    def lease_one(self, job_type, job_id, lease_seconds=60):
        st, _, js = self.srv.api("POST", JOBS + "/lease", self.work,
                                 body={"jobTypes": [job_type], "workerId": "t", "max": 1,
                                       "leaseSeconds": lease_seconds})
        self.assertEqual(st, 200, js)
        self.assertEqual([j["jobId"] for j in js["jobs"]], [job_id], js)
        return js["jobs"][0]

    def claim(self, job_or_id, events, source_id=None):
        job_id = job_or_id if isinstance(job_or_id, str) else job_or_id["jobId"]
        if source_id is None:
            source_id = job_or_id["sourceId"]
        evs = []
        for e in events:
            if isinstance(e, tuple):
                key, t, digest = (e + (None,))[:3]
                d = {"eventKey": key, "eventTime": format_time_ms(t)}
                if digest is not None:
                    d["digest"] = digest
                evs.append(d)
            else:
                evs.append(e)
        return self.srv.api("POST", DEDUP_CLAIM, self.work,
                            body={"sourceId": source_id, "jobId": job_id, "events": evs})

    def claimed(self, job, events, new, dups):
        st, _, js = self.claim(job, events)
        self.assertEqual(st, 200, js)
        self.assertEqual(set(js.keys()), {"new", "duplicates"}, js)
        self.assertEqual((sorted(js["new"]), sorted(js["duplicates"])), (sorted(new), sorted(dups)))
        return js

    def complete(self, job, status="succeeded"):
        st, _, js = self.srv.api("POST", job_path(job["jobId"], "complete"), self.work,
                                 body={"leaseId": job["leaseId"], "status": status})
        self.assertEqual(st, 200, js)
        return js

    def assertExactlyOnce(self, tally, source, keys, times=1):
        self.assertEqual(exactly_once_problems(tally, source, keys, times), {},
                         "events not processed exactly %d time(s)" % times)

    # -- 3. exactly once ------------------------------------------------------------------------------
    def test_keys_with_quotes_backslashes_and_unicode_come_back_intact(self):
        keys = ['q"uote', "back\\slash", "sl/ash", "caf\u00e9-\u6f22-\U0001f600", "tab\tless"[:3]]
        job = self.live_job("lg.keys", "keys.src", "live-key", self.T)
        events = [(k, self.T + i) for i, k in enumerate(keys)]
        self.claimed(job, events, new=keys, dups=[])
        job2 = self.live_job("lg.keys", "keys.src", "live-key-2", self.T)
        self.claimed(job2, events + [("fresh", self.T)], new=["fresh"], dups=keys)

    def test_live_first_then_backfill_skips_them(self):
        jt, T = "lg.first", self.T
        self.create_quota(jt)
        src = FakeSource("first")
        keys = []
        for i in range(12):
            keys.append("f%02d" % i)
            src.put(keys[-1], T + i * 20 * 60000, "d")  # [T, T+4h)
        tally = Tally()
        live = keys[::3]
        ids = [submit_live(self.srv, self.work, jt, "first", k, src.get(k)[0])["jobId"]
               for k in live]
        w = BackfillWorker(self.srv, self.work, [jt], {"first": src}, tally, max_jobs=10)
        try:
            wait_until("live jobs", lambda: w.poll() == 0 and len(tally.job_done) == len(ids), 15)
        finally:
            w.close()
        self.assertExactlyOnce(tally, "first", live)
        bid = self.backfill("first", jt, T, T + 4 * HOUR_MS)
        join = self.workers([jt], {"first": src}, tally)
        try:
            b = wait_backfill(self.srv, self.tok, bid, ("completed", "failed"), 30)
        finally:
            self.finish(join, tally)
        self.assertEqual(b["status"], "completed")
        self.assertExactlyOnce(tally, "first", keys)
        for k in live:
            self.assertEqual(tally.duplicates[("first", k)], 1, "the backfill skipped %s" % k)
        p = b["progress"]
        self.assertEqual((p["eventsProcessed"], p["duplicatesSkipped"], p["eventsFailed"]),
                         (len(keys) - len(live), len(live), 0))

    def test_live_and_backfill_at_once_then_forced_repeat(self):
        jt, T = "lg.race", self.T
        self.create_quota(jt, max_active=16)
        src = FakeSource("race")
        keys = ["r%03d" % i for i in range(72)]
        rnd = random.Random(7)
        for i, k in enumerate(keys):
            src.put(k, T + (i * 6 * HOUR_MS) // len(keys) + rnd.randrange(1000), "v1")
        tally = Tally()
        bid = self.backfill("race", jt, T, T + 6 * HOUR_MS, batchSeconds=1800)
        wait_until("batches submitted", lambda: get_backfill(
            self.srv, self.tok, bid)["progress"]["batchesSubmitted"] == 4, 15)

        def slow(job, new):  # widen the window in which a batch's claims are in flight
            if job.get("backfillId"):
                time.sleep(0.04)
        stop = threading.Event()
        join = run_workers(lambda i: BackfillWorker(self.srv, self.work, [jt], {"race": src},
                                                    tally, "w-%d" % i, on_claimed=slow),
                           4, stop)
        live_ids = []
        try:
            order = list(keys)
            rnd.shuffle(order)
            for k in order:  # live traffic for every event while the backfill runs
                live_ids.append(submit_live(self.srv, self.work, jt, "race", k,
                                            src.get(k)[0])["jobId"])
                time.sleep(0.01)
            b = wait_backfill(self.srv, self.tok, bid, ("completed", "failed"), 30)
            wait_until("live jobs done", lambda: all(tally.job_done[i] for i in live_ids), 30)
        finally:
            self.finish(join, tally)
        self.assertEqual(b["status"], "completed", b)
        self.assertExactlyOnce(tally, "race", keys)
        p = b["progress"]
        self.assertEqual(p["eventsProcessed"] + p["duplicatesSkipped"], len(keys),
                         "each batch claimed its events once: new or duplicate")
        self.assertEqual(p["eventsFailed"], 0)
        by_live = sum(tally.processed[("race", k)] for k in keys) - p["eventsProcessed"]
        self.assertEqual(by_live + p["eventsProcessed"], len(keys))
        jobs = list_jobs_all(self.srv, self.work, jobType=jt)
        self.assertEqual(sorted(j["status"] for j in jobs), ["succeeded"] * (len(keys) + 12))
        print("[race] live processed %d, backfill processed %d, backfill duplicates %d, "
              "live duplicates %d" % (by_live, p["eventsProcessed"], p["duplicatesSkipped"],
                                      sum(tally.duplicates.values()) - p["duplicatesSkipped"]))

        # a forced repeat of the exact window processes every event exactly once more
        bid2 = self.backfill("race", jt, T, T + 6 * HOUR_MS, forceReprocess=True)
        join = self.workers([jt], {"race": src}, tally, n=3)
        try:
            b2 = wait_backfill(self.srv, self.tok, bid2, ("completed", "failed"), 30)
        finally:
            self.finish(join, tally)
        self.assertEqual(b2["status"], "completed", b2)
        self.assertExactlyOnce(tally, "race", keys, times=2)
        p = b2["progress"]
        self.assertEqual((p["eventsProcessed"], p["duplicatesSkipped"]), (len(keys), 0))

    def test_overlapping_backfills_and_changed_digests(self):
        jt, jt2, T = "lg.over", "lg.over2", self.T
        self.create_quota(jt)
        self.create_quota(jt2)
        src = FakeSource("over")
        keys = ["o%02d" % i for i in range(24)]
        for i, k in enumerate(keys):
            src.put(k, T + i * 15 * 60000, "v1")  # [T, T+6h)
        tally = Tally()
        # two job types backfill the same source's window at the same time: one ledger
        b1 = self.backfill("over", jt, T, T + 4 * HOUR_MS)
        b2 = self.backfill("over", jt2, T + 2 * HOUR_MS, T + 6 * HOUR_MS)
        join = self.workers([jt, jt2], {"over": src}, tally, n=4)
        try:
            r1 = wait_backfill(self.srv, self.tok, b1, ("completed", "failed"), 30)
            r2 = wait_backfill(self.srv, self.tok, b2, ("completed", "failed"), 30)
        finally:
            self.finish(join, tally)
        self.assertEqual((r1["status"], r2["status"]), ("completed", "completed"))
        self.assertExactlyOnce(tally, "over", keys)
        self.assertEqual(r1["progress"]["eventsProcessed"] + r2["progress"]["eventsProcessed"],
                         len(keys))
        # new content for two events: a later backfill over an overlapping window processes
        # just those (and the unchanged ones stay duplicates)
        src.put("o03", src.get("o03")[0], "v2")
        src.put("o05", src.get("o05")[0], "v2")
        b3 = self.backfill("over", jt, T, T + 3 * HOUR_MS)
        join = self.workers([jt], {"over": src}, tally, n=2)
        try:
            r3 = wait_backfill(self.srv, self.tok, b3, ("completed", "failed"), 30)
        finally:
            self.finish(join, tally)
        self.assertEqual(r3["status"], "completed")
        self.assertEqual((r3["progress"]["eventsProcessed"], r3["progress"]["duplicatesSkipped"]),
                         (2, 10))
        self.assertExactlyOnce(tally, "over", ["o03", "o05"], times=2)
        self.assertExactlyOnce(tally, "over", [k for k in keys if k not in ("o03", "o05")])

    # -- digests --------------------------------------------------------------------------------------
    def test_digest_rules(self):
        jt, T = "lg.digest", self.T
        self.create_quota(jt)
        e1, e2 = T + 1000, T + 2000
        j1 = self.live_job(jt, "dg", "e1", e1)
        self.claimed(j1, [("e1", e1, "d1"), ("e2", e2)], ["e1", "e2"], [])
        self.complete(j1)
        j2 = self.live_job(jt, "dg", "e1", e1)
        # the same digest, or none: duplicate
        self.claimed(j2, [("e1", e1, "d1"), ("e2", e2)], [], ["e1", "e2"])
        self.claimed(j2, [("e1", e1)], [], ["e1"])
        # a digest where the processed entry had none: duplicate, and the digest is kept
        self.claimed(j2, [("e2", e2, "d1")], [], ["e2"])
        # a different digest: new (the content changed)
        self.claimed(j2, [("e1", e1, "d2"), ("e2", e2, "d2")], ["e1", "e2"], [])
        self.complete(j2)
        j3 = self.live_job(jt, "dg", "e1", e1)
        self.claimed(j3, [("e1", e1, "d2"), ("e2", e2, "d2")], [], ["e1", "e2"])
        self.claimed(j3, [("e1", e1, "d1")], ["e1"], [])
        self.complete(j3, "failed")  # given up: e1 stays processed with d2
        j4 = self.live_job(jt, "dg", "e1", e1)
        self.claimed(j4, [("e1", e1, "d2")], [], ["e1"])
        self.claimed(j4, [("e1", e1, "d1")], ["e1"], [])
        self.complete(j4)
        j5 = self.live_job(jt, "dg", "e1", e1)
        self.claimed(j5, [("e1", e1, "d1"), ("e2", e2, "d2")], [], ["e1", "e2"])
        self.complete(j5)

    def test_forced_backfill_claims_processed_events_as_new(self):
        jt, T = "lg.force", self.T
        self.create_quota(jt)
        src = FakeSource("force")
        src.put("x1", T + 5, "d")
        tally = Tally()
        w = BackfillWorker(self.srv, self.work, [jt], {"force": src}, tally)
        try:
            submit_live(self.srv, self.work, jt, "force", "x1", T + 5)
            wait_until("live job", lambda: w.poll() == 0 and tally.processed[("force", "x1")], 10)
        finally:
            w.close()
        normal = self.backfill("force", jt, T, T + HOUR_MS)
        wait_until("batch", lambda: list_jobs_all(self.srv, self.work, jobType=jt,
                                                  status="pending"), 10)
        job = self.lease_one(jt, list_jobs_all(self.srv, self.work, jobType=jt,
                                               status="pending")[0]["jobId"])
        self.assertEqual(job["backfillId"], normal)
        self.claimed(job, [("x1", T + 5, "d")], [], ["x1"])
        self.complete(job)
        wait_backfill(self.srv, self.tok, normal, "completed", 10)
        forced = self.backfill("force", jt, T, T + HOUR_MS, forceReprocess=True)
        wait_until("batch", lambda: list_jobs_all(self.srv, self.work, jobType=jt,
                                                  status="pending"), 10)
        job = self.lease_one(jt, list_jobs_all(self.srv, self.work, jobType=jt,
                                               status="pending")[0]["jobId"])
        self.assertEqual(job["backfillId"], forced)
        self.claimed(job, [("x1", T + 5, "d")], ["x1"], [])
        # a live job meanwhile: the forced claim is in flight, so it is a duplicate there
        lj = self.live_job(jt, "force", "x1", T + 5)
        self.claimed(lj, [("x1", T + 5, "d")], [], ["x1"])
        self.complete(lj)
        self.complete(job)
        b = wait_backfill(self.srv, self.tok, forced, "completed", 10)
        self.assertEqual((b["progress"]["eventsProcessed"], b["progress"]["duplicatesSkipped"]),
                         (1, 0))

    # -- claim rules ----------------------------------------------------------------------------------
    def test_claim_needs_a_live_lease(self):
        jt, T = "lg.lease", self.T
        self.create_quota(jt)
        ev = [("k1", T + 1)]
        # unknown job
        self.assertEnvelope(self.claim(str(uuid.uuid4()), ev, "ls"), 404, "NOT_FOUND")
        # never leased
        pending = submit_live(self.srv, self.work, jt, "ls", "k1", T + 1)
        self.assertEnvelope(self.claim(pending["jobId"], ev, "ls"), 409, "LEASE_LOST")
        # leased, then completed
        j = self.lease_one(jt, pending["jobId"])
        self.claimed(j, ev, ["k1"], [])
        self.complete(j)
        self.assertEnvelope(self.claim(j, ev), 409, "LEASE_LOST")
        # lease expired: the claim is refused and the event's claim is free again
        j2 = self.live_job(jt, "ls", "k2", T + 2, lease_seconds=1)
        self.claimed(j2, [("k2", T + 2)], ["k2"], [])
        other = self.live_job(jt, "ls", "k2", T + 2)
        self.claimed(other, [("k2", T + 2)], [], ["k2"])  # in flight under j2
        # a heartbeat keeps a claim alive with its lease
        j3 = self.live_job(jt, "ls", "k3", T + 3, lease_seconds=1)
        self.claimed(j3, [("k3", T + 3)], ["k3"], [])
        st, _, js = self.srv.api("POST", job_path(j3["jobId"], "heartbeat"), self.work,
                                 body={"leaseId": j3["leaseId"], "extendSeconds": 30})
        self.assertEqual(st, 200, js)
        time.sleep(1.3)
        self.claimed(other, [("k3", T + 3)], [], ["k3"])
        self.complete(j3)
        self.assertEnvelope(self.claim(j2, [("k2", T + 2)]), 409, "LEASE_LOST")
        self.claimed(other, [("k2", T + 2)], ["k2"], [])
        self.claimed(other, [("k2", T + 2)], ["k2"], [])  # claiming again: new again
        self.complete(other)
        st, _, job = self.srv.api("GET", job_path(j2["jobId"]), self.work)
        self.assertEqual((st, job["status"]), (200, "pending"), job)

    def test_in_flight_claims_and_failure(self):
        jt, T = "lg.flight", self.T
        self.create_quota(jt)
        k = {n: T + i * 1000 for i, n in enumerate(("a", "b", "c", "d"))}
        ja = self.live_job(jt, "fl", "a", k["a"])
        self.claimed(ja, [("a", k["a"]), ("b", k["b"])], ["a", "b"], [])
        jb = self.live_job(jt, "fl", "b", k["b"])
        self.claimed(jb, [("a", k["a"]), ("c", k["c"])], ["c"], ["a"])
        # ja fails (not its last attempt): its claims are given up, another job gets them as new
        failed = self.complete(ja, "failed")
        self.assertEqual(failed["status"], "pending")
        jc = self.live_job(jt, "fl", "c", k["c"])
        self.claimed(jc, [("a", k["a"]), ("b", k["b"]), ("c", k["c"])], ["a", "b"], ["c"])
        self.complete(jb)
        self.complete(jc)
        jd = self.live_job(jt, "fl", "d", k["d"])
        self.claimed(jd, [("a", k["a"]), ("b", k["b"]), ("c", k["c"]), ("d", k["d"])],
                     ["d"], ["a", "b", "c"])
        self.complete(jd)

    def test_claim_validation(self):
        jt, T = "lg.val", self.T
        self.create_quota(jt)
        j = self.live_job(jt, "val", "v1", T + 1)
        st, hdrs, js = self.claim(j, [("v1", T + 1), ("v2", T + 2), ("v1", T + 1)])
        self.assertEnvelope((st, hdrs, js), 400, "VALIDATION_FAILED")
        err = self.assertEnvelope(self.claim(j, [("v1", T + 1)], "another-source"), 400,
                                  "VALIDATION_FAILED")
        self.assertEqual(err["details"].get("field"), "sourceId")
        bad = [
            ({"sourceId": "val", "jobId": j["jobId"]}, "events"),
            ({"sourceId": "val", "jobId": j["jobId"], "events": "x"}, "events"),
            ({"jobId": j["jobId"], "events": []}, "sourceId"),
            ({"sourceId": "val", "events": []}, "jobId"),
            ({"sourceId": "val", "jobId": j["jobId"], "events": [{"eventKey": "v1"}]},
             "eventTime"),
            ({"sourceId": "val", "jobId": j["jobId"],
              "events": [{"eventKey": "v1", "eventTime": "soon"}]}, "eventTime"),
            ({"sourceId": "val", "jobId": j["jobId"],
              "events": [{"eventKey": "", "eventTime": format_time_ms(T)}]}, "eventKey"),
            ({"sourceId": "val", "jobId": j["jobId"],
              "events": [{"eventKey": "v1", "eventTime": format_time_ms(T), "digest": 5}]},
             "digest"),
            ({"sourceId": "val", "jobId": j["jobId"], "events": [], "extra": 1}, "extra"),
        ]
        for body, field in bad:
            with self.subTest(body=body):
                st, hdrs, js = self.srv.api("POST", DEDUP_CLAIM, self.work, body=body)
                self.assertEnvelope((st, hdrs, js), 400, "VALIDATION_FAILED")
        # atomic as a whole: a refused claim claims nothing
        st, hdrs, js = self.claim(j, [("v1", T + 1), ("v2", T + 2),
                                      {"eventKey": "v3", "eventTime": "bad"}])
        self.assertEnvelope((st, hdrs, js), 400, "VALIDATION_FAILED")
        other = self.live_job(jt, "val", "v2", T + 2)
        self.claimed(other, [("v1", T + 1), ("v2", T + 2)], ["v1", "v2"], [])
        # a job without a source may claim for any source
        free = submit_job(self.srv, self.work, jt, {"no": "source"})
        free = self.lease_one(jt, free["jobId"])
        self.assertIsNone(free["sourceId"])
        self.claimed(dict(free, sourceId="anything"), [("v9", T + 9)], ["v9"], [])

    def test_claim_size_limit(self):
        jt, T = "lg.big", self.T
        self.create_quota(jt)
        j = self.live_job(jt, "big", "b0", T)
        evs = [{"eventKey": "b%05d" % i, "eventTime": format_time_ms(T + i)}
               for i in range(10001)]
        err = self.assertEnvelope(self.claim(j, evs), 400, "VALIDATION_FAILED")
        self.assertEqual(err["details"].get("field"), "events", err)
        t0 = time.monotonic()
        js = self.claimed(j, evs[:10000], [e["eventKey"] for e in evs[:10000]], [])
        took = time.monotonic() - t0
        self.assertLess(took, 15, "10,000 events took %.1f s" % took)
        other = self.live_job(jt, "big", "b1", T)
        t0 = time.monotonic()
        self.claimed(other, evs[:10000], [], [e["eventKey"] for e in evs[:10000]])
        self.assertLess(time.monotonic() - t0, 15)
        self.complete(j)
        self.complete(other)
        self.assertEqual(len(js["new"]), 10000)


if __name__ == "__main__":
    unittest.main(verbosity=2)
