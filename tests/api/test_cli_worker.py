"""Black-box tests of `jobengine job` and `jobengine worker` (api.md §3.4, §4): the real binary
against a real server (started with --max-attempts 2). Jobs are submitted with the CLI; real
worker processes lease them and run shell commands that leave their traces in a directory:
every job runs and succeeds exactly once, a failing command is retried and ends failed with its
exit status, heartbeats keep a long lease, SIGTERM lets the running command finish and be
reported, a SIGKILLed worker's job is completed by the next worker, a lost lease stops the
command, quotas bound what runs at once, and the exit codes of the CLI (2 usage, 1 refusal)."""

import http.client
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

from harness import BIN, GRANT_EVENT, TMP, ServerTestCase, clean_env

CLIENTS = [
    ("worker", ["acme"], ["Orch.Worker"]),
    ("admin", ["acme"], ["Orch.Admin"]),
    ("viewer", ["acme"], ["Orch.Viewer"]),
]
JOBS = "/jobengine/jobs"
UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


class RefusingProxy:
    """Forwards every request to the server, except that once the first bearer token it saw has
    been used `uses` times, it answers 401 to that token, as the server does for a revoked or
    expired one. Records the tokens seen (compared, never printed)."""

    def __init__(self, upstream_port, uses):
        proxy = self
        self.tokens, self.refused, self.lock = [], 0, threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                self.forward()

            def do_POST(self):
                self.forward()

            def forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                auth = self.headers.get("Authorization") or ""
                tok = auth[7:] if auth.startswith("Bearer ") else None
                with proxy.lock:
                    if tok and tok not in proxy.tokens:
                        proxy.tokens.append(tok)
                    first = bool(proxy.tokens) and tok == proxy.tokens[0]
                    proxy.uses_left -= first
                    refuse = first and proxy.uses_left < 0
                    proxy.refused += refuse
                if refuse:
                    return self.answer(401, {"error": {"code": "UNAUTHORIZED", "message":
                                       "token revoked", "trace_id": "0" * 32, "details": {}}})
                conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=15)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=body, headers=headers)
                r = conn.getresponse()
                data = r.read()
                conn.close()
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def answer(self, status, obj):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("WWW-Authenticate", "Bearer")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.uses_left = uses
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class CliWorkerTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(CLIENTS, args=["--max-attempts", "2"], name="cli-worker")
        cls.reader = cls.srv.grant("viewer", "orch:read")

    def setUp(self):
        super().setUp()
        self.out = tempfile.mkdtemp(prefix="worker-out-", dir=TMP)
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            for f in p.files:
                f.close()
        super().tearDown()
        shutil.rmtree(self.out, ignore_errors=True)

    # -- helpers ----------------------------------------------------------------------------------
    def env(self, client="worker", **extra):
        e = {"JOBENGINE_URL": self.srv.url, "OUT_DIR": self.out}
        if client:
            e.update({"JOBENGINE_CLIENT_ID": client,
                      "JOBENGINE_CLIENT_SECRET": self.srv.secrets[client]})
        e.update(extra)
        return e

    def job(self, *args, client="worker", env=None, stdin=None):
        e = self.env(client)
        e.update(env or {})
        p = subprocess.run([BIN, "job"] + list(args), input=stdin, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=clean_env(e), timeout=30, text=True)
        for s in self.srv.secrets.values():
            self.assertNotIn(s, p.stdout + p.stderr, "a client secret was printed")
        return p

    def submit(self, job_type, payload, *args):
        p = self.job("submit", "--job-type", job_type, "--payload", json.dumps(payload), "--json",
                     *args)
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)["jobId"]

    def get(self, job_id):
        st, _, body = self.srv.api("GET", JOBS + "/" + job_id, self.reader)
        self.assertEqual(st, 200, body)
        return body

    def start_worker(self, job_type, command, *args, client="worker", env=None):
        """A worker process; its stdout/stderr go to files (read with finish())."""
        n = len(self.procs)
        out = open(os.path.join(self.out, "w%d.stdout" % n), "w+")
        err = open(os.path.join(self.out, "w%d.stderr" % n), "w+")
        argv = [BIN, "worker", "--job-type", job_type, "--exec", command] + list(args)
        e = self.env(client)
        e.update(env or {})
        p = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                             env=clean_env(e))
        p.files = (out, err)
        self.procs.append(p)
        return p

    def finish(self, p, timeout=30):
        """Waits for the worker; returns (exit code, stdout, stderr)."""
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            self.fail("the worker did not exit within %d s:\n%s" % (timeout, self.read(p)[1]))
        out, err = self.read(p)
        for s in self.srv.secrets.values():
            self.assertNotIn(s, out + err, "a client secret was printed")
        self.assertNotRegex(out + err, r"eyJ[\w-]+\.eyJ[\w-]+\.", "a token was printed")
        return p.returncode, out, err

    def read(self, p):
        texts = []
        for f in p.files:
            f.flush()
            f.seek(0)
            texts.append(f.read())
        return texts

    def wait_for(self, what, cond, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            v = cond()
            if v:
                return v
            time.sleep(0.05)
        self.fail("timed out waiting for " + what)

    def path(self, name):
        return os.path.join(self.out, name)

    def job_lines(self, err, job_id):
        return [l for l in err.splitlines() if job_id in l and "attempt" in l]

    # -- running jobs -----------------------------------------------------------------------------
    def test_every_job_runs_once_and_succeeds(self):
        payloads = [{"i": i, "text": "r\u00e9sum\u00e9 %d" % i, "list": [i, None, True]}
                    for i in range(7)]
        ids = {self.submit("w.once", p): p for p in payloads}
        # the payload from a file and from stdin
        pf = self.path("payload.json")
        with open(pf, "w") as f:
            json.dump([1, "two"], f)
        p = self.job("submit", "--job-type", "w.once", "--payload-file", pf, "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        ids[json.loads(p.stdout)["jobId"]] = [1, "two"]
        p = self.job("submit", "--job-type", "w.once", "--payload", "-", "--json", stdin='"x"')
        self.assertEqual(p.returncode, 0, p.stderr)
        ids[json.loads(p.stdout)["jobId"]] = "x"

        cmd = ('cat > "$OUT_DIR/$JOBENGINE_JOB_ID.json"; '
               'echo "$JOBENGINE_JOB_ID $JOBENGINE_JOB_TYPE $JOBENGINE_ATTEMPT '
               '${JOBENGINE_LEASE_ID:+lease} ${JOBENGINE_CLIENT_SECRET:-nosecret}" '
               '>> "$OUT_DIR/seen.log"')
        w = self.start_worker("w.once", cmd, "--concurrency", "3", "--idle-exit", "2", "--json")
        rc, out, err = self.finish(w)
        self.assertEqual(rc, 0, err)

        with open(self.path("seen.log")) as f:
            seen = [l.split() for l in f.read().splitlines()]
        self.assertEqual(sorted(s[0] for s in seen), sorted(ids), "each job ran exactly once")
        for s in seen:
            self.assertEqual(s[1:], ["w.once", "1", "lease", "nosecret"], s)
        for job_id, payload in ids.items():
            with open(self.path(job_id + ".json"), "rb") as f:
                raw = f.read()
            self.assertTrue(raw.endswith(b"\n"), "the payload is one line on stdin")
            self.assertEqual(json.loads(raw.decode("utf-8")), payload)
            self.assertEqual(self.get(job_id)["status"], "succeeded")
            [line] = self.job_lines(err, job_id)
            self.assertRegex(line, r"^jobengine worker: job %s \(w\.once, attempt 1\): succeeded "
                                   r"in \d+\.\d\d s$" % job_id)
        records = [json.loads(l) for l in out.splitlines()]
        self.assertEqual(sorted(r["jobId"] for r in records), sorted(ids))
        self.assertTrue(all(r["outcome"] == "succeeded" and r["attempt"] == 1 and
                            isinstance(r["durationMs"], int) for r in records), records)

        # the CLI's reads agree
        p = self.job("list", "--job-type", "w.once", "--status", "succeeded", "--limit", "2",
                     "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        listed = json.loads(p.stdout)
        self.assertIsNone(listed["continuationToken"])
        self.assertEqual(sorted(j["jobId"] for j in listed["items"]), sorted(ids),
                         "every page followed")
        p = self.job("summary")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"(?m)^w\.once\s+0\s+0\s+9\s+0\s+0\s+9$")

    def test_failing_command_is_retried_then_failed(self):
        job_id = self.submit("w.fail", {"bad": True})
        w = self.start_worker("w.fail", 'echo "cannot parse input" >&2; exit 3', "--max-jobs", "2")
        started = time.monotonic()
        rc, out, err = self.finish(w)
        self.assertEqual(rc, 0, err)
        self.assertGreaterEqual(time.monotonic() - started, 1.9, "retried after the 2 s backoff")
        j = self.get(job_id)
        self.assertEqual((j["status"], j["attempt"], j["maxAttempts"]), ("failed", 2, 2), j)
        self.assertIn("exit status 3", j["error"])
        self.assertIn("cannot parse input", j["error"], "the end of stderr is in the error")
        lines = self.job_lines(err, job_id)
        self.assertEqual(len(lines), 2, err)
        self.assertRegex(lines[0], r"attempt 1\): failed in .*exit status 3; it will be retried")
        self.assertRegex(lines[1], r"attempt 2\): failed in .*exit status 3\)$")
        self.assertIn("cannot parse input", err, "the command's stderr is passed on")
        # the text of a failed job in the CLI's table
        p = self.job("list", "--job-type", "w.fail")
        self.assertRegex(p.stdout, r"(?m)^%s\s+w\.fail\s+failed\s+0\s+2/2\s+\S+\s+exit status 3"
                         % job_id)

    def test_heartbeats_keep_a_long_command_leased(self):
        job_id = self.submit("w.long", {"long": 1})
        w = self.start_worker("w.long", 'touch "$OUT_DIR/started"; sleep 5; cat > /dev/null',
                              "--lease-seconds", "3", "--max-jobs", "1")
        self.wait_for("the command to start", lambda: os.path.exists(self.path("started")))
        first = self.get(job_id)
        time.sleep(3.8)  # past the first lease's end
        later = self.get(job_id)
        self.assertEqual(later["status"], "leased", later)
        self.assertEqual(later["leaseId"], first["leaseId"], "the same lease, kept alive")
        self.assertGreater(later["leaseUntil"], first["leaseUntil"], "heartbeats extended it")
        rc, _, err = self.finish(w)
        self.assertEqual(rc, 0, err)
        j = self.get(job_id)
        self.assertEqual((j["status"], j["attempt"]), ("succeeded", 1), j)

    def test_sigterm_lets_the_running_command_finish(self):
        job_id = self.submit("w.term", {"term": 1})
        w = self.start_worker("w.term", 'touch "$OUT_DIR/started"; sleep 1.5; '
                                        'cat > "$OUT_DIR/done.json"')
        self.wait_for("the command to start", lambda: os.path.exists(self.path("started")))
        waiting = self.submit("w.term", {"term": 2})
        w.send_signal(signal.SIGTERM)
        rc, _, err = self.finish(w, timeout=15)
        self.assertEqual(rc, 0, err)
        self.assertIn("stopping: no new leases", err)
        with open(self.path("done.json")) as f:
            self.assertEqual(json.load(f), {"term": 1})
        self.assertEqual(self.get(job_id)["status"], "succeeded", "its completion was reported")
        [line] = self.job_lines(err, job_id)
        self.assertIn("succeeded", line)
        j = self.get(waiting)
        self.assertEqual((j["status"], j["attempt"]), ("pending", 0), "nothing leased after it")

    def test_second_sigterm_kills_the_command_and_abandons_its_job(self):
        job_id = self.submit("w.force", {"f": 1})
        w = self.start_worker("w.force", 'echo $$ > "$OUT_DIR/pid.tmp"; '
                              'mv "$OUT_DIR/pid.tmp" "$OUT_DIR/pid"; sleep 30',
                              "--lease-seconds", "2")
        self.wait_for("the command to start", lambda: os.path.exists(self.path("pid")))
        with open(self.path("pid")) as f:
            pgid = int(f.read())
        w.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        w.send_signal(signal.SIGTERM)
        rc, _, err = self.finish(w, timeout=10)
        self.assertEqual(rc, 1, err)
        self.assertIn("stopping now: killing 1 running command(s)", err)
        self.assertRegex(err, r"job %s \(w\.force, attempt 1\): abandoned in [0-9.]+ s "
                              r"\(killed by signal 15 \(SIGTERM\)\)" % job_id)
        def group_gone():
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return True
            return False
        self.wait_for("the command's process group (sh and its sleep) to end", group_gone,
                      timeout=5)
        # not a failed attempt: the job waits for its lease to expire, then is pending again
        j = self.wait_for("the lease to expire",
                          lambda: (lambda j: j if j["status"] == "pending" else None)(
                              self.get(job_id)), timeout=10)
        self.assertEqual((j["attempt"], j["error"]), (1, None), j)

    def test_sigkilled_workers_job_is_completed_by_the_next_worker(self):
        job_id = self.submit("w.kill", {"kill": 1})
        cmd = ('touch "$OUT_DIR/started.$JOBENGINE_ATTEMPT"; sleep 2; '
               'cat > "$OUT_DIR/done.$JOBENGINE_ATTEMPT.json"')
        a = self.start_worker("w.kill", cmd, "--lease-seconds", "2")
        self.wait_for("the command to start", lambda: os.path.exists(self.path("started.1")))
        a.send_signal(signal.SIGKILL)
        a.wait()
        self.assertEqual(self.get(job_id)["status"], "leased")
        b = self.start_worker("w.kill", cmd, "--lease-seconds", "2", "--max-jobs", "1")
        rc, _, err = self.finish(b)
        self.assertEqual(rc, 0, err)
        j = self.get(job_id)
        self.assertEqual((j["status"], j["attempt"]), ("succeeded", 2), j)
        with open(self.path("done.2.json")) as f:
            self.assertEqual(json.load(f), {"kill": 1})
        time.sleep(0.5)
        self.assertFalse(os.path.exists(self.path("done.1.json")),
                         "the killed worker's command was stopped with it")

    def test_lost_lease_stops_the_command(self):
        job_id = self.submit("w.lost", {"lost": 1})
        cmd = ('touch "$OUT_DIR/started.$JOBENGINE_ATTEMPT"; sleep 3; '
               'touch "$OUT_DIR/done.$JOBENGINE_ATTEMPT"')
        w = self.start_worker("w.lost", cmd, "--lease-seconds", "1", "--max-jobs", "2")
        self.wait_for("the command to start", lambda: os.path.exists(self.path("started.1")))
        # freeze the server past the lease's end: the next heartbeat answers 409 LEASE_LOST
        self.srv.proc.send_signal(signal.SIGSTOP)
        try:
            time.sleep(1.6)
        finally:
            self.srv.proc.send_signal(signal.SIGCONT)
        rc, out, err = self.finish(w)
        self.assertEqual(rc, 0, err)
        self.assertRegex(err, r"job %s: lease lost \(LEASE_LOST: " % job_id)
        self.assertRegex(err, r"job %s \(w\.lost, attempt 1\): lease_lost in" % job_id)
        self.assertFalse(os.path.exists(self.path("done.1")), "the command was stopped")
        self.assertTrue(os.path.exists(self.path("done.2")))
        j = self.get(job_id)
        self.assertEqual((j["status"], j["attempt"]), ("succeeded", 2), j)

    # -- tokens -----------------------------------------------------------------------------------
    def test_a_refused_token_is_renewed(self):
        proxy = RefusingProxy(self.srv.port, uses=2)  # lease, complete, then 401
        self.addCleanup(proxy.close)
        ids = [self.submit("w.renew", {"r": i}) for i in range(3)]
        w = self.start_worker("w.renew", "cat > /dev/null", "--max-jobs", "3",
                              env={"JOBENGINE_URL": proxy.url})
        rc, _, err = self.finish(w)
        self.assertEqual(rc, 0, err)
        self.assertEqual(proxy.refused, 1, "the refused token was not used again")
        self.assertEqual(len(proxy.tokens), 2, "one new token, asked for after the 401")
        self.assertTrue(all(self.get(i)["status"] == "succeeded" for i in ids))

    def test_a_token_is_renewed_before_it_expires(self):
        srv = self.new_server(CLIENTS, args=["--token-ttl-seconds", "2"], name="cli-worker-ttl")
        env = {"JOBENGINE_URL": srv.url, "JOBENGINE_CLIENT_SECRET": srv.secrets["worker"]}
        p = self.job("submit", "--job-type", "w.ttl", "--json", env=env)
        job_id = json.loads(p.stdout)["jobId"]
        w = self.start_worker("w.ttl", "sleep 4", "--lease-seconds", "3", "--max-jobs", "1",
                              env=env)
        rc, _, err = self.finish(w)
        self.assertEqual(rc, 0, err)
        self.assertNotIn("UNAUTHORIZED", err)
        tok = srv.grant("viewer", "orch:read")
        st, _, j = srv.api("GET", JOBS + "/" + job_id, tok)
        self.assertEqual((j["status"], j["attempt"]), ("succeeded", 1), j)
        grants = srv.audit_all(tok, eventType=GRANT_EVENT, actor="worker")
        self.assertGreaterEqual(len(grants), 3, "tokens of 2 s renewed while heartbeating 4 s")

    # -- concurrency and quotas -------------------------------------------------------------------
    def intervals(self, name):
        """(start, end) per job from lines "start|end TIME JOBID" the commands appended."""
        spans = {}
        with open(self.path(name)) as f:
            for line in f:
                kind, t, job = line.split()
                spans.setdefault(job, {})[kind] = float(t)
        return sorted((s["start"], s["end"]) for s in spans.values())

    STAMP = ('echo "start $(date +%s.%N) $JOBENGINE_JOB_ID" >> "$OUT_DIR/times"; sleep {secs}; '
             'echo "end $(date +%s.%N) $JOBENGINE_JOB_ID" >> "$OUT_DIR/times"')

    def test_quota_max_active_one_bounds_concurrency(self):
        tok = self.srv.grant("admin", "orch:quota", quota_reason="worker test")
        st, _, body = self.srv.api("POST", "/jobengine/quotas", tok, body={
            "jobType": "w.quota", "maxActive": 1, "maxPerHour": 1000, "burstCapacity": 100,
            "refillPerSecond": 10})
        self.assertEqual(st, 201, body)
        ids = [self.submit("w.quota", {"q": i}) for i in range(4)]
        w = self.start_worker("w.quota", self.STAMP.format(secs="0.4"), "--concurrency", "4",
                              "--max-jobs", "4")
        rc, _, err = self.finish(w)
        self.assertEqual(rc, 0, err)
        spans = self.intervals("times")
        self.assertEqual(len(spans), 4, spans)
        for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
            self.assertGreaterEqual(s2, e1, "two commands ran at once under maxActive 1: %r"
                                    % spans)
        self.assertTrue(all(self.get(i)["status"] == "succeeded" for i in ids))

    def test_concurrency_runs_commands_side_by_side(self):
        ids = [self.submit("w.par", {"p": i}) for i in range(3)]
        w = self.start_worker("w.par", self.STAMP.format(secs="1"), "--concurrency", "3",
                              "--max-jobs", "3")
        rc, _, err = self.finish(w)
        self.assertEqual(rc, 0, err)
        spans = self.intervals("times")
        self.assertEqual(len(spans), 3, spans)
        self.assertLess(max(s for s, _ in spans), min(e for _, e in spans),
                        "all three ran at once: %r" % spans)
        self.assertTrue(all(self.get(i)["status"] == "succeeded" for i in ids))

    # -- the job command --------------------------------------------------------------------------
    def test_job_submit_get_and_idempotency(self):
        p = self.job("submit", "--job-type", "w.read", "--payload", '{"b":1,"a":[2]}',
                     "--priority", "-7", "--source-id", "src.1", "--event-key", "ev 1",
                     "--event-time", "2026-11-28T09:00:00Z")
        self.assertEqual(p.returncode, 0, p.stderr)
        job_id = re.search(r"(?m)^jobId:\s+(%s)$" % UUID_RE, p.stdout).group(1)
        for pat in (r"status:\s+pending", r"priority:\s+-7", r'payload:\s+\{"a":\[2\],"b":1\}',
                    r"sourceId:\s+src\.1", r"eventKey:\s+ev 1",
                    r"eventTime:\s+2026-11-28T09:00:00\.000Z"):
            self.assertRegex(p.stdout, "(?m)^" + pat + "$")
        p = self.job("get", job_id, client="viewer")  # reads need only orch:read
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"(?m)^jobId:\s+%s$" % job_id)
        p = self.job("get", job_id, "--json", client="viewer")
        self.assertEqual(json.loads(p.stdout)["priority"], -7)
        first = self.job("submit", "--job-type", "w.read", "--idempotency-key", "k-1", "--json")
        again = self.job("submit", "--job-type", "w.read", "--idempotency-key", "k-1", "--json")
        self.assertEqual(json.loads(first.stdout)["jobId"], json.loads(again.stdout)["jobId"])
        self.assertEqual(json.loads(first.stdout)["payload"], {}, "the default payload")

    # -- errors -----------------------------------------------------------------------------------
    def assertUsage(self, p):
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertEqual(p.stdout, "")
        self.assertRegex(p.stderr, r"^jobengine (job \w+|worker): ")

    def assertRefused(self, p, cmd, code):
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertEqual(p.stdout, "")
        self.assertRegex(p.stderr, r"(?m)^jobengine %s: %s: " % (cmd, code))

    def test_usage_errors_exit_2_and_send_nothing(self):
        unreachable = {"JOBENGINE_URL": "http://127.0.0.1:9"}  # usage is checked first
        for args in (["submit", "--job-type", "t", "--priority", "5000"],
                     ["submit", "--job-type", "t", "--priority", "high"],
                     ["submit", "--priority", "1"],
                     ["submit", "--job-type", "t", "--payload", "{not json"],
                     ["submit", "--job-type", "t", "--payload", "1", "--payload-file", "f"],
                     ["submit", "--job-type", "t", "--event-time", "yesterday"],
                     ["list", "--status", "running"], ["list", "--limit", "0"],
                     ["get"], ["frobnicate"]):
            p = self.job(*args, env=unreachable)
            if args == ["frobnicate"]:
                self.assertEqual(p.returncode, 2)
                continue
            self.assertUsage(p)
        self.assertIn("--priority must be a whole number from -1000 to 1000",
                      self.job("submit", "--job-type", "t", "--priority", "5000").stderr)
        for args in ([], ["--job-type", "t"], ["--exec", "true"],
                     ["--job-type", "t", "--exec", "true", "--concurrency", "0"],
                     ["--job-type", "t", "--exec", "true", "--lease-seconds", "3601"],
                     ["--job-type", "t", "--exec", "true", "--bogus"]):
            p = subprocess.run([BIN, "worker"] + args, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=10,
                               env=clean_env(self.env(**unreachable)))
            self.assertUsage(p)

    def test_server_refusals_exit_1_with_the_code(self):
        p = self.job("get", "00000000-0000-7000-8000-000000000000")
        self.assertRefused(p, "job get", "NOT_FOUND")
        p = self.job("submit", "--job-type", "bad type")
        self.assertRefused(p, "job submit", "VALIDATION_FAILED")
        # a token without orch:jobs: the API refuses the submit and the lease
        p = self.job("submit", "--job-type", "t", client=None, env={"JOBENGINE_TOKEN": self.reader})
        self.assertRefused(p, "job submit", "SCOPE_REQUIRED")
        w = subprocess.run([BIN, "worker", "--job-type", "t", "--exec", "true"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=20,
                           env=clean_env(self.env(None, JOBENGINE_TOKEN=self.reader)))
        self.assertRefused(w, "worker", "SCOPE_REQUIRED")
        self.assertNotIn(self.reader, w.stderr)
        # a viewer may not have a token with orch:jobs at all
        p = self.job("submit", "--job-type", "t", client="viewer")
        self.assertRefused(p, "job submit", "invalid_scope")


if __name__ == "__main__":
    unittest.main(verbosity=2)
