"""Black-box tests of the job routes over HTTP (api.md §1, §3.4; docs/api.md "Jobs and leasing"):
submit (shape, payload, validation, size, Idempotency-Key), get, list (order, filters,
pagination), summary, tenant isolation and scopes."""

import json
import time
import unittest

from harness import (JOB_KEYS, JOBS, SUMMARY_KEYS, UUID_RE, ServerTestCase,
                     http_request_tolerant, job_path, job_summary, list_jobs_all, now_ms,
                     parse_time_ms, submit_job)

CLIENTS = [
    ("admin", ["acme"], ["Orch.Admin"]),
    ("viewer", ["acme"], ["Orch.Viewer"]),
    ("worker", ["acme"], ["Orch.Worker"]),
    ("other", ["globex"], ["Orch.Worker"]),
]
UNKNOWN_ID = "01900000-0000-7000-8000-000000000000"


class JobsTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(CLIENTS, name="jobs")
        cls.work = cls.srv.grant("worker", "orch:read orch:jobs")
        cls.work_jobs_only = cls.srv.grant("worker", "orch:jobs")
        cls.reader = cls.srv.grant("viewer", "orch:read")
        cls.admin_read = cls.srv.grant("admin", "orch:read")
        cls.admin_quota = cls.srv.grant("admin", "orch:quota", quota_reason="jobs tests")
        cls.other = cls.srv.grant("other", "orch:read orch:jobs")

    # -- helpers ----------------------------------------------------------------------------------
    def submit(self, body, token=None, headers=None):
        return self.srv.api("POST", JOBS, token or self.work, headers=headers, body=body)

    def get(self, job_id, token=None):
        return self.srv.api("GET", job_path(job_id), token or self.work)

    def lease(self, job_type, token=None, **extra):
        body = {"jobTypes": [job_type], "workerId": "w-1"}
        body.update(extra)
        return self.srv.api("POST", JOBS + "/lease", token or self.work, body=body)

    def leased_one(self, job_type):
        st, _, body = self.lease(job_type)
        self.assertEqual(st, 200, body)
        self.assertEqual(len(body["jobs"]), 1, body)
        return body["jobs"][0]

    def assertInvalid(self, resp, field):
        err = self.assertEnvelope(resp, 400, "VALIDATION_FAILED")
        self.assertEqual(err["details"].get("field"), field, err)
        return err

    def count_of(self, job_type, token=None):
        return len(list_jobs_all(self.srv, token or self.work, jobType=job_type))

    # -- submit -----------------------------------------------------------------------------------
    def test_submit_201_location_and_shape(self):
        t0 = now_ms()
        st, hdrs, job = self.submit({"jobType": "shape.a", "payload": {"image": "x:1"}})
        t1 = now_ms()
        self.assertEqual(st, 201, job)
        self.assertIn("application/json", hdrs.get("Content-Type", ""))
        self.assertEqual(set(job.keys()), JOB_KEYS, job)
        self.assertRegex(job["jobId"], UUID_RE)
        self.assertEqual(hdrs.get("Location"), "/jobengine/jobs/" + job["jobId"])
        self.assertEqual(job["tenantId"], "acme")
        self.assertEqual(job["jobType"], "shape.a")
        self.assertEqual(job["status"], "pending")
        self.assertEqual(job["priority"], 0, "priority defaults to 0")
        self.assertEqual(job["payload"], {"image": "x:1"})
        for k in ("sourceId", "eventKey", "eventTime", "leaseId", "leaseUntil", "workerId",
                  "error", "completedAt"):
            self.assertIsNone(job[k], k)
        self.assertEqual(job["attempt"], 0, "no lease granted yet")
        self.assertEqual(job["maxAttempts"], 3, "serve --max-attempts defaults to 3")
        created = parse_time_ms(job["createdAt"])
        self.assertTrue(t0 - 5 <= created <= t1 + 5, job["createdAt"])
        self.assertEqual(job["updatedAt"], job["createdAt"])
        self.assertEqual(job["availableAt"], job["createdAt"], "available at once")
        # GET returns the same job; Location resolves
        st, _, got = self.srv.api("GET", hdrs.get("Location"), self.work)
        self.assertEqual(st, 200, got)
        self.assertEqual(got, job)
        # every optional field
        st, _, job2 = self.submit({"jobType": "shape.a", "payload": [1, "two", None],
                                   "priority": 7, "sourceId": "nvd", "eventKey": "CVE-2026-0001",
                                   "eventTime": "2026-03-01T10:20:30.456Z"})
        self.assertEqual(st, 201, job2)
        self.assertEqual((job2["priority"], job2["sourceId"], job2["eventKey"], job2["eventTime"]),
                         (7, "nvd", "CVE-2026-0001", "2026-03-01T10:20:30.456Z"))
        self.assertEqual(job2["payload"], [1, "two", None])
        self.assertNotEqual(job2["jobId"], job["jobId"])
        self.assertEqual(self.get(job2["jobId"])[2], job2)

    def test_payload_any_json_value(self):
        for payload in ({}, [], "text", "", 0, -12, 1.5, True, False, None,
                        {"z": 1, "a": {"y": [3, {"b": 1, "a": 2}], "x": None}, "m": "é"},
                        [[[]]], "unicode ✓ \u00e9 \U0001F600"):
            with self.subTest(payload=payload):
                st, _, job = self.submit({"jobType": "payload.any", "payload": payload})
                self.assertEqual(st, 201, job)
                self.assertEqual(job["payload"], payload)
                st, _, raw = self.srv.api("GET", job_path(job["jobId"]), self.work)
                self.assertEqual(raw["payload"], payload)

    def test_payload_object_members_come_back_sorted(self):
        body = ('{"jobType": "payload.sorted", "payload": {"zeta": 1, "alpha": {"d": 4, "c": 3},'
                ' "Beta": [{"y": 1, "x": 2}], "\u00e9": 0, "mid": 2.0}}')
        st, _, job = self.submit(body.encode("utf-8"),
                                 headers={"Content-Type": "application/json"})
        self.assertEqual(st, 201, job)
        for resp in (job, self.get(job["jobId"])[2]):
            p = resp["payload"]  # json.loads keeps member order
            self.assertEqual(list(p.keys()), ["Beta", "alpha", "mid", "zeta", "\u00e9"],
                             "RFC 8785 order (UTF-16 code units)")
            self.assertEqual(list(p["alpha"].keys()), ["c", "d"])
            self.assertEqual(list(p["Beta"][0].keys()), ["x", "y"])
            self.assertEqual(p["mid"], 2, "canonical numbers: 2.0 is 2")
        # the raw text also has them sorted
        st, _, text = self.srv.api("GET", job_path(job["jobId"]), self.work)
        raw = json.dumps(text["payload"], ensure_ascii=False)
        self.assertLess(raw.index('"Beta"'), raw.index('"alpha"'))

    def test_priority_bounds(self):
        for p in (-1000, 1000, 0, 1, -1):
            with self.subTest(priority=p):
                st, _, job = self.submit({"jobType": "prio.ok", "payload": {}, "priority": p})
                self.assertEqual(st, 201, job)
                self.assertEqual(job["priority"], p)
        st, _, job = self.submit({"jobType": "prio.ok", "payload": {}, "priority": None})
        self.assertEqual((st, job.get("priority")), (201, 0), "null priority is the default")
        before = self.count_of("prio.bad")
        for p in (1001, -1001, 1.5, "x", "5", True, [1], {}, 1e300):
            with self.subTest(priority=p):
                self.assertInvalid(self.submit({"jobType": "prio.bad", "payload": {},
                                                "priority": p}), "priority")
        self.assertEqual(self.count_of("prio.bad"), before, "refused submits store nothing")

    def test_job_type_validation(self):
        for jt in (None, "*", "", " scan", "scan image", "-scan", ".scan", "scan/x", "x" * 129,
                   5, ["scan"], {"a": 1}, True, "sc\u00e4n"):
            with self.subTest(jobType=jt):
                body = {"payload": {}}
                if jt is not None:
                    body["jobType"] = jt
                self.assertInvalid(self.submit(body), "jobType")
        for jt in ("a", "A", "9", "scan.image:v2_x-y", "x" * 128):
            with self.subTest(jobType=jt):
                st, _, job = self.submit({"jobType": jt, "payload": {}})
                self.assertEqual(st, 201, job)
                self.assertEqual(job["jobType"], jt)

    def test_payload_missing_unknown_field_and_malformed(self):
        self.assertInvalid(self.submit({"jobType": "val.x"}), "payload")
        err = self.assertInvalid(self.submit({"jobType": "val.x", "payload": {}, "prio": 1}),
                                 "prio")
        self.assertIn("prio", err["message"])
        self.assertInvalid(self.submit({"jobType": "val.x", "payload": {}, "status": "leased"}),
                           "status")
        self.assertInvalid(self.submit({"jobType": "val.x", "payload": {}, "maxAttempts": 9}),
                           "maxAttempts")
        for raw in (b"{", b"[]", b"5", b"null", b"", b'{"jobType": "val.x", "payload": }'):
            with self.subTest(raw=raw):
                self.assertEnvelope(self.submit(raw, headers={"Content-Type": "application/json"}),
                                    400, "VALIDATION_FAILED")
        self.assertEqual(self.count_of("val.x"), 0)

    def test_source_event_fields_validation(self):
        ok = {"sourceId": ["nvd", "ghsa.v2", "a:b-c_d", "x" * 128],
              "eventKey": ["k", "CVE 2026 1 with spaces", "x" * 512, "\u00e9v\u00e9nement"]}
        for field, values in ok.items():
            for v in values:
                with self.subTest(field=field, value=v[:20]):
                    st, _, job = self.submit({"jobType": "ev.ok", "payload": {}, field: v})
                    self.assertEqual(st, 201, job)
                    self.assertEqual(job[field], v)
        bad = {"sourceId": ["", "a b", "x" * 129, 5, ["nvd"], "n/v", "-nvd"],
               "eventKey": ["", "x" * 513, "tab\there", "nl\n", "del\u007f", 7, {}],
               "eventTime": ["", "yesterday", "2026-13-01T00:00:00Z", "2026-01-01",
                             "2026-01-01T25:00:00Z", 1700000000, "2026-01-01 00:00:00"]}
        for field, values in bad.items():
            for v in values:
                with self.subTest(field=field, value=v):
                    self.assertInvalid(self.submit({"jobType": "ev.bad", "payload": {}, field: v}),
                                       field)
        self.assertEqual(self.count_of("ev.bad"), 0)
        # RFC 3339 with an offset or without fractions: stored as UTC with milliseconds
        for given, stored in (("2026-03-01T12:00:00+02:00", "2026-03-01T10:00:00.000Z"),
                              ("2026-03-01T10:00:00Z", "2026-03-01T10:00:00.000Z"),
                              ("2026-03-01T10:00:00.5Z", "2026-03-01T10:00:00.500Z")):
            with self.subTest(eventTime=given):
                st, _, job = self.submit({"jobType": "ev.time", "payload": {},
                                          "eventTime": given})
                self.assertEqual(st, 201, job)
                self.assertEqual(job["eventTime"], stored)

    def test_body_over_1_mib_is_413(self):
        def body_of_size(n):
            head = '{"jobType": "size.x", "payload": "'
            tail = '"}'
            return (head + "a" * (n - len(head) - len(tail)) + tail).encode("ascii")

        big = body_of_size(1024 * 1024 + 1)
        st, hdrs, js = http_request_tolerant(
            self.srv.url, "POST", JOBS,
            {"Authorization": "Bearer " + self.work, "Content-Type": "application/json"}, big)
        self.assertEnvelope((st, hdrs, js), 413, "PAYLOAD_TOO_LARGE")
        exact = body_of_size(1024 * 1024)
        st, hdrs, js = http_request_tolerant(
            self.srv.url, "POST", JOBS,
            {"Authorization": "Bearer " + self.work, "Content-Type": "application/json"}, exact)
        self.assertEqual(st, 201, "exactly 1 MiB is not larger than 1 MiB: %r" % (str(js)[:300],))
        self.assertEqual(len(js["payload"]), 1024 * 1024 - 36)
        jobs = list_jobs_all(self.srv, self.work, jobType="size.x")
        self.assertEqual(len(jobs), 1)

    # -- Idempotency-Key --------------------------------------------------------------------------
    def test_idempotency_key(self):
        k = {"Idempotency-Key": "sub-1"}
        body = {"jobType": "idem.a", "payload": {"b": 2, "a": 1}, "priority": 3}
        st, hdrs, j1 = self.submit(body, headers=k)
        self.assertEqual(st, 201, j1)
        st, _, j2 = self.submit(body, headers=k)
        self.assertEqual((st, j2), (201, j1), "a repeat answers the first response")
        # the same JSON value written differently is the same body
        raw = b'{"priority":3,"payload":{"a":1,"b":2},\n "jobType":"idem.a"}'
        st, _, j3 = self.submit(raw, headers=dict(k, **{"Content-Type": "application/json"}))
        self.assertEqual((st, j3), (201, j1))
        self.assertEqual(len(list_jobs_all(self.srv, self.work, jobType="idem.a")), 1,
                         "one job, however many repeats")
        # the same key with another body
        self.assertEnvelope(self.submit(dict(body, priority=4), headers=k), 409,
                            "IDEMPOTENCY_KEY_REUSED")
        self.assertEnvelope(self.submit({"jobType": "idem.b", "payload": {}}, headers=k), 409,
                            "IDEMPOTENCY_KEY_REUSED")
        self.assertEqual(len(list_jobs_all(self.srv, self.work, jobType="idem.b")), 0)
        # the replay answers the first response even after the job changed
        job = self.leased_one("idem.a")
        self.assertEqual(job["jobId"], j1["jobId"])
        st, _, j4 = self.submit(body, headers=k)
        self.assertEqual((st, j4), (201, j1))
        self.assertEqual(self.get(j1["jobId"])[2]["status"], "leased")
        # keys are per tenant: another tenant's same key is a new job of that tenant
        st, _, g = self.submit(body, token=self.other, headers=k)
        self.assertEqual(st, 201, g)
        self.assertNotEqual(g["jobId"], j1["jobId"])
        self.assertEqual(g["tenantId"], "globex")
        # a refused attempt is not remembered: the key can be used once the body is valid
        k2 = {"Idempotency-Key": "sub-2"}
        self.assertInvalid(self.submit({"jobType": "idem.c"}, headers=k2), "payload")
        st, _, j5 = self.submit({"jobType": "idem.c", "payload": 1}, headers=k2)
        self.assertEqual(st, 201, j5)
        st, _, j6 = self.submit({"jobType": "idem.c", "payload": 1}, headers=k2)
        self.assertEqual((st, j6), (201, j5))
        self.assertEqual(len(list_jobs_all(self.srv, self.work, jobType="idem.c")), 1)
        # no key: every submit is a new job
        a = submit_job(self.srv, self.work, "idem.d", 1)
        b = submit_job(self.srv, self.work, "idem.d", 1)
        self.assertNotEqual(a["jobId"], b["jobId"])

    # -- get, tenant isolation ----------------------------------------------------------------------
    def test_get_404(self):
        for jid in (UNKNOWN_ID, "nope", "0" * 36):
            with self.subTest(jobId=jid):
                self.assertEnvelope(self.get(jid), 404, "NOT_FOUND")

    def test_tenant_isolation(self):
        mine = submit_job(self.srv, self.work, "iso.a", {"secret": 1})
        theirs = submit_job(self.srv, self.other, "iso.a", {"theirs": 1})
        self.assertEqual(theirs["tenantId"], "globex")
        self.assertEnvelope(self.get(mine["jobId"], self.other), 404, "NOT_FOUND")
        self.assertEnvelope(self.get(theirs["jobId"], self.work), 404, "NOT_FOUND")
        # a lease of globex sees only globex's jobs
        st, _, out = self.lease("iso.a", token=self.other, max=10)
        self.assertEqual(st, 200, out)
        self.assertEqual([j["jobId"] for j in out["jobs"]], [theirs["jobId"]])
        lease_id = out["jobs"][0]["leaseId"]
        job = self.leased_one("iso.a")
        self.assertEqual(job["jobId"], mine["jobId"])
        # heartbeat and complete of another tenant's job: 404, even with its right leaseId
        for action, body in (("heartbeat", {"leaseId": job["leaseId"]}),
                             ("complete", {"leaseId": job["leaseId"], "status": "succeeded"})):
            with self.subTest(action=action):
                self.assertEnvelope(self.srv.api("POST", job_path(mine["jobId"], action),
                                                 self.other, body=body), 404, "NOT_FOUND")
        self.assertEqual(self.get(mine["jobId"])[2]["status"], "leased", "nothing happened")
        self.assertEnvelope(self.srv.api("POST", job_path(theirs["jobId"], "complete"), self.work,
                                         body={"leaseId": lease_id, "status": "succeeded"}),
                            404, "NOT_FOUND")
        # lists and summaries hold only the tenant's own jobs
        ids = {j["jobId"] for j in list_jobs_all(self.srv, self.work)}
        self.assertIn(mine["jobId"], ids)
        self.assertNotIn(theirs["jobId"], ids)
        theirs_all = list_jobs_all(self.srv, self.other)
        self.assertTrue(all(j["tenantId"] == "globex" for j in theirs_all), theirs_all)
        self.assertIn(theirs["jobId"], {j["jobId"] for j in theirs_all})
        self.assertNotIn(mine["jobId"], {j["jobId"] for j in theirs_all})
        self.assertEqual(job_summary(self.srv, self.other)["iso.a"]["total"], 1)
        self.assertEqual(job_summary(self.srv, self.work)["iso.a"]["total"], 1)

    def test_order_of_checks_resource_before_body(self):
        """api.md §1: the resource exists in this tenant (404) is checked before the body (400)."""
        theirs = submit_job(self.srv, self.other, "iso.order", {})
        for jid in (UNKNOWN_ID, theirs["jobId"]):
            for action in ("heartbeat", "complete"):
                for body in ({}, {"leaseId": 5}, {"bogus": 1}):
                    with self.subTest(jobId=jid, action=action, body=body):
                        self.assertEnvelope(self.srv.api("POST", job_path(jid, action),
                                                         self.work, body=body), 404, "NOT_FOUND")

    # -- list ---------------------------------------------------------------------------------------
    def test_list_order_filters_and_pagination(self):
        ids = []
        for i in range(7):
            ids.append(submit_job(self.srv, self.work, "list.a", {"i": i},
                                  priority=(i * 37) % 11 - 5)["jobId"])
            time.sleep(0.003)
        other_type = submit_job(self.srv, self.work, "list.b", {})["jobId"]
        items = list_jobs_all(self.srv, self.work, jobType="list.a")
        self.assertEqual([j["jobId"] for j in items], ids,
                         "ordered by createdAt (then jobId), not by priority")
        for j in items:
            self.assertEqual(set(j.keys()), JOB_KEYS)
        # the whole list is ordered by (createdAt, jobId)
        every = list_jobs_all(self.srv, self.work)
        keys = [(parse_time_ms(j["createdAt"]), j["jobId"]) for j in every]
        self.assertEqual(keys, sorted(keys))
        self.assertIn(other_type, [j["jobId"] for j in every])
        # pages of 3: 3 + 3 + 1, every job exactly once
        seen, cont, pages = [], None, []
        while True:
            q = "?jobType=list.a&limit=3" + ("&continuationToken=" + cont if cont else "")
            st, _, body = self.srv.api("GET", JOBS + q, self.work)
            self.assertEqual(st, 200, body)
            self.assertEqual(set(body.keys()), {"items", "continuationToken"})
            pages.append(len(body["items"]))
            seen += [j["jobId"] for j in body["items"]]
            cont = body["continuationToken"]
            if cont is None:
                break
            self.assertIsInstance(cont, str)
            self.assertLess(len(pages), 10)
        self.assertEqual(pages, [3, 3, 1])
        self.assertEqual(seen, ids)
        # a page that ends exactly at the end: no continuation
        st, _, body = self.srv.api("GET", JOBS + "?jobType=list.a&limit=7", self.work)
        self.assertEqual((len(body["items"]), body["continuationToken"]), (7, None))
        st, _, body = self.srv.api("GET", JOBS + "?jobType=list.a&limit=1", self.work)
        self.assertEqual([j["jobId"] for j in body["items"]], ids[:1])
        self.assertIsNotNone(body["continuationToken"])
        # status filter
        leased = self.leased_one("list.a")
        self.assertEqual(leased["jobId"], ids[5], "priority 4 is the highest of the seven")
        st, _, body = self.srv.api("GET", JOBS + "?jobType=list.a&status=leased", self.work)
        self.assertEqual([j["jobId"] for j in body["items"]], [leased["jobId"]])
        st, _, body = self.srv.api("GET", JOBS + "?jobType=list.a&status=pending", self.work)
        self.assertEqual([j["jobId"] for j in body["items"]],
                         [i for i in ids if i != leased["jobId"]])
        for s in ("succeeded", "failed", "canceled"):
            st, _, body = self.srv.api("GET", JOBS + "?jobType=list.a&status=" + s, self.work)
            self.assertEqual((st, body["items"]), (200, []), s)
        # empty values mean "not given"
        st, _, body = self.srv.api("GET", JOBS + "?jobType=list.a&status=", self.work)
        self.assertEqual(len(body["items"]), 7)
        st, _, body = self.srv.api("GET", JOBS + "?jobType=list.nothing", self.work)
        self.assertEqual((st, body), (200, {"items": [], "continuationToken": None}))

    def test_list_bad_query(self):
        for q, field in (("status=done", "status"), ("status=PENDING", "status"),
                         ("status=pending,leased", "status"), ("jobType=a%20b", "jobType"),
                         ("limit=0", "limit"), ("limit=501", "limit"), ("limit=x", "limit"),
                         ("limit=-1", "limit"), ("continuationToken=bogus", "continuationToken")):
            with self.subTest(q=q):
                self.assertInvalid(self.srv.api("GET", JOBS + "?" + q, self.work), field)
        st, _, body = self.srv.api("GET", JOBS + "?limit=500", self.work)
        self.assertEqual(st, 200, body)

    # -- summary ------------------------------------------------------------------------------------
    def test_summary(self):
        for _ in range(3):
            submit_job(self.srv, self.work, "sum.a", {})
        submit_job(self.srv, self.work, "sum.b", {})
        j = self.leased_one("sum.a")
        st, _, done = self.srv.api("POST", job_path(j["jobId"], "complete"), self.work,
                                   body={"leaseId": j["leaseId"], "status": "succeeded"})
        self.assertEqual(st, 200, done)
        self.leased_one("sum.a")
        st, _, body = self.srv.api("GET", JOBS + "/summary", self.work)
        self.assertEqual(st, 200, body)
        self.assertEqual(set(body.keys()), {"items"})
        for it in body["items"]:
            self.assertEqual(set(it.keys()), SUMMARY_KEYS, it)
            self.assertEqual(it["total"], sum(it[s] for s in ("pending", "leased", "succeeded",
                                                              "failed", "canceled")), it)
        s = job_summary(self.srv, self.work)
        self.assertEqual(s["sum.a"], {"jobType": "sum.a", "pending": 1, "leased": 1,
                                      "succeeded": 1, "failed": 0, "canceled": 0, "total": 3})
        self.assertEqual(s["sum.b"], {"jobType": "sum.b", "pending": 1, "leased": 0,
                                      "succeeded": 0, "failed": 0, "canceled": 0, "total": 1})
        self.assertNotIn("sum.c", s)
        # the summary matches the list
        every = list_jobs_all(self.srv, self.work)
        for jt, it in s.items():
            self.assertEqual(it["total"], sum(1 for x in every if x["jobType"] == jt), jt)
        self.assertNotIn("sum.a", job_summary(self.srv, self.other))

    # -- scopes -------------------------------------------------------------------------------------
    def test_scopes(self):
        job = submit_job(self.srv, self.work, "scope.a", {"v": 1})
        # orch:read (Viewer) reads
        for tok in (self.reader, self.admin_read, self.work_jobs_only, self.work):
            st, _, got = self.get(job["jobId"], tok)
            self.assertEqual((st, got.get("jobId")), (200, job["jobId"]))
            st, _, body = self.srv.api("GET", JOBS + "?jobType=scope.a", tok)
            self.assertEqual((st, len(body.get("items", []))), (200, 1))
            self.assertEqual(self.srv.api("GET", JOBS + "/summary", tok)[0], 200)
        # ...but neither submits, leases, heartbeats nor completes
        for tok in (self.reader, self.admin_read, self.admin_quota):
            self.assertEnvelope(self.submit({"jobType": "scope.a", "payload": {}}, tok), 403,
                                "SCOPE_REQUIRED")
            self.assertEnvelope(self.submit({"bad": 1}, tok), 403, "SCOPE_REQUIRED")
            self.assertEnvelope(self.lease("scope.a", token=tok), 403, "SCOPE_REQUIRED")
            for action in ("heartbeat", "complete"):
                self.assertEnvelope(self.srv.api("POST", job_path(job["jobId"], action), tok,
                                                 body={"leaseId": "x", "status": "succeeded"}),
                                    403, "SCOPE_REQUIRED")
        # orch:quota alone does not read jobs
        self.assertEnvelope(self.get(job["jobId"], self.admin_quota), 403, "SCOPE_REQUIRED")
        self.assertEnvelope(self.srv.api("GET", JOBS, self.admin_quota), 403, "SCOPE_REQUIRED")
        self.assertEqual(len(list_jobs_all(self.srv, self.work, jobType="scope.a")), 1)
        # Worker does all of it
        tok = self.work_jobs_only
        j2 = submit_job(self.srv, tok, "scope.b", {})
        st, _, out = self.lease("scope.b", token=tok)
        self.assertEqual(st, 200, out)
        lid = out["jobs"][0]["leaseId"]
        self.assertEqual(self.srv.api("POST", job_path(j2["jobId"], "heartbeat"), tok,
                                      body={"leaseId": lid})[0], 200)
        st, _, done = self.srv.api("POST", job_path(j2["jobId"], "complete"), tok,
                                   body={"leaseId": lid, "status": "succeeded"})
        self.assertEqual((st, done.get("status")), (200, "succeeded"))
        # no token at all
        st, hdrs, _ = self.srv.api("GET", JOBS)
        self.assertEnvelope((st, hdrs, _), 401, "UNAUTHORIZED")
        self.assertEnvelope(self.srv.api("POST", JOBS, body={"jobType": "x", "payload": {}}),
                            401, "UNAUTHORIZED")

    def test_routing(self):
        self.assertEnvelope(self.srv.api("DELETE", job_path(UNKNOWN_ID), self.work), 405,
                            "METHOD_NOT_ALLOWED")
        self.assertEnvelope(self.srv.api("GET", JOBS + "/summary/x", self.work), 404,
                            "NOT_FOUND")
        self.assertEnvelope(self.srv.api("PUT", JOBS, self.work, body={}), 405,
                            "METHOD_NOT_ALLOWED")
        self.assertEnvelope(self.srv.api("POST", job_path(UNKNOWN_ID, "cancelx"), self.work,
                                         body={}), 404, "NOT_FOUND")

    def test_zz_clean_shutdown(self):
        """Last: SIGTERM ends the server with exit 0 and no sanitizer report."""
        rc = self.srv.stop()
        log = self.srv.log_text()
        self.assertNotIn("Sanitizer", log, log[-4000:])
        self.assertNotIn("runtime error", log, log[-4000:])
        self.assertEqual(rc, 0, log[-4000:])


if __name__ == "__main__":
    unittest.main()
