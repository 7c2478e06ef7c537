"""Circuit breakers (issue 15) against a real server, on SQLite (api.*) and PostgreSQL (api-pg.*):
a job type's breaker opens when failing workers push the failure rate of completed jobs past its
threshold; while open, leasing stops and acquire answers 503 BREAKER_OPEN with Retry-After;
half-open lets its probes through and closes when they succeed. The platform sets breakers and
forces the job type's; a tenant's operator forces only its own, on a per-tenant job type. Every
change and every opening or closing is audited."""

import time
import unittest

from harness import ServerTestCase, quota_body, submit_many, wait_until

CLIENTS = [
    ("platform", ["_system"], ["Orch.PlatformAdmin"]),
    ("acme-admin", ["acme"], ["Orch.Admin"]),
    ("acme-op", ["acme"], ["Orch.Operator"]),
    ("globex-op", ["globex"], ["Orch.Operator"]),
]
B = "/jobengine/breakers/"
LEASE = "/jobengine/jobs/lease"


class BreakersTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(CLIENTS, name="breakers", metrics=True)
        s = cls.srv
        cls.gov = s.grant("platform", "orch:governance", governance_reason="protect the scanners",
                          governance_ticket="REL-1")
        cls.platform_read = s.grant("platform", "orch:read")
        cls.acme_jobs = s.grant("acme-op", "orch:jobs")
        cls.globex_jobs = s.grant("globex-op", "orch:jobs")
        cls.acme_read = s.grant("acme-admin", "orch:read")
        cls.acme_operate = s.grant("acme-op", "orch:operate", operator_reason="our own fix",
                                   operator_ticket="ACME-9")

    def put(self, jt, body, token=None):
        return self.srv.api("PUT", B + jt, token or self.gov, body=body)

    def lease(self, token, jt, n=1):
        st, hdrs, body = self.srv.api("POST", LEASE, token, body={
            "jobTypes": [jt], "workerId": "w", "max": n, "leaseSeconds": 60})
        self.assertEqual(st, 200, body)
        return hdrs, body

    def finish(self, token, job, ok):
        st, _, body = self.srv.api("POST", "/jobengine/jobs/%s/complete" % job["jobId"], token,
                                   body={"leaseId": job["leaseId"],
                                         "status": "succeeded" if ok else "failed"})
        self.assertEqual(st, 200, body)

    def state(self, token, jt, tenant=None):
        st, _, body = self.srv.api("GET", B + jt, token)
        self.assertEqual(st, 200, body)
        rows = [b for b in body["items"] if b["tenantId"] == tenant]
        self.assertEqual(len(rows), 1, body)
        return rows[0]

    def test_failing_workers_open_it_probes_close_it(self):
        st, _, b = self.put("brk.scan", {"failureRate": 0.5, "minSamples": 4, "windowSeconds": 60,
                                         "openSeconds": 2, "probes": 1})
        self.assertEqual((st, b["state"], b["tenantId"], b["perTenant"]),
                         (201, "closed", None, False), b)
        submit_many(self.srv, self.acme_jobs, "brk.scan", 12)
        _, got = self.lease(self.acme_jobs, "brk.scan", 4)
        self.assertEqual(len(got["jobs"]), 4)
        for i, j in enumerate(got["jobs"]):
            self.finish(self.acme_jobs, j, ok=(i == 0))  # 3 of 4 failed
        b = self.state(self.platform_read, "brk.scan")
        self.assertEqual((b["state"], b["window"]), ("open", {"ok": 1, "failed": 3}), b)
        self.assertIsNotNone(b["retryAt"])
        hdrs, none = self.lease(self.acme_jobs, "brk.scan", 4)
        self.assertEqual(none["jobs"], [], none)
        self.assertEqual(none["breaker"]["jobType"], "brk.scan")
        self.assertIn("Retry-After", hdrs)
        # acquire says so too
        admin = self.srv.grant("acme-admin", "orch:quota", quota_reason="breaker test")
        st, _, q = self.srv.api("POST", "/jobengine/quotas", admin, body=quota_body("brk.scan"))
        self.assertEqual(st, 201, q)
        st, hdrs, body = self.srv.api("POST", "/jobengine/quotas/%s/acquire" % q["quotaId"],
                                      self.acme_jobs, body={})
        err = self.assertEnvelope((st, hdrs, body), 503, "BREAKER_OPEN")
        self.assertEqual(len(hdrs.get_all("Retry-After") or []), 1, hdrs)
        self.assertEqual((err["details"]["jobType"], err["details"]["state"]), ("brk.scan", "open"))
        self.assertIn("Retry-After", hdrs)
        wait_until("breaker holds in /metrics", lambda: all(
            'jobengine_breaker_holds_total{job_type="brk.scan",via="%s"} 1' % via
            in self.srv.metrics()[2] for via in ("lease", "acquire")), 5)
        # after openSeconds: one probe, and only one, until it ends
        time.sleep(2.2)
        _, probe = self.lease(self.acme_jobs, "brk.scan", 4)
        self.assertEqual(len(probe["jobs"]), 1, probe)
        _, none = self.lease(self.acme_jobs, "brk.scan", 4)
        self.assertEqual(none["jobs"], [], none)
        self.finish(self.acme_jobs, probe["jobs"][0], ok=True)
        self.assertEqual(self.state(self.platform_read, "brk.scan")["state"], "closed")
        _, again = self.lease(self.acme_jobs, "brk.scan", 2)
        self.assertEqual(len(again["jobs"]), 2, again)
        events = [e["eventType"] for e in self.srv.audit_all(self.platform_read,
                                                             resourceType="breaker")
                  if e["resourceId"] == "brk.scan"]
        self.assertEqual(events, ["breaker.created", "breaker.opened", "breaker.closed"])
        closed = [e for e in self.srv.audit_all(self.platform_read, eventType="breaker.closed")
                  if e["resourceId"] == "brk.scan"][0]
        self.assertEqual(closed["reason"], "1 probe jobs succeeded", closed)
        self.assertTrue(self.srv.audit_verify(self.platform_read)["valid"])

    def test_forcing_and_who_may(self):
        st, _, _ = self.put("brk.force", {"minSamples": 100})
        self.assertEqual(st, 201)
        submit_many(self.srv, self.acme_jobs, "brk.force", 3)
        st, _, b = self.srv.api("POST", B + "brk.force/force", self.gov,
                                body={"state": "open", "reason": "vendor outage",
                                      "ticket": "INC-5"})
        self.assertEqual((st, b["state"], b["force"]), (200, "open", "forced-open"), b)
        _, none = self.lease(self.acme_jobs, "brk.force")
        self.assertEqual(none["jobs"], [])
        # a tenant may not force the job type's breaker, nor set breakers
        self.assertEnvelope(self.srv.api("POST", B + "brk.force/force", self.acme_operate,
                                         body={"state": "auto"}), 409, "BREAKER_NOT_PER_TENANT")
        self.assertEnvelope(self.put("brk.force", {"minSamples": 5}, token=self.acme_operate), 403,
                            "SCOPE_REQUIRED")
        st, _, b = self.srv.api("POST", B + "brk.force/force", self.gov, body={"state": "auto"})
        self.assertEqual((st, b["state"], b["force"]), (200, "closed", "auto"), b)
        _, got = self.lease(self.acme_jobs, "brk.force")
        self.assertEqual(len(got["jobs"]), 1)
        forced = [e for e in self.srv.audit_all(self.platform_read, eventType="breaker.forced")
                  if e["resourceId"] == "brk.force"]
        self.assertEqual((forced[0]["reason"], forced[0]["ticket"]), ("vendor outage", "INC-5"))

    def test_per_tenant_breakers_stop_only_the_failing_tenant(self):
        st, _, _ = self.put("brk.own", {"minSamples": 2, "failureRate": 1, "openSeconds": 600,
                                        "perTenant": True})
        self.assertEqual(st, 201)
        submit_many(self.srv, self.acme_jobs, "brk.own", 4)
        submit_many(self.srv, self.globex_jobs, "brk.own", 2)
        _, got = self.lease(self.acme_jobs, "brk.own", 2)
        for j in got["jobs"]:
            self.finish(self.acme_jobs, j, ok=False)
        self.assertEqual(self.state(self.acme_read, "brk.own", "acme")["state"], "open")
        _, none = self.lease(self.acme_jobs, "brk.own")
        self.assertEqual(none["jobs"], [])
        _, g = self.lease(self.globex_jobs, "brk.own")
        self.assertEqual(len(g["jobs"]), 1, g)  # globex's work goes on
        # acme sees its own row and the job type's, never globex's
        st, _, mine = self.srv.api("GET", B + "brk.own", self.acme_read)
        self.assertEqual(sorted(str(b["tenantId"]) for b in mine["items"]), ["None", "acme"])
        # acme's operator closes its own breaker, with its reason, in acme's chain
        st, _, b = self.srv.api("POST", B + "brk.own/force", self.acme_operate,
                                body={"state": "closed"})
        self.assertEqual((st, b["tenantId"], b["state"]), (200, "acme", "closed"), b)
        _, got = self.lease(self.acme_jobs, "brk.own")
        self.assertEqual(len(got["jobs"]), 1, got)
        # the platform forcing the job type's row holds every tenant, per tenant or not
        st, _, _ = self.srv.api("POST", B + "brk.own/force", self.gov, body={"state": "open"})
        self.assertEqual(st, 200)
        _, g = self.lease(self.globex_jobs, "brk.own")
        self.assertEqual(g["jobs"], [], g)
        st, _, _ = self.srv.api("POST", B + "brk.own/force", self.gov, body={"state": "auto"})
        self.assertEqual(st, 200)
        _, g = self.lease(self.globex_jobs, "brk.own")
        self.assertEqual(len(g["jobs"]), 1, g)
        events = [(e["eventType"], e["reason"]) for e in
                  self.srv.audit_all(self.acme_read, resourceType="breaker")]
        self.assertEqual(events[0][0], "breaker.opened")
        self.assertEqual(events[-1], ("breaker.forced", "our own fix"))

    def test_bad_settings_are_refused(self):
        for body, field in [({"failureRate": 0}, "failureRate"), ({"failureRate": 1.5},
                            "failureRate"), ({"windowSeconds": 5}, "windowSeconds"),
                            ({"probes": 0}, "probes"), ({"minSamples": 0}, "minSamples")]:
            with self.subTest(body=body):
                err = self.assertEnvelope(self.put("brk.bad", body), 400, "VALIDATION_FAILED")
                self.assertEqual(err["details"].get("field"), field, err)
        self.assertEnvelope(self.put("brk.bad", {"threshold": 3}), 400, "VALIDATION_FAILED")
        self.assertEnvelope(self.srv.api("GET", B + "brk.bad", self.platform_read), 404,
                            "NOT_FOUND")
        self.assertEnvelope(self.srv.api("POST", B + "brk.bad/force", self.gov,
                                         body={"state": "sideways"}), 400, "VALIDATION_FAILED")


if __name__ == "__main__":
    unittest.main()
