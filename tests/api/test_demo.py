"""Black-box test of `serve --demo` (README, `make run`): an empty store is seeded with the demo
tenant's four clients, their secrets are printed once, and the "Try:" line names the address the
server really listens on, with a command that works as printed."""

import re
import time
import unittest

import harness
from harness import ServerTestCase


class DemoTest(ServerTestCase):
    def stdout_of(self, srv):
        for _ in range(50):
            with open(srv.out_path, encoding="utf-8", errors="replace") as f:
                text = f.read()
            if "Try:" in text:
                return text
            time.sleep(0.1)
        self.fail("no Try: line on stdout")

    def test_demo_seed_and_try_line(self):
        srv = self.new_server((), name="demo", args=["--demo"])
        out = self.stdout_of(srv)
        secrets = dict(re.findall(r"^\s+(demo-[a-z]+)\s+Orch\.\w+\s+(\S+)$", out, re.M))
        self.assertEqual(sorted(secrets), ["demo-admin", "demo-operator", "demo-platform",
                                           "demo-viewer", "demo-worker"], out)
        # the platform administrator acts for _system and may ask for orch:governance
        st, js, _ = srv.token("demo-platform", secret=secrets["demo-platform"],
                              scope="orch:governance", governance_reason="demo")
        self.assertEqual(st, 200, js)
        self.assertEqual(harness.claims_of(js["access_token"])["stellaops:tenant"], "_system")
        m = re.search(r"^Try: curl .*-u demo-viewer:SECRET .* (http://\S+/token)$", out, re.M)
        self.assertIsNotNone(m, out)
        self.assertEqual(m.group(1), srv.url + "/token")  # the --listen address, not a default
        st, _, body = harness.http_request(
            srv.url, "POST", "/token",
            {"Authorization": harness.basic_auth("demo-viewer", secrets["demo-viewer"]),
             "Content-Type": "application/x-www-form-urlencoded"},
            harness.form_encode([("grant_type", "client_credentials"), ("scope", "orch:read")]))
        self.assertEqual(st, 200, body)
        # a second start on the same store seeds nothing and shows no secret again
        srv.stop()
        with open(srv.out_path, "w"):
            pass
        srv.start()
        time.sleep(0.3)
        with open(srv.out_path, encoding="utf-8") as f:
            self.assertNotIn(secrets["demo-viewer"], f.read())


if __name__ == "__main__":
    unittest.main()
