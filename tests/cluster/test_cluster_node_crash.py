"""Issue 11, a node dies: SIGKILL of one of three `jobengine serve` nodes in the middle of a load
spread round-robin over all three. The nodes are stateless (everything lives in the database), so
nothing a node acknowledged is lost with it, a lease it granted is the cluster's (its holder may
complete it through another node), and the leases whose holders vanished with it expire and
return to pending, to be leased again through the surviving nodes (api.md §3.4, domain.md §2)."""

import collections
import threading
import time
import unittest

from cluster import (LEASE, Balancer, Cluster, call, complete_body, create_quota, lease_body,
                     note, qpath, quota_of)
from harness import (JOBS, ServerTestCase, job_path, job_summary, list_jobs_all, now_ms,
                     parse_time_ms, submit_job, wait_until)

CLIENTS = [
    ("admin", ["acme"], ["Orch.Admin"]),
    ("worker", ["acme"], ["Orch.Worker"]),
    ("viewer", ["acme"], ["Orch.Viewer"]),
]


class NodeCrashTest(ServerTestCase):
    def test_sigkill_of_one_node_mid_load(self):
        """Load for ~2 s over nodes A, B, C: 4 submitters (Idempotency-Key; a submit whose
        connection broke is retried with its key on the next node), 2 quota adjusters, 4 workers
        leasing (3 s leases) and completing; 4 jobs leased through B for 2 s by holders that
        vanish with it, and one held by a holder that survives. B is SIGKILLed 1 s in. Then:
        every acknowledged submit is there, and retried keys made no second job; every
        acknowledged adjustment is in the audit exactly once (one whose answer was lost at most
        once) and the quota's version counts them; the survivor completes its lease through A;
        the vanished holders' jobs return to pending and are leased again (attempt 2) through A
        and C; every job succeeds exactly once; B restarted on the same store tells the same."""
        cl = Cluster(CLIENTS, n=3, name="cl-crash").watch(self)
        a, b, c = cl.nodes
        tok = a.grant("admin", "orch:quota orch:read", quota_reason="crash test")
        work = c.grant("worker", "orch:jobs orch:read")
        q = create_quota(a, tok, "cr.change", max_per_hour=1000)
        held_q = create_quota(a, tok, "cr.held", max_active=10, burst=100, refill=100)
        held_ids = [submit_job(cl[i], work, "cr.held", {"n": i})["jobId"] for i in range(5)]

        rec = collections.defaultdict(list)
        lock = threading.Lock()
        submits = {}  # key -> jobId (the answer of the 201)
        retried = set()
        completed = collections.Counter()
        stop_submit = threading.Event()
        stop_all = threading.Event()

        def bad(what):
            with lock:
                rec["bad"].append(what)

        def submitter(i):
            lb = Balancer(cl, start=i)
            try:
                n = 0
                while not stop_submit.is_set():
                    key = "s-%d-%d" % (i, n)
                    n += 1
                    body = {"jobType": "cr.load", "payload": {"key": key}}
                    for attempt in range(6):
                        kind, st, _, js = call(lb, "POST", JOBS, work, body=body,
                                               headers={"Idempotency-Key": key})
                        if kind == "ok":
                            with lock:
                                submits[key] = js["jobId"]
                            break
                        if kind == "conn":  # the node died: retry the key elsewhere
                            lb.skip(lb.last)
                            with lock:
                                retried.add(key)
                            continue
                        bad(("submit", key, st, js))
                        return
                    else:
                        bad(("submit never answered", key))
            finally:
                lb.close()

        def adjuster(i):
            lb = Balancer(cl, start=i + 1)
            try:
                n = 0
                while not stop_submit.is_set():
                    reason = "adjust-%d-%d" % (i, n)
                    n += 1
                    # every value distinct across adjusters: a PUT that changed nothing would
                    # be answered without an audit entry (docs/api.md)
                    kind, st, _, js = call(lb, "PUT", qpath(q["quotaId"]), tok,
                                           body={"maxPerHour": 1000 + 2 * n + i, "reason": reason})
                    if kind == "ok":
                        with lock:
                            rec["acked"].append(reason)
                    elif kind == "conn":
                        lb.skip(lb.last)
                        with lock:
                            rec["lost"].append(reason)
                    else:
                        bad(("adjust", reason, st, js))
                        return
                    time.sleep(0.01)
            finally:
                lb.close()

        def worker(i):
            lb = Balancer(cl, start=i + 2)
            wid = "w-%d" % i
            try:
                while not stop_all.is_set():
                    kind, st, _, js = call(lb, "POST", LEASE, work,
                                           body=lease_body("cr.load", wid, 2, 3))
                    if kind == "conn":  # a lease granted and lost with the node comes back
                        lb.skip(lb.last)
                        continue
                    if kind != "ok":
                        bad(("lease", st, js))
                        return
                    if not js["jobs"]:
                        time.sleep(0.03)
                        continue
                    for j in js["jobs"]:
                        self.finish(lb, work, j, completed, lock, bad)
            finally:
                lb.close()

        producers = [threading.Thread(target=f, args=(i,), daemon=True)
                     for f, n in ((submitter, 4), (adjuster, 2)) for i in range(n)]
        threads = producers + [threading.Thread(target=worker, args=(i,), daemon=True)
                               for i in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.7)
        # jobs leased through B: four whose holders vanish with it, one whose holder survives
        st, _, body = b.api("POST", LEASE, work, body=lease_body("cr.held", "doomed", 4, 2))
        self.assertEqual((st, len(body["jobs"])), (200, 4), body)
        doomed = {j["jobId"]: j for j in body["jobs"]}
        st, _, body = b.api("POST", LEASE, work, body=lease_body("cr.held", "survivor", 1, 60))
        self.assertEqual((st, len(body["jobs"])), (200, 1), body)
        survivor = body["jobs"][0]
        time.sleep(0.3)
        t_kill = now_ms()
        b.kill9()
        for jid in doomed:  # B's death alone ends no lease: they live in the database
            got = a.get_json(job_path(jid), work)
            self.assertEqual((got["status"], got["leaseId"]), ("leased", doomed[jid]["leaseId"]))
        time.sleep(1.0)
        stop_submit.set()
        # a submit in flight is answered (or retried on the next node) after this: wait for it,
        # so that every acknowledged job is counted before the workers are told to stop
        for t in producers:
            t.join(30)
            self.assertFalse(t.is_alive(), "a submitter or adjuster did not stop")
        # the survivor completes its lease (granted by B) through A
        st, _, j = a.api("POST", job_path(survivor["jobId"], "complete"), work,
                         body=complete_body(survivor["leaseId"]))
        self.assertEqual((st, j.get("status"), j.get("attempt")), (200, "succeeded", 1), j)
        # the doomed leases expire (2 s) and return to pending; A and C lease them again
        until = max(parse_time_ms(j["leaseUntil"]) for j in doomed.values())
        pending = wait_until(
            "the leases granted by the dead node to return to pending",
            lambda: all(c.get_json(job_path(jid), work)["status"] == "pending"
                        for jid in doomed), max(0, until - now_ms()) / 1000.0 + 5)
        self.assertTrue(pending)
        again = {}
        for node in (a, c):
            st, _, body = node.api("POST", LEASE, work, body=lease_body("cr.held", "heir", 2, 60))
            self.assertEqual(st, 200, body)
            for j in body["jobs"]:
                again[j["jobId"]] = (j, node)
        self.assertEqual(set(again), set(doomed), "the four expired jobs, leased again")
        for jid, (j, node) in again.items():
            self.assertEqual(j["attempt"], 2, j)
            self.assertEnvelope(node.api("POST", job_path(jid, "complete"), work,
                                         body=complete_body(doomed[jid]["leaseId"])), 409,
                                "LEASE_LOST")
            st, _, done = (c if node is a else a).api("POST", job_path(jid, "complete"), work,
                                                       body=complete_body(j["leaseId"]))
            self.assertEqual((st, done.get("status")), (200, "succeeded"), done)
        for node in (a, c):
            self.assertEqual(quota_of(node, tok, held_q["quotaId"])["usage"]["active"], 0)
        self.assertEqual(job_summary(a, work)["cr.held"]["succeeded"], len(held_ids))

        # the workers finish every submitted job
        try:
            wait_until("every submitted job to succeed",
                       lambda: rec["bad"] or
                       job_summary(a, work)["cr.load"]["succeeded"] == len(submits), 30, 0.2)
        finally:
            stop_all.set()
            for t in threads:
                t.join(30)
        self.assertEqual(rec["bad"], [], "unexpected answers: %r" % rec["bad"][:5])

        # every acknowledged submit is there, retried keys made no second job
        jobs = list_jobs_all(c, work, jobType="cr.load")
        by_id = {j["jobId"]: j for j in jobs}
        missing = [k for k, jid in submits.items() if jid not in by_id]
        self.assertEqual(missing, [], "acknowledged submits lost")
        for k, jid in submits.items():
            self.assertEqual(by_id[jid]["payload"], {"key": k})
        self.assertEqual(len(jobs), len(submits), "a retried Idempotency-Key made a second job")
        self.assertEqual(sorted(j["payload"]["key"] for j in jobs), sorted(submits))
        self.assertEqual([j["jobId"] for j in jobs if j["status"] != "succeeded"], [])
        self.assertEqual({k: v for k, v in completed.items() if v != 1}, {},
                         "a job completed twice")
        self.assertEqual(set(completed), set(by_id))
        # every acknowledged adjustment is audited exactly once
        entries = [e for e in a.audit_all(tok, eventType="quota.updated",
                                          resourceId=q["quotaId"])]
        reasons = collections.Counter(e["reason"] for e in entries)
        self.assertEqual([r for r in rec["acked"] if reasons[r] != 1], [],
                         "acknowledged adjustments lost or doubled")
        self.assertEqual([r for r in rec["lost"] if reasons[r] > 1], [])
        self.assertEqual(set(reasons) - set(rec["acked"]) - set(rec["lost"]), set())
        now_q = quota_of(c, tok, q["quotaId"])
        self.assertEqual(now_q["version"], 1 + len(entries))
        last = max(entries, key=lambda e: e["sequence"])
        self.assertEqual(now_q["maxPerHour"], last["details"]["after"]["maxPerHour"])
        self.assertTrue(a.audit_verify(tok)["valid"])
        # B comes back on the same store and tells the same
        b.restart()
        cl.wait_ready(nodes=[b])
        self.assertEqual(job_summary(b, work), job_summary(a, work))
        self.assertEqual(quota_of(b, tok, q["quotaId"])["version"], now_q["version"])
        self.assertEqual(b.audit_verify(tok), a.audit_verify(tok))
        note("SIGKILL of B: %d submits acknowledged (%d retried on another node), %d "
             "adjustments acknowledged, %d lost with B, %d jobs completed, killed at %d"
             % (len(submits), len(retried), len(rec["acked"]), len(rec["lost"]),
                sum(completed.values()), t_kill))

    def finish(self, lb, work, j, completed, lock, bad):
        """Completes j through the balancer; a completion whose connection broke is retried on
        the next node: 200, or 409 when the first try took effect (the job then shows succeeded
        by this very attempt)."""
        ambiguous = False
        for attempt in range(6):
            kind, st, _, js = call(lb, "POST", job_path(j["jobId"], "complete"), work,
                                   body=complete_body(j["leaseId"]))
            if kind == "conn":
                lb.skip(lb.last)
                ambiguous = True
                continue
            if kind == "ok":
                with lock:
                    completed[j["jobId"]] += 1
                return
            if st == 409 and ambiguous:
                kind, st, _, cur = call(lb, "GET", job_path(j["jobId"]), work)
                if kind == "ok" and cur["status"] == "succeeded" and \
                        cur["attempt"] == j["attempt"]:
                    with lock:
                        completed[j["jobId"]] += 1
                    return
            if st == 409:
                return  # the lease was lost (expired): the job is leased again later
            bad(("complete", j["jobId"], st, js))
            return
        bad(("complete never answered", j["jobId"]))


if __name__ == "__main__":
    unittest.main()
