"""Black-box tests of `jobengine backfill` (api.md §4, §3.2, §3.5): the real binary against a real
server. Preview (plan and checks, exit 0 even when create would be refused), create (the
justification from the environment reaching the audit chain; refusals with their code and every
safety check on stderr), the state moves (INVALID_STATE, If-Match), get/list as tables and
--json, and `watch` following a backfill that a tiny worker thread here runs to the end (one line
per change when stdout is not a terminal, one redrawn line when it is; exit 0 completed, 1 failed
or canceled, 130 on Ctrl-C with the backfill left alone). Usage errors exit 2 and send nothing."""

import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import threading
import time
import unittest

from harness import (BIN, GRANT_EVENT, KeepAlive, ServerTestCase, clean_env, format_time_ms,
                     now_ms, quota_body, run_cli)

CLIENTS = [
    ("admin", ["acme"], ["Orch.Admin"]),
    ("worker", ["acme"], ["Orch.Worker"]),
    ("viewer", ["acme"], ["Orch.Viewer"]),
    ("gadmin", ["globex"], ["Orch.Admin"]),
]
BF = "/jobengine/backfills"
HOUR = 3600 * 1000
# job types with a quota (created in setUpClass); each test uses its own source ids
JOB_TYPES = ("cli.preview", "cli.create", "cli.run", "cli.fail", "cli.moves", "cli.watch")
CHECKS = ("window_order", "window_not_future", "window_within_limit", "batch_count_within_limit",
          "quota_exists", "quota_not_paused", "no_overlap")
PROGRESS_RE = re.compile(r"^(pending|running|paused|completed|failed|canceled) +\[[#-]{30}\] "
                         r"(\d+)/(\d+) batches +(\d+)%  events: (\d+) processed, (\d+) duplicates, "
                         r"(\d+) failed$")


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


class TinyWorker(threading.Thread):
    """Leases the batch jobs of one job type and completes them with `outcome`; a succeeding one
    first claims two events of the batch and one event every batch shares (so that later batches
    see it as a duplicate)."""

    def __init__(self, srv, token, job_type, outcome="succeeded"):
        super().__init__(daemon=True)
        self.srv, self.token, self.job_type, self.outcome = srv, token, job_type, outcome
        self.stop = threading.Event()
        self.errors = []
        self.completed = 0

    def call(self, conn, path, body):
        st, _, js = conn.request("POST", path, self.token, body=body)
        if st != 200:
            raise AssertionError("POST %s answered %s: %r" % (path, st, js))
        return js

    def work(self, conn, job):
        if self.outcome == "succeeded":
            events = [{"eventKey": "%s-%d-%d" % (job["backfillId"], job["batch"], i),
                       "eventTime": job["windowStart"]} for i in range(2)]
            events.append({"eventKey": "shared", "eventTime": job["windowStart"]})
            self.call(conn, "/jobengine/dedup/claim",
                      {"sourceId": job["sourceId"], "jobId": job["jobId"], "events": events})
        body = {"leaseId": job["leaseId"], "status": self.outcome}
        if self.outcome == "failed":
            body["error"] = "tiny worker says no"
        self.call(conn, "/jobengine/jobs/%s/complete" % job["jobId"], body)
        self.completed += 1

    def run(self):
        conn = KeepAlive(self.srv.url)
        try:
            while not self.stop.is_set():
                jobs = self.call(conn, "/jobengine/jobs/lease",
                                 {"jobTypes": [self.job_type], "workerId": "cli-test", "max": 10,
                                  "leaseSeconds": 30})["jobs"]
                for job in jobs:
                    self.work(conn, job)
                if not jobs:
                    self.stop.wait(0.05)
        except BaseException as e:  # reported by finish()
            self.errors.append(e)
        finally:
            conn.close()

    def finish(self):
        self.stop.set()
        self.join(10)
        if self.errors:
            raise self.errors[0]


class CliBackfillTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        # one attempt per batch job, so that a failing batch fails its backfill at once
        cls.srv = cls.start_class_server(CLIENTS, name="cli-backfill", args=["--max-attempts", "1"])
        cls.reader = cls.srv.grant("viewer", "orch:read")
        cls.work_tok = cls.srv.grant("worker", "orch:jobs orch:read")
        cls.admin_tok = cls.srv.grant("admin", "orch:backfill orch:quota orch:read",
                                      backfill_reason="test setup", quota_reason="test setup")
        for jt in JOB_TYPES:
            st, _, body = cls.srv.api("POST", "/jobengine/quotas", cls.admin_tok,
                                      body=quota_body(jt, max_active=50, max_per_hour=100000,
                                                      burst=1000, refill=100))
            assert st == 201, body
        # an hour-aligned past window base; tests take disjoint hours of it
        cls.base = now_ms() - now_ms() % HOUR - 30 * 24 * HOUR

    # -- helpers -----------------------------------------------------------------------------------
    def cli(self, *args, client="admin", env=None, url=None):
        """jobengine backfill ARGS with --url and the client's credentials as flags."""
        creds = []
        if client is not None:
            creds = ["--client-id", client, "--client-secret", self.srv.secrets[client]]
        p = run_cli(["backfill"] + list(args) + ["--url", url or self.srv.url] + creds, env=env)
        for c in self.srv.secrets.values():
            self.assertNotIn(c, p.stdout + p.stderr, "a client secret was printed")
        return p

    def ok(self, *args, **kw):
        p = self.cli(*args, **kw)
        self.assertEqual(p.returncode, 0, "backfill %s: %s" % (" ".join(args), p.stderr))
        self.assertEqual(p.stderr, "")
        return p

    def assertFailed(self, p, code, status=1):
        self.assertEqual(p.returncode, status, p.stderr)
        self.assertEqual(p.stdout, "", "nothing on stdout when a call fails")
        self.assertRegex(p.stderr, r"^jobengine backfill \w+: %s: " % code)

    def window(self, first_hour, hours=3):
        return ["--window-start", format_time_ms(self.base + first_hour * HOUR),
                "--window-end", format_time_ms(self.base + (first_hour + hours) * HOUR)]

    def plan_args(self, source, job_type, first_hour=0, hours=3, *extra):
        return ["--source-id", source, "--job-type", job_type] + self.window(first_hour, hours) \
            + list(extra)

    def create(self, source, job_type, hours=3, token=None, **extra):
        body = {"sourceId": source, "jobType": job_type,
                "windowStart": format_time_ms(self.base),
                "windowEnd": format_time_ms(self.base + hours * HOUR)}
        body.update(extra)
        st, _, js = self.srv.api("POST", BF, token or self.admin_tok, body=body)
        self.assertEqual(st, 201, js)
        return js["backfillId"]

    def move(self, bid, action):
        st, _, js = self.srv.api("POST", "%s/%s/%s" % (BF, bid, action), self.admin_tok, body={})
        self.assertEqual(st, 200, js)
        return js

    def get(self, bid):
        return self.srv.get_json(BF + "/" + bid, self.reader)

    def entries(self, event_type, bid):
        return self.srv.audit_all(self.reader, eventType=event_type, resourceId=bid)

    def last_grant_scope(self, client, token=None):
        grants = self.srv.audit_all(token or self.reader, eventType=GRANT_EVENT, actor=client)
        self.assertTrue(grants)
        return grants[-1]["details"]["scope"]

    def watch_cmd(self, bid, *extra):
        return [BIN, "backfill", "watch", bid, "--url", self.srv.url, "--client-id", "viewer",
                "--client-secret", self.srv.secrets["viewer"]] + list(extra)

    def progress_lines(self, out):
        lines = out.splitlines()
        got = [PROGRESS_RE.match(line) for line in lines[:-1]]
        self.assertTrue(all(got), "every line but the last is a progress line: %r" % lines)
        return lines, got

    # -- preview -----------------------------------------------------------------------------------
    def test_preview_prints_plan_and_checks(self):
        args = self.plan_args("src.preview", "cli.preview", 0, 5)
        p = self.ok("preview", *args, "--reason", "look first")
        self.assertEqual(self.last_grant_scope("admin"), ["orch:backfill"])
        self.assertRegex(p.stdout, r"(?m)^plan:$")
        self.assertRegex(p.stdout, r"(?m)^  batches:\s+5$")
        self.assertRegex(p.stdout, r"(?m)^  knownEvents:\s+0$")
        hash_ = re.search(r"(?m)^  planHash:\s+(sha256:[0-9a-f]{64})$", p.stdout).group(1)
        for check in CHECKS:
            self.assertRegex(p.stdout, r"(?m)^  PASS  %s$" % check)
        self.assertIn("create would be accepted", p.stdout)
        self.assertIn(hash_, p.stdout.splitlines()[-1])
        # --json: the server's answer; nothing was created
        got = json.loads(self.ok("preview", *args, "--reason", "r", "--json").stdout)
        self.assertEqual(got["plan"]["planHash"], hash_)
        self.assertEqual([c["check"] for c in got["safetyChecks"]], list(CHECKS))
        listed = self.srv.get_json(BF + "?limit=500", self.reader)["items"]
        self.assertNotIn("src.preview", [b["sourceId"] for b in listed])
        # a preview whose checks fail still exits 0, and says create would be refused
        p = self.ok("preview", *self.plan_args("src.preview", "no.quota"), "--reason", "r")
        self.assertRegex(p.stdout, r"(?m)^  FAIL  quota_exists$")
        self.assertRegex(p.stdout, r"(?m)^  FAIL  quota_not_paused$")
        self.assertRegex(p.stdout, r"(?m)^  PASS  no_overlap$")
        self.assertIn("create would be refused: BACKFILL_UNSAFE (failed: quota_exists, "
                      "quota_not_paused)", p.stdout)
        future = ["--source-id", "src.preview", "--job-type", "cli.preview", "--window-start",
                  format_time_ms(now_ms() + HOUR), "--window-end",
                  format_time_ms(now_ms() + 2 * HOUR)]
        p = self.ok("preview", *future, "--reason", "r")
        self.assertRegex(p.stdout, r"(?m)^  FAIL  window_not_future$")
        self.assertIn("create would be refused: BACKFILL_UNSAFE", p.stdout)
        # a --plan-hash that is not the plan's
        p = self.ok("preview", *args, "--plan-hash", "sha256:" + "0" * 64, "--reason", "r")
        self.assertIn("create would be refused: PLAN_CHANGED (the plan is now %s)" % hash_,
                      p.stdout)

    def test_preview_token_needs_a_reason(self):
        lst = Listener()
        try:
            p = self.cli("preview", *self.plan_args("src.x", "cli.preview"), url=lst.url)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn("STELLAOPS_ORCH_BACKFILL_REASON", p.stderr)
            self.assertFalse(lst.connected(), "nothing may be sent")
        finally:
            lst.close()
        p = self.ok("preview", *self.plan_args("src.x", "cli.preview"),
                    env={"STELLAOPS_ORCH_BACKFILL_REASON": "from env"})
        self.assertIn("create would be accepted", p.stdout)

    # -- create ------------------------------------------------------------------------------------
    def test_create_reason_from_environment_is_audited_and_duplicate_refused(self):
        env = {"STELLAOPS_ORCH_BACKFILL_REASON": "re-ingest after parser fix",
               "STELLAOPS_ORCH_BACKFILL_TICKET": "SEC-2231"}
        args = self.plan_args("src.create", "cli.create", 0, 4, "--batch-seconds", "7200")
        p = self.ok("create", *args, env=env)
        bid = re.search(r"(?m)^backfillId:\s+(\S+)$", p.stdout).group(1)
        for pattern in (r"^status:\s+pending$", r"^sourceId:\s+src\.create$",
                        r"^batchSeconds:\s+7200$", r"^reason:\s+re-ingest after parser fix$",
                        r"^ticket:\s+SEC-2231$", r"^plan:$", r"^  batches:\s+2$",
                        r"^progress:$", r"^  batchesDone:\s+0$", r"^safetyChecks:$",
                        r"^  PASS  no_overlap$", r"^version:\s+1$", r"^error:\s+-$"):
            self.assertRegex(p.stdout, "(?m)" + pattern)
        self.assertEqual(self.last_grant_scope("admin"), ["orch:backfill"], "only the scope needed")
        [e] = self.entries("backfill.created", bid)
        self.assertEqual((e["reason"], e["ticket"]), ("re-ingest after parser fix", "SEC-2231"))
        self.assertEqual(e["details"]["token"]["reason"], "re-ingest after parser fix")
        self.assertEqual(e["actorId"], "admin")
        # the same again: BACKFILL_DUPLICATE, with the existing backfill and every check
        for extra in ([], ["--json"]):
            with self.subTest(extra=extra):
                p = self.cli("create", *args, *extra, env=env)
                self.assertFailed(p, "BACKFILL_DUPLICATE")
                self.assertIn("existing backfill: %s" % bid, p.stderr)
                self.assertRegex(p.stderr, r"(?m)^    FAIL  no_overlap$")
                for check in CHECKS[:-1]:
                    self.assertRegex(p.stderr, r"(?m)^    PASS  %s$" % check)
        rejected = self.srv.audit_all(self.reader, eventType="backfill.rejected")
        self.assertEqual(rejected[-1]["details"]["code"], "BACKFILL_DUPLICATE")

    def test_create_refusals_and_plan_hash(self):
        p = self.cli("create", *self.plan_args("src.unsafe", "no.quota"), "--reason", "r")
        self.assertFailed(p, "BACKFILL_UNSAFE")
        self.assertRegex(p.stderr, r"(?m)^    FAIL  quota_exists$")
        self.assertRegex(p.stderr, r"(?m)^    PASS  window_order$")
        args = self.plan_args("src.hash", "cli.create", 10, 2)
        hash_ = json.loads(self.ok("preview", *args, "--reason", "r", "--json").stdout)["plan"][
            "planHash"]
        p = self.cli("create", *args, "--plan-hash", "sha256:" + "1" * 64, "--reason", "r")
        self.assertFailed(p, "PLAN_CHANGED")
        self.assertIn("current planHash:  %s" % hash_, p.stderr)
        # the plan previewed; with an Idempotency-Key a retried create answers the same backfill
        one = json.loads(self.ok("create", *args, "--plan-hash", hash_, "--reason", "planned",
                                 "--ticket", "T-1", "--idempotency-key", "bf-1", "--json").stdout)
        two = json.loads(self.ok("create", *args, "--plan-hash", hash_, "--reason", "planned",
                                 "--ticket", "T-1", "--idempotency-key", "bf-1", "--json").stdout)
        self.assertEqual(one, two)
        self.assertEqual((one["reason"], one["ticket"], one["status"]),
                         ("planned", "T-1", "pending"))
        # a read-only client cannot create
        p = self.cli("create", *self.plan_args("src.viewer", "cli.create"), "--reason", "r",
                     client="viewer")
        self.assertFailed(p, "invalid_scope")

    # -- running, watching -------------------------------------------------------------------------
    def test_start_and_watch_until_completed(self):
        bid = self.create("src.run", "cli.run", hours=3)
        p = self.ok("start", bid, "--reason", "go", "--ticket", "RUN-1")
        self.assertRegex(p.stdout, r"(?m)^status:\s+running$")
        [e] = self.entries("backfill.started", bid)
        self.assertEqual((e["reason"], e["ticket"]), ("go", "RUN-1"))
        watch = subprocess.Popen(self.watch_cmd(bid, "--interval", "0.2"), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env=clean_env())
        worker = TinyWorker(self.srv, self.work_tok, "cli.run")
        try:
            time.sleep(0.5)  # let watch see the backfill before any batch is done
            worker.start()
            out, err = watch.communicate(timeout=30)
        finally:
            if watch.poll() is None:
                watch.kill()
                watch.wait()
            worker.finish()
        self.assertEqual(watch.returncode, 0, err)
        self.assertEqual(err, "")
        lines, got = self.progress_lines(out)
        self.assertEqual(lines[-1], "backfill %s completed" % bid)
        self.assertGreaterEqual(len(got), 2, "a line per change: %r" % lines)
        self.assertEqual(got[0].group(1), "running")
        self.assertEqual(got[0].group(2, 3), ("0", "3"))
        self.assertEqual(len(set(lines)), len(lines), "a line only when something changed")
        b = self.get(bid)
        final = got[-1]
        self.assertEqual(final.group(1), "completed")
        self.assertEqual(final.group(2, 3, 4), ("3", "3", "100"))
        prog = b["progress"]
        self.assertEqual(final.group(5, 6, 7), (str(prog["eventsProcessed"]),
                                                str(prog["duplicatesSkipped"]),
                                                str(prog["eventsFailed"])))
        self.assertGreaterEqual(prog["eventsProcessed"], 6)
        self.assertGreaterEqual(prog["duplicatesSkipped"], 1)
        self.assertIn("[" + "#" * 30 + "]", lines[-2])
        # get: the finished backfill for people and for scripts
        p = self.ok("get", bid, client="viewer")
        self.assertEqual(self.last_grant_scope("viewer"), ["orch:read"])
        for pattern in (r"^status:\s+completed$", r"^  batchesDone:\s+3$",
                        r"^completedAt:\s+\d{4}-\d\d-\d\dT[\d:.]+Z$"):
            self.assertRegex(p.stdout, "(?m)" + pattern)
        self.assertEqual(json.loads(self.ok("get", bid, "--json").stdout), b)
        # watching a completed backfill ends at once
        p = subprocess.run(self.watch_cmd(bid), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, env=clean_env(), timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.splitlines()[-1], "backfill %s completed" % bid)
        # --json: the server's JSON, one document a line
        p = subprocess.run(self.watch_cmd(bid, "--json"), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=clean_env(), timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual([json.loads(line) for line in p.stdout.splitlines()], [b])

    def test_watch_failed_and_canceled_exit_1(self):
        bid = self.create("src.fail", "cli.fail", hours=2)
        self.move(bid, "start")
        worker = TinyWorker(self.srv, self.work_tok, "cli.fail", outcome="failed")
        worker.start()
        try:
            p = subprocess.run(self.watch_cmd(bid, "--interval", "0.2"), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=clean_env(), timeout=30)
        finally:
            worker.finish()
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertRegex(p.stderr, r"^jobengine backfill watch: backfill %s failed: batch \d+ "
                                   r"failed its last attempt\n$" % bid)
        lines = p.stdout.splitlines()
        self.assertTrue(all(PROGRESS_RE.match(line) for line in lines), lines)
        self.assertEqual(PROGRESS_RE.match(lines[-1]).group(1), "failed")
        # canceled
        bid = self.create("src.canceled", "cli.watch", hours=2)
        p = self.ok("cancel", bid, "--reason", "not needed")
        self.assertRegex(p.stdout, r"(?m)^status:\s+canceled$")
        p = subprocess.run(self.watch_cmd(bid), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, env=clean_env(), timeout=30)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertEqual(p.stderr, "jobengine backfill watch: backfill %s was canceled\n" % bid)
        [line] = p.stdout.splitlines()
        self.assertEqual(PROGRESS_RE.match(line).group(1, 2, 3), ("canceled", "0", "2"))
        # an unknown backfill
        p = subprocess.run(self.watch_cmd("no-such-backfill"), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=clean_env(), timeout=30)
        self.assertFailed(p, "NOT_FOUND")

    def test_watch_on_a_terminal_redraws_one_line(self):
        bid = self.create("src.tty", "cli.watch", hours=1)
        self.move(bid, "cancel")
        master, slave = pty.openpty()
        try:
            proc = subprocess.Popen(self.watch_cmd(bid), stdout=slave, stderr=subprocess.PIPE,
                                    env=clean_env())
            os.close(slave)
            slave = None
            out = b""
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                r, _, _ = select.select([master], [], [], 0.2)
                if r:
                    try:
                        chunk = os.read(master, 4096)
                    except OSError:  # EIO: the other side is closed
                        break
                    if not chunk:
                        break
                    out += chunk
                elif proc.poll() is not None:
                    break
            proc.wait(10)
            err = proc.stderr.read().decode()
            proc.stderr.close()
        finally:
            os.close(master)
            if slave is not None:
                os.close(slave)
        self.assertEqual(proc.returncode, 1, err)
        text = out.decode()
        self.assertTrue(text.startswith("\rcanceled "), repr(text))
        self.assertIn("\x1b[K", text)
        self.assertIn("was canceled", err)

    def test_ctrl_c_stops_watching_and_leaves_the_backfill_alone(self):
        bid = self.create("src.idle", "cli.watch", hours=2)
        self.move(bid, "start")  # nobody works on cli.watch: it stays running
        proc = subprocess.Popen(self.watch_cmd(bid, "--interval", "0.2"), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=clean_env())
        try:
            first = proc.stdout.readline()
            self.assertTrue(PROGRESS_RE.match(first.rstrip("\n")), first)
            before = self.get(bid)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual(proc.returncode, 130, err)
        self.assertIn("stopped watching", err)
        after = self.get(bid)
        self.assertEqual((after["status"], after["version"]), ("running", before["version"]))
        self.move(bid, "cancel")

    def test_watch_waits_for_a_restarting_server(self):
        srv = self.new_server(CLIENTS[:3], name="cli-backfill-restart")
        tok = srv.grant("admin", "orch:backfill orch:quota", backfill_reason="r", quota_reason="r")
        st, _, body = srv.api("POST", "/jobengine/quotas", tok, body=quota_body("cli.restart"))
        self.assertEqual(st, 201, body)
        st, _, b = srv.api("POST", BF, tok, body={
            "sourceId": "src.restart", "jobType": "cli.restart", "windowStart":
            format_time_ms(self.base), "windowEnd": format_time_ms(self.base + 2 * HOUR)})
        self.assertEqual(st, 201, b)
        bid = b["backfillId"]
        self.assertEqual(srv.api("POST", "%s/%s/start" % (BF, bid), tok, body={})[0], 200)
        cmd = [BIN, "backfill", "watch", bid, "--interval", "0.2", "--url", srv.url, "--client-id",
               "viewer", "--client-secret", srv.secrets["viewer"]]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=clean_env())
        worker = None
        try:
            self.assertTrue(PROGRESS_RE.match(proc.stdout.readline().rstrip("\n")))
            srv.stop()
            time.sleep(1)  # watch meets a closed port a few times
            srv.restart()  # on the same port
            worker = TinyWorker(srv, srv.grant("worker", "orch:jobs"), "cli.restart")
            worker.start()
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if worker is not None:
                worker.finish()
        self.assertEqual(proc.returncode, 0, err)
        self.assertIn("cannot reach", err)
        self.assertEqual(out.splitlines()[-1], "backfill %s completed" % bid)

    # -- state moves -------------------------------------------------------------------------------
    def test_state_moves_and_invalid_states(self):
        bid = self.create("src.moves", "cli.moves", hours=2)
        for sub in ("pause", "resume"):
            with self.subTest(sub=sub):
                p = self.cli(sub, bid, "--reason", "r")
                self.assertFailed(p, "INVALID_STATE")
                self.assertIn("pending", p.stderr)
        self.assertFailed(self.cli("start", bid, "--reason", "r", "--if-match", "7"),
                          "VERSION_MISMATCH")
        self.ok("start", bid, "--reason", "go", "--if-match", "1")
        self.assertFailed(self.cli("start", bid, "--reason", "again"), "INVALID_STATE")
        p = self.ok("pause", bid, "--reason", "incident", "--ticket", "INC-9")
        self.assertRegex(p.stdout, r"(?m)^status:\s+paused$")
        [e] = self.entries("backfill.paused", bid)
        self.assertEqual((e["reason"], e["ticket"]), ("incident", "INC-9"))
        self.assertFailed(self.cli("pause", bid, "--reason", "r"), "INVALID_STATE")
        p = self.ok("resume", bid, "--reason", "over", "--json")
        self.assertEqual(json.loads(p.stdout)["status"], "running")
        p = self.ok("cancel", bid, "--reason", "enough")
        self.assertRegex(p.stdout, r"(?m)^status:\s+canceled$")
        for sub in ("start", "pause", "resume", "cancel"):
            with self.subTest(sub=sub):
                self.assertFailed(self.cli(sub, bid, "--reason", "r"), "INVALID_STATE")
        self.assertFailed(self.cli("start", "no-such-backfill", "--reason", "r"), "NOT_FOUND")

    # -- list --------------------------------------------------------------------------------------
    def test_list_table_and_json(self):
        tok = self.srv.grant("gadmin", "orch:quota orch:backfill", quota_reason="q",
                             backfill_reason="b")
        st, _, body = self.srv.api("POST", "/jobengine/quotas", tok, body=quota_body("g.list"))
        self.assertEqual(st, 201, body)
        ids = []
        for i in range(3):
            ids.append(self.create("g.src%d" % i, "g.list", hours=i + 1, token=tok))
            time.sleep(0.01)  # distinct createdAt
        self.srv.api("POST", "%s/%s/cancel" % (BF, ids[0]), tok, body={})
        p = self.ok("list", client="gadmin")
        self.assertEqual(self.last_grant_scope("gadmin", tok), ["orch:read"])
        lines = p.stdout.splitlines()
        self.assertEqual(re.split(r"\s{2,}", lines[0].strip()),
                         ["BACKFILL ID", "SOURCE", "JOB TYPE", "WINDOW", "STATUS", "BATCHES",
                          "EVENTS PROC/DUP/FAIL"])
        rows = [line.split() for line in lines[1:]]
        self.assertEqual([r[0] for r in rows], ids[::-1], "newest first")
        start = format_time_ms(self.base).replace(".000Z", "Z")
        end = format_time_ms(self.base + 3 * HOUR).replace(".000Z", "Z")
        self.assertEqual(rows[0], [ids[2], "g.src2", "g.list", start + "/" + end, "pending",
                                   "0/3", "0/0/0"])
        self.assertEqual(rows[2][4], "canceled")
        p = self.ok("list", "--status", "canceled", client="gadmin")
        self.assertEqual([line.split()[0] for line in p.stdout.splitlines()[1:]], [ids[0]])
        self.assertEqual(self.ok("list", "--status", "failed", client="gadmin").stdout,
                         "no backfills\n")
        # --json follows continuationToken: a page size of 1 still gives all three
        listed = json.loads(self.ok("list", "--json", "--limit", "1", client="gadmin").stdout)
        self.assertIsNone(listed["continuationToken"])
        st, _, api = self.srv.api("GET", BF + "?limit=500", tok)
        self.assertEqual(listed["items"], api["items"])
        self.assertEqual(len(listed["items"]), 3, "acme's backfills are not globex's")

    # -- usage -------------------------------------------------------------------------------------
    def test_usage_errors_exit_2_without_contacting_the_server(self):
        plan = self.plan_args("s", "cli.create") + ["--reason", "r"]
        cases = [
            ["create"] + plan[2:],                                   # no --source-id
            ["create"] + plan[:2] + plan[4:],                        # no --job-type
            ["create", "--source-id", "s", "--job-type", "cli.create", "--reason", "r"],
            ["create"] + plan + ["--batch-seconds", "0"],
            ["create"] + plan + ["--batch-seconds", "31622401"],
            ["create"] + plan + ["--batch-seconds", "1.5"],
            ["preview"] + plan[:5] + ["yesterday"] + plan[6:],
            ["create", "--source-id", "*", "--job-type", "t"] + plan[4:],
            ["create", "--source-id", "bad source", "--job-type", "t"] + plan[4:],
            ["create"] + plan + ["--idempotency-key", ""],
            ["create"] + plan + ["--force-reprocess=yes"],
            ["create"] + plan + ["--plan-hash", ""],
            ["create"] + plan + ["extra"],
            ["create"] + plan[:-2],                                  # no reason from anywhere
            ["start", "B"],                                          # no reason from anywhere
            ["pause", "B", "--reason", "r", "--if-match", "v2"],
            ["cancel", "--reason", "r"],
            ["list", "--limit", "0"],
            ["list", "--limit", "501"],
            ["list", "--status", "done"],
            ["watch", "B", "--interval", "0"],
            ["watch", "B", "--interval", "-1"],
            ["watch", "B", "--interval", "soon"],
            ["watch"],
            ["get", "a", "b"],
            ["get", ""],
            ["get", "B", "--status", "running"],
            ["frobnicate"],
            ["--json"],
        ]
        lst = Listener()
        try:
            for args in cases:
                with self.subTest(args=args):
                    p = self.cli(*args, url=lst.url)
                    self.assertEqual(p.returncode, 2, p.stderr)
                    self.assertEqual(p.stdout, "")
                    self.assertRegex(p.stderr, r"^jobengine backfill")
                    self.assertFalse(lst.connected(), "the server was contacted")
        finally:
            lst.close()
        self.assertIn("--source-id", self.cli(*cases[0]).stderr)
        self.assertIn("STELLAOPS_ORCH_BACKFILL_REASON", self.cli(*cases[13]).stderr)

    def test_unreachable_server_exits_1(self):
        for args in (["list"], ["watch", "B"]):
            with self.subTest(args=args):
                lst = Listener()
                url = lst.url
                lst.close()  # nothing listens there now
                p = self.cli(*args, url=url, client="viewer")
                self.assertEqual(p.returncode, 1)
                self.assertEqual(p.stdout, "")
                self.assertIn("cannot reach", p.stderr)

    def test_help(self):
        p = run_cli(["backfill", "--help"])
        self.assertEqual(p.returncode, 0, p.stderr)
        for sub in ("preview", "create", "start", "pause", "resume", "cancel", "get", "list",
                    "watch"):
            self.assertRegex(p.stdout, r"jobengine backfill %s\b" % sub)
        p = run_cli(["backfill", "watch", "--help"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.startswith("usage: jobengine backfill watch ID"), p.stdout)
        self.assertIn("--interval", p.stdout)
        p = run_cli(["backfill"])
        self.assertEqual(p.returncode, 2)
        self.assertIn("usage:", p.stderr)
        self.assertIn("backfill", run_cli(["--help"]).stdout)


if __name__ == "__main__":
    unittest.main()
