"""Capacity pools (issue 15) against a real server: the platform administrator (a client of the
reserved tenant _system with orch:governance) creates, replaces and deletes a pool per job type,
each change audited with its reason and ticket in the _system chain; tenants read only their own
entitlement and use; every acquire and lease grants only when the tenant's quota and the pool
both allow it, exactly, also with 32 threads of two tenants at once (run on SQLite as api.* and
on PostgreSQL as api-pg.*)."""

import http.client
import json
import threading
import unittest
import urllib.parse

from harness import KeepAlive, ServerTestCase, quota_body, submit_many, wait_until

CLIENTS = [
    ("platform", ["_system"], ["Orch.PlatformAdmin"]),
    ("acme-admin", ["acme"], ["Orch.Admin"]),
    ("acme-op", ["acme"], ["Orch.Operator"]),
    ("globex-admin", ["globex"], ["Orch.Admin"]),
    ("globex-op", ["globex"], ["Orch.Operator"]),
]
P = "/jobengine/pools/"
Q = "/jobengine/quotas"


def pool_body(strategy, max_active, shares=(), **extra):
    body = {"strategy": strategy, "maxActive": max_active, "shares": list(shares)}
    body.update(extra)
    return body


class PoolsCase(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(CLIENTS, name="pools", metrics=True)
        s = cls.srv
        cls.gov = s.grant("platform", "orch:governance", governance_reason="capacity plan Q4",
                          governance_ticket="CAP-7")
        cls.platform_read = s.grant("platform", "orch:read")
        cls.acme_q = s.grant("acme-admin", "orch:quota", quota_reason="pool tests")
        cls.globex_q = s.grant("globex-admin", "orch:quota", quota_reason="pool tests")
        cls.acme_read = s.grant("acme-admin", "orch:read")
        cls.acme_jobs = s.grant("acme-op", "orch:jobs")
        cls.globex_jobs = s.grant("globex-op", "orch:jobs")

    def put(self, job_type, body, token=None, headers=None):
        return self.srv.api("PUT", P + job_type, token or self.gov, body=body, headers=headers)

    def quota(self, token, job_type, max_active=100):
        st, _, q = self.srv.api("POST", Q, token, body=quota_body(job_type, max_active=max_active,
                                                                  max_per_hour=100000,
                                                                  burst=10000, refill=1000))
        self.assertEqual(st, 201, q)
        return q

    def acquire(self, token, quota_id, conn=None):
        path = Q + "/" + quota_id + "/acquire"
        if conn is not None:
            return conn.request("POST", path, token, body={"ttlSeconds": 600})
        return self.srv.api("POST", path, token, body={"ttlSeconds": 600})


class PoolChangesTest(PoolsCase):
    def test_create_replace_delete_audited_in_the_platform_chain(self):
        st, hdrs, p = self.put("chg.scan", pool_body("max-limit", 10, [
            {"tenantId": "acme", "maxActive": 6}, {"tenantId": "globex", "maxActive": 6}]))
        self.assertEqual(st, 201, p)
        self.assertEqual(hdrs.get("ETag"), '"1"')
        self.assertEqual((p["jobType"], p["strategy"], p["maxActive"], p["maxPerHour"],
                          p["version"]), ("chg.scan", "max-limit", 10, None, 1), p)
        self.assertEqual([s["tenantId"] for s in p["shares"]], ["acme", "globex"])
        self.assertEqual((p["lastReason"], p["lastTicket"]), ("capacity plan Q4", "CAP-7"))
        self.assertEqual(p["usage"]["active"], 0)
        # replace with If-Match; a stale one is refused and changes nothing
        st, _, p2 = self.put("chg.scan", pool_body("proportional", 12, maxPerHour=500,
                                                   reason="more nodes", ticket="CAP-8"),
                             headers={"If-Match": '"1"'})
        self.assertEqual(st, 200, p2)
        self.assertEqual((p2["strategy"], p2["maxActive"], p2["maxPerHour"], p2["version"],
                          p2["lastReason"], p2["lastTicket"]),
                         ("proportional", 12, 500, 2, "more nodes", "CAP-8"), p2)
        self.assertEnvelope(self.put("chg.scan", pool_body("unlimited", 5),
                                     headers={"If-Match": '"1"'}), 412, "VERSION_MISMATCH")
        st, _, now = self.srv.api("GET", P + "chg.scan", self.platform_read)
        self.assertEqual((st, now["version"], now["maxActive"]), (200, 2, 12), now)
        st, _, _ = self.srv.api("DELETE", P + "chg.scan", self.gov,
                                headers={"If-Match": '"2"'})
        self.assertEqual(st, 204)
        self.assertEnvelope(self.srv.api("GET", P + "chg.scan", self.platform_read), 404,
                            "NOT_FOUND")
        entries = [e for e in self.srv.audit_all(self.platform_read, resourceType="pool")
                   if e["resourceId"] == "chg.scan"]
        self.assertEqual([e["eventType"] for e in entries],
                         ["pool.created", "pool.updated", "pool.change.denied", "pool.deleted"])
        for e in entries:
            self.assertEqual((e["tenantId"], e["actorId"]), ("_system", "platform"), e)
        self.assertEqual((entries[0]["reason"], entries[0]["ticket"]),
                         ("capacity plan Q4", "CAP-7"))
        self.assertEqual((entries[1]["reason"], entries[1]["ticket"]), ("more nodes", "CAP-8"))
        self.assertEqual(entries[1]["details"]["before"]["maxActive"], 10)
        self.assertEqual(entries[1]["details"]["after"]["maxActive"], 12)
        self.assertEqual(entries[2]["details"]["code"], "VERSION_MISMATCH")
        self.assertEqual(entries[3]["details"]["after"], None)
        self.assertTrue(self.srv.audit_verify(self.platform_read)["valid"])
        # nothing of it reached a tenant's chain
        self.assertEqual(self.srv.audit_all(self.acme_read, resourceType="pool"), [])

    def test_bad_settings_are_refused_naming_the_field(self):
        cases = [
            ({"strategy": "fair", "maxActive": 3}, "strategy"),
            ({"strategy": "reserved"}, "maxActive"),
            (pool_body("reserved", 0), "maxActive"),
            (pool_body("reserved", 4, [{"tenantId": "acme", "reserved": 3},
                                       {"tenantId": "globex", "reserved": 2}]),
             "shares[1].reserved"),
            (pool_body("proportional", 4, [{"tenantId": "acme", "weight": -1}]),
             "shares[0].weight"),
            (pool_body("priority", 4, [{"tenantId": "acme", "tier": 5000}]), "shares[0].tier"),
            (pool_body("max-limit", 4, [{"tenantId": "a b"}]), "shares[0].tenantId"),
            (pool_body("max-limit", 4, [{"tenantId": "acme"}, {"tenantId": "acme"}]),
             "shares[1].tenantId"),
            (pool_body("max-limit", 4, [{"tenantId": "acme", "cap": 2}]), "shares[0]"),
            (dict(pool_body("max-limit", 4), maxActiv=3), None),
        ]
        for body, field in cases:
            with self.subTest(body=body):
                err = self.assertEnvelope(self.put("bad.scan", body), 400, "VALIDATION_FAILED")
                if field:
                    self.assertEqual(err["details"].get("field"), field, err)
        self.assertEnvelope(self.srv.api("GET", P + "bad.scan", self.platform_read), 404,
                            "NOT_FOUND")

    def test_only_the_platform_changes_pools_and_tenants_see_only_their_own(self):
        self.assertEnvelope(self.put("own.scan", pool_body("unlimited", 5), token=self.acme_q),
                            403, "SCOPE_REQUIRED")
        st, _, _ = self.put("own.scan", pool_body("max-limit", 8, [
            {"tenantId": "acme", "maxActive": 5}, {"tenantId": "globex", "maxActive": 3}]))
        self.assertEqual(st, 201)
        gq = self.quota(self.globex_q, "own.scan")
        for _ in range(2):
            st, _, g = self.acquire(self.globex_jobs, gq["quotaId"])
            self.assertEqual(st, 200, g)
        st, _, mine = self.srv.api("GET", P + "own.scan", self.acme_read)
        self.assertEqual(st, 200, mine)
        self.assertNotIn("shares", mine)
        self.assertNotIn("usage", mine)
        self.assertEqual(mine["you"]["tenantId"], "acme")
        self.assertEqual((mine["you"]["active"], mine["you"]["cap"]), (0, 5), mine)
        self.assertNotIn("globex", str(mine))
        st, _, full = self.srv.api("GET", P + "own.scan", self.platform_read)
        use = {t["tenantId"]: t["active"] for t in full["usage"]["tenants"]}
        self.assertEqual((full["usage"]["active"], use.get("globex")), (2, 2), full)


class PoolDecisionsTest(PoolsCase):
    def test_acquire_refused_by_the_pool_says_which_cap(self):
        self.assertEqual(self.put("dec.cap", pool_body("max-limit", 5, [
            {"tenantId": "acme", "maxActive": 3}]))[0], 201)
        aq = self.quota(self.acme_q, "dec.cap")
        gq = self.quota(self.globex_q, "dec.cap")
        permits = []
        for _ in range(3):
            st, _, g = self.acquire(self.acme_jobs, aq["quotaId"])
            self.assertEqual(st, 200, g)
            permits.append(g["permitId"])
        err = self.assertEnvelope(self.acquire(self.acme_jobs, aq["quotaId"]), 429,
                                  "POOL_EXHAUSTED")
        self.assertEqual((err["details"]["pool"], err["details"]["cap"]),
                         ("dec.cap", "tenant_share"), err)
        self.assertIsNotNone(err["details"]["nextEligibleAt"])
        for _ in range(2):
            self.assertEqual(self.acquire(self.globex_jobs, gq["quotaId"])[0], 200)
        st, hdrs, body = self.acquire(self.globex_jobs, gq["quotaId"])
        err = self.assertEnvelope((st, hdrs, body), 429, "POOL_EXHAUSTED")
        self.assertEqual(err["details"]["cap"], "pool_max_active", err)
        self.assertIn("Retry-After", hdrs)
        # the pool says why it last refused
        st, _, full = self.srv.api("GET", P + "dec.cap", self.platform_read)
        self.assertEqual(full["usage"]["lastRefusal"]["cap"], "pool_max_active", full)
        self.assertGreaterEqual(full["usage"]["throttled"], 2, full)
        # counted in /metrics by the cap that refused (recorded once the reply is sent)
        series = 'jobengine_pool_refusals_total{job_type="dec.cap",via="acquire",cap="%s"} 1'
        wait_until("pool refusals in /metrics",
                   lambda: all(series % cap in self.srv.metrics()[2]
                               for cap in ("tenant_share", "pool_max_active")), 5)
        # the quota's own count was given back: the tenant's quota shows what the pool allowed
        st, _, q = self.srv.api("GET", Q + "/" + aq["quotaId"], self.acme_read)
        self.assertEqual(q["usage"]["active"], 3, q)
        # a release frees a slot of the pool, at once
        st, _, _ = self.srv.api("POST", Q + "/" + aq["quotaId"] + "/release", self.acme_jobs,
                                body={"permitId": permits[0]})
        self.assertEqual(st, 204)
        st, _, g = self.acquire(self.globex_jobs, gq["quotaId"])
        self.assertEqual(st, 200, g)

    def test_refusal_with_no_known_end_says_retry_after_1_once(self):
        # a priority pool whose free slot waits for a higher tier's pending job: nothing held
        # will end, so the pool cannot say when; the answer says so and asks for a retry in 1 s
        self.assertEqual(self.put("dec.tier", pool_body("priority", 1, [
            {"tenantId": "acme", "tier": 5}]))[0], 201)
        submit_many(self.srv, self.acme_jobs, "dec.tier", 2)
        gq = self.quota(self.globex_q, "dec.tier")
        u = urllib.parse.urlsplit(self.srv.url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=15)
        try:
            conn.request("POST", Q + "/" + gq["quotaId"] + "/acquire", body=b"{}", headers={
                "Authorization": "Bearer " + self.globex_jobs,
                "Content-Type": "application/json"})
            resp = conn.getresponse()
            err = json.loads(resp.read())
            headers = resp.getheaders()
        finally:
            conn.close()
        self.assertEqual((resp.status, err["error"]["code"]), (429, "POOL_EXHAUSTED"), err)
        self.assertEqual((err["error"]["details"]["cap"], err["error"]["details"]["nextEligibleAt"]),
                         ("higher_tier_waiting", None), err)
        self.assertEqual([v for k, v in headers if k.lower() == "retry-after"], ["1"], headers)

    def test_shares_listed_in_another_order_are_the_same_settings(self):
        shares = [{"tenantId": "globex", "maxActive": 2}, {"tenantId": "acme", "maxActive": 3}]
        st, _, p = self.put("dec.order", pool_body("max-limit", 4, shares))
        self.assertEqual(st, 201, p)
        self.assertEqual([s["tenantId"] for s in p["shares"]], ["acme", "globex"], p)
        st, hdrs, again = self.put("dec.order", pool_body("max-limit", 4, shares[::-1]))
        self.assertEqual((st, again["version"], hdrs.get("ETag")), (200, 1, '"1"'), again)
        st, _, again = self.put("dec.order", pool_body("max-limit", 4, shares))
        self.assertEqual((st, again["version"]), (200, 1), again)
        events = [e["eventType"] for e in self.srv.audit_all(self.platform_read,
                                                             resourceType="pool")
                  if e["resourceId"] == "dec.order"]
        self.assertEqual(events, ["pool.created"])

    def test_reserved_capacity_is_lent_while_idle_and_reclaimed_without_preemption(self):
        self.assertEqual(self.put("dec.res", pool_body("reserved", 4, [
            {"tenantId": "acme", "reserved": 2}]))[0], 201)
        submit_many(self.srv, self.globex_jobs, "dec.res", 6)
        lease = {"jobTypes": ["dec.res"], "workerId": "w", "max": 10, "leaseSeconds": 600}
        st, _, got = self.srv.api("POST", "/jobengine/jobs/lease", self.globex_jobs, body=lease)
        self.assertEqual((st, len(got["jobs"])), (200, 4), got)  # acme idle: its reserve is lent
        submit_many(self.srv, self.acme_jobs, "dec.res", 2)
        st, _, none = self.srv.api("POST", "/jobengine/jobs/lease", self.acme_jobs, body=lease)
        self.assertEqual((len(none["jobs"]), none["pool"]["cap"]), (0, "pool_max_active"), none)
        done = {"status": "succeeded"}
        j = got["jobs"][0]
        st, _, _ = self.srv.api("POST", "/jobengine/jobs/%s/complete" % j["jobId"],
                                self.globex_jobs, body=dict(done, leaseId=j["leaseId"]))
        self.assertEqual(st, 200)
        # the freed slot goes to the owner asking for its reserve, not back to the borrower
        st, _, more = self.srv.api("POST", "/jobengine/jobs/lease", self.globex_jobs, body=lease)
        self.assertEqual((len(more["jobs"]), more["pool"]["cap"]), (0, "reserved_for_others"),
                         more)
        st, _, mine = self.srv.api("POST", "/jobengine/jobs/lease", self.acme_jobs, body=lease)
        self.assertEqual(len(mine["jobs"]), 1, mine)
        # nothing globex runs was taken away
        st, _, full = self.srv.api("GET", P + "dec.res", self.platform_read)
        use = {t["tenantId"]: t["active"] for t in full["usage"]["tenants"]}
        self.assertEqual((use["globex"], use["acme"]), (3, 1), full)


class PoolStrategiesTest(PoolsCase):
    LEASE = {"workerId": "w", "max": 10, "leaseSeconds": 600}

    def lease(self, token, jt):
        st, _, body = self.srv.api("POST", "/jobengine/jobs/lease", token,
                                   body=dict(self.LEASE, jobTypes=[jt]))
        self.assertEqual(st, 200, body)
        return body

    def test_priority_serves_the_higher_tier_first(self):
        self.assertEqual(self.put("st.prio", pool_body("priority", 3, [
            {"tenantId": "acme", "tier": 1}, {"tenantId": "globex", "tier": 0}]))[0], 201)
        submit_many(self.srv, self.acme_jobs, "st.prio", 5)
        submit_many(self.srv, self.globex_jobs, "st.prio", 5)
        low = self.lease(self.globex_jobs, "st.prio")
        self.assertEqual((low["jobs"], low["pool"]["cap"]), ([], "higher_tier_waiting"), low)
        self.assertEqual(len(self.lease(self.acme_jobs, "st.prio")["jobs"]), 3)

    def test_proportional_divides_by_weight_when_both_ask(self):
        self.assertEqual(self.put("st.prop", pool_body("proportional", 4, [
            {"tenantId": "acme", "weight": 3}, {"tenantId": "globex", "weight": 1}]))[0], 201)
        submit_many(self.srv, self.acme_jobs, "st.prop", 6)
        submit_many(self.srv, self.globex_jobs, "st.prop", 6)
        self.assertEqual(len(self.lease(self.globex_jobs, "st.prop")["jobs"]), 1)
        more = self.lease(self.globex_jobs, "st.prop")
        self.assertEqual((more["jobs"], more["pool"]["cap"]), ([], "tenant_share"), more)
        self.assertEqual(len(self.lease(self.acme_jobs, "st.prop")["jobs"]), 3)
        st, _, full = self.srv.api("GET", P + "st.prop", self.platform_read)
        ent = {t["tenantId"]: (t["active"], t["entitled"]) for t in full["usage"]["tenants"]}
        self.assertEqual(ent, {"acme": (3, 3), "globex": (1, 1)}, full)


class PoolExactnessTest(PoolsCase):
    THREADS = 32

    def hammer(self, fn):
        errors = []

        def run(i):
            try:
                fn(i)
            except Exception as e:  # surfaced below
                errors.append(e)
        ts = [threading.Thread(target=run, args=(i,)) for i in range(self.THREADS)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if errors:
            raise errors[0]

    def test_32_threads_of_two_tenants_never_pass_the_pool_or_a_share(self):
        self.assertEqual(self.put("ex.cap", pool_body("max-limit", 10, [
            {"tenantId": "acme", "maxActive": 7}, {"tenantId": "globex", "maxActive": 7}]))[0],
            201)
        quotas = {"acme": self.quota(self.acme_q, "ex.cap")["quotaId"],
                  "globex": self.quota(self.globex_q, "ex.cap")["quotaId"]}
        tokens = {"acme": self.acme_jobs, "globex": self.globex_jobs}
        granted = {"acme": 0, "globex": 0}
        lock = threading.Lock()

        def work(i):
            t = "acme" if i % 2 else "globex"
            c = KeepAlive(self.srv.url)
            for _ in range(6):
                st, _, body = self.acquire(tokens[t], quotas[t], conn=c)
                self.assertIn(st, (200, 429), body)
                if st == 200:
                    with lock:
                        granted[t] += 1
        self.hammer(work)
        self.assertEqual(granted["acme"] + granted["globex"], 10, granted)
        self.assertLessEqual(max(granted.values()), 7, granted)
        st, _, full = self.srv.api("GET", P + "ex.cap", self.platform_read)
        self.assertEqual(full["usage"]["active"], 10, full)

    def test_32_threads_leasing_keep_every_reserve_when_both_tenants_ask(self):
        self.assertEqual(self.put("ex.res", pool_body("reserved", 10, [
            {"tenantId": "acme", "reserved": 4}, {"tenantId": "globex", "reserved": 4}]))[0], 201)
        submit_many(self.srv, self.acme_jobs, "ex.res", 40)
        submit_many(self.srv, self.globex_jobs, "ex.res", 40)
        tokens = {"acme": self.acme_jobs, "globex": self.globex_jobs}
        leased = {"acme": 0, "globex": 0}
        lock = threading.Lock()

        def work(i):
            t = "acme" if i % 2 else "globex"
            c = KeepAlive(self.srv.url)
            for _ in range(3):
                st, _, body = c.request("POST", "/jobengine/jobs/lease", tokens[t], body={
                    "jobTypes": ["ex.res"], "workerId": "w%d" % i, "max": 1,
                    "leaseSeconds": 600})
                self.assertEqual(st, 200, body)
                with lock:
                    leased[t] += len(body["jobs"])
        self.hammer(work)
        self.assertEqual(sum(leased.values()), 10, leased)
        self.assertGreaterEqual(min(leased.values()), 4, leased)


if __name__ == "__main__":
    unittest.main()
