"""The server's life under a service manager (docs/operations.md): SIGTERM drains the requests in
flight (bounded by --shutdown-timeout-seconds) and refuses new connections; sd_notify readiness
over NOTIFY_SOCKET; --log-level and its SIGHUP reload from the config file; --trusted-proxies
for the access log's client; --version; a second server on a taken port."""

import json
import os
import signal
import socket
import subprocess
import time
import unittest

from harness import (BIN, FORM, SANITIZED, clean_env, ServerTestCase, basic_auth, claims_of, form_encode,
                     http_request, run_cli)
from ops_harness import (NotifySocket, SLOW, log_lines, msg_is, spawn, traceparent, wait_log,
                         wait_ready)

CLIENTS = [("viewer", ["acme"], ["Orch.Viewer"])]
# how long a stop may take beyond the drain bound
STOP_SLACK = 10 if SANITIZED else 4


def begin_token_request(srv, port=None):
    """Opens a connection and begins a POST /token for viewer: headers with Expect:
    100-continue, and once the server has taken them (its 100 Continue: the request has begun),
    the first half of the body. Returns (socket, the rest of the body)."""
    body = form_encode([("grant_type", "client_credentials"), ("scope", "orch:read")])
    head = ("POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %s\r\n"
            "Authorization: %s\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n"
            % (FORM, basic_auth("viewer", srv.secrets["viewer"]), len(body))).encode("ascii")
    s = connect(port or srv.port)
    try:
        s.sendall(head)
        s.settimeout(10 * SLOW)
        got = read_head(s, 1, "closed before 100 Continue")
        if not got.startswith(b"HTTP/1.1 100"):
            raise AssertionError("expected 100 Continue, got %r" % got)
        half = len(body) // 2
        s.sendall(body[:half])
        return s, body[half:]
    except BaseException:
        s.close()
        raise


def read_head(sock, step, closed):
    """Bytes read step at a time until a blank line ends the head (1: nothing past it)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(step)
        if not chunk:
            raise AssertionError("%s: %r" % (closed, data))
        data += chunk
    return data


def read_response(sock, timeout):
    """(status, headers dict lower-cased, body bytes) of one HTTP/1.1 answer with a
    Content-Length; reads until the body is complete or the peer closes."""
    sock.settimeout(timeout)
    data = read_head(sock, 65536, "the connection closed before an answer")
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for ln in lines[1:]:
        k, v = ln.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    while len(rest) < n:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:n]


def connect(port):
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def msgs(srv, offset=0):
    return [x.get("msg") for x in log_lines(srv, offset)]


class Stopping(ServerTestCase):

    def term(self, srv, sig=signal.SIGTERM):
        srv.stopped_by_harness = True  # the test stops it: not "died under the test"
        offset = srv.log_size()
        srv.proc.send_signal(sig)
        return offset

    def test_sigterm_finishes_the_request_in_flight_and_refuses_new_connections(self):
        srv = self.new_server(CLIENTS, name="drain")
        # an idle keep-alive connection, opened before the stop
        kept = connect(srv.port)
        self.addCleanup(kept.close)
        kept.sendall(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        self.assertEqual(read_response(kept, 10)[0], 200)
        # a request in flight: its body half sent
        slow, rest = begin_token_request(srv)
        self.addCleanup(slow.close)
        offset = self.term(srv)
        wait_log(srv, msg_is("stopping", signal="SIGTERM", shutdownTimeoutSeconds=10), offset,
                 what="the 'stopping' line")

        # "stopping" is logged just before the listener is shut: within moments of it, a new
        # connection is refused (not left waiting in the backlog until the drain ends)
        deadline = time.monotonic() + 2 * SLOW
        while True:
            try:
                connect(srv.port).close()
            except ConnectionRefusedError:
                break
            self.assertLess(time.monotonic(), deadline,
                            "new connections are still taken after SIGTERM")
            time.sleep(0.01)
        # the open keep-alive connection is still answered, and told to close
        kept.sendall(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        st, hdrs, _ = read_response(kept, 10)
        self.assertEqual(st, 200)
        self.assertEqual(hdrs.get("connection", "").lower(), "close")
        # the rest of the body: the answer comes, complete
        slow.sendall(rest)
        st, hdrs, body = read_response(slow, 10 * SLOW)
        self.assertEqual(st, 200, body)
        token = json.loads(body)["access_token"]
        self.assertEqual(claims_of(token)["sub"], "viewer")

        self.assertEqual(srv.proc.wait(10 * SLOW), 0)
        order = [m for m in msgs(srv, offset) if m in ("stopping", "drained", "stopped")]
        self.assertEqual(order, ["stopping", "drained", "stopped"], srv.log_from(offset))
        drained = [x for x in log_lines(srv, offset) if x.get("msg") == "drained"][0]
        self.assertEqual(drained.get("requestsCutOff"), 0, drained)
        self.assertEqual(drained.get("level"), "info", drained)

    def test_shutdown_timeout_bounds_the_drain(self):
        srv = self.new_server(CLIENTS, name="drain-bound",
                              args=["--shutdown-timeout-seconds", "1",
                                    "--request-timeout-seconds", "600",
                                    "--idle-timeout-seconds", "600"])
        stuck, _ = begin_token_request(srv)  # the rest of its body never comes
        self.addCleanup(stuck.close)
        t0 = time.monotonic()
        offset = self.term(srv)
        try:
            rc = srv.proc.wait(1 + STOP_SLACK)
        except subprocess.TimeoutExpired:
            self.fail("a request that never ends kept the server from stopping beyond "
                      "--shutdown-timeout-seconds 1")
        took = time.monotonic() - t0
        self.assertEqual(rc, 0)
        self.assertGreaterEqual(took, 0.9, "the drain did not wait for the request in flight")
        drained = wait_log(srv, msg_is("drained"), offset)
        self.assertEqual(drained.get("requestsCutOff"), 1, drained)
        self.assertEqual(drained.get("level"), "warn", drained)
        self.assertIn("stopped", msgs(srv, offset))
        stuck.settimeout(5)
        try:
            self.assertEqual(stuck.recv(4096), b"", "the cut-off connection is closed")
        except ConnectionResetError:
            pass

    def test_a_second_server_on_the_same_port_is_refused(self):
        srv = self.new_server(CLIENTS, name="port-owner")
        other = self.new_server(CLIENTS, name="port-taker", start=False)
        p = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:%d" % srv.port, "--store",
                              other.store], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=clean_env(), text=True)
        try:
            out, err = p.communicate(timeout=10 * SLOW)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            self.fail("a second serve on a taken port is serving: %s" % err)
        self.assertEqual(p.returncode, 1, err)
        self.assertIn("in use", err)
        # every new connection still reaches the first server
        for _ in range(8):
            self.assertEqual(http_request(srv.url, "GET", "/readyz")[0], 200)


class Readiness(ServerTestCase):
    """NOTIFY_SOCKET: READY=1 once listening, RELOADING=1 then READY=1 around SIGHUP,
    STOPPING=1 on a stop signal."""

    def notify_socket(self, **kw):
        n = NotifySocket(**kw)
        self.addCleanup(n.close)
        return n

    def test_notify_socket_path(self):
        n = self.notify_socket()
        srv = spawn(self.new_server(CLIENTS, name="notify", env=n.env, start=False))
        n.expect("READY=1")
        # at once, no retry: READY=1 comes when the listener is up
        self.assertEqual(http_request(srv.url, "GET", "/readyz")[0], 200)
        self.assertIn("listening", msgs(srv))

        srv.proc.send_signal(signal.SIGHUP)
        lines = n.expect("RELOADING=1")
        usec = [ln for ln in lines if ln.startswith("MONOTONIC_USEC=")]
        self.assertEqual(len(usec), 1, "RELOADING=1 without MONOTONIC_USEC: %r" % lines)
        self.assertRegex(usec[0], r"^MONOTONIC_USEC=[0-9]+$")
        n.expect("READY=1")
        self.assertEqual(http_request(srv.url, "GET", "/readyz")[0], 200)

        srv.stopped_by_harness = True
        srv.proc.send_signal(signal.SIGTERM)
        n.expect("STOPPING=1")
        self.assertEqual(srv.proc.wait(10 * SLOW), 0)
        flat = [ln for d in n.received for ln in d]
        self.assertEqual([s for s in flat if s in ("READY=1", "RELOADING=1", "STOPPING=1")],
                         ["READY=1", "RELOADING=1", "READY=1", "STOPPING=1"], n.received)

    def test_notify_abstract_socket_and_sigint(self):
        n = self.notify_socket(abstract=True)
        srv = spawn(self.new_server(CLIENTS, name="notify-abs", env=n.env, start=False))
        n.expect("READY=1")
        self.assertEqual(http_request(srv.url, "GET", "/readyz")[0], 200)
        srv.stopped_by_harness = True
        offset = srv.log_size()
        srv.proc.send_signal(signal.SIGINT)
        n.expect("STOPPING=1")
        self.assertEqual(srv.proc.wait(10 * SLOW), 0)
        wait_log(srv, msg_is("stopping", signal="SIGINT"), offset)


class LogLevel(ServerTestCase):

    def test_bad_values_are_refused_at_start(self):
        for flag, value in (("--log-level", "loud"), ("--log-level", ""),
                            ("--trusted-proxies", "proxy.example"),
                            ("--trusted-proxies", "10.0.0.0/33"),
                            ("--trusted-proxies", "127.0.0.1/"),
                            ("--shutdown-timeout-seconds", "-1"),
                            ("--shutdown-timeout-seconds", "3601")):
            with self.subTest(flag=flag, value=value):
                p = run_cli(["serve", "--listen", "127.0.0.1:1", "--store",
                             "sqlite:/nonexistent/je.db", flag, value], timeout=30)
                self.assertEqual(p.returncode, 1, p.stderr)
                self.assertTrue(p.stderr.startswith("jobengine serve: " + flag[2:]), p.stderr)

    def test_warn_leaves_out_info_lines(self):
        for how, args, env in (("flag", ["--log-level", "warn"], None),
                               ("env", [], {"JOBENGINE_LOG_LEVEL": "warn"})):
            with self.subTest(how=how):
                srv = spawn(self.new_server(CLIENTS, name="warn", args=args, env=env,
                                            start=False))
                wait_ready(srv)
                for _ in range(3):
                    self.assertEqual(http_request(srv.url, "GET", "/readyz")[0], 200)
                self.assertEqual(srv.stop(), 0)
                levels = {x.get("level") for x in log_lines(srv)}
                self.assertFalse(levels & {"debug", "info"},
                                 "info lines logged at warn:\n" + srv.log_text())

    def test_debug_keeps_the_access_log(self):
        srv = self.new_server(CLIENTS, name="debug", args=["--log-level", "debug"])
        tp, trace = traceparent()
        self.assertEqual(http_request(srv.url, "GET", "/readyz", {"traceparent": tp})[0], 200)
        wait_log(srv, msg_is("request", trace_id=trace), what="the access-log line")

    def test_sighup_applies_the_config_files_log_level(self):
        n = NotifySocket()
        self.addCleanup(n.close)
        srv = self.new_server(CLIENTS, name="loglevel", env=n.env, start=False)
        config = os.path.join(srv.dir, "config.json")

        def set_level(level):
            with open(config + ".new", "w") as f:
                json.dump({"logLevel": level}, f)
            os.replace(config + ".new", config)

        def request():
            tp, trace = traceparent()
            conn_headers = {"traceparent": tp}
            self.assertEqual(http_request(srv.url, "GET", "/readyz", conn_headers)[0], 200)
            return trace

        set_level("info")
        srv.args += ["--config", config]
        srv.start()
        n.expect("READY=1")
        t1 = request()
        wait_log(srv, msg_is("request", trace_id=t1), what="an access-log line at info")

        set_level("warn")
        srv.proc.send_signal(signal.SIGHUP)
        n.expect("RELOADING=1")
        n.expect("READY=1")  # the reload is done
        # two requests, one after the other on one connection: the first's line, if any, is
        # written before the second is answered
        tp2, t2 = traceparent()
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
            for tp in (tp2, traceparent()[0]):
                s.sendall(("GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\ntraceparent: %s\r\n\r\n"
                           % tp).encode("ascii"))
                self.assertEqual(read_response(s, 10)[0], 200)

        offset = srv.log_size()
        set_level("info")
        srv.proc.send_signal(signal.SIGHUP)
        line = wait_log(srv, msg_is("reloaded"), offset, what="the 'reloaded' line")
        self.assertEqual(line.get("logLevel"), "info", line)
        t3 = request()
        wait_log(srv, msg_is("request", trace_id=t3), what="the access-log line after 'info'")
        traces = [x.get("trace_id") for x in log_lines(srv) if x.get("msg") == "request"]
        self.assertNotIn(t2, traces, "a request was logged at logLevel warn")

        # a level that is no level: refused, logged, the level kept
        offset = srv.log_size()
        set_level("chatty")
        srv.proc.send_signal(signal.SIGHUP)
        err = wait_log(srv, lambda x: x.get("level") == "error", offset, what="an error line")
        self.assertTrue(err["msg"].startswith("reload failed"), err)
        t4 = request()
        wait_log(srv, msg_is("request", trace_id=t4), offset,
                 what="the access-log line: the level must stay info")
        self.assertTrue(srv.alive())


class TrustedProxies(ServerTestCase):
    """The access log's client: the peer, or what X-Forwarded-For says when the peer is a
    trusted proxy (the last address in it that is not itself a trusted proxy)."""

    def client_logged(self, srv, xff=None):
        tp, trace = traceparent()
        headers = {"traceparent": tp}
        if xff is not None:
            headers["X-Forwarded-For"] = xff
        self.assertEqual(http_request(srv.url, "GET", "/readyz", headers)[0], 200)
        return wait_log(srv, msg_is("request", trace_id=trace), what="the access-log line")["client"]

    def test_forwarded_for_is_believed_only_from_trusted_proxies(self):
        cases = {
            # --trusted-proxies: {X-Forwarded-For: client logged}
            None: {None: "127.0.0.1", "203.0.113.7": "127.0.0.1"},
            "127.0.0.1": {None: "127.0.0.1",
                          "203.0.113.7": "203.0.113.7",
                          "198.51.100.9, 127.0.0.1": "198.51.100.9",
                          "1.2.3.4, 203.0.113.7": "203.0.113.7",
                          "2001:db8::5": "2001:db8::5",
                          "not-an-address": "127.0.0.1"},
            "10.0.0.0/8, 127.0.0.0/8": {"203.0.113.7": "203.0.113.7",
                                        "198.51.100.9,10.1.2.3": "198.51.100.9"},
            "10.0.0.0/8,::1": {"203.0.113.7": "127.0.0.1"},
        }
        for proxies, expect in cases.items():
            args = ["--trusted-proxies", proxies] if proxies is not None else []
            srv = self.new_server(CLIENTS, name="proxies", args=args)
            for xff, client in expect.items():
                with self.subTest(trusted=proxies, xff=xff):
                    self.assertEqual(self.client_logged(srv, xff), client)


class Version(unittest.TestCase):

    def test_version_names_release_commit_and_build(self):
        p = run_cli(["--version"])
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.split("\n")
        self.assertEqual(lines[-1], "", "ends with a newline")
        self.assertEqual(len(lines), 4, p.stdout)
        self.assertRegex(lines[0], r"^jobengine [0-9]+\.[0-9]+\.[0-9]+$")
        self.assertRegex(lines[1], r"^commit ([0-9a-f]{7,40}|unknown)(-dirty)?$")
        self.assertRegex(lines[2], r"^build \S")


if __name__ == "__main__":
    unittest.main(verbosity=2)
