"""Black-box tests of the gate every /jobengine request goes through (api.md §1, §3, §3.1;
docs/api.md "Conventions" and "The gate"): bearer tokens, the error envelope, trace ids, tenant
headers, scopes, routing and the order of checks, health routes and the body size limit."""

import hashlib
import hmac
import json
import time
import unittest
import uuid

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import harness
from harness import ServerTestCase, b64url_encode, claims_of, header_of

CLIENTS = [
    ("viewer", ["acme"], ["Orch.Viewer"]),
    ("worker", ["acme"], ["Orch.Worker"]),
    ("admin", ["acme"], ["Orch.Admin"]),
    ("operator", ["acme"], ["Orch.Operator"]),
    ("gviewer", ["globex"], ["Orch.Viewer"]),
]
AUDIT = "/jobengine/audit"
VERIFY = "/jobengine/audit/verify"
TRACEPARENT_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = "00-%s-00f067aa0ba902b7-01" % TRACEPARENT_ID


def unsigned(header, claims, signature=""):
    h = b64url_encode(json.dumps(header, separators=(",", ":")).encode())
    p = b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
    return h + "." + p + "." + signature


class GateTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(CLIENTS, name="gate")
        cls.read = cls.srv.grant("viewer", "orch:read")

    def get(self, path=AUDIT, token=None, headers=None, method="GET", raw_auth=None):
        h = dict(headers or {})
        if raw_auth is not None:
            h["Authorization"] = raw_auth
        return self.srv.api(method, path, token, h)

    def assert401(self, resp, token_sent=True, token=None):
        err = self.assertEnvelope(resp, 401, "UNAUTHORIZED")
        www = resp[1].get("WWW-Authenticate") or ""
        self.assertTrue(www.startswith("Bearer"), "WWW-Authenticate: %r" % www)
        self.assertIn('realm="jobengine"', www)
        if token_sent:
            self.assertIn('error="invalid_token"', www)
        else:
            self.assertNotIn("invalid_token", www)
        if token:
            self.assertNotIn(token, json.dumps(resp[2]), "the token is echoed")
        return err

    def fresh_claims(self, **changes):
        c = claims_of(self.read)
        now = int(time.time())
        c.update({"iat": now, "nbf": now, "exp": now + 600, "jti": str(uuid.uuid4())})
        c.update(changes)
        return c

    # -- authentication ---------------------------------------------------------------------------
    def test_no_authorization_is_401(self):
        for path in (AUDIT, VERIFY, AUDIT + "?limit=1"):
            with self.subTest(path):
                self.assert401(self.get(path), token_sent=False)

    def test_valid_token_is_200(self):
        st, hdrs, body = self.get(token=self.read)
        self.assertEqual(st, 200, body)
        self.assertIn("application/json", hdrs.get("Content-Type", ""))
        self.assertEqual(set(body.keys()), {"items", "continuationToken"})

    def test_scheme_is_case_insensitive(self):
        for scheme in ("bearer", "BEARER", "Bearer"):
            with self.subTest(scheme):
                st, _, body = self.get(raw_auth=scheme + " " + self.read)
                self.assertEqual(st, 200, body)

    def test_malformed_tokens_are_401(self):
        tok = self.read
        h, p, s = tok.split(".")
        c = claims_of(tok)
        c["scope"] = "orch:read orch:quota"
        tampered = h + "." + b64url_encode(json.dumps(c).encode()) + "." + s
        cases = {
            "garbage": "Bearer garbage",
            "three junk parts": "Bearer a.b.c",
            "two parts": "Bearer " + h + "." + p,
            "no signature": "Bearer " + h + "." + p + ".",
            "four parts": "Bearer " + tok + ".xyz",
            "trailing junk": "Bearer " + tok + "x",
            "tampered payload": "Bearer " + tampered,
            "signature of another token": "Bearer " + h + "." + p + "."
                                          + self.srv.grant("viewer", "orch:read").split(".")[2],
            "non-base64 payload": "Bearer " + h + ".!!!." + s,
            "payload not json": "Bearer " + h + "." + b64url_encode(b"not json") + "." + s,
        }
        for name, auth in cases.items():
            with self.subTest(name):
                self.assert401(self.get(raw_auth=auth), token=auth.split(" ", 1)[1])
        for name, auth in {"empty bearer": "Bearer ", "scheme only": "Bearer",
                           "basic": "Basic dmlld2VyOnNlY3JldA==", "empty": ""}.items():
            with self.subTest(name):
                st, hdrs, body = self.get(raw_auth=auth)
                self.assertEnvelope((st, hdrs, body), 401, "UNAUTHORIZED")
                self.assertTrue((hdrs.get("WWW-Authenticate") or "").startswith("Bearer"))

    def test_alg_none_and_algorithm_confusion_are_401(self):
        h = header_of(self.read)
        c = self.fresh_claims()
        x = [k for k in self.srv.get_json("/jwks")["keys"] if k["kid"] == h["kid"]][0]["x"]
        tokens = {
            "alg none": unsigned(dict(h, alg="none"), c),
            "alg None": unsigned(dict(h, alg="None"), c),
            "alg none, junk signature": unsigned(dict(h, alg="none"), c, "AAAA"),
        }
        for name, secret in (("HS256 with raw public key", harness.b64url_decode(x)),
                             ("HS256 with public key text", x.encode())):
            t = unsigned(dict(h, alg="HS256"), c)[:-1]
            sig = hmac.new(secret, t.encode(), hashlib.sha256).digest()
            tokens[name] = t + "." + b64url_encode(sig)
        for name, t in tokens.items():
            with self.subTest(name):
                self.assert401(self.get(token=t), token=t)

    def test_foreign_signatures_are_401(self):
        kid = header_of(self.read)["kid"]
        rogue = Ed25519PrivateKey.generate()
        base = {"alg": "EdDSA", "typ": "at+jwt"}
        cases = {
            "same kid, other key": (dict(base, kid=kid), self.fresh_claims()),
            "unknown kid": (dict(base, kid="rogue-kid"), self.fresh_claims()),
            "no kid": (base, self.fresh_claims()),
            "wrong aud": (dict(base, kid=kid), self.fresh_claims(aud="someone-else")),
            "wrong iss": (dict(base, kid=kid), self.fresh_claims(iss="https://evil.example")),
            "other tenant": (dict(base, kid=kid),
                             self.fresh_claims(**{"stellaops:tenant": "globex"})),
        }
        for name, (h, c) in cases.items():
            with self.subTest(name):
                t = harness.sign_jwt(h, c, rogue)
                self.assert401(self.get(token=t), token=t)

    def test_token_of_another_server_is_401(self):
        other = self.new_server(CLIENTS[:1], name="gate-other")
        tok = other.grant("viewer", "orch:read")
        self.assertEqual(other.api("GET", AUDIT, tok)[0], 200)
        self.assert401(self.get(token=tok), token=tok)
        st, js, _ = self.srv.introspect("viewer", tok)
        self.assertEqual((st, js), (200, {"active": False}))

    def test_expired_token_is_401(self):
        srv = self.new_server(CLIENTS[:1], name="gate-ttl1",
                              args=["--token-ttl-seconds", "1"])
        st, js, _ = srv.token("viewer", scope="orch:read")
        self.assertEqual(st, 200, js)
        tok = js["access_token"]
        # no clock leeway (docs/api.md): refused from exp on (RFC 7519: valid only before exp)
        time.sleep(max(0.0, claims_of(tok)["exp"] + 0.15 - time.time()))
        resp = srv.api("GET", AUDIT, tok)
        err = self.assert401(resp, token=tok)
        self.assertIn("expire", err["message"].lower())

    def test_revoked_token_is_401_within_a_second(self):
        tok = self.srv.grant("viewer", "orch:read")
        self.assertEqual(self.get(token=tok)[0], 200)
        st, js, _ = self.srv.revoke("viewer", tok)
        self.assertEqual(st, 200, js)
        t0 = time.monotonic()
        while True:
            resp = self.get(token=tok)
            if resp[0] == 401 or time.monotonic() - t0 > 1.5:
                break
            time.sleep(0.05)
        err = self.assert401(resp, token=tok)
        self.assertIn("revoke", err["message"].lower())
        self.assertEqual(self.get(token=self.read)[0], 200, "other tokens still work")

    # -- envelope and trace ids ---------------------------------------------------------------------
    def test_error_envelope_shape(self):
        worker_jobs = self.srv.grant("worker", "orch:jobs")
        cases = [
            (self.get(), 401, "UNAUTHORIZED"),
            (self.get(token="garbage"), 401, "UNAUTHORIZED"),
            (self.get("/jobengine/nope", self.read), 404, "NOT_FOUND"),
            (self.get(method="POST", token=self.read), 405, "METHOD_NOT_ALLOWED"),
            (self.get(token=worker_jobs), 403, "SCOPE_REQUIRED"),
            (self.get(token=self.read, headers={"X-StellaOps-Tenant": "globex"}), 400,
             "ERR_TENANT_MISMATCH"),
            (self.get(AUDIT + "?limit=0", self.read), 400, "VALIDATION_FAILED"),
        ]
        for resp, status, code in cases:
            with self.subTest(code):
                self.assertEnvelope(resp, status, code)
                self.assertIn("application/json", resp[1].get("Content-Type", ""))
                self.assertRegex(resp[1].get("X-Trace-Id"), harness.TRACE_RE)

    def test_every_response_has_a_trace_id(self):
        srv = self.srv
        responses = {
            "healthz": srv.request("GET", "/healthz"),
            "readyz": srv.request("GET", "/readyz"),
            "jwks": srv.request("GET", "/jwks"),
            "discovery": srv.request("GET", "/.well-known/openid-configuration"),
            "audit 200": self.get(token=self.read),
            "verify 200": self.get(VERIFY, self.read),
            "audit 401": self.get(),
            "404": srv.request("GET", "/nope"),
            "405": srv.request("DELETE", "/healthz"),
        }
        for name, resp in {
            "token 200": srv.token("viewer", scope="orch:read"),
            "token 400": srv.token("viewer", scope="orch:bogus"),
            "token 401": srv.token("viewer", "bad" * 15, scope="orch:read"),
            "introspect": srv.introspect("viewer", "garbage"),
            "revoke": srv.revoke("viewer", "garbage"),
        }.items():
            responses[name] = (resp[0], resp[2], resp[1])
        for name, (st, hdrs, _) in responses.items():
            with self.subTest(name):
                self.assertRegex(hdrs.get("X-Trace-Id") or "", harness.TRACE_RE)
        ids = [hdrs.get("X-Trace-Id") for _, hdrs, _ in responses.values()]
        self.assertEqual(len(set(ids)), len(ids), "trace ids are random per request")

    def test_traceparent_supplies_the_trace_id(self):
        h = {"traceparent": TRACEPARENT}
        st, hdrs, _ = self.get(token=self.read, headers=h)
        self.assertEqual(st, 200)
        self.assertEqual(hdrs.get("X-Trace-Id"), TRACEPARENT_ID)
        resp = self.get(headers=h)
        err = self.assertEnvelope(resp, 401, "UNAUTHORIZED")
        self.assertEqual(err["trace_id"], TRACEPARENT_ID)
        st, js, hdrs = self.srv.token("viewer", scope="orch:read", headers=h)
        self.assertEqual(hdrs.get("X-Trace-Id"), TRACEPARENT_ID)
        st, hdrs, _ = self.srv.request("GET", "/healthz", h)
        self.assertEqual(hdrs.get("X-Trace-Id"), TRACEPARENT_ID)

    def test_invalid_traceparent_is_ignored(self):
        for tp in ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", "garbage",
                   "00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01",
                   "00-4bf92f3577b34da6a3ce929d0e0e4736zz-00f067aa0ba902b7-01", ""):
            with self.subTest(tp):
                st, hdrs, body = self.get(token=self.read, headers={"traceparent": tp})
                self.assertEqual(st, 200, body)
                trace = hdrs.get("X-Trace-Id") or ""
                self.assertRegex(trace, harness.TRACE_RE)
                self.assertNotEqual(trace, "0" * 32)
                self.assertNotEqual(trace, TRACEPARENT_ID)

    def test_request_log_carries_the_trace_id(self):
        before = self.srv.log_size()
        tid = "0af7651916cd43dd8448eb211c80319c"
        self.get(token=self.read, headers={"traceparent": "00-%s-b7ad6b7169203331-01" % tid})
        self.get(headers={"traceparent": "00-%s-b7ad6b7169203331-01" % tid})
        time.sleep(0.2)
        lines = [json.loads(line) for line in self.srv.log_from(before).splitlines()
                 if line.strip()]
        self.assertTrue(any(tid in json.dumps(x) for x in lines),
                        "no log line with the trace id: %r" % lines)
        self.assertNotIn(self.read, self.srv.log_text())

    # -- tenant --------------------------------------------------------------------------------------
    def test_tenant_headers(self):
        ok = [{"X-StellaOps-Tenant": "acme"}, {"X-Stella-Tenant": "acme"},
              {"X-StellaOps-Tenant": "acme", "X-Stella-Tenant": "acme"}]
        for h in ok:
            with self.subTest(h=h):
                st, _, body = self.get(token=self.read, headers=h)
                self.assertEqual(st, 200, body)
        bad = [{"X-StellaOps-Tenant": "globex"}, {"X-Stella-Tenant": "globex"},
               {"X-StellaOps-Tenant": "ACME"}, {"X-StellaOps-Tenant": ""},
               {"X-Stella-Tenant": "acm"}, {"X-StellaOps-Tenant": "acme", "X-Stella-Tenant": "x"},
               {"X-StellaOps-Tenant": "globex", "X-Stella-Tenant": "acme"}]
        for h in bad:
            with self.subTest(h=h):
                self.assertEnvelope(self.get(token=self.read, headers=h), 400,
                                    "ERR_TENANT_MISMATCH")
        # the header never supplies a tenant: a globex token with an acme header is refused
        gtok = self.srv.grant("gviewer", "orch:read")
        self.assertEnvelope(self.get(token=gtok, headers={"X-StellaOps-Tenant": "acme"}), 400,
                            "ERR_TENANT_MISMATCH")
        st, _, body = self.get(token=gtok, headers={"X-StellaOps-Tenant": "globex"})
        self.assertEqual(st, 200, body)
        self.assertTrue(all(e["tenantId"] == "globex" for e in body["items"]))

    # -- scope ---------------------------------------------------------------------------------------
    def test_scope_required(self):
        jobs_only = self.srv.grant("worker", "orch:jobs")
        for path in (AUDIT, VERIFY):
            with self.subTest(path):
                self.assertEnvelope(self.get(path, jobs_only), 403, "SCOPE_REQUIRED")
        admitted = {
            "worker orch:read": self.srv.grant("worker", "orch:read"),
            "worker orch:jobs orch:read": self.srv.grant("worker", "orch:jobs orch:read"),
            "admin orch:quota": self.srv.grant("admin", "orch:quota", quota_reason="r"),
            "admin orch:backfill": self.srv.grant("admin", "orch:backfill", backfill_reason="r"),
            "operator orch:operate": self.srv.grant("operator", "orch:operate",
                                                    operator_reason="r", operator_ticket="t"),
        }
        for name, tok in admitted.items():
            for path in (AUDIT, VERIFY):
                with self.subTest(name=name, path=path):
                    st, _, body = self.get(path, tok)
                    self.assertEqual(st, 200, body)

    # -- routing and order of checks -----------------------------------------------------------------
    def test_unknown_routes_are_404(self):
        for path in ("/jobengine/nope", "/jobengine/audit/nope", "/nope", "/jobengine",
                     "/jobengine/", "/tokens", "/jobengine/audit/verify/x"):
            for token in (self.read, None, "garbage"):
                with self.subTest(path=path, token=bool(token)):
                    self.assertEnvelope(self.get(path, token), 404, "NOT_FOUND")

    def test_wrong_method_is_405(self):
        cases = [("POST", AUDIT, "GET"), ("DELETE", AUDIT, "GET"), ("PUT", VERIFY, "GET"),
                 ("GET", "/token", "POST"), ("GET", "/introspect", "POST"),
                 ("GET", "/revoke", "POST"), ("POST", "/jwks", "GET"),
                 ("POST", "/healthz", "GET"), ("POST", "/.well-known/openid-configuration", "GET")]
        for method, path, allowed in cases:
            for token in (self.read, None):
                with self.subTest(method=method, path=path, token=bool(token)):
                    resp = self.get(path, token, method=method)
                    self.assertEnvelope(resp, 405, "METHOD_NOT_ALLOWED")
                    allow = [m.strip() for m in (resp[1].get("Allow") or "").split(",")]
                    self.assertIn(allowed, allow)

    def test_order_of_checks(self):
        jobs_only = self.srv.grant("worker", "orch:jobs")
        bad_tenant = {"X-StellaOps-Tenant": "globex"}
        # routing before authentication
        self.assertEnvelope(self.get("/jobengine/nope", None, bad_tenant), 404, "NOT_FOUND")
        self.assertEnvelope(self.get(AUDIT, None, bad_tenant, method="POST"), 405,
                            "METHOD_NOT_ALLOWED")
        # authentication before tenant
        self.assert401(self.get(AUDIT, None, bad_tenant), token_sent=False)
        self.assert401(self.get(AUDIT, "garbage", bad_tenant))
        # tenant before scope
        self.assertEnvelope(self.get(AUDIT, jobs_only, bad_tenant), 400, "ERR_TENANT_MISMATCH")
        # scope before validation of the query
        self.assertEnvelope(self.get(AUDIT + "?limit=x", jobs_only), 403, "SCOPE_REQUIRED")
        self.assertEnvelope(self.get(AUDIT + "?limit=x", self.read), 400, "VALIDATION_FAILED")

    # -- operations ----------------------------------------------------------------------------------
    def test_health_routes_need_no_token(self):
        for path in ("/healthz", "/readyz"):
            with self.subTest(path):
                st, hdrs, _ = self.srv.request("GET", path)
                self.assertEqual(st, 200)
                st, _, _ = self.srv.request("GET", path, {"Authorization": "Bearer garbage"})
                self.assertEqual(st, 200)

    def test_body_over_1_mib_is_413(self):
        prefix = b"grant_type=client_credentials&scope=orch%3Aread&pad="
        auth = {"Authorization": harness.basic_auth("viewer", self.srv.secrets["viewer"]),
                "Content-Type": harness.FORM}
        exact = prefix + b"a" * (1024 * 1024 - len(prefix))
        st, _, js = harness.http_request(self.srv.url, "POST", "/token", auth, exact)
        self.assertEqual(st, 200, "a body of exactly 1 MiB is allowed (unknown form parameters "
                         "are ignored, RFC 6749 §3.2): %r" % (js if st != 200 else ""))
        for size in (1024 * 1024 + 1, 3 * 1024 * 1024):
            with self.subTest(size=size):
                big = prefix + b"a" * (size - len(prefix))
                st, hdrs, js = harness.http_request_tolerant(self.srv.url, "POST", "/token",
                                                             auth, big)
                self.assertEqual(st, 413, js)
                self.assertIsInstance(js, dict, js)
                self.assertEqual(js.get("error"), "invalid_request", js)
                self.assertRegex(hdrs.get("X-Trace-Id") or "", harness.TRACE_RE)
        # the server is still fine
        self.assertEqual(self.srv.token("viewer", scope="orch:read")[0], 200)


if __name__ == "__main__":
    unittest.main()
