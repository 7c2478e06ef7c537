"""Issue 15, capacity pools exact across nodes: three `jobengine serve` nodes over one PostgreSQL
database, 32 threads of two tenants spread over them round-robin, acquiring and leasing work of
one job type with a pool: never more than the pool's total in use, never more than a tenant's
share, and with the reserved strategy each tenant's reserve held when both ask (the pool row is
locked by every decision on it: src/store/postgres_rows_pool.c)."""

import threading
import unittest

from cluster import LEASE, Balancer, Cluster
from harness import ServerTestCase, quota_body, submit_many

CLIENTS = [
    ("platform", ["_system"], ["Orch.PlatformAdmin"]),
    ("acme-admin", ["acme"], ["Orch.Admin"]),
    ("acme-op", ["acme"], ["Orch.Operator"]),
    ("globex-admin", ["globex"], ["Orch.Admin"]),
    ("globex-op", ["globex"], ["Orch.Operator"]),
]
THREADS = 32


class ClusterPoolsTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.cl = Cluster(CLIENTS, n=3, name="cl-pools").watch_class(cls)
        a, b, c = cls.cl.nodes
        cls.gov = a.grant("platform", "orch:governance", governance_reason="cluster pools")
        cls.read = b.grant("platform", "orch:read")
        cls.quota = {"acme": c.grant("acme-admin", "orch:quota", quota_reason="cluster pools"),
                     "globex": a.grant("globex-admin", "orch:quota", quota_reason="cluster pools")}
        cls.jobs = {"acme": b.grant("acme-op", "orch:jobs"),
                    "globex": c.grant("globex-op", "orch:jobs")}

    def pool(self, job_type, body):
        st, _, p = self.cl[0].api("PUT", "/jobengine/pools/" + job_type, self.gov, body=body)
        self.assertEqual(st, 201, p)

    def hammer(self, fn):
        errors = []

        def run(i):
            try:
                fn(i)
            except Exception as e:  # raised below
                errors.append(e)
        ts = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if errors:
            raise errors[0]

    def test_acquires_over_three_nodes_never_pass_the_pool_or_a_share(self):
        self.pool("cp.cap", {"strategy": "max-limit", "maxActive": 10, "shares": [
            {"tenantId": "acme", "maxActive": 7}, {"tenantId": "globex", "maxActive": 7}]})
        qids = {}
        for t in ("acme", "globex"):
            st, _, q = self.cl[1].api("POST", "/jobengine/quotas", self.quota[t],
                                      body=quota_body("cp.cap", max_active=100,
                                                      max_per_hour=100000, burst=10000,
                                                      refill=1000))
            self.assertEqual(st, 201, q)
            qids[t] = q["quotaId"]
        granted = {"acme": 0, "globex": 0}
        lock = threading.Lock()
        lb = Balancer(self.cl)

        def work(i):
            t = "acme" if i % 2 else "globex"
            for _ in range(6):
                node = self.cl[lb.next_index()]
                st, _, body = node.api("POST", "/jobengine/quotas/%s/acquire" % qids[t],
                                       self.jobs[t], body={"ttlSeconds": 600})
                self.assertIn(st, (200, 429), body)
                if st == 200:
                    with lock:
                        granted[t] += 1
        self.hammer(work)
        self.assertEqual(sum(granted.values()), 10, granted)
        self.assertLessEqual(max(granted.values()), 7, granted)
        for node in self.cl:
            st, _, full = node.api("GET", "/jobengine/pools/cp.cap", self.read)
            self.assertEqual(full["usage"]["active"], 10, full)

    def test_leases_over_three_nodes_keep_both_reserves(self):
        self.pool("cp.res", {"strategy": "reserved", "maxActive": 10, "shares": [
            {"tenantId": "acme", "reserved": 4}, {"tenantId": "globex", "reserved": 4}]})
        for t in ("acme", "globex"):
            submit_many(self.cl[0], self.jobs[t], "cp.res", 40)
        leased = {"acme": 0, "globex": 0}
        lock = threading.Lock()
        lb = Balancer(self.cl)

        def work(i):
            t = "acme" if i % 2 else "globex"
            for _ in range(3):
                node = self.cl[lb.next_index()]
                st, _, body = node.api("POST", LEASE, self.jobs[t], body={
                    "jobTypes": ["cp.res"], "workerId": "w%d" % i, "max": 1,
                    "leaseSeconds": 600})
                self.assertEqual(st, 200, body)
                with lock:
                    leased[t] += len(body["jobs"])
        self.hammer(work)
        self.assertEqual(sum(leased.values()), 10, leased)
        self.assertGreaterEqual(min(leased.values()), 4, leased)


if __name__ == "__main__":
    unittest.main()
