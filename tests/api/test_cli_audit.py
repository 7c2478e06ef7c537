"""Black-box tests of `jobengine audit` (api.md §3.6, §4): the real binary against a real server,
and offline. list (table and --json, following pages, filters), verify on the server, export to
a file or stdout, offline verify --file --jwks of good and tampered exports, the error form and
exit codes (0 valid; 1 the server refused, could not be reached, or the chain/export is broken;
2 usage errors and unusable files, found before anything is sent)."""

import json
import os
import re
import subprocess
import unittest

import harness
from harness import (GRANT_EVENT, ServerTestCase, canonical_json, export_lines, fetch_export,
                     fetch_jwks, free_port, join_lines, quota_body, run_cli, verify_export,
                     write_json_file)

CLIENTS = [
    ("admin", ["acme"], ["Orch.Admin"]),
    ("viewer", ["acme"], ["Orch.Viewer"]),
    ("worker", ["acme"], ["Orch.Worker"]),
    ("gviewer", ["globex"], ["Orch.Viewer"]),
]
QUOTAS = "/jobengine/quotas"
COLUMNS = ["SEQ", "TIME", "EVENT", "RESOURCE", "ACTOR", "REASON", "TICKET"]


class CliAuditTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        srv = cls.srv = cls.start_class_server(CLIENTS, name="cli-audit")
        admin = srv.grant("admin", "orch:quota", quota_reason="capacity review",
                          quota_ticket="OPS-7")
        st, _, q = srv.api("POST", QUOTAS, admin, body=quota_body("scan", reason="new scanner",
                                                                  ticket="OPS-9"))
        assert st == 201, (st, q)
        cls.quota_id = q["quotaId"]
        for _ in range(12):
            srv.grant("viewer", "orch:read")
        srv.grant("gviewer", "orch:read")
        cls.reader = srv.grant("viewer", "orch:read")
        cls.dir = os.path.join(srv.dir, "files")
        os.makedirs(cls.dir, exist_ok=True)
        cls.jwks = fetch_jwks(srv.url)
        cls.jwks_path = write_json_file(cls.dir, "jwks.json", cls.jwks)

    # -- helpers ----------------------------------------------------------------------------------
    def cli(self, *args, client="viewer", url=None, env=None):
        creds = []
        if client is not None:
            creds = ["--client-id", client, "--client-secret", self.srv.secrets[client]]
        p = run_cli(["audit"] + list(args) + ["--url", url or self.srv.url] + creds, env=env)
        for c in self.srv.secrets.values():
            self.assertNotIn(c, p.stdout + p.stderr, "a client secret was printed")
        return p

    def ok(self, *args, **kw):
        p = self.cli(*args, **kw)
        self.assertEqual(p.returncode, 0, "audit %s: %s%s" % (" ".join(args), p.stdout,
                                                              p.stderr))
        self.assertEqual(p.stderr, "")
        return p

    def usage_error(self, *args, want=None, **kw):
        p = run_cli(["audit"] + list(args), **kw)
        self.assertEqual(p.returncode, 2, "audit %s: %s%s" % (" ".join(args), p.stdout,
                                                              p.stderr))
        self.assertEqual(p.stdout, "")
        self.assertTrue(p.stderr.startswith("jobengine audit"), p.stderr)
        if want:
            self.assertIn(want, p.stderr)
        return p

    def offline(self, path, jwks_path=None, *more):
        return run_cli(["audit", "verify", "--file", path, "--jwks", jwks_path or self.jwks_path]
                       + list(more))

    def write(self, name, data):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def entries(self):
        return self.srv.audit_all(self.reader)

    # -- list -------------------------------------------------------------------------------------
    def test_list_table(self):
        p = self.ok("list")
        rows = p.stdout.splitlines()
        self.assertEqual(rows[0].split(), COLUMNS)
        entries = self.entries()
        self.assertEqual(len(rows) - 1, len(entries), "one row per entry, the CLI's own grant too")
        starts = [rows[0].index(c) for c in COLUMNS]
        for row, e in zip(rows[1:], entries):
            cells = [row[a:b].strip() for a, b in zip(starts, starts[1:] + [None])]
            resource = e["resourceType"] + ("/" + e["resourceId"] if e["resourceId"] else "")
            self.assertEqual(cells, [str(e["sequence"]), e["occurredAt"], e["eventType"],
                                     resource, e["actorId"] or "-", e["reason"] or "-",
                                     e["ticket"] or "-"], row)
        created = [r for r in rows if "quota.created" in r]
        self.assertEqual(len(created), 1)
        self.assertIn("quota/" + self.quota_id, created[0])
        self.assertIn("new scanner", created[0])
        self.assertIn("OPS-9", created[0])
        self.assertNotIn("gviewer", p.stdout)

    def test_list_json_follows_pages(self):
        p = self.ok("list", "--json", "--limit", "3")
        doc = json.loads(p.stdout)
        self.assertEqual(list(doc), ["items", "continuationToken"])
        self.assertIsNone(doc["continuationToken"])
        entries = self.entries()
        self.assertEqual(doc["items"], entries[:len(doc["items"])])
        self.assertEqual(len(doc["items"]), len(entries))
        self.assertGreater(len(entries), 6, "several pages of 3")
        for e in doc["items"]:
            self.assertEqual(e["hash"], harness.entry_hash(e))

    def test_list_filters(self):
        p = self.ok("list", "--json", "--event-type", "quota.created")
        items = json.loads(p.stdout)["items"]
        self.assertEqual([e["eventType"] for e in items], ["quota.created"])
        p = self.ok("list", "--json", "--resource-type", "quota", "--resource-id", self.quota_id)
        self.assertEqual([e["resourceId"] for e in json.loads(p.stdout)["items"]],
                         [self.quota_id])
        p = self.ok("list", "--json", "--actor", "admin", "--event-type", GRANT_EVENT)
        items = json.loads(p.stdout)["items"]
        self.assertEqual([(e["actorId"], e["reason"]) for e in items],
                         [("admin", "capacity review")])
        entries = self.entries()
        mid = entries[len(entries) // 2]
        p = self.ok("list", "--json", "--since", mid["occurredAt"], "--until",
                    entries[-1]["occurredAt"])
        items = json.loads(p.stdout)["items"]
        self.assertTrue(items)
        self.assertTrue(all(mid["occurredAt"] <= e["occurredAt"] < entries[-1]["occurredAt"]
                            for e in items))
        p = self.ok("list", "--event-type", "backfill.created")
        self.assertEqual(p.stdout, "no audit entries\n")

    def test_list_of_another_tenant(self):
        p = self.ok("list", "--json", client="gviewer")
        items = json.loads(p.stdout)["items"]
        self.assertTrue(items)
        self.assertEqual({e["tenantId"] for e in items}, {"globex"})

    def test_list_usage_errors(self):
        url = ["--url", "http://127.0.0.1:9", "--token", "x"]  # never reached
        for args, want in ((["--limit", "0"], "--limit"), (["--limit", "501"], "--limit"),
                           (["--limit", "x"], "--limit"), (["--since", "yesterday"], "--since"),
                           (["--until", "2026-13-01T00:00:00Z"], "--until"),
                           (["--event-type", ""], "--event-type"),
                           (["--bogus"], "unknown option"), (["extra"], "usage")):
            with self.subTest(args):
                self.usage_error("list", *(args + url), want=want)

    def test_list_refused_and_unreachable(self):
        tok = self.srv.grant("worker", "orch:jobs")
        p = run_cli(["audit", "list", "--url", self.srv.url, "--token", tok])
        self.assertEqual(p.returncode, 1)
        self.assertTrue(p.stderr.startswith("jobengine audit list: SCOPE_REQUIRED: "), p.stderr)
        p = run_cli(["audit", "list", "--url", "http://127.0.0.1:%d" % free_port(), "--token",
                     tok])
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot reach", p.stderr)
        p = run_cli(["audit", "list", "--url", self.srv.url])  # no credentials
        self.assertEqual(p.returncode, 2)
        self.assertIn("no credentials", p.stderr)

    # -- verify on the server --------------------------------------------------------------------
    def test_verify_on_the_server(self):
        p = self.ok("verify")
        v = self.srv.audit_verify(self.reader)
        self.assertEqual(p.stdout, "valid: %d entries, head %d %s\n"
                         % (v["entries"], v["headSequence"], v["headHash"]))
        p = run_cli(["audit", "verify", "--json", "--url", self.srv.url, "--token", self.reader])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout), v)

    # -- export and offline verify ---------------------------------------------------------------
    def test_export_to_a_file_then_verify_offline(self):
        path = os.path.join(self.dir, "acme.ndjson")
        p = self.ok("export", "--output", path)
        with open(path, "rb") as f:
            data = f.read()
        lines = export_lines(data)
        n = len(lines) - 1
        self.assertEqual(p.stdout, "exported %d entries and a checkpoint to %s\n" % (n, path))
        self.assertEqual([os.path.basename(f) for f in os.listdir(self.dir)
                          if "partial" in f], [], "no temporary file left")
        r = verify_export(data, self.jwks)
        self.assertTrue(r["valid"], r)
        self.assertEqual(r["checkpoint"]["headSequence"], n)
        kid = r["checkpoint"]["kid"]
        # the offline check needs no server: a URL nobody listens on changes nothing
        p = run_cli(["audit", "verify", "--file", path, "--jwks", self.jwks_path, "--url",
                     "http://127.0.0.1:%d" % free_port()], env={"JOBENGINE_URL": "http://x:1"})
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stdout, "valid: %d entries (sequences 1..%d) of tenant acme, "
                         "checkpoint signed by %s\n" % (n, n, kid))
        self.assertEqual(p.stderr, "")
        p = self.offline(path, None, "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout), {
            "valid": True, "entries": n, "fromSequence": 1, "headSequence": n,
            "headHash": r["checkpoint"]["headHash"], "tenantId": "acme", "kid": kid})
        # '-': the export from stdin
        p = subprocess.run([harness.BIN, "audit", "verify", "--file", "-", "--jwks",
                            self.jwks_path], input=data, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=harness.clean_env(), timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.startswith(b"valid: %d entries" % n), p.stdout)

    def test_export_to_stdout_from_a_sequence(self):
        p = self.ok("export", "--from-sequence", "3")
        lines = export_lines(p.stdout)
        first = json.loads(lines[0])
        self.assertEqual(first["sequence"], 3)
        cp = json.loads(lines[-1])["checkpoint"]
        self.assertEqual(cp["fromSequence"], 3)
        path = self.write("from3.ndjson", p.stdout.encode())
        p = self.offline(path)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stdout, "valid: %d entries (sequences 3..%d) of tenant acme, "
                         "checkpoint signed by %s\n"
                         % (len(lines) - 1, cp["headSequence"], cp["kid"]))

    def test_export_refused(self):
        head = self.srv.audit_verify(self.reader)["headSequence"]
        path = os.path.join(self.dir, "refused.ndjson")
        p = run_cli(["audit", "export", "--from-sequence", str(head + 5), "--output", path,
                     "--url", self.srv.url, "--token", self.reader])
        self.assertEqual(p.returncode, 1)
        self.assertTrue(p.stderr.startswith("jobengine audit export: VALIDATION_FAILED: "),
                        p.stderr)
        self.assertFalse(os.path.exists(path), "nothing is written when the server refuses")
        self.assertEqual([f for f in os.listdir(self.dir) if f.startswith("refused")], [])
        # head + 1: only the checkpoint
        p = run_cli(["audit", "export", "--from-sequence", str(head + 1), "--url", self.srv.url,
                     "--token", self.reader])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(export_lines(p.stdout)), 1)
        path = self.write("empty-range.ndjson", p.stdout.encode())
        p = self.offline(path)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertTrue(p.stdout.startswith("valid: 0 entries (the range from sequence %d is "
                                            "empty) of tenant acme" % (head + 1)), p.stdout)

    def test_export_usage_errors(self):
        url = ["--url", "http://127.0.0.1:9", "--token", "x"]
        for args, want in ((["--from-sequence", "0"], "--from-sequence"),
                           (["--from-sequence", "-3"], "--from-sequence"),
                           (["--from-sequence", "abc"], "--from-sequence"),
                           (["--output", ""], "--output"), (["--json"], "--json"),
                           (["--output", "/nonexistent-dir/x.ndjson"], "cannot write")):
            with self.subTest(args):
                self.usage_error("export", *(args + url), want=want)

    def test_offline_verify_of_tampered_exports(self):
        data = fetch_export(self.srv, self.reader)
        L = export_lines(data)
        n = len(L) - 1
        e = json.loads(L[4])
        e["reason"] = "nothing to see"
        cases = [
            ("changed", L[:4] + [canonical_json(e)] + L[5:], 5, 5),
            ("deleted", L[:2] + L[3:], 3, 3),
            ("reordered", L[:1] + [L[2], L[1]] + L[3:], 2, 2),
            ("truncated", L[:-3] + L[-1:], n - 1, n - 1),
            ("appended", L + [L[0]], n + 2, None),
            ("no checkpoint", L[:-1], n, None),
        ]
        for what, lines, line, seq in cases:
            with self.subTest(what):
                path = self.write("tampered-%s.ndjson" % what.replace(" ", "-"),
                                  join_lines(lines))
                p = self.offline(path)
                self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
                self.assertEqual(p.stderr, "")
                m = re.match(r"^line (\d+): (.+)$", p.stdout.rstrip("\n"))
                self.assertIsNotNone(m, p.stdout)
                self.assertEqual(int(m.group(1)), line, p.stdout)
                if seq is None:
                    self.assertNotIn("BROKEN", p.stdout)
                else:
                    self.assertTrue(p.stdout.endswith("; BROKEN at sequence %d\n" % seq),
                                    p.stdout)
                p = self.offline(path, None, "--json")
                self.assertEqual(p.returncode, 1)
                doc = json.loads(p.stdout)
                self.assertEqual((doc["valid"], doc["line"], doc["firstBrokenSequence"]),
                                 (False, line, seq), doc)
                self.assertTrue(doc["message"])
        # a key that did not sign it
        other = {"keys": [dict(k, x=harness.b64url_encode(b"\x02" * 32))
                          for k in self.jwks["keys"]]}
        p = self.offline(self.write("good.ndjson", data), write_json_file(self.dir, "other.json",
                                                                          other))
        self.assertEqual(p.returncode, 1)
        self.assertTrue(p.stdout.startswith("line %d: " % (n + 1)), p.stdout)
        self.assertIn("signature", p.stdout)
        # an empty file is not a valid export
        p = self.offline(self.write("empty.ndjson", b""))
        self.assertEqual(p.returncode, 1)
        self.assertTrue(p.stdout.startswith("line 1: "), p.stdout)

    def test_offline_usage_errors_and_unusable_files(self):
        good = self.write("usage.ndjson", fetch_export(self.srv, self.reader))
        missing = os.path.join(self.dir, "missing.ndjson")
        not_json = self.write("not-json.json", b"{\"keys\": [")
        no_keys = write_json_file(self.dir, "no-keys.json", {"keys": []})
        rsa_only = write_json_file(self.dir, "rsa.json", {"keys": [
            {"kty": "RSA", "kid": "r1", "n": "AQAB", "e": "AQAB"}]})
        bare = write_json_file(self.dir, "bare.json", self.jwks["keys"][0])
        for args, want in (
                (["--file", good], "--jwks"),
                (["--jwks", self.jwks_path], "--file"),
                (["--file", missing, "--jwks", self.jwks_path], "cannot read"),
                (["--file", self.dir, "--jwks", self.jwks_path], "directory"),
                (["--file", good, "--jwks", missing], "cannot read"),
                (["--file", good, "--jwks", not_json], "not a JWKS"),
                (["--file", good, "--jwks", bare], "not a JWKS"),
                (["--file", good, "--jwks", no_keys], "no OKP/Ed25519"),
                (["--file", good, "--jwks", rsa_only], "no OKP/Ed25519"),
                (["--file", "-", "--jwks", "-"], "stdin"),
                (["--file"], "needs a value")):
            with self.subTest(args):
                self.usage_error("verify", *args, want=want)

    def test_command_usage(self):
        p = run_cli(["audit"])
        self.assertEqual(p.returncode, 2)
        self.assertIn("usage: jobengine audit list", p.stderr)
        p = run_cli(["audit", "--help"])
        self.assertEqual(p.returncode, 0)
        self.assertIn("jobengine audit export", p.stdout)
        for sub in ("list", "verify", "export"):
            p = run_cli(["audit", sub, "--help"])
            self.assertEqual(p.returncode, 0)
            self.assertTrue(p.stdout.startswith("usage: jobengine audit " + sub), p.stdout)
        self.usage_error("frobnicate", want="unknown subcommand")
        self.usage_error("--json", want="the subcommand comes first")
        p = run_cli(["--help"])
        self.assertIn("audit", p.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
