"""Black-box durability tests (architecture.md "Quality bars"; api.md §2.2; domain.md §6): an
acknowledged grant is audited durably — SIGKILL right after the 200 loses nothing, and the chain
still verifies after a restart on the same store. Keys, tokens and revocations survive too."""

import threading
import time
import unittest

from harness import GRANT_EVENT, ServerTestCase, claims_of, header_of
from invariants import assert_chain_valid

CLIENTS = [
    ("admin", ["acme"], ["Orch.Admin"]),
    ("viewer", ["acme"], ["Orch.Viewer"]),
]


class DurabilityTest(ServerTestCase):
    def server(self):
        return self.new_server(CLIENTS, name="durability")

    def assert_chain_holds(self, srv, jtis):
        """After a restart: every jti has its grant entry, verify says valid, and the independent
        verifier agrees with it."""
        reader = srv.grant("viewer", "orch:read")
        items = srv.audit_all(reader)
        found = {}
        for e in items:
            j = e["details"].get("jti")
            if j is not None:
                found[j] = found.get(j, 0) + 1
        missing = [j for j in jtis if j not in found]
        self.assertEqual(missing, [], "%d of %d acknowledged grants lost" % (len(missing),
                                                                             len(jtis)))
        self.assertEqual([j for j in jtis if found[j] != 1], [], "a grant audited twice")
        for e in srv.audit_all(reader, eventType=GRANT_EVENT):
            self.assertEqual(e["eventType"], GRANT_EVENT)
        return assert_chain_valid(srv, reader, items)

    def test_grant_survives_sigkill(self):
        srv = self.server()
        jtis = []
        for i in range(5):
            tok = srv.grant("admin", "orch:quota", quota_reason="iteration %d" % i)
            jtis.append(claims_of(tok)["jti"])
            srv.kill9()
            srv.restart()
            self.assert_chain_holds(srv, jtis)
        # the entries hold what was granted
        reader = srv.grant("viewer", "orch:read")
        by_jti = {e["details"].get("jti"): e for e in srv.audit_all(reader)}
        for i, j in enumerate(jtis):
            self.assertEqual(by_jti[j]["reason"], "iteration %d" % i)
            self.assertEqual(by_jti[j]["details"]["outcome"], "granted")

    def test_burst_of_grants_then_sigkill(self):
        srv = self.server()
        jtis = [claims_of(srv.grant("admin", "orch:quota", quota_reason="burst %d" % i))["jti"]
                for i in range(20)]
        srv.kill9()
        srv.restart()
        items = self.assert_chain_holds(srv, jtis)
        self.assertGreaterEqual(len(items), 21)

    def test_concurrent_grants_then_sigkill(self):
        srv = self.server()
        acked, lock, stop = [], threading.Lock(), threading.Event()

        def worker(n):
            i = 0
            while not stop.is_set():
                try:
                    st, js, _ = srv.token("admin", scope="orch:quota",
                                          quota_reason="worker %d #%d" % (n, i))
                except OSError:
                    return
                if st == 200:
                    with lock:
                        acked.append(claims_of(js["access_token"])["jti"])
                i += 1

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.6)
        srv.kill9()
        stop.set()
        for t in threads:
            t.join(20)
        with lock:
            jtis = list(acked)
        self.assertGreater(len(jtis), 4, "hardly any grant was acknowledged")
        srv.restart()
        self.assert_chain_holds(srv, jtis)

    def test_keys_tokens_and_revocations_survive_sigkill(self):
        srv = self.server()
        kids = {k["kid"] for k in srv.get_json("/jwks")["keys"]}
        kept = srv.grant("viewer", "orch:read")
        gone = srv.grant("viewer", "orch:read")
        st, js, _ = srv.revoke("viewer", gone)
        self.assertEqual(st, 200, js)
        srv.kill9()
        srv.restart()
        self.assertEqual({k["kid"] for k in srv.get_json("/jwks")["keys"]}, kids)
        self.assertIn(header_of(srv.grant("viewer", "orch:read"))["kid"], kids)
        st, _, body = srv.api("GET", "/jobengine/audit?limit=1", kept)
        self.assertEqual(st, 200, "a token issued before the crash still works: %r" % (body,))
        t0 = time.monotonic()
        while True:
            st, _, body = srv.api("GET", "/jobengine/audit?limit=1", gone)
            if st == 401 or time.monotonic() - t0 > 1.5:
                break
            time.sleep(0.05)
        self.assertEqual(st, 401, "a token revoked before the crash works again: %r" % (body,))
        st, js, _ = srv.introspect("admin", gone)
        self.assertEqual(js, {"active": False})

    def test_sigterm_stops_cleanly_and_restart_keeps_everything(self):
        srv = self.server()
        jtis = [claims_of(srv.grant("admin", "orch:quota", quota_reason="term %d" % i))["jti"]
                for i in range(3)]
        t0 = time.monotonic()
        code = srv.stop()
        self.assertLess(time.monotonic() - t0, 10)
        self.assertEqual(code, 0, "SIGTERM should stop the server cleanly (exit 0)")
        srv.start()
        self.assert_chain_holds(srv, jtis)


if __name__ == "__main__":
    unittest.main()
