"""The frame of a black-box test of one `jobengine CMD` family (test_cli_pool, test_cli_breaker):
running it against the class's server with a client's credentials, and the checks every such
test makes of an answer, a refusal, and a usage error that must not reach the server."""
from harness import ServerTestCase, run_cli
from test_cli_quota import Listener


class CliCommandCase(ServerTestCase):
    COMMAND = None          # "pool"
    DEFAULT_CLIENT = None   # whose credentials cli() passes unless told otherwise

    def cli(self, *args, client=None, env=None, url=None):
        client = self.DEFAULT_CLIENT if client is None else client
        creds = []
        if client:
            creds = ["--client-id", client, "--client-secret", self.srv.secrets[client]]
        p = run_cli([self.COMMAND] + list(args) + ["--url", url or self.srv.url] + creds, env=env)
        for c in self.srv.secrets.values():
            self.assertNotIn(c, p.stdout + p.stderr, "a client secret was printed")
        return p

    def ok(self, *args, **kw):
        p = self.cli(*args, **kw)
        self.assertEqual(p.returncode, 0, "%s %s: %s" % (self.COMMAND, " ".join(args), p.stderr))
        self.assertEqual(p.stderr, "")
        return p

    def assertFailed(self, p, code, status=1):
        self.assertEqual(p.returncode, status, p.stderr)
        self.assertEqual(p.stdout, "", "nothing on stdout when a call fails")
        self.assertRegex(p.stderr, r"^jobengine %s \w+: %s: " % (self.COMMAND, code))

    def assertNothingSent(self, *args, env=None, client=None):
        """CMD ARGS is a usage error (exit 2) and never reaches the server."""
        lst = Listener()
        try:
            p = self.cli(*args, url=lst.url, env=env, client=client)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertEqual(p.stdout, "")
            self.assertRegex(p.stderr, r"^jobengine %s \w+: " % self.COMMAND)
            self.assertFalse(lst.connected(), "nothing may be sent")
        finally:
            lst.close()
        return p
