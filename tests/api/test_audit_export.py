"""Black-box tests of the audit export and of tamper detection (api.md §3.6, domain.md §6).

GET /jobengine/audit/export streams NDJSON: the entries from fromSequence to the head, then one
checkpoint line signed at export time with a key published in /jwks. An independent verifier
(harness.verify_export: Python's hashlib, the harness's JCS, python3-cryptography's Ed25519)
checks every hash, link, gapless sequence, that the last entry is the checkpoint's head and the
signature; `jobengine audit verify --file --jwks` must agree with it, on the real export and on
tampered copies of it (each change, removal, reordering, addition, truncation and forgery is
found by both, at the same line).

The stored chain is tampered with too, through SQL on the store (its SQLite file, or its
PostgreSQL database) while the server is stopped: GET /jobengine/audit/verify must report the first broken sequence, and a tail cut off
below a stored signed checkpoint (serve --checkpoint-every-entries) is found as well. Exports
made before and after `jobengine keys rotate` both verify against /jwks."""

import json
import os
import time
import unittest
import urllib.parse

import harness
from harness import (GRANT_EVENT, TIME_RE, ZERO_HASH, ServerTestCase, b64url_decode,
                     canonical_json, entry_hash, export_lines, fetch_export, fetch_jwks,
                     http_get_raw, join_lines, quota_body, run_cli, store_connect,
                     stored_checkpoint_heads, verify_export, wait_until, write_json_file)

CLIENTS = [
    ("admin", ["acme"], ["Orch.Admin"]),
    ("viewer", ["acme"], ["Orch.Viewer"]),
    ("worker", ["acme"], ["Orch.Worker"]),
    ("gadmin", ["globex"], ["Orch.Admin"]),
    ("gviewer", ["globex"], ["Orch.Viewer"]),
]
QUOTAS = "/jobengine/quotas"
EXPORT = "/jobengine/audit/export"
GRANTS = 1030  # > 2 x 512: the export crosses the server's internal pages


def cli_verify(directory, data, jwks, name="export.ndjson"):
    """Writes data and jwks into directory and runs the offline verifier on them."""
    path = os.path.join(directory, name)
    with open(path, "wb") as f:
        f.write(data)
    jwks_path = write_json_file(directory, name + ".jwks.json", jwks)
    return run_cli(["audit", "verify", "--file", path, "--jwks", jwks_path])


class ExportCase(ServerTestCase):
    """Assertions shared by the classes below."""

    def assertBothValid(self, data, jwks, entries, first, head, tenant, kid, directory):
        r = verify_export(data, jwks)
        self.assertTrue(r["valid"], r)
        self.assertEqual(r["entries"], entries)
        p = cli_verify(directory, data, jwks)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stderr, "")
        if entries:
            want = "valid: %d entries (sequences %d..%d) of tenant %s, checkpoint signed by %s\n" \
                % (entries, first, head, tenant, kid)
        else:
            want = ("valid: 0 entries (the range from sequence %d is empty) of tenant %s, "
                    "checkpoint signed by %s\n" % (first, tenant, kid))
        self.assertEqual(p.stdout, want)

    def assertBothBroken(self, data, jwks, line, seq, directory, what=""):
        """The independent verifier and the CLI both refuse data at line (and sequence seq, or
        None when the problem is not a break in the chain)."""
        r = verify_export(data, jwks)
        self.assertFalse(r["valid"], "%s: the independent verifier accepted it" % what)
        self.assertEqual((r["line"], r["firstBrokenSequence"]), (line, seq),
                         "%s: independent verifier: %r" % (what, r))
        p = cli_verify(directory, data, jwks)
        self.assertEqual(p.returncode, 1, "%s: %s%s" % (what, p.stdout, p.stderr))
        self.assertEqual(p.stderr, "", what)
        self.assertTrue(p.stdout.startswith("line %d: " % line), "%s: %r" % (what, p.stdout))
        if seq is not None:
            self.assertIn("BROKEN at sequence %d" % seq, p.stdout, what)
        else:
            self.assertNotIn("BROKEN", p.stdout, what)
        self.assertEqual(p.stdout.count("\n"), 1, p.stdout)


class ExportTest(ExportCase):
    @classmethod
    def setUpClass(cls):
        srv = cls.srv = cls.start_class_server(CLIENTS, name="audit-export")
        admin = srv.grant("admin", "orch:quota", quota_reason="capacity review",
                          quota_ticket="OPS-7")
        st, _, q = srv.api("POST", QUOTAS, admin, body=quota_body("scan", refill=0.5))
        assert st == 201, (st, q)
        st, _, b = srv.api("POST", QUOTAS, admin, body=quota_body("build"))
        assert st == 201, (st, b)
        for method, path, body in (
                ("PUT", QUOTAS + "/" + q["quotaId"], {"maxActive": 20, "refillPerSecond": 2,
                                                      "reason": "black friday", "ticket": "OPS-8"}),
                ("POST", QUOTAS + "/" + q["quotaId"] + "/pause", {"reason": "incident 😀"}),
                ("POST", QUOTAS + "/" + q["quotaId"] + "/resume", None),
                ("DELETE", QUOTAS + "/" + b["quotaId"], None)):
            st, _, js = srv.api(method, path, admin, body=body)
            assert st in (200, 204), (method, path, st, js)
        gadmin = srv.grant("gadmin", "orch:quota", quota_reason="globex setup")
        st, _, js = srv.api("POST", QUOTAS, gadmin, body=quota_body("scan"))
        assert st == 201, (st, js)
        for i in range(GRANTS):
            srv.grant("viewer", "orch:read")
            if i % 100 == 0:
                srv.grant("gviewer", "orch:read")
        cls.reader = srv.grant("viewer", "orch:read")
        cls.greader = srv.grant("gviewer", "orch:read")
        cls.jwks = fetch_jwks(srv.url)
        cls.head = srv.audit_verify(cls.reader)["headSequence"]
        cls.export = fetch_export(srv, cls.reader)
        cls.lines = export_lines(cls.export)
        cls.kid = json.loads(cls.lines[-1])["checkpoint"]["kid"]

    def tmpdir(self):
        d = os.path.join(self.srv.dir, "files", self.id().rsplit(".", 1)[-1])
        os.makedirs(d, exist_ok=True)
        return d

    # -- the real export ---------------------------------------------------------------------------
    def test_export_shape(self):
        data, lines, head = self.export, self.lines, self.head
        self.assertTrue(data.endswith(b"\n"), "every line ends with LF")
        self.assertNotIn(b"\r", data)
        self.assertGreater(head, GRANTS)
        self.assertEqual(len(lines), head + 1)
        entries = [json.loads(x) for x in lines[:-1]]
        self.assertEqual([e["sequence"] for e in entries], list(range(1, head + 1)))
        for line, e in zip(lines, entries):
            self.assertEqual(set(e), harness.ENTRY_KEYS)
            self.assertEqual(e["tenantId"], "acme")
            self.assertEqual(line, canonical_json(e), "an entry line is its JCS form")
        # exactly the entries GET /jobengine/audit lists
        self.assertEqual(self.srv.audit_all(self.reader), entries)
        events = {e["eventType"] for e in entries}
        self.assertTrue({GRANT_EVENT, "quota.created", "quota.updated", "quota.paused",
                         "quota.resumed", "quota.deleted"} <= events, events)
        updated = [e for e in entries if e["eventType"] == "quota.updated"][0]
        self.assertEqual(updated["details"]["after"]["refillPerSecond"], "2")
        self.assertEqual(updated["details"]["before"]["refillPerSecond"], "0.5")
        # the checkpoint line
        doc = json.loads(lines[-1])
        self.assertEqual(lines[-1], canonical_json(doc), "the checkpoint line is JCS too")
        self.assertEqual(set(doc), {"checkpoint", "signature"})
        cp = doc["checkpoint"]
        self.assertEqual(set(cp), harness.CHECKPOINT_KEYS)
        self.assertEqual(cp["tenantId"], "acme")
        self.assertEqual(cp["fromSequence"], 1)
        self.assertEqual(cp["fromPreviousHash"], ZERO_HASH)
        self.assertEqual(cp["headSequence"], head)
        self.assertEqual(cp["headHash"], entries[-1]["hash"])
        self.assertRegex(cp["issuedAt"], TIME_RE)
        issued = harness.parse_time_ms(cp["issuedAt"])
        self.assertLess(abs(issued - harness.now_ms()), 120000)
        self.assertIn(cp["kid"], [k["kid"] for k in self.jwks["keys"]])
        self.assertRegex(doc["signature"], r"^[A-Za-z0-9_-]{86}$", "unpadded base64url")
        self.assertEqual(len(b64url_decode(doc["signature"])), 64)

    def test_export_is_stable(self):
        """Two exports of an unchanged chain hold the same entries; fromSequence=1 and an empty
        fromSequence are the default."""
        for q in (None, 1, ""):
            with self.subTest(fromSequence=q):
                lines = export_lines(fetch_export(self.srv, self.reader, q))
                self.assertEqual(lines[:-1], self.lines[:-1])
                cp = json.loads(lines[-1])["checkpoint"]
                self.assertEqual((cp["fromSequence"], cp["headSequence"]), (1, self.head))

    def test_independent_verifier_and_cli_agree(self):
        self.assertBothValid(self.export, self.jwks, self.head, 1, self.head, "acme", self.kid,
                             self.tmpdir())
        self.assertEqual(verify_export(self.export, self.jwks)["checkpoint"]["headHash"],
                         json.loads(self.lines[-2])["hash"])

    def test_tampering_is_detected(self):
        L, n = self.lines, self.head  # entries on lines 1..n, the checkpoint on line n + 1
        m = n // 2

        def changed(i, **members):
            e = json.loads(L[i - 1])
            for k, v in members.items():
                if k == "outcome":
                    e["details"]["outcome"] = v
                else:
                    e[k] = v
            return L[:i - 1] + [canonical_json(e)] + L[i:]

        def rehashed(i):
            e = json.loads(L[i - 1])
            e["actorId"] = "mallory"
            e["hash"] = entry_hash(e)
            return L[:i - 1] + [canonical_json(e)] + L[i:]

        def forged(lines, **members):
            doc = json.loads(lines[-1])
            doc["checkpoint"].update(members)
            return lines[:-1] + [canonical_json(doc)]

        last = json.loads(L[-2])
        before_last = json.loads(L[-3])
        globex_cp = export_lines(fetch_export(self.srv, self.greader))[-1]
        cases = [
            ("a field of one entry changed", changed(m, actorId="mallory"), m, m),
            ("a detail of one entry changed", changed(m, outcome="invalid_client"), m, m),
            ("the first entry changed", changed(1, reason="x"), 1, 1),
            ("an entry changed and re-hashed", rehashed(m), m + 1, m + 1),
            ("the first entry deleted", L[1:], 1, 1),
            ("a middle entry deleted", L[:m - 1] + L[m:], m, m),
            ("the last entry deleted", L[:-2] + L[-1:], n, n),
            ("two entries reordered", L[:m - 1] + [L[m], L[m - 1]] + L[m + 1:], m, m),
            ("an entry appended after the checkpoint", L + [L[0]], n + 2, None),
            ("an entry line added before the checkpoint", L[:-1] + [L[-2]] + L[-1:], n + 1,
             n + 1),
            ("the tail truncated", L[:-4] + L[-1:], n - 2, n - 2),
            ("the checkpoint forged to a shorter head",
             forged(L[:-2] + L[-1:], headSequence=n - 1, headHash=before_last["hash"]), n, None),
            ("the checkpoint's headHash forged",
             forged(L, headHash=before_last["hash"]), n + 1, None),
            ("the checkpoint's tenant forged", forged(L, tenantId="globex"), n + 1, None),
            ("the checkpoint dropped", L[:-1], n, None),
            ("another tenant's valid checkpoint", L[:-1] + [globex_cp], 1, 1),
            ("a blank line inserted", L[:m - 1] + [""] + L[m - 1:], m, m),
        ]
        self.assertEqual(last["sequence"], n)
        d = self.tmpdir()
        for what, lines, line, seq in cases:
            with self.subTest(what):
                self.assertBothBroken(join_lines(lines), self.jwks, line, seq, d, what)

    def test_crlf_line_endings_verify(self):
        """The chain covers the entries' values, not the bytes between them: a CR before each LF
        is JSON whitespace, so both verifiers accept an export whose line endings were
        converted (documented choice)."""
        data = self.export.replace(b"\n", b"\r\n")
        self.assertBothValid(data, self.jwks, self.head, 1, self.head, "acme", self.kid,
                             self.tmpdir())

    def test_wrong_keys(self):
        other = {"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": self.kid, "use": "sig",
                           "alg": "EdDSA", "x": harness.b64url_encode(b"\x01" * 32)}]}
        d = self.tmpdir()
        self.assertBothBroken(self.export, other, self.head + 1, None, d, "a key of that kid "
                              "that did not sign it")
        renamed = {"keys": [dict(k, kid="someone-else") for k in self.jwks["keys"]]}
        self.assertBothBroken(self.export, renamed, self.head + 1, None, d, "no key of that kid")

    # -- ranges -----------------------------------------------------------------------------------
    def test_partial_export_from_a_middle_sequence(self):
        m = self.head // 2
        data = fetch_export(self.srv, self.reader, m)
        lines = export_lines(data)
        self.assertEqual(lines[:-1], self.lines[m - 1:-1])
        cp = json.loads(lines[-1])["checkpoint"]
        self.assertEqual(cp["fromSequence"], m)
        self.assertEqual(cp["fromPreviousHash"], json.loads(self.lines[m - 2])["hash"])
        self.assertEqual(cp["headSequence"], self.head)
        d = self.tmpdir()
        self.assertBothValid(data, self.jwks, self.head - m + 1, m, self.head, "acme", self.kid,
                             d)
        self.assertBothBroken(join_lines(lines[1:]), self.jwks, 1, m, d, "partial, first deleted")
        self.assertBothBroken(join_lines(self.lines[m - 2:-1] + lines[-1:]), self.jwks, 1, m, d,
                              "partial with one entry too many in front")

    def test_from_sequence_bounds(self):
        for bad in ("0", "-1", "x", "1.5", "+1", " 1", "1x", "0x10", str(self.head + 2),
                    "99999999999999999999"):
            with self.subTest(fromSequence=bad):
                st, hdrs, body = http_get_raw(self.srv.url, EXPORT + "?fromSequence="
                                              + urllib.parse.quote(bad, safe=""),
                                              self.reader)
                resp = (st, hdrs, json.loads(body) if body[:1] == b"{" else body)
                err = self.assertEnvelope(resp, 400, "VALIDATION_FAILED")
                self.assertEqual(err["details"].get("field"), "fromSequence", err)
        # head + 1: an empty range, only the checkpoint
        data = fetch_export(self.srv, self.reader, self.head + 1)
        lines = export_lines(data)
        self.assertEqual(len(lines), 1, lines)
        cp = json.loads(lines[0])["checkpoint"]
        head_hash = json.loads(self.lines[-2])["hash"]
        self.assertEqual(cp, dict(cp, tenantId="acme", fromSequence=self.head + 1,
                                  fromPreviousHash=head_hash, headSequence=self.head,
                                  headHash=head_hash))
        self.assertBothValid(data, self.jwks, 0, self.head + 1, self.head, "acme", self.kid,
                             self.tmpdir())

    # -- access ----------------------------------------------------------------------------------
    def test_tenant_isolation(self):
        g = export_lines(fetch_export(self.srv, self.greader))
        entries = [json.loads(x) for x in g[:-1]]
        self.assertGreater(len(entries), 5)
        self.assertEqual({e["tenantId"] for e in entries}, {"globex"})
        self.assertEqual([e["sequence"] for e in entries], list(range(1, len(entries) + 1)))
        acme_ids = {json.loads(x)["entryId"] for x in self.lines[:-1]}
        self.assertFalse(acme_ids & {e["entryId"] for e in entries})
        self.assertFalse({e["resourceId"] for e in entries} & {"admin", "viewer", "worker"})
        self.assertEqual(json.loads(g[-1])["checkpoint"]["tenantId"], "globex")
        self.assertTrue(verify_export(join_lines(g), self.jwks)["valid"])
        self.assertNotIn(b"globex", b"".join(x.encode() for x in self.lines[:-1]))
        # a globex export beyond globex's head is refused even though acme's is longer
        st, _, _ = http_get_raw(self.srv.url, EXPORT + "?fromSequence=%d" % (len(entries) + 2),
                                self.greader)
        self.assertEqual(st, 400)

    def test_tokens_and_scopes(self):
        st, hdrs, _ = http_get_raw(self.srv.url, EXPORT)
        self.assertEqual(st, 401)
        self.assertIn("Bearer", hdrs.get("WWW-Authenticate") or "")
        jobs_only = self.srv.grant("worker", "orch:jobs")
        st, hdrs, body = http_get_raw(self.srv.url, EXPORT, jobs_only)
        self.assertEnvelope((st, hdrs, json.loads(body)), 403, "SCOPE_REQUIRED")
        st, hdrs, body = http_get_raw(self.srv.url, EXPORT, self.reader,
                                      headers={"X-StellaOps-Tenant": "globex"})
        self.assertEnvelope((st, hdrs, json.loads(body)), 400, "ERR_TENANT_MISMATCH")


SMALL_CLIENTS = [("viewer", ["acme"], ["Orch.Viewer"])]


class StoredChainTest(ExportCase):
    """Tampering with the stored chain (SQL on the store, server stopped)."""

    def server(self, entries, args=()):
        srv = self.new_server(SMALL_CLIENTS, args=list(args), name="audit-stored")
        reader = srv.grant("viewer", "orch:read")  # kept: verify after a restart adds nothing
        for _ in range(entries - 1):
            srv.grant("viewer", "orch:read")
        v = srv.audit_verify(reader)
        self.assertEqual((v["valid"], v["entries"]), (True, entries), v)
        return srv, reader

    def tamper(self, srv, fn):
        srv.stop()
        conn = store_connect(srv)
        try:
            conn.execute("BEGIN")
            fn(conn)
            conn.execute("COMMIT")
        finally:
            conn.close()
        srv.start()

    @staticmethod
    def entry_json(conn, seq):
        return conn.execute("SELECT entry_json FROM audit_entries WHERE tenant_id = 'acme' AND "
                            "sequence = ?", (seq,)).fetchone()[0]

    @staticmethod
    def set_entry_json(conn, seq, text):
        cur = conn.execute("UPDATE audit_entries SET entry_json = ? WHERE tenant_id = 'acme' AND "
                           "sequence = ?", (text, seq))
        assert cur.rowcount == 1

    def assertBroken(self, srv, reader, seq):
        self.assertEqual(srv.audit_verify(reader), {"valid": False, "firstBrokenSequence": seq})
        p = run_cli(["audit", "verify", "--url", srv.url, "--token", reader])
        self.assertEqual((p.returncode, p.stdout), (1, "BROKEN at sequence %d\n" % seq),
                         p.stderr)

    def test_changed_entry(self):
        srv, reader = self.server(8)

        def change(conn):
            e = json.loads(self.entry_json(conn, 3))
            e["actorId"] = "mallory"
            self.set_entry_json(conn, 3, canonical_json(e))
        self.tamper(srv, change)
        self.assertBroken(srv, reader, 3)
        # an export of the tampered store carries the tampered entry: it does not verify either
        d = os.path.join(srv.dir, "files")
        os.makedirs(d, exist_ok=True)
        self.assertBothBroken(fetch_export(srv, reader), fetch_jwks(srv.url), 3, 3, d,
                              "export of a tampered store")

    def test_changed_hash_column_only_is_not_the_chain(self):
        """The hash column is a copy for filtering; the chain is entry_json: changing only the
        column changes nothing verify looks at."""
        srv, reader = self.server(6)
        self.tamper(srv, lambda c: c.execute(
            "UPDATE audit_entries SET hash = ? WHERE tenant_id = 'acme' AND sequence = 2",
            ("f" * 64,)))
        v = srv.audit_verify(reader)
        self.assertTrue(v["valid"], v)

    def test_deleted_middle_entry(self):
        srv, reader = self.server(8)
        self.tamper(srv, lambda c: c.execute(
            "DELETE FROM audit_entries WHERE tenant_id = 'acme' AND sequence = 5"))
        self.assertBroken(srv, reader, 5)

    def test_swapped_entries(self):
        srv, reader = self.server(8)

        def swap(conn):
            a, b = self.entry_json(conn, 3), self.entry_json(conn, 4)
            self.set_entry_json(conn, 3, b)
            self.set_entry_json(conn, 4, a)
        self.tamper(srv, swap)
        self.assertBroken(srv, reader, 3)

    def test_truncated_tail_below_a_stored_checkpoint(self):
        srv = self.new_server(SMALL_CLIENTS, name="audit-cp", args=[
            "--checkpoint-every-entries", "5", "--checkpoint-every-seconds", "3600"])
        reader = srv.grant("viewer", "orch:read")

        def heads():
            return stored_checkpoint_heads(srv, "acme")

        # a chain with no checkpoint gets one at once
        first = wait_until("the first checkpoint", heads, 10)[-1]
        head = srv.audit_verify(reader)["headSequence"]
        self.assertEqual(first, head)
        # four more entries are not enough for the next one, five are
        for _ in range(4):
            srv.grant("viewer", "orch:read")
        time.sleep(1.0)  # four engine ticks
        self.assertEqual(heads(), [first])
        srv.grant("viewer", "orch:read")
        wait_until("the checkpoint at %d" % (first + 5), lambda: first + 5 in heads(), 10)
        # seven more: a checkpoint at >= first + 10 comes, the head is first + 12
        for _ in range(7):
            srv.grant("viewer", "orch:read")
        wait_until("a third checkpoint", lambda: max(heads()) >= first + 10, 10)
        head = first + 12
        v = srv.audit_verify(reader)
        self.assertEqual((v["valid"], v["headSequence"]), (True, head), v)
        self.assertGreaterEqual(head, 12)
        # the last four entries removed: three are below the last stored checkpoint
        self.tamper(srv, lambda c: c.execute(
            "DELETE FROM audit_entries WHERE tenant_id = 'acme' AND sequence > ?", (head - 4,)))
        self.assertBroken(srv, reader, head - 3)


class KeyRotationTest(ExportCase):
    def test_exports_before_and_after_rotation_verify(self):
        srv = self.new_server(SMALL_CLIENTS, name="audit-keys", args=[
            "--checkpoint-every-entries", "5", "--checkpoint-every-seconds", "3600"])
        reader = srv.grant("viewer", "orch:read")
        for _ in range(9):
            srv.grant("viewer", "orch:read")
        wait_until("a stored checkpoint", lambda: stored_checkpoint_heads(srv, "acme"), 10)
        jwks1 = fetch_jwks(srv.url)
        old = fetch_export(srv, reader)
        kid1 = json.loads(export_lines(old)[-1])["checkpoint"]["kid"]
        self.assertEqual([k["kid"] for k in jwks1["keys"]], [kid1])
        p = run_cli(["keys", "rotate", "--store", srv.store, "--json"], check=True)
        kid2 = json.loads(p.stdout)["kid"]
        self.assertNotEqual(kid1, kid2)
        for _ in range(6):
            srv.grant("viewer", "orch:read")
        new = wait_until("an export signed by the new key", lambda: (
            lambda d: d if json.loads(export_lines(d)[-1])["checkpoint"]["kid"] == kid2
            else None)(fetch_export(srv, reader)), 5)
        jwks2 = wait_until("/jwks to publish the new key", lambda: (
            lambda j: j if len(j["keys"]) == 2 else None)(fetch_jwks(srv.url)), 5)
        self.assertEqual(sorted(k["kid"] for k in jwks2["keys"]), sorted([kid1, kid2]))
        d = os.path.join(srv.dir, "files")
        os.makedirs(d, exist_ok=True)
        n_old, n_new = len(export_lines(old)) - 1, len(export_lines(new)) - 1
        self.assertBothValid(old, jwks2, n_old, 1, n_old, "acme", kid1, d)
        self.assertBothValid(new, jwks2, n_new, 1, n_new, "acme", kid2, d)
        # the new export against the JWKS fetched before the rotation: the key is unknown
        self.assertBothBroken(new, jwks1, n_new + 1, None, d, "new export, old JWKS")
        # stored checkpoints signed by either key still verify
        def stored_kids():
            conn = store_connect(srv)
            try:
                return {r[0] for r in conn.execute(
                    "SELECT kid FROM audit_checkpoints WHERE tenant_id = 'acme'")}
            finally:
                conn.close()
        wait_until("a stored checkpoint signed by the new key", lambda: kid2 in stored_kids(), 10)
        self.assertIn(kid1, stored_kids())
        v = srv.audit_verify(reader)
        self.assertTrue(v["valid"], v)

    def test_export_signed_right_after_rotation_names_a_published_key(self):
        """domain.md §6: the checkpoint is "signed with a key published in /jwks". An export made
        just after `jobengine keys rotate` must not be signed by a key that /jwks, asked right
        after it, does not publish yet (a verifier fetching /jwks for it would fail)."""
        srv = self.new_server(SMALL_CLIENTS, name="audit-keys-race")
        reader = srv.grant("viewer", "orch:read")  # the server has just read its keys
        p = run_cli(["keys", "rotate", "--store", srv.store, "--json"], check=True)
        kid2 = json.loads(p.stdout)["kid"]
        data = fetch_export(srv, reader)
        jwks = fetch_jwks(srv.url)
        kid = json.loads(export_lines(data)[-1])["checkpoint"]["kid"]
        published = [k["kid"] for k in jwks["keys"]]
        self.assertIn(kid, published, "the export is signed by %s (the new key: %s), /jwks "
                      "publishes %r" % (kid, kid == kid2, published))
        self.assertTrue(verify_export(data, jwks)["valid"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
