"""Leasing survives SIGKILL (domain.md §2: "A decision and the lease or permit it grants are
stored in one transaction, durably, before the caller hears of them"; api.md §3.4 expiry).

8 workers lease and complete for about 1.5 s, then the server is killed with SIGKILL and started
again on the same store, twice. After each restart: every job is in exactly one state, the
quota's usage.active is exactly the leases held plus the live permit, nothing acknowledged was
lost (a 200 complete stays succeeded, a 200 lease is still held with that leaseId, or was
completed, or expired). Then, once the leases expired, every remaining job is leased and
completed, and the jobs of a worker that vanished mid-job are leased again: no job is lost."""

import random
import threading
import time
import unittest

from harness import (JOBS, KeepAlive, ServerTestCase, job_path, job_summary, list_jobs_all,
                     now_ms, parse_time_ms, quota_body, submit_many)
from invariants import completion_problems, lease_problems, stable_accounting

CLIENTS = [
    ("admin", ["acme"], ["Orch.Admin"]),
    ("worker", ["acme"], ["Orch.Worker"]),
]
Q = "/jobengine/quotas"
LEASE = JOBS + "/lease"
JT = "crash.a"
MAX_ACTIVE = 6
LEASE_S = 2


class LeasingCrashTest(ServerTestCase):
    def setUp(self):
        super().setUp()
        self.srv = self.new_server(CLIENTS, name="leasing-crash")
        self.tok = self.srv.grant("admin", "orch:quota orch:read", quota_reason="crash tests")
        self.work = self.srv.grant("worker", "orch:jobs orch:read")

    # -- helpers ----------------------------------------------------------------------------------
    def usage(self):
        return self.srv.get_json(Q + "/" + self.qid, self.tok)["usage"]

    def jobs_by_id(self):
        return {j["jobId"]: j for j in list_jobs_all(self.srv, self.work, jobType=JT)}

    def storm(self, seconds, stop_after):
        """8 workers lease (max 1-2, leaseSeconds 2) and complete 'succeeded' until SIGKILL; a
        ghost worker leases and never completes. Returns (acked leases, acked completes,
        ghost leases, errors)."""
        srv = self.srv
        lock = threading.Lock()
        leases, completes, ghosts, errors = [], [], [], []
        counts = {"completed": 0}
        stop = threading.Event()

        def worker(i):
            c = KeepAlive(srv.url, timeout=10)
            rnd = random.Random(i)
            try:
                while not stop.is_set():
                    st, _, body = c.request("POST", LEASE, self.work,
                                            body={"jobTypes": [JT], "workerId": "w-%d" % i,
                                                  "max": 1 + i % 2, "leaseSeconds": LEASE_S})
                    if st != 200:
                        with lock:
                            errors.append(("lease", st, body))
                        return
                    got = body["jobs"]
                    with lock:
                        leases.extend(got)
                    if not got:
                        time.sleep(0.005)
                        continue
                    time.sleep(rnd.uniform(0.005, 0.03))  # the work
                    for j in got:
                        st, _, b = c.request("POST", job_path(j["jobId"], "complete"),
                                             self.work, body={"leaseId": j["leaseId"],
                                                              "status": "succeeded"})
                        with lock:
                            if st == 200 and b.get("status") == "succeeded":
                                completes.append(j)
                                counts["completed"] += 1
                            elif not (st == 409 and now_ms() >= parse_time_ms(j["leaseUntil"])):
                                errors.append(("complete", st, b))
            except Exception as e:  # the kill: connection refused or reset
                if not stop.is_set():
                    with lock:
                        errors.append(("exception before the kill", repr(e)))
            finally:
                c.close()

        threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(8)]
        for t in threads:
            t.start()
        t0 = time.monotonic()
        ghost_done = False
        # until `seconds` passed (or stop_after jobs were completed), and at least a few jobs
        # were completed and the ghost holds a lease (the slots may still be held by leases from
        # before the previous kill, for up to LEASE_S)
        while time.monotonic() - t0 < seconds + 8:
            elapsed = time.monotonic() - t0
            if ghost_done and counts["completed"] >= 30 and \
                    (elapsed >= seconds or counts["completed"] >= stop_after):
                break
            if not ghost_done and time.monotonic() - t0 > seconds * 0.6:
                # a worker that leases and then vanishes (never completes)
                st, _, body = srv.api("POST", LEASE, self.work,
                                      body={"jobTypes": [JT], "workerId": "ghost", "max": 2,
                                            "leaseSeconds": LEASE_S})
                self.assertEqual(st, 200, body)
                ghosts.extend(body["jobs"])
                with lock:
                    leases.extend(body["jobs"])
                ghost_done = bool(body["jobs"])  # else: every slot was taken, try again
                continue
            time.sleep(0.01)
        stop.set()
        srv.kill9()
        for t in threads:
            t.join(15)
        self.assertFalse(any(t.is_alive() for t in threads), "workers still running")
        return leases, completes, ghosts, errors

    def check_after_restart(self, ids, leases, completes, permits):
        """Every job in exactly one state; acknowledged work kept; accounting exact."""
        s = job_summary(self.srv, self.work)[JT]
        self.assertEqual(sum(s[k] for k in ("pending", "leased", "succeeded", "failed",
                                            "canceled")), len(ids), s)
        self.assertEqual(s["total"], len(ids), s)
        self.assertEqual((s["failed"], s["canceled"]), (0, 0), s)
        jobs = self.jobs_by_id()
        self.assertEqual(set(jobs.keys()), ids, "a job was lost or invented")
        self.assertEqual(s["succeeded"], sum(1 for j in jobs.values()
                                             if j["status"] == "succeeded"))
        self.assertEqual(completion_problems(jobs, completes), [])
        self.assertEqual(lease_problems(jobs, leases, {c["leaseId"] for c in completes}), [])
        leased, _ = stable_accounting(self.srv, self.work, self.qid, [JT], permits)
        self.assertLessEqual(len(leased) + permits, MAX_ACTIVE)
        return leased

    # -- the test -----------------------------------------------------------------------------------
    def test_sigkill_during_a_leasing_storm(self):
        srv = self.srv
        st, _, q = srv.api("POST", Q, self.tok,
                           body=quota_body(JT, max_active=MAX_ACTIVE, max_per_hour=1000000,
                                           burst=10000, refill=1000))
        self.assertEqual(st, 201, q)
        self.qid = q["quotaId"]
        # a live permit held by an external scheduler through all of it
        st, _, permit = srv.api("POST", Q + "/" + self.qid + "/acquire", self.work,
                                body={"ttlSeconds": 600})
        self.assertEqual(st, 200, permit)
        n = 600
        ids = set(submit_many(srv, self.work, JT, n))
        self.assertEqual(len(ids), n)
        all_leases, all_completes, all_ghosts, held = [], [], [], []
        for rnd in range(2):
            leases, completes, ghosts, errors = self.storm(1.5, n // 4)
            self.assertEqual(errors, [], "round %d: %r" % (rnd, errors[:5]))
            self.assertGreater(len(completes), 0, "round %d: nothing completed" % rnd)
            self.assertTrue(ghosts, "round %d: the ghost worker leased nothing" % rnd)
            all_leases += leases
            all_completes += completes
            all_ghosts += ghosts
            srv.restart()  # the process is dead already: starts it on the same port and store
            held.append(len(self.check_after_restart(ids, all_leases, all_completes, permits=1)))
        self.assertLess(len(all_completes), n, "the storms were to be cut short")
        # every lease runs out (leaseSeconds 2) and is swept (at least once a second)
        jobs = self.jobs_by_id()
        last = max([parse_time_ms(j["leaseUntil"]) for j in jobs.values()
                    if j["status"] == "leased"] + [now_ms()])
        time.sleep(max(0, last - now_ms()) / 1000.0 + 1.3)
        self.assertEqual(list_jobs_all(srv, self.work, status="leased", jobType=JT), [])
        self.assertEqual(self.usage()["active"], 1, "only the permit holds a slot")
        for g in all_ghosts:
            j = srv.get_json(job_path(g["jobId"]), self.work)
            if j["attempt"] == g["attempt"]:
                self.assertEqual((j["status"], j["leaseId"]), ("pending", None),
                                 "a vanished worker's job returns to pending: %r" % j)
        # every remaining job can be leased and completed
        c = KeepAlive(srv.url)
        relased = {}
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                st, _, body = c.request("POST", LEASE, self.work,
                                        body={"jobTypes": [JT], "workerId": "drain",
                                              "max": MAX_ACTIVE, "leaseSeconds": 30})
                self.assertEqual(st, 200, body)
                if not body["jobs"]:
                    break
                self.assertLessEqual(len(body["jobs"]), MAX_ACTIVE - 1, "the permit holds one")
                for j in body["jobs"]:
                    relased[j["jobId"]] = j["attempt"]
                    st, _, b = c.request("POST", job_path(j["jobId"], "complete"), self.work,
                                         body={"leaseId": j["leaseId"], "status": "succeeded"})
                    self.assertEqual(st, 200, b)
        finally:
            c.close()
        s = job_summary(srv, self.work)[JT]
        self.assertEqual(s, {"jobType": JT, "pending": 0, "leased": 0, "succeeded": n,
                             "failed": 0, "canceled": 0, "total": n}, "no job lost")
        done_before = {x["jobId"] for x in all_completes}
        self.assertEqual(done_before & set(relased), set(), "a completed job was leased again")
        for g in all_ghosts:
            if g["jobId"] not in done_before:
                self.assertIn(g["jobId"], relased, "the ghost's job was leased again")
                self.assertGreater(relased[g["jobId"]], g["attempt"])
        self.assertEqual(self.usage()["active"], 1)
        st, _, _ = srv.api("POST", Q + "/" + self.qid + "/release", self.work,
                           body={"permitId": permit["permitId"]})
        self.assertEqual(st, 204)
        self.assertEqual(self.usage()["active"], 0)
        print("\n[crash] %d jobs, %d acknowledged leases, %d acknowledged completes before the "
              "kills, leases held after the restarts %r, %d leased after"
              % (n, len(all_leases), len(all_completes), held, len(relased)))

    def test_acknowledged_heartbeat_and_backoff_survive_sigkill(self):
        srv = self.srv
        st, _, q = srv.api("POST", Q, self.tok, body=quota_body(JT, max_active=3, burst=100,
                                                                refill=100))
        self.assertEqual(st, 201, q)
        self.qid = q["quotaId"]
        ids = submit_many(srv, self.work, JT, 3, threads=1)
        st, _, body = srv.api("POST", LEASE, self.work,
                              body={"jobTypes": [JT], "workerId": "w", "max": 3,
                                    "leaseSeconds": 3})
        self.assertEqual((st, len(body["jobs"])), (200, 3), body)
        a, b, c = body["jobs"]
        st, _, hb = srv.api("POST", job_path(a["jobId"], "heartbeat"), self.work,
                            body={"leaseId": a["leaseId"], "extendSeconds": 120})
        self.assertEqual(st, 200, hb)
        st, _, failed = srv.api("POST", job_path(b["jobId"], "complete"), self.work,
                                body={"leaseId": b["leaseId"], "status": "failed",
                                      "error": "boom"})
        self.assertEqual((st, failed["status"]), (200, "pending"), failed)
        idem = {"Idempotency-Key": "crash-submit-1"}
        st, _, first = srv.api("POST", JOBS, self.work, headers=idem,
                               body={"jobType": "crash.idem", "payload": {"x": 1}})
        self.assertEqual(st, 201, first)
        srv.restart(kill=True)
        # an acknowledged submit's Idempotency-Key is remembered across the kill
        st, _, again = srv.api("POST", JOBS, self.work, headers=idem,
                               body={"jobType": "crash.idem", "payload": {"x": 1}})
        self.assertEqual((st, again), (201, first))
        self.assertEqual(len(list_jobs_all(srv, self.work, jobType="crash.idem")), 1)
        ja = srv.get_json(job_path(a["jobId"]), self.work)
        self.assertEqual((ja["status"], ja["leaseId"], ja["leaseUntil"]),
                         ("leased", a["leaseId"], hb["leaseUntil"]), "the heartbeat was kept")
        jb = srv.get_json(job_path(b["jobId"]), self.work)
        self.assertEqual((jb["status"], jb["attempt"], jb["error"], jb["availableAt"]),
                         ("pending", 1, "boom", failed["availableAt"]), "the backoff was kept")
        self.assertEqual(self.usage()["active"], 2)  # a and c
        # c's holder vanished with the server: after its lease (3 s) c is leased again
        until = parse_time_ms(c["leaseUntil"])
        time.sleep(max(0, until - now_ms()) / 1000.0 + 0.05)
        st, _, body = srv.api("POST", LEASE, self.work,
                              body={"jobTypes": [JT], "workerId": "w2", "max": 3})
        self.assertEqual(st, 200, body)
        got = {j["jobId"]: j["attempt"] for j in body["jobs"]}
        self.assertEqual(got, {c["jobId"]: 2, b["jobId"]: 2}, body)
        self.assertEqual(set(ids), {a["jobId"], b["jobId"], c["jobId"]})
        self.assertEqual(self.usage()["active"], 3)

    def test_zz_clean_shutdown_after_restart(self):
        """A server restarted after SIGKILL stops cleanly and reports no sanitizer errors."""
        self.srv.restart(kill=True)
        rc = self.srv.stop()
        log = self.srv.log_text()
        self.assertNotIn("Sanitizer", log, log[-4000:])
        self.assertNotIn("runtime error", log, log[-4000:])
        self.assertEqual(rc, 0, log[-4000:])


if __name__ == "__main__":
    unittest.main()
