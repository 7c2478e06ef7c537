"""GET /metrics (Prometheus text, api.md §3.7) and the JSON-lines logs (architecture.md).

The exposition is parsed line by line with the format's own grammar (no client library): every
sample belongs to a family declared with # HELP and # TYPE, histograms are cumulative, and the
counters move with the traffic this test makes. The logs are one JSON object per line with the
fields operators filter on, and never hold a secret or a token."""

import json
import re
import time
import unittest

from harness import ServerTestCase, http_request

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_exposition(text):
    """{(name, frozenset(labels)): value} plus {family: type}; raises on any malformed line."""
    samples, types, helps = {}, {}, set()
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# HELP "):
            helps.add(line.split()[2])
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), line
            types[name] = kind
            continue
        m = SAMPLE.match(line)
        assert m, "not an exposition line: %r" % line
        labels = frozenset(LABEL.findall(m.group(3) or ""))
        if m.group(3):
            rebuilt = ",".join('%s="%s"' % kv for kv in LABEL.findall(m.group(3)))
            assert rebuilt == m.group(3), "malformed labels: %r" % line
        samples[(m.group(1), labels)] = float(m.group(4))
    for (name, _) in samples:
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        assert family in types, "sample of an undeclared family: %s" % name
        assert family in helps, "family without HELP: %s" % family
    return samples, types


def value(samples, name, **labels):
    want = frozenset(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


class MetricsTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(
            clients=[("admin", ["acme"], ["Orch.Admin"]), ("worker", ["acme"], ["Orch.Worker"])],
            name="metrics", metrics=True)

    def scrape(self):
        st, hdrs, body = self.srv.metrics()
        self.assertEqual(st, 200)
        self.assertTrue(hdrs.get("Content-Type", "").startswith("text/plain"), hdrs)
        return parse_exposition(body if isinstance(body, str) else body.decode())

    def test_counters_move_with_traffic(self):
        before, types = self.scrape()
        self.assertEqual(types["jobengine_http_requests_total"], "counter")
        self.assertEqual(types["jobengine_http_request_duration_seconds"], "histogram")
        admin = self.srv.grant("admin", "orch:quota", quota_reason="metrics test")
        worker = self.srv.grant("worker", "orch:jobs")
        st, _, q = self.srv.api("POST", "/jobengine/quotas", admin, body={
            "jobType": "m.scan", "maxActive": 1, "maxPerHour": 100, "burstCapacity": 10,
            "refillPerSecond": 1})
        self.assertEqual(st, 201, q)
        path = "/jobengine/quotas/%s/acquire" % q["quotaId"]
        self.assertEqual(self.srv.api("POST", path, worker, body={})[0], 200)
        self.assertEqual(self.srv.api("POST", path, worker, body={})[0], 429)
        self.assertEqual(self.srv.token("admin", scope="orch:quota")[0], 400)  # no reason
        after, _ = self.scrape()

        def delta(name, **labels):
            return value(after, name, **labels) - value(before, name, **labels)

        self.assertEqual(delta("jobengine_http_requests_total",
                               route="/jobengine/quotas/{quotaId}/acquire", status="429"), 1)
        self.assertEqual(delta("jobengine_http_requests_total",
                               route="/jobengine/quotas", method="POST", status="201"), 1)
        self.assertEqual(delta("jobengine_quota_decisions_total", tenant="acme",
                               job_type="m.scan", via="acquire", outcome="granted"), 1)
        self.assertEqual(delta("jobengine_quota_decisions_total", tenant="acme",
                               job_type="m.scan", via="acquire", outcome="exhausted"), 1)
        self.assertEqual(delta("jobengine_token_requests_total", outcome="granted"), 2)
        self.assertEqual(delta("jobengine_token_requests_total", outcome="invalid_request"), 1)
        # three grant entries and one quota.created at least
        self.assertGreaterEqual(delta("jobengine_audit_entries_appended_total",
                                      event_type="authority.client_credentials.grant"), 3)
        self.assertEqual(delta("jobengine_audit_entries_appended_total",
                               event_type="quota.created"), 1)
        self.assertGreater(delta("jobengine_store_commits_total", outcome="ok"), 0)
        self.assertGreaterEqual(delta("jobengine_store_writes_total"),
                                delta("jobengine_store_commits_total", outcome="ok"))

    def test_histograms_are_cumulative(self):
        before, _ = self.scrape()
        self.srv.request("GET", "/healthz")
        samples, _ = self.scrape()
        # counted as its answer was queued: the scrape right after the answer already holds it
        self.assertEqual(value(samples, "jobengine_http_request_duration_seconds_count",
                               route="/healthz")
                         - value(before, "jobengine_http_request_duration_seconds_count",
                                 route="/healthz"), 1)
        buckets = {}
        for (name, labels), v in samples.items():
            if name == "jobengine_http_request_duration_seconds_bucket":
                d = dict(labels)
                le = float("inf") if d["le"] == "+Inf" else float(d["le"])
                buckets.setdefault(d["route"], []).append((le, v))
        self.assertIn("/healthz", buckets)
        for route, bs in buckets.items():
            bs.sort()
            counts = [v for _, v in bs]
            self.assertEqual(counts, sorted(counts), route)
            self.assertEqual(bs[-1][0], float("inf"))
            self.assertEqual(bs[-1][1], value(samples, "jobengine_http_request_duration_seconds_count",
                                              route=route))

    def test_api_listener_does_not_serve_metrics(self):
        # the metrics name tenants and job types: whoever reaches the API must not read them
        self.srv.grant("admin", "orch:read")
        st, _, body = self.srv.api("GET", "/metrics")
        self.assertEqual(st, 404, body)
        self.assertIn("--metrics-listen", body["error"]["message"])
        self.assertNotIn("jobengine_", json.dumps(body))
        samples, _ = self.scrape()  # where they are served, that 404 was counted
        self.assertGreaterEqual(value(samples, "jobengine_http_requests_total", route="/metrics",
                                      status="404"), 1)

    def test_metrics_listener_serves_nothing_else(self):
        st, _, body = self.srv.metrics("GET", "/jobengine/quotas")
        self.assertEqual(st, 404, body)
        st, _, body = self.srv.metrics("GET", "/token")
        self.assertEqual(st, 404, body)
        st, hdrs, body = self.srv.metrics("POST", "/metrics")
        self.assertEqual(st, 405, body)
        self.assertEqual(hdrs.get("Allow"), "GET, HEAD")

    def test_client_methods_do_not_mint_series(self):
        # a method is the client's word: 40 made-up ones must not become 40 label values
        for i in range(40):
            http_request(self.srv.url, "XM%02d" % i, "/healthz")
        # a request is counted when it ends, just after its reply is sent: wait for the last
        deadline = time.monotonic() + 5
        while True:
            samples, _ = self.scrape()
            other = value(samples, "jobengine_http_requests_total", method="other")
            if other >= 40 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        methods = {dict(ls).get("method") for (n, ls) in samples
                   if n == "jobengine_http_requests_total"}
        self.assertLessEqual(methods, {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS",
                                       "PATCH", "other"})
        self.assertGreaterEqual(value(samples, "jobengine_http_requests_total", method="other"),
                                40)

    def test_logs_are_json_lines_without_secrets(self):
        tok = self.srv.grant("admin", "orch:quota", quota_reason="log check")
        self.srv.api("GET", "/jobengine/quotas", tok, headers={
            "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
        time.sleep(0.2)
        lines = [l for l in self.srv.log_text().splitlines() if l.strip()]
        self.assertTrue(lines)
        requests = []
        for line in lines:
            obj = json.loads(line)  # every line is one JSON object
            for key in ("time", "level", "msg"):
                self.assertIn(key, obj, line)
            if obj["msg"] == "request":
                requests.append(obj)
        traced = [o for o in requests if o.get("trace_id") == "0af7651916cd43dd8448eb211c80319c"]
        self.assertEqual(len(traced), 1)
        for key in ("route", "status", "latency_ms", "method", "path"):
            self.assertIn(key, traced[0])
        self.assertEqual(traced[0]["route"], "/jobengine/quotas")
        log = self.srv.log_text()
        self.assertNotIn(tok, log)
        for secret in self.srv.secrets.values():
            self.assertNotIn(secret, log)


if __name__ == "__main__":
    unittest.main()
