"""Black-box tests of the platform administrator (issue 15; docs/api.md "The platform
administrator"): role Orch.PlatformAdmin, scope orch:governance and its governance_reason /
governance_ticket, the reserved tenant _system (the platform's own audit chain) and who may act
for it, as `client add`, a bootstrap file, /token, the audit routes and `jobengine token` see it."""

import json
import os

import harness
from harness import GRANT_EVENT, ServerTestCase, claims_of, run_cli

CLIENTS = [
    ("platform", ["_system"], ["Orch.PlatformAdmin"]),
    ("admin", ["acme"], ["Orch.Admin"]),
    ("operator", ["acme"], ["Orch.Operator"]),
    ("viewer", ["acme"], ["Orch.Viewer"]),
    ("multi", ["acme", "globex"], ["Orch.Admin", "Orch.Worker"]),
]
OTHER_CLAIMS = ["quota.reason", "quota.ticket", "backfill.reason", "backfill.ticket",
                "operator.reason", "operator.ticket"]


class GovernanceTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(CLIENTS, name="governance")

    # -- helpers ----------------------------------------------------------------------------------
    def platform_reader(self):
        return self.srv.grant("platform", "orch:read")

    def find_grant(self, reader, jti):
        found = [e for e in self.srv.audit_all(reader, eventType=GRANT_EVENT)
                 if e["details"].get("jti") == jti]
        self.assertEqual(len(found), 1, "exactly one grant entry with jti %s" % jti)
        return found[0]

    def last_grant(self, reader, client):
        entries = self.srv.audit_all(reader, eventType=GRANT_EVENT, actor=client)
        self.assertTrue(entries, "no grant entry of %s" % client)
        return entries[-1]

    def cli_add(self, cid, *args, store=None):
        return run_cli(["client", "add", cid] + list(args)
                       + ["--store", store or self.srv.store, "--json"])

    def listed(self, store=None):
        p = run_cli(["client", "list", "--store", store or self.srv.store, "--json"], check=True)
        return {c["clientId"]: c for c in json.loads(p.stdout)}

    # -- the token ----------------------------------------------------------------------------------
    def test_governance_token_needs_a_reason(self):
        cases = {
            "missing": {},
            "blank": {"governance_reason": " \t "},
            "too long": {"governance_reason": "r" * 257},
            "control character": {"governance_reason": "a\x07b"},
            "not UTF-8": {"governance_reason": "caf\udce9"},
        }
        for name, form in cases.items():
            with self.subTest(name):
                form = {k: (v.encode("utf-8", "surrogateescape") if isinstance(v, str) else v)
                        for k, v in form.items()}
                js = self.assertOAuthError(
                    self.srv.token("platform", scope="orch:governance", **form), 400,
                    "invalid_request", "governance_reason")
                self.assertIn("orch:governance", js["error_description"])
        for name, ticket in (("blank", "  "), ("too long", "T" * 129), ("control", "T\x01")):
            with self.subTest("ticket " + name):
                self.assertOAuthError(
                    self.srv.token("platform", scope="orch:governance", governance_reason="ok",
                                   governance_ticket=ticket),
                    400, "invalid_request", "governance_ticket")

    def test_governance_token_claims(self):
        st, js, _ = self.srv.token("platform", scope="orch:governance",
                                   governance_reason="  rebalance the scan pool\u3000",
                                   governance_ticket=" GOV-15 ")
        self.assertEqual(st, 200, js)
        self.assertEqual((js["scope"], js["expires_in"]), ("orch:governance", 600))
        c = claims_of(js["access_token"])
        self.assertEqual(c["stellaops:tenant"], "_system")
        self.assertEqual(c["scope"], "orch:governance")
        self.assertEqual(c["governance.reason"], "rebalance the scan pool")
        self.assertEqual(c["governance.ticket"], "GOV-15")
        for k in OTHER_CLAIMS:
            self.assertNotIn(k, c)
        self.assertEqual(c["exp"] - c["iat"], 600)
        # at the bounds, and without a ticket: no ticket claim
        st, js, _ = self.srv.token("platform", scope="orch:governance orch:read",
                                   governance_reason="r" * 256)
        self.assertEqual(st, 200, js)
        self.assertEqual(js["scope"], "orch:read orch:governance")
        c = claims_of(js["access_token"])
        self.assertEqual(c["governance.reason"], "r" * 256)
        self.assertNotIn("governance.ticket", c)
        st, js, _ = self.srv.token("platform", scope="orch:governance", governance_reason="r",
                                   governance_ticket="T" * 128)
        self.assertEqual(st, 200, js)
        self.assertEqual(claims_of(js["access_token"])["governance.ticket"], "T" * 128)

    def test_reason_for_a_scope_not_requested_is_ignored(self):
        st, js, _ = self.srv.token("platform", scope="orch:read", governance_reason="ignored",
                                   governance_ticket="IGN-1")
        self.assertEqual(st, 200, js)
        self.assertEqual(js["expires_in"], 3600)
        c = claims_of(js["access_token"])
        self.assertNotIn("governance.reason", c)
        self.assertNotIn("governance.ticket", c)
        e = self.find_grant(self.platform_reader(), c["jti"])
        self.assertNotIn("governance.reason", e["details"])
        self.assertIsNone(e["reason"])

    def test_scope_refused_for_tenant_roles(self):
        for client in ("admin", "operator", "viewer"):
            with self.subTest(client):
                self.assertOAuthError(
                    self.srv.token(client, scope="orch:governance", governance_reason="pools",
                                   operator_reason="x", operator_ticket="y"),
                    400, "invalid_scope")
        self.assertOAuthError(self.srv.token("multi", scope="orch:governance", tenant="acme",
                                             governance_reason="pools"), 400, "invalid_scope")
        # and the platform administrator holds no tenant scope
        for scope in ("orch:quota", "orch:jobs", "orch:backfill", "orch:operate"):
            with self.subTest(scope):
                self.assertOAuthError(
                    self.srv.token("platform", scope=scope, quota_reason="q",
                                   backfill_reason="b", operator_reason="o",
                                   operator_ticket="t"), 400, "invalid_scope")

    # -- the audit of grants ------------------------------------------------------------------------
    def test_grant_is_audited_in_the_system_chain(self):
        tok = self.srv.grant("platform", "orch:governance", governance_reason="new pool ingest",
                             governance_ticket="GOV-2")
        jti = claims_of(tok)["jti"]
        reader = self.platform_reader()
        e = self.find_grant(reader, jti)
        self.assertEqual(e["tenantId"], "_system")
        self.assertEqual((e["reason"], e["ticket"]), ("new pool ingest", "GOV-2"))
        self.assertEqual((e["actorId"], e["resourceId"]), ("platform", "platform"))
        d = e["details"]
        self.assertEqual(d["outcome"], "granted")
        self.assertEqual(d["tenant"], "_system")
        self.assertEqual(d["scope"], ["orch:governance"])
        self.assertEqual((d["governance.reason"], d["governance.ticket"]),
                         ("new pool ingest", "GOV-2"))
        # a refusal too, with what passed the rules and null for what did not
        self.assertOAuthError(self.srv.token("platform", scope="orch:governance",
                                             governance_ticket="GOV-3"), 400, "invalid_request")
        e = self.last_grant(reader, "platform")
        self.assertEqual(e["details"]["outcome"], "invalid_request")
        self.assertIsNone(e["details"]["governance.reason"])
        self.assertEqual(e["details"]["governance.ticket"], "GOV-3")
        self.assertTrue(e["details"]["error_description"].startswith("governance_reason"))

    def test_entry_reason_takes_quota_before_governance(self):
        """The entry's reason is the first elevated scope's in the order quota, backfill,
        operate, governance, whatever order the scope names came in."""
        reader = self.srv.grant("viewer", "orch:read")
        self.assertOAuthError(
            self.srv.token("admin", scope="orch:governance orch:quota",
                           governance_reason="g reason", governance_ticket="G-1",
                           quota_reason="q reason"), 400, "invalid_scope")
        e = self.last_grant(reader, "admin")
        self.assertEqual(e["tenantId"], "acme")
        self.assertEqual((e["reason"], e["ticket"]), ("q reason", None))
        self.assertEqual((e["details"]["governance.reason"], e["details"]["governance.ticket"]),
                         ("g reason", "G-1"))
        self.assertEqual(e["details"]["scope"], ["orch:governance", "orch:quota"])
        self.assertEqual(e["details"]["outcome"], "invalid_scope")

    # -- the _system chain --------------------------------------------------------------------------
    def test_platform_admin_lists_and_verifies_the_system_chain(self):
        self.srv.grant("platform", "orch:governance", governance_reason="listing")
        reader = self.platform_reader()
        entries = self.srv.audit_all(reader)
        self.assertTrue(entries)
        self.assertEqual({e["tenantId"] for e in entries}, {"_system"})
        self.assertEqual([e["sequence"] for e in entries], list(range(1, len(entries) + 1)))
        self.assertTrue(harness.verify_chain(entries)["valid"], "the chain links and hashes")
        v = self.srv.audit_verify(reader)
        self.assertTrue(v["valid"], v)
        self.assertGreaterEqual(v["entries"], len(entries))
        # a governance token alone reads the audit too, like the other elevated scopes
        gov = self.srv.grant("platform", "orch:governance", governance_reason="audit read")
        st, _, body = self.srv.api("GET", "/jobengine/audit/verify", gov)
        self.assertEqual(st, 200, body)
        self.assertTrue(body["valid"], body)
        # export: the platform chain checks like any other
        st, _, body = self.srv.api("GET", "/jobengine/audit/export", reader)
        self.assertEqual(st, 200, body)
        # and from the command line, as docs/operations.md shows it
        env = {"JOBENGINE_CLIENT_SECRET": self.srv.secrets["platform"]}
        p = run_cli(["audit", "verify", "--url", self.srv.url, "--client-id", "platform"],
                    env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("valid", p.stdout)
        p = run_cli(["audit", "list", "--url", self.srv.url, "--client-id", "platform",
                     "--json"], env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual({e["tenantId"] for e in json.loads(p.stdout)["items"]}, {"_system"})

    def test_tenant_clients_never_see_the_system_chain(self):
        marker = self.srv.grant("platform", "orch:governance", governance_reason="secret plan")
        marker_jti = claims_of(marker)["jti"]
        tok = self.srv.grant("viewer", "orch:read")
        entries = self.srv.audit_all(tok)
        self.assertEqual({e["tenantId"] for e in entries}, {"acme"})
        self.assertNotIn(marker_jti, [e["details"].get("jti") for e in entries])
        self.assertEnvelope(self.srv.api("GET", "/jobengine/audit", tok,
                                         headers={"X-StellaOps-Tenant": "_system"}),
                            400, "ERR_TENANT_MISMATCH")
        # no tenant client gets a token for _system, however it asks
        for client in ("admin", "viewer", "multi"):
            with self.subTest(client):
                self.assertOAuthError(self.srv.token(client, scope="orch:read",
                                                     tenant="_system"), 400, "invalid_request")
        # nor does introspection show a platform token to a tenant's client
        st, js, _ = self.srv.introspect("viewer", marker)
        self.assertEqual((st, js), (200, {"active": False}))
        st, js, _ = self.srv.introspect("platform", marker)
        self.assertEqual(st, 200, js)
        self.assertEqual((js["active"], js["governance.reason"]), (True, "secret plan"))

    def test_platform_admin_never_acts_inside_a_tenant(self):
        self.assertOAuthError(self.srv.token("platform", scope="orch:read", tenant="acme"), 400,
                              "invalid_request")
        tok = self.platform_reader()
        self.assertEnvelope(self.srv.api("GET", "/jobengine/audit", tok,
                                         headers={"X-StellaOps-Tenant": "acme"}),
                            400, "ERR_TENANT_MISMATCH")
        st, _, body = self.srv.api("GET", "/jobengine/quotas", tok)
        self.assertEqual((st, body["items"]), (200, []), body)

    def test_discovery_lists_the_scope(self):
        d = self.srv.get_json("/.well-known/openid-configuration")
        self.assertIn("orch:governance", d["scopes_supported"])

    # -- client add, list, bootstrap ----------------------------------------------------------------
    def test_client_add_platform_rules(self):
        refused = {
            "platform role in a tenant": (["--tenant", "acme", "--role", "Orch.PlatformAdmin"],
                                          "Orch.PlatformAdmin"),
            "platform role in _system and a tenant": (
                ["--tenant", "_system", "--tenant", "acme", "--role", "Orch.PlatformAdmin"],
                "Orch.PlatformAdmin"),
            "tenant role in _system": (["--tenant", "_system", "--role", "Orch.Viewer"],
                                       "_system"),
            "platform and tenant role in _system": (
                ["--tenant", "_system", "--role", "Orch.PlatformAdmin", "--role", "Orch.Admin"],
                "_system"),
            "tenant role in _system and a tenant": (
                ["--tenant", "acme", "--tenant", "_system", "--role", "Orch.Admin"], "_system"),
            "_System is no tenant id": (["--tenant", "_System", "--role", "Orch.PlatformAdmin"],
                                        "_System"),
            "wrong case role": (["--tenant", "_system", "--role", "orch.platformadmin"],
                                "unknown role"),
        }
        for i, (name, (args, words)) in enumerate(refused.items()):
            with self.subTest(name):
                cid = "refused-%d" % i
                p = self.cli_add(cid, *args)
                self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
                self.assertEqual(p.stdout, "")
                self.assertTrue(p.stderr.startswith("jobengine client add: "), p.stderr)
                self.assertIn(words, p.stderr)
                self.assertNotIn(cid, self.listed())
        p = self.cli_add("platform-2", "--tenant", "_system", "--role", "Orch.PlatformAdmin")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.srv.secrets["platform-2"] = json.loads(p.stdout)["clientSecret"]
        got = self.listed()["platform-2"]
        self.assertEqual((got["tenants"], got["roles"]), (["_system"], ["Orch.PlatformAdmin"]))
        table = run_cli(["client", "list", "--store", self.srv.store], check=True).stdout
        row = [ln for ln in table.splitlines() if ln.startswith("platform-2 ")]
        self.assertEqual(len(row), 1, table)
        self.assertIn('["_system"]', row[0])
        self.assertIn('["Orch.PlatformAdmin"]', row[0])
        # the running server takes it at once
        tok = self.srv.grant("platform-2", "orch:governance", governance_reason="second admin")
        self.assertEqual(claims_of(tok)["stellaops:tenant"], "_system")
        run_cli(["client", "remove", "platform-2", "--store", self.srv.store], check=True)

    def test_bootstrap_file(self):
        srv = self.new_server([], name="gov-boot", start=False)
        good = {"clients": [
            {"clientId": "boot-platform", "tenants": ["_system"], "roles": ["Orch.PlatformAdmin"],
             "secret": "p" * 40},
            {"clientId": "boot-admin", "tenants": ["acme"], "roles": ["Orch.Admin"],
             "secret": "a" * 40},
        ]}
        bad = {"clients": good["clients"] + [
            {"clientId": "boot-bad", "tenants": ["acme"], "roles": ["Orch.PlatformAdmin"],
             "secret": "b" * 40}]}
        bad_path = harness.write_json_file(srv.dir, "bad.json", bad)
        p = run_cli(["client", "bootstrap", bad_path, "--store", srv.store])
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("clients[2]", p.stderr)
        self.assertIn("Orch.PlatformAdmin", p.stderr)
        self.assertEqual(self.listed(srv.store), {}, "nothing is stored from a refused file")
        good_path = harness.write_json_file(srv.dir, "good.json", good)
        run_cli(["client", "bootstrap", good_path, "--store", srv.store], check=True)
        self.assertEqual(set(self.listed(srv.store)), {"boot-platform", "boot-admin"})
        srv.secrets["boot-platform"] = "p" * 40
        srv.start()
        tok = srv.grant("boot-platform", "orch:governance", governance_reason="from the file")
        self.assertEqual(claims_of(tok)["stellaops:tenant"], "_system")

    # -- jobengine token ----------------------------------------------------------------------------
    def cli_token(self, *args, env=None):
        return run_cli(["token", "--url", self.srv.url, "--client-id", "platform",
                        "--client-secret", self.srv.secrets["platform"],
                        "--scope", "orch:governance"] + list(args), env=env)

    def test_cli_token_governance_flags_and_environment(self):
        p = self.cli_token("--governance-reason", "flag reason", "--governance-ticket", "GF-1")
        self.assertEqual(p.returncode, 0, p.stderr)
        c = claims_of(p.stdout.strip())
        self.assertEqual((c["governance.reason"], c["governance.ticket"]),
                         ("flag reason", "GF-1"))
        env = {"STELLAOPS_ORCH_GOVERNANCE_REASON": "env reason",
               "STELLAOPS_ORCH_GOVERNANCE_TICKET": "GE-2"}
        p = self.cli_token(env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        c = claims_of(p.stdout.strip())
        self.assertEqual((c["governance.reason"], c["governance.ticket"]), ("env reason", "GE-2"))
        p = self.cli_token("--governance-reason", "flag wins", env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        c = claims_of(p.stdout.strip())
        self.assertEqual((c["governance.reason"], c["governance.ticket"]), ("flag wins", "GE-2"))
        # another scope's variable is no governance reason
        p = self.cli_token(env={"STELLAOPS_ORCH_QUOTA_REASON": "quota env"})
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("invalid_request", p.stderr)
        self.assertIn("governance_reason", p.stderr)
        self.assertEqual(p.stdout, "")
        p = run_cli(["token", "--help"], check=True)
        self.assertIn("--governance-reason", p.stdout)


if __name__ == "__main__":
    import unittest
    unittest.main()
