"""Issue 11, what nodes must agree on besides the data: time and signing keys.

  ClockSkewTest: one node's system clock is 30 s fast (JOBENGINE_CLOCK_SKEW_MS=+30000); the node
  keeps its clock in step with the database's (src/engine/engine.c clock_sync), so a 10 s lease
  granted on a normal node is not expired by the skewed node's sweep, heartbeats and completes
  through it, the times it writes are the cluster's, and the tokens it mints are accepted by
  the other nodes (not "not yet valid").

  KeysTest: a token minted by any node is accepted by every node at once (api.md §2.3: every
  node publishes and accepts the same keys), also right after three nodes started together on
  an empty store (each may make a first signing key) and right after `jobengine keys rotate`
  (docs/architecture.md "Keys": a node re-reads the keys at once when a token names an unknown
  kid).
"""

import time
import unittest

import harness
from cluster import (ISSUER, LEASE, Cluster, complete_body, create_quota, lease_body, note,
                     qpath)
from harness import (GRANT_EVENT, ServerTestCase, claims_of, fetch_jwks, header_of, job_path,
                     now_ms, parse_time_ms, run_cli, submit_job, wait_until)

CLIENTS = [
    ("admin", ["acme"], ["Orch.Admin"]),
    ("worker", ["acme"], ["Orch.Worker"]),
    ("viewer", ["acme"], ["Orch.Viewer"]),
]
SKEW_MS = 30000
SLACK_MS = 1500  # a time the node writes is the real time within this


class ClockSkewTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.cl = Cluster(CLIENTS, n=3, name="cl-skew",
                         node_env=[{}, {}, {"JOBENGINE_CLOCK_SKEW_MS": "+%d" % SKEW_MS}])
        cls.cl.watch_class(cls)
        cls.a, cls.b, cls.s = cls.cl.nodes
        cls.work = cls.a.grant("worker", "orch:jobs orch:read")
        cls.tok = cls.b.grant("admin", "orch:quota orch:read", quota_reason="clock skew")

    def assertNear(self, t, expected, what):
        ms = parse_time_ms(t) if isinstance(t, str) else t
        self.assertLessEqual(abs(ms - expected), SLACK_MS,
                             "%s is %+d ms off the real time (the skew is +%d ms)"
                             % (what, ms - expected, SKEW_MS))

    def job(self, node, jid):
        return node.get_json(job_path(jid), self.work)

    def test_lease_from_a_normal_node_survives_the_skewed_sweep(self):
        """A job leased on node A for 10 s stays leased, as seen from every node, for the whole
        10 s although node S (30 s fast) sweeps expired leases every 250 ms; the holder's
        heartbeat through S at 8.5 s succeeds and extends the lease to the real now + 10 s; the
        holder completes it through S. A lease granted by S ends at the real now + leaseSeconds
        and is left alone by the others' sweeps."""
        a, b, s = self.a, self.b, self.s
        qid = create_quota(a, self.tok, "sk.lease", max_active=5, burst=100, refill=100)["quotaId"]
        jid = submit_job(a, self.work, "sk.lease", {"n": 1})["jobId"]
        t0 = now_ms()
        st, _, body = a.api("POST", LEASE, self.work, body=lease_body("sk.lease", "w-a", 1, 10))
        self.assertEqual(st, 200, body)
        j = body["jobs"][0]
        self.assertEqual(j["jobId"], jid)
        until = parse_time_ms(j["leaseUntil"])
        self.assertNear(until, t0 + 10000, "leaseUntil of a 10 s lease granted by A")
        polls = 0
        while now_ms() < until - SLACK_MS:
            for node in (s, a, b):
                got = self.job(node, jid)
                self.assertEqual((got["status"], got["leaseId"]), ("leased", j["leaseId"]),
                                 "%.1f s into a 10 s lease, node %s sees %r (the skewed node's "
                                 "sweep expired it?)" % ((now_ms() - t0) / 1000.0,
                                                         self.cl.name_of(node), got))
            polls += 1
            time.sleep(0.25)
        self.assertGreater(polls, 10)
        t1 = now_ms()
        st, _, hb = s.api("POST", job_path(jid, "heartbeat"), self.work,
                          body={"leaseId": j["leaseId"], "extendSeconds": 10})
        self.assertEqual(st, 200, "the holder's heartbeat through the skewed node: %r" % (hb,))
        self.assertNear(hb["leaseUntil"], t1 + 10000, "leaseUntil extended by the skewed node")
        self.assertEqual(self.job(a, jid)["status"], "leased")
        st, _, done = s.api("POST", job_path(jid, "complete"), self.work,
                            body=complete_body(j["leaseId"]))
        self.assertEqual(st, 200, done)
        self.assertEqual((done["status"], done["attempt"]), ("succeeded", 1))
        self.assertNear(done["completedAt"], now_ms(), "completedAt written by the skewed node")
        # a lease granted by the skewed node ends at the real now + leaseSeconds
        jid2 = submit_job(s, self.work, "sk.lease", {"n": 2})
        self.assertNear(jid2["createdAt"], now_ms(), "createdAt written by the skewed node")
        jid2 = jid2["jobId"]
        t2 = now_ms()
        st, _, body = s.api("POST", LEASE, self.work, body=lease_body("sk.lease", "w-s", 1, 10))
        self.assertEqual(st, 200, body)
        j2 = body["jobs"][0]
        self.assertNear(j2["leaseUntil"], t2 + 10000, "leaseUntil of a lease granted by S")
        time.sleep(1.0)  # four sweeps of every node
        for node in (a, b, s):
            self.assertEqual(self.job(node, jid2)["status"], "leased")
        st, _, done = b.api("POST", job_path(jid2, "complete"), self.work,
                            body=complete_body(j2["leaseId"]))
        self.assertEqual(st, 200, done)
        self.assertEqual(self.a.get_json(qpath(qid), self.tok)["usage"]["active"], 0)

    def test_permit_from_the_skewed_node_lasts_its_ttl(self):
        """acquire through S: expiresAt is the real now + ttlSeconds; the permit still holds its
        slot (maxActive 1) on every node after 1 s of everyone's sweeps."""
        qid = create_quota(self.a, self.tok, "sk.permit", max_active=1, burst=100,
                           refill=100)["quotaId"]
        t0 = now_ms()
        st, _, g = self.s.api("POST", qpath(qid, "acquire"), self.work, body={"ttlSeconds": 5})
        self.assertEqual(st, 200, g)
        self.assertNear(g["expiresAt"], t0 + 5000, "expiresAt of a permit granted by S")
        time.sleep(1.0)  # four sweeps of every node
        for node in (self.a, self.b, self.s):
            self.assertEnvelope(node.api("POST", qpath(qid, "acquire"), self.work, body={}), 429,
                                "QUOTA_EXHAUSTED")
        self.assertEqual(self.b.api("POST", qpath(qid, "release"), self.work,
                                    body={"permitId": g["permitId"]})[0], 204)

    def test_token_minted_by_the_skewed_node_is_accepted_elsewhere(self):
        """A token minted by S has iat/nbf at the real now (not 30 s ahead) and works on A and B
        at once; its grant entry's occurredAt is the real time; a change made with an elevated
        token of S on A works too."""
        t0 = now_ms()
        tok = self.s.grant("viewer", "orch:read")
        c = claims_of(tok)
        self.assertNear(c["iat"] * 1000, t0, "iat of a token minted by S")
        self.assertNear(c["nbf"] * 1000, t0, "nbf of a token minted by S")
        self.assertEqual(c["exp"] - c["iat"], 3600)
        for node in (self.a, self.b, self.s):
            st, _, body = node.api("GET", "/jobengine/audit?limit=1", tok)
            self.assertEqual(st, 200, "node %s: %r" % (self.cl.name_of(node), body))
            st, js, _ = node.introspect("admin", tok)
            self.assertIs(js.get("active"), True, js)
        admin = self.s.grant("admin", "orch:quota orch:read", quota_reason="minted by skewed")
        q = create_quota(self.a, admin, "sk.token")
        self.assertNear(q["createdAt"], now_ms(), "createdAt written by A")
        entries = [e for e in self.b.audit_all(tok, eventType=GRANT_EVENT)
                   if e["details"].get("jti") == c["jti"]]
        self.assertEqual(len(entries), 1, entries)
        self.assertNear(entries[0]["occurredAt"], t0, "occurredAt of S's grant entry")
        harness.verify_token_independently(self.a.url, tok, issuer=ISSUER)

    def test_the_skewed_node_logged_its_offset(self):
        """S says in its log that it set its clock in step with the database's, about -30 s."""
        line = wait_until("S to log its clock offset",
                          lambda: [l for l in self.s.log_text().splitlines()
                                   if "clock in step with the database" in l], 5)[-1]
        import json
        off = json.loads(line).get("offsetMs")
        self.assertIsInstance(off, int, line)
        self.assertLessEqual(abs(off + SKEW_MS), SLACK_MS, line)


class KeysTest(ServerTestCase):
    def use_everywhere(self, cl, tok, why):
        """tok must work on every node at once; returns the failures."""
        bad = []
        for node in cl:
            st, _, body = node.api("GET", "/jobengine/audit?limit=1", tok)
            if st != 200:
                bad.append("%s: token (kid %s) minted %s refused by node %s: %s %r"
                           % (why, header_of(tok)["kid"], why, cl.name_of(node), st, body))
        return bad

    def test_tokens_work_on_every_node_right_after_a_concurrent_start(self):
        """Three nodes started together on an empty store (each may make a first signing key):
        a token minted by each node right away is accepted by every node right away, and every
        node publishes the same /jwks within a second. (A race: how often it shows depends on
        how the starts interleave.)"""
        cl = Cluster(CLIENTS, n=3, name="cl-keys", all_at_once=True).watch(self)
        bad = []
        for k in range(3):
            tok = cl[k].grant("viewer", "orch:read")
            bad += self.use_everywhere(cl, tok, "just after start on node %s" % cl.name_of(cl[k]))
        wait_until("every node to publish the same /jwks",
                   lambda: len({str(sorted(k["kid"] for k in fetch_jwks(n.url)["keys"]))
                                for n in cl}) == 1, 3)
        n_keys = len(fetch_jwks(cl.a.url)["keys"])
        note("a concurrent first start made %d signing key(s)" % n_keys)
        self.assertEqual(bad, [], "a valid token refused:\n  " + "\n  ".join(bad))

    def test_token_of_a_key_rotated_a_moment_ago_works_everywhere(self):
        """Node A signs with a key `jobengine keys rotate` made a moment ago while nodes B and C
        last read the keys a moment before the rotation: A's token is accepted by B and C at
        once (docs/architecture.md "Keys": a node re-reads the keys at once when a token names
        an unknown kid), and tokens of the old key keep working everywhere."""
        cl = Cluster(CLIENTS, n=3, name="cl-keys2").watch(self)
        a, b, c = cl.nodes
        old = [n.grant("viewer", "orch:read") for n in cl]
        kid1 = header_of(old[0])["kid"]
        time.sleep(1.1)  # every node's view of the keys is now due for a re-read
        for n in (b, c):
            n.grant("viewer", "orch:read")  # B and C re-read the keys now: before the rotation
        p = run_cli(["keys", "rotate", "--store", cl.store])
        self.assertEqual(p.returncode, 0, p.stderr)
        new = a.grant("viewer", "orch:read")  # A re-reads them now: after the rotation
        self.assertNotEqual(header_of(new)["kid"], kid1, "A signs with the new key")
        bad = self.use_everywhere(cl, new, "a moment after keys rotate on node a")
        for tok in old:
            bad += self.use_everywhere(cl, tok, "before the rotation")
        self.assertEqual(bad, [], "a valid token refused:\n  " + "\n  ".join(bad))

    def test_rotation_from_a_host_with_a_slow_clock_takes_effect(self):
        """`jobengine keys rotate` run on an admin host whose clock is 30 s slow (the CLI with
        JOBENGINE_CLOCK_SKEW_MS=-30000) makes a new current key like any other rotation: within
        2.5 s every node signs with it, every node publishes both keys, and its tokens work on
        every node (clock skew is harmless, for keys too)."""
        cl = Cluster(CLIENTS, n=3, name="cl-rotate").watch(self)
        old = cl.a.grant("viewer", "orch:read")
        kid1 = header_of(old)["kid"]
        p = run_cli(["keys", "rotate", "--store", cl.store, "--json"],
                    env={"JOBENGINE_CLOCK_SKEW_MS": "-%d" % SKEW_MS})
        self.assertEqual(p.returncode, 0, p.stderr)
        listed = run_cli(["keys", "list", "--store", cl.store, "--json"]).stdout
        t0 = time.monotonic()
        kids = {}
        while time.monotonic() - t0 < 2.5:
            kids = {cl.name_of(n): header_of(n.grant("viewer", "orch:read"))["kid"] for n in cl}
            if kid1 not in kids.values():
                break
            time.sleep(0.1)
        self.assertNotIn(kid1, kids.values(),
                         "2.5 s after `keys rotate`, nodes still sign with the old key: %r "
                         "(keys list: %s)" % (kids, listed.strip()))
        self.assertEqual(len(set(kids.values())), 1, kids)
        for n in cl:
            self.assertEqual(len(fetch_jwks(n.url)["keys"]), 2, cl.name_of(n))
        tok = cl.b.grant("viewer", "orch:read")
        bad = self.use_everywhere(cl, tok, "after the rotation") + \
            self.use_everywhere(cl, old, "before the rotation")
        self.assertEqual(bad, [])


if __name__ == "__main__":
    unittest.main()
