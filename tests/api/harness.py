"""Shared helpers for the black-box HTTP tests of JobEngine (tests/api, tests/e2e).

Every test here talks to a REAL `jobengine serve` process over HTTP. Only the standard library of
/usr/bin/python3, Debian's python3-jwt (PyJWT) and python3-cryptography are used.

Environment (set by ctest, see CMakeLists.txt):
  JOBENGINE_BIN     path to build/jobengine
  JE_TEST_TMP       directory for per-test data directories (created when absent)
  JE_TEST_STORE     "postgres": every Server gets a database of its own on the throwaway
                    PostgreSQL (ctest's fixture "pg"), else a SQLite file
  JE_TEST_PG_STATE  where scripts/pg_tmp.sh wrote that server's url, dir and port
  JE_TEST_SANITIZED "1" when the binary is an ASan + UBSan build

What is here:
  free_port()                      a free loopback TCP port
  run_cli(args, ...)               runs the jobengine binary (no server needed for client/keys)
  Server                           a data dir + store + clients + a `serve` process:
                                   start/stop/kill9/restart, token(), api(), grant(), audit_all();
                                   Server(store=other.store) shares another server's store
  ON_POSTGRES, pg_url()            the PostgreSQL the suite runs on (when it does)
  OwnPostgres                      a PostgreSQL of one test, for one that restarts, stops or
                                   fills the disk of its database
  SANITIZED                        the server is an ASan + UBSan build (JE_TEST_SANITIZED=1)
  claims_of(), header_of()         unverified JWT parts
  verify_token_independently()     /jwks + PyJWT: the independent signature/claims check
  canonical_json(), entry_hash(),
  verify_chain()                   an independent audit-chain verifier (domain.md §6)
  ServerTestCase                   unittest base class: prints the server log of a failed test,
                                   fails a test when the server died under it, removes the data
                                   dir when every test passed
"""

import base64
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

import jwt  # Debian python3-jwt (PyJWT 2.6)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BIN = os.environ.get("JOBENGINE_BIN") or os.path.join(REPO, "build", "jobengine")
TMP = os.environ.get("JE_TEST_TMP") or os.path.join(REPO, "build", "test-tmp")

FORM = "application/x-www-form-urlencoded"
ZERO_HASH = "0" * 64
ALL_SCOPES = ["orch:read", "orch:jobs", "orch:operate", "orch:quota", "orch:backfill",
              "orch:governance"]
GRANT_EVENT = "authority.client_credentials.grant"
ENTRY_KEYS = {
    "sequence", "entryId", "tenantId", "eventType", "resourceType", "resourceId", "actorId",
    "actorType", "reason", "ticket", "occurredAt", "details", "previousHash", "hash",
}
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
TRACE_RE = re.compile(r"^[0-9a-f]{32}$")
UUID7_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
HTTP_TIMEOUT = 15
ON_POSTGRES = os.environ.get("JE_TEST_STORE") == "postgres"
# The binary is built with ASan + UBSan (ctest sets it): slower, and its memory use means
# nothing (freed memory is held in quarantine), so memory bounds are not asserted.
SANITIZED = os.environ.get("JE_TEST_SANITIZED") == "1"
PG_STATE = os.environ.get("JE_TEST_PG_STATE") or os.path.join(REPO, "build", "pg")
PG_TMP = os.path.join(REPO, "scripts", "pg_tmp.sh")

_OMIT = object()


# ------------------------------------------------------------------------------------------------
# PostgreSQL (the throwaway server of scripts/pg_tmp.sh)


def pg_url(database=None):
    """The throwaway server's URL, naming database (default: the postgres database)."""
    try:
        with open(os.path.join(PG_STATE, "url")) as f:
            url = f.read().strip()
    except OSError:
        raise AssertionError("no PostgreSQL for the tests: %s/url is missing (ctest's pg.start "
                             "fixture writes it)" % PG_STATE)
    return url if database is None else url.rsplit("/", 1)[0] + "/" + database


def pg_admin(sql):
    """Runs sql on the throwaway server's postgres database (autocommit)."""
    import psycopg2  # Debian python3-psycopg2
    conn = psycopg2.connect(pg_url())
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def pg_new_database(prefix="je"):
    """A new, empty database; returns its name."""
    name = "%s_%s" % (re.sub(r"[^a-z0-9_]", "_", prefix.lower()), os.urandom(6).hex())
    pg_admin("CREATE DATABASE %s" % name)
    return name


class OwnPostgres:
    """A throwaway PostgreSQL 15 started by `scripts/pg_tmp.sh start` in a state directory of its
    own (fsync on, as in production), for a test that restarts, stops or fills the disk of its
    database: the shared server of ctest's fixture "pg" must go on for the tests beside it. ctl(...) runs pg_ctl on it (restart -m fast, stop -m
    immediate, start); close() stops it and removes it. Use as:

        pg = OwnPostgres("outage")
        self.addCleanup(pg.close)      # registered BEFORE the nodes: runs after they stopped
    """

    def __init__(self, name="pg"):
        os.makedirs(TMP, exist_ok=True)
        self.state = tempfile.mkdtemp(prefix=name + "-pgstate-", dir=TMP)
        p = subprocess.run(["bash", PG_TMP, "start", self.state], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=180)
        if p.returncode != 0:
            shutil.rmtree(self.state, ignore_errors=True)
            raise AssertionError("pg_tmp.sh start failed (exit %d): %s %s"
                                 % (p.returncode, p.stdout, p.stderr))
        self.url = p.stdout.strip().splitlines()[-1]
        self.closed = False

    def database_url(self, database):
        return self.url.rsplit("/", 1)[0] + "/" + database

    def connect(self, database="postgres"):
        import psycopg2  # Debian python3-psycopg2
        conn = psycopg2.connect(self.database_url(database))
        conn.autocommit = True
        return conn

    def query(self, sql, database="postgres"):
        """Rows of sql on database (autocommit)."""
        conn = self.connect(database)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def new_database(self, prefix="je"):
        """A new empty database on this server; returns its URL."""
        name = "%s_%s" % (prefix, os.urandom(5).hex())
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute("CREATE DATABASE %s" % name)
        finally:
            conn.close()
        return self.database_url(name)

    def ctl(self, *args):
        """pg_ctl ARGS on this server (restart -m fast, stop -m immediate, start, ...)."""
        p = subprocess.run(["bash", PG_TMP, "ctl", self.state] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=120)
        if p.returncode != 0:
            raise AssertionError("pg_ctl %s failed: %s\n%s" % (" ".join(args), p.stdout,
                                                               self.log_tail()))

    def log_tail(self, n=40):
        try:
            with open(os.path.join(self.state, "dir")) as f:
                d = f.read().strip()
            with open(os.path.join(d, "server.log"), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def close(self):
        if self.closed:
            return
        self.closed = True
        subprocess.run(["bash", PG_TMP, "stop", self.state], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=120)
        shutil.rmtree(self.state, ignore_errors=True)


def free_port():
    """A free loopback port: bind port 0, read it, close (the server reuses it)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def clean_env(extra=None):
    """The environment for a child process: no JOBENGINE_* / STELLAOPS_* settings leak in."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("JOBENGINE_") and not k.startswith("STELLAOPS_")}
    if extra:
        env.update(extra)
    return env


def run_cli(args, env=None, timeout=30, check=False):
    """Runs `jobengine ARGS`; returns subprocess.CompletedProcess (text mode)."""
    p = subprocess.run([BIN] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=clean_env(env), timeout=timeout, text=True)
    if check and p.returncode != 0:
        raise AssertionError("jobengine %s failed (exit %d)\nstdout: %s\nstderr: %s"
                             % (" ".join(args), p.returncode, p.stdout, p.stderr))
    return p


# ------------------------------------------------------------------------------------------------
# JWT helpers


def b64url_decode(s):
    if isinstance(s, str):
        s = s.encode("ascii")
    return base64.urlsafe_b64decode(s + b"=" * (-len(s) % 4))


def b64url_encode(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode("ascii")


def header_of(token):
    return json.loads(b64url_decode(token.split(".")[0]))


def claims_of(token):
    return json.loads(b64url_decode(token.split(".")[1]))


def fetch_jwks(base_url):
    status, _, body = http_request(base_url, "GET", "/jwks")
    if status != 200 or not isinstance(body, dict):
        raise AssertionError("GET /jwks answered %s: %r" % (status, body))
    return body


def verify_token_independently(base_url, token, issuer, audience="jobengine", jwks=None):
    """Verifies token's EdDSA signature against the key of its kid in /jwks with PyJWT, and its
    aud, iss, exp, nbf, iat. Returns the claims; raises on any failure."""
    jwks = jwks or fetch_jwks(base_url)
    kid = jwt.get_unverified_header(token).get("kid")
    match = [k for k in jwks.get("keys", []) if k.get("kid") == kid]
    if len(match) != 1:
        raise AssertionError("kid %r is published %d times in /jwks" % (kid, len(match)))
    key = jwt.PyJWK(match[0])
    return jwt.decode(token, key.key, algorithms=["EdDSA"], audience=audience, issuer=issuer,
                      leeway=1,
                      options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]})


def sign_jwt(header, claims, private_key):
    """Signs a compact JWS with a cryptography Ed25519PrivateKey (for forged tokens)."""
    h = b64url_encode(json.dumps(header, separators=(",", ":")).encode())
    p = b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
    sig = private_key.sign((h + "." + p).encode("ascii"))
    return h + "." + p + "." + b64url_encode(sig)


# ------------------------------------------------------------------------------------------------
# Audit chain: an independent verifier (domain.md §6)


def _jcs_key(k):
    return k.encode("utf-16-be")


def canonical_json(v):
    """RFC 8785 canonical JSON for strings, integers, booleans, null, arrays and objects."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        if abs(v) > 2 ** 53 - 1:
            raise ValueError("integer out of the ±(2^53-1) range: %d" % v)
        return str(v)
    if isinstance(v, float):
        raise ValueError("a real number in an audit entry: %r" % v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ",".join(canonical_json(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + canonical_json(v[k])
                              for k in sorted(v.keys(), key=_jcs_key)) + "}"
    raise ValueError("not a JSON value: %r" % (v,))


def entry_hash(entry):
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def verify_chain(entries, from_sequence=1, previous_hash=ZERO_HASH):
    """Checks sequences (gapless from from_sequence), links and hashes. Returns
    {"valid": bool, "entries": n, "firstBrokenSequence": k or None, "headHash": h, "why": str}."""
    expected_seq, prev = from_sequence, previous_hash
    for i, e in enumerate(entries):
        why = None
        if e.get("sequence") != expected_seq:
            why = "sequence %r, expected %d" % (e.get("sequence"), expected_seq)
        elif e.get("previousHash") != prev:
            why = "previousHash %r, expected %r" % (e.get("previousHash"), prev)
        else:
            try:
                h = entry_hash(e)
            except ValueError as ex:
                h, why = None, str(ex)
            if why is None and e.get("hash") != h:
                why = "hash %r, recomputed %r" % (e.get("hash"), h)
        if why:
            return {"valid": False, "entries": i, "firstBrokenSequence": expected_seq,
                    "headHash": prev, "why": why}
        prev = e["hash"]
        expected_seq += 1
    return {"valid": True, "entries": len(entries), "firstBrokenSequence": None,
            "headHash": prev if entries else None, "why": ""}


# ------------------------------------------------------------------------------------------------
# HTTP


def _parse_body(raw, headers):
    text = raw.decode("utf-8", errors="replace")
    ctype = (headers.get("Content-Type") or "").lower()
    if "json" in ctype or text[:1] in ("{", "["):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def http_request(base_url, method, path, headers=None, body=None, timeout=HTTP_TIMEOUT):
    """One request on a fresh connection. Returns (status, headers, json-or-text).
    headers is an http.client.HTTPMessage (case-insensitive .get)."""
    u = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        if isinstance(body, str):
            body = body.encode("utf-8")
        conn.request(method, path, body=body, headers=dict(headers or {}))
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, resp.headers, _parse_body(raw, resp.headers)
    finally:
        conn.close()


def http_request_tolerant(base_url, method, path, headers, body, timeout=HTTP_TIMEOUT):
    """Like http_request, for bodies the server may refuse before reading them all (413): a
    broken pipe while sending is tolerated and the response read anyway."""
    u = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        try:
            conn.request(method, path, body=body, headers=dict(headers or {}))
        except (BrokenPipeError, ConnectionResetError):
            pass
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, resp.headers, _parse_body(raw, resp.headers)
    finally:
        conn.close()


def form_encode(items):
    return urllib.parse.urlencode([(k, v) for k, v in items if v is not None]).encode("ascii")


def basic_auth(client_id, secret):
    raw = urllib.parse.quote_plus(client_id) + ":" + urllib.parse.quote_plus(secret)
    return "Basic " + base64.b64encode(raw.encode("utf-8")).decode("ascii")


# ------------------------------------------------------------------------------------------------
# The server


class ServerError(Exception):
    pass


class Server:
    """A data directory under $JE_TEST_TMP, a SQLite store, clients, and a `jobengine serve`.

    clients: iterable of (id, [tenants], [roles]) or (id, [tenants], [roles], secret); they are
    added with `jobengine client add ... --json` before the server starts; secrets[id] holds each
    client's secret."""

    def __init__(self, clients=(), args=(), name="je", start=True, store=None, env=None,
                 metrics=False):
        os.makedirs(TMP, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix=name + "-", dir=TMP)
        self.db = os.path.join(self.dir, "jobengine.db")
        self.pg_database = None  # the database this server created (dropped by cleanup)
        self.env = dict(env or {})
        if store is not None:
            self.store = store
        elif ON_POSTGRES:
            self.pg_database = pg_new_database(name)
            self.store = pg_url(self.pg_database)
        else:
            self.store = "sqlite:" + self.db
        self.log_path = os.path.join(self.dir, "server.stderr.log")
        self.out_path = os.path.join(self.dir, "server.stdout.log")
        self.args = list(args)
        self.metrics_port = None  # metrics=True: GET /metrics on a listener of its own
        if metrics:
            self.metrics_port = free_port()
            self.args += ["--metrics-listen", "127.0.0.1:%d" % self.metrics_port]
        self.port = free_port()
        self.proc = None
        self.stopped_by_harness = False
        self.secrets = {}
        self.tokens_seen = []  # every access token a helper saw, for "never logged" checks
        self._log_offset = 0
        for c in clients:
            self.add_client(*c)
        if start:
            self.start()

    # -- addresses ------------------------------------------------------------------------------
    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def issuer(self):
        args = self.args
        for i, a in enumerate(args):
            if a == "--issuer" and i + 1 < len(args):
                return args[i + 1]
            if a.startswith("--issuer="):
                return a.split("=", 1)[1]
        return self.url

    # -- clients --------------------------------------------------------------------------------
    def add_client(self, client_id, tenants, roles, secret=None):
        args = ["client", "add", client_id]
        for t in tenants:
            args += ["--tenant", t]
        for r in roles:
            args += ["--role", r]
        if secret is not None:
            args += ["--secret", secret]
        args += ["--store", self.store, "--json"]
        p = run_cli(args, check=True)
        try:
            out = json.loads(p.stdout)
        except ValueError:
            raise AssertionError("client add --json printed no JSON: %r" % p.stdout)
        if out.get("clientId") != client_id or not out.get("clientSecret"):
            raise AssertionError("client add --json printed %r" % out)
        self.secrets[client_id] = out["clientSecret"]
        return out["clientSecret"]

    # -- process --------------------------------------------------------------------------------
    def start(self, timeout=10.0):
        for attempt in range(3):
            try:
                self._start_once(timeout)
                return
            except ServerError as e:
                # The port may have been taken between free_port() and bind: retry elsewhere.
                in_use = "in use" in str(e).lower() or "eaddrinuse" in str(e).lower()
                if attempt == 2 or not in_use or self._restarting:
                    raise
                self.port = free_port()

    _restarting = False

    def _start_once(self, timeout):
        cmd = [BIN, "serve", "--listen", "127.0.0.1:%d" % self.port, "--store", self.store]
        cmd += self.args
        with open(self.log_path, "ab") as f:
            self._log_offset = f.tell()
        err = open(self.log_path, "ab")
        out = open(self.out_path, "ab")
        try:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                         env=clean_env(self.env))
        finally:
            err.close()
            out.close()
        self.stopped_by_harness = False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "listening" in self.log_since_start():
                return
            if self.proc.poll() is not None:
                raise ServerError("jobengine serve exited with %s before listening\n%s"
                                  % (self.proc.returncode, self.log_since_start()))
            time.sleep(0.02)
        self.proc.kill()
        self.proc.wait()
        raise ServerError("jobengine serve did not log 'listening' within %.0f s\n%s"
                          % (timeout, self.log_since_start()))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=10.0):
        """SIGTERM, wait; SIGKILL on timeout. Returns the exit code."""
        if self.proc is None:
            return None
        self.stopped_by_harness = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill9(self):
        self.stopped_by_harness = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def restart(self, kill=False):
        """Stops (SIGTERM, or SIGKILL when kill) and starts again on the same port and store."""
        if kill:
            self.kill9()
        else:
            self.stop()
        self._restarting = True
        try:
            self.start()
        finally:
            self._restarting = False

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def log_since_start(self):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_offset)
                return f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def log_size(self):
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def log_from(self, offset):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def cleanup(self, success):
        self.stop()
        if success:
            shutil.rmtree(self.dir, ignore_errors=True)
            if self.pg_database:
                pg_admin("DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.pg_database)
        else:
            sys.stderr.write("\n[harness] kept the data dir of the failed test: %s\n" % self.dir)

    # -- HTTP -----------------------------------------------------------------------------------
    def request(self, method, path, headers=None, body=None):
        return http_request(self.url, method, path, headers, body)

    def metrics(self, method="GET", path="/metrics"):
        """(status, headers, text) from the metrics listener (Server(metrics=True))."""
        assert self.metrics_port, "this server was started without metrics=True"
        return http_request("http://127.0.0.1:%d" % self.metrics_port, method, path)

    def api(self, method, path, token=None, headers=None, body=None):
        """(status, headers, json-or-text). body: dict/list -> JSON, str/bytes -> as is."""
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = "Bearer " + token
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode("utf-8")
            h.setdefault("Content-Type", "application/json")
        return http_request(self.url, method, path, h, body)

    def get_json(self, path, token=None):
        status, _, body = self.api("GET", path, token)
        if status != 200:
            raise AssertionError("GET %s answered %s: %r" % (path, status, body))
        return body

    def authority_post(self, path, client=None, secret=None, auth="basic", form=(),
                       headers=None, raw_body=None, content_type=FORM):
        """POST to an Authority endpoint. auth: basic | form | both | none.
        form: list of (name, value) pairs (None values are left out). Returns (status, json, hdrs)."""
        if client is not None and secret is None:
            secret = self.secrets.get(client)
        h = dict(headers or {})
        items = list(form)
        if auth in ("basic", "both") and client is not None:
            h["Authorization"] = basic_auth(client, secret)
        if auth in ("form", "both") and client is not None:
            items += [("client_id", client), ("client_secret", secret)]
        body = raw_body if raw_body is not None else form_encode(items)
        if content_type is not None:
            h["Content-Type"] = content_type
        status, hdrs, js = http_request(self.url, "POST", path, h, body)
        return status, js, hdrs

    def token(self, client, secret=None, scope=_OMIT, auth="basic", grant_type="client_credentials",
              headers=None, raw_body=None, content_type=FORM, extra=(), **form):
        """POST /token. Returns (status, json, headers). scope omitted when not given; keyword
        arguments are form fields (None: left out); extra: more (name, value) pairs."""
        items = []
        if grant_type is not None:
            items.append(("grant_type", grant_type))
        if scope is not _OMIT and scope is not None:
            items.append(("scope", scope))
        items += list(form.items()) + list(extra)
        status, js, hdrs = self.authority_post("/token", client, secret, auth, items, headers,
                                               raw_body, content_type)
        if status == 200 and isinstance(js, dict) and "access_token" in js:
            self.tokens_seen.append(js["access_token"])
        return status, js, hdrs

    def grant(self, client, scope, **form):
        """A token that must be granted; returns the access token string."""
        status, js, _ = self.token(client, scope=scope, **form)
        if status != 200:
            raise AssertionError("token for %s %r refused: %s %r" % (client, scope, status, js))
        return js["access_token"]

    def introspect(self, client, token_value, secret=None, auth="basic"):
        form = [("token", token_value)] if token_value is not None else []
        return self.authority_post("/introspect", client, secret, auth, form)

    def revoke(self, client, token_value, secret=None, auth="basic"):
        form = [("token", token_value)] if token_value is not None else []
        return self.authority_post("/revoke", client, secret, auth, form)

    # -- audit ----------------------------------------------------------------------------------
    def audit_page(self, token, **query):
        q = urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        return self.api("GET", "/jobengine/audit" + ("?" + q if q else ""), token)

    def audit_all(self, token, limit=500, **filters):
        """Every entry matching the filters, walking continuationToken. Asserts 200s."""
        items, cont, pages = [], None, 0
        while True:
            status, _, body = self.audit_page(token, limit=limit, continuationToken=cont,
                                              **filters)
            if status != 200:
                raise AssertionError("GET /jobengine/audit answered %s: %r" % (status, body))
            items += body["items"]
            cont = body.get("continuationToken")
            pages += 1
            if cont is None:
                return items
            if pages > 10000:
                raise AssertionError("audit pagination does not end")

    def audit_verify(self, token):
        return self.get_json("/jobengine/audit/verify", token)


# ------------------------------------------------------------------------------------------------
# unittest base class


class ServerTestCase(unittest.TestCase):
    """Tracks servers (class-wide: cls.watch_class(srv) in setUpClass; per test:
    self.watch(srv)). When a test fails, the log its servers wrote during it is printed. A server
    that died under a test (not stopped by the harness) fails that test. Data dirs are removed
    when every test of the class passed, else kept and named."""

    _class_servers = ()
    _class_failed = False
    _class_tests_run = 0

    @classmethod
    def watch_class(cls, srv):
        """Watches srv for every test of the class; it is stopped after the class (also when
        setUpClass fails later on) and its data dir removed when every test passed."""
        if not cls._class_servers:
            cls._class_servers = []
        cls._class_servers.append(srv)
        cls.addClassCleanup(cls._cleanup_class_server, srv)
        return srv

    @classmethod
    def _cleanup_class_server(cls, srv):
        ok = not cls._class_failed and cls._class_tests_run > 0
        if cls._class_tests_run == 0:
            sys.stderr.write("\n----- server log (%s): setUpClass failed -----\n%s"
                             "----- end of server log -----\n" % (srv.dir, srv.log_text()))
        srv.cleanup(success=ok)
        if srv in (cls._class_servers or ()):
            cls._class_servers.remove(srv)

    @classmethod
    def start_class_server(cls, *a, **kw):
        return cls.watch_class(Server(*a, **kw))

    def watch(self, srv):
        self._servers.append(srv)
        self._offsets[id(srv)] = srv.log_size()
        return srv

    def new_server(self, *a, **kw):
        """A server for this test only, stopped and cleaned after it."""
        srv = Server(*a, **kw)
        self._own.append(srv)
        return self.watch(srv)

    def _problems(self):
        r = getattr(self._outcome, "result", None)
        if r is None:
            return 0
        return len(r.failures) + len(r.errors) + len(getattr(r, "unexpectedSuccesses", []))

    def setUp(self):
        self._servers, self._own, self._offsets = [], [], {}
        type(self)._class_tests_run += 1
        for srv in self._class_servers or ():
            self.watch(srv)
        self._problems_before = self._problems()

    def tearDown(self):
        dead = [s for s in self._servers
                if s.proc is not None and s.proc.poll() is not None and not s.stopped_by_harness]
        failed = self._problems() > self._problems_before or bool(dead)
        if failed:
            type(self)._class_failed = True
            for srv in self._servers:
                sys.stderr.write("\n----- server log (%s, port %d) during %s -----\n%s"
                                 "----- end of server log (full: %s) -----\n"
                                 % (srv.dir, srv.port, self.id(),
                                    srv.log_from(self._offsets.get(id(srv), 0)), srv.log_path))
        for srv in self._own:
            srv.cleanup(success=not failed)
        if dead:
            self.fail("the server died during the test (exit %s)"
                      % ", ".join(str(s.proc.returncode) for s in dead))

    # -- assertions shared by the suites ---------------------------------------------------------
    def assertOAuthError(self, resp, status, code, names=None):
        """resp = (status, json, headers) of an Authority endpoint."""
        st, js, hdrs = resp
        self.assertEqual(st, status, "expected %d %s, got %s %r" % (status, code, st, js))
        self.assertIsInstance(js, dict, "an RFC 6749 error body: %r" % (js,))
        self.assertEqual(js.get("error"), code, js)
        self.assertNotIn("access_token", js)
        if names is not None:
            desc = js.get("error_description")
            self.assertIsInstance(desc, str, js)
            self.assertTrue(desc.startswith(names),
                            "error_description should start with %r: %r" % (names, desc))
        return js

    def assertEnvelope(self, resp, status, code):
        """resp = (status, headers, json) of a JobEngine route; checks the error envelope."""
        st, hdrs, js = resp
        self.assertEqual(st, status, "expected %d %s, got %s %r" % (status, code, st, js))
        self.assertIsInstance(js, dict, "an error envelope: %r" % (js,))
        self.assertEqual(set(js.keys()), {"error"}, js)
        err = js["error"]
        self.assertIsInstance(err, dict, js)
        self.assertEqual(set(err.keys()), {"code", "message", "trace_id", "details"}, js)
        self.assertEqual(err["code"], code, js)
        self.assertIsInstance(err["message"], str)
        self.assertTrue(err["message"], "an empty message")
        self.assertIsInstance(err["details"], dict, js)
        trace = hdrs.get("X-Trace-Id")
        self.assertIsNotNone(trace, "X-Trace-Id missing on an error")
        self.assertEqual(err["trace_id"], trace, "trace_id must be the X-Trace-Id")
        return err


# ------------------------------------------------------------------------------------------------
# Quotas (api.md §3.3): shared by test_quotas.py, test_quota_decisions.py, test_quota_durability.py

import calendar as _calendar
import datetime as _datetime
import threading as _threading

QUOTA_KEYS = {
    "quotaId", "tenantId", "jobType", "maxActive", "maxPerHour", "burstCapacity",
    "refillPerSecond", "paused", "pauseReason", "pauseTicket", "usage", "elevation", "version",
    "createdAt", "createdBy", "updatedAt", "updatedBy", "lastReason", "lastTicket",
}
QUOTA_USAGE_KEYS = {"active", "hourCount", "hourStartedAt", "availableTokens", "pending",
                    "throttled"}
QUOTA_LIMITS = ("maxActive", "maxPerHour", "burstCapacity", "refillPerSecond")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def parse_time_ms(s):
    """Milliseconds since the epoch of an api.md §1 time ("2026-11-28T09:00:00.000Z")."""
    if not isinstance(s, str) or not TIME_RE.match(s):
        raise AssertionError("not an api.md §1 time: %r" % (s,))
    d = _datetime.datetime.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")
    return _calendar.timegm(d.timetuple()) * 1000 + int(s[20:23])


def format_time_ms(ms):
    """The api.md §1 form of a time in milliseconds since the epoch."""
    ms = int(ms)
    d = _datetime.datetime.fromtimestamp(ms // 1000, _datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % (ms % 1000)


def now_ms():
    return int(time.time() * 1000)


def hour_start_ms(ms):
    """The start of the UTC hour holding ms."""
    return ms - ms % 3600000


def quota_body(job_type, max_active=10, max_per_hour=1000, burst=50, refill=0.5, **extra):
    """A create body with all four limits (extra members added as given)."""
    b = {"jobType": job_type, "maxActive": max_active, "maxPerHour": max_per_hour,
         "burstCapacity": burst, "refillPerSecond": refill}
    b.update(extra)
    return b


def write_json_file(directory, name, obj):
    path = os.path.join(directory, name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f)
    return path


class KeepAlive:
    """One keep-alive HTTP/1.1 connection for one thread (reconnects once when the server closed
    it). request() returns (status, headers, json-or-text) like http_request."""

    def __init__(self, base_url, timeout=HTTP_TIMEOUT):
        u = urllib.parse.urlsplit(base_url)
        self.host, self.port, self.timeout = u.hostname, u.port, timeout
        self.conn = None
        self.reconnects = 0

    def _connect(self):
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def request(self, method, path, token=None, body=None, headers=None):
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = "Bearer " + token
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode("utf-8")
            h.setdefault("Content-Type", "application/json")
        for attempt in range(2):
            if self.conn is None:
                self._connect()
            try:
                self.conn.request(method, path, body=body, headers=h)
                resp = self.conn.getresponse()
                raw = resp.read()
                if resp.will_close:
                    self.close()
                return resp.status, resp.headers, _parse_body(raw, resp.headers)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    http.client.CannotSendRequest, http.client.BadStatusLine):
                self.close()
                self.reconnects += 1
                if attempt == 1:
                    raise

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn = None


def run_threads(n, target, timeout):
    """Starts n daemon threads running target(i); joins them; returns the exceptions raised."""
    errors = []
    lock = _threading.Lock()

    def wrap(i):
        try:
            target(i)
        except BaseException as e:  # reported to the test, not lost in the thread
            with lock:
                errors.append(e)

    threads = [_threading.Thread(target=wrap, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    if any(t.is_alive() for t in threads):
        errors.append(AssertionError("%d thread(s) still running after %.0f s"
                                     % (sum(t.is_alive() for t in threads), timeout)))
    return errors


# ------------------------------------------------------------------------------------------------
# Jobs and leasing (api.md §3.4, docs/api.md "Jobs and leasing"): shared by test_jobs.py,
# test_leasing.py, test_leasing_crash.py

JOBS = "/jobengine/jobs"
JOB_KEYS = {
    "jobId", "tenantId", "jobType", "status", "priority", "payload", "sourceId", "eventKey",
    "eventTime", "attempt", "maxAttempts", "availableAt", "leaseId", "leaseUntil", "workerId",
    "error", "createdAt", "updatedAt", "completedAt",
}
LEASED_JOB_KEYS = {"jobId", "jobType", "leaseId", "leaseUntil", "attempt", "payload", "priority",
                   "sourceId", "eventKey", "eventTime"}
JOB_STATUSES = ("pending", "leased", "succeeded", "failed", "canceled")
SUMMARY_KEYS = {"jobType", "total"} | set(JOB_STATUSES)


def job_path(job_id, action=None):
    return JOBS + "/" + job_id + ("/" + action if action else "")


def submit_job(srv, token, job_type, payload=None, conn=None, **fields):
    """POST /jobengine/jobs that must answer 201; returns the job. conn: a KeepAlive, else a fresh
    connection."""
    body = {"jobType": job_type, "payload": payload if payload is not None else {}}
    body.update(fields)
    if conn is not None:
        st, _, js = conn.request("POST", JOBS, token, body=body)
    else:
        st, _, js = srv.api("POST", JOBS, token, body=body)
    if st != 201:
        raise AssertionError("submit %s answered %s: %r" % (job_type, st, js))
    return js


def submit_many(srv, token, job_type, n, threads=8, **fields):
    """n jobs of job_type submitted by up to `threads` threads on keep-alive connections; returns
    their ids (in no particular order)."""
    ids, lock = [], _threading.Lock()
    counter = {"next": 0}

    def work(i):
        c = KeepAlive(srv.url)
        try:
            while True:
                with lock:
                    k = counter["next"]
                    if k >= n:
                        return
                    counter["next"] += 1
                j = submit_job(srv, token, job_type, {"n": k}, conn=c, **fields)
                with lock:
                    ids.append(j["jobId"])
        finally:
            c.close()

    errors = run_threads(min(threads, max(1, n)), work, 120)
    if errors:
        raise AssertionError("submitting %d jobs failed: %r" % (n, errors[:3]))
    return ids


def list_jobs_all(srv, token, limit=500, **filters):
    """Every job of GET /jobengine/jobs with the filters, walking continuationToken."""
    items, cont = [], None
    for _ in range(100000):
        q = dict(filters, limit=limit)
        if cont is not None:
            q["continuationToken"] = cont
        path = JOBS + "?" + urllib.parse.urlencode(q)
        st, _, body = srv.api("GET", path, token)
        if st != 200:
            raise AssertionError("GET %s answered %s: %r" % (path, st, body))
        items += body["items"]
        cont = body.get("continuationToken")
        if cont is None:
            return items
    raise AssertionError("job list pagination does not end")


def job_summary(srv, token):
    """GET /jobengine/jobs/summary as {jobType: item}."""
    body = srv.get_json(JOBS + "/summary", token)
    out = {}
    for it in body["items"]:
        if it["jobType"] in out:
            raise AssertionError("job type %r twice in the summary: %r" % (it["jobType"], body))
        out[it["jobType"]] = it
    return out


# ------------------------------------------------------------------------------------------------
# Backfills and the dedup ledger (api.md §3.5, domain.md §3-§5, docs/api.md "Backfills and the
# ledger"): shared by test_backfills.py, test_ledger.py, test_backfill_crash.py.
#
# A worker here is what a real one does: it leases job types, fetches the events of a batch job's
# window (or a live job's one event) from a FakeSource the test controls, claims them with
# POST /jobengine/dedup/claim, "processes" only the `new` ones and completes the job. Processing
# counts only once the job's completion succeeded (what a real worker commits), so a worker that
# dies, or whose lease was lost, leaves nothing behind; the Tally then tells how often each event
# was processed overall.

import collections as _collections

BACKFILLS = "/jobengine/backfills"
DEDUP_CLAIM = "/jobengine/dedup/claim"
BACKFILL_KEYS = {
    "backfillId", "tenantId", "sourceId", "jobType", "windowStart", "windowEnd", "batchSeconds",
    "forceReprocess", "status", "reason", "ticket", "plan", "progress", "safetyChecks",
    "createdAt", "createdBy", "startedAt", "completedAt", "error", "version",
}
BACKFILL_PLAN_KEYS = {"batches", "knownEvents", "alreadyProcessed", "planHash"}
BACKFILL_PROGRESS_KEYS = {"batchesSubmitted", "batchesDone", "eventsProcessed",
                          "duplicatesSkipped", "eventsFailed"}
SAFETY_CHECKS = ("window_order", "window_not_future", "window_within_limit",
                 "batch_count_within_limit", "quota_exists", "quota_not_paused", "no_overlap")
BACKFILL_STATUSES = ("pending", "running", "paused", "completed", "failed", "canceled")
HOUR_MS = 3600 * 1000
DAY_MS = 24 * HOUR_MS
# what a request may meet while the server is down or restarting
CONNECTION_ERRORS = (ConnectionError, http.client.HTTPException, socket.timeout, OSError)


def backfill_path(backfill_id, action=None):
    return BACKFILLS + "/" + backfill_id + ("/" + action if action else "")


def backfill_body(source_id, job_type, start_ms, end_ms, **extra):
    """A create/preview body; times given in ms are written in the api.md §1 form."""
    b = {"sourceId": source_id, "jobType": job_type,
         "windowStart": format_time_ms(start_ms) if isinstance(start_ms, int) else start_ms,
         "windowEnd": format_time_ms(end_ms) if isinstance(end_ms, int) else end_ms}
    b.update(extra)
    return b


def checks_by_name(checks):
    """{check: passed} of a safetyChecks list; asserts its shape (every check of domain.md §5
    exactly once, each {"check", "passed": bool})."""
    if not isinstance(checks, list):
        raise AssertionError("safetyChecks is not a list: %r" % (checks,))
    out = {}
    for c in checks:
        if not isinstance(c, dict) or set(c.keys()) != {"check", "passed"} \
                or not isinstance(c["passed"], bool):
            raise AssertionError("a safety check is {check, passed: bool}: %r" % (c,))
        if c["check"] in out:
            raise AssertionError("check %r reported twice: %r" % (c["check"], checks))
        out[c["check"]] = c["passed"]
    if set(out) != set(SAFETY_CHECKS):
        raise AssertionError("the checks reported are %r, expected %r"
                             % (sorted(out), sorted(SAFETY_CHECKS)))
    return out


def window_batches(start_ms, end_ms, batch_seconds):
    """domain.md §3: consecutive [start, end) windows of batch_seconds aligned to start, the last
    one ending at end."""
    out, s = [], start_ms
    while s < end_ms:
        out.append((s, min(s + batch_seconds * 1000, end_ms)))
        s += batch_seconds * 1000
    return out


def plan_hash(tenant, source_id, job_type, start_ms, end_ms, batch_seconds, force, batches,
              known, processed):
    """domain.md §5, computed independently of the server."""
    doc = {"tenantId": tenant, "sourceId": source_id, "jobType": job_type,
           "windowStart": format_time_ms(start_ms), "windowEnd": format_time_ms(end_ms),
           "batchSeconds": batch_seconds, "forceReprocess": bool(force), "batches": batches,
           "knownEvents": known, "alreadyProcessed": processed}
    return "sha256:" + hashlib.sha256(canonical_json(doc).encode("utf-8")).hexdigest()


def wait_until(what, cond, timeout, interval=0.05):
    """Polls cond() until it returns a true value (returned); AssertionError after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def get_backfill(srv, token, backfill_id):
    return srv.get_json(backfill_path(backfill_id), token)


def wait_backfill(srv, token, backfill_id, statuses, timeout=30):
    """Polls GET /jobengine/backfills/{id} until its status is one of statuses; returns it."""
    if isinstance(statuses, str):
        statuses = (statuses,)
    last = {}

    def check():
        last["b"] = get_backfill(srv, token, backfill_id)
        return last["b"] if last["b"]["status"] in statuses else None
    try:
        return wait_until("backfill %s to become %s" % (backfill_id, "/".join(statuses)), check,
                          timeout)
    except AssertionError as e:
        raise AssertionError("%s; last seen: %r" % (e, last.get("b")))


def submit_live(srv, token, job_type, source_id, event_key, event_time_ms, **fields):
    """A live job for one event of source_id (api.md §3.4 submit with sourceId/eventKey/
    eventTime); returns the job."""
    return submit_job(srv, token, job_type, {"event": event_key}, sourceId=source_id,
                      eventKey=event_key, eventTime=format_time_ms(event_time_ms), **fields)


class FakeSource:
    """The upstream a test controls: eventKey -> (eventTime ms, digest or None). Thread-safe."""

    def __init__(self, source_id):
        self.source_id = source_id
        self._events = {}
        self._lock = _threading.Lock()

    def put(self, key, time_ms, digest=None):
        with self._lock:
            self._events[key] = (int(time_ms), digest)

    def get(self, key):
        with self._lock:
            return self._events.get(key)

    def keys_in(self, start_ms, end_ms):
        """The keys whose event time is in [start_ms, end_ms), sorted."""
        with self._lock:
            return sorted(k for k, (t, _) in self._events.items() if start_ms <= t < end_ms)

    def claim_events(self, keys):
        out = []
        with self._lock:
            for k in keys:
                t, d = self._events[k]
                e = {"eventKey": k, "eventTime": format_time_ms(t)}
                if d is not None:
                    e["digest"] = d
                out.append(e)
        return out


class Tally:
    """What the workers of a test committed, thread-safe:
    processed[(sourceId, eventKey)]  times an event was processed by a job that then succeeded
    batch_done[(backfillId, batch)]   successful completions of each batch
    job_done[jobId]                   successful completions of each job
    batch_windows[(backfillId, batch)] the (windowStart, windowEnd) each batch carried
    leased                            every leased job, as answered
    duplicates                        duplicate answers seen, per (sourceId, eventKey)
    problems                          what a worker found wrong (asserted empty by the tests)"""

    def __init__(self):
        self.lock = _threading.Lock()
        self.processed = _collections.Counter()
        self.batch_done = _collections.Counter()
        self.job_done = _collections.Counter()
        self.batch_windows = {}
        self.leased = []
        self.duplicates = _collections.Counter()
        self.problems = []

    def problem(self, text):
        with self.lock:
            self.problems.append(text)


class BackfillWorker:
    """A worker of the kind described above. sources: {sourceId: FakeSource}.

    tolerate_down: seconds a request keeps being retried while the server cannot be reached (for
    the crash tests); 0 means a connection error is raised at once. on_leased(job) is called for
    each leased job before it is worked on; when it returns False, the job is abandoned (a worker
    that died holding it)."""

    def __init__(self, srv, token, job_types, sources, tally, worker_id="w", lease_seconds=30,
                 max_jobs=1, tolerate_down=0, on_leased=None, on_claimed=None):
        self.srv, self.token = srv, token
        self.job_types = list(job_types)
        self.sources = sources
        self.tally = tally
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self.max_jobs = max_jobs
        self.tolerate_down = tolerate_down
        self.on_leased = on_leased
        self.on_claimed = on_claimed
        self.conn = KeepAlive(srv.url)

    def close(self):
        self.conn.close()

    def call(self, method, path, body=None):
        """(status, headers, json, ambiguous): ambiguous when an earlier try of this request failed
        on the connection (so it may have been applied), KeepAlive's own quiet retry included."""
        deadline = time.monotonic() + self.tolerate_down
        ambiguous = False
        while True:
            reconnects = self.conn.reconnects
            try:
                st, hdrs, js = self.conn.request(method, path, self.token, body=body)
                return st, hdrs, js, ambiguous or self.conn.reconnects != reconnects
            except CONNECTION_ERRORS:
                self.conn.close()
                if time.monotonic() > deadline:
                    raise
                ambiguous = True
                time.sleep(0.05)

    def lease(self):
        st, _, js, _ = self.call("POST", JOBS + "/lease",
                                 {"jobTypes": self.job_types, "workerId": self.worker_id,
                                  "max": self.max_jobs, "leaseSeconds": self.lease_seconds})
        if st != 200:
            raise AssertionError("lease answered %s: %r" % (st, js))
        with self.tally.lock:
            self.tally.leased += js["jobs"]
        return js["jobs"]

    def events_of(self, job):
        """The events this job must handle, fetched from the fake source."""
        src = self.sources.get(job.get("sourceId"))
        if job.get("backfillId"):
            p = job.get("payload")
            want = {"backfillId": job["backfillId"], "windowStart": job["windowStart"],
                    "windowEnd": job["windowEnd"], "batch": job["batch"]}
            if p != want:
                self.tally.problem("batch job %s: payload %r, expected %r"
                                   % (job["jobId"], p, want))
            if src is None:
                self.tally.problem("batch job %s of unknown source %r" % (job["jobId"],
                                                                          job.get("sourceId")))
                return []
            key = (job["backfillId"], job["batch"])
            win = (job["windowStart"], job["windowEnd"])
            with self.tally.lock:
                old = self.tally.batch_windows.setdefault(key, win)
            if old != win:
                self.tally.problem("batch %r carried windows %r and %r" % (key, old, win))
            return src.keys_in(parse_time_ms(job["windowStart"]), parse_time_ms(job["windowEnd"]))
        if src is not None and job.get("eventKey") and src.get(job["eventKey"]) is not None:
            return [job["eventKey"]]
        return []

    def claim(self, job, keys):
        """POST dedup/claim for keys; returns (status, body)."""
        src = self.sources[job["sourceId"]]
        st, _, js, _ = self.call("POST", DEDUP_CLAIM, {"sourceId": job["sourceId"],
                                                       "jobId": job["jobId"],
                                                       "events": src.claim_events(keys)})
        return st, js

    def complete(self, job, status="succeeded"):
        """Completes the job; True when this completion took effect (also when a try whose answer
        was lost to a crash did: the job then shows as finished by this very attempt)."""
        st, _, js, ambiguous = self.call("POST", job_path(job["jobId"], "complete"),
                                         {"leaseId": job["leaseId"], "status": status})
        if st == 200:
            return True
        if st == 409 and ambiguous:
            st2, _, j2, _ = self.call("GET", job_path(job["jobId"]))
            if st2 == 200 and j2.get("attempt") == job["attempt"] and j2.get("leaseId") is None \
                    and (status != "succeeded" or j2.get("status") == "succeeded"):
                return True
        if st != 409:
            self.tally.problem("complete of %s answered %s: %r" % (job["jobId"], st, js))
        return False

    def work(self, job):
        """Claims, processes the new events, completes; returns True when committed."""
        if self.on_leased is not None and self.on_leased(job) is False:
            return False
        keys = self.events_of(job)
        new = []
        if keys:
            st, js = self.claim(job, keys)
            if st == 409:
                return False  # the lease was lost: another attempt will do the work
            if st != 200:
                self.tally.problem("claim of %s answered %s: %r" % (job["jobId"], st, js))
                return False
            if sorted(js["new"] + js["duplicates"]) != sorted(keys):
                self.tally.problem("claim of %s answered %r for %r" % (job["jobId"], js, keys))
            new = js["new"]
            with self.tally.lock:
                for k in js["duplicates"]:
                    self.tally.duplicates[(job["sourceId"], k)] += 1
        if self.on_claimed is not None and self.on_claimed(job, new) is False:
            return False
        if not self.complete(job):
            return False
        with self.tally.lock:
            for k in new:
                self.tally.processed[(job["sourceId"], k)] += 1
            self.tally.job_done[job["jobId"]] += 1
            if job.get("backfillId"):
                self.tally.batch_done[(job["backfillId"], job["batch"])] += 1
        return True

    def poll(self):
        """One lease call and the work on what it gave; returns how many jobs were leased."""
        jobs = self.lease()
        for j in jobs:
            self.work(j)
        return len(jobs)

    def run(self, stop, idle_sleep=0.03):
        """Polls until stop (a threading.Event) is set."""
        try:
            while not stop.is_set():
                if self.poll() == 0:
                    stop.wait(idle_sleep)
        finally:
            self.close()


def run_workers(make_worker, n, stop, timeout=60):
    """Starts n threads running make_worker(i).run(stop); returns a join function that sets stop,
    joins and returns the exceptions raised in the threads."""
    errors, lock = [], _threading.Lock()

    def wrap(i):
        try:
            make_worker(i).run(stop)
        except BaseException as e:
            with lock:
                errors.append(e)
            stop.set()

    threads = [_threading.Thread(target=wrap, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()

    def join():
        stop.set()
        deadline = time.monotonic() + timeout
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        if any(t.is_alive() for t in threads):
            errors.append(AssertionError("worker threads still running"))
        return errors
    return join


# ------------------------------------------------------------------------------------------------
# Audit export (api.md §3.6, domain.md §6): shared by test_audit_export.py and test_cli_audit.py.
# verify_export() is an independent offline verifier: Python's json, hashlib, the JCS of
# canonical_json() above and python3-cryptography's Ed25519; nothing of the server's code.

import sqlite3 as _sqlite3

from cryptography.exceptions import InvalidSignature as _InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PublicKey as _Ed25519PublicKey)

AUDIT_EXPORT = "/jobengine/audit/export"
NDJSON = "application/x-ndjson"
CHECKPOINT_KEYS = {"tenantId", "fromSequence", "fromPreviousHash", "headSequence", "headHash",
                   "issuedAt", "kid"}
_HASH_RE = re.compile(r"^[0-9a-f]{64}$")
_B64URL_RE = re.compile(r"^[A-Za-z0-9_-]*$")


def http_get_raw(base_url, path, token=None, headers=None, timeout=HTTP_TIMEOUT):
    """GET with the body as bytes, unparsed. Returns (status, headers, bytes)."""
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = "Bearer " + token
    u = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request("GET", path, headers=h)
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def fetch_export(srv, token, from_sequence=None):
    """GET /jobengine/audit/export (?fromSequence= when given); asserts 200 and the NDJSON
    content type; returns the body as bytes."""
    path = AUDIT_EXPORT
    if from_sequence is not None:
        path += "?fromSequence=" + urllib.parse.quote(str(from_sequence), safe="")
    status, hdrs, body = http_get_raw(srv.url, path, token)
    if status != 200:
        raise AssertionError("GET %s answered %s: %r" % (path, status, body[:500]))
    ctype = (hdrs.get("Content-Type") or "").split(";")[0].strip().lower()
    if ctype != NDJSON:
        raise AssertionError("GET %s: Content-Type %r, expected %s" % (path, ctype, NDJSON))
    return body


def export_lines(data):
    """The lines of an export (bytes or str), without the final newline."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def join_lines(lines):
    return ("\n".join(lines) + "\n").encode("utf-8")


def _strict_loads(s):
    def no_dups(pairs):
        d = {}
        for k, v in pairs:
            if k in d:
                raise ValueError("duplicate member %r" % k)
            d[k] = v
        return d
    return json.loads(s, object_pairs_hook=no_dups)


def _is_int(v):
    return type(v) is int


def _ed25519_key(jwk):
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not isinstance(jwk.get("x"),
                                                                                  str):
        return None
    try:
        raw = b64url_decode(jwk["x"])
    except (ValueError, TypeError):
        return None
    if len(raw) != 32:
        return None
    return _Ed25519PublicKey.from_public_bytes(raw)


def verify_export(data, jwks):
    """Verifies an export (domain.md §6) against a JWKS document, independently of the server.
    The checkpoint (the last line) is checked first, as it anchors the rest; then every entry in
    order; then that the entries end at the checkpoint's head. Returns
    {"valid", "line" (1-based line of the first problem, or None), "firstBrokenSequence" (the
    sequence where the chain breaks, or None), "why", "entries", "checkpoint"}."""
    def bad(line, seq, why, cp=None, n=0):
        return {"valid": False, "line": line, "firstBrokenSequence": seq, "why": why,
                "entries": n, "checkpoint": cp}
    try:
        lines = export_lines(data)
    except UnicodeDecodeError as e:
        return bad(1, None, "not UTF-8: %s" % e)
    if not lines:
        return bad(1, None, "empty export")
    last = len(lines)
    # -- the checkpoint
    try:
        doc = _strict_loads(lines[-1])
    except ValueError as e:
        return bad(last, None, "the last line is not JSON: %s" % e)
    if not isinstance(doc, dict) or set(doc) != {"checkpoint", "signature"}:
        return bad(last, None, "the last line is not {checkpoint, signature}")
    cp, sig = doc["checkpoint"], doc["signature"]
    if not isinstance(cp, dict) or set(cp) != CHECKPOINT_KEYS:
        return bad(last, None, "the checkpoint's members are wrong: %r" % (cp,))
    if not (isinstance(cp["tenantId"], str) and _is_int(cp["fromSequence"])
            and _is_int(cp["headSequence"]) and isinstance(cp["kid"], str)
            and isinstance(cp["fromPreviousHash"], str) and _HASH_RE.match(cp["fromPreviousHash"])
            and isinstance(cp["headHash"], str) and _HASH_RE.match(cp["headHash"])
            and isinstance(cp["issuedAt"], str) and TIME_RE.match(cp["issuedAt"])):
        return bad(last, None, "the checkpoint's values are malformed: %r" % (cp,))
    if cp["fromSequence"] < 1 or cp["headSequence"] < cp["fromSequence"] - 1:
        return bad(last, None, "the checkpoint's range is impossible: %r" % (cp,))
    if not isinstance(sig, str) or not _B64URL_RE.match(sig):
        return bad(last, None, "the signature is not unpadded base64url")
    keys = [k for k in jwks.get("keys", []) if k.get("kid") == cp["kid"]]
    if len(keys) != 1 or _ed25519_key(keys[0]) is None:
        return bad(last, None, "kid %r is not one Ed25519 key of the JWKS" % cp["kid"])
    try:
        _ed25519_key(keys[0]).verify(b64url_decode(sig), canonical_json(cp).encode("utf-8"))
    except (_InvalidSignature, ValueError):
        return bad(last, None, "the checkpoint's signature does not verify")
    # -- the entries
    expected, prev = cp["fromSequence"], cp["fromPreviousHash"]
    for i, line in enumerate(lines[:-1]):
        lineno = i + 1
        try:
            e = _strict_loads(line)
        except ValueError as ex:
            return bad(lineno, expected, "not JSON: %s" % ex, cp, i)
        if not isinstance(e, dict) or set(e) != ENTRY_KEYS:
            return bad(lineno, expected, "not an entry: %r" % (line[:200],), cp, i)
        if not _is_int(e["sequence"]) or e["sequence"] != expected:
            return bad(lineno, expected, "sequence %r, expected %d" % (e["sequence"], expected),
                       cp, i)
        if e["previousHash"] != prev:
            return bad(lineno, expected, "previousHash does not link", cp, i)
        try:
            h = entry_hash(e)
        except ValueError as ex:
            return bad(lineno, expected, str(ex), cp, i)
        if e["hash"] != h:
            return bad(lineno, expected, "hash %r, recomputed %r" % (e["hash"], h), cp, i)
        if e["tenantId"] != cp["tenantId"]:
            return bad(lineno, expected, "an entry of tenant %r" % e["tenantId"], cp, i)
        prev = h
        expected += 1
    n = last - 1
    if expected - 1 < cp["headSequence"]:
        return bad(last, expected, "entries missing before the head %d" % cp["headSequence"],
                   cp, n)
    if expected - 1 > cp["headSequence"]:
        return bad(last, cp["headSequence"] + 1, "entries beyond the head", cp, n)
    if prev != cp["headHash"]:
        return bad(last, None, "the last entry's hash is not the checkpoint's headHash", cp, n)
    return {"valid": True, "line": None, "firstBrokenSequence": None, "why": "", "entries": n,
            "checkpoint": cp}


class _PgStore:
    """The few sqlite3-connection calls the tests make, on a PostgreSQL store: execute(sql,
    params) with ? placeholders returns a cursor (fetchone, iteration, rowcount)."""

    def __init__(self, url):
        import psycopg2  # Debian python3-psycopg2
        self.conn = psycopg2.connect(url)
        self.conn.autocommit = True

    def execute(self, sql, params=()):
        if sql.strip().upper() in ("BEGIN", "COMMIT"):
            sql = sql.strip().upper()
        cur = self.conn.cursor()
        cur.execute(sql.replace("?", "%s"), tuple(params))
        return cur

    def close(self):
        self.conn.close()


def store_connect(srv):
    """A connection to a server's store (stop the server first to be safe): sqlite3 on its file,
    or psycopg2 on its PostgreSQL database (same execute() calls). srv: a Server, or the path
    of a SQLite file."""
    store = getattr(srv, "store", None)
    if store and not store.startswith("sqlite:"):
        return _PgStore(store)
    path = srv.db if hasattr(srv, "db") else srv
    conn = _sqlite3.connect(path, timeout=10, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


def stored_checkpoint_heads(srv, tenant):
    """The head_sequence of every stored signed checkpoint of tenant, ascending."""
    conn = store_connect(srv)
    try:
        return [r[0] for r in conn.execute(
            "SELECT head_sequence FROM audit_checkpoints WHERE tenant_id = ? ORDER BY 1",
            (tenant,))]
    finally:
        conn.close()
