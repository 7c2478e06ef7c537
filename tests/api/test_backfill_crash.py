"""Black-box crash tests of backfills (domain.md §4, §5; docs/api.md "Backfills and the ledger":
each batch is submitted exactly once, the counter and the job in one transaction): the server is
SIGKILLed mid-backfill, with some batches done, some leased, a claim in flight and workers
running, and restarted; the backfill goes on and completes, every batch exactly once, every event
of the window processed exactly once. And a worker that dies holding a batch: its lease expires,
the batch is leased again and completed, still exactly once."""

import threading
import unittest

from harness import (BACKFILLS, DAY_MS, HOUR_MS, BackfillWorker, FakeSource, ServerTestCase,
                     Tally, backfill_body, backfill_path, get_backfill, hour_start_ms,
                     list_jobs_all, now_ms, parse_time_ms, quota_body, run_workers, submit_live,
                     wait_backfill, wait_until)
from invariants import assert_chain_valid, batch_problems, exactly_once_problems

CLIENTS = [
    ("admin", ["acme"], ["Orch.Admin"]),
    ("worker", ["acme"], ["Orch.Worker"]),
]
Q = "/jobengine/quotas"
REASON = "replay after outage"


class BackfillCrashTest(ServerTestCase):
    def setUp(self):
        super().setUp()
        self.srv = self.new_server(CLIENTS, name="backfill-crash")
        self.grant_tokens()
        self.T = hour_start_ms(now_ms()) - 2 * DAY_MS

    def grant_tokens(self):
        self.tok = self.srv.grant("admin", "orch:quota orch:backfill", quota_reason="crash tests",
                                  backfill_reason=REASON, backfill_ticket="INC-7")
        self.work = self.srv.grant("worker", "orch:jobs orch:read")

    def create_quota(self, job_type, max_active=10):
        st, _, body = self.srv.api("POST", Q, self.tok,
                                   body=quota_body(job_type, max_active=max_active,
                                                   max_per_hour=100000, burst=1000, refill=100))
        self.assertEqual(st, 201, body)

    def start_backfill(self, source_id, job_type, start, end):
        st, _, b = self.srv.api("POST", BACKFILLS, self.tok,
                                body=backfill_body(source_id, job_type, start, end))
        self.assertEqual(st, 201, b)
        st, _, s = self.srv.api("POST", backfill_path(b["backfillId"], "start"), self.tok, body={})
        self.assertEqual(st, 200, s)
        return b

    def source(self, name, batches, per_batch):
        src, keys = FakeSource(name), []
        for h in range(batches):
            for i in range(per_batch):
                keys.append("%s-%02d-%d" % (name, h, i))
                src.put(keys[-1], self.T + h * HOUR_MS + i * (HOUR_MS // per_batch), "d")
        return src, keys

    def assertExactlyOnce(self, tally, source, keys):
        self.assertEqual(exactly_once_problems(tally, source, keys), {},
                         "events not processed exactly once")

    def assertBatchesOnce(self, bid, job_type, n, tally):
        """Exactly one job per batch number 0..n-1, each succeeded, each completed once by the
        workers, with the windows of domain.md §3."""
        jobs = [j for j in list_jobs_all(self.srv, self.work, jobType=job_type)
                if j.get("backfillId") == bid]
        b = get_backfill(self.srv, self.tok, bid)
        self.assertEqual(b["plan"]["batches"], n, b)
        self.assertEqual(batch_problems(jobs, b, tally), [])
        return jobs

    # -- 4. the server killed mid-backfill --------------------------------------------------------
    def test_server_killed_mid_backfill(self):
        jt, N = "cr.kill", 10
        self.create_quota(jt)
        src, keys = self.source("crs", N, 5)
        tally = Tally()
        sources = {"crs": src}
        # three events were processed live before: the backfill must skip them
        pre = [keys[1], keys[12], keys[33]]
        w = BackfillWorker(self.srv, self.work, [jt], sources, tally, "pre", max_jobs=5)
        for k in pre:
            submit_live(self.srv, self.work, jt, "crs", k, src.get(k)[0])
        wait_until("live jobs", lambda: w.poll() == 0 and len(tally.job_done) == 3, 15)
        w.close()

        bid = self.start_backfill("crs", jt, self.T, self.T + N * HOUR_MS)["backfillId"]
        wait_until("4 batches submitted", lambda: get_backfill(
            self.srv, self.tok, bid)["progress"]["batchesSubmitted"] == 4, 15)
        w = BackfillWorker(self.srv, self.work, [jt], sources, tally, "w-a", max_jobs=4,
                           lease_seconds=60, tolerate_down=30)
        held = w.lease()
        self.assertEqual(len(held), 4)
        self.assertTrue(w.work(held[0]) and w.work(held[1]))
        # the third has claimed its events (in flight), the fourth nothing yet
        st, js = w.claim(held[2], w.events_of(held[2]))
        self.assertEqual(st, 200, js)
        wait_until("2 more submitted", lambda: get_backfill(
            self.srv, self.tok, bid)["progress"]["batchesSubmitted"] == 6, 15)

        self.srv.restart(kill=True)
        b = get_backfill(self.srv, self.tok, bid)
        self.assertEqual(b["status"], "running")
        self.assertEqual((b["progress"]["batchesDone"], b["progress"]["batchesSubmitted"]), (2, 6))
        by_status = {}
        for j in list_jobs_all(self.srv, self.work, jobType=jt):
            if j.get("backfillId") == bid:
                by_status.setdefault(j["status"], []).append(j["jobId"])
        self.assertEqual({k: len(v) for k, v in by_status.items()},
                         {"succeeded": 2, "leased": 2, "pending": 2})
        # the leases held across the crash are still good: the claim in flight is kept
        for k in w.events_of(held[2]):
            if k not in pre:
                job = submit_live(self.srv, self.work, "cr.probe", "crs", k, src.get(k)[0])
                break
        probe = BackfillWorker(self.srv, self.work, ["cr.probe"], sources, Tally(), "probe")
        pj = probe.lease()
        self.assertEqual([j["jobId"] for j in pj], [job["jobId"]])
        st, js = probe.claim(pj[0], [k])
        self.assertEqual((st, js), (200, {"new": [], "duplicates": [k]}),
                         "the claim made before the crash is still in flight")
        self.assertTrue(probe.complete(pj[0]))
        probe.close()
        self.assertTrue(w.work(held[2]), "a lease from before the crash completes")
        self.assertTrue(w.work(held[3]))
        w.close()

        # workers run while the server is killed once more
        stop = threading.Event()
        join = run_workers(lambda i: BackfillWorker(self.srv, self.work, [jt], sources, tally,
                                                    "w-%d" % i, lease_seconds=4,
                                                    tolerate_down=30), 3, stop)
        try:
            wait_until("7 batches done", lambda: get_backfill(
                self.srv, self.tok, bid)["progress"]["batchesDone"] >= 7, 20)
            self.srv.restart(kill=True)
            b = wait_backfill(self.srv, self.tok, bid, ("completed", "failed"), 30)
        finally:
            errors = join()
        self.assertEqual(errors, [])
        self.assertEqual(tally.problems, [])
        self.assertEqual(b["status"], "completed", b)
        self.assertBatchesOnce(bid, jt, N, tally)
        self.assertExactlyOnce(tally, "crs", keys)
        p = b["progress"]
        self.assertEqual((p["batchesSubmitted"], p["batchesDone"], p["eventsProcessed"],
                          p["eventsFailed"]), (N, N, len(keys) - len(pre), 0))
        self.assertGreaterEqual(p["duplicatesSkipped"], len(pre))
        entries = self.srv.audit_all(self.tok, resourceId=bid)
        self.assertEqual([e["eventType"] for e in entries],
                         ["backfill.created", "backfill.started", "backfill.completed"])
        assert_chain_valid(self.srv, self.tok)

    # -- 4. a worker killed mid-batch -------------------------------------------------------------
    def test_worker_killed_mid_batch(self):
        jt, N = "cr.worker", 4
        self.create_quota(jt)
        src, keys = self.source("crw", N, 4)
        sources = {"crw": src}
        tally = Tally()
        bid = self.start_backfill("crw", jt, self.T, self.T + N * HOUR_MS)["backfillId"]
        wait_until("batches submitted", lambda: get_backfill(
            self.srv, self.tok, bid)["progress"]["batchesSubmitted"] == N, 15)
        # the dying worker: leases one batch for 2 s, claims its events, and is never heard of
        dying = BackfillWorker(self.srv, self.work, [jt], sources, tally, "dying",
                               lease_seconds=2, on_claimed=lambda job, new: False)
        lost = dying.lease()
        self.assertEqual(len(lost), 1)
        self.assertFalse(dying.work(lost[0]))
        dying.close()
        lost_keys = src.keys_in(parse_time_ms(lost[0]["windowStart"]),
                                parse_time_ms(lost[0]["windowEnd"]))
        self.assertEqual(len(lost_keys), 4)
        # while its lease lives, its events are in flight: a live job for one is a duplicate
        lj = submit_live(self.srv, self.work, "cr.live", "crw", lost_keys[0],
                         src.get(lost_keys[0])[0])
        live = BackfillWorker(self.srv, self.work, ["cr.live"], sources, tally, "live")
        self.assertEqual(live.poll(), 1)
        live.close()
        self.assertEqual(tally.job_done[lj["jobId"]], 1)
        self.assertEqual(tally.processed[("crw", lost_keys[0])], 0)
        self.assertEqual(tally.duplicates[("crw", lost_keys[0])], 1)

        stop = threading.Event()
        join = run_workers(lambda i: BackfillWorker(self.srv, self.work, [jt], sources, tally,
                                                    "w-%d" % i), 2, stop)
        try:
            b = wait_backfill(self.srv, self.tok, bid, ("completed", "failed"), 30)
        finally:
            errors = join()
        self.assertEqual(errors, [])
        self.assertEqual(tally.problems, [])
        self.assertEqual(b["status"], "completed", b)
        jobs = self.assertBatchesOnce(bid, jt, N, tally)
        again = [j for j in jobs if j["jobId"] == lost[0]["jobId"]][0]
        self.assertEqual(again["attempt"], 2, "the batch was leased again after the expiry")
        self.assertEqual([j["attempt"] for j in tally.leased if j["jobId"] == again["jobId"]],
                         [1, 2])
        self.assertExactlyOnce(tally, "crw", keys)
        p = b["progress"]
        self.assertEqual((p["batchesDone"], p["eventsProcessed"], p["eventsFailed"]),
                         (N, len(keys), 0))


if __name__ == "__main__":
    unittest.main(verbosity=2)
