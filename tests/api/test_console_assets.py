"""Black-box tests of the operator console's files (issue 14, docs/operations.md "Console") and of
the tenant list /token gives a multi-tenant client that named no tenant (docs/api.md).

- every file under console/ (walked at test time, so a new file is covered) is served at
  /console/<path>, byte for byte, with the content type of its extension; /console/ is
  index.html; /console redirects to /console/;
- each reply has a strong ETag (the SHA-256 of the bytes), stable across requests, and a
  matching If-None-Match (one tag, a list, W/ compared weakly, or *) is a 304 with no body;
  HEAD has the headers and no body; Cache-Control: no-cache, the Content-Security-Policy,
  nosniff, no-referrer and X-Trace-Id on every console reply;
- unknown files, directories and traversal (plain, percent-encoded, doubled slashes) are 404 in
  the JSON error envelope, other methods 405, and every request is in the access log;
- `--console off` (flag, environment or config file) removes the routes: 404 "no such route";
- POST /token without tenant from a client of several tenants: 400 invalid_request with
  "tenants" sorted, only when the client authenticated; the audit entry has no such member."""

import hashlib
import html.parser
import http.client
import json
import time
import os
import re
import socket
import unittest

import harness
from harness import REPO, ServerTestCase, TRACE_RE, GRANT_EVENT, run_cli, store_connect

CONSOLE_DIR = os.path.join(REPO, "console")
CSP = ("default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".json": "application/json",
}
CLIENTS = [
    ("multi", ["beta", "acme"], ["Orch.Viewer"]),  # added out of order: the answer sorts
    ("single", ["acme"], ["Orch.Viewer"]),
]
# Paths under /console/ that name no file: unknown, directories, and ways out of the folder.
NOT_FILES = [
    "/console/nope.js",
    "/console/views",
    "/console/views/",
    "/console/index.html/",
    "/console/./index.html",
    "/console//index.html",
    "/console/../token",
    "/console/../console/index.html",
    "/console/%2e%2e/token",
    "/console/%2E%2E/%2E%2E/etc/passwd",
    "/console/.%2e/jwks",
    "/console/..%2fjwks",
    "/console/%2fetc%2fpasswd",
    "/console/..\\jwks",
    "/console/%5c..%5cjwks",
    "/console/index.HTML",
]


def console_files():
    """{relative path: bytes} of every file under console/, hidden ones and *~ excepted (as the
    build embeds them)."""
    out = {}
    for root, dirs, files in os.walk(CONSOLE_DIR):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if name.startswith(".") or name.endswith("~"):
                continue
            full = os.path.join(root, name)
            with open(full, "rb") as f:
                out[os.path.relpath(full, CONSOLE_DIR).replace(os.sep, "/")] = f.read()
    return out


def expected_type(rel):
    return TYPES.get(os.path.splitext(rel)[1].lower(), "application/octet-stream")


def fetch(srv, method, path, headers=None):
    """(status, headers, raw bytes); the path is sent exactly as given."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=harness.HTTP_TIMEOUT)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def raw_exchange(srv, request):
    """Every byte the server sends for one raw request (Connection: close)."""
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=harness.HTTP_TIMEOUT)
    try:
        s.sendall(request)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk
    finally:
        s.close()


class InlineCode(html.parser.HTMLParser):
    """What default-src 'self' would block in a page: inline script, inline style, handlers."""

    def __init__(self):
        super().__init__()
        self.problems = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        names = {k.lower() for k, _ in attrs}
        if tag == "script":
            self._in_script = True
            if "src" not in names:
                self.problems.append("a <script> without src")
        if tag == "style":
            self.problems.append("a <style> element")
        if "style" in names:
            self.problems.append("a style attribute on <%s>" % tag)
        self.problems += ["an %s handler on <%s>" % (n, tag) for n in names if n.startswith("on")]
        for k, v in attrs:
            if (v or "").strip().lower().startswith("javascript:"):
                self.problems.append("a javascript: URL in <%s %s>" % (tag, k))

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.problems.append("inline script code")


class ConsoleAssetsTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.files = console_files()
        if "index.html" not in cls.files:
            raise AssertionError("console/index.html is missing: %r" % sorted(cls.files))
        cls.srv = cls.start_class_server(CLIENTS, name="console")

    def assertConsoleHeaders(self, hdrs, where):
        self.assertEqual(hdrs.get("Content-Security-Policy"), CSP, where)
        self.assertEqual(hdrs.get("X-Content-Type-Options"), "nosniff", where)
        self.assertEqual(hdrs.get("Referrer-Policy"), "no-referrer", where)
        self.assertRegex(hdrs.get("X-Trace-Id") or "", TRACE_RE, where)

    def assertNotFound(self, path):
        st, hdrs, raw = fetch(self.srv, "GET", path)
        js = json.loads(raw.decode("utf-8")) if raw.startswith(b"{") else raw
        self.assertEnvelope((st, hdrs, js), 404, "NOT_FOUND")
        self.assertEqual(hdrs.get("Content-Type"), "application/json", path)
        self.assertIsNone(hdrs.get("ETag"), path)
        return hdrs

    # -- the files --------------------------------------------------------------------------------
    def test_every_file_is_served_as_it_is(self):
        for rel, content in sorted(self.files.items()):
            with self.subTest(rel):
                st, hdrs, raw = fetch(self.srv, "GET", "/console/" + rel)
                self.assertEqual(st, 200, rel)
                self.assertEqual(raw, content, "%s is not served byte for byte" % rel)
                self.assertEqual(hdrs.get("Content-Type"), expected_type(rel), rel)
                self.assertEqual(hdrs.get("Content-Length"), str(len(content)), rel)
                etag = '"%s"' % hashlib.sha256(content).hexdigest()
                self.assertEqual(hdrs.get("ETag"), etag, "a strong ETag of the SHA-256: " + rel)
                self.assertEqual(hdrs.get("Cache-Control"), "no-cache", rel)
                self.assertConsoleHeaders(hdrs, rel)

    def test_slash_is_the_index(self):
        st, hdrs, raw = fetch(self.srv, "GET", "/console/")
        self.assertEqual(st, 200)
        self.assertEqual(raw, self.files["index.html"])
        self.assertEqual(hdrs.get("Content-Type"), "text/html; charset=utf-8")
        _, index_hdrs, _ = fetch(self.srv, "GET", "/console/index.html")
        self.assertEqual(hdrs.get("ETag"), index_hdrs.get("ETag"))
        self.assertConsoleHeaders(hdrs, "/console/")

    def test_pages_need_no_inline_code(self):
        """The CSP (default-src 'self') blocks inline script, style and handlers: a page that
        needed them would not work, so none has them."""
        for rel, content in sorted(self.files.items()):
            if not rel.endswith(".html"):
                continue
            with self.subTest(rel):
                p = InlineCode()
                p.feed(content.decode("utf-8"))
                p.close()
                self.assertEqual(p.problems, [], rel)

    def test_redirect_to_the_folder(self):
        for method in ("GET", "HEAD"):
            with self.subTest(method):
                st, hdrs, _ = fetch(self.srv, method, "/console")
                self.assertIn(st, (301, 308))
                self.assertEqual(hdrs.get("Location"), "/console/")
                self.assertConsoleHeaders(hdrs, "/console")
        st, hdrs, _ = fetch(self.srv, "GET", "/console?x=1")
        self.assertIn(st, (301, 308))
        self.assertEqual(hdrs.get("Location"), "/console/")

    # -- caching ----------------------------------------------------------------------------------
    def test_etag_is_stable_and_revalidates(self):
        st1, h1, _ = fetch(self.srv, "GET", "/console/index.html")
        st2, h2, _ = fetch(self.srv, "GET", "/console/index.html")
        self.assertEqual((st1, st2), (200, 200))
        etag = h1.get("ETag")
        self.assertEqual(h2.get("ETag"), etag, "the ETag changed between two GETs")
        self.assertFalse(etag.startswith("W/"), "a strong ETag")
        other = '"%s"' % hashlib.sha256(self.files["style.css"]).hexdigest() \
            if "style.css" in self.files else '"0"'
        matching = [etag, '"nope", ' + etag, etag + ',"nope"', "W/" + etag, "*", " * ",
                    '"a",W/"b" ,  ' + etag]
        for inm in matching:
            with self.subTest(inm=inm):
                st, hdrs, raw = fetch(self.srv, "GET", "/console/index.html",
                                      {"If-None-Match": inm})
                self.assertEqual(st, 304, inm)
                self.assertEqual(raw, b"", "a 304 has no body")
                self.assertEqual(hdrs.get("ETag"), etag)
                self.assertEqual(hdrs.get("Cache-Control"), "no-cache")
                self.assertConsoleHeaders(hdrs, "304")
        for inm in ('"nope"', other, etag[:-2] + '"', etag[1:-1], '"nope", ' + etag[:-1]):
            with self.subTest(inm=inm):
                st, hdrs, raw = fetch(self.srv, "GET", "/console/index.html",
                                      {"If-None-Match": inm})
                self.assertEqual(st, 200, inm)
                self.assertEqual(raw, self.files["index.html"])
        st, _, raw = fetch(self.srv, "HEAD", "/console/index.html", {"If-None-Match": etag})
        self.assertEqual((st, raw), (304, b""))
        self.assertNotFound("/console/nope.js")  # * names files that exist only
        st, _, _ = fetch(self.srv, "GET", "/console/nope.js", {"If-None-Match": "*"})
        self.assertEqual(st, 404)

    def test_head_has_the_headers_and_no_body(self):
        for rel in sorted(self.files):
            with self.subTest(rel):
                st, hdrs, _ = fetch(self.srv, "GET", "/console/" + rel)
                hst, hhdrs, hraw = fetch(self.srv, "HEAD", "/console/" + rel)
                self.assertEqual((st, hst), (200, 200))
                self.assertEqual(hraw, b"")
                for name in ("Content-Type", "Content-Length", "ETag", "Cache-Control",
                             "Content-Security-Policy", "X-Content-Type-Options",
                             "Referrer-Policy"):
                    self.assertEqual(hhdrs.get(name), hdrs.get(name), name)
        # on the wire: nothing after the headers
        data = raw_exchange(self.srv, b"HEAD /console/index.html HTTP/1.1\r\nHost: x\r\n"
                                      b"Connection: close\r\n\r\n")
        head, sep, rest = data.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head[:40])
        self.assertEqual((sep, rest), (b"\r\n\r\n", b""))

    # -- what is not a file -------------------------------------------------------------------
    def test_unknown_files_directories_and_traversal_are_404(self):
        for path in NOT_FILES:
            with self.subTest(path):
                hdrs = self.assertNotFound(path)
                self.assertConsoleHeaders(hdrs, path)

    def test_traversal_reaches_nothing_else(self):
        """A console path never answers for another route (the /token or /jwks it names)."""
        for path in ("/console/../jwks", "/console/%2e%2e/jwks", "/console/..%2f..%2fjwks"):
            with self.subTest(path):
                st, _, raw = fetch(self.srv, "GET", path)
                self.assertEqual(st, 404)
                self.assertNotIn(b"keys", raw)

    def test_other_methods_are_405(self):
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            for path in ("/console/", "/console/index.html", "/console", "/console/nope.js"):
                with self.subTest(method=method, path=path):
                    st, hdrs, raw = fetch(self.srv, method, path)
                    js = json.loads(raw.decode("utf-8"))
                    self.assertEnvelope((st, hdrs, js), 405, "METHOD_NOT_ALLOWED")
                    self.assertEqual(hdrs.get("Allow"), "GET")

    def test_requests_are_in_the_access_log(self):
        st, hdrs, _ = fetch(self.srv, "GET", "/console/index.html")
        self.assertEqual(st, 200)
        trace = hdrs.get("X-Trace-Id")
        # the line is written once the answer is sent, so it may follow the answer by a moment
        deadline = time.monotonic() + 10
        while True:
            lines = [json.loads(line) for line in self.srv.log_text().splitlines()
                     if line.startswith("{") and trace in line]
            req = [x for x in lines if x.get("msg") == "request"]
            if req or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        self.assertEqual(len(req), 1, lines)
        self.assertEqual(req[0]["path"], "/console/index.html")
        self.assertEqual(req[0]["status"], 200)
        self.assertTrue(req[0]["route"].startswith("/console/"), req[0])

    # -- /token's tenant list -----------------------------------------------------------------
    def test_multi_tenant_client_without_tenant_is_told_its_tenants(self):
        for auth in ("basic", "form"):
            with self.subTest(auth=auth):
                js = self.assertOAuthError(self.srv.token("multi", scope="orch:read", auth=auth),
                                           400, "invalid_request", "tenant is required")
                self.assertEqual(js.get("tenants"), ["acme", "beta"])
                self.assertEqual(set(js), {"error", "error_description", "tenants"})
        # with a tenant it may act for: granted, as before
        tok = self.srv.grant("multi", "orch:read", tenant="beta")
        self.assertEqual(harness.claims_of(tok)["stellaops:tenant"], "beta")

    def test_no_tenant_list_without_authentication(self):
        wrong = "WrongSecret-" + "w" * 40
        cases = [
            (self.srv.token("multi", wrong, scope="orch:read"), 401, "invalid_client"),
            (self.srv.token("multi", wrong, scope="orch:read", auth="form"), 401,
             "invalid_client"),
            (self.srv.token("ghost", wrong, scope="orch:read"), 401, "invalid_client"),
            (self.srv.token(None, auth="none", scope="orch:read"), 401, "invalid_client"),
            (self.srv.token("multi", scope="orch:read", auth="both"), 400, "invalid_request"),
        ]
        for i, (resp, status, code) in enumerate(cases):
            with self.subTest(i=i):
                js = self.assertOAuthError(resp, status, code)
                self.assertNotIn("tenants", js)
                self.assertEqual(set(js), {"error", "error_description"})

    def test_other_refusals_and_single_tenant_clients_are_unchanged(self):
        # a tenant named that the client may not act for, or an empty one: no list
        for tenant in ("initech", ""):
            with self.subTest(tenant=tenant):
                js = self.assertOAuthError(self.srv.token("multi", scope="orch:read",
                                                          tenant=tenant), 400, "invalid_request")
                self.assertNotIn("tenants", js)
        js = self.assertOAuthError(self.srv.token("single", scope="orch:read", tenant="beta"),
                                   400, "invalid_request")
        self.assertNotIn("tenants", js)
        tok = self.srv.grant("single", "orch:read")  # its one tenant is implied
        self.assertEqual(harness.claims_of(tok)["stellaops:tenant"], "acme")

    def test_the_refusal_is_audited_as_before(self):
        """The list is for the caller only: the _system chain's entry holds what it always
        did (docs/api.md "Audit of /token")."""
        desc = self.assertOAuthError(self.srv.token("multi", scope="orch:read"), 400,
                                     "invalid_request")["error_description"]
        conn = store_connect(self.srv)
        try:
            row = conn.execute(
                "SELECT entry_json FROM audit_entries WHERE tenant_id = ? AND event_type = ? "
                "AND resource_id = ? ORDER BY sequence DESC LIMIT 1",
                ("_system", GRANT_EVENT, "multi")).fetchone()
        finally:
            conn.close()
        self.assertIsNotNone(row, "no _system grant entry for multi")
        entry = json.loads(row[0])
        self.assertEqual(entry["details"], {"client_id": "multi", "tenant": None,
                                            "scope": ["orch:read"], "outcome": "invalid_request",
                                            "error_description": desc})


class ConsoleOffTest(ServerTestCase):
    """--console off, JOBENGINE_CONSOLE=off or {"console": "off"}: no console routes at all."""

    def assertNoConsole(self, srv):
        for method, path in (("GET", "/console/"), ("GET", "/console"),
                             ("GET", "/console/index.html"), ("HEAD", "/console/"),
                             ("POST", "/console/")):
            with self.subTest(method=method, path=path):
                st, hdrs, raw = fetch(srv, method, path)
                self.assertEqual(st, 404, path)
                if method != "HEAD":
                    js = json.loads(raw.decode("utf-8"))
                    err = self.assertEnvelope((st, hdrs, js), 404, "NOT_FOUND")
                    self.assertEqual(err["message"], "no such route")
        st, _, _ = fetch(srv, "GET", "/healthz")
        self.assertEqual(st, 200, "the rest is served")

    def test_flag(self):
        self.assertNoConsole(self.new_server(name="console-off", args=["--console", "off"]))

    def test_environment(self):
        self.assertNoConsole(self.new_server(name="console-off",
                                             env={"JOBENGINE_CONSOLE": "off"}))

    def test_config_file(self):
        srv = self.new_server(name="console-off", start=False)
        path = os.path.join(srv.dir, "config.json")
        with open(path, "w") as f:
            json.dump({"console": "off"}, f)
        srv.args += ["--config", path]
        srv.start()
        self.assertNoConsole(srv)

    def test_on_is_the_default_and_a_flag(self):
        srv = self.new_server(name="console-on", args=["--console", "on"],
                              env={"JOBENGINE_CONSOLE": "off"})  # the flag wins
        st, _, _ = fetch(srv, "GET", "/console/")
        self.assertEqual(st, 200)

    def test_other_values_are_refused(self):
        p = run_cli(["serve", "--console", "maybe", "--listen", "127.0.0.1:1",
                     "--store", "sqlite:/nonexistent/x.db"])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("console: on or off", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
