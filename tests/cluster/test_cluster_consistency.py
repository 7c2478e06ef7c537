"""Issue 11, one answer whichever node is asked: three `jobengine serve` nodes over one PostgreSQL
database (api.md §2.3, §3.3, §3.5, §3.6; domain.md §4, §6; docs/api.md "Introspection and
revocation").

  test_overlapping_backfill_creates_on_several_nodes   exactly one of 6 simultaneous overlapping
                                                        creates on 3 nodes wins (5 rounds)
  test_revocation_reaches_every_node_within_a_second   revoked on A, refused by B and C in 1 s
  test_quota_change_applies_at_the_next_decision_elsewhere
                                                        raise / pause / resume / If-Match /
                                                        decrease safety across nodes
  test_expiry_sweeps_of_every_node_free_each_slot_once  three nodes' sweeps racing free each
                                                        expired lease and permit exactly once
  test_audit_chains_written_by_all_nodes_verify        per-tenant chains with entries from all
                                                        three nodes verify (server and
                                                        independent verifier, export + /jwks)
"""

import collections
import threading
import time
import unittest

from cluster import (LEASE, Cluster, create_quota, lease_body, note, qpath, quota_of)
from harness import (BACKFILLS, DAY_MS, GRANT_EVENT, HOUR_MS, KeepAlive, ServerTestCase,
                     backfill_body, checks_by_name, fetch_export, fetch_jwks,
                     hour_start_ms, now_ms, quota_body, run_threads, submit_job, verify_chain,
                     verify_export, wait_until)

AUDIT_TENANTS = ["globex", "initech"]
CLIENTS = [
    ("admin", ["acme"] + AUDIT_TENANTS, ["Orch.Admin"]),
    ("worker", ["acme"], ["Orch.Worker"]),
    ("viewer", ["acme"] + AUDIT_TENANTS, ["Orch.Viewer"]),
]
REASON = "cluster consistency"


class ClusterConsistencyTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.cl = Cluster(CLIENTS, n=3, name="cl-cons").watch_class(cls)
        a, b, c = cls.cl.nodes
        cls.tok = b.grant("admin", "orch:quota orch:backfill orch:read", tenant="acme",
                          quota_reason=REASON, backfill_reason=REASON)
        cls.work = c.grant("worker", "orch:jobs orch:read")
        cls.reader = a.grant("viewer", "orch:read", tenant="acme")

    # -- 4 ----------------------------------------------------------------------------------------
    def test_overlapping_backfill_creates_on_several_nodes(self):
        """5 rounds; in each, 6 creates of pairwise-overlapping windows for one (source, job type)
        are sent at the same instant, 2 to each node: exactly one is 201, the 5 others are
        409 BACKFILL_DUPLICATE naming the winner (details.existingBackfillId, no_overlap failed);
        exactly one backfill of that source exists; the audit holds one backfill.created and 5
        backfill.rejected of that round."""
        cl = self.cl
        jt = "cc.bf"
        create_quota(cl.a, self.tok, jt, max_active=10, max_per_hour=100000, burst=1000,
                     refill=100)
        T = hour_start_ms(now_ms()) - 2 * DAY_MS
        n = 6
        conns = [KeepAlive(cl[i].url) for i in range(n)]
        try:
            for c in conns:  # connected before the race
                c.request("GET", "/healthz")
            for rnd in range(5):
                source = "race-%d" % rnd
                barrier = threading.Barrier(n)
                results = [None] * n

                def go(i):
                    start = T + i * 10 * 60 * 1000  # windows of 2 h, 10 min apart: all overlap
                    body = backfill_body(source, jt, start, start + 2 * HOUR_MS,
                                         batchSeconds=3600)
                    barrier.wait(10)
                    results[i] = conns[i].request("POST", BACKFILLS, self.tok, body=body)

                self.assertEqual(run_threads(n, go, 60), [])
                won = [(i, r) for i, r in enumerate(results) if r[0] == 201]
                self.assertEqual(len(won), 1, "round %d: %r" % (rnd, [(r[0], r[2])
                                                                       for r in results]))
                winner = won[0][1][2]["backfillId"]
                for i, r in enumerate(results):
                    if r[0] == 201:
                        continue
                    err = self.assertEnvelope(r, 409, "BACKFILL_DUPLICATE")
                    self.assertEqual(err["details"].get("existingBackfillId"), winner,
                                     "round %d, node %s" % (rnd, cl.name_of(cl[i])))
                    self.assertFalse(checks_by_name(err["details"]["safetyChecks"])["no_overlap"])
                mine = [b for b in self.backfills(cl[rnd]) if b["sourceId"] == source]
                self.assertEqual([b["backfillId"] for b in mine], [winner], "round %d" % rnd)
                created = cl[rnd + 1].audit_all(self.tok, eventType="backfill.created",
                                                resourceId=winner)
                self.assertEqual(len(created), 1, created)
                rejected = [e for e in cl[rnd + 2].audit_all(self.tok,
                                                             eventType="backfill.rejected")
                            if e["details"].get("existingBackfillId") == winner]
                self.assertEqual(len(rejected), n - 1, rejected)
                self.assertEqual({e["details"].get("code") for e in rejected},
                                 {"BACKFILL_DUPLICATE"})
        finally:
            for c in conns:
                c.close()

    def backfills(self, node):
        items, cont = [], None
        while True:
            path = BACKFILLS + "?limit=500" + ("&continuationToken=" + cont if cont else "")
            st, _, js = node.api("GET", path, self.tok)
            self.assertEqual(st, 200, js)
            items += js["items"]
            cont = js["continuationToken"]
            if cont is None:
                return items

    # -- 5 ----------------------------------------------------------------------------------------
    def test_revocation_reaches_every_node_within_a_second(self):
        """Three times over (minted on one node, revoked on the next, checked on all): a token
        known good on every node (each has verified and may have cached it) is refused by the
        revoking node at once and by both other nodes within one second of the revocation's
        answer (401 UNAUTHORIZED, WWW-Authenticate: Bearer); introspection on every node says
        inactive; another token of the same client keeps working everywhere."""
        cl = self.cl
        path = "/jobengine/audit?limit=1"
        slack = 0.25  # polling every 20 ms, and the request itself
        for k in range(3):
            minter, revoker = cl[k], cl[k + 1]
            tok = minter.grant("viewer", "orch:read", tenant="acme")
            other = minter.grant("viewer", "orch:read", tenant="acme")
            for s in cl:  # every node verified it (and may cache the verification)
                for _ in range(2):
                    st, _, body = s.api("GET", path, tok)
                    self.assertEqual(st, 200, body)
            st, js, _ = revoker.revoke("viewer", tok)
            t_revoked = time.monotonic()
            self.assertEqual(st, 200, js)
            st, hdrs, body = revoker.api("GET", path, tok)
            self.assertEqual(st, 401, "the revoking node %s still accepts it"
                             % cl.name_of(revoker))
            refused_after = {}

            def watch(i):
                s = cl[i]
                while True:
                    st, hdrs, body = s.api("GET", path, tok)
                    el = time.monotonic() - t_revoked
                    if st == 401:
                        refused_after[cl.name_of(s)] = (el, body, hdrs.get("WWW-Authenticate"))
                        return
                    if st != 200 or el > 5:
                        refused_after[cl.name_of(s)] = (el, st, body)
                        return
                    time.sleep(0.02)

            self.assertEqual(run_threads(3, watch, 20), [])
            for name, r in sorted(refused_after.items()):
                self.assertEqual(len(r), 3)
                self.assertIsInstance(r[1], dict, r)
                self.assertEqual(r[1]["error"]["code"], "UNAUTHORIZED", r)
                self.assertTrue((r[2] or "").startswith("Bearer"), r)
                self.assertLessEqual(r[0], 1.0 + slack,
                                     "node %s accepted a token revoked on node %s for %.2f s"
                                     % (name, cl.name_of(revoker), r[0]))
            note("revoked on %s: refused after %s" % (
                cl.name_of(revoker), ", ".join("%s %.2f s" % (n, r[0])
                                               for n, r in sorted(refused_after.items()))))
            for s in cl:
                st, js, _ = s.introspect("admin", tok)
                self.assertEqual((st, js), (200, {"active": False}), cl.name_of(s))
                st, _, body = s.api("GET", path, other)
                self.assertEqual(st, 200, "another token of the client is refused on %s: %r"
                                 % (cl.name_of(s), body))

    # -- 6 ----------------------------------------------------------------------------------------
    def test_quota_change_applies_at_the_next_decision_elsewhere(self):
        """A change answered by one node governs the very next decision on another, with no
        pause in between: raise maxActive on B -> C grants; pause on B -> C's acquire is
        423 QUOTA_PAUSED and its lease holds work back with nextEligibleAt null; resume on A ->
        C grants; five more pause/resume/decide rounds rotating the nodes; If-Match with the
        version read on one node is refused on another once a third changed it; decrease safety
        counts permits granted by every node."""
        cl = self.cl
        a, b, c = cl.nodes
        jt = "cc.change"
        q = create_quota(a, self.tok, jt, max_active=1, max_per_hour=100000, burst=1000,
                         refill=100)
        qid = q["quotaId"]
        permits = []

        def acquire(node):
            return node.api("POST", qpath(qid, "acquire"), self.work, body={"ttlSeconds": 300})

        def granted(node, why):
            st, _, g = acquire(node)
            self.assertEqual(st, 200, "%s: %s %r" % (why, st, g))
            permits.append(g["permitId"])
            return g

        def change(node, action, body=None, status=200):
            st, hdrs, js = node.api("PUT" if action is None else "POST",
                                    qpath(qid, action), self.tok,
                                    body=body if body is not None else {})
            self.assertEqual(st, status, js)
            return js

        granted(c, "first permit")
        self.assertEnvelope(acquire(c), 429, "QUOTA_EXHAUSTED")
        change(b, None, {"maxActive": 2})
        granted(c, "maxActive raised to 2 on B")
        self.assertEnvelope(acquire(a), 429, "QUOTA_EXHAUSTED")
        # pause on B: C refuses at once, acquire and lease alike
        change(b, "pause")
        resp = acquire(c)
        err = self.assertEnvelope(resp, 423, "QUOTA_PAUSED")
        self.assertIsNone(err["details"].get("nextEligibleAt"), err)
        self.assertIsNone(resp[1].get("Retry-After"))
        jid = submit_job(a, self.work, jt, {"n": 1})["jobId"]
        st, hdrs, body = c.api("POST", LEASE, self.work, body=lease_body(jt, "w-c"))
        self.assertEqual((st, body), (200, {"jobs": [], "nextEligibleAt": None}),
                         "C leased from a quota paused on B")
        # resume on A and raise on B: C grants, and leases the job
        change(a, "resume")
        change(b, None, {"maxActive": 4})
        granted(c, "resumed on A, maxActive 4 on B")
        st, _, body = c.api("POST", LEASE, self.work, body=lease_body(jt, "w-c"))
        self.assertEqual(st, 200, body)
        self.assertEqual([j["jobId"] for j in body["jobs"]], [jid])
        lease_id = body["jobs"][0]["leaseId"]
        change(c, None, {"maxActive": 5})  # one slot free for the rounds
        # rounds rotating the nodes: change on one, decide on another at once
        for k in range(5):
            change(cl[k], "pause")
            self.assertEnvelope(acquire(cl[k + 1]), 423, "QUOTA_PAUSED")
            self.assertEnvelope(acquire(cl[k + 2]), 423, "QUOTA_PAUSED")
            change(cl[k + 1], "resume")
            st, _, g = acquire(cl[k + 2])
            self.assertEqual(st, 200, "round %d: resumed on %s, %s answered %s %r"
                             % (k, cl.name_of(cl[k + 1]), cl.name_of(cl[k + 2]), st, g))
            self.assertEqual(cl[k].api("POST", qpath(qid, "release"), self.work,
                                       body={"permitId": g["permitId"]})[0], 204)
        # 3 permits + 1 lease held: every node says so
        for s in cl:
            self.assertEqual(quota_of(s, self.reader, qid)["usage"]["active"], 4)
        # If-Match: the version read on A, changed on B, is stale on C
        st, hdrs, cur = a.api("GET", qpath(qid), self.tok)
        etag = hdrs.get("ETag")
        self.assertEqual(etag, '"%d"' % cur["version"])
        st, _, js = b.api("PUT", qpath(qid), self.tok, body={"maxPerHour": 90000},
                          headers={"If-Match": etag})
        self.assertEqual(st, 200, js)
        self.assertEqual(js["version"], cur["version"] + 1)
        self.assertEnvelope(c.api("PUT", qpath(qid), self.tok, body={"maxPerHour": 80000},
                                  headers={"If-Match": etag}), 412, "VERSION_MISMATCH")
        # decrease safety sees the permits and the lease granted on C
        err = self.assertEnvelope(a.api("PUT", qpath(qid), self.tok, body={"maxActive": 3}),
                                  409, "QUOTA_DECREASE_BELOW_USAGE")
        self.assertEqual(quota_of(b, self.reader, qid)["maxActive"], 5, "nothing changed")
        # at maxActive 4 with 4 held (set on C), nobody grants
        change(c, None, {"maxActive": 4})
        for s in cl:
            self.assertEnvelope(acquire(s), 429, "QUOTA_EXHAUSTED")
        st, _, j = b.api("POST", "/jobengine/jobs/%s/complete" % jid, self.work,
                         body={"leaseId": lease_id, "status": "succeeded"})
        self.assertEqual(st, 200, j)
        granted(a, "the lease completed on B freed a slot")

    def test_expiry_sweeps_of_every_node_free_each_slot_once(self):
        """All three nodes sweep expired leases and permits every 250 ms, at once: 6 leases and
        6 permits of 1 s (granted on the three nodes) on maxActive 14, beside 1 lease and 1
        permit of 60 s. Once the short ones expired, active is exactly 2 on every node (a slot
        freed twice would show as less), the 6 jobs are pending again (attempt kept), and
        exactly 12 more units are granted before 429."""
        cl = self.cl
        jt = "cc.sweep"
        qid = create_quota(cl.a, self.tok, jt, max_active=14, max_per_hour=100000, burst=1000,
                           refill=100)["quotaId"]
        for i in range(7):
            submit_job(cl[i], self.work, jt, {"n": i})
        st, _, body = cl.a.api("POST", LEASE, self.work, body=lease_body(jt, "long", 1, 60))
        self.assertEqual((st, len(body["jobs"])), (200, 1), body)
        long_job = body["jobs"][0]["jobId"]
        st, _, long_permit = cl.b.api("POST", qpath(qid, "acquire"), self.work,
                                      body={"ttlSeconds": 60})
        self.assertEqual(st, 200, long_permit)
        short = []
        for k in range(3):
            st, _, body = cl[k].api("POST", LEASE, self.work, body=lease_body(jt, "s", 2, 1))
            self.assertEqual((st, len(body["jobs"])), (200, 2), body)
            short += body["jobs"]
            for _ in range(2):
                st, _, g = cl[k + 1].api("POST", qpath(qid, "acquire"), self.work,
                                         body={"ttlSeconds": 1})
                self.assertEqual(st, 200, g)
        self.assertEqual(quota_of(cl.c, self.reader, qid)["usage"]["active"], 14)
        wait_until("the short leases to be swept back to pending",
                   lambda: all(cl[0].get_json("/jobengine/jobs/" + j["jobId"], self.work)
                               ["status"] == "pending" for j in short), 6)
        wait_until("the short permits to expire",
                   lambda: quota_of(cl.a, self.reader, qid)["usage"]["active"] <= 2, 6)
        time.sleep(0.6)  # a few more sweeps of every node: nothing more may be freed
        for s in cl:
            self.assertEqual(quota_of(s, self.reader, qid)["usage"]["active"], 2,
                             "node %s: 1 lease + 1 permit live" % cl.name_of(s))
        for j in short:
            got = cl.b.get_json("/jobengine/jobs/" + j["jobId"], self.work)
            self.assertEqual((got["status"], got["attempt"]), ("pending", 1), got)
        self.assertEqual(cl.c.get_json("/jobengine/jobs/" + long_job, self.work)["status"],
                         "leased")
        granted = 0
        for i in range(13):
            st, _, g = cl[i].api("POST", qpath(qid, "acquire"), self.work,
                                 body={"ttlSeconds": 60})
            if st == 200:
                granted += 1
            else:
                self.assertEnvelope((st, _, g), 429, "QUOTA_EXHAUSTED")
        self.assertEqual(granted, 12, "14 slots, 2 held: exactly 12 more")

    # -- 7 ----------------------------------------------------------------------------------------
    def test_audit_chains_written_by_all_nodes_verify(self):
        """Two tenants; on each node at once, two threads per tenant append to that tenant's
        chain: token grants, quota creates, adjustments and a refused adjustment (all tagged with
        the node). Afterwards every node answers GET /jobengine/audit/verify identically (valid,
        entries = every acknowledged action, gapless), lists the same entries, the independent
        verifier (harness.verify_chain) agrees, every node's actions are there exactly once, and
        an export from one node verifies against another node's /jwks."""
        cl = self.cl
        lock = threading.Lock()
        expected = {t: collections.Counter() for t in AUDIT_TENANTS}
        toks = {}
        for t in AUDIT_TENANTS:
            toks[t] = cl.a.grant("admin", "orch:quota orch:read", tenant=t,
                                 quota_reason="setup %s" % t)
            expected[t][(GRANT_EVENT, "setup %s" % t)] += 1
            toks[t, "read"] = cl.b.grant("viewer", "orch:read", tenant=t)
            expected[t][(GRANT_EVENT, None)] += 1

        def actor(i):
            t = AUDIT_TENANTS[i % 2]
            node = cl[i // 2 % 3]
            tag = "%s-%d" % (cl.name_of(node), i)
            mine = collections.Counter()
            try:
                for k in range(3):
                    r = "grant %s %d" % (tag, k)
                    node.grant("admin", "orch:quota", tenant=t, quota_reason=r)
                    mine[(GRANT_EVENT, r)] += 1
                r = "create %s" % tag
                st, _, q = node.api("POST", "/jobengine/quotas", toks[t],
                                    body=quota_body("au.%s" % tag, reason=r))
                if st != 201:
                    raise AssertionError("create on %s: %s %r" % (tag, st, q))
                mine[("quota.created", r)] += 1
                for k in range(3):
                    r = "update %s %d" % (tag, k)
                    st, _, js = node.api("PUT", qpath(q["quotaId"]), toks[t],
                                         body={"maxActive": 11 + k, "reason": r})
                    if st != 200:
                        raise AssertionError("update on %s: %s %r" % (tag, st, js))
                    mine[("quota.updated", r)] += 1
                r = "refused %s" % tag
                st, _, js = node.api("PUT", qpath(q["quotaId"]), toks[t],
                                     body={"maxActive": 5000, "reason": r})
                if st != 422:
                    raise AssertionError("over the ceiling on %s: %s %r" % (tag, st, js))
                mine[("quota.change.denied", r)] += 1
            finally:
                with lock:
                    expected[t].update(mine)

        errors = run_threads(12, actor, 120)  # 3 nodes x 2 tenants x 2 threads
        self.assertEqual(errors, [], "errors: %r" % errors[:3])
        jwks_c = fetch_jwks(cl.c.url)
        for t in AUDIT_TENANTS:
            reader = toks[t, "read"]
            lists = [s.audit_all(reader) for s in cl]
            items = lists[0]
            for k in (1, 2):
                self.assertEqual(lists[k], items, "node %s lists another chain of %s"
                                 % (cl.name_of(cl[k]), t))
            got = collections.Counter((e["eventType"], e["reason"]) for e in items)
            self.assertEqual(got, expected[t], "tenant %s: the chain holds exactly every "
                                               "acknowledged action once" % t)
            nodes_seen = {e["reason"].split(" ")[1][0] for e in items
                          if e["reason"] and e["reason"].split(" ")[0] in ("grant", "create",
                                                                           "update", "refused")}
            self.assertEqual(nodes_seen, {"a", "b", "c"}, "entries written by all three nodes")
            self.assertEqual([e["tenantId"] for e in items if e["tenantId"] != t], [])
            mine = verify_chain(items)
            self.assertTrue(mine["valid"], "tenant %s: %r" % (t, mine))
            self.assertEqual(items[0]["sequence"], 1)
            self.assertEqual(items[-1]["sequence"], len(items), "gapless")
            verdicts = [s.audit_verify(reader) for s in cl]
            want = {"valid": True, "entries": len(items), "headSequence": len(items),
                    "headHash": items[-1]["hash"]}
            for k, v in enumerate(verdicts):
                self.assertEqual(v, want, "node %s, tenant %s" % (cl.name_of(cl[k]), t))
            data = fetch_export(cl.b, reader)
            r = verify_export(data, jwks_c)
            self.assertTrue(r["valid"], "tenant %s export from B against C's /jwks: %r" % (t, r))
            self.assertEqual(r["entries"], len(items))
            note("tenant %s: %d entries from three nodes verify" % (t, len(items)))

    def test_zz_clean_shutdown(self):
        for s in self.cl:
            rc = s.stop()
            log = s.log_text()
            self.assertNotIn("Sanitizer", log, log[-4000:])
            self.assertNotIn("runtime error", log, log[-4000:])
            self.assertEqual(rc, 0, log[-4000:])


if __name__ == "__main__":
    unittest.main()
