"""Issue 11, the database goes away: three `jobengine serve` nodes over a PostgreSQL of the test's
own (scripts/pg_tmp.sh; fsync on), under a load spread round-robin over the nodes.

  test_database_restart_mid_load        `pg_ctl restart -m fast`, then `stop -m fast` ... `start`
                                        in the middle of the load: while the database is down
                                        every node answers 503 in the error envelope (code
                                        STORE_UNAVAILABLE) and /readyz says 503; the nodes
                                        recover by themselves (no restart); nothing acknowledged
                                        is lost and nothing retried with its Idempotency-Key is
                                        doubled
  test_acknowledged_survives_immediate_stop
                                        `pg_ctl stop -m immediate` (a crash of the database) in
                                        the middle of the load, then start: every acknowledged
                                        change is there (architecture.md: a decision and what it
                                        grants are stored durably before the caller hears)

Only 2xx and 503 STORE_UNAVAILABLE are acceptable answers: anything else (a 500, a 401 because a
token could not be checked, a made-up value) is a failure."""

import collections
import threading
import time
import unittest

from cluster import (Balancer, Cluster, OwnPostgres, call, create_quota, is_store_unavailable,
                     note, qpath, quota_of)
from harness import (GRANT_EVENT, JOBS, CONNECTION_ERRORS, ServerTestCase, claims_of,
                     hour_start_ms, list_jobs_all, now_ms, verify_chain, wait_until)

CLIENTS = [
    ("admin", ["acme"], ["Orch.Admin"]),
    ("worker", ["acme"], ["Orch.Worker"]),
    ("viewer", ["acme"], ["Orch.Viewer"]),
]


class Load:
    """Threads spread round-robin over the nodes, each looping over one kind of operation:
      submit   POST /jobengine/jobs with an Idempotency-Key; a 503 is retried with the same key
               until 201 (retry=True), else recorded as ambiguous
      permit   acquire with an Idempotency-Key (retried on 503 until 200), then release
               (retried on 503; a 404 after a 503 means the first try released it)
      adjust   PUT the quota with a unique reason; a 503 leaves it ambiguous (not retried)
      grant    POST /token (orch:quota, a unique quota_reason); 200 acknowledged with its jti
    Everything is recorded in self.* under self.lock; self.bad gets any answer other than 2xx or
    503 STORE_UNAVAILABLE (and a 404 of a release that was not retried)."""

    def __init__(self, cl, work, tok, quota, permit_quota, retry=True):
        self.cl, self.work, self.tok = cl, work, tok
        self.quota, self.permit_quota = quota, permit_quota
        self.retry = retry
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.submits = {}             # key -> jobId
        self.submit_unknown = set()   # keys whose only answers were 503 (retry=False)
        self.permits = {}             # key -> permitId
        self.released = set()
        self.held = {}                # key -> permitId, acknowledged and not released
        self.adjust_acked, self.adjust_unknown = [], []
        self.grants = []              # jti of every 200 of /token
        self.grant_refusals = collections.Counter()  # "status error" -> count (store down)
        self.bad = []
        self.ok_times, self.unavailable_times = [], []
        self.threads = []

    def _note(self, kind):
        t = time.monotonic()
        with self.lock:
            if kind == "ok":
                self.ok_times.append(t)
            elif kind == "unavailable":
                self.unavailable_times.append(t)

    def _call(self, lb, method, path, token, body=None, headers=None):
        kind, st, hdrs, js = call(lb, method, path, token, body=body, headers=headers)
        self._note(kind)
        return kind, st, js

    def _bad(self, what):
        with self.lock:
            self.bad.append(what)

    def submitter(self, i, hold_permits=False):
        lb = Balancer(self.cl, start=i)
        n = 0
        try:
            while not self.stop.is_set():
                key = "sub-%d-%d" % (i, n)
                n += 1
                body = {"jobType": "out.load", "payload": {"key": key}}
                while True:
                    kind, st, js = self._call(lb, "POST", JOBS, self.work, body,
                                              {"Idempotency-Key": key})
                    if kind == "ok":
                        with self.lock:
                            self.submits[key] = js["jobId"]
                            self.submit_unknown.discard(key)
                        break
                    if kind != "unavailable":
                        self._bad(("submit", key, st, js))
                        return
                    with self.lock:
                        self.submit_unknown.add(key)
                    if not self.retry or self.stop.is_set():
                        break
                    time.sleep(0.05)
        finally:
            lb.close()

    def permitter(self, i):
        lb = Balancer(self.cl, start=i + 1)
        qid = self.permit_quota
        n = 0
        try:
            while not self.stop.is_set():
                key = "acq-%d-%d" % (i, n)
                n += 1
                while True:
                    kind, st, js = self._call(lb, "POST", qpath(qid, "acquire"), self.work,
                                              {"ttlSeconds": 3600}, {"Idempotency-Key": key})
                    if kind == "ok":
                        break
                    if kind != "unavailable":
                        self._bad(("acquire", key, st, js))
                        return
                    time.sleep(0.05)  # retried with its key even when stopping: never lost
                pid = js["permitId"]
                with self.lock:
                    if key in self.permits and self.permits[key] != pid:
                        self.bad.append(("a retried acquire key took a second permit", key))
                    self.permits[key] = pid
                    self.held[key] = pid
                if i % 2:  # odd permitters keep what they acquire: it must survive
                    time.sleep(0.02 if len(self.held) < 150 else 0.5)
                    continue
                tried = False
                while True:
                    kind, st, js = self._call(lb, "POST", qpath(qid, "release"), self.work,
                                              {"permitId": pid})
                    if kind == "ok" or (st == 404 and tried):
                        with self.lock:
                            self.released.add(key)
                            del self.held[key]
                        break
                    if kind != "unavailable":
                        self._bad(("release", key, st, js))
                        return
                    tried = True
                    time.sleep(0.05)
        finally:
            lb.close()

    def adjuster(self, i):
        lb = Balancer(self.cl, start=i + 2)
        n = 0
        try:
            while not self.stop.is_set():
                reason = "adjust-%d-%d" % (i, n)
                n += 1
                # distinct values across adjusters: a PUT that changed nothing would be
                # answered without an audit entry (docs/api.md)
                kind, st, js = self._call(lb, "PUT", qpath(self.quota), self.tok,
                                          {"maxPerHour": 1000 + 16 * n + i, "reason": reason})
                with self.lock:
                    if kind == "ok":
                        self.adjust_acked.append(reason)
                    elif kind == "unavailable":
                        self.adjust_unknown.append(reason)
                    else:
                        self.bad.append(("adjust", reason, st, js))
                        return
                time.sleep(0.02 if kind == "ok" else 0.05)
        finally:
            lb.close()

    def granter(self, i):
        n = 0
        while not self.stop.is_set():
            node = self.cl[i + n]
            reason = "grant-%d-%d" % (i, n)
            n += 1
            try:
                st, js, _ = node.token("admin", scope="orch:quota", quota_reason=reason)
            except CONNECTION_ERRORS as e:
                self._bad(("token", reason, repr(e)))
                return
            if st == 200:
                self._note("ok")
                with self.lock:
                    self.grants.append(claims_of(js["access_token"])["jti"])
            else:
                # the Authority answers in its own form (RFC 6749); while the store is down a
                # grant cannot be audited, so it is not issued: 503 temporarily_unavailable,
                # which a client retries (docs/api.md), never a 500 or a 401
                err = js.get("error") if isinstance(js, dict) else js
                with self.lock:
                    self.grant_refusals["%s %s" % (st, err)] += 1
                if isinstance(js, dict) and "access_token" in js:
                    self._bad(("a token issued with status", st))
                if (st, err) != (503, "temporarily_unavailable"):
                    self._bad(("token refused with", st, err))
                time.sleep(0.05)

    def start(self, submitters=3, permitters=2, adjusters=1, granters=1):
        for f, n in ((self.submitter, submitters), (self.permitter, permitters),
                     (self.adjuster, adjusters), (self.granter, granters)):
            for i in range(n):
                t = threading.Thread(target=f, args=(i,), daemon=True)
                t.start()
                self.threads.append(t)

    def finish(self, timeout=60):
        self.stop.set()
        for t in self.threads:
            t.join(timeout)
        alive = [t for t in self.threads if t.is_alive()]
        if alive:
            self.bad.append("%d load threads did not end" % len(alive))

    def ok_after(self, t):
        with self.lock:
            return sum(1 for x in self.ok_times if x > t)

    def unavailable_between(self, t0, t1):
        with self.lock:
            return sum(1 for x in self.unavailable_times if t0 <= x <= t1)


class DatabaseOutageTest(ServerTestCase):
    def own_cluster(self, name):
        pg = OwnPostgres(name)
        self.addCleanup(pg.close)  # after tearDown stopped the nodes
        url = pg.new_database("je")
        cl = Cluster(CLIENTS, n=3, name=name, store=url).watch(self)
        return pg, cl

    def tokens(self, cl):
        return (cl.a.grant("admin", "orch:quota orch:read", quota_reason="outage test"),
                cl.b.grant("worker", "orch:jobs orch:read"))

    def assertAllThere(self, cl, load, tok, work, quota_id, permit_quota_id, hour0):
        """Every acknowledged change is stored, once."""
        a, b, c = cl.nodes
        # submits: every acknowledged key, each key one job
        jobs = list_jobs_all(c, work, jobType="out.load")
        by_key = collections.defaultdict(list)
        for j in jobs:
            by_key[j["payload"]["key"]].append(j["jobId"])
        lost = [k for k, jid in load.submits.items() if jid not in by_key.get(k, [])]
        self.assertEqual(lost, [], "%d of %d acknowledged submits lost"
                         % (len(lost), len(load.submits)))
        self.assertEqual({k: v for k, v in by_key.items() if len(v) != 1}, {},
                         "a key retried after a 503 made a second job")
        self.assertEqual(set(by_key) - set(load.submits) - load.submit_unknown, set())
        # permits: exactly the acknowledged ones not released hold a slot
        u = quota_of(a, tok, permit_quota_id)["usage"]
        self.assertEqual(u["active"], len(load.held),
                         "active = acknowledged permits not released (%d acquired, %d "
                         "released)" % (len(load.permits), len(load.released)))
        if hour_start_ms(now_ms()) == hour0:
            self.assertEqual(u["hourCount"], len(load.permits),
                             "each acquire key took exactly one unit")
        # adjustments: each acknowledged one audited once, an ambiguous one at most once
        entries = a.audit_all(tok, eventType="quota.updated", resourceId=quota_id)
        reasons = collections.Counter(e["reason"] for e in entries)
        self.assertEqual([r for r in load.adjust_acked if reasons[r] != 1], [],
                         "acknowledged adjustments lost or doubled")
        self.assertEqual([r for r in load.adjust_unknown if reasons[r] > 1], [])
        q = quota_of(b, tok, quota_id)
        self.assertEqual(q["version"], 1 + len(entries))
        if entries:
            last = max(entries, key=lambda e: e["sequence"])
            self.assertEqual(q["maxPerHour"], last["details"]["after"]["maxPerHour"])
        # grants: every issued token is audited
        audited = {e["details"].get("jti") for e in a.audit_all(tok, eventType=GRANT_EVENT)}
        self.assertEqual([j for j in load.grants if j not in audited], [],
                         "tokens issued without their grant entry")
        # the chain verifies, on every node, and independently
        items = a.audit_all(tok)
        self.assertTrue(verify_chain(items)["valid"], verify_chain(items))
        want = {"valid": True, "entries": len(items), "headSequence": len(items),
                "headHash": items[-1]["hash"]}
        for node in cl:
            self.assertEqual(node.audit_verify(tok), want, cl.name_of(node))

    def assertUnavailable(self, resp, what):
        st, hdrs, js = resp
        self.assertTrue(is_store_unavailable(st, js),
                        "%s while the database is down: %s %r" % (what, st, js))
        self.assertEnvelope(resp, 503, "STORE_UNAVAILABLE")

    # -- 9 ----------------------------------------------------------------------------------------
    def test_database_restart_mid_load(self):
        pg, cl = self.own_cluster("cl-outage")
        a, b, c = cl.nodes
        pids = [s.proc.pid for s in cl]
        tok, work = self.tokens(cl)
        reader = c.grant("viewer", "orch:read")
        quota = create_quota(a, tok, "out.adjust", max_per_hour=1000)["quotaId"]
        pq = create_quota(b, tok, "out.permit", max_active=1000, max_per_hour=1000000,
                          burst=10000, refill=1000)["quotaId"]
        hour0 = hour_start_ms(now_ms())
        load = Load(cl, work, tok, quota, pq)
        load.start()
        try:
            wait_until("the load to get going", lambda: load.ok_after(0) > 20, 10)
            # 1. a fast restart in the middle of the load
            pg.ctl("restart", "-m", "fast")
            t_back = time.monotonic()
            wait_until("the nodes to answer again after the restart",
                       lambda: load.ok_after(t_back) > 20 or load.bad, 20)
            self.assertEqual(load.bad, [], "unexpected answers around the restart")
            cl.wait_ready(10)
            # 2. down for a while: every node says so, in the envelope
            t_down = time.monotonic()
            pg.ctl("stop", "-m", "fast")
            wait_until("the load to see 503s", lambda: load.unavailable_between(
                t_down, time.monotonic()) > 5 or load.bad, 10)
            for node in cl:
                name = cl.name_of(node)
                st, _, js = node.request("GET", "/readyz")
                self.assertEqual(st, 503, "node %s /readyz with the database down: %r"
                                 % (name, js))
                self.assertUnavailable(node.request("GET", "/readyz"), "node %s /readyz" % name)
                st, _, js = node.request("GET", "/healthz")
                self.assertEqual(st, 200, "node %s /healthz: the process is up" % name)
                self.assertUnavailable(node.api("GET", qpath(quota), reader),
                                       "node %s GET quota" % name)
                self.assertUnavailable(node.api("POST", JOBS, work,
                                                body={"jobType": "out.down", "payload": {}}),
                                       "node %s submit" % name)
                self.assertUnavailable(node.api("POST", qpath(pq, "acquire"), work, body={}),
                                       "node %s acquire" % name)
                self.assertUnavailable(node.api("POST", "/jobengine/jobs/lease", work,
                                                body={"jobTypes": ["out.load"],
                                                      "workerId": "w"}),
                                       "node %s lease" % name)
            time.sleep(0.5)  # the load keeps knocking
            t_up = time.monotonic()
            pg.ctl("start")
            cl.wait_ready(20)
            ready_after = time.monotonic() - t_up
            wait_until("the load to succeed again after the start",
                       lambda: load.ok_after(time.monotonic() - 0.5) > 10 or load.bad, 20)
            time.sleep(0.5)
        finally:
            load.finish()
        self.assertEqual(load.bad, [], "unexpected answers: %r" % load.bad[:5])
        self.assertEqual([s.proc.pid for s in cl], pids, "a node was restarted")
        self.assertEqual([s.alive() for s in cl], [True] * 3, "a node died")
        self.assertGreater(load.unavailable_between(t_down, t_up), 0)
        self.assertEqual(list_jobs_all(a, work, jobType="out.down"), [],
                         "a submit answered 503 was stored")
        self.assertAllThere(cl, load, tok, work, quota, pq, hour0)
        note("database restart: %d submits, %d permits (%d held), %d adjustments (+%d "
             "ambiguous), %d grants (refused meanwhile: %r), %d answers 503 in all; ready %.1f s "
             "after the start"
             % (len(load.submits), len(load.permits), len(load.held), len(load.adjust_acked),
                len(load.adjust_unknown), len(load.grants), dict(load.grant_refusals),
                len(load.unavailable_times), ready_after))

    # -- 10 ---------------------------------------------------------------------------------------
    def test_acknowledged_survives_immediate_stop(self):
        pg, cl = self.own_cluster("cl-crashdb")
        self.assertEqual(pg.query("SHOW fsync"), [("on",)])
        self.assertEqual(pg.query("SHOW synchronous_commit"), [("on",)])
        a, b, c = cl.nodes
        tok, work = self.tokens(cl)
        quota = create_quota(a, tok, "out.adjust", max_per_hour=1000)["quotaId"]
        pq = create_quota(b, tok, "out.permit", max_active=1000, max_per_hour=1000000,
                          burst=10000, refill=1000)["quotaId"]
        hour0 = hour_start_ms(now_ms())
        load = Load(cl, work, tok, quota, pq)
        load.start()
        try:
            wait_until("the load to get going", lambda: load.ok_after(0) > 50, 10)
            pg.ctl("stop", "-m", "immediate")  # PostgreSQL crashes: no shutdown checkpoint
            t_down = time.monotonic()
            time.sleep(0.3)
            pg.ctl("start")  # crash recovery replays the WAL
            cl.wait_ready(20)
            wait_until("the load to succeed again",
                       lambda: load.ok_after(time.monotonic() - 0.5) > 10 or load.bad, 20)
        finally:
            load.finish()
        self.assertEqual(load.bad, [], "unexpected answers: %r" % load.bad[:5])
        self.assertGreater(load.unavailable_between(t_down, time.monotonic()), 0)
        self.assertAllThere(cl, load, tok, work, quota, pq, hour0)
        note("database crash: %d submits, %d permits (%d held), %d adjustments (+%d "
             "ambiguous), %d grants survived"
             % (len(load.submits), len(load.permits), len(load.held), len(load.adjust_acked),
                len(load.adjust_unknown), len(load.grants)))


if __name__ == "__main__":
    unittest.main()
