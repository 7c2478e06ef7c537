"""Black-box tests of `jobengine breaker` (api.md "Circuit breakers", "Command line"): the real
binary against a real server. The platform administrator sets, forces and deletes breakers with
a governance reason audited in _system's chain; a tenant's operator forces its own breaker of a
per-tenant job type with an operator reason (--operator-reason, STELLAOPS_ORCH_OPERATOR_REASON or
--reason) audited in its own chain; reads ask for orch:read and never show a tenant another
tenant's row; tables for people, --json as the server wrote it; the server's error code on stderr
with exit 1, usage errors exit 2 with nothing sent (run on SQLite as api.* and on PostgreSQL as
api-pg.*)."""

import json
import unittest

from harness import GRANT_EVENT, run_cli
from cli_case import CliCommandCase

CLIENTS = [
    ("platform", ["_system"], ["Orch.PlatformAdmin"]),
    ("acme-op", ["acme"], ["Orch.Admin", "Orch.Operator"]),
    ("globex-op", ["globex"], ["Orch.Admin", "Orch.Operator"]),
]
B = "/jobengine/breakers"


class CliBreakerTest(CliCommandCase):
    COMMAND = "breaker"
    DEFAULT_CLIENT = "platform"

    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(CLIENTS, name="cli-breaker")
        s = cls.srv
        cls.platform_read = s.grant("platform", "orch:read")
        cls.acme_read = s.grant("acme-op", "orch:read")
        cls.globex_read = s.grant("globex-op", "orch:read")

    # -- helpers ----------------------------------------------------------------------------------
    def entries(self, token, job_type):
        return [e for e in self.srv.audit_all(token, resourceType="breaker")
                if e["resourceId"] == job_type]

    def last_grant(self, client, token):
        grants = self.srv.audit_all(token, eventType=GRANT_EVENT, actor=client)
        self.assertTrue(grants)
        return grants[-1]

    def rows(self, stdout):
        lines = stdout.splitlines()
        self.assertEqual(lines[0].split(), ["JOBTYPE", "TENANT", "STATE", "FORCE", "OK/FAILED",
                                            "RETRY", "AT", "VERSION"])
        return [line.split() for line in lines[1:]]

    # -- the platform's changes -----------------------------------------------------------------
    def test_set_force_delete_as_the_platform_audited_in_its_chain(self):
        p = self.ok("set", "cbr.set", "--failure-rate", "0.25", "--min-samples", "8",
                    "--window-seconds", "120", "--open-seconds", "45", "--probes", "2",
                    "--reason", "protect the scanners", "--ticket", "BRK-1")
        for pattern in (r"^jobType:\s+cbr\.set$", r"^tenantId:\s+-$", r"^perTenant:\s+no$",
                        r"^state:\s+closed$", r"^force:\s+auto$", r"^version:\s+1$",
                        r"^lastReason:\s+protect the scanners$", r"^lastTicket:\s+BRK-1$",
                        r"^settings:$", r"^  failureRate:\s+0\.25$", r"^  minSamples:\s+8$",
                        r"^  windowSeconds:\s+120$", r"^  openSeconds:\s+45$",
                        r"^  probes:\s+2$", r"^window:$", r"^  ok:\s+0$", r"^  failed:\s+0$"):
            self.assertRegex(p.stdout, "(?m)" + pattern)
        grant = self.last_grant("platform", self.platform_read)
        self.assertEqual(grant["details"]["scope"], ["orch:governance"], "only the scope needed")
        self.assertEqual(grant["details"]["governance.reason"], "protect the scanners")
        [e] = self.entries(self.platform_read, "cbr.set")
        self.assertEqual((e["eventType"], e["tenantId"], e["actorId"], e["reason"], e["ticket"]),
                         ("breaker.created", "_system", "platform", "protect the scanners",
                          "BRK-1"))
        self.assertEqual(e["details"]["after"]["settings"]["failureRate"], "0.25")
        # a set replaces every setting: what is not given takes its default
        got = json.loads(self.ok("set", "cbr.set", "--probes", "5", "--if-match", "1",
                                 "--reason", "more probes", "--json").stdout)
        self.assertEqual((got["version"], got["settings"]), (2, {
            "failureRate": 0.5, "minSamples": 20, "windowSeconds": 60, "openSeconds": 30,
            "probes": 5}), got)
        self.assertFailed(self.cli("set", "cbr.set", "--if-match", "1", "--reason", "stale"),
                          "VERSION_MISMATCH")
        # force open as _system: the governance scope, its reason from the environment
        p = self.ok("force", "cbr.set", "open", "--tenant", "_system",
                    env={"STELLAOPS_ORCH_GOVERNANCE_REASON": "vendor outage",
                         "STELLAOPS_ORCH_GOVERNANCE_TICKET": "INC-7"})
        self.assertRegex(p.stdout, r"(?m)^state:\s+open$")
        self.assertRegex(p.stdout, r"(?m)^force:\s+forced-open$")
        grant = self.last_grant("platform", self.platform_read)
        self.assertEqual((grant["details"]["scope"], grant["details"]["governance.reason"]),
                         (["orch:governance"], "vendor outage"))
        e = self.entries(self.platform_read, "cbr.set")[-1]
        self.assertEqual((e["eventType"], e["reason"], e["ticket"]),
                         ("breaker.forced", "vendor outage", "INC-7"))
        # without --tenant, a --governance-reason says it is the platform's
        p = self.ok("force", "cbr.set", "auto", "--governance-reason", "back to normal")
        self.assertRegex(p.stdout, r"(?m)^force:\s+auto$")
        p = self.ok("delete", "cbr.set", "--reason", "retired", "--ticket", "BRK-2")
        self.assertEqual(p.stdout, "deleted the breakers of cbr.set\n")
        self.assertEqual([e["eventType"] for e in self.entries(self.platform_read, "cbr.set")],
                         ["breaker.created", "breaker.updated", "breaker.change.denied",
                          "breaker.forced", "breaker.forced", "breaker.deleted"])
        self.assertFailed(self.cli("get", "cbr.set"), "NOT_FOUND")
        self.assertFailed(self.cli("delete", "cbr.set", "--reason", "again"), "NOT_FOUND")

    # -- a tenant's operator --------------------------------------------------------------------
    def test_a_tenant_operator_forces_its_own_per_tenant_breaker(self):
        self.ok("set", "cbr.own", "--per-tenant", "--min-samples", "5", "--reason", "per tenant")
        self.ok("set", "cbr.shared", "--reason", "one for all")
        p = self.ok("force", "cbr.own", "open", client="acme-op",
                    env={"STELLAOPS_ORCH_OPERATOR_REASON": "our scanner is down",
                         "STELLAOPS_ORCH_OPERATOR_TICKET": "ACME-3"})
        self.assertRegex(p.stdout, r"(?m)^tenantId:\s+acme$")
        self.assertRegex(p.stdout, r"(?m)^state:\s+open$")
        self.assertRegex(p.stdout, r"(?m)^  minSamples:\s+5$")  # the job type's settings
        grant = self.last_grant("acme-op", self.acme_read)
        self.assertEqual((grant["details"]["scope"], grant["details"]["request.reason"],
                          grant["details"]["request.ticket"]),
                         (["orch:operate"], "our scanner is down", "ACME-3"))
        [e] = self.entries(self.acme_read, "cbr.own")
        self.assertEqual((e["eventType"], e["tenantId"], e["reason"], e["ticket"]),
                         ("breaker.forced", "acme", "our scanner is down", "ACME-3"))
        # --operator-reason goes into the token, --reason into the change
        self.ok("force", "cbr.own", "closed", "--operator-reason", "token says",
                "--operator-ticket", "GLX-1", "--reason", "body says", client="globex-op")
        grant = self.last_grant("globex-op", self.globex_read)
        self.assertEqual((grant["details"]["request.reason"], grant["details"]["request.ticket"]),
                         ("token says", "GLX-1"))
        e = self.entries(self.globex_read, "cbr.own")[-1]
        self.assertEqual((e["tenantId"], e["reason"]), ("globex", "body says"))
        # a job type with one breaker for every tenant is the platform's to force
        p = self.cli("force", "cbr.shared", "open", "--reason", "not mine", "--ticket", "ACME-4",
                     client="acme-op")
        self.assertFailed(p, "BREAKER_NOT_PER_TENANT")
        # settings are the platform's: a tenant's client gets no governance token at all
        p = self.cli("set", "cbr.own", "--reason", "mine now", client="acme-op")
        self.assertFailed(p, "invalid_scope")
        # reads: the platform every row, a tenant the job type's row and its own only
        rows = self.rows(self.ok("get", "cbr.own").stdout)
        self.assertEqual([(r[0], r[1], r[2]) for r in rows],
                         [("cbr.own", "*", "closed"), ("cbr.own", "acme", "open"),
                          ("cbr.own", "globex", "closed")])
        p = self.ok("get", "cbr.own", client="acme-op")
        self.assertNotIn("globex", p.stdout)
        self.assertEqual([r[1] for r in self.rows(p.stdout)], ["*", "acme"])
        self.assertEqual(self.last_grant("acme-op", self.acme_read)["details"]["scope"],
                         ["orch:read"])
        listed = self.rows(self.ok("list", client="acme-op").stdout)
        self.assertEqual([(r[0], r[1]) for r in listed],
                         [("cbr.own", "*"), ("cbr.own", "acme"), ("cbr.shared", "*")])
        for client, token in (("platform", self.platform_read), ("acme-op", self.acme_read)):
            got = json.loads(self.ok("list", "--json", client=client).stdout)
            st, _, api = self.srv.api("GET", B, token)
            self.assertEqual((st, got), (200, api))
            got = json.loads(self.ok("get", "cbr.own", "--json", client=client).stdout)
            st, _, api = self.srv.api("GET", B + "/cbr.own", token)
            self.assertEqual((st, got), (200, api))

    # -- errors and exit codes --------------------------------------------------------------------
    def test_bad_arguments_exit_2_without_contacting_the_server(self):
        cases = [
            (["set", "cbr.x", "--reason", "r", "--failure-rate", "0"], "--failure-rate"),
            (["set", "cbr.x", "--reason", "r", "--failure-rate", "1.5"], "--failure-rate"),
            (["set", "cbr.x", "--reason", "r", "--failure-rate", "half"], "--failure-rate"),
            (["set", "cbr.x", "--reason", "r", "--min-samples", "0"], "--min-samples"),
            (["set", "cbr.x", "--reason", "r", "--window-seconds", "9"], "--window-seconds"),
            (["set", "cbr.x", "--reason", "r", "--open-seconds", "86401"], "--open-seconds"),
            (["set", "cbr.x", "--reason", "r", "--probes", "101"], "--probes"),
            (["set", "cbr.x", "--reason", "r", "--if-match", "v1"], "--if-match"),
            (["force", "cbr.x", "sideways", "--reason", "r"], "open, closed or auto"),
            (["force", "cbr.x", "--reason", "r"], "usage"),
            (["force", "cbr.x", "open", "--tenant", "_system", "--operator-reason", "r"],
             "--operator-reason"),
            (["get"], "usage"),
            (["get", ""], "must not be empty"),
            (["delete", "a", "b", "--reason", "r"], "usage"),
            (["list", "--bogus"], "bogus"),
        ]
        for args, says in cases:
            with self.subTest(args=args):
                p = self.assertNothingSent(*args)
                self.assertIn(says, p.stderr)
        # a change with no reason from any source
        p = self.assertNothingSent("set", "cbr.none")
        self.assertIn("STELLAOPS_ORCH_GOVERNANCE_REASON", p.stderr)
        p = self.assertNothingSent("force", "cbr.none", "open", "--ticket", "T-1",
                                   client="acme-op")
        self.assertIn("STELLAOPS_ORCH_OPERATOR_REASON", p.stderr)
        # the Authority grants orch:operate only with a ticket
        p = self.assertNothingSent("force", "cbr.none", "open", "--reason", "r", client="acme-op")
        self.assertIn("STELLAOPS_ORCH_OPERATOR_TICKET", p.stderr)
        p = self.assertNothingSent("force", "cbr.none", "open", "--governance-reason", "r",
                                   "--tenant", "acme", client="acme-op")
        self.assertIn("--governance-reason", p.stderr)
        self.assertEqual(run_cli(["breaker"]).returncode, 2)
        self.assertEqual(run_cli(["breaker", "frob"]).returncode, 2)

    def test_help(self):
        p = run_cli(["breaker", "--help"])
        self.assertEqual(p.returncode, 0, p.stderr)
        for sub in ("list", "get JOBTYPE", "set JOBTYPE", "force JOBTYPE open|closed|auto",
                    "delete JOBTYPE"):
            self.assertIn("jobengine breaker " + sub, p.stdout)
        p = run_cli(["breaker", "force", "--help"])
        self.assertEqual(p.returncode, 0, p.stderr)
        for text in ("STELLAOPS_ORCH_OPERATOR_REASON", "STELLAOPS_ORCH_GOVERNANCE_REASON",
                     "orch:operate", "orch:governance"):
            self.assertIn(text, p.stdout)
        self.assertIn("breaker", run_cli(["--help"]).stdout)


if __name__ == "__main__":
    unittest.main()
