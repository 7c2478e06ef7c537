"""Helpers shared by tests/ops (on top of tests/api/harness.py): the server's JSON log lines,
waiting for them, an sd_notify listener, and HTTPS requests that verify against a test CA.

    log_lines(srv, offset)          the JSON lines srv logged from offset on (others skipped)
    wait_log(srv, pred, offset)     polls until a line satisfies pred; returns it
    NotifySocket(abstract=False)    binds an AF_UNIX datagram socket; .env for NOTIFY_SOCKET,
                                    .expect(state) waits for a datagram holding state
    tls_context(ca, ...)            an ssl client context verifying against ca
    tls_socket(port, ctx, name)     a TLS connection to 127.0.0.1:port (server_hostname name)
    https_request(port, ctx, ...)   one request on a fresh HTTPS connection
    traceparent()                   (header value, trace id): finds one request's access-log line
    spawn(srv), wait_ready(srv)     start a Server(start=False) without waiting for "listening"
"""

import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time

from harness import HTTP_TIMEOUT, SANITIZED

# ASan + UBSan binaries start and stop more slowly: bounds on time get this factor.
SLOW = 3 if SANITIZED else 1


def log_lines(srv, offset=0):
    out = []
    for raw in srv.log_from(offset).splitlines():
        try:
            obj = json.loads(raw)
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


def wait_log(srv, pred, offset=0, timeout=10.0, what="a log line"):
    """The first JSON line from offset on that satisfies pred; fails after timeout."""
    deadline = time.monotonic() + timeout * SLOW
    while True:
        for line in log_lines(srv, offset):
            if pred(line):
                return line
        if time.monotonic() > deadline:
            raise AssertionError("no %s within %.0f s; the log from there:\n%s"
                                 % (what, timeout * SLOW, srv.log_from(offset)))
        if srv.proc is not None and srv.proc.poll() is not None:
            raise AssertionError("the server exited (%s) before %s; its log:\n%s"
                                 % (srv.proc.returncode, what, srv.log_from(offset)))
        time.sleep(0.02)


def msg_is(msg, **fields):
    """A wait_log predicate: msg equals msg and each field equals its value."""
    return lambda line: line.get("msg") == msg and all(line.get(k) == v
                                                       for k, v in fields.items())


class NotifySocket:
    """An AF_UNIX SOCK_DGRAM socket standing in for systemd's notify socket."""

    def __init__(self, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.dir = None
        if abstract:
            name = "je-test-notify-%s" % os.urandom(8).hex()
            self.sock.bind("\0" + name)
            self.path = "@" + name
        else:
            # sun_path holds 108 bytes: a short directory of its own, not under JE_TEST_TMP
            self.dir = tempfile.mkdtemp(prefix="je-notify-")
            self.path = os.path.join(self.dir, "notify.sock")
            self.sock.bind(self.path)
        self.received = []

    @property
    def env(self):
        return {"NOTIFY_SOCKET": self.path}

    def expect(self, state, timeout=10.0):
        """Waits for the next datagrams until one holds the line state (e.g. "READY=1");
        returns that datagram's lines. Every datagram read is kept in self.received."""
        deadline = time.monotonic() + timeout * SLOW
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %r from the server within %.0f s; received: %r"
                                     % (state, timeout * SLOW, self.received))
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            lines = data.decode("utf-8", errors="replace").split("\n")
            self.received.append(lines)
            if state in lines:
                return lines

    def close(self):
        self.sock.close()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)


def tls_context(ca=None, minimum=None, maximum=None, ciphers=None):
    """A client context that verifies the server against ca (host name checked). For probing
    what the server refuses, ciphers may lower OpenSSL's own floor (e.g. "...:@SECLEVEL=0"), so
    that a refusal is the server's."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca:
        ctx.load_verify_locations(ca)
    if minimum is not None:
        ctx.minimum_version = minimum
    if maximum is not None:
        ctx.maximum_version = maximum
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


def tls_socket(port, ctx, server_name="127.0.0.1", timeout=HTTP_TIMEOUT):
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        return ctx.wrap_socket(raw, server_hostname=server_name)
    except BaseException:
        raw.close()
        raise


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to 127.0.0.1 whatever the host name checked (localhost may resolve to ::1)."""

    def __init__(self, port, ctx, server_name, timeout):
        super().__init__(server_name, port, timeout=timeout, context=ctx)
        self._ctx, self._name = ctx, server_name

    def connect(self):
        self.sock = tls_socket(self.port, self._ctx, self._name, self.timeout)


def https_connection(port, ctx, server_name="127.0.0.1", timeout=HTTP_TIMEOUT):
    return _PinnedHTTPSConnection(port, ctx, server_name, timeout)


def https_request(port, ctx, method, path, headers=None, body=None, server_name="127.0.0.1"):
    """(status, headers, body bytes, peer certificate DER) on a fresh connection."""
    conn = https_connection(port, ctx, server_name)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, resp.headers, data, conn.sock.getpeercert(binary_form=True)
    finally:
        conn.close()


def traceparent():
    trace = os.urandom(16).hex()
    return "00-%s-%s-01" % (trace, os.urandom(8).hex()), trace


def spawn(srv):
    """Starts srv's `jobengine serve` without waiting for its "listening" line (which a raised
    log level leaves out, and which a readiness test must not lean on); harness cleanup applies."""
    from harness import BIN, clean_env
    cmd = [BIN, "serve", "--listen", "127.0.0.1:%d" % srv.port, "--store", srv.store] + srv.args
    with open(srv.log_path, "ab") as err:
        srv._log_offset = err.tell()
        srv.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err,
                                    stdin=subprocess.DEVNULL, env=clean_env(srv.env))
    srv.stopped_by_harness = False
    return srv


def wait_ready(srv, timeout=10.0):
    """Polls GET /readyz (plain HTTP) until it answers 200."""
    from harness import http_request
    deadline = time.monotonic() + timeout * SLOW
    while True:
        try:
            if http_request(srv.url, "GET", "/readyz", timeout=2)[0] == 200:
                return
        except OSError:
            pass
        if srv.proc.poll() is not None:
            raise AssertionError("serve exited (%s): %s" % (srv.proc.returncode,
                                                             srv.log_since_start()))
        if time.monotonic() > deadline:
            raise AssertionError("serve not ready within %.0f s" % (timeout * SLOW))
        time.sleep(0.02)
