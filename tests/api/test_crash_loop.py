"""The crash loop (issue 13, "Crash loop and faults"; domain.md §2: a decision and what it grants
are stored durably before the caller hears of them; §4 each event processed once across a crash;
§6 the chain). Mixed load runs against a real `jobengine serve` (crashload.py: grants with
reasons, quota changes, acquires and releases, submits, leases, claims and completions, a
backfill always running, from 9 client threads), and the server is SIGKILLed at a random point
N times, each time restarted on the same store.

N: JE_CRASH_KILLS, default 20, or ASAN_KILLS when the binary is built with AddressSanitizer
(found in the binary itself: the sanitised server is several times slower, and the PostgreSQL
pass does not run sanitised anyway); `make soak` runs 100 on each backend. The seed is
JE_CRASH_SEED (default random) and is printed first: the kill points and every operation follow
from it (not the server's timing), so a failure can be replayed.

After each restart the load is held at an operation boundary and checked through the API:
- every acknowledged grant is in its tenant's chain exactly once, with its reason and ticket;
- every acknowledged quota change (a maxPerHour never used before) is audited once as
  quota.updated with its version, value, reason and ticket; a quota's versions run 1, 2, 3, ...
  through its entries and the quota shows the last one;
- every acknowledged submit is a job, and there is no job besides them and the batch jobs (an
  Idempotency-Key replay never made a second); no job failed or was canceled;
- every acknowledged completion stayed; every acknowledged lease is still held, completed, or
  ran out, and no job was leased again while an acknowledged lease of it ran (held twice);
- each quota's usage.active == its leased jobs + the acknowledged permits not released, and is
  at most maxActive; a release of an acknowledged permit never answers 404 (lost);
- each backfill is running or completed, has exactly batchesSubmitted batch jobs, no batch number
  twice, each with its window; no event has been processed twice;
- every tenant's chain verifies: read piecewise (audit export) by the independent verifier,
  no entry read before changed, GET /jobengine/audit/verify and `jobengine audit verify` agree.
At the end, with no more kills: the workers drain; every backfill completed, each event of its
window processed exactly once, each batch completed once, progress exact; every job completed
once; every live permit releases with 204 and every quota's active returns to 0; the whole chain
verifies again (independently, by the server, by the CLI, and as a signed export offline); the
server stops cleanly on SIGTERM."""

import os
import random
import signal
import sys
import threading
import time
import unittest
import urllib.parse

import harness
from crashload import Acked, Load, qpath
from harness import (BACKFILLS, DAY_MS, HOUR_MS, JOBS, FakeSource, ServerError, ServerTestCase,
                     Tally, backfill_body, backfill_path, claims_of, fetch_export, fetch_jwks,
                     hour_start_ms, list_jobs_all, now_ms, quota_body, verify_export, wait_until)
from invariants import (ChainFollower, assert_chain_valid, batch_problems, cli_audit_verify,
                        completion_problems, exactly_once_problems, lease_problems,
                        stable_accounting)

TENANTS = ("acme", "beta")
CLIENTS = [("admin", list(TENANTS), ["Orch.Admin"]), ("worker", list(TENANTS), ["Orch.Worker"])]
QUOTAS = {"acme": ("cl.work", "cl.live", "cl.fill"), "beta": ("cl.work",)}
MAX_ACTIVE = {"cl.work": 8, "cl.live": 6, "cl.fill": 6}
# each backfill: 24 one-hour batches of 4 events, its quota refilling 4 a second, so that it runs
# through several kills
BATCHES, PER_BATCH = 24, 4
REFILL = {"cl.work": 1000, "cl.live": 1000, "cl.fill": 4}
ASAN_KILLS = 10
WORK_TOKEN_RENEW_S = 1800  # worker tokens live 3600 s; a long soak renews them
CHECK_REASON = "crash-loop check"


def kills_wanted():
    v = os.environ.get("JE_CRASH_KILLS")
    return int(v) if v else (ASAN_KILLS if harness.SANITIZED else 20)


class CrashLoopTest(ServerTestCase):
    def setUp(self):
        super().setUp()
        self.seed = int(os.environ.get("JE_CRASH_SEED")
                        or random.SystemRandom().randrange(1 << 32))
        self.kills = kills_wanted()
        self.rng = random.Random(self.seed)
        self.backend = "postgres" if harness.ON_POSTGRES else "sqlite"
        sys.stderr.write("\n[crash-loop] %s: seed %d, %d kills (JE_CRASH_SEED=%d "
                         "JE_CRASH_KILLS=%d to repeat)\n" % (self.backend, self.seed, self.kills,
                                                             self.seed, self.kills))
        sys.stderr.flush()
        self.load = None

    def prepare(self):
        """The server, its quotas and the load (in the test, not setUp: a setUp that fails is
        not followed by tearDown, which stops the server)."""
        srv = self.srv = self.new_server(CLIENTS, name="crash-loop")
        self.acked, self.tally = Acked(TENANTS), Tally()
        self.work_tok = {}
        self.renew_work_tokens()
        self.quota_tok = {t: (self.admin(t), CHECK_REASON, None) for t in TENANTS}
        self.quota_ids = {t: {} for t in TENANTS}
        for t in TENANTS:
            for jt in QUOTAS[t]:
                st, _, q = srv.api("POST", "/jobengine/quotas", self.quota_tok[t][0],
                                   body=quota_body(jt, max_active=MAX_ACTIVE[jt],
                                                   max_per_hour=500000,
                                                   burst=min(REFILL[jt], 10000),
                                                   refill=REFILL[jt]))
                self.assertEqual(st, 201, q)
                self.quota_ids[t][jt] = q["quotaId"]
        self.followers = {t: ChainFollower(t) for t in TENANTS}
        self.load = Load(srv, TENANTS, self.acked, self.tally, self.quota_ids, self.work_tok,
                         self.quota_tok)
        self.backfills = []  # {"bid", "source", "keys", "status"}
        self.T0 = hour_start_ms(now_ms()) - 2 * DAY_MS
        self.checked = 0
        self.start_kills = 0

    def tearDown(self):
        if self.load is not None:
            self.load.stop_feed.set()
            self.load.stop_work.set()
            self.load.gate.release()
        super().tearDown()

    def renew_work_tokens(self):
        """Worker tokens for the load, again once they are half their life old."""
        if self.work_tok and time.monotonic() - self.work_tok_at < WORK_TOKEN_RENEW_S:
            return
        for t in TENANTS:
            self.work_tok[t] = self.srv.grant("worker", "orch:jobs orch:read", tenant=t)
        self.work_tok_at = time.monotonic()

    def backfill_list(self, tok):
        """{backfillId: backfill} of the first tenant, every page."""
        out, cont = {}, None
        while True:
            path = BACKFILLS + "?limit=500" + ("&continuationToken=" + urllib.parse.quote(cont, safe="")
                                              if cont else "")
            page = self.srv.get_json(path, tok)
            out.update((b["backfillId"], b) for b in page["items"])
            cont = page.get("continuationToken")
            if not cont:
                return out

    def admin(self, tenant):
        """An elevated token for the checks (and backfill changes); its grant is acknowledged
        like any other."""
        tok = self.srv.grant("admin", "orch:read orch:quota orch:backfill", tenant=tenant,
                             quota_reason=CHECK_REASON, backfill_reason="crash-loop backfill",
                             backfill_ticket="CL-BF")
        with self.acked.lock:
            self.acked.grants.append((tenant, claims_of(tok)["jti"], CHECK_REASON, None))
        return tok

    # -- the backfills ----------------------------------------------------------------------------
    def ensure_backfill(self, tok):
        """Keeps one backfill running: a new one (on a new source) once the last completed."""
        if self.backfills and self.backfills[-1]["status"] != "completed":
            return
        k = len(self.backfills)
        src, keys = FakeSource("cl-src-%d" % k), []
        for h in range(BATCHES):
            for i in range(PER_BATCH):
                keys.append("e%d-%02d-%d" % (k, h, i))
                src.put(keys[-1], self.T0 + h * HOUR_MS + i * (HOUR_MS // PER_BATCH), "d%d" % k)
        self.load.sources[src.source_id] = src
        st, _, b = self.srv.api("POST", BACKFILLS, tok,
                                body=backfill_body(src.source_id, "cl.fill", self.T0,
                                                   self.T0 + BATCHES * HOUR_MS,
                                                   batchSeconds=3600))
        self.assertEqual(st, 201, b)
        st, _, s = self.srv.api("POST", backfill_path(b["backfillId"], "start"), tok, body={})
        self.assertEqual((st, s.get("status")), (200, "running"), s)
        with self.acked.lock:
            self.acked.backfill_changes += 2
        self.backfills.append({"bid": b["backfillId"], "source": src.source_id, "keys": keys,
                               "status": "running"})
        self.load.live_source = src

    def backfill_problems(self, tok, final):
        """A stable read (no batch submitted between the reads) of every backfill and its batch
        jobs, checked with invariants.batch_problems."""
        out = []
        for _ in range(50):
            b1 = self.backfill_list(tok)
            jobs = list_jobs_all(self.srv, tok, jobType="cl.fill")
            b2 = self.backfill_list(tok)
            if b1 == b2:
                break
            time.sleep(0.02)
        else:
            return ["no stable read of the backfills in 50 tries"]
        for mine in self.backfills:
            b = b2.get(mine["bid"])
            if b is None or b["status"] not in ("running", "completed"):
                out.append("backfill %s is %r" % (mine["bid"], b and b["status"]))
                continue
            mine["status"] = b["status"]
            done = b["status"] == "completed"
            out += batch_problems([j for j in jobs if j.get("backfillId") == mine["bid"]], b,
                                  self.tally, finished=done)
            if final:
                p = b["progress"]
                want = (BATCHES, BATCHES, 0, self.acked.batch_processed[mine["bid"]])
                got = (p["batchesSubmitted"], p["batchesDone"], p["eventsFailed"],
                       p["eventsProcessed"])
                if got != want:
                    out.append("backfill %s progress %r, expected %r" % (mine["bid"], got, want))
                wrong = exactly_once_problems(self.tally, mine["source"], mine["keys"])
                if wrong:
                    out.append("backfill %s: events not processed exactly once: %r"
                               % (mine["bid"], wrong))
        twice = {k: v for k, v in self.tally.processed.items() if v > 1}
        if twice:
            out.append("events processed more than once: %r" % twice)
        return out

    # -- the checks -------------------------------------------------------------------------------
    def audit_problems(self, t, tok, cli):
        f = self.followers[t]
        f.follow(self.srv, tok)
        f.check_server_verify(self.srv, tok)
        if cli:
            cli_audit_verify(self.srv, tok)
        out = []
        with self.acked.lock:
            grants = [g for g in self.acked.grants if g[0] == t]
            puts = [p for p in self.acked.puts if p["tenant"] == t]
        for _, jti, reason, ticket in grants:
            es = f.grants.get(jti, [])
            if len(es) != 1:
                out.append("grant %s (%s) is audited %d times" % (jti, reason, len(es)))
            elif (es[0]["details"]["outcome"], es[0]["reason"], es[0]["ticket"]) != \
                    ("granted", reason, ticket):
                out.append("grant %s: entry %r, acknowledged %r" % (jti, es[0], (reason, ticket)))
        updated = {}
        for p in puts:
            es = [e for e in f.by_resource.get(p["quotaId"], [])
                  if e["eventType"] == "quota.updated"
                  and e["details"]["after"]["version"] == p["version"]]
            if len(es) != 1:
                out.append("acknowledged change %r is audited %d times" % (p, len(es)))
                continue
            got = (es[0]["details"]["after"]["maxPerHour"], es[0]["reason"], es[0]["ticket"])
            if got != (p["maxPerHour"], p["reason"], p["ticket"]):
                out.append("acknowledged change %r audited as %r" % (p, got))
            updated[p["quotaId"]] = max(updated.get(p["quotaId"], 0), p["version"])
        self.checked += len(grants) + len(puts)
        return out, updated

    def quota_problems(self, t, tok, acked_versions):
        out = []
        for jt, qid in sorted(self.quota_ids[t].items()):
            permits = len(self.acked.live_permits(t, qid))
            try:
                _, usage = stable_accounting(self.srv, tok, qid, [jt], permits)
            except AssertionError as e:
                out.append("%s %s: %s" % (t, jt, e))
                continue
            q = self.srv.get_json(qpath(qid), tok)
            if usage["active"] > q["maxActive"]:
                out.append("%s %s: active %d over maxActive %d" % (t, jt, usage["active"],
                                                                   q["maxActive"]))
            es = [e for e in self.followers[t].by_resource.get(qid, [])
                  if e["eventType"] in ("quota.created", "quota.updated")]
            versions = [e["details"]["after"]["version"] for e in es]
            if versions != list(range(1, len(es) + 1)):
                out.append("%s %s: versions in the chain %r" % (t, jt, versions))
            last = es[-1]["details"]["after"]
            if (q["version"], q["maxPerHour"]) != (last["version"], last["maxPerHour"]):
                out.append("%s %s: the quota shows %r, its last entry %r" % (t, jt, q, last))
            if q["version"] < acked_versions.get(qid, 0):
                out.append("%s %s: version %d, acknowledged %d" % (t, jt, q["version"],
                                                                   acked_versions[qid]))
            self.checked += permits
        return out

    def job_problems(self, t, tok):
        jobs = {j["jobId"]: j for j in list_jobs_all(self.srv, tok)}
        with self.acked.lock:
            submitted = dict(self.acked.jobs[t])
            leases, completes = list(self.acked.leases[t]), list(self.acked.completes[t])
            done, seconds = set(self.acked.done_leases), dict(self.acked.lease_seconds)
        out = ["acknowledged job %s (%s) lost" % (i, jt) for i, jt in submitted.items()
               if jobs.get(i, {}).get("jobType") != jt]
        out += ["job %s was never acknowledged: %r" % (i, j) for i, j in jobs.items()
                if i not in submitted and not j.get("backfillId")]
        out += ["job %s %s: %r" % (i, j["status"], j) for i, j in jobs.items()
                if j["status"] in ("failed", "canceled")]
        out += completion_problems(jobs, completes)
        out += lease_problems(jobs, leases, done, lease_seconds=seconds)
        self.checked += len(submitted) + len(leases) + len(completes)
        return out, jobs

    def check_all(self, cycle, final=False):
        """Every check of the module docstring on the held (or stopped) load."""
        out = []
        self.renew_work_tokens()
        for t in TENANTS:
            tok = self.admin(t)
            found, versions = self.audit_problems(t, tok, cli=True)
            out += found
            out += self.quota_problems(t, tok, versions)
            out += self.job_problems(t, tok)[0]
            if t == TENANTS[0]:
                out += self.backfill_problems(tok, final)
                if not final:
                    self.ensure_backfill(tok)
        out += self.acked.problems + self.tally.problems
        out += ["a load thread failed: %r" % e for e in self.load.errors]
        if out:
            self.fail("after kill %d of %d (seed %d, JE_CRASH_SEED=%d to repeat): %d problem(s):"
                      "\n  %s" % (cycle, self.kills, self.seed, self.seed, len(out),
                                  "\n  ".join(str(x) for x in out[:30])))

    # -- the end ----------------------------------------------------------------------------------
    def drained(self):
        bs = self.backfill_list(self.work_tok[TENANTS[0]]).values()
        if any(b["status"] != "completed" for b in bs):
            return False
        for t in TENANTS:
            s = self.srv.get_json(JOBS + "/summary", self.work_tok[t])["items"]
            if any(it["pending"] or it["leased"] for it in s):
                return False
        return True

    def final_checks(self):
        self.check_all(self.kills, final=True)
        all_jobs = set()
        for t in TENANTS:
            tok = self.admin(t)
            _, jobs = self.job_problems(t, tok)
            all_jobs |= set(jobs)
            self.assertEqual([j for j in jobs.values() if j["status"] != "succeeded"], [])
            # every permit still held answers 204 (not lost); then nothing holds a slot
            for jt, qid in self.quota_ids[t].items():
                for p in self.acked.live_permits(t, qid):
                    st, _, body = self.srv.api("POST", qpath(qid, "release"),
                                               self.work_tok[t], body={"permitId": p})
                    self.assertEqual(st, 204, "the acknowledged permit %s: %r" % (p, body))
                    self.acked.permits.pop(p)
                    self.acked.released += 1
                leased, usage = stable_accounting(self.srv, tok, qid, [jt], 0)
                self.assertEqual((leased, usage["active"]), ({}, 0), "%s %s" % (t, jt))
            entries = assert_chain_valid(self.srv, tok)
            f = self.followers[t]
            self.assertEqual(entries[:len(f.entries)], f.entries, "the chain changed")
            cli_audit_verify(self.srv, tok)
            v = verify_export(fetch_export(self.srv, tok), fetch_jwks(self.srv.url))
            self.assertTrue(v["valid"], v)
            self.assertEqual(v["entries"], v["checkpoint"]["headSequence"])
        self.assertEqual({j: n for j, n in self.tally.job_done.items() if n != 1}, {},
                         "jobs completed more than once")
        self.assertEqual(set(self.tally.job_done), all_jobs, "every job completed once")

    # -- the kills --------------------------------------------------------------------------------
    def kill_and_restart(self):
        """SIGKILL; then, one time in five, a second SIGKILL 0-120 ms after the new process was
        spawned, while it starts (opens the store, runs the engine's first sweep) or just after
        it listens; then a start that must succeed."""
        srv = self.srv
        srv.kill9()
        if self.rng.random() < 0.2:
            old, delay, sent = srv.proc, self.rng.uniform(0.0, 0.12), []

            def kill_new():
                deadline = time.monotonic() + 10
                while srv.proc is old and time.monotonic() < deadline:
                    time.sleep(0.0005)
                time.sleep(delay)
                p = srv.proc
                if p is not old and p.poll() is None:
                    p.send_signal(signal.SIGKILL)
                    sent.append(p)
            killer = threading.Thread(target=kill_new, daemon=True)
            killer.start()
            failed = None
            try:
                srv.restart()
            except ServerError as e:  # died before it listened: by this kill, else a defect
                failed = e
            killer.join()
            if failed is not None and not sent:
                raise failed
            if sent:
                sent[0].wait()
                self.start_kills += 1
        if not srv.alive():
            srv.restart()

    # -- the test ---------------------------------------------------------------------------------
    def test_crash_loop(self):
        started = time.monotonic()
        self.prepare()
        srv, load = self.srv, self.load
        self.ensure_backfill(self.admin(TENANTS[0]))
        load.start(self.rng)
        in_flight = []
        for k in range(self.kills):
            load.gate.release()
            time.sleep(self.rng.uniform(0.05, 1.2))
            # the kill lands while a request is under way (a few microseconds after it was seen)
            wait_until("a request under way", load.busy, 5, 0.0005)
            in_flight.append(load.busy())
            self.kill_and_restart()
            load.gate.hold()
            self.check_all(k + 1)
        load.join("feed")
        wait_until("the workers to drain every job and backfill", self.drained, 120, 0.2)
        load.join("work")
        self.final_checks()
        rc = srv.stop()
        log = srv.log_since_start()
        self.assertNotIn("Sanitizer", log, log[-4000:])
        self.assertNotIn("runtime error", log, log[-4000:])
        self.assertEqual(rc, 0, "SIGTERM after the crash loop: " + log[-4000:])
        self.report(in_flight, time.monotonic() - started)

    def report(self, in_flight, seconds):
        a = self.acked
        print("\n[crash-loop] %s: %d kills survived (%d requests under way when they landed, "
              "%d requests met the server down and were retried), and %d more kills while it "
              "started; %d acknowledged changes (grants %d, quota changes %d, permits %d "
              "acquired / %d released, submits %d, leases %d, completions %d, claims %d, "
              "backfill changes %d), %d checks of them after restarts, 0 lost; %d backfills, "
              "%d events each processed once (%d duplicate claims answered); seed %d; %.1f s"
              % (self.backend, self.kills, sum(in_flight),
                 sum(c.cut for c in self.load.clients), self.start_kills, a.count(),
                 len(a.grants), len(a.puts), a.acquired, a.released,
                 sum(len(v) for v in a.jobs.values()), sum(len(v) for v in a.leases.values()),
                 sum(len(v) for v in a.completes.values()), a.claims, a.backfill_changes,
                 self.checked, len(self.backfills), len(self.backfills) * BATCHES * PER_BATCH,
                 sum(self.tally.duplicates.values()), self.seed, seconds))

if __name__ == "__main__":
    unittest.main(verbosity=2)
