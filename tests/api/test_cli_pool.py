"""Black-box tests of `jobengine pool` (api.md "Pools", "Command line"): the real binary against a
real server. The platform administrator sets and deletes pools with a governance reason (from
--reason, --governance-reason or STELLAOPS_ORCH_GOVERNANCE_REASON) audited in _system's chain;
reads ask for orch:read and show a tenant only its own entitlement; tables for people, --json as
the server wrote it; the server's error code on stderr with exit 1, usage errors exit 2 with
nothing sent (run on SQLite as api.* and on PostgreSQL as api-pg.*)."""

import json
import re
import unittest

from harness import GRANT_EVENT, quota_body, run_cli
from cli_case import CliCommandCase

CLIENTS = [
    ("platform", ["_system"], ["Orch.PlatformAdmin"]),
    ("acme-admin", ["acme"], ["Orch.Admin", "Orch.Operator"]),
    ("globex-admin", ["globex"], ["Orch.Admin", "Orch.Operator"]),
]
P = "/jobengine/pools/"


class CliPoolTest(CliCommandCase):
    COMMAND = "pool"
    DEFAULT_CLIENT = "platform"

    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(CLIENTS, name="cli-pool")
        s = cls.srv
        cls.gov = s.grant("platform", "orch:governance", governance_reason="test setup")
        cls.platform_read = s.grant("platform", "orch:read")
        cls.acme = s.grant("acme-admin", "orch:read orch:jobs orch:quota", quota_reason="setup")

    # -- helpers ----------------------------------------------------------------------------------
    def entries(self, job_type):
        return [e for e in self.srv.audit_all(self.platform_read, resourceType="pool")
                if e["resourceId"] == job_type]

    def last_grant(self, client):
        grants = self.srv.audit_all(self.platform_read if client == "platform" else self.acme,
                                    eventType=GRANT_EVENT, actor=client)
        self.assertTrue(grants)
        return grants[-1]

    # -- changes and the platform's chain ---------------------------------------------------------
    def test_set_with_shares_and_reason_is_audited_in_the_platform_chain(self):
        p = self.ok("set", "cli.set", "--strategy", "reserved", "--max-active", "10",
                    "--max-per-hour", "600", "--share", "globex:reserved=2,max-active=5",
                    "--share", "acme:weight=2.5,tier=3,reserved=4", "--reason", "capacity plan",
                    "--ticket", "CAP-1")
        for pattern in (r"^jobType:\s+cli\.set$", r"^strategy:\s+reserved$",
                        r"^maxActive:\s+10$", r"^maxPerHour:\s+600$", r"^version:\s+1$",
                        r"^lastReason:\s+capacity plan$", r"^lastTicket:\s+CAP-1$",
                        r"^shares:$", r"^usage:$", r"^  active:\s+0$"):
            self.assertRegex(p.stdout, "(?m)" + pattern)
        rows = [line.split() for line in p.stdout.splitlines()]
        self.assertIn(["acme", "2.5", "3", "4", "-"], rows)
        self.assertIn(["globex", "1", "0", "2", "5"], rows)
        grant = self.last_grant("platform")
        self.assertEqual(grant["details"]["scope"], ["orch:governance"], "only the scope needed")
        self.assertEqual(grant["details"]["governance.reason"], "capacity plan")
        st, _, api = self.srv.api("GET", P + "cli.set", self.platform_read)
        self.assertEqual([(s["tenantId"], s["weight"], s["tier"], s["reserved"], s["maxActive"])
                          for s in api["shares"]],
                         [("acme", 2.5, 3, 4, None), ("globex", 1, 0, 2, 5)])
        [e] = self.entries("cli.set")
        self.assertEqual((e["eventType"], e["tenantId"], e["actorId"], e["reason"], e["ticket"]),
                         ("pool.created", "_system", "platform", "capacity plan", "CAP-1"))
        # the same again changes nothing (no entry); --if-match of another version is refused
        p = self.ok("set", "cli.set", "--strategy", "reserved", "--max-active", "10",
                    "--max-per-hour", "600", "--share", "acme:weight=2.5,tier=3,reserved=4",
                    "--share", "globex:reserved=2,max-active=5", "--reason", "again")
        self.assertRegex(p.stdout, r"(?m)^version:\s+1$")
        self.assertEqual(len(self.entries("cli.set")), 1)
        p = self.cli("set", "cli.set", "--strategy", "unlimited", "--max-active", "3",
                     "--if-match", "7", "--reason", "stale")
        self.assertFailed(p, "VERSION_MISMATCH")
        p = self.ok("set", "cli.set", "--strategy", "proportional", "--max-active", "12",
                    "--if-match", "1", "--reason", "more nodes", "--json")
        got = json.loads(p.stdout)
        self.assertEqual((got["strategy"], got["version"], got["shares"], got["maxPerHour"]),
                         ("proportional", 2, [], None), got)
        self.assertEqual([e["eventType"] for e in self.entries("cli.set")],
                         ["pool.created", "pool.change.denied", "pool.updated"])

    def test_governance_reason_from_flag_or_environment(self):
        self.ok("set", "cli.env", "--strategy", "unlimited", "--max-active", "4",
                env={"STELLAOPS_ORCH_GOVERNANCE_REASON": "env plan",
                     "STELLAOPS_ORCH_GOVERNANCE_TICKET": "ENV-2"})
        grant = self.last_grant("platform")
        self.assertEqual((grant["details"]["governance.reason"],
                          grant["details"]["governance.ticket"]), ("env plan", "ENV-2"))
        [e] = self.entries("cli.env")
        self.assertEqual((e["reason"], e["ticket"]), ("env plan", "ENV-2"))  # the token's claims
        # --governance-reason goes into the token only; the body's --reason is the change's
        self.ok("delete", "cli.env", "--governance-reason", "token says", "--governance-ticket",
                "TOK-3", "--reason", "body says")
        grant = self.last_grant("platform")
        self.assertEqual((grant["details"]["governance.reason"],
                          grant["details"]["governance.ticket"]), ("token says", "TOK-3"))
        e = self.entries("cli.env")[-1]
        self.assertEqual((e["eventType"], e["reason"], e["ticket"]),
                         ("pool.deleted", "body says", None))

    def test_a_change_without_any_reason_is_a_usage_error(self):
        p = self.assertNothingSent("set", "cli.none", "--strategy", "unlimited", "--max-active",
                                   "3")
        self.assertIn("STELLAOPS_ORCH_GOVERNANCE_REASON", p.stderr)
        self.assertNothingSent("delete", "cli.none")

    # -- reads --------------------------------------------------------------------------------------
    def test_list_and_get_show_the_platform_everything_and_a_tenant_its_own(self):
        self.ok("set", "cli.read", "--strategy", "max-limit", "--max-active", "6", "--share",
                "acme:max-active=4", "--share", "globex:max-active=2", "--reason", "read test")
        st, _, q = self.srv.api("POST", "/jobengine/quotas", self.acme,
                                body=quota_body("cli.read", max_active=10))
        self.assertEqual(st, 201, q)
        st, _, _ = self.srv.api("POST", "/jobengine/quotas/%s/acquire" % q["quotaId"], self.acme,
                                body={})
        self.assertEqual(st, 200)
        p = self.ok("list")
        self.assertEqual(self.last_grant("platform")["details"]["scope"], ["orch:read"])
        lines = p.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["JOBTYPE", "STRATEGY", "ACTIVE/MAX", "PER", "HOUR",
                                            "THROTTLED", "VERSION"])
        rows = {line.split()[0]: line.split() for line in lines[1:]}
        self.assertEqual(rows["cli.read"], ["cli.read", "max-limit", "1/6", "1/-", "0", "1"])
        order = [line.split()[0] for line in lines[1:]]
        self.assertEqual(order, sorted(order), "ordered by job type")
        p = self.ok("get", "cli.read")
        rows = [line.split() for line in p.stdout.splitlines()]
        self.assertIn(["acme", "1", "0", "0", "4"], rows)  # its share: weight 1, ..., cap 4
        self.assertIn(["acme", "1", "0", "4", "0", "4"], rows)  # its use: active 1, entitled 4
        self.assertIn("globex", p.stdout)
        # a tenant: its own line only, never globex's terms or use
        p = self.ok("get", "cli.read", client="acme-admin")
        self.assertNotIn("globex", p.stdout)
        self.assertNotRegex(p.stdout, r"(?m)^(shares|usage):")
        self.assertRegex(p.stdout, r"(?m)^you:$")
        self.assertIn(["acme", "1", "0", "4", "0", "4"], [line.split() for line in
                                                          p.stdout.splitlines()])
        p = self.ok("list", client="acme-admin")
        rows = {line.split()[0]: line.split() for line in p.stdout.splitlines()[1:]}
        self.assertEqual(rows["cli.read"], ["cli.read", "max-limit", "1/6", "-/-", "-", "1"])
        # --json: the server's answer as it came
        for client, token in (("platform", self.platform_read), ("acme-admin", self.acme)):
            got = json.loads(self.ok("get", "cli.read", "--json", client=client).stdout)
            st, _, api = self.srv.api("GET", P + "cli.read", token)
            self.assertEqual(st, 200)
            self.assertEqual(got, api)
            listed = json.loads(self.ok("list", "--json", client=client).stdout)
            st, _, api = self.srv.api("GET", P.rstrip("/"), token)
            self.assertEqual(listed, api)

    # -- errors and exit codes --------------------------------------------------------------------
    def test_server_refusals_exit_1_with_the_code(self):
        # reserves above the total: the server's check, named by field
        p = self.cli("set", "cli.bad", "--strategy", "reserved", "--max-active", "4", "--share",
                     "acme:reserved=3", "--share", "globex:reserved=2", "--reason", "too much")
        self.assertFailed(p, "VALIDATION_FAILED")
        self.assertIn("shares[1].reserved", p.stderr)
        self.assertFailed(self.cli("get", "cli.bad"), "NOT_FOUND")
        self.assertFailed(self.cli("delete", "cli.bad", "--reason", "x"), "NOT_FOUND")
        # a tenant's client cannot get a governance token at all
        p = self.cli("set", "cli.bad", "--strategy", "unlimited", "--max-active", "1",
                     "--reason", "not mine", client="acme-admin")
        self.assertFailed(p, "invalid_scope")

    def test_bad_arguments_exit_2_without_contacting_the_server(self):
        base = ["set", "cli.x", "--reason", "r"]
        cases = [
            (base + ["--max-active", "3"], "--strategy"),
            (base + ["--strategy", "fair", "--max-active", "3"], "--strategy"),
            (base + ["--strategy", "unlimited"], "--max-active"),
            (base + ["--strategy", "unlimited", "--max-active", "0"], "--max-active"),
            (base + ["--strategy", "unlimited", "--max-active", "2", "--max-per-hour", "x"],
             "--max-per-hour"),
            (base + ["--strategy", "reserved", "--max-active", "2", "--share", ":reserved=1"],
             "tenant"),
            (base + ["--strategy", "reserved", "--max-active", "2", "--share", "acme:size=1"],
             "unknown key"),
            (base + ["--strategy", "reserved", "--max-active", "2", "--share", "acme:reserved"],
             "key=value"),
            (base + ["--strategy", "proportional", "--max-active", "2", "--share",
                     "acme:weight=0"], "weight"),
            (base + ["--strategy", "priority", "--max-active", "2", "--share",
                     "acme:tier=1001"], "tier"),
            (base + ["--strategy", "max-limit", "--max-active", "2", "--share",
                     "acme:max-active=0"], "max-active"),
            (base + ["--strategy", "unlimited", "--max-active", "2", "--if-match", "v1"],
             "--if-match"),
            (["get"], "usage"),
            (["get", ""], "must not be empty"),
            (["delete", "a", "b", "--reason", "r"], "usage"),
            (["list", "--bogus"], "bogus"),
        ]
        for args, says in cases:
            with self.subTest(args=args):
                p = self.assertNothingSent(*args)
                self.assertIn(says, p.stderr)
        self.assertEqual(run_cli(["pool"]).returncode, 2)
        self.assertEqual(run_cli(["pool", "frob"]).returncode, 2)

    def test_help(self):
        p = run_cli(["pool", "--help"])
        self.assertEqual(p.returncode, 0, p.stderr)
        for sub in ("list", "get JOBTYPE", "set JOBTYPE", "delete JOBTYPE"):
            self.assertIn("jobengine pool " + sub, p.stdout)
        p = run_cli(["pool", "set", "--help"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("STELLAOPS_ORCH_GOVERNANCE_REASON", p.stdout)
        self.assertIn("--share", p.stdout)
        self.assertIn("pool", run_cli(["--help"]).stdout)


if __name__ == "__main__":
    unittest.main()
