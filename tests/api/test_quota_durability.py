"""Black-box durability tests of quotas (domain.md §2 "stored ... durably, before the caller
hears of them", api.md §3.3, docs/api.md "Elevation"): permits and acknowledged changes survive
SIGKILL, and a temporary elevation whose expiry falls while the server is down is reverted, and
audited once, right after the next start."""

import time
import unittest

from harness import ServerTestCase, format_time_ms, now_ms, parse_time_ms, quota_body
from invariants import assert_chain_valid

CLIENTS = [
    ("admin", ["acme"], ["Orch.Admin"]),
    ("viewer", ["acme"], ["Orch.Viewer"]),
    ("worker", ["acme"], ["Orch.Worker"]),
]
Q = "/jobengine/quotas"


def qpath(qid, action=None):
    return Q + "/" + qid + ("/" + action if action else "")


class QuotaDurabilityTest(ServerTestCase):
    # -- helpers ----------------------------------------------------------------------------------
    def setup_server(self, name):
        srv = self.new_server(CLIENTS, name=name)
        # tokens are signed by keys kept in the store, so they stay valid across restarts
        self.tok = srv.grant("admin", "orch:quota", quota_reason="durability",
                             quota_ticket="DUR-1")
        self.reader = srv.grant("viewer", "orch:read")
        self.work = srv.grant("worker", "orch:jobs")
        return srv

    def create(self, srv, job_type, **limits):
        st, _, body = srv.api("POST", Q, self.tok, body=quota_body(job_type, **limits))
        self.assertEqual(st, 201, body)
        return body

    def get(self, srv, qid):
        return srv.get_json(qpath(qid), self.reader)

    def acquire(self, srv, qid, body=None, headers=None):
        return srv.api("POST", qpath(qid, "acquire"), self.work, headers=headers,
                       body=body if body is not None else {})

    def assertChainValid(self, srv):
        return assert_chain_valid(srv, self.reader)

    # -- tests ------------------------------------------------------------------------------------
    def test_permits_survive_sigkill(self):
        srv = self.setup_server("quota-dur-permits")
        qid = self.create(srv, "dur.permits", max_active=2, burst=100, refill=100)["quotaId"]
        permits = []
        for _ in range(2):
            st, _, g = self.acquire(srv, qid)
            self.assertEqual(st, 200, g)
            permits.append(g)
        srv.restart(kill=True)
        q = self.get(srv, qid)
        self.assertEqual(q["usage"]["active"], 2, "both acknowledged permits are still held")
        self.assertEqual(q["usage"]["hourCount"], 2)
        resp = self.acquire(srv, qid)
        err = self.assertEnvelope(resp, 429, "QUOTA_EXHAUSTED")
        self.assertEqual(parse_time_ms(err["details"]["nextEligibleAt"]),
                         min(parse_time_ms(p["expiresAt"]) for p in permits),
                         "the old permits' expiries are known after the restart")
        st, _, body = srv.api("POST", qpath(qid, "release"), self.work,
                              body={"permitId": permits[0]["permitId"]})
        self.assertEqual(st, 204, body)
        st, _, g = self.acquire(srv, qid)
        self.assertEqual(st, 200, g)
        self.assertNotIn(g["permitId"], [p["permitId"] for p in permits])
        st, _, body = srv.api("POST", qpath(qid, "release"), self.work,
                              body={"permitId": permits[0]["permitId"]})
        self.assertEnvelope((st, _, body), 404, "NOT_FOUND")
        self.assertEqual(self.get(srv, qid)["usage"]["active"], 2)
        self.assertChainValid(srv)

    def test_idempotent_acquire_survives_sigkill(self):
        srv = self.setup_server("quota-dur-idem")
        qid = self.create(srv, "dur.idem", max_active=3)["quotaId"]
        k = {"Idempotency-Key": "dur-acq-1"}
        st, _, g = self.acquire(srv, qid, {"ttlSeconds": 600}, k)
        self.assertEqual(st, 200, g)
        srv.restart(kill=True)
        st, _, g2 = self.acquire(srv, qid, {"ttlSeconds": 600}, k)
        self.assertEqual((st, g2), (200, g))
        self.assertEqual(self.get(srv, qid)["usage"]["active"], 1)

    def test_acknowledged_changes_survive_sigkill(self):
        srv = self.setup_server("quota-dur-put")
        q = self.create(srv, "dur.put", max_active=5, max_per_hour=100, burst=10, refill=0.5)
        qid = q["quotaId"]
        st, _, k = srv.api("POST", Q, self.tok, headers={"Idempotency-Key": "dur-create"},
                           body=quota_body("dur.put2"))
        self.assertEqual(st, 201, k)
        acked = []
        for i in range(5):
            st, _, body = srv.api("PUT", qpath(qid), self.tok,
                                  body={"maxActive": 6 + i, "refillPerSecond": 0.25,
                                        "reason": "step %d" % i, "ticket": "DUR-%d" % i})
            self.assertEqual(st, 200, body)
            acked.append(body)
        st, _, paused = srv.api("POST", qpath(qid, "pause"), self.tok, body={"reason": "halt"})
        self.assertEqual(st, 200, paused)
        srv.restart(kill=True)
        g = self.get(srv, qid)
        self.assertEqual((g["version"], g["maxActive"], g["refillPerSecond"], g["paused"],
                          g["pauseReason"], g["lastReason"]),
                         (paused["version"], 10, 0.25, True, "halt", "halt"))
        self.assertEqual(g["updatedAt"], paused["updatedAt"])
        entries = self.assertChainValid(srv)
        upd = [e for e in entries if e["eventType"] == "quota.updated" and e["resourceId"] == qid]
        self.assertEqual([(e["reason"], e["ticket"]) for e in upd],
                         [("step %d" % i, "DUR-%d" % i) for i in range(5)])
        self.assertEqual([e["details"]["after"]["version"] for e in upd],
                         [b["version"] for b in acked])
        self.assertEqual(upd[-1]["details"]["after"]["refillPerSecond"], "0.25")
        self.assertEqual(len([e for e in entries if e["eventType"] == "quota.paused"]), 1)
        self.assertEnvelope(self.acquire(srv, qid), 423, "QUOTA_PAUSED")
        # the remembered create answers the same after the crash
        st, _, k2 = srv.api("POST", Q, self.tok, headers={"Idempotency-Key": "dur-create"},
                            body=quota_body("dur.put2"))
        self.assertEqual((st, k2), (201, k))

    def test_elevation_expiry_across_a_restart(self):
        srv = self.setup_server("quota-dur-elev")
        qid = self.create(srv, "dur.elev", max_active=2, max_per_hour=100, burst=10,
                          refill=1)["quotaId"]
        expires = now_ms() + 2000
        st, _, body = srv.api("PUT", qpath(qid), self.tok,
                              body={"maxActive": 8, "maxPerHour": 300,
                                    "expiresAt": format_time_ms(expires)})
        self.assertEqual(st, 200, body)
        self.assertIsNotNone(body["elevation"])
        rc = srv.stop()
        log = srv.log_since_start()
        self.assertNotIn("Sanitizer", log, log[-4000:])
        self.assertEqual(rc, 0, "SIGTERM is a clean exit: %s" % log[-4000:])
        time.sleep(max(0.0, (expires - now_ms()) / 1000.0) + 1.0)
        srv.start()
        started = time.monotonic()
        # without touching the quota: the engine reverts it within a second of the start
        found = []
        while time.monotonic() - started < 1.0 and not found:
            found = srv.audit_all(self.reader, eventType="quota.elevation.expired",
                                  resourceId=qid)
            if not found:
                time.sleep(0.05)
        self.assertEqual(len(found), 1, "quota.elevation.expired within 1 s of the start")
        e = found[0]
        self.assertEqual((e["details"]["before"]["maxActive"], e["details"]["after"]["maxActive"]),
                         (8, 2))
        self.assertEqual(e["details"]["after"]["maxPerHour"], 100)
        self.assertIsNone(e["details"]["after"]["elevation"])
        self.assertGreaterEqual(parse_time_ms(e["occurredAt"]), expires)
        g = self.get(srv, qid)
        self.assertEqual((g["maxActive"], g["maxPerHour"], g["burstCapacity"],
                          g["refillPerSecond"], g["elevation"]), (2, 100, 10, 1, None))
        # a decision and a second of sweeps later, still exactly one entry
        st, hdrs, _ = self.acquire(srv, qid)
        self.assertEqual((st, hdrs.get("X-RateLimit-Limit")), (200, "2"))
        time.sleep(1.1)
        self.assertEqual(len(srv.audit_all(self.reader, eventType="quota.elevation.expired")), 1)
        self.assertEqual(self.get(srv, qid)["version"], g["version"])
        self.assertChainValid(srv)

    def test_elevation_expiry_across_sigkill(self):
        srv = self.setup_server("quota-dur-elev9")
        qid = self.create(srv, "dur.elev9", max_active=2)["quotaId"]
        expires = now_ms() + 1500
        st, _, body = srv.api("PUT", qpath(qid), self.tok,
                              body={"maxActive": 4, "expiresAt": format_time_ms(expires)})
        self.assertEqual(st, 200, body)
        srv.kill9()
        time.sleep(max(0.0, (expires - now_ms()) / 1000.0) + 0.5)
        srv.start()
        g = self.get(srv, qid)
        self.assertEqual((g["maxActive"], g["elevation"]), (2, None))
        self.assertEqual(len(srv.audit_all(self.reader, eventType="quota.elevation.expired",
                                           resourceId=qid)), 1)
        self.assertChainValid(srv)


if __name__ == "__main__":
    unittest.main()
