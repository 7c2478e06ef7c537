"""Black-box tests of GET /jobengine/quotas/ceilings?jobType=JT (docs/api.md "Quotas", an addition
to api.md §3.3): the policy ceilings that apply to the caller's tenant and a job type, so that a
form (the operator console's) can show them before the operator submits.

What a user relies on: the defaults; the serve flags change them; the config file's
quotaCeilingOverrides resolve per field most specific first (tenant + job type, tenant, job type,
global) and another tenant's overrides never show; every number shown is the one a
422 QUOTA_POLICY_VIOLATION reports as details.ceiling just above it, and a quota exactly at the
ceilings is created; the read changes nothing; scopes, 401, and 400 for a missing or malformed
jobType; the route answers before /jobengine/quotas/{quotaId} as the summary does."""

import unittest

import harness
from harness import ServerTestCase, quota_body

CLIENTS = [
    ("admin", ["acme"], ["Orch.Admin"]),
    ("viewer", ["acme"], ["Orch.Viewer"]),
    ("worker", ["acme"], ["Orch.Worker"]),
    ("gadmin", ["globex"], ["Orch.Admin"]),
    ("gviewer", ["globex"], ["Orch.Viewer"]),
]
Q = "/jobengine/quotas"
C = Q + "/ceilings"
FIELDS = ("maxActive", "maxPerHour", "burstCapacity", "refillPerSecond")
DEFAULTS = {"maxActive": 1000, "maxPerHour": 1000000, "burstCapacity": 10000,
            "refillPerSecond": 1000}


class CeilingsCase(ServerTestCase):
    def ceilings(self, srv, token, job_type):
        st, hdrs, body = srv.api("GET", C + "?jobType=" + job_type, token)
        self.assertEqual(st, 200, body)
        self.assertTrue(hdrs.get("Content-Type", "").startswith("application/json"), hdrs)
        self.assertEqual(list(body), ["jobType"] + list(FIELDS), body)
        for f in FIELDS[:3]:
            self.assertIs(type(body[f]), int, (f, body))
        self.assertIn(type(body["refillPerSecond"]), (int, float), body)
        return body

    def assertShown(self, srv, token, job_type, expected):
        body = self.ceilings(srv, token, job_type)
        self.assertEqual(body, dict(expected, jobType=job_type), job_type)
        return body

    def assertEnforced(self, srv, admin, job_type, shown):
        """Each shown number is the 422's details.ceiling just above it, and a quota at exactly
        the four ceilings is created (job_type must have no quota yet: QUOTA_EXISTS comes
        first)."""
        small = {"max_active": 1, "max_per_hour": 1, "burst": 1, "refill": 0.25}
        keys = dict(zip(FIELDS, ("max_active", "max_per_hour", "burst", "refill")))
        for f in FIELDS:
            with self.subTest(job_type=job_type, field=f):
                above = shown[f] + (0.5 if f == "refillPerSecond" else 1)
                limits = dict(small, **{keys[f]: above})
                err = self.assertEnvelope(srv.api("POST", Q, admin,
                                                  body=quota_body(job_type, **limits)),
                                          422, "QUOTA_POLICY_VIOLATION")
                self.assertEqual((err["details"].get("field"), err["details"].get("requested"),
                                  err["details"].get("ceiling")), (f, above, shown[f]), err)
        st, _, q = srv.api("POST", Q, admin, body=quota_body(
            job_type, max_active=shown["maxActive"], max_per_hour=shown["maxPerHour"],
            burst=shown["burstCapacity"], refill=shown["refillPerSecond"]))
        self.assertEqual(st, 201, q)
        self.assertEqual([q[f] for f in FIELDS], [shown[f] for f in FIELDS], q)


class DefaultCeilingsTest(CeilingsCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(CLIENTS, name="ceilings")
        cls.admin = cls.srv.grant("admin", "orch:quota", quota_reason="ceilings")
        cls.reader = cls.srv.grant("viewer", "orch:read")
        cls.work = cls.srv.grant("worker", "orch:jobs")

    def test_defaults_for_readers_and_quota_admins(self):
        for tok in (self.reader, self.admin):
            for jt in ("scan.image", "*", "A1:b-c_d.e", "x" * 128):
                with self.subTest(jt=jt):
                    self.assertShown(self.srv, tok, jt, DEFAULTS)
        # a quota of the job type does not change its ceilings; the read changes nothing
        st, _, q = self.srv.api("POST", Q, self.admin, body=quota_body("dflt.held"))
        self.assertEqual(st, 201, q)
        head = self.srv.audit_verify(self.reader)["headSequence"]
        self.assertShown(self.srv, self.reader, "dflt.held", DEFAULTS)
        self.assertEqual(self.srv.audit_verify(self.reader)["headSequence"], head)
        st, _, after = self.srv.api("GET", Q + "/" + q["quotaId"], self.reader)
        self.assertEqual((st, after["version"]), (200, q["version"]))

    def test_shown_equals_the_422_and_the_ceiling_itself_is_allowed(self):
        shown = self.ceilings(self.srv, self.reader, "dflt.edge")
        self.assertEnforced(self.srv, self.admin, "dflt.edge", shown)

    def test_scope_and_authentication(self):
        err = self.assertEnvelope(self.srv.api("GET", C + "?jobType=scan", self.work), 403,
                                  "SCOPE_REQUIRED")
        self.assertIn("orch:read", err["message"] + str(err["details"]), err)
        st, hdrs, body = self.srv.api("GET", C + "?jobType=scan")
        self.assertEnvelope((st, hdrs, body), 401, "UNAUTHORIZED")
        self.assertIn("Bearer", hdrs.get("WWW-Authenticate", ""))
        self.assertEnvelope(self.srv.api("GET", C + "?jobType=scan", "not.a.token"), 401,
                            "UNAUTHORIZED")
        # authentication (401) before the query (400)
        self.assertEnvelope(self.srv.api("GET", C), 401, "UNAUTHORIZED")
        self.assertEnvelope(self.srv.api("GET", C, self.work), 403, "SCOPE_REQUIRED")

    def test_job_type_missing_or_malformed(self):
        bad = ("", "?", "?jobType=", "?kind=scan", "?jobType=.scan", "?jobType=a%20b",
               "?jobType=a/b", "?jobType=**", "?jobType=" + "x" * 129, "?jobType=%ff",
               "?jobType=sc%C3%A4n")
        for query in bad:
            with self.subTest(query=query):
                err = self.assertEnvelope(self.srv.api("GET", C + query, self.reader), 400,
                                          "VALIDATION_FAILED")
                self.assertEqual(err["details"].get("field"), "jobType", err)

    def test_routed_before_quota_id_like_summary(self):
        # GET is this route, not "no such quota"; other methods answer as they do for summary
        self.assertShown(self.srv, self.reader, "route.x", DEFAULTS)
        for method in ("PUT", "DELETE", "POST", "PATCH"):
            with self.subTest(method=method):
                got = [self.srv.api(method, Q + "/" + leaf, self.admin, body={})
                       for leaf in ("ceilings", "summary")]
                self.assertEqual(got[0][0], got[1][0], (method, got[0][2], got[1][2]))
                self.assertIn(got[0][0], (404, 405), got[0][2])
                self.assertEqual(got[0][1].get("Allow"), got[1][1].get("Allow"))
        self.assertEnvelope(self.srv.api("GET", C + "/x?jobType=a", self.reader), 404,
                            "NOT_FOUND")


class ConfiguredCeilingsTest(CeilingsCase):
    def test_serve_flags_set_the_global_ceilings(self):
        srv = self.new_server(CLIENTS, name="ceilings-flags",
                              args=["--ceiling-max-active", "2000", "--ceiling-max-per-hour", "50",
                                    "--ceiling-burst-capacity", "20",
                                    "--ceiling-refill-per-second", "2.5"])
        reader = srv.grant("viewer", "orch:read")
        admin = srv.grant("admin", "orch:quota", quota_reason="ceilings")
        want = {"maxActive": 2000, "maxPerHour": 50, "burstCapacity": 20, "refillPerSecond": 2.5}
        self.assertShown(srv, reader, "*", want)
        shown = self.assertShown(srv, reader, "flag.scan", want)
        self.assertEnforced(srv, admin, "flag.scan", shown)

    def test_config_overrides_most_specific_first_and_per_tenant(self):
        cfg = {"ceilingMaxActive": 2000, "ceilingRefillPerSecond": 4, "quotaCeilingOverrides": [
            {"tenant": "acme", "maxActive": 5000, "maxPerHour": 700},
            {"jobType": "ov.big", "maxActive": 3000, "maxPerHour": 900, "burstCapacity": 20000},
            {"tenant": "acme", "jobType": "ov.special", "maxActive": 7000},
            {"tenant": "globex", "jobType": "ov.secret", "maxActive": 50,
             "refillPerSecond": 0.25},
            {"tenant": "globex", "maxPerHour": 42},
        ]}
        srv = self.new_server(CLIENTS, name="ceilings-config", start=False)
        srv.args = ["--config", harness.write_json_file(srv.dir, "config.json", cfg)]
        srv.start()
        acme = {"read": srv.grant("viewer", "orch:read"),
                "admin": srv.grant("admin", "orch:quota", quota_reason="ceilings")}
        globex = {"read": srv.grant("gviewer", "orch:read"),
                  "admin": srv.grant("gadmin", "orch:quota", quota_reason="ceilings")}

        def limits(active, per_hour, burst=10000, refill=4):
            return {"maxActive": active, "maxPerHour": per_hour, "burstCapacity": burst,
                    "refillPerSecond": refill}

        expected = [
            # acme: its tenant override beats the job-type one; tenant + job type beats both;
            # globex's ov.secret override does not show
            (acme, "ov.plain", limits(5000, 700)),
            (acme, "ov.big", limits(5000, 700, burst=20000)),
            (acme, "ov.special", limits(7000, 700)),
            (acme, "ov.secret", limits(5000, 700)),
            (acme, "*", limits(5000, 700)),
            # globex: acme's overrides do not show
            (globex, "ov.plain", limits(2000, 42)),
            (globex, "ov.big", limits(3000, 42, burst=20000)),
            (globex, "ov.special", limits(2000, 42)),
            (globex, "ov.secret", limits(50, 42, refill=0.25)),
        ]
        for tenant, jt, want in expected:
            with self.subTest(tenant=tenant is acme and "acme" or "globex", jt=jt):
                self.assertShown(srv, tenant["read"], jt, want)
                self.assertShown(srv, tenant["admin"], jt, want)
        # what is shown is what a change is held to, for both tenants
        for tenant, jt, want in expected:
            if jt != "*":
                self.assertEnforced(srv, tenant["admin"], jt, want)


if __name__ == "__main__":
    unittest.main(verbosity=2)
