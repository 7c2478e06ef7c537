"""Black-box tests of writes answered from their commit (docs/architecture.md "Threads, fibers
and group commit"): a request that writes does not hold an HTTP thread while its commit is under
way, so a server with 2 threads keeps 64 connections' writes in flight and one commit answers
many of them; every answer is right; a stop with writes in flight answers or drops each of them
and exits cleanly; hostile bodies on the routes that run on fibers get a 400."""

import json
import os
import socket
import time
import unittest

import harness
from harness import ON_POSTGRES, ServerTestCase, quota_body

CLIENTS = [
    ("admin", ["acme"], ["Orch.Admin"]),
    ("worker", ["acme"], ["Orch.Worker"]),
]
Q = "/jobengine/quotas"
CONNECTIONS = 64


def metric(srv, name):
    st, _, text = srv.metrics()
    if isinstance(text, bytes):
        text = text.decode()
    total = 0.0
    for line in str(text).splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def raw_request(method, path, token, body):
    data = json.dumps(body).encode()
    return (("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
             "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n")
            % (method, path, token, len(data))).encode() + data


def read_response(sock):
    """(status, body) of one HTTP/1.1 response with a Content-Length, or None when closed."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for h in lines[1:]:
        k, _, v = h.partition(":")
        if k.strip().lower() == "content-length":
            length = int(v.strip())
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        rest += chunk
    return status, rest[:length]


class WriteCompletionTest(ServerTestCase):
    def start(self, name, threads=2):
        srv = self.new_server(CLIENTS, name=name, args=["--threads", str(threads)],
                              metrics=True)
        self.tok = srv.grant("admin", "orch:quota", quota_reason="completion tests")
        self.work = srv.grant("worker", "orch:read orch:jobs")
        return srv

    def quota(self, srv, job_type, **limits):
        st, _, body = srv.api("POST", Q, self.tok, body=quota_body(job_type, **limits))
        self.assertEqual(st, 201, body)
        return body["quotaId"]

    def connections(self, srv, n=CONNECTIONS):
        socks = []
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            socks.append(s)
        self.addCleanup(lambda: [s.close() for s in socks])
        return socks

    def round_of_acquires(self, socks, qid):
        """Sends one acquire on every connection before reading any answer."""
        req = raw_request("POST", "%s/%s/acquire" % (Q, qid), self.work, {})
        for s in socks:
            s.sendall(req)
        return [read_response(s) for s in socks]

    def test_one_commit_answers_many_connections(self):
        srv = self.start("completion-group", threads=2)
        qid = self.quota(srv, "group.acquire", max_active=1000, max_per_hour=100000, burst=10000,
                         refill=1000)
        socks = self.connections(srv)
        writes0 = metric(srv, "jobengine_store_writes_total")
        commits0 = metric(srv, "jobengine_store_commits_total")
        granted = 0
        for _ in range(5):
            for resp in self.round_of_acquires(socks, qid):
                self.assertIsNotNone(resp, "a connection was closed without an answer")
                status, body = resp
                self.assertEqual(status, 200, body)
                self.assertTrue(json.loads(body)["permitId"])
                granted += 1
        writes = metric(srv, "jobengine_store_writes_total") - writes0
        commits = metric(srv, "jobengine_store_commits_total") - commits0
        self.assertGreaterEqual(writes, granted)
        if not ON_POSTGRES:
            # 2 threads could never carry more than 2 waiting writes (+1 of the engine) into one
            # commit if each write held its thread until its commit
            self.assertGreater(writes / commits, 4.0, (writes, commits))
            print("writes per commit: %.1f (%d / %d)" % (writes / commits, writes, commits))
        st, _, view = srv.api("GET", "%s/%s" % (Q, qid), self.work)
        self.assertEqual(st, 200, view)
        self.assertEqual(view["usage"]["active"], granted, view)
        self.assertEqual(view["usage"]["hourCount"], granted, view)

    def test_decisions_exact_under_concurrency(self):
        # a cap of 10 with 64 connections asking at once: exactly 10 grants per round, the rest
        # refused with 429, whichever thread or commit carried each
        srv = self.start("completion-exact", threads=2)
        qid = self.quota(srv, "exact.acquire", max_active=10, max_per_hour=100000, burst=10000,
                         refill=1000)
        socks = self.connections(srv)
        answers = self.round_of_acquires(socks, qid)
        statuses = sorted(a[0] for a in answers)
        self.assertEqual(statuses.count(200), 10, statuses)
        self.assertEqual(statuses.count(429), CONNECTIONS - 10, statuses)
        st, _, view = srv.api("GET", "%s/%s" % (Q, qid), self.work)
        self.assertEqual(view["usage"]["active"], 10, view)

    def test_stop_with_writes_in_flight(self):
        srv = self.start("completion-stop", threads=2)
        qid = self.quota(srv, "stop.acquire", max_active=1000, max_per_hour=100000, burst=10000,
                         refill=1000)
        socks = self.connections(srv)
        req = raw_request("POST", "%s/%s/acquire" % (Q, qid), self.work, {})
        for s in socks:
            s.sendall(req)
        t0 = time.monotonic()
        code = srv.stop(timeout=20)
        self.assertLess(time.monotonic() - t0, 15, "the stop waited too long")
        self.assertEqual(code, 0, srv.log_since_start()[-3000:])
        granted = 0
        for s in socks:
            try:
                resp = read_response(s)
            except OSError:
                resp = None
            if resp is not None:
                self.assertEqual(resp[0], 200, resp)
                granted += 1
        # every permit answered 200 was durable before its answer
        srv.start()
        st, _, view = srv.api("GET", "%s/%s" % (Q, qid), self.work)
        self.assertEqual(st, 200, view)
        self.assertGreaterEqual(view["usage"]["active"], granted, view)

    def test_hostile_bodies_on_fiber_routes(self):
        srv = self.start("completion-hostile", threads=2)
        qid = self.quota(srv, "hostile.acquire", max_active=5)
        path = "%s/%s/acquire" % (Q, qid)
        deep_ok = "[" * 2000 + "]" * 2000  # within jansson's depth limit: parsed in full
        too_deep = "[" * 100000 + "]" * 100000
        for raw in (deep_ok, too_deep, '{"a":' * 3000 + "1" + "}" * 3000, "\xff\xfe", "{"):
            st, _, body = harness.http_request_tolerant(
                srv.url, "POST", path, {"Authorization": "Bearer " + self.work,
                                        "Content-Type": "application/json"}, raw.encode("latin-1"))
            self.assertEqual(st, 400, (raw[:20], body))
        st, _, view = srv.api("GET", "%s/%s" % (Q, qid), self.work)
        self.assertEqual(view["usage"]["active"], 0, view)
        st, _, body = srv.api("POST", path, self.work, body={})
        self.assertEqual(st, 200, body)

    def test_threads_default_and_bad_values(self):
        srv = self.new_server(CLIENTS, name="completion-threads")
        listening = [json.loads(line) for line in srv.log_text().splitlines()
                     if '"listening"' in line][-1]
        cores = os.cpu_count() or 2
        expect = 16 if ON_POSTGRES else min(256, max(4, 2 * max(cores, 2)))
        self.assertEqual(listening["threads"], expect, listening)
        for bad in ("0", "257", "lots", ""):
            p = harness.run_cli(["serve", "--threads", bad, "--store", srv.store,
                                 "--listen", "127.0.0.1:%d" % harness.free_port()], timeout=20)
            self.assertEqual(p.returncode, 1, (bad, p.stderr))  # a bad value, as for every setting
            self.assertIn("threads: 1 to 256, or auto", p.stderr)


if __name__ == "__main__":
    unittest.main()
