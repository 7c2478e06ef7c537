"""Issue 11, exactness across nodes: three `jobengine serve` nodes over one PostgreSQL database,
load spread over them round-robin (each request to the next node, as behind a load balancer),
must decide exactly as one node does (domain.md §2 "Decisions are exact under concurrency:
however many workers or nodes lease at once, active never exceeds maxActive and hourCount never
exceeds maxPerHour").

  test_leasers_never_exceed_max_active      48 leasers, maxActive 5: never more than 5 held;
                                            active = live permits + live leases afterwards
  test_acquire_release_never_over_admits    32 threads of acquire/release, maxActive 4
  test_hourly_cap_is_exact                  maxPerHour 25 over 3 nodes: exactly 25 grants
  test_every_job_completes_exactly_once     M jobs, workers on 3 nodes: each completed once
"""

import collections
import threading
import time
import unittest

from cluster import (LEASE, Balancer, Cluster, complete_body, create_quota, lease_body, note,
                     qpath, quota_of)
from harness import (JOBS, ServerTestCase, format_time_ms, hour_start_ms, job_path,
                     job_summary, list_jobs_all, now_ms, run_threads, submit_job)

CLIENTS = [
    ("admin", ["acme"], ["Orch.Admin"]),
    ("worker", ["acme"], ["Orch.Worker"]),
    ("viewer", ["acme"], ["Orch.Viewer"]),
]


def avoid_hour_boundary(margin_s=20):
    """Waits past the next UTC hour when it is less than margin_s away, so that a test counting
    the hourly window sees one window (at most margin_s of waiting, rarely)."""
    left = hour_start_ms(now_ms()) + 3600 * 1000 - now_ms()
    if left < margin_s * 1000:
        time.sleep(left / 1000.0 + 0.2)


class ClusterExactTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.cl = Cluster(CLIENTS, n=3, name="cl-exact").watch_class(cls)
        a, b, c = cls.cl.nodes
        # tokens minted on different nodes, used on all of them
        cls.tok = a.grant("admin", "orch:quota orch:read", quota_reason="cluster exactness")
        cls.work = b.grant("worker", "orch:jobs orch:read")
        cls.reader = c.grant("viewer", "orch:read")

    # -- helpers --------------------------------------------------------------------------------
    def usage(self, qid, node=0):
        return quota_of(self.cl[node], self.reader, qid)["usage"]

    # -- 1 ----------------------------------------------------------------------------------------
    def test_leasers_never_exceed_max_active(self):
        """48 leasers (threads) round-robin over 3 nodes against one quota maxActive=5, each
        leasing, holding ~0.1 s and completing: at no moment do they hold more than 5 leases;
        every job is leased once and completed; usage.active, read from the nodes meanwhile,
        never exceeds 5 (and reaches 5: the slots are all used); at the end
        active equals live permits + live leases: 0 when all is done, 3 with 2 permits (acquired
        on two nodes) and 1 lease (on the third)."""
        cl = self.cl
        n_jobs, n_threads, max_active = 100, 48, 5
        qid = create_quota(cl.a, self.tok, "cx.lease", max_active=max_active,
                           max_per_hour=1000000, burst=10000, refill=1000)["quotaId"]
        ids = set()
        for i in range(n_jobs):  # submitted round-robin too
            ids.add(submit_job(cl[i], self.work, "cx.lease", {"n": i})["jobId"])
        self.assertEqual(self.usage(qid, 1)["pending"], n_jobs)

        lock = threading.Lock()
        held = {}  # jobId -> leaser, while the leaser knows it holds it
        st = {"max_held": 0, "leases": 0, "completed": 0, "empty": 0, "other": [],
              "twice": []}
        per_job = collections.Counter()
        done = threading.Event()
        deadline = time.monotonic() + 60

        def leaser(i):
            lb = Balancer(cl, start=i)
            wid = "leaser-%d" % i
            try:
                while not done.is_set() and time.monotonic() < deadline:
                    code, _, body = lb.request("POST", LEASE, self.work,
                                               body=lease_body("cx.lease", wid, 1, 60))
                    if code != 200:
                        with lock:
                            st["other"].append(("lease", cl.name_of(cl[lb.last]), code, body))
                        done.set()
                        return
                    jobs = body["jobs"]
                    if not jobs:
                        with lock:
                            st["empty"] += 1
                        time.sleep(0.03 + 0.001 * (i % 20))
                        continue
                    j = jobs[0]
                    with lock:  # counted AFTER the grant was answered
                        if j["jobId"] in held:
                            st["twice"].append((j["jobId"], held[j["jobId"]], wid))
                        held[j["jobId"]] = wid
                        per_job[j["jobId"]] += 1
                        st["leases"] += 1
                        st["max_held"] = max(st["max_held"], len(held))
                    time.sleep(0.1 + 0.005 * (i % 10))  # hold it briefly
                    with lock:  # forgotten BEFORE the complete is sent
                        del held[j["jobId"]]
                    code, _, b2 = lb.request("POST", job_path(j["jobId"], "complete"), self.work,
                                             body=complete_body(j["leaseId"]))
                    with lock:
                        if code == 200 and b2.get("status") == "succeeded":
                            st["completed"] += 1
                            if st["completed"] >= n_jobs:
                                done.set()
                        else:
                            st["other"].append(("complete", cl.name_of(cl[lb.last]), code, b2))
                            done.set()
            finally:
                lb.close()

        mon = {"reads": 0, "max_active": 0, "bad": []}

        def monitor():
            lb = Balancer(cl)
            try:
                while not done.is_set() and time.monotonic() < deadline:
                    code, _, q = lb.request("GET", qpath(qid), self.reader)
                    if code == 200:
                        mon["reads"] += 1
                        mon["max_active"] = max(mon["max_active"], q["usage"]["active"])
                    else:
                        mon["bad"].append((code, q))
                    time.sleep(0.01)
            finally:
                lb.close()

        hour0 = hour_start_ms(now_ms())
        m = threading.Thread(target=monitor, daemon=True)
        m.start()
        t0 = time.monotonic()
        errors = run_threads(n_threads, leaser, 90)
        elapsed = time.monotonic() - t0
        done.set()
        m.join(10)
        self.assertEqual(errors, [], "thread errors: %r" % errors[:3])
        self.assertEqual(st["other"], [], "unexpected answers: %r" % st["other"][:5])
        self.assertEqual(st["twice"], [], "a job held by two leasers at once")
        self.assertLessEqual(st["max_held"], max_active,
                             "%d leases held at once on a quota of maxActive %d"
                             % (st["max_held"], max_active))
        self.assertGreaterEqual(st["max_held"], 3, "the leasers overlap: %r" % st)
        self.assertEqual(st["completed"], n_jobs, "not all completed in time: %r" % st)
        self.assertEqual(set(per_job), ids)
        self.assertEqual([k for k, v in per_job.items() if v != 1], [],
                         "each job leased exactly once")
        self.assertEqual(mon["bad"], [])
        self.assertGreater(mon["reads"], 0)
        self.assertLessEqual(mon["max_active"], max_active, "usage.active above maxActive")
        self.assertEqual(mon["max_active"], max_active, "48 leasers on 5 slots fill all 5: %r %r"
                         % (st, mon))
        self.assertGreater(st["empty"], 0, "some lease calls found every slot taken")
        for k in range(3):  # every node tells the same
            u = self.usage(qid, k)
            self.assertEqual((u["active"], u["pending"]), (0, 0), "node %d: %r" % (k, u))
            if hour_start_ms(now_ms()) == hour0:
                self.assertEqual(u["hourCount"], n_jobs, "every lease counted once")
        self.assertEqual(job_summary(cl.c, self.work)["cx.lease"],
                         {"jobType": "cx.lease", "pending": 0, "leased": 0,
                          "succeeded": n_jobs, "failed": 0, "canceled": 0, "total": n_jobs})
        # active = live permits + live leases, whichever node granted them
        g1 = self.acquired(cl.a, qid)
        g2 = self.acquired(cl.b, qid)
        jid = submit_job(cl.c, self.work, "cx.lease", {"n": "last"})["jobId"]
        code, _, body = cl.c.api("POST", LEASE, self.work, body=lease_body("cx.lease", "w-last"))
        self.assertEqual((code, len(body["jobs"])), (200, 1), body)
        for k in range(3):
            self.assertEqual(self.usage(qid, k)["active"], 3, "2 permits + 1 lease")
        self.assertEqual(cl.c.api("POST", qpath(qid, "release"), self.work,
                                  body={"permitId": g1["permitId"]})[0], 204)
        self.assertEqual(self.usage(qid, 1)["active"], 2)
        self.assertEqual(cl.a.api("POST", qpath(qid, "release"), self.work,
                                  body={"permitId": g2["permitId"]})[0], 204)
        code, _, j = cl.b.api("POST", job_path(jid, "complete"), self.work,
                              body=complete_body(body["jobs"][0]["leaseId"]))
        self.assertEqual(code, 200, j)
        for k in range(3):
            self.assertEqual(self.usage(qid, k)["active"], 0)
        note("48 leasers: %d jobs, %d leases, max held %d, %d empty lease calls, max server "
             "active %d (%d reads), %.1f s" % (n_jobs, st["leases"], st["max_held"], st["empty"],
                                               mon["max_active"], mon["reads"], elapsed))

    def acquired(self, node, qid, **body):
        code, _, g = node.api("POST", qpath(qid, "acquire"), self.work, body=body)
        self.assertEqual(code, 200, g)
        return g

    # -- 2 ----------------------------------------------------------------------------------------
    def test_acquire_release_never_over_admits(self):
        """32 threads acquire, hold ~50 ms and release, round-robin over 3 nodes, maxActive 4:
        never more than 4 permits held at once; usage.active read meanwhile never above 4 (and
        reaching 4: all slots are used); every grant is released;
        usage agrees on every node (active 0, hourCount = grants, throttled = denials)."""
        cl = self.cl
        max_active, n_threads, per_thread = 4, 32, 12
        avoid_hour_boundary()
        qid = create_quota(cl.b, self.tok, "cx.permit", max_active=max_active,
                           max_per_hour=1000000, burst=10000, refill=1000)["quotaId"]
        hour0 = hour_start_ms(now_ms())
        lock = threading.Lock()
        s = {"held": 0, "max_held": 0, "granted": 0, "denied": 0, "released": 0, "other": [],
             "remaining_bad": []}

        def worker(i):
            lb = Balancer(cl, start=i)
            try:
                for _ in range(per_thread):
                    code, hdrs, g = lb.request("POST", qpath(qid, "acquire"), self.work,
                                               body={"ttlSeconds": 120})
                    if code == 429:
                        with lock:
                            s["denied"] += 1
                        time.sleep(0.002 * (i % 5))
                        continue
                    if code != 200:
                        with lock:
                            s["other"].append(("acquire", code, g))
                        return
                    with lock:
                        s["granted"] += 1
                        s["held"] += 1
                        s["max_held"] = max(s["max_held"], s["held"])
                        rem = hdrs.get("X-RateLimit-Remaining")
                        if rem is None or not 0 <= int(rem) < max_active:
                            s["remaining_bad"].append(rem)
                    time.sleep(0.05 + 0.005 * (i % 4))
                    with lock:  # decremented BEFORE the release is sent
                        s["held"] -= 1
                    code, _, b = lb.request("POST", qpath(qid, "release"), self.work,
                                            body={"permitId": g["permitId"]})
                    with lock:
                        if code == 204:
                            s["released"] += 1
                        else:
                            s["other"].append(("release", code, b))
            finally:
                lb.close()

        mon = {"reads": 0, "max_active": 0, "bad": []}
        done = threading.Event()

        def monitor():
            lb = Balancer(cl)
            try:
                while not done.is_set():
                    code, _, q = lb.request("GET", qpath(qid), self.reader)
                    if code == 200:
                        mon["reads"] += 1
                        mon["max_active"] = max(mon["max_active"], q["usage"]["active"])
                    else:
                        mon["bad"].append((code, q))
                    time.sleep(0.01)
            finally:
                lb.close()

        m = threading.Thread(target=monitor, daemon=True)
        m.start()
        errors = run_threads(n_threads, worker, 90)
        done.set()
        m.join(10)
        self.assertEqual(errors, [], "thread errors: %r" % errors[:3])
        self.assertEqual(s["other"], [], "unexpected answers: %r" % s["other"][:5])
        self.assertLessEqual(s["max_held"], max_active,
                             "%d permits held at once on maxActive %d" % (s["max_held"],
                                                                          max_active))
        self.assertGreaterEqual(s["max_held"], 2, "the threads overlap: %r" % s)
        self.assertEqual(mon["bad"], [])
        self.assertLessEqual(mon["max_active"], max_active, "usage.active above maxActive")
        self.assertEqual(mon["max_active"], max_active,
                         "32 threads on 4 slots use all 4: %r %r" % (s, mon))
        self.assertEqual(s["granted"] + s["denied"], n_threads * per_thread)
        self.assertGreater(s["denied"], 0, s)
        self.assertEqual(s["released"], s["granted"])
        self.assertEqual(s["remaining_bad"], [])
        for k in range(3):
            u = self.usage(qid, k)
            self.assertEqual(u["active"], 0, "node %d: %r" % (k, u))
            if hour_start_ms(now_ms()) == hour0:
                self.assertEqual((u["hourCount"], u["throttled"]), (s["granted"], s["denied"]),
                                 "node %d: every grant and every denial counted once" % k)
        note("acquire/release: %d granted, %d denied, max held %d, max server active %d (%d "
             "reads)" % (s["granted"], s["denied"], s["max_held"], mon["max_active"],
                         mon["reads"]))

    def test_hourly_cap_is_exact(self):
        """maxPerHour 25, 32 threads x 3 acquires round-robin over 3 nodes: exactly 25 grants,
        71 denials (429 QUOTA_EXHAUSTED whose nextEligibleAt is the start of the next UTC hour);
        usage hourCount 25, active 25, throttled 71 on every node."""
        cl = self.cl
        cap, n_threads, per_thread = 25, 32, 3
        avoid_hour_boundary()
        qid = create_quota(cl.c, self.tok, "cx.hour", max_active=1000, max_per_hour=cap,
                           burst=1000, refill=1000)["quotaId"]
        hour0 = hour_start_ms(now_ms())
        lock = threading.Lock()
        s = {"granted": [], "denied": 0, "next": set(), "other": []}

        def worker(i):
            lb = Balancer(cl, start=i)
            try:
                for _ in range(per_thread):
                    code, _, g = lb.request("POST", qpath(qid, "acquire"), self.work,
                                            body={"ttlSeconds": 600})
                    with lock:
                        if code == 200:
                            s["granted"].append(g["permitId"])
                        elif code == 429 and g["error"]["code"] == "QUOTA_EXHAUSTED":
                            s["denied"] += 1
                            s["next"].add(g["error"]["details"].get("nextEligibleAt"))
                        else:
                            s["other"].append((code, g))
            finally:
                lb.close()

        errors = run_threads(n_threads, worker, 90)
        self.assertEqual(errors, [], "thread errors: %r" % errors[:3])
        self.assertEqual(s["other"], [], "unexpected answers: %r" % s["other"][:5])
        if hour_start_ms(now_ms()) != hour0:
            self.skipTest("a UTC hour boundary passed during the test")
        self.assertEqual(len(s["granted"]), cap, "exactly maxPerHour grants in the hour")
        self.assertEqual(len(set(s["granted"])), cap, "distinct permits")
        self.assertEqual(s["denied"], n_threads * per_thread - cap)
        self.assertEqual(s["next"], {format_time_ms(hour0 + 3600 * 1000)},
                         "an hour-cap denial is eligible again at the next UTC hour")
        for k in range(3):
            u = self.usage(qid, k)
            self.assertEqual((u["hourCount"], u["active"], u["throttled"]),
                             (cap, cap, n_threads * per_thread - cap), "node %d: %r" % (k, u))

    # -- 3 ----------------------------------------------------------------------------------------
    def test_every_job_completes_exactly_once(self):
        """M = 180 jobs submitted round-robin over 3 nodes; 12 workers lease (max 1-3) and
        complete round-robin (a job leased on one node is completed on the next): every job is
        completed exactly once, none twice, none left; each was leased once (attempt 1)."""
        cl = self.cl
        n_jobs, n_workers = 180, 12
        lock = threading.Lock()
        submitted = []

        def submitter(i):
            lb = Balancer(cl, start=i)
            try:
                for k in range(i, n_jobs, 6):
                    code, _, j = lb.request("POST", JOBS, self.work,
                                            body={"jobType": "cx.once", "payload": {"k": k}})
                    if code != 201:
                        raise AssertionError("submit answered %s: %r" % (code, j))
                    with lock:
                        submitted.append(j["jobId"])
            finally:
                lb.close()

        self.assertEqual(run_threads(6, submitter, 60), [])
        ids = set(submitted)
        self.assertEqual(len(ids), n_jobs)
        leased, completed = collections.Counter(), collections.Counter()
        other = []
        idle = {"n": 0}
        stop = threading.Event()
        deadline = time.monotonic() + 60

        def worker(i):
            lb = Balancer(cl, start=i)
            try:
                while not stop.is_set() and time.monotonic() < deadline:
                    code, _, body = lb.request("POST", LEASE, self.work,
                                               body=lease_body("cx.once", "w-%d" % i,
                                                               1 + i % 3, 60))
                    if code != 200:
                        with lock:
                            other.append(("lease", code, body))
                        return
                    if not body["jobs"]:
                        with lock:
                            idle["n"] += 1
                            if sum(completed.values()) >= n_jobs:
                                stop.set()
                        time.sleep(0.02)
                        continue
                    for j in body["jobs"]:
                        with lock:
                            leased[j["jobId"]] += 1
                        code, _, b = lb.request("POST", job_path(j["jobId"], "complete"),
                                                self.work, body=complete_body(j["leaseId"]))
                        with lock:
                            if code == 200:
                                completed[j["jobId"]] += 1
                            else:
                                other.append(("complete", code, b))
            finally:
                lb.close()

        errors = run_threads(n_workers, worker, 90)
        self.assertEqual(errors, [], "thread errors: %r" % errors[:3])
        self.assertEqual(other, [], "unexpected answers: %r" % other[:5])
        self.assertEqual(set(completed), ids, "every job completed")
        self.assertEqual({k: v for k, v in completed.items() if v != 1}, {},
                         "no job completed twice")
        self.assertEqual({k: v for k, v in leased.items() if v != 1}, {},
                         "no job leased twice")
        every = list_jobs_all(cl.b, self.work, jobType="cx.once")
        self.assertEqual({j["jobId"] for j in every}, ids)
        self.assertEqual([j["jobId"] for j in every
                          if (j["status"], j["attempt"], j["leaseId"]) != ("succeeded", 1, None)],
                         [], "each job succeeded on its first attempt")
        for k in range(3):
            self.assertEqual(job_summary(cl[k], self.work)["cx.once"],
                             {"jobType": "cx.once", "pending": 0, "leased": 0,
                              "succeeded": n_jobs, "failed": 0, "canceled": 0, "total": n_jobs})
        code, _, body = cl.a.api("POST", LEASE, self.work, body=lease_body("cx.once", "w", 100))
        self.assertEqual((code, body), (200, {"jobs": []}), "none left")

    def test_zz_clean_shutdown(self):
        """Last: SIGTERM ends every node with exit 0 and no sanitizer report."""
        for s in self.cl:
            rc = s.stop()
            log = s.log_text()
            self.assertNotIn("Sanitizer", log, log[-4000:])
            self.assertNotIn("runtime error", log, log[-4000:])
            self.assertEqual(rc, 0, log[-4000:])


if __name__ == "__main__":
    unittest.main()
