"""Token handling as RFC 9700 and RFC 8725 ask (issue 13, "Hostile clients"), against a real
server over HTTP, on every route that takes a bearer token (read from the served OpenAPI
document, so a route added later is covered the day it is documented):

- forged tokens (alg none, HS256 keyed with the public key in every form it is published,
  a key embedded in the header, other algorithms) are 401 everywhere and change nothing;
- a token longer than 8192 bytes is refused before it is parsed, saying so (the bound of
  src/auth/jwt.h), and /introspect, /revoke treat it as not a token;
- a revoked token is 401 on every route, on the node that revoked it at once and on another node
  of the same store within a second;
- `jobengine client add`, `keys rotate` and `serve` create the store 0600 in a 0700 directory,
  even under umask 000 (SQLite: the -wal and -shm files too);
- after a session of grants, wrong secrets, forged, oversized and revoked tokens, errors,
  introspection and revocation, no client secret and no token sent or issued appears in the
  server's logs, in any audit entry (the export of every tenant), or in any error body.
"""

import hashlib
import hmac
import json
import os
import stat
import subprocess
import time
import types
import unittest
import urllib.parse

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

import harness
from harness import (BIN, ON_POSTGRES, ServerTestCase, b64url_decode, b64url_encode, claims_of,
                     clean_env, free_port, header_of)

CLIENTS = [
    ("boss", ["acme"], ["Orch.Admin", "Orch.Operator"]),
    ("viewer", ["acme"], ["Orch.Viewer"]),
    ("gviewer", ["globex"], ["Orch.Viewer"]),
]
ALL_SCOPES = "orch:read orch:jobs orch:operate orch:quota orch:backfill"
JUSTIFIED = {"quota_reason": "token hardening", "backfill_reason": "token hardening",
             "operator_reason": "token hardening", "operator_ticket": "TH-1"}
MAX_TOKEN = 8192  # src/auth/jwt.h JE_JWT_MAX_LEN, docs/api.md "The gate"
PLACEHOLDER = "00000000-0000-7000-8000-000000000000"
ISSUER = ["--issuer", "http://jobengine.test"]  # two nodes of one store share it


def segment(obj):
    return b64url_encode(json.dumps(obj, separators=(",", ":")).encode())


def hs256(header, claims, secret):
    signing = segment(dict(header, alg="HS256")) + "." + segment(claims)
    return signing + "." + b64url_encode(hmac.new(secret, signing.encode(), hashlib.sha256)
                                         .digest())


def bearer_routes(srv):
    """(method, path) of every operation of the served OpenAPI document that takes a bearer
    token, path parameters filled with a placeholder id."""
    doc = srv.get_json("/.well-known/openapi")
    schemes = [n for n, s in doc.get("components", {}).get("securitySchemes", {}).items()
               if s.get("type") == "http" and s.get("scheme", "").lower() == "bearer"]
    out = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if method not in ("get", "post", "put", "delete", "patch"):
                continue
            sec = op.get("security", doc.get("security")) or []
            if any(name in req for req in sec for name in schemes):
                filled = "/".join(PLACEHOLDER if p.startswith("{") else p
                                  for p in path.split("/"))
                out.append((method.upper(), filled))
    if len(out) < 20:
        raise AssertionError("only %d bearer routes in the OpenAPI document: %r" % (len(out), out))
    return out


class Recorder:
    """Every request of the session goes through here: it keeps every body received (to grep
    the error bodies) and every token and secret sent."""

    def __init__(self, srv):
        self.srv = srv
        self.bodies = []      # (where, status, body text)
        self.sent = set()     # every token string sent as a bearer or form token
        self.secrets = set()  # every client secret sent, right or wrong

    def call(self, method, path, token=None, body=None, headers=None):
        if token is not None:
            self.sent.add(token)
        st, hdrs, js = self.srv.api(method, path, token, headers=headers, body=body)
        self.bodies.append(("%s %s" % (method, path), st, json.dumps(js)))
        return st, hdrs, js

    def token(self, client, secret=None, **kw):
        secret = secret if secret is not None else self.srv.secrets.get(client)
        if secret is not None:
            self.secrets.add(secret)
        st, js, hdrs = self.srv.token(client, secret, **kw)
        if st == 200:
            self.sent.add(js["access_token"])  # issued: it must not be recorded either
        else:
            self.bodies.append(("POST /token", st, json.dumps(js)))
        return st, js, hdrs

    def grant(self, client, scope, **form):
        st, js, _ = self.token(client, scope=scope, **form)
        if st != 200:
            raise AssertionError("grant refused: %s %r" % (st, js))
        return js["access_token"]

    def authority(self, path, client, token_value, secret=None, auth="basic"):
        if token_value is not None:
            self.sent.add(token_value)
        if secret is not None:
            self.secrets.add(secret)
        st, js, hdrs = self.srv.authority_post(path, client, secret, auth,
                                               [("token", token_value)])
        self.bodies.append(("POST " + path, st, json.dumps(js)))
        return st, js, hdrs


class TokenHardeningTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(CLIENTS, name="token-hardening", args=ISSUER)
        cls.routes = bearer_routes(cls.srv)

    def everywhere(self, token, srv=None):
        """Every bearer route with token: {(method, path): (status, headers, body)}."""
        srv = srv or self.srv
        out = {}
        for method, path in self.routes:
            body = {} if method in ("POST", "PUT", "PATCH") else None
            out[(method, path)] = srv.api(method, path, token, body=body)
        return out

    def assertRefusedEverywhere(self, token, why=None, srv=None):
        for (method, path), resp in self.everywhere(token, srv).items():
            with self.subTest(route="%s %s" % (method, path)):
                err = self.assertEnvelope(resp, 401, "UNAUTHORIZED")
                self.assertIn('error="invalid_token"', resp[1].get("WWW-Authenticate") or "")
                self.assertNotIn(token, json.dumps(resp[2]), "the token is echoed")
                if why:
                    self.assertIn(why, err["message"])

    def forged(self):
        """Forged tokens, each with claims a real token of boss would have."""
        srv = self.srv
        real = srv.grant("boss", "orch:read")
        h, c = header_of(real), claims_of(real)
        now = int(time.time())
        c.update({"iat": now, "nbf": now, "exp": now + 600, "scope": ALL_SCOPES})
        jwk = [k for k in srv.get_json("/jwks")["keys"] if k["kid"] == h["kid"]][0]
        raw = b64url_decode(jwk["x"])
        pub = Ed25519PublicKey.from_public_bytes(raw)
        pem = pub.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo)
        der = pub.public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo)
        rogue = Ed25519PrivateKey.generate()
        rogue_x = b64url_encode(rogue.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw))
        out = {
            "alg none": segment(dict(h, alg="none")) + "." + segment(c) + ".",
            "alg NONE": segment(dict(h, alg="NONE")) + "." + segment(c) + ".",
            "alg none, signature kept": segment(dict(h, alg="none")) + "." + segment(c) + "."
                                        + real.split(".")[2],
            "no alg": segment({k: v for k, v in h.items() if k != "alg"}) + "." + segment(c)
                      + "." + real.split(".")[2],
            "alg RS256": segment(dict(h, alg="RS256")) + "." + segment(c) + "."
                         + real.split(".")[2],
            "embedded jwk of the attacker": harness.sign_jwt(
                dict(h, jwk={"kty": "OKP", "crv": "Ed25519", "x": rogue_x}), c, rogue),
            "jku to the attacker": harness.sign_jwt(dict(h, jku="http://127.0.0.1:1/jwks"), c,
                                                    rogue),
        }
        for name, secret in (("raw public key", raw), ("x text", jwk["x"].encode()),
                             ("JWK JSON", json.dumps(jwk).encode()),
                             ("JWK JSON compact", json.dumps(jwk, separators=(",", ":")).encode()),
                             ("PEM", pem), ("PEM without newline", pem.strip()), ("DER", der)):
            out["HS256 keyed with the " + name] = hs256(h, c, secret)
        return out

    # -- forged tokens ---------------------------------------------------------------------------
    def test_forged_tokens_are_401_on_every_route(self):
        for name, tok in self.forged().items():
            with self.subTest(name):
                self.assertRefusedEverywhere(tok)
                st, js, _ = self.srv.introspect("viewer", tok)
                self.assertEqual((st, js), (200, {"active": False}), name)

    # -- oversized tokens ------------------------------------------------------------------------
    def oversized(self, length):
        """A well-formed token of exactly length bytes: a real token's header and signature around
        claims padded with a long member."""
        real = self.srv.grant("boss", "orch:read")
        h, p, s = real.split(".")
        c = claims_of(real)
        c["pad"] = ""
        base = len(h) + len(segment(c)) + len(s) + 2
        c["pad"] = "p" * ((length - base) * 3 // 4)
        tok = h + "." + segment(c) + "." + s
        while len(tok) < length:  # base64 rounding: top up one character at a time
            c["pad"] += "p"
            tok = h + "." + segment(c) + "." + s
        return tok[:length] if len(tok) > length else tok

    def test_oversized_token_is_refused_before_parsing(self):
        at_bound, over = self.oversized(MAX_TOKEN), self.oversized(MAX_TOKEN + 1)
        self.assertEqual((len(at_bound), len(over)), (MAX_TOKEN, MAX_TOKEN + 1))
        self.assertRefusedEverywhere(over, why="longer than %d bytes" % MAX_TOKEN)
        # at the bound it is parsed, and refused for what it is (a signature that does not hold)
        st, hdrs, js = self.srv.api("GET", "/jobengine/audit", at_bound)
        err = self.assertEnvelope((st, hdrs, js), 401, "UNAUTHORIZED")
        self.assertNotIn("longer than", err["message"])
        # far beyond: refused the same way (or by the HTTP layer's header limit), never a 5xx
        huge = self.oversized(64 * 1024)
        st, _, js = self.srv.api("GET", "/jobengine/audit", huge)
        self.assertIn(st, (401, 431), js)
        for path in ("/introspect", "/revoke"):
            st, js, _ = self.srv.authority_post(path, "viewer", None, "basic",
                                                [("token", over)])
            self.assertEqual(st, 200, js)
        self.assertEqual(self.srv.introspect("viewer", over)[1], {"active": False})

    # -- revoked tokens --------------------------------------------------------------------------
    def test_revoked_token_is_401_on_every_route(self):
        srv = self.srv
        other = self.new_server(store=srv.store, name="token-hardening-b", args=ISSUER)
        tok = srv.grant("boss", ALL_SCOPES, **JUSTIFIED)
        keep = srv.grant("boss", ALL_SCOPES, **JUSTIFIED)
        for node in (srv, other):  # accepted everywhere first (and cached by both verifiers)
            for (method, path), resp in self.everywhere(tok, node).items():
                self.assertNotEqual(resp[0], 401, "%s %s refused a good token: %r"
                                    % (method, path, resp[2]))
        st, js, _ = srv.revoke("boss", tok)
        self.assertEqual(st, 200, js)
        self.assertRefusedEverywhere(tok, "revoked", srv)
        deadline = time.monotonic() + 1.5  # docs/api.md: re-read at most one second apart
        while other.api("GET", "/jobengine/audit?limit=1", tok)[0] != 401:
            self.assertLess(time.monotonic(), deadline, "node b still accepts the token")
            time.sleep(0.05)
        self.assertRefusedEverywhere(tok, "revoked", other)
        for node in (srv, other):
            st, _, js = node.api("GET", "/jobengine/audit?limit=1", keep)
            self.assertEqual(st, 200, "another token of the same client was refused: %r" % (js,))
        self.assertEqual(srv.introspect("boss", tok)[1], {"active": False})

    # -- file modes ------------------------------------------------------------------------------
    @unittest.skipIf(ON_POSTGRES, "a PostgreSQL store has no file of ours")
    def test_store_created_0600_in_a_0700_directory(self):
        """Under umask 000, so that only the modes jobengine asks for count."""
        root = os.path.join(self.srv.dir, "modes")
        os.makedirs(root, exist_ok=True)
        db = os.path.join(root, "a", "b", "je.db")
        store = "sqlite:" + db

        def cli(*args):
            p = subprocess.run([BIN] + list(args), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=clean_env(), umask=0,
                               timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)

        cli("client", "add", "m", "--tenant", "acme", "--role", "Orch.Viewer", "--store", store)
        cli("keys", "rotate", "--store", store)
        self.assertModes(root, db)
        proc = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:%d" % free_port(),
                                 "--store", store], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, env=clean_env(), umask=0)
        try:
            for line in proc.stderr:
                if "listening" in line:
                    break
            self.assertTrue(os.path.exists(db + "-wal"), "serve opened no WAL")
            self.assertModes(root, db)
        finally:
            proc.kill()
            proc.wait()
            proc.stderr.close()

    def assertModes(self, root, db):
        for d in (os.path.join(root, "a"), os.path.join(root, "a", "b")):
            self.assertEqual(oct(stat.S_IMODE(os.stat(d).st_mode)), oct(0o700), d)
        files = os.listdir(os.path.dirname(db))
        self.assertIn("je.db", files)
        for f in files:
            path = os.path.join(os.path.dirname(db), f)
            self.assertEqual(oct(stat.S_IMODE(os.stat(path).st_mode)), oct(0o600), path)


class NothingRecordedTest(ServerTestCase):
    """One server for a whole session, then every place a secret or a token could leak to."""

    def test_no_secret_or_token_in_logs_audit_or_errors(self):
        srv = self.new_server(CLIENTS, name="token-secrets")
        rec = Recorder(srv)
        wrong = "WrongSecret-" + "w" * 40
        # grants, every way a client authenticates
        boss = rec.grant("boss", ALL_SCOPES, **JUSTIFIED)
        read = rec.grant("viewer", "orch:read")
        gread = rec.grant("gviewer", "orch:read")
        rec.token("viewer", auth="form", scope="orch:read")
        rec.token("viewer", auth="both", scope="orch:read")
        # wrong secrets, a secret of another client, a token as a secret
        rec.token("viewer", wrong, scope="orch:read")
        rec.token("viewer", wrong, auth="form", scope="orch:read")
        rec.token("viewer", srv.secrets["boss"], scope="orch:read")
        rec.token("boss", read, scope="orch:read")
        rec.token("nobody", wrong, scope="orch:read")
        rec.token("viewer", scope="orch:read", content_type="text/plain")
        rec.token("viewer", scope="orch:bogus")
        rec.token("boss", scope="orch:quota")  # no reason
        # the API: good calls, errors, secrets and forged tokens where a token goes
        rec.call("POST", "/jobengine/quotas", boss, body={"jobType": "t"})  # 400, audited
        rec.call("POST", "/jobengine/jobs", boss, body={"jobType": "t", "payload": {}})
        rec.call("GET", "/jobengine/jobs/nope", read)
        rec.call("GET", "/jobengine/audit?limit=0", read)
        rec.call("GET", "/jobengine/audit", srv.secrets["viewer"])
        rec.call("GET", "/jobengine/audit", wrong)
        rec.call("GET", "/jobengine/audit", read + "x")
        st, _, js = rec.call("GET", "/jobengine/audit?access_token=" + read)
        self.assertEqual(st, 401, "a token in the query string is not taken (RFC 9700 §2.5)")
        rec.call("POST", "/jobengine/quotas", read, body="client_secret=" + wrong,
                 headers={"Content-Type": "text/plain"})
        maker = types.SimpleNamespace(srv=srv)
        for tok in TokenHardeningTest.forged(maker).values():
            rec.call("GET", "/jobengine/jobs", tok)
        over = TokenHardeningTest.oversized(maker, MAX_TOKEN + 1)
        rec.call("GET", "/jobengine/jobs", over)
        # introspection and revocation, right and wrong
        rec.authority("/introspect", "viewer", read, srv.secrets["viewer"])
        rec.authority("/introspect", "viewer", read, wrong)
        rec.authority("/introspect", "viewer", over, srv.secrets["viewer"])
        gone = rec.grant("viewer", "orch:read")
        rec.authority("/revoke", "boss", gone, srv.secrets["boss"])  # not its token: 400
        rec.authority("/revoke", "viewer", gone, srv.secrets["viewer"])
        rec.authority("/revoke", "viewer", gone, wrong)
        rec.call("GET", "/jobengine/audit", gone)  # revoked
        rec.call("GET", "/jobengine/jobs", gone)
        cli = [harness.run_cli(["token", "--url", srv.url, "--client-id", "viewer",
                                "--client-secret", wrong, "--scope", "orch:read"]),
               harness.run_cli(["audit", "list", "--url", srv.url, "--token", gone])]
        self.assertEqual([p.returncode for p in cli], [1, 1], [p.stderr for p in cli])
        time.sleep(0.3)  # let the last log lines land
        exports = b"".join(harness.fetch_export(srv, t) for t in (read, gread))
        srv.stop()
        rec.secrets |= set(srv.secrets.values()) | {wrong}
        secrets = set(rec.secrets)
        for s in list(secrets):
            secrets.add(urllib.parse.quote_plus(s))
        for c, s in srv.secrets.items():
            secrets.add(harness.basic_auth(c, s).split(" ", 1)[1])
        tokens = set(t for t in rec.sent | set(srv.tokens_seen) if len(t) > 40)
        signatures = set(t.split(".")[2] for t in tokens if t.count(".") == 2
                         and len(t.split(".")[2]) > 40)
        self.assertGreater(len(tokens), 20)
        places = {
            "the server's log": srv.log_text(),
            "the server's stdout": read_text(srv.out_path),
            "the audit export": exports.decode("utf-8"),
            "the CLI's errors": "\n".join(p.stdout + p.stderr for p in cli),
        }
        errors = [body for _, status, body in rec.bodies if status >= 400]
        self.assertGreater(len(errors), 30)
        places["every error body"] = "\n".join(errors)
        for where, text in places.items():
            for s in secrets:
                self.assertNotIn(s, text, "a client secret is in %s" % where)
            for t in tokens:
                self.assertNotIn(t, text, "a token is in %s" % where)
            for sig in signatures:
                self.assertNotIn(sig, text, "a token's signature is in %s" % where)


def read_text(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


if __name__ == "__main__":
    unittest.main(verbosity=2)
