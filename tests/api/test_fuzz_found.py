"""The defects the fuzz targets of tests/fuzz found (tests/fuzz/README.md, "Found and fixed"),
tried against a real server: a job payload holding 1e20 comes back as sent, through the API and
the CLI; a malformed body whose error text would quote a lone byte of a UTF-8 sequence is a 400
(and the refusal of a quota change is audited); a request whose method is not UTF-8 is a 405; an
id in the path, an audit filter or a continuation token that is not UTF-8 is a 404 or a 400 (on
PostgreSQL, which refuses such text, they were 503 STORE_UNAVAILABLE, quoting the SQL). Each
answered differently before its fix. unit.test_fuzz_found replays the first inputs against the
functions themselves."""

import json
import socket
import unittest
import urllib.parse

from harness import JOBS, ServerTestCase, job_path, run_cli, verify_chain

CLIENTS = [("admin", ["acme"], ["Orch.Admin"]), ("worker", ["acme"], ["Orch.Worker"])]


class FuzzFoundTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(CLIENTS, name="fuzzfound")
        cls.work = cls.srv.grant("worker", "orch:read orch:jobs")
        cls.quota = cls.srv.grant("admin", "orch:quota orch:read", quota_reason="fuzz found")

    def test_payload_beyond_int64_reads_back(self):
        body = b'{"jobType":"build","payload":{"big":[1e20,-2.5e20,9223372036854775807]}}'
        st, _, job = self.srv.api("POST", JOBS, self.work,
                                  {"Content-Type": "application/json"}, body)
        self.assertEqual(st, 201, job)
        want = {"big": [10 ** 20, -25 * 10 ** 19, 9223372036854775807]}
        self.assertEqual(job["payload"], want)  # was null
        st, _, got = self.srv.api("GET", job_path(job["jobId"]), self.work)
        self.assertEqual(st, 200, got)
        self.assertEqual(got["payload"], want)
        p = run_cli(["job", "get", job["jobId"]],
                    env={"JOBENGINE_URL": self.srv.url, "JOBENGINE_TOKEN": self.work})
        self.assertEqual(p.returncode, 0, p.stderr)  # the CLI reads the reply too
        self.assertIn("100000000000000000000", p.stdout)

    def assert_400_body(self, path, token, body):
        st, _, js = self.srv.api("POST", path, token, {"Content-Type": "application/json"}, body)
        self.assertEqual(st, 400, js)  # was 500 INTERNAL
        self.assertEqual(js["error"]["code"], "VALIDATION_FAILED", js)
        self.assertEqual(js["error"]["details"]["field"], "body", js)
        json.dumps(js, ensure_ascii=False).encode("utf-8")  # valid UTF-8 throughout
        return js

    def test_malformed_body_is_400(self):
        # jansson's error text quotes "\u00e" and the lone byte 0xc7 after it
        body = b'{"rtick\\u00e\xc7\x96t":"N42"}'
        js = self.assert_400_body(JOBS, self.work, body)
        self.assertIn("malformed JSON", js["error"]["message"])
        before = len(self.srv.audit_all(self.quota))
        self.assert_400_body("/jobengine/quotas", self.quota, body)
        entries = self.srv.audit_all(self.quota)
        self.assertEqual(len(entries), before + 1)  # the refusal is audited (was 503 or 500)
        self.assertEqual(entries[-1]["eventType"], "quota.change.denied")
        self.assertTrue(verify_chain(entries))

    def test_method_not_utf8_is_405(self):
        u = urllib.parse.urlsplit(self.srv.url)
        with socket.create_connection((u.hostname, u.port), timeout=10) as s:
            s.sendall(b"GE\xaf /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            raw = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                raw += chunk
        head, _, body = raw.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 405"), raw)  # was 500
        js = json.loads(body.decode("utf-8"))
        self.assertEqual(js["error"]["code"], "METHOD_NOT_ALLOWED", js)
        self.assertEqual(js["error"]["message"], "GE? is not allowed here; allowed: GET", js)

    def test_not_utf8_in_ids_and_filters(self):
        for method, path in [("GET", "/jobengine/quotas/%DF"), ("GET", "/jobengine/jobs/%DF"),
                             ("GET", "/jobengine/backfills/q%DF1"),
                             ("POST", "/jobengine/jobs/%DF/heartbeat")]:
            body = {"leaseId": "x"} if method == "POST" else None
            st, _, js = self.srv.api(method, path, self.work, body=body)
            self.assertEqual(st, 404, (path, js))  # was 503 on PostgreSQL
        for name in ["eventType", "resourceType", "resourceId", "actor"]:
            st, _, js = self.srv.api("GET", "/jobengine/audit?%s=%%DF" % name, self.work)
            self.assertEqual(st, 400, (name, js))  # was 503 on PostgreSQL, 200 on SQLite
            self.assertEqual(js["error"]["details"]["field"], name, js)
        # "c2:" and the byte 0xdf: a continuation token this server never wrote
        st, _, js = self.srv.api("GET", "/jobengine/quotas?continuationToken=YzI63w", self.work)
        self.assertEqual(st, 400, js)
        self.assertEqual(js["error"]["details"]["field"], "continuationToken", js)


if __name__ == "__main__":
    unittest.main()
