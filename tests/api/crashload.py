"""The mixed load of the crash loop (test_crash_loop.py): client threads that keep a real server
busy while it is SIGKILLed, and remember every change it acknowledged (a 2xx received).

Each thread has its own keep-alive connection (Client) and its own random.Random drawn from the
test's seed. A request cut by a kill is retried until the server answers again, so every
operation ends with an answer and what the server acknowledged is known exactly:
  acquire, submit     carry an Idempotency-Key, so the retry answers the first grant or job
  release             a 404 after a cut try means that try released it
  lease               the lease a lost answer granted is never used: it runs out (such "orphan"
                      leases count in usage.active like any other until they do)
  claim, complete     BackfillWorker (harness.py) settles them
  /token, quota PUT   only a 200 counts; a cut one may or may not have been stored

Gate holds the threads at an operation boundary (never with an answer unsettled) while the test
checks the store, and lets them go again."""

import collections
import random
import threading
import time

from harness import (FORM, JOBS, HTTP_TIMEOUT, BackfillWorker, CONNECTION_ERRORS, KeepAlive,
                     basic_auth, claims_of, form_encode, format_time_ms, parse_time_ms)

Q = "/jobengine/quotas"
TOLERATE_DOWN = 60  # seconds a request is retried while the server cannot be reached


def qpath(qid, action=None):
    return Q + "/" + qid + ("/" + action if action else "")


class Gate:
    """Load threads call checkpoint(stop) between operations; hold() returns once every live
    thread waits there; release() lets them go."""

    def __init__(self):
        self.cv = threading.Condition()
        self.held = False
        self.parked = 0
        self.threads = []

    def checkpoint(self, stop):
        """False when stop is set (the thread ends)."""
        with self.cv:
            if self.held and not stop.is_set():
                self.parked += 1
                self.cv.notify_all()
                while self.held and not stop.is_set():
                    self.cv.wait(0.1)
                self.parked -= 1
        return not stop.is_set()

    def hold(self, timeout=90):
        deadline = time.monotonic() + timeout
        with self.cv:
            self.held = True
            while self.parked < sum(t.is_alive() for t in self.threads):
                if time.monotonic() > deadline:
                    raise AssertionError("the load threads did not reach a boundary in %d s"
                                         % timeout)
                self.cv.wait(0.05)

    def release(self):
        with self.cv:
            self.held = False
            self.cv.notify_all()


class Client:
    """One thread's keep-alive connection that rides out the kills. busy: a request is under way
    (counted when the kill lands)."""

    def __init__(self, url):
        self.conn = KeepAlive(url, timeout=HTTP_TIMEOUT)
        self.busy = False
        self.cut = 0  # requests that met the server down (retried until it answered)

    def call(self, method, path, token=None, body=None, headers=None):
        """(status, headers, body, cut): cut when a try failed on the connection (KeepAlive's
        own quiet retry included), so an earlier try may have been applied."""
        deadline = time.monotonic() + TOLERATE_DOWN
        cut = False
        self.busy = True
        try:
            while True:
                before = self.conn.reconnects
                try:
                    st, hdrs, js = self.conn.request(method, path, token, body=body,
                                                     headers=headers)
                    cut = cut or self.conn.reconnects != before
                    self.cut += cut
                    return st, hdrs, js, cut
                except CONNECTION_ERRORS:
                    self.conn.close()
                    if time.monotonic() > deadline:
                        raise
                    cut = True
                    time.sleep(0.05)
        finally:
            self.busy = False

    def close(self):
        self.conn.close()


class Acked:
    """What the server acknowledged, per tenant where it matters. Thread-safe through lock."""

    def __init__(self, tenants):
        self.lock = threading.Lock()
        self.grants = []  # (tenant, jti, reason, ticket)
        self.puts = []  # {tenant, quotaId, version, maxPerHour, reason, ticket}
        self.permits = {}  # live: permitId -> (tenant, quotaId)
        self.permits_ever = set()
        self.acquired = self.released = 0
        self.jobs = {t: {} for t in tenants}  # jobId -> jobType (submits)
        self.leases = {t: [] for t in tenants}  # every acknowledged lease, as answered
        self.lease_seconds = {}  # leaseId -> seconds asked
        self.completes = {t: [] for t in tenants}  # the leased jobs whose completion was acked
        self.done_leases = set()
        self.claims = 0
        self.batch_processed = collections.Counter()  # backfillId -> events processed by batches
        self.backfill_changes = 0
        self.problems = []

    def problem(self, text):
        with self.lock:
            self.problems.append(text)

    def live_permits(self, tenant, qid):
        with self.lock:
            return sorted(p for p, tq in self.permits.items() if tq == (tenant, qid))

    def count(self):
        """How many acknowledged changes there are to check."""
        with self.lock:
            return (len(self.grants) + len(self.puts) + self.acquired + self.released
                    + sum(len(v) for v in self.jobs.values())
                    + sum(len(v) for v in self.leases.values())
                    + sum(len(v) for v in self.completes.values()) + self.claims
                    + self.backfill_changes)


class CrashWorker(BackfillWorker):
    """A BackfillWorker (lease, claim, complete) that records its acknowledged leases and
    completions in Acked, over the thread's Client. abandon: it leases and vanishes (a worker that died), never completing.
    Its token is read from load.work_tok at each call, so the test may renew it."""

    def __init__(self, load, client, tenant, job_types, worker_id, lease_seconds, max_jobs=2,
                 abandon=False, rnd=None):
        self.load, self.client, self.tenant, self._new = load, client, tenant, {}
        self.rnd = rnd
        super().__init__(load.srv, None, job_types, load.sources, load.tally, worker_id,
                         lease_seconds=lease_seconds, max_jobs=max_jobs,
                         tolerate_down=TOLERATE_DOWN,
                         on_leased=(lambda job: False) if abandon else None,
                         on_claimed=self._claimed)

    @property
    def token(self):
        return self.load.work_tok[self.tenant]

    @token.setter
    def token(self, value):
        pass

    def call(self, method, path, body=None):
        return self.client.call(method, path, self.token, body=body)

    def lease(self):
        jobs = super().lease()
        a = self.load.acked
        with a.lock:
            a.leases[self.tenant] += jobs
            for j in jobs:
                a.lease_seconds[j["leaseId"]] = self.lease_seconds
        return jobs

    def _claimed(self, job, new):
        """Between the claim and the completion: the processing, up to 80 ms, while the claims
        are in flight (another job's claim of these events must answer duplicate)."""
        self._new[job["jobId"]] = list(new)
        with self.load.acked.lock:
            self.load.acked.claims += 1
        if new and self.rnd is not None:
            time.sleep(self.rnd.uniform(0, 0.08))

    def complete(self, job, status="succeeded"):
        ok = super().complete(job, status)
        if ok:
            a = self.load.acked
            with a.lock:
                a.done_leases.add(job["leaseId"])
                a.completes[self.tenant].append(job)
                if job.get("backfillId"):
                    a.batch_processed[job["backfillId"]] += len(self._new.get(job["jobId"], []))
        return ok


class Load:
    """The load threads over one server. quota_ids[tenant][jobType]; sources: the FakeSources of
    the backfills (the test adds one per backfill; live jobs are submitted for events of
    live_source); work_tok[tenant]: worker tokens; quota_tok[tenant]: (token, reason, ticket) of
    the latest elevated grant, used by the tuner."""

    def __init__(self, srv, tenants, acked, tally, quota_ids, work_tok, quota_tok):
        self.srv, self.tenants, self.acked, self.tally = srv, tenants, acked, tally
        self.quota_ids, self.work_tok, self.quota_tok = quota_ids, work_tok, quota_tok
        self.sources, self.live_source = {}, None
        self.gate = Gate()
        self.clients, self.errors = [], []
        self.stop_feed, self.stop_work = threading.Event(), threading.Event()
        self.threads = {"feed": [], "work": []}

    # -- threads ---------------------------------------------------------------------------------
    def start(self, rng):
        """Starts every thread, each with a random.Random seeded from rng."""
        feed = [self.grants, self.tuner, self.submitter, self.ghost]
        feed += [(lambda t: lambda r, c: self.permits(r, c, t))(t) for t in self.tenants]
        work = [(lambda t: lambda r, c: self.worker(r, c, t))(t) for t in self.tenants]
        work.append(lambda r, c: self.worker(r, c, self.tenants[0], "w-extra"))
        for kind, fns in (("feed", feed), ("work", work)):
            for fn in fns:
                self._spawn(kind, fn, rng.randrange(1 << 30))

    def _spawn(self, kind, fn, seed):
        stop = self.stop_feed if kind == "feed" else self.stop_work
        c = Client(self.srv.url)
        self.clients.append(c)

        def run():
            try:
                fn(random.Random(seed), c)
            except BaseException as e:  # reported by the test
                self.errors.append(e)
            finally:
                c.close()
        t = threading.Thread(target=run, daemon=True)
        t.stop = stop
        self.threads[kind].append(t)
        self.gate.threads.append(t)
        t.start()

    def join(self, kind, timeout=60):
        (self.stop_feed if kind == "feed" else self.stop_work).set()
        self.gate.release()
        deadline = time.monotonic() + timeout
        for t in self.threads[kind]:
            t.join(max(0.0, deadline - time.monotonic()))
        alive = [t for t in self.threads[kind] if t.is_alive()]
        if alive:
            raise AssertionError("%d %s thread(s) still running" % (len(alive), kind))

    def busy(self):
        return sum(c.busy for c in self.clients)

    # -- the operations --------------------------------------------------------------------------
    def grants(self, rnd, c):
        """POST /token with orch:quota and a distinct quota_reason (and most often a ticket)."""
        n, secret = 0, self.srv.secrets["admin"]
        while self.gate.checkpoint(self.stop_feed):
            n += 1
            t = rnd.choice(self.tenants)
            reason = "crash-loop grant %d" % n
            ticket = "CL-%d" % n if rnd.random() < 0.8 else None
            form = [("grant_type", "client_credentials"), ("scope", "orch:quota orch:read"),
                    ("tenant", t), ("quota_reason", reason), ("quota_ticket", ticket)]
            st, _, js, _ = c.call("POST", "/token", body=form_encode(form),
                                  headers={"Authorization": basic_auth("admin", secret),
                                           "Content-Type": FORM})
            if st != 200:
                self.acked.problem("grant answered %s: %r" % (st, js))
                continue
            tok = js["access_token"]
            with self.acked.lock:
                self.acked.grants.append((t, claims_of(tok)["jti"], reason, ticket))
            self.quota_tok[t] = (tok, reason, ticket)
            self.stop_feed.wait(rnd.uniform(0.01, 0.05))

    def tuner(self, rnd, c):
        """PUT maxPerHour of a quota to a value never used before; the reason from the body or
        from the token's claims."""
        n = 0
        while self.gate.checkpoint(self.stop_feed):
            n += 1
            t = rnd.choice(self.tenants)
            qid = rnd.choice(sorted(self.quota_ids[t].values()))
            tok, reason, ticket = self.quota_tok[t]
            value = 200000 + n
            body = {"maxPerHour": value}
            if rnd.random() < 0.5:
                reason, ticket = "tune %d" % n, "TUNE-%d" % n
                body.update(reason=reason, ticket=ticket)
            st, _, js, _ = c.call("PUT", qpath(qid), tok, body=body)
            if st != 200 or js.get("maxPerHour") != value:
                self.acked.problem("PUT %s answered %s: %r" % (qid, st, js))
                continue
            with self.acked.lock:
                self.acked.puts.append({"tenant": t, "quotaId": qid, "version": js["version"],
                                        "maxPerHour": value, "reason": reason, "ticket": ticket})
            self.stop_feed.wait(rnd.uniform(0.01, 0.05))

    def permits(self, rnd, c, t):
        """Acquires (Idempotency-Key, 1 h) and releases permits of the tenant's cl.work quota,
        holding up to 3."""
        qid, mine, n, a = self.quota_ids[t]["cl.work"], [], 0, self.acked
        while self.gate.checkpoint(self.stop_feed):
            if len(mine) < 3 and (not mine or rnd.random() < 0.6):
                n += 1
                st, _, js, _ = c.call("POST", qpath(qid, "acquire"), self.work_tok[t],
                                      body={"ttlSeconds": 3600},
                                      headers={"Idempotency-Key": "acq-%s-%d" % (t, n)})
                if st == 200:
                    with a.lock:
                        if js["permitId"] in a.permits_ever:
                            a.problems.append("permit %s granted twice" % js["permitId"])
                        a.permits_ever.add(js["permitId"])
                        a.permits[js["permitId"]] = (t, qid)
                        a.acquired += 1
                    mine.append(js["permitId"])
                elif st != 429:
                    a.problem("acquire answered %s: %r" % (st, js))
            else:
                p = mine.pop(rnd.randrange(len(mine)))
                st, _, js, cut = c.call("POST", qpath(qid, "release"), self.work_tok[t],
                                        body={"permitId": p})
                with a.lock:
                    a.permits.pop(p, None)
                    a.released += st == 204
                if not (st == 204 or (st == 404 and cut)):
                    a.problem("release of the acknowledged permit %s answered %s (lost): %r"
                              % (p, st, js))
            self.stop_feed.wait(rnd.uniform(0.01, 0.05))

    def submitter(self, rnd, c):
        """Jobs with an Idempotency-Key: plain cl.work ones for either tenant, and live cl.live
        ones of the first tenant for events of the running backfill's source."""
        n = 0
        while self.gate.checkpoint(self.stop_feed):
            n += 1
            t = rnd.choice(self.tenants)
            body = {"jobType": "cl.work", "payload": {"n": n}, "priority": rnd.randint(-3, 3)}
            src = self.live_source
            if t == self.tenants[0] and src is not None and rnd.random() < 0.4:
                key = rnd.choice(self.contended_keys(src, rnd))
                body = {"jobType": "cl.live", "payload": {"event": key},
                        "sourceId": src.source_id, "eventKey": key,
                        "eventTime": format_time_ms(src.get(key)[0])}
            st, _, js, _ = c.call("POST", JOBS, self.work_tok[t], body=body,
                                  headers={"Idempotency-Key": "sub-%d" % n})
            if st != 201:
                self.acked.problem("submit answered %s: %r" % (st, js))
                continue
            with self.acked.lock:
                self.acked.jobs[t][js["jobId"]] = body["jobType"]
            self.stop_feed.wait(rnd.uniform(0.02, 0.06))

    def contended_keys(self, src, rnd):
        """The events of the batch leased last (its claims may be in flight: a live job for one
        of them must meet them), or, half the time, any event of the source."""
        with self.tally.lock:
            wins = list(self.tally.batch_windows.values())[-1:]
        keys = src.keys_in(parse_time_ms(wins[0][0]), parse_time_ms(wins[0][1])) \
            if wins and rnd.random() < 0.5 else []
        return keys or src.keys_in(0, 1 << 62)

    def ghost(self, rnd, c):
        """A worker that leases one cl.work job for 2 s and vanishes, now and then."""
        w = CrashWorker(self, c, self.tenants[0], ["cl.work"], "ghost", 2, max_jobs=1, abandon=True)
        try:
            while self.gate.checkpoint(self.stop_feed):
                w.poll()
                self.stop_feed.wait(rnd.uniform(0.1, 0.4))
        finally:
            w.close()

    def worker(self, rnd, c, t, name=None):
        """Leases (6 s: enough to ride out a restart), claims the events of live and batch jobs,
        completes."""
        types = ["cl.work"] + (["cl.live", "cl.fill"] if t == self.tenants[0] else [])
        w = CrashWorker(self, c, t, types, name or "w-" + t, 6, max_jobs=rnd.choice((1, 2)),
                        rnd=rnd)
        try:
            while self.gate.checkpoint(self.stop_work):
                if w.poll() == 0:
                    self.stop_work.wait(0.03)
        finally:
            w.close()
