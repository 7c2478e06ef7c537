"""Black-box tests of `jobengine quota` (api.md §4, §3.2, §3.3): the real binary against a real
server. Credentials (client credentials or a given token), the scope each call asks for, the
justification reaching the audit chain, table and --json output, the error form and exit codes
(1: the server refused or could not be reached; 2: usage, nothing sent)."""

import json
import re
import socket
import unittest

from harness import GRANT_EVENT, ServerTestCase, claims_of, free_port, run_cli

CLIENTS = [
    ("admin", ["acme"], ["Orch.Admin"]),
    ("worker", ["acme"], ["Orch.Worker"]),
    ("viewer", ["acme"], ["Orch.Viewer"]),
    ("gadmin", ["globex"], ["Orch.Admin"]),
]
QUOTAS = "/jobengine/quotas"


class Listener:
    """A TCP socket that accepts nothing: connected() says whether anyone tried to connect."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.setblocking(False)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]

    def connected(self):
        try:
            conn, _ = self.sock.accept()
        except BlockingIOError:
            return False
        conn.close()
        return True

    def close(self):
        self.sock.close()


class CliQuotaTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(CLIENTS, name="cli-quota")
        cls.reader = cls.srv.grant("viewer", "orch:read")
        cls.admin_tok = cls.srv.grant("admin", "orch:quota", quota_reason="test setup")

    # -- helpers ----------------------------------------------------------------------------------
    def cli(self, *args, client="admin", env=None, url=None):
        """jobengine quota ARGS with --url and the client's credentials as flags."""
        creds = []
        if client is not None:
            creds = ["--client-id", client, "--client-secret", self.srv.secrets[client]]
        p = run_cli(["quota"] + list(args) + ["--url", url or self.srv.url] + creds, env=env)
        for c in self.srv.secrets.values():
            self.assertNotIn(c, p.stdout + p.stderr, "a client secret was printed")
        return p

    def ok(self, *args, **kw):
        p = self.cli(*args, **kw)
        self.assertEqual(p.returncode, 0, "quota %s: %s" % (" ".join(args), p.stderr))
        self.assertEqual(p.stderr, "")
        return p

    def create(self, job_type, max_active=5, per_hour=100, burst=10, refill=0.5):
        st, _, body = self.srv.api("POST", QUOTAS, self.admin_tok, body={
            "jobType": job_type, "maxActive": max_active, "maxPerHour": per_hour,
            "burstCapacity": burst, "refillPerSecond": refill})
        self.assertEqual(st, 201, body)
        return body["quotaId"]

    def get(self, qid):
        return self.srv.api("GET", QUOTAS + "/" + qid, self.reader)

    def entries(self, event_type, qid):
        return self.srv.audit_all(self.reader, eventType=event_type, resourceId=qid)

    def last_grant_scope(self, client):
        grants = self.srv.audit_all(self.reader, eventType=GRANT_EVENT, actor=client)
        self.assertTrue(grants)
        return grants[-1]["details"]["scope"]

    def assertFailed(self, p, code, status=1):
        self.assertEqual(p.returncode, status, p.stderr)
        self.assertEqual(p.stdout, "", "nothing on stdout when a call fails")
        self.assertRegex(p.stderr, r"^jobengine quota \w+: %s: " % code)

    # -- justification and the audit chain --------------------------------------------------------
    def test_create_reason_from_environment_is_audited(self):
        env = {"STELLAOPS_ORCH_QUOTA_REASON": "env surge", "STELLAOPS_ORCH_QUOTA_TICKET": "ENV-7"}
        p = self.ok("create", "--job-type", "env.created", "--max-active", "4", "--max-per-hour",
                    "40", "--burst", "8", "--refill", "0.25", env=env)
        qid = re.search(r"^quotaId:\s+(\S+)$", p.stdout, re.M).group(1)
        self.assertRegex(p.stdout, r"(?m)^jobType:\s+env\.created$")
        self.assertRegex(p.stdout, r"(?m)^refillPerSecond:\s+0\.25$")
        self.assertEqual(self.last_grant_scope("admin"), ["orch:quota"], "only the scope needed")
        [e] = self.entries("quota.created", qid)
        self.assertEqual((e["reason"], e["ticket"]), ("env surge", "ENV-7"))
        self.assertEqual(e["details"]["token"]["reason"], "env surge")
        self.assertEqual(e["actorId"], "admin")

    def test_set_reason_and_ticket_flags_are_audited(self):
        qid = self.create("set.flags")
        p = self.ok("set", qid, "--max-active", "7", "--reason", "black friday", "--ticket",
                    "OPS-4411")
        self.assertRegex(p.stdout, r"(?m)^maxActive:\s+7$")
        [e] = self.entries("quota.updated", qid)
        self.assertEqual((e["reason"], e["ticket"]), ("black friday", "OPS-4411"))
        # the token was asked for with the same justification (the fallback of --token-reason)
        self.assertEqual(e["details"]["token"]["reason"], "black friday")
        self.assertEqual(e["details"]["token"]["ticket"], "OPS-4411")
        self.assertEqual(e["details"]["after"]["maxActive"], 7)
        # --token-reason goes into the token only; the body's reason stays the change's
        self.ok("set", qid, "--max-per-hour", "77", "--reason", "body says", "--token-reason",
                "token says", "--token-ticket", "TOK-1")
        e = self.entries("quota.updated", qid)[-1]
        self.assertEqual((e["reason"], e["ticket"]), ("body says", None))
        self.assertEqual(e["details"]["token"]["reason"], "token says")
        self.assertEqual(e["details"]["token"]["ticket"], "TOK-1")

    def test_change_without_any_reason_is_a_usage_error(self):
        with_listener = Listener()
        try:
            p = self.cli("create", "--job-type", "no.reason", "--max-active", "1",
                         "--max-per-hour", "1", "--burst", "1", "--refill", "1",
                         url=with_listener.url)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn("reason", p.stderr)
            self.assertIn("STELLAOPS_ORCH_QUOTA_REASON", p.stderr)
            self.assertFalse(with_listener.connected(), "nothing may be sent")
        finally:
            with_listener.close()

    # -- output for people and for scripts --------------------------------------------------------
    def test_list_get_summary_tables(self):
        a = self.create("table.alpha", max_active=13, per_hour=1300, burst=130, refill=1.5)
        b = self.create("table.beta", max_active=17, per_hour=1700, burst=170, refill=2)
        for sub in ("list", "summary"):
            with self.subTest(sub):
                p = self.ok(sub)
                self.assertEqual(self.last_grant_scope("admin"), ["orch:read"])
                lines = p.stdout.splitlines()
                self.assertEqual(lines[0].split(), ["JOBTYPE", "QUOTA", "ID", "ACTIVE/MAX",
                                                    "PER", "HOUR", "TOKENS", "REFILL/S", "PAUSED",
                                                    "THROTTLED"])
                rows = {line.split()[0]: line.split() for line in lines[1:]}
                self.assertEqual(rows["table.alpha"],
                                 ["table.alpha", a, "0/13", "0/1300", "130/130", "1.5", "no", "0"])
                self.assertEqual(rows["table.beta"][:5], ["table.beta", b, "0/17", "0/1700",
                                                          "170/170"])
                order = [line.split()[0] for line in lines[1:]]
                self.assertEqual(order, sorted(order), "ordered by jobType")
        p = self.ok("list", "--job-type", "table.beta")
        self.assertEqual([line.split()[0] for line in p.stdout.splitlines()[1:]], ["table.beta"])
        p = self.ok("get", a)
        for pattern in (r"^quotaId:\s+%s$" % a, r"^jobType:\s+table\.alpha$",
                        r"^maxPerHour:\s+1300$", r"^refillPerSecond:\s+1\.5$", r"^usage:$",
                        r"^  active:\s+0$", r"^  availableTokens:\s+130$", r"^elevation:\s+-$",
                        r"^version:\s+1$", r"^paused:\s+no$"):
            self.assertRegex(p.stdout, "(?m)" + pattern)

    def test_json_output_matches_the_api(self):
        qid = self.create("json.one", refill=0.1)
        self.create("json.two")
        self.create("json.three")
        p = self.ok("get", qid, "--json")
        got = json.loads(p.stdout)
        st, hdrs, api = self.get(qid)
        self.assertEqual(st, 200)
        strip = lambda q: {k: v for k, v in q.items() if k != "usage"}  # tokens refill meanwhile
        self.assertEqual(strip(got), strip(api))
        self.assertEqual(set(got["usage"]), set(api["usage"]))
        self.assertIn('"refillPerSecond":0.1,', p.stdout, "numbers as the server wrote them")
        # list --json follows continuationToken: a page size of 1 still gives every quota
        p = self.ok("list", "--json", "--limit", "1")
        listed = json.loads(p.stdout)
        self.assertIsNone(listed["continuationToken"])
        st, _, api = self.srv.api("GET", QUOTAS + "?limit=500", self.reader)
        self.assertEqual([q["quotaId"] for q in listed["items"]],
                         [q["quotaId"] for q in api["items"]])
        self.assertGreaterEqual(len(listed["items"]), 3)
        p = self.ok("summary", "--json")
        st, _, api = self.srv.api("GET", QUOTAS + "/summary", self.reader)
        self.assertEqual([i["quotaId"] for i in json.loads(p.stdout)["items"]],
                         [i["quotaId"] for i in api["items"]])

    def test_ceilings_table_and_json(self):
        p = self.ok("ceilings", "--job-type", "scan.image")
        self.assertEqual(self.last_grant_scope("admin"), ["orch:read"])
        lines = p.stdout.splitlines()
        self.assertEqual([line.split() for line in lines],
                         [["JOBTYPE", "MAX", "ACTIVE", "PER", "HOUR", "BURST", "REFILL/S"],
                          ["scan.image", "1000", "1000000", "10000", "1000"]])
        p = self.ok("ceilings", "--job-type", "*", "--json")
        st, _, api = self.srv.api("GET", QUOTAS + "/ceilings?jobType=%2A", self.reader)
        self.assertEqual(st, 200, api)
        self.assertEqual(json.loads(p.stdout), api)
        self.assertEqual(api["jobType"], "*")
        # --job-type is required (nothing sent); a malformed one is the server's 400
        lst = Listener()
        try:
            p = self.cli("ceilings", url=lst.url)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn("--job-type", p.stderr)
            self.assertFalse(lst.connected(), "nothing may be sent")
        finally:
            lst.close()
        self.assertFailed(self.cli("ceilings", "--job-type", "bad type"), "VALIDATION_FAILED")

    def test_pause_resume_delete(self):
        qid = self.create("state.cycle")
        p = self.ok("pause", qid, "--reason", "incident", "--ticket", "INC-1")
        self.assertRegex(p.stdout, r"(?m)^paused:\s+yes$")
        self.assertRegex(p.stdout, r"(?m)^pauseReason:\s+incident$")
        body = self.get(qid)[2]
        self.assertEqual((body["paused"], body["pauseTicket"]), (True, "INC-1"))
        self.assertIn(qid, self.ok("list", "--paused", "true").stdout)
        self.assertNotIn(qid, self.ok("list", "--paused", "false").stdout)
        p = self.ok("resume", qid, "--reason", "over", "--json")
        self.assertIs(json.loads(p.stdout)["paused"], False)
        version = self.get(qid)[2]["version"]
        p = self.cli("delete", qid, "--reason", "gone", "--if-match", str(version + 5))
        self.assertFailed(p, "VERSION_MISMATCH")
        p = self.ok("delete", qid, "--reason", "gone", "--if-match", str(version))
        self.assertEqual(p.stdout, "deleted quota %s\n" % qid)
        self.assertEqual(self.get(qid)[0], 404)
        [e] = self.entries("quota.deleted", qid)
        self.assertEqual(e["reason"], "gone")
        self.assertFailed(self.cli("get", qid), "NOT_FOUND")

    def test_acquire_release_round_trip(self):
        qid = self.create("permit.trip", max_active=1)
        p = self.ok("acquire", qid, "--ttl-seconds", "60", client="worker")
        self.assertEqual(self.last_grant_scope("worker"), ["orch:jobs"])
        permit = re.search(r"^permitId:\s+(\S+)$", p.stdout, re.M).group(1)
        self.assertRegex(p.stdout, r"(?m)^expiresAt:\s+\d{4}-\d\d-\d\dT[\d:.]+Z$")
        self.assertEqual(self.get(qid)[2]["usage"]["active"], 1)
        p = self.cli("acquire", qid, client="worker")
        self.assertFailed(p, "QUOTA_EXHAUSTED")
        self.assertRegex(p.stderr, r"retry after \d+ s")
        p = self.ok("release", qid, "--permit", permit, client="worker")
        self.assertIn(permit, p.stdout)
        self.assertEqual(self.get(qid)[2]["usage"]["active"], 0)
        self.assertFailed(self.cli("release", qid, "--permit", permit, client="worker"),
                          "NOT_FOUND")
        # --json and Idempotency-Key: a retried acquire returns the same permit
        one = json.loads(self.ok("acquire", qid, "--idempotency-key", "k-1", "--json",
                                 client="worker").stdout)
        two = json.loads(self.ok("acquire", qid, "--idempotency-key", "k-1", "--json",
                                 client="worker").stdout)
        self.assertIs(one["granted"], True)
        self.assertEqual(one, two)
        self.ok("release", qid, "--permit", one["permitId"], "--json", client="worker")

    # -- errors and exit codes --------------------------------------------------------------------
    def test_server_refusal_exits_1_with_the_code(self):
        qid = self.create("too.high")
        for extra in ([], ["--json"]):
            with self.subTest(extra=extra):
                p = self.cli("set", qid, "--max-active", "5000", "--reason", "too much", *extra)
                self.assertFailed(p, "QUOTA_POLICY_VIOLATION")
                self.assertIn("QUOTA_POLICY_VIOLATION", p.stderr)
        self.assertEqual(self.get(qid)[2]["maxActive"], 5)
        p = self.cli("create", "--job-type", "too.high", "--max-active", "1", "--max-per-hour",
                     "1", "--burst", "1", "--refill", "1", "--reason", "again")
        self.assertFailed(p, "QUOTA_EXISTS")
        # the Authority's refusals take the same form (OAuth error code)
        p = run_cli(["quota", "list", "--url", self.srv.url, "--client-id", "admin",
                     "--client-secret", "x" * 43])
        self.assertFailed(p, "invalid_client")
        self.assertFailed(self.cli("acquire", qid, client="viewer"), "invalid_scope")

    def test_bad_values_exit_2_without_contacting_the_server(self):
        create = ["create", "--job-type", "t", "--max-active", "1", "--max-per-hour", "1",
                  "--burst", "1", "--refill", "1", "--reason", "r"]
        cases = [
            ["create", "--job-type", "t", "--max-active", "x", "--max-per-hour", "1", "--burst",
             "1", "--refill", "1", "--reason", "r"],
            create[:4] + ["0"] + create[5:],
            create[:6] + ["-1"] + create[7:],
            create[:8] + ["1.5"] + create[9:],
            create[:10] + ["0"] + create[11:],
            create[:10] + ["nan"] + create[11:],
            ["create", "--job-type", "t", "--max-active", "1"],
            ["set", "Q", "--refill", "-0.5", "--reason", "r"],
            ["set", "Q", "--expires-at", "tomorrow", "--reason", "r"],
            ["set", "Q", "--if-match", "v1", "--reason", "r"],
            ["set", "Q", "--max-active", "9007199254740992", "--reason", "r"],
            ["list", "--limit", "501"],
            ["list", "--paused", "maybe"],
            ["acquire", "Q", "--ttl-seconds", "86401"],
            ["release", "Q"],
            ["get"],
            ["get", "a", "b"],
            ["get", "Q", "--max-active", "3"],
            ["frobnicate"],
        ]
        lst = Listener()
        try:
            for args in cases:
                with self.subTest(args=args):
                    p = self.cli(*args, url=lst.url)
                    self.assertEqual(p.returncode, 2, p.stderr)
                    self.assertEqual(p.stdout, "")
                    self.assertRegex(p.stderr, r"^jobengine quota")
                    self.assertFalse(lst.connected(), "the server was contacted")
        finally:
            lst.close()
        p = self.cli(*cases[0], url=self.srv.url)
        self.assertIn("--max-active", p.stderr)

    def test_missing_credentials(self):
        lst = Listener()
        try:
            p = self.cli("list", client=None, url=lst.url)
            self.assertIn(p.returncode, (1, 2), p.stderr)
            self.assertIn("credentials", p.stderr)
            self.assertIn("JOBENGINE_TOKEN", p.stderr)
            self.assertFalse(lst.connected())
            p = run_cli(["quota", "list", "--url", lst.url, "--client-id", "admin"])
            self.assertIn(p.returncode, (1, 2), p.stderr)
            self.assertIn("credentials", p.stderr)
        finally:
            lst.close()

    def test_unreachable_server_exits_1(self):
        p = self.cli("list", url="http://127.0.0.1:%d" % free_port())
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout, "")
        self.assertIn("cannot reach", p.stderr)

    def test_token_from_environment(self):
        env = {"JOBENGINE_URL": self.srv.url, "JOBENGINE_TOKEN": self.reader}
        p = run_cli(["quota", "summary"], env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("JOBTYPE", p.stdout)
        self.assertNotIn(self.reader, p.stdout + p.stderr)
        # a change with the token's own justification (no --reason)
        tok = self.srv.grant("admin", "orch:quota", quota_reason="token claim", quota_ticket="TK-2")
        p = run_cli(["quota", "create", "--job-type", "env.token", "--max-active", "2",
                     "--max-per-hour", "2", "--burst", "2", "--refill", "2", "--json"],
                    env={"JOBENGINE_URL": self.srv.url, "JOBENGINE_TOKEN": tok})
        self.assertEqual(p.returncode, 0, p.stderr)
        qid = json.loads(p.stdout)["quotaId"]
        [e] = self.entries("quota.created", qid)
        self.assertEqual((e["reason"], e["ticket"]), ("token claim", "TK-2"))
        self.assertEqual(e["details"]["token"]["jti"], claims_of(tok)["jti"])
        # --token wins over the client credentials in the environment; a read token cannot change
        p = run_cli(["quota", "delete", qid, "--token", self.reader, "--reason", "r"],
                    env={"JOBENGINE_URL": self.srv.url, "JOBENGINE_CLIENT_ID": "admin",
                         "JOBENGINE_CLIENT_SECRET": self.srv.secrets["admin"]})
        self.assertFailed(p, "SCOPE_REQUIRED")
        # the tenant given is checked against the token's
        p = run_cli(["quota", "list", "--tenant", "globex"], env=env)
        self.assertFailed(p, "ERR_TENANT_MISMATCH")
        p = run_cli(["quota", "list"], env=dict(env, JOBENGINE_TOKEN="not-a-token"))
        self.assertFailed(p, "UNAUTHORIZED")

    def test_client_credentials_from_environment_and_tenant(self):
        env = {"JOBENGINE_URL": self.srv.url, "JOBENGINE_CLIENT_ID": "gadmin",
               "JOBENGINE_CLIENT_SECRET": self.srv.secrets["gadmin"], "JOBENGINE_TENANT": "globex"}
        p = run_cli(["quota", "create", "--job-type", "globex.only", "--max-active", "3",
                     "--max-per-hour", "3", "--burst", "3", "--refill", "3", "--reason", "g",
                     "--json"], env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["tenantId"], "globex")
        p = run_cli(["quota", "list"], env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("globex.only", p.stdout)
        self.assertNotIn("globex.only", self.ok("list").stdout, "acme does not see it")
        # the tenant-wide default '*' travels escaped in paths and queries
        p = run_cli(["quota", "create", "--job-type", "*", "--max-active", "9", "--max-per-hour",
                     "9", "--burst", "9", "--refill", "9", "--reason", "default"], env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = run_cli(["quota", "list", "--job-type", "*", "--json"], env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual([q["jobType"] for q in json.loads(p.stdout)["items"]], ["*"])

    def test_help(self):
        p = run_cli(["quota", "--help"])
        self.assertEqual(p.returncode, 0, p.stderr)
        for sub in ("list", "get", "create", "set", "pause", "resume", "delete", "summary",
                    "ceilings", "acquire", "release"):
            self.assertRegex(p.stdout, r"jobengine quota %s\b" % sub)
        self.assertIn("JOBENGINE_URL", p.stdout)
        p = run_cli(["quota", "set", "--help"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.startswith("usage: jobengine quota set ID"), p.stdout)
        self.assertIn("--expires-at", p.stdout)
        self.assertIn("--client-secret", p.stdout)
        p = run_cli(["quota"])
        self.assertEqual(p.returncode, 2)
        self.assertIn("usage:", p.stderr)
        self.assertIn("quota", run_cli(["--help"]).stdout)


if __name__ == "__main__":
    unittest.main()
