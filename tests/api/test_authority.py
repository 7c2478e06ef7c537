"""Black-box tests of the Authority (api.md §2, docs/api.md "Authority"): POST /token and its
rules, the access token, discovery, /jwks and key rotation, /introspect, /revoke, the `token` and
`client` command lines, and the audit entries of grants."""

import base64
import json
import time
import unittest
import urllib.parse

import harness
from harness import GRANT_EVENT, ServerTestCase, claims_of, header_of, run_cli

ACME_CLIENTS = [
    ("viewer", ["acme"], ["Orch.Viewer"]),
    ("viewer2", ["acme"], ["Orch.Viewer"]),
    ("worker", ["acme"], ["Orch.Worker"]),
    ("operator", ["acme"], ["Orch.Operator"]),
    ("admin", ["acme"], ["Orch.Admin"]),
    ("admin2", ["acme"], ["Orch.Admin"]),
    ("multi", ["acme", "globex"], ["Orch.Viewer", "Orch.Admin"]),
    ("gviewer", ["globex"], ["Orch.Viewer"]),
]
CLAIM_KEYS = ["iss", "sub", "aud", "iat", "nbf", "exp", "jti", "client_id", "scope",
              "stellaops:tenant"]
JUSTIFICATION_CLAIMS = ["quota.reason", "quota.ticket", "backfill.reason", "backfill.ticket",
                        "operator.reason", "operator.ticket"]


class AuthorityTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(ACME_CLIENTS, name="authority")

    # -- helpers ----------------------------------------------------------------------------------
    def reader(self, tenant="acme"):
        """A fresh orch:read token of the tenant (each call appends one grant entry)."""
        return self.srv.grant("viewer" if tenant == "acme" else "gviewer", "orch:read")

    def entries_after(self, reader, sequence):
        return [e for e in self.srv.audit_all(reader) if e["sequence"] > sequence]

    def head(self, reader):
        return self.srv.audit_verify(reader)["entries"]

    def quota(self, reason="scan surge", **kw):
        return self.srv.token("admin", scope="orch:quota", quota_reason=reason, **kw)

    def refused_quota(self, names, **kw):
        """An orch:quota request by admin that must be 400 invalid_request naming names."""
        return self.assertOAuthError(self.srv.token("admin", scope="orch:quota", **kw), 400,
                                     "invalid_request", names)

    def find_grant(self, reader, jti):
        found = [e for e in self.srv.audit_all(reader, eventType=GRANT_EVENT)
                 if e["details"].get("jti") == jti]
        self.assertEqual(len(found), 1, "exactly one grant entry with jti %s" % jti)
        return found[0]

    # -- client authentication ----------------------------------------------------------------------
    def test_grant_with_basic_credentials(self):
        st, js, hdrs = self.srv.token("viewer", scope="orch:read", auth="basic")
        self.assertEqual(st, 200, js)
        self.assertEqual(set(js.keys()), {"access_token", "token_type", "expires_in", "scope"}, js)
        self.assertEqual(js["token_type"], "Bearer")
        self.assertEqual(js["expires_in"], 3600)
        self.assertEqual(js["scope"], "orch:read")
        self.assertIn("application/json", hdrs.get("Content-Type", ""))
        self.assertIn("no-store", hdrs.get("Cache-Control", ""))
        self.assertIn("no-cache", hdrs.get("Pragma", ""))
        self.assertRegex(hdrs.get("X-Trace-Id", ""), harness.TRACE_RE)

    def test_grant_with_form_credentials(self):
        st, js, _ = self.srv.token("viewer", scope="orch:read", auth="form")
        self.assertEqual(st, 200, js)
        self.assertEqual(claims_of(js["access_token"])["sub"], "viewer")

    def test_both_basic_and_form_credentials_is_invalid_request(self):
        self.assertOAuthError(self.srv.token("viewer", scope="orch:read", auth="both"), 400,
                              "invalid_request")

    def test_bad_client_credentials_are_invalid_client(self):
        cases = {
            "wrong secret": self.srv.token("viewer", "x" * 43, scope="orch:read"),
            "wrong secret (form)": self.srv.token("viewer", "x" * 43, scope="orch:read",
                                                  auth="form"),
            "unknown client": self.srv.token("nobody", "x" * 43, scope="orch:read"),
            "no credentials": self.srv.token(None, scope="orch:read", auth="none"),
            "client_id without secret": self.srv.token(None, scope="orch:read", auth="none",
                                                       client_id="viewer"),
            "empty secret": self.srv.token("viewer", "", scope="orch:read"),
        }
        for name, resp in cases.items():
            with self.subTest(name):
                self.assertOAuthError(resp, 401, "invalid_client")
                www = resp[2].get("WWW-Authenticate") or ""
                self.assertIn("Basic", www)
                self.assertIn('realm="jobengine"', www)

    def test_client_secret_of_another_client_is_refused(self):
        self.assertOAuthError(self.srv.token("viewer", self.srv.secrets["admin"],
                                             scope="orch:read"), 401, "invalid_client")

    def test_basic_credentials_are_form_urlencoded(self):
        """RFC 6749 §2.3.1: Basic carries client_id and client_secret form-urlencoded."""
        cid, secret = "svc:deploy@acme", "Sp3c!al:+&=%/~@#" + "x" * 24
        p = run_cli(["client", "add", cid, "--tenant", "acme", "--role", "Orch.Admin",
                     "--secret", secret, "--store", self.srv.store, "--json"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.srv.secrets[cid] = secret
        reader = self.reader()
        for auth in ("basic", "form"):
            with self.subTest(auth):
                st, js, _ = self.srv.token(cid, scope="orch:quota", auth=auth,
                                           quota_reason="special")
                self.assertEqual(st, 200, js)
                c = claims_of(js["access_token"])
                self.assertEqual((c["sub"], c["client_id"]), (cid, cid))
                e = self.find_grant(reader, c["jti"])
                self.assertEqual((e["resourceId"], e["actorId"]), (cid, cid))
                self.assertEqual(e["details"]["client_id"], cid)
        # the secret with '+' left unencoded decodes to a space: no longer the secret
        raw = base64.b64encode((urllib.parse.quote_plus(cid) + ":" + secret).encode()).decode()
        self.assertOAuthError(self.srv.token(None, auth="none", scope="orch:read",
                                             headers={"Authorization": "Basic " + raw}),
                              401, "invalid_client")

    # -- request shape ------------------------------------------------------------------------------
    def test_wrong_content_type_is_invalid_request(self):
        body = json.dumps({"grant_type": "client_credentials", "scope": "orch:read"})
        for ctype in ("application/json", "text/plain", None):
            with self.subTest(ctype):
                self.assertOAuthError(self.srv.token("viewer", raw_body=body.encode(),
                                                     content_type=ctype), 400,
                                      "invalid_request")

    def test_content_type_parameters_are_allowed(self):
        st, js, _ = self.srv.token("viewer", scope="orch:read",
                                   content_type=harness.FORM + "; charset=UTF-8")
        self.assertEqual(st, 200, js)

    def test_repeated_parameter_is_invalid_request(self):
        for name, extra in (("scope", [("scope", "orch:read")]),
                            ("grant_type", [("grant_type", "client_credentials")]),
                            ("tenant", [("tenant", "acme"), ("tenant", "acme")])):
            with self.subTest(name):
                self.assertOAuthError(self.srv.token("viewer", scope="orch:read", extra=extra),
                                      400, "invalid_request")

    def test_undecodable_body_is_invalid_request(self):
        raw = b"grant_type=client_credentials&scope=orch%ZZread"
        self.assertOAuthError(self.srv.token("viewer", raw_body=raw), 400, "invalid_request")

    def test_grant_type_rules(self):
        self.assertOAuthError(self.srv.token("viewer", scope="orch:read", grant_type=None), 400,
                              "invalid_request")
        for gt in ("password", "authorization_code", "CLIENT_CREDENTIALS"):
            with self.subTest(gt):
                self.assertOAuthError(self.srv.token("viewer", scope="orch:read", grant_type=gt),
                                      400, "unsupported_grant_type")

    def test_order_of_checks(self):
        srv = self.srv
        # 1 Content-Type before 3 client authentication
        self.assertOAuthError(srv.token(None, auth="none", scope="orch:read",
                                        content_type="application/json"), 400, "invalid_request")
        # 2 repeated parameter before 3 client authentication
        self.assertOAuthError(srv.token("viewer", "w" * 43, scope="orch:read",
                                        extra=[("scope", "orch:read")]), 400, "invalid_request")
        # 3 client authentication before 4 grant_type
        self.assertOAuthError(srv.token("viewer", "w" * 43, scope="orch:read", grant_type=None),
                              401, "invalid_client")
        # 4 grant_type before 6 scope
        self.assertOAuthError(srv.token("viewer", grant_type="password"), 400,
                              "unsupported_grant_type")
        # 5 tenant before 6 scope
        self.assertOAuthError(srv.token("multi", scope="orch:bogus"), 400, "invalid_request")
        # 6 scope before 7 justification
        self.assertOAuthError(srv.token("viewer", scope="orch:quota"), 400, "invalid_scope")
        # 7: quota before backfill, reason before ticket
        self.assertOAuthError(srv.token("admin", scope="orch:backfill orch:quota"), 400,
                              "invalid_request", "quota_reason")
        self.assertOAuthError(srv.token("admin", scope="orch:quota orch:backfill",
                                        quota_reason="r", quota_ticket="T" * 129), 400,
                              "invalid_request", "quota_ticket")
        self.assertOAuthError(srv.token("admin", scope="orch:quota orch:backfill",
                                        quota_reason="r"), 400, "invalid_request",
                              "backfill_reason")

    def test_oversized_fields_are_refused_cleanly(self):
        big = 200000
        self.assertOAuthError(self.srv.token(None, auth="none", scope="orch:read",
                                             client_id="c" * big, client_secret="s" * 43), 401,
                              "invalid_client")
        self.assertOAuthError(self.srv.token("viewer", "s" * 2000, scope="orch:read"), 401,
                              "invalid_client")  # (a Basic header, so not too big)
        self.assertOAuthError(self.srv.token("viewer", "s" * big, scope="orch:read",
                                             auth="form"), 401, "invalid_client")
        self.assertOAuthError(self.srv.token("viewer", scope="x" * big), 400, "invalid_scope")
        self.assertOAuthError(self.srv.token("viewer", scope="orch:read", tenant="t" * big), 400,
                              "invalid_request")
        self.refused_quota("quota_reason", quota_reason="r" * big)
        self.refused_quota("quota_ticket", quota_reason="r", quota_ticket="t" * big)
        self.assertEqual(self.srv.token("viewer", scope="orch:read")[0], 200)

    # -- scope --------------------------------------------------------------------------------------
    def test_scope_rules(self):
        srv = self.srv
        self.assertOAuthError(srv.token("viewer"), 400, "invalid_scope")
        for scope in ("", "   ", "orch:bogus", "orch:read orch:bogus", "ORCH:READ", "openid"):
            with self.subTest(scope=scope):
                self.assertOAuthError(srv.token("viewer", scope=scope), 400, "invalid_scope")
        for client, scope in (("viewer", "orch:quota"), ("viewer", "orch:jobs"),
                              ("worker", "orch:operate"), ("admin", "orch:jobs"),
                              ("operator", "orch:backfill")):
            with self.subTest(client=client, scope=scope):
                self.assertOAuthError(srv.token(client, scope=scope, quota_reason="r",
                                                backfill_reason="r", operator_reason="r",
                                                operator_ticket="t"), 400, "invalid_scope")

    def test_granted_scope_order_and_repeats(self):
        st, js, _ = self.srv.token("worker", scope="orch:jobs orch:read orch:jobs")
        self.assertEqual(st, 200, js)
        self.assertEqual(js["scope"], "orch:read orch:jobs")
        self.assertEqual(claims_of(js["access_token"])["scope"], "orch:read orch:jobs")
        st, js, _ = self.srv.token("admin", scope="orch:backfill orch:quota orch:read",
                                   quota_reason="q", backfill_reason="b")
        self.assertEqual(st, 200, js)
        self.assertEqual(js["scope"], "orch:read orch:quota orch:backfill")

    # -- tenant -------------------------------------------------------------------------------------
    def test_tenant_rules(self):
        srv = self.srv
        self.assertOAuthError(srv.token("multi", scope="orch:read"), 400, "invalid_request")
        self.assertOAuthError(srv.token("multi", scope="orch:read", tenant="initech"), 400,
                              "invalid_request")
        self.assertOAuthError(srv.token("viewer", scope="orch:read", tenant="globex"), 400,
                              "invalid_request")
        self.assertOAuthError(srv.token("viewer", scope="orch:read", tenant="ACME"), 400,
                              "invalid_request")
        for tenant in ("acme", "globex"):
            with self.subTest(tenant=tenant):
                st, js, _ = srv.token("multi", scope="orch:read", tenant=tenant)
                self.assertEqual(st, 200, js)
                self.assertEqual(claims_of(js["access_token"])["stellaops:tenant"], tenant)
        st, js, _ = srv.token("viewer", scope="orch:read", tenant="acme")
        self.assertEqual(st, 200, js)
        st, js, _ = srv.token("viewer", scope="orch:read")
        self.assertEqual(st, 200, js)
        self.assertEqual(claims_of(js["access_token"])["stellaops:tenant"], "acme")

    # -- justification --------------------------------------------------------------------------------
    def test_quota_reason_required(self):
        js = self.refused_quota("quota_reason")
        self.assertIn("orch:quota", js["error_description"])

    def test_reason_length_counts_code_points(self):
        for ch, name in (("é", "2-byte"), ("😀", "4-byte"), ("a", "ascii")):
            with self.subTest(name):
                st, js, _ = self.quota(ch * 256)
                self.assertEqual(st, 200, js)
                self.assertEqual(claims_of(js["access_token"])["quota.reason"], ch * 256)
                self.refused_quota("quota_reason", quota_reason=ch * 257)

    def test_ticket_length(self):
        for ch in ("T", "é", "😀"):
            with self.subTest(ch):
                st, js, _ = self.quota(quota_ticket=ch * 128)
                self.assertEqual(st, 200, js)
                self.assertEqual(claims_of(js["access_token"])["quota.ticket"], ch * 128)
                self.refused_quota("quota_ticket", quota_reason="r", quota_ticket=ch * 129)

    def test_reason_trimmed_of_unicode_white_space(self):
        cases = {
            "  fix  ": "fix",
            "\u3000fix\u3000": "fix",
            "\t\n fix \r\n": "fix",
            "\u00a0fix\u2028": "fix",
            "\u0085fix\u0085": "fix",  # NEL is White_Space (and Cc): trimmed before the Cc rule
            "\u2003 black friday \u205f": "black friday",
            " a\u3000b ": "a\u3000b",
        }
        for raw, want in cases.items():
            with self.subTest(raw=raw):
                st, js, _ = self.quota(raw, quota_ticket="  OPS-1\u3000")
                self.assertEqual(st, 200, js)
                c = claims_of(js["access_token"])
                self.assertEqual(c["quota.reason"], want)
                self.assertEqual(c["quota.ticket"], "OPS-1")
        # the 256 limit applies after trimming
        st, js, _ = self.quota("  " + "r" * 256 + "\u3000")
        self.assertEqual(st, 200, js)

    def test_blank_reason_or_ticket_refused(self):
        for blank in ("   ", "\u3000", "\t\n", ""):
            with self.subTest(reason=blank):
                self.refused_quota("quota_reason", quota_reason=blank)
        for blank in ("   ", "\u3000\u2003"):
            with self.subTest(ticket=blank):
                self.refused_quota("quota_ticket", quota_reason="r", quota_ticket=blank)

    def test_control_characters_refused(self):
        for bad in ("a\x01b", "a\x00b", "a\nb", "a\x7fb", "a\x9fb", "a\x1bb", "\x00"):
            with self.subTest(bad=bad):
                self.refused_quota("quota_reason", quota_reason=bad)
                self.refused_quota("quota_ticket", quota_reason="r", quota_ticket=bad)

    def test_nul_escape_in_body_refused(self):
        base = b"grant_type=client_credentials&scope=orch%3Aquota&quota_reason="
        self.assertOAuthError(self.srv.token("admin", raw_body=base + b"a%00b"), 400,
                              "invalid_request", "quota_reason")

    def test_invalid_utf8_refused(self):
        base = b"grant_type=client_credentials&scope=orch%3Aquota"
        for bad in (b"%C3%28", b"%FF", b"ok%FE", b"%C0%AF", b"%ED%A0%80", b"%F4%90%80%80",
                    b"%E2%82"):
            with self.subTest(bad=bad):
                self.assertOAuthError(self.srv.token("admin", raw_body=base + b"&quota_reason="
                                                     + bad), 400, "invalid_request",
                                      "quota_reason")
                self.assertOAuthError(self.srv.token("admin", raw_body=base
                                                     + b"&quota_reason=ok&quota_ticket=" + bad),
                                      400, "invalid_request", "quota_ticket")

    def test_backfill_justification(self):
        self.assertOAuthError(self.srv.token("admin", scope="orch:backfill"), 400,
                              "invalid_request", "backfill_reason")
        self.assertOAuthError(self.srv.token("admin", scope="orch:backfill", backfill_reason=" "),
                              400, "invalid_request", "backfill_reason")
        self.assertOAuthError(self.srv.token("admin", scope="orch:backfill",
                                             backfill_reason="r" * 257), 400, "invalid_request",
                              "backfill_reason")
        self.assertOAuthError(self.srv.token("admin", scope="orch:backfill", backfill_reason="r",
                                             backfill_ticket="T" * 129), 400, "invalid_request",
                              "backfill_ticket")
        st, js, _ = self.srv.token("admin", scope="orch:backfill",
                                   backfill_reason=" replay march ", backfill_ticket="BF-7")
        self.assertEqual(st, 200, js)
        self.assertEqual(js["expires_in"], 600)
        c = claims_of(js["access_token"])
        self.assertEqual(c["backfill.reason"], "replay march")
        self.assertEqual(c["backfill.ticket"], "BF-7")
        self.assertNotIn("quota.reason", c)

    def test_operator_justification(self):
        srv = self.srv
        self.assertOAuthError(srv.token("operator", scope="orch:operate"), 400,
                              "invalid_request", "operator_reason")
        self.assertOAuthError(srv.token("operator", scope="orch:operate", operator_ticket="OP-1"),
                              400, "invalid_request", "operator_reason")
        self.assertOAuthError(srv.token("operator", scope="orch:operate", operator_reason="r"),
                              400, "invalid_request", "operator_ticket")
        self.assertOAuthError(srv.token("operator", scope="orch:operate", operator_reason="r",
                                        operator_ticket="  "), 400, "invalid_request",
                              "operator_ticket")
        self.assertOAuthError(srv.token("operator", scope="orch:operate", operator_reason="r",
                                        operator_ticket="T" * 129), 400, "invalid_request",
                              "operator_ticket")
        self.assertOAuthError(srv.token("operator", scope="orch:operate",
                                        operator_reason="r" * 257, operator_ticket="T"), 400,
                              "invalid_request", "operator_reason")
        st, js, _ = srv.token("operator", scope="orch:operate orch:read",
                              operator_reason="drain node 7", operator_ticket="INC-9")
        self.assertEqual(st, 200, js)
        self.assertEqual(js["expires_in"], 600)
        self.assertEqual(js["scope"], "orch:read orch:operate")
        c = claims_of(js["access_token"])
        self.assertEqual(c["operator.reason"], "drain node 7")
        self.assertEqual(c["operator.ticket"], "INC-9")

    def test_justification_of_unrequested_scopes_is_ignored(self):
        srv = self.srv
        reader = self.reader()
        # even invalid values are ignored when their scope was not requested
        st, js, _ = srv.token("admin", scope="orch:read", quota_reason="a\x01b",
                              quota_ticket="T" * 200, backfill_reason="   ",
                              operator_reason="x", operator_ticket="y")
        self.assertEqual(st, 200, js)
        c = claims_of(js["access_token"])
        for k in JUSTIFICATION_CLAIMS:
            self.assertNotIn(k, c)
        e = self.find_grant(reader, c["jti"])
        for k in JUSTIFICATION_CLAIMS + ["request.reason", "request.ticket"]:
            self.assertNotIn(k, e["details"])
        self.assertIsNone(e["reason"])
        self.assertIsNone(e["ticket"])

        st, js, _ = srv.token("admin", scope="orch:quota", quota_reason="q",
                              backfill_reason="b", backfill_ticket="BT")
        self.assertEqual(st, 200, js)
        c = claims_of(js["access_token"])
        self.assertEqual(c["quota.reason"], "q")
        self.assertNotIn("quota.ticket", c)  # a ticket claim only when a ticket was given
        self.assertNotIn("backfill.reason", c)
        self.assertNotIn("backfill.ticket", c)
        e = self.find_grant(reader, c["jti"])
        self.assertEqual(e["details"]["quota.reason"], "q")
        self.assertNotIn("backfill.reason", e["details"])
        self.assertNotIn("backfill.ticket", e["details"])
        self.assertEqual(e["reason"], "q")
        self.assertIsNone(e["ticket"])

    # -- the token -----------------------------------------------------------------------------------
    def test_token_claims_and_header(self):
        before = int(time.time())
        st, js, _ = self.quota("black friday scan surge", quota_ticket="OPS-4411")
        after = int(time.time()) + 1
        self.assertEqual(st, 200, js)
        self.assertEqual(js["expires_in"], 600)
        self.assertEqual(js["scope"], "orch:quota")
        self.assertEqual(js["token_type"], "Bearer")
        tok = js["access_token"]
        self.assertEqual(len(tok.split(".")), 3)
        h = header_of(tok)
        self.assertEqual(h.get("alg"), "EdDSA")
        self.assertIsInstance(h.get("kid"), str)
        self.assertTrue(h["kid"])
        self.assertIn(h.get("typ"), ("at+jwt", "application/at+jwt"), "RFC 9068 typ: %r" % h)
        c = claims_of(tok)
        for k in CLAIM_KEYS:
            self.assertIn(k, c)
        self.assertEqual(c["iss"], self.srv.url)
        self.assertEqual(c["sub"], "admin")
        self.assertEqual(c["client_id"], "admin")
        self.assertEqual(c["aud"], "jobengine")
        self.assertEqual(c["scope"], "orch:quota")
        self.assertEqual(c["stellaops:tenant"], "acme")
        self.assertEqual(c["quota.reason"], "black friday scan surge")
        self.assertEqual(c["quota.ticket"], "OPS-4411")
        for k in ("iat", "nbf", "exp"):
            self.assertIsInstance(c[k], int, k)
        self.assertTrue(before <= c["iat"] <= after, (before, c["iat"], after))
        self.assertEqual(c["nbf"], c["iat"])
        self.assertEqual(c["exp"] - c["iat"], js["expires_in"])
        self.assertRegex(c["jti"], harness.UUID7_RE)

        st, js2, _ = self.srv.token("viewer", scope="orch:read")
        c2 = claims_of(js2["access_token"])
        self.assertEqual(js2["expires_in"], 3600)
        self.assertEqual(c2["exp"] - c2["iat"], 3600)
        self.assertNotEqual(c2["jti"], c["jti"])
        for k in JUSTIFICATION_CLAIMS:
            self.assertNotIn(k, c2)
        st, js3, _ = self.srv.token("admin", scope="orch:read orch:quota", quota_reason="r")
        self.assertEqual(js3["expires_in"], 600, "a token holding orch:quota is elevated")

    def test_token_verifies_independently_against_jwks(self):
        tokens = [self.quota("independent check")[1]["access_token"],
                  self.srv.grant("viewer", "orch:read"),
                  self.srv.grant("multi", "orch:read", tenant="globex")]
        for tok in tokens:
            c = harness.verify_token_independently(self.srv.url, tok, issuer=self.srv.url)
            self.assertEqual(c["aud"], "jobengine")
        # tampering with the payload breaks the signature for PyJWT too
        tok = tokens[1]
        parts = tok.split(".")
        claims = claims_of(tok)
        claims["scope"] = "orch:read orch:quota"
        forged = ".".join([parts[0], harness.b64url_encode(json.dumps(claims).encode()),
                           parts[2]])
        with self.assertRaises(harness.jwt.InvalidSignatureError):
            harness.verify_token_independently(self.srv.url, forged, issuer=self.srv.url)

    def test_token_works_on_the_api(self):
        for tok in (self.srv.grant("viewer", "orch:read"), self.quota("x")[1]["access_token"]):
            st, _, body = self.srv.api("GET", "/jobengine/audit?limit=1", tok)
            self.assertEqual(st, 200, body)

    # -- discovery and keys -------------------------------------------------------------------------
    def test_openid_configuration(self):
        st, hdrs, d = self.srv.request("GET", "/.well-known/openid-configuration")
        self.assertEqual(st, 200, d)
        self.assertIn("application/json", hdrs.get("Content-Type", ""))
        iss = self.srv.url
        self.assertEqual(d["issuer"], iss)
        self.assertEqual(d["token_endpoint"], iss + "/token")
        self.assertEqual(d["jwks_uri"], iss + "/jwks")
        self.assertEqual(d["introspection_endpoint"], iss + "/introspect")
        self.assertEqual(d["revocation_endpoint"], iss + "/revoke")
        self.assertIn("client_credentials", d["grant_types_supported"])
        self.assertEqual(sorted(d["scopes_supported"]), sorted(harness.ALL_SCOPES))

    def test_jwks_shape(self):
        st, hdrs, d = self.srv.request("GET", "/jwks")
        self.assertEqual(st, 200, d)
        self.assertIn("json", hdrs.get("Content-Type", ""))
        keys = d["keys"]
        self.assertGreaterEqual(len(keys), 1)
        kids = set()
        for k in keys:
            self.assertEqual(k.get("kty"), "OKP", k)
            self.assertEqual(k.get("crv"), "Ed25519", k)
            self.assertEqual(k.get("use"), "sig", k)
            self.assertIsInstance(k.get("kid"), str)
            self.assertEqual(len(harness.b64url_decode(k["x"])), 32)
            self.assertNotIn("d", k, "a private key is published!")
            if "alg" in k:
                self.assertEqual(k["alg"], "EdDSA")
            kids.add(k["kid"])
        self.assertEqual(len(kids), len(keys), "kids are unique")
        self.assertIn(header_of(self.srv.grant("viewer", "orch:read"))["kid"], kids)

    # -- introspection --------------------------------------------------------------------------------
    def test_introspect_own_tenant_token(self):
        tok = self.quota("introspect me", quota_ticket="T-1")[1]["access_token"]
        st, js, _ = self.srv.introspect("admin2", tok)
        self.assertEqual(st, 200, js)
        self.assertIs(js.get("active"), True, js)
        self.assertEqual(js.get("token_type"), "Bearer")
        for k, v in claims_of(tok).items():
            self.assertEqual(js.get(k), v, "claim %s" % k)
        # a client of both tenants sees a globex token
        gtok = self.srv.grant("gviewer", "orch:read")
        st, js, _ = self.srv.introspect("multi", gtok, auth="form")
        self.assertEqual(st, 200, js)
        self.assertIs(js.get("active"), True, js)
        self.assertEqual(js["stellaops:tenant"], "globex")

    def test_introspect_inactive(self):
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        good = self.srv.grant("viewer", "orch:read")
        c = claims_of(good)
        foreign = harness.sign_jwt(header_of(good), c, Ed25519PrivateKey.generate())
        cases = {
            "garbage": "garbage",
            "three parts": "a.b.c",
            "tampered": good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"),
            "foreign signature": foreign,
            "another tenant": self.srv.grant("gviewer", "orch:read"),
        }
        for name, tok in cases.items():
            with self.subTest(name):
                st, js, _ = self.srv.introspect("admin", tok)
                self.assertEqual(st, 200, js)
                self.assertEqual(js, {"active": False})

    def test_token_type_hint_is_accepted_and_ignored(self):
        tok = self.srv.grant("viewer", "orch:read")
        for hint in ("access_token", "refresh_token", "bogus"):
            with self.subTest(hint):
                st, js, _ = self.srv.authority_post("/introspect", "admin", form=[
                    ("token", tok), ("token_type_hint", hint)])
                self.assertEqual(st, 200, js)
                self.assertIs(js.get("active"), True, js)
        st, js, _ = self.srv.authority_post("/revoke", "viewer", form=[
            ("token", tok), ("token_type_hint", "refresh_token")])
        self.assertEqual(st, 200, js)
        t0 = time.monotonic()
        while self.srv.api("GET", "/jobengine/audit?limit=1", tok)[0] != 401:
            self.assertLess(time.monotonic() - t0, 1.5, "revoked with a hint: still works")
            time.sleep(0.05)

    def test_introspect_and_revoke_request_shape(self):
        tok = self.srv.grant("viewer", "orch:read")
        for path in ("/introspect", "/revoke"):
            with self.subTest(path):
                self.assertOAuthError(self.srv.authority_post(
                    path, "viewer", raw_body=json.dumps({"token": tok}).encode(),
                    content_type="application/json"), 400, "invalid_request")
                self.assertOAuthError(self.srv.authority_post(
                    path, "viewer", form=[("token", tok), ("token", tok)]), 400,
                    "invalid_request")
        st, _, body = self.srv.api("GET", "/jobengine/audit?limit=1", tok)
        self.assertEqual(st, 200, "refused revocations revoked nothing: %r" % (body,))

    def test_introspect_needs_client_auth(self):
        tok = self.srv.grant("viewer", "orch:read")
        self.assertOAuthError(self.srv.introspect(None, tok, auth="none"), 401, "invalid_client")
        self.assertOAuthError(self.srv.introspect("admin", tok, secret="z" * 43), 401,
                              "invalid_client")
        self.assertOAuthError(self.srv.introspect("admin", None), 400, "invalid_request")

    def test_introspect_and_gate_after_expiry(self):
        srv = self.new_server(ACME_CLIENTS[:1] + [("admin", ["acme"], ["Orch.Admin"])],
                              args=["--token-ttl-seconds", "1", "--elevated-token-ttl-seconds",
                                    "1"], name="authority-ttl1")
        st, js, _ = srv.token("viewer", scope="orch:read")
        self.assertEqual(st, 200, js)
        self.assertEqual(js["expires_in"], 1)
        tok = js["access_token"]
        c = claims_of(tok)
        self.assertEqual(c["exp"] - c["iat"], 1)
        time.sleep(max(0.0, c["exp"] + 1.05 - time.time()))
        st, js, _ = srv.introspect("admin", tok)
        self.assertEqual((st, js), (200, {"active": False}))
        st, hdrs, body = srv.api("GET", "/jobengine/audit", tok)
        self.assertEqual(st, 401, body)
        st, js, _ = srv.revoke("viewer", tok)
        self.assertEqual(st, 200, "revoking an expired token is 200: %r" % (js,))

    # -- revocation -----------------------------------------------------------------------------------
    def test_revoke_garbage_is_200(self):
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        mine = self.srv.grant("viewer", "orch:read")
        foreign = harness.sign_jwt(header_of(mine), claims_of(mine), Ed25519PrivateKey.generate())
        for tok in ("garbage", "a.b.c", "eyJhbGciOiJFZERTQSJ9.e30.AAAA", foreign):
            with self.subTest(tok):
                st, js, _ = self.srv.revoke("viewer", tok)
                self.assertEqual(st, 200, js)
        time.sleep(1.1)
        st, _, body = self.srv.api("GET", "/jobengine/audit?limit=1", mine)
        self.assertEqual(st, 200, "revoking a forgery of a token revoked the real one: %r"
                         % (body,))

    def test_revoke_needs_client_auth(self):
        tok = self.srv.grant("viewer", "orch:read")
        self.assertOAuthError(self.srv.revoke(None, tok, auth="none"), 401, "invalid_client")
        self.assertOAuthError(self.srv.revoke("viewer", tok, secret="q" * 43), 401,
                              "invalid_client")
        self.assertOAuthError(self.srv.revoke("viewer", None), 400, "invalid_request")
        st, _, body = self.srv.api("GET", "/jobengine/audit?limit=1", tok)
        self.assertEqual(st, 200, "a refused revocation revoked nothing: %r" % (body,))

    def test_revoke_another_clients_token_is_unauthorized_client(self):
        tok = self.srv.grant("viewer", "orch:read")
        self.assertOAuthError(self.srv.revoke("viewer2", tok), 400, "unauthorized_client")
        self.assertOAuthError(self.srv.revoke("gviewer", tok), 400, "unauthorized_client")
        time.sleep(1.1)
        st, _, body = self.srv.api("GET", "/jobengine/audit?limit=1", tok)
        self.assertEqual(st, 200, body)
        st, js, _ = self.srv.introspect("admin", tok)
        self.assertIs(js.get("active"), True)

    def test_revoke_own_token(self):
        tok = self.srv.grant("viewer", "orch:read")
        other = self.srv.grant("viewer", "orch:read")
        st, _, body = self.srv.api("GET", "/jobengine/audit?limit=1", tok)
        self.assertEqual(st, 200, body)
        st, js, _ = self.srv.revoke("viewer", tok, auth="form")
        self.assertEqual(st, 200, js)
        t0 = time.monotonic()
        while True:
            st, hdrs, body = self.srv.api("GET", "/jobengine/audit?limit=1", tok)
            if st == 401 or time.monotonic() - t0 > 1.5:
                break
            time.sleep(0.05)
        self.assertEqual(st, 401, "a revoked token still works after %.2f s"
                         % (time.monotonic() - t0))
        self.assertEqual(body["error"]["code"], "UNAUTHORIZED")
        st, js, _ = self.srv.introspect("admin", tok)
        self.assertEqual((st, js), (200, {"active": False}))
        st, js, _ = self.srv.revoke("viewer", tok)  # again: still 200
        self.assertEqual(st, 200, js)
        st, _, body = self.srv.api("GET", "/jobengine/audit?limit=1", other)
        self.assertEqual(st, 200, "another token of the same client is untouched: %r" % (body,))

    # -- command line -------------------------------------------------------------------------------
    def cli_token(self, *args, env=None):
        return run_cli(["token", "--url", self.srv.url, "--client-id", "admin",
                        "--client-secret", self.srv.secrets["admin"]] + list(args), env=env)

    def test_cli_token_with_flags(self):
        p = self.cli_token("--scope", "orch:quota", "--quota-reason", "cli reason",
                           "--quota-ticket", "CLI-1")
        self.assertEqual(p.returncode, 0, p.stderr)
        tok = p.stdout.strip()
        self.assertEqual(len(tok.split(".")), 3, p.stdout)
        c = claims_of(tok)
        self.assertEqual(c["quota.reason"], "cli reason")
        self.assertEqual(c["quota.ticket"], "CLI-1")
        self.assertEqual(c["scope"], "orch:quota")
        p = self.cli_token("--scope", "orch:read", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        js = json.loads(p.stdout)
        self.assertEqual(js["token_type"], "Bearer")
        self.assertEqual(js["scope"], "orch:read")
        self.assertEqual(js["expires_in"], 3600)
        p = run_cli(["token", "--url", self.srv.url, "--client-id", "multi", "--client-secret",
                     self.srv.secrets["multi"], "--scope", "orch:backfill", "--tenant", "globex",
                     "--backfill-reason", "replay", "--backfill-ticket", "BF-1"])
        self.assertEqual(p.returncode, 0, p.stderr)
        c = claims_of(p.stdout.strip())
        self.assertEqual(c["stellaops:tenant"], "globex")
        self.assertEqual(c["backfill.reason"], "replay")
        self.assertEqual(c["backfill.ticket"], "BF-1")

    def test_cli_token_reads_environment(self):
        env = {"STELLAOPS_ORCH_QUOTA_REASON": "env reason", "STELLAOPS_ORCH_QUOTA_TICKET": "ENV-2"}
        p = self.cli_token("--scope", "orch:quota", env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        c = claims_of(p.stdout.strip())
        self.assertEqual(c["quota.reason"], "env reason")
        self.assertEqual(c["quota.ticket"], "ENV-2")
        # a flag wins over the environment
        p = self.cli_token("--scope", "orch:quota", "--quota-reason", "flag reason", env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(claims_of(p.stdout.strip())["quota.reason"], "flag reason")
        env = {"STELLAOPS_ORCH_BACKFILL_REASON": "bf env", "STELLAOPS_ORCH_BACKFILL_TICKET": "B-3"}
        p = self.cli_token("--scope", "orch:backfill", env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        c = claims_of(p.stdout.strip())
        self.assertEqual((c["backfill.reason"], c["backfill.ticket"]), ("bf env", "B-3"))
        env = {"STELLAOPS_ORCH_OPERATOR_REASON": "op env", "STELLAOPS_ORCH_OPERATOR_TICKET": "O-4"}
        p = run_cli(["token", "--url", self.srv.url, "--client-id", "operator",
                     "--client-secret", self.srv.secrets["operator"], "--scope", "orch:operate"],
                    env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        c = claims_of(p.stdout.strip())
        self.assertEqual((c["operator.reason"], c["operator.ticket"]), ("op env", "O-4"))

    def test_cli_token_url_from_environment(self):
        p = run_cli(["token", "--client-id", "viewer", "--client-secret",
                     self.srv.secrets["viewer"], "--scope", "orch:read"],
                    env={"JOBENGINE_URL": self.srv.url})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(claims_of(p.stdout.strip())["sub"], "viewer")

    def test_cli_token_refusal(self):
        p = self.cli_token("--scope", "orch:quota")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("invalid_request", p.stderr)
        self.assertNotIn(".", p.stdout.strip(), "no token printed: %r" % p.stdout)
        p = run_cli(["token", "--url", self.srv.url, "--client-id", "admin", "--client-secret",
                     "n" * 43, "--scope", "orch:read"])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("invalid_client", p.stderr)

    def test_cli_clients_while_running(self):
        srv = self.srv
        p = run_cli(["client", "add", "late-bot", "--tenant", "acme", "--role", "Orch.Viewer",
                     "--store", srv.store, "--json"])
        self.assertEqual(p.returncode, 0, p.stderr)
        secret = json.loads(p.stdout)["clientSecret"]
        self.assertRegex(secret, "^[A-Za-z0-9_-]{43}$", "256 random bits as base64url")
        srv.secrets["late-bot"] = secret
        st, js, _ = srv.token("late-bot", scope="orch:read")
        self.assertEqual(st, 200, "a client added while the server runs works at once: %r"
                         % (js,))
        # --secret sets the secret
        fixed = "s3cret-" + "k" * 40
        p = run_cli(["client", "add", "fixed-bot", "--tenant", "acme", "--role", "Orch.Viewer",
                     "--secret", fixed, "--store", srv.store, "--json"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["clientSecret"], fixed)
        srv.secrets["fixed-bot"] = fixed
        self.assertEqual(srv.token("fixed-bot", scope="orch:read")[0], 200)
        # what client add refuses: a short secret, an unknown role, a bad tenant or id
        for args in (["short-bot", "--tenant", "acme", "--role", "Orch.Viewer", "--secret",
                      "s" * 31],
                     ["role-bot", "--tenant", "acme", "--role", "Orch.Superuser"],
                     ["role-bot", "--tenant", "acme", "--role", "orch.viewer"],
                     ["tenant-bot", "--tenant", "_system", "--role", "Orch.Viewer"],
                     ["notenant-bot", "--role", "Orch.Viewer"],
                     ["norole-bot", "--tenant", "acme"],
                     ["-bad-id", "--tenant", "acme", "--role", "Orch.Viewer"],
                     ["bad id", "--tenant", "acme", "--role", "Orch.Viewer"],
                     ["i" * 129, "--tenant", "acme", "--role", "Orch.Viewer"],
                     ["long-tenant-bot", "--tenant", "t" * 65, "--role", "Orch.Viewer"],
                     ["many-tenants-bot", "--role", "Orch.Viewer"]
                     + sum([["--tenant", "t%d" % i] for i in range(17)], []),
                     ["long-secret-bot", "--tenant", "acme", "--role", "Orch.Viewer", "--secret",
                      "s" * 257]):
            with self.subTest(args=args[:1]):
                p = run_cli(["client", "add"] + args + ["--store", srv.store, "--json"])
                self.assertNotEqual(p.returncode, 0, p.stdout)
                self.assertNotIn(args[0], run_cli(["client", "list", "--store", srv.store,
                                                   "--json"]).stdout)
        # ... and what it accepts at the bounds
        for cid, extra in (("k" * 128, []),
                           ("edge-tenant-bot", ["--tenant", "u" * 64]),
                           ("sixteen-bot", sum([["--tenant", "t%d" % i] for i in range(16)], [])),
                           ("s32-bot", ["--secret", "s" * 32]),
                           ("s256-bot", ["--secret", "S" * 256])):
            with self.subTest(accepted=cid[:20]):
                args = ["client", "add", cid, "--role", "Orch.Viewer"] + extra
                if "--tenant" not in extra:
                    args += ["--tenant", "acme"]
                p = run_cli(args + ["--store", srv.store, "--json"])
                self.assertEqual(p.returncode, 0, p.stderr)
                srv.secrets[cid] = json.loads(p.stdout)["clientSecret"]
                tenant = extra[1] if "--tenant" in extra else "acme"
                st, js, _ = srv.token(cid, scope="orch:read", tenant=tenant)
                self.assertEqual(st, 200, js)
                self.assertEqual(claims_of(js["access_token"])["stellaops:tenant"], tenant)
        # list shows clients and never a secret
        p = run_cli(["client", "list", "--store", srv.store, "--json"])
        self.assertEqual(p.returncode, 0, p.stderr)
        json.loads(p.stdout)
        self.assertIn("late-bot", p.stdout)
        self.assertIn("fixed-bot", p.stdout)
        for s in srv.secrets.values():
            self.assertNotIn(s, p.stdout)
        # rotate-secret: the new one works, the old one stops
        p = run_cli(["client", "rotate-secret", "late-bot", "--store", srv.store, "--json"])
        self.assertEqual(p.returncode, 0, p.stderr)
        new = json.loads(p.stdout)["clientSecret"]
        self.assertNotEqual(new, secret)
        self.assertEqual(self.poll_status(lambda: srv.token("late-bot", new, scope="orch:read"),
                                          200), 200)
        self.assertEqual(self.poll_status(lambda: srv.token("late-bot", secret,
                                                            scope="orch:read"), 401), 401)
        srv.secrets["late-bot"] = new
        # remove: refused afterwards
        p = run_cli(["client", "remove", "late-bot", "--store", srv.store])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.poll_status(lambda: srv.token("late-bot", new, scope="orch:read"),
                                          401), 401)

    @staticmethod
    def poll_status(call, want, seconds=2.0):
        """Calls until the status is want or seconds passed; returns the last status."""
        t0 = time.monotonic()
        while True:
            st = call()[0]
            if st == want or time.monotonic() - t0 > seconds:
                return st
            time.sleep(0.05)

    # -- audit of grants ------------------------------------------------------------------------------
    def test_audit_of_a_granted_request(self):
        reader = self.reader()
        st, js, _ = self.srv.token("admin", scope="orch:read orch:quota",
                                   quota_reason="  black friday scan surge ",
                                   quota_ticket="OPS-4411")
        self.assertEqual(st, 200, js)
        c = claims_of(js["access_token"])
        e = self.find_grant(reader, c["jti"])
        self.assertEqual(set(e.keys()), harness.ENTRY_KEYS, e)
        self.assertEqual(e["eventType"], GRANT_EVENT)
        self.assertEqual(e["tenantId"], "acme")
        self.assertEqual(e["resourceType"], "client")
        self.assertEqual(e["resourceId"], "admin")
        self.assertEqual(e["actorId"], "admin")
        self.assertEqual(e["actorType"], "client")
        self.assertEqual(e["reason"], "black friday scan surge")
        self.assertEqual(e["ticket"], "OPS-4411")
        self.assertRegex(e["occurredAt"], harness.TIME_RE)
        d = e["details"]
        self.assertEqual(d["client_id"], "admin")
        self.assertEqual(d["tenant"], "acme")
        self.assertEqual(d["scope"], ["orch:read", "orch:quota"])
        self.assertEqual(d["outcome"], "granted")
        self.assertEqual(d["jti"], c["jti"])
        self.assertEqual(d["quota.reason"], "black friday scan surge")
        self.assertEqual(d["quota.ticket"], "OPS-4411")
        self.assertEqual(harness.entry_hash(e), e["hash"])

    def test_audit_scope_as_requested_and_operator_keys(self):
        reader = self.reader()
        st, js, _ = self.srv.token("operator", scope="orch:operate orch:read orch:operate",
                                   operator_reason="drain", operator_ticket="INC-1")
        self.assertEqual(st, 200, js)
        d = self.find_grant(reader, claims_of(js["access_token"])["jti"])
        self.assertEqual(d["details"]["scope"], ["orch:operate", "orch:read", "orch:operate"])
        self.assertEqual(d["details"]["request.reason"], "drain")
        self.assertEqual(d["details"]["request.ticket"], "INC-1")
        self.assertEqual((d["reason"], d["ticket"]), ("drain", "INC-1"))
        # the first elevated scope requested gives the entry's reason: quota before backfill
        st, js, _ = self.srv.token("admin", scope="orch:backfill orch:quota", quota_reason="q",
                                   backfill_reason="b", backfill_ticket="BT")
        self.assertEqual(st, 200, js)
        e = self.find_grant(reader, claims_of(js["access_token"])["jti"])
        self.assertEqual((e["reason"], e["ticket"]), ("q", None))
        self.assertEqual(e["details"]["backfill.reason"], "b")
        self.assertEqual(e["details"]["backfill.ticket"], "BT")
        self.assertIsNone(e["details"]["quota.ticket"])
        self.assertEqual(e["details"]["scope"], ["orch:backfill", "orch:quota"])

    def test_audit_of_a_refused_request(self):
        reader = self.reader()
        n = self.head(reader)
        self.refused_quota("quota_reason")
        new = self.entries_after(reader, n)
        self.assertEqual(len(new), 1, new)
        e = new[0]
        self.assertEqual(e["sequence"], n + 1)
        self.assertEqual(e["eventType"], GRANT_EVENT)
        self.assertEqual((e["resourceType"], e["resourceId"], e["actorId"], e["actorType"]),
                         ("client", "admin", "admin", "client"))
        d = e["details"]
        self.assertEqual(d["outcome"], "invalid_request")
        self.assertEqual(d["client_id"], "admin")
        self.assertEqual(d["tenant"], "acme")
        self.assertEqual(d["scope"], ["orch:quota"])
        self.assertNotIn("jti", d)
        self.assertIn("quota.reason", d)
        self.assertIsNone(d["quota.reason"])
        self.assertIsNone(e["reason"])
        self.assertTrue(d.get("error_description", "").startswith("quota_reason"), d)

        # a bad ticket: the valid reason is kept, the ticket is null
        n = self.head(reader)
        self.refused_quota("quota_ticket", quota_reason=" valid ", quota_ticket="T" * 129)
        e = self.entries_after(reader, n)[0]
        self.assertEqual(e["details"]["quota.reason"], "valid")
        self.assertIsNone(e["details"]["quota.ticket"])
        self.assertEqual(e["reason"], "valid")
        self.assertIsNone(e["ticket"])

        # no scope at all: details.scope is []
        n = self.head(reader)
        self.assertOAuthError(self.srv.token("viewer"), 400, "invalid_scope")
        e = self.entries_after(reader, n)[0]
        self.assertEqual((e["details"]["scope"], e["details"]["outcome"]), ([], "invalid_scope"))
        # invalid_scope and unsupported_grant_type are audited too
        for resp, outcome in ((lambda: self.srv.token("viewer", scope="orch:quota"),
                               "invalid_scope"),
                              (lambda: self.srv.token("viewer", scope="orch:read",
                                                      grant_type="password"),
                               "unsupported_grant_type")):
            with self.subTest(outcome):
                n = self.head(reader)
                self.assertEqual(resp()[1]["error"], outcome)
                new = self.entries_after(reader, n)
                self.assertEqual([x["details"]["outcome"] for x in new], [outcome])
                self.assertEqual(new[0]["resourceId"], "viewer")

    def test_failed_client_authentication_goes_to_system_chain(self):
        reader = self.reader("acme")
        greader = self.reader("globex")
        n_acme, n_globex = self.head(reader), self.head(greader)
        self.assertOAuthError(self.srv.token("admin", "y" * 43, scope="orch:read",
                                             tenant="acme"), 401, "invalid_client")
        self.assertOAuthError(self.srv.token("ghost", "y" * 43, scope="orch:read",
                                             tenant="acme"), 401, "invalid_client")
        self.assertOAuthError(self.srv.token(None, auth="none", scope="orch:read", tenant="acme"),
                              401, "invalid_client")
        # authenticated, but not allowed for the tenant named: _system too
        self.assertOAuthError(self.srv.token("admin", scope="orch:read", tenant="globex"), 400,
                              "invalid_request")
        # a multi-tenant client naming no tenant: no tenant known, _system
        self.assertOAuthError(self.srv.token("multi", scope="orch:read"), 400, "invalid_request")
        self.assertEqual(self.head(reader), n_acme, "acme's chain must not grow")
        self.assertEqual(self.head(greader), n_globex, "globex's chain must not grow")
        self.assertEqual(self.entries_after(reader, n_acme), [])

    def test_grants_of_other_tenants_are_not_in_the_chain(self):
        reader = self.reader("acme")
        tok = self.srv.grant("multi", "orch:read", tenant="globex")
        jti = claims_of(tok)["jti"]
        acme = self.srv.audit_all(reader)
        self.assertFalse([e for e in acme if e["details"].get("jti") == jti])
        for e in acme:
            self.assertEqual(e["tenantId"], "acme")
        greader = self.reader("globex")
        g = [e for e in self.srv.audit_all(greader) if e["details"].get("jti") == jti]
        self.assertEqual(len(g), 1)
        self.assertEqual(g[0]["tenantId"], "globex")
        self.assertEqual(g[0]["details"]["tenant"], "globex")

    def test_zz_secrets_and_tokens_never_recorded(self):
        """Runs last in the class: every secret and token of every earlier test too."""
        srv = self.srv
        wrong = "WrongSecret-" + "w" * 40
        srv.token("admin", auth="form", scope="orch:quota", quota_reason="r")
        srv.token("admin", wrong, scope="orch:read")
        srv.token("admin", wrong, auth="form", scope="orch:read")
        srv.token("viewer", auth="both", scope="orch:read")
        srv.token("viewer", content_type="text/plain",
                  raw_body=("client_secret=" + srv.secrets["viewer"]).encode())
        srv.introspect("admin", srv.grant("viewer", "orch:read"))
        time.sleep(0.2)  # let the log lines land
        secrets = list(srv.secrets.values()) + [wrong]
        basics = [harness.basic_auth(c, s).split(" ", 1)[1] for c, s in srv.secrets.items()]
        tokens = list(srv.tokens_seen)
        self.assertTrue(tokens)
        log = srv.log_text()
        for s in secrets + [urllib.parse.quote_plus(s) for s in secrets] + basics:
            self.assertNotIn(s, log, "a client secret is in the server log")
        for t in tokens:
            self.assertNotIn(t, log, "an access token is in the server log")
            self.assertNotIn(t.split(".")[2], log, "a token signature is in the server log")
        for tenant in ("acme", "globex"):
            dump = json.dumps(srv.audit_all(self.reader(tenant)), ensure_ascii=False)
            for s in secrets:
                self.assertNotIn(s, dump, "a client secret is in %s's audit chain" % tenant)
            for t in tokens:
                self.assertNotIn(t, dump, "an access token is in %s's audit chain" % tenant)
        # logs are one JSON object per line
        for line in log.splitlines():
            if line.strip():
                self.assertIsInstance(json.loads(line), dict, line)


class AuthorityConfigTest(ServerTestCase):
    """--issuer, --token-ttl-seconds, --elevated-token-ttl-seconds, and `keys rotate`."""

    def test_ttl_and_issuer_flags(self):
        issuer = "https://auth.example.test"
        srv = self.new_server(ACME_CLIENTS, name="authority-cfg",
                              args=["--issuer", issuer, "--token-ttl-seconds", "120",
                                    "--elevated-token-ttl-seconds", "30"])
        st, js, _ = srv.token("viewer", scope="orch:read")
        self.assertEqual((st, js["expires_in"]), (200, 120), js)
        c = claims_of(js["access_token"])
        self.assertEqual(c["exp"] - c["iat"], 120)
        self.assertEqual(c["iss"], issuer)
        harness.verify_token_independently(srv.url, js["access_token"], issuer=issuer)
        st, _, body = srv.api("GET", "/jobengine/audit?limit=1", js["access_token"])
        self.assertEqual(st, 200, body)
        st, js, _ = srv.token("admin", scope="orch:quota", quota_reason="r")
        self.assertEqual((st, js["expires_in"]), (200, 30), js)
        c = claims_of(js["access_token"])
        self.assertEqual(c["exp"] - c["iat"], 30)
        d = srv.get_json("/.well-known/openid-configuration")
        self.assertEqual(d["issuer"], issuer)
        self.assertEqual(d["token_endpoint"], issuer + "/token")
        self.assertEqual(d["jwks_uri"], issuer + "/jwks")

    def test_keys_rotate(self):
        srv = self.new_server(ACME_CLIENTS, name="authority-rotate")
        jwks = srv.get_json("/jwks")
        self.assertEqual(len(jwks["keys"]), 1, jwks)
        old = srv.grant("viewer", "orch:read")
        kid1 = header_of(old)["kid"]
        self.assertEqual(jwks["keys"][0]["kid"], kid1)
        p = run_cli(["keys", "rotate", "--store", srv.store])
        self.assertEqual(p.returncode, 0, p.stderr)
        t0 = time.monotonic()
        new = None
        while time.monotonic() - t0 < 2.5:
            jwks = srv.get_json("/jwks")
            tok = srv.grant("viewer", "orch:read")
            if len(jwks["keys"]) == 2 and header_of(tok)["kid"] != kid1:
                new = tok
                break
            time.sleep(0.1)
        self.assertIsNotNone(new, "the running server did not pick up the new key in 2.5 s "
                             "(jwks: %r)" % jwks)
        kid2 = header_of(new)["kid"]
        self.assertEqual({k["kid"] for k in jwks["keys"]}, {kid1, kid2})
        harness.verify_token_independently(srv.url, new, issuer=srv.url)
        harness.verify_token_independently(srv.url, old, issuer=srv.url)
        for tok in (old, new):
            st, _, body = srv.api("GET", "/jobengine/audit?limit=1", tok)
            self.assertEqual(st, 200, body)
            st, js, _ = srv.introspect("admin", tok)
            self.assertIs(js.get("active"), True, js)
        # both survive a restart, and the new key stays current
        srv.restart()
        self.assertEqual({k["kid"] for k in srv.get_json("/jwks")["keys"]}, {kid1, kid2})
        self.assertEqual(header_of(srv.grant("viewer", "orch:read"))["kid"], kid2)
        st, _, body = srv.api("GET", "/jobengine/audit?limit=1", old)
        self.assertEqual(st, 200, body)


if __name__ == "__main__":
    unittest.main()
