"""Black-box tests of GET /jobengine/audit and /jobengine/audit/verify (api.md §1 lists, §3.6;
domain.md §6; docs/api.md "Conventions" and "Audit"): tenant isolation, filters, limits,
pagination, the verify answer and an independent recomputation of the chain."""

import datetime
import unittest
import urllib.parse

import harness
from harness import GRANT_EVENT, ServerTestCase, claims_of

CLIENTS = [
    ("aviewer", ["acme"], ["Orch.Viewer"]),
    ("aadmin", ["acme"], ["Orch.Admin"]),
    ("abot", ["acme"], ["Orch.Viewer"]),
    ("aops", ["acme"], ["Orch.Admin", "Orch.Operator"]),
    ("gviewer", ["globex"], ["Orch.Viewer"]),
    ("gadmin", ["globex"], ["Orch.Admin"]),
]
AUDIT = "/jobengine/audit"


def shift(occurred_at, hours):
    """The same instant written with a +HH:00 offset (or -HH:00 for negative hours)."""
    t = datetime.datetime.strptime(occurred_at, "%Y-%m-%dT%H:%M:%S.%fZ")
    t = t + datetime.timedelta(hours=hours)
    sign = "+" if hours >= 0 else "-"
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03d" % (t.microsecond // 1000) \
        + "%s%02d:00" % (sign, abs(hours))


class AuditApiTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        srv = cls.srv = cls.start_class_server(CLIENTS, name="audit")
        cls.jtis = {"aviewer": [], "aadmin": []}
        for i in range(25):
            cls.jtis["aviewer"].append(claims_of(srv.grant("aviewer", "orch:read"))["jti"])
            if i % 5 == 0:
                srv.grant("gviewer", "orch:read")
        for i in range(20):
            tok = srv.grant("aadmin", "orch:quota", quota_reason="reason %d" % i,
                            quota_ticket="OPS-%d" % i)
            cls.jtis["aadmin"].append(claims_of(tok)["jti"])
            if i % 4 == 0:
                srv.grant("gadmin", "orch:backfill", backfill_reason="bf %d" % i)
        for i in range(10):
            st, js, _ = srv.token("abot", scope="orch:quota", quota_reason="x")
            assert st == 400 and js["error"] == "invalid_scope", (st, js)
        # text that JCS writes unescaped (non-BMP, U+2028, '/') or escaped ('"', '\\'), and
        # refusals whose reason is recorded as null
        srv.grant("aops", "orch:quota orch:operate", quota_reason="surge 😀 é \u2028 \"q\" \\ /",
                  quota_ticket="<T&1>", operator_reason="Ωmega", operator_ticket="Z-\u00e9")
        for raw in (b"quota_reason=%FF", b"quota_reason=a%01b", b"quota_reason=ok&quota_ticket="
                    + b"%E2%82"):
            st, js, _ = srv.token("aops", raw_body=b"grant_type=client_credentials&scope="
                                  b"orch%3Aquota&" + raw)
            assert st == 400, (st, js)
        for i in range(5):
            cls.jtis["aviewer"].append(claims_of(srv.grant("aviewer", "orch:read"))["jti"])
        cls.reader = srv.grant("aviewer", "orch:read")
        cls.greader = srv.grant("gviewer", "orch:read")

    def all(self, token=None, **filters):
        return self.srv.audit_all(token or self.reader, **filters)

    def page(self, token=None, **query):
        return self.srv.audit_page(token or self.reader, **query)

    def assertValidation(self, resp, field):
        err = self.assertEnvelope(resp, 400, "VALIDATION_FAILED")
        self.assertEqual(err["details"].get("field"), field, err)

    def assertSequences(self, items):
        seqs = [e["sequence"] for e in items]
        self.assertEqual(seqs, sorted(seqs), "ascending sequence")
        self.assertEqual(len(seqs), len(set(seqs)), "no entry twice")

    # -- isolation ---------------------------------------------------------------------------------
    def test_tenant_isolation(self):
        acme = self.all()
        globex = self.all(self.greader)
        self.assertGreater(len(acme), 60)
        self.assertGreater(len(globex), 10)
        self.assertTrue(all(e["tenantId"] == "acme" for e in acme))
        self.assertTrue(all(e["tenantId"] == "globex" for e in globex))
        acme_ids = {e["resourceId"] for e in acme}
        self.assertNotIn("gviewer", acme_ids)
        self.assertNotIn("gadmin", acme_ids)
        self.assertEqual({e["resourceId"] for e in globex}, {"gviewer", "gadmin"})
        self.assertFalse({e["entryId"] for e in acme} & {e["entryId"] for e in globex})
        # filtering for another tenant's resources finds nothing
        self.assertEqual(self.all(resourceId="gadmin"), [])
        self.assertEqual(self.all(actor="gviewer"), [])
        # each tenant has its own gapless chain starting at 1
        self.assertEqual([e["sequence"] for e in acme], list(range(1, len(acme) + 1)))
        self.assertEqual([e["sequence"] for e in globex], list(range(1, len(globex) + 1)))
        self.assertEqual(self.srv.audit_verify(self.reader)["entries"], len(acme))
        self.assertEqual(self.srv.audit_verify(self.greader)["entries"], len(globex))

    # -- filters ------------------------------------------------------------------------------------
    def test_filter_event_type(self):
        acme = self.all()
        self.assertEqual(self.all(eventType=GRANT_EVENT), acme)
        for other in ("quota.created", "backfill.created", "authority.client_credentials",
                      "AUTHORITY.CLIENT_CREDENTIALS.GRANT"):
            with self.subTest(other):
                self.assertEqual(self.all(eventType=other), [])

    def test_filter_resource_type(self):
        acme = self.all()
        self.assertEqual(self.all(resourceType="client"), acme)
        self.assertEqual(self.all(resourceType="quota"), [])

    def test_filter_resource_id_and_actor(self):
        acme = self.all()
        for cid in ("aviewer", "aadmin", "abot"):
            want = [e for e in acme if e["resourceId"] == cid]
            with self.subTest(resourceId=cid):
                self.assertTrue(want)
                got = self.all(resourceId=cid)
                self.assertEqual(got, want)
                self.assertSequences(got)
            with self.subTest(actor=cid):
                self.assertEqual(self.all(actor=cid), [e for e in acme if e["actorId"] == cid])
        jtis = [e["details"].get("jti") for e in self.all(resourceId="aadmin")]
        self.assertEqual(jtis, self.jtis["aadmin"])
        self.assertEqual(len([e for e in self.all(resourceId="abot")]), 10)
        self.assertEqual(self.all(resourceId="nobody"), [])
        self.assertEqual(self.all(actor="AVIEWER"), [])

    def test_filters_combined(self):
        acme = self.all()
        want = [e for e in acme if e["resourceId"] == "aadmin"]
        self.assertEqual(self.all(eventType=GRANT_EVENT, resourceType="client",
                                  resourceId="aadmin", actor="aadmin"), want)
        self.assertEqual(self.all(resourceId="aadmin", actor="aviewer"), [])

    def test_empty_filter_values_mean_not_given(self):
        st, _, a = self.page(limit=20)
        self.assertEqual(st, 200, a)
        q = "?eventType=&resourceType=&resourceId=&actor=&since=&until=&limit=20"
        st, _, b = self.srv.api("GET", AUDIT + q, self.reader)
        self.assertEqual(st, 200, b)
        self.assertEqual(a["items"], b["items"])

    def test_unknown_query_parameters_are_ignored(self):
        st, _, a = self.page(limit=5)
        st2, _, b = self.page(limit=5, colour="blue", tenant="globex")
        self.assertEqual((st, st2), (200, 200), b)
        self.assertEqual(a["items"], b["items"])

    def test_since_inclusive_until_exclusive(self):
        acme = self.all()
        for e in acme:
            self.assertRegex(e["occurredAt"], harness.TIME_RE)
        since, until = acme[10]["occurredAt"], acme[45]["occurredAt"]
        self.assertLess(since, until, "the setup spans more than one millisecond")
        want = [e for e in acme if since <= e["occurredAt"] < until]
        self.assertIn(acme[10], want)
        self.assertNotIn(acme[45], want)
        self.assertEqual(self.all(since=since, until=until), want)
        self.assertEqual(self.all(since=since), [e for e in acme if e["occurredAt"] >= since])
        self.assertEqual(self.all(until=until), [e for e in acme if e["occurredAt"] < until])
        self.assertEqual(self.all(until=acme[0]["occurredAt"]), [])
        self.assertEqual(self.all(since=acme[-1]["occurredAt"]),
                         [e for e in acme if e["occurredAt"] >= acme[-1]["occurredAt"]])
        # any offset
        self.assertEqual(self.all(since=shift(since, 1), until=shift(until, -5)), want)
        self.assertEqual(self.all(since=since, until=until, resourceId="aadmin"),
                         [e for e in want if e["resourceId"] == "aadmin"])

    def test_malformed_times_are_400(self):
        for field in ("since", "until"):
            for bad in ("yesterday", "2026-13-01T00:00:00Z", "2026-11-28T25:00:00.000Z", "12345"):
                with self.subTest(field=field, value=bad):
                    self.assertValidation(self.page(**{field: bad}), field)

    # -- limit and pagination ---------------------------------------------------------------------
    def test_limit_default_and_bounds(self):
        acme = self.all()
        self.assertGreater(len(acme), 50)
        st, _, body = self.page()
        self.assertEqual(st, 200, body)
        self.assertEqual(body["items"], acme[:50])
        self.assertIsInstance(body["continuationToken"], str)
        st, _, body = self.page(limit=1)
        self.assertEqual(body["items"], acme[:1])
        self.assertIsInstance(body["continuationToken"], str)
        st, _, body = self.page(limit=500)
        self.assertEqual(st, 200, body)
        self.assertEqual(body["items"], acme)
        self.assertIsNone(body["continuationToken"], "no more entries: continuationToken null")
        for bad in ("0", "501", "-1", "x", "1.5", "1e2", " 5", "99999999999999999999"):
            with self.subTest(limit=bad):
                self.assertValidation(self.srv.api(
                    "GET", AUDIT + "?limit=" + urllib.parse.quote(bad), self.reader), "limit")

    def walk(self, limit, token=None, start=None, **filters):
        pages, cont, items = 0, start, []
        while True:
            st, _, body = self.page(token, limit=limit, continuationToken=cont, **filters)
            self.assertEqual(st, 200, body)
            self.assertEqual(set(body.keys()), {"items", "continuationToken"})
            self.assertLessEqual(len(body["items"]), limit)
            items += body["items"]
            pages += 1
            cont = body["continuationToken"]
            if cont is None:
                return items, pages
            self.assertIsInstance(cont, str)
            self.assertTrue(cont)
            self.assertLess(pages, 1000)

    def test_pagination_walks_every_entry_once(self):
        acme = self.all()
        items, pages = self.walk(7)
        self.assertEqual(items, acme)
        self.assertEqual([e["sequence"] for e in items], list(range(1, len(acme) + 1)))
        self.assertGreaterEqual(pages, (len(acme) + 6) // 7)
        want = [e for e in acme if e["resourceId"] == "aadmin"]
        items, pages = self.walk(3, resourceId="aadmin")
        self.assertEqual(items, want)
        self.assertGreaterEqual(pages, 7)
        g = self.all(self.greader)
        self.assertEqual(self.walk(4, self.greader)[0], g)

    def test_pagination_sees_entries_appended_meanwhile(self):
        st, _, first = self.page(limit=10)
        self.assertEqual(st, 200, first)
        tok = self.srv.grant("aviewer", "orch:read")
        rest, _ = self.walk(500, start=first["continuationToken"])
        items = first["items"] + rest
        self.assertEqual([e["sequence"] for e in items], list(range(1, len(items) + 1)))
        self.assertEqual(items[-1]["details"]["jti"], claims_of(tok)["jti"])

    def test_bogus_continuation_token_is_400(self):
        st, _, body = self.page(limit=2)
        real = body["continuationToken"]
        self.assertIsInstance(real, str)
        bogus = ["bogus", "0", "999999", "-1", "%%%", real[:-1], "x" + real, real + "x",
                 real[::-1]]
        for b in bogus:
            if b == real:
                continue
            with self.subTest(token=b):
                self.assertValidation(self.page(limit=2, continuationToken=b),
                                      "continuationToken")
        # the real one works, again and again
        for _ in range(2):
            st, _, nxt = self.page(limit=2, continuationToken=real)
            self.assertEqual(st, 200, nxt)
            self.assertEqual([e["sequence"] for e in nxt["items"]], [3, 4])

    def test_continuation_token_of_another_tenant_leaks_nothing(self):
        st, _, g = self.page(self.greader, limit=1)
        cont = g["continuationToken"]
        st, hdrs, body = self.page(limit=5, continuationToken=cont)
        if st == 200:
            self.assertTrue(all(e["tenantId"] == "acme" for e in body["items"]), body)
        else:
            self.assertValidation((st, hdrs, body), "continuationToken")

    # -- entries and verification -----------------------------------------------------------------
    def test_entry_shape(self):
        acme = self.all()
        for e in acme:
            self.assertEqual(set(e.keys()), harness.ENTRY_KEYS, e)
            self.assertIsInstance(e["sequence"], int)
            self.assertIsInstance(e["entryId"], str)
            self.assertTrue(e["entryId"])
            self.assertEqual(e["eventType"], GRANT_EVENT)
            self.assertEqual(e["actorType"], "client")
            self.assertRegex(e["hash"], "^[0-9a-f]{64}$")
            self.assertRegex(e["previousHash"], "^[0-9a-f]{64}$")
            self.assertRegex(e["occurredAt"], harness.TIME_RE)
            self.assertIsInstance(e["details"], dict)
        self.assertEqual(len({e["entryId"] for e in acme}), len(acme))
        self.assertEqual(acme[0]["previousHash"], harness.ZERO_HASH)
        # abot's refusals: invalid_scope, no jti
        for e in self.all(resourceId="abot"):
            self.assertEqual(e["details"]["outcome"], "invalid_scope")
            self.assertNotIn("jti", e["details"])
        ops = self.all(resourceId="aops")
        self.assertEqual(len(ops), 4)
        self.assertEqual(ops[0]["reason"], "surge 😀 é \u2028 \"q\" \\ /")
        self.assertEqual(ops[0]["ticket"], "<T&1>")
        self.assertEqual(ops[0]["details"]["request.reason"], "Ωmega")
        self.assertEqual(ops[0]["details"]["request.ticket"], "Z-\u00e9")
        self.assertEqual([e["details"]["quota.reason"] for e in ops[1:]], [None, None, "ok"])
        self.assertEqual([e["details"]["outcome"] for e in ops[1:]], ["invalid_request"] * 3)
        admins = self.all(resourceId="aadmin")
        self.assertEqual([e["reason"] for e in admins], ["reason %d" % i for i in range(20)])
        self.assertEqual([e["ticket"] for e in admins], ["OPS-%d" % i for i in range(20)])

    def test_verify(self):
        for reader in (self.reader, self.greader):
            items = self.all(reader)
            st, hdrs, v = self.srv.api("GET", "/jobengine/audit/verify", reader)
            self.assertEqual(st, 200, v)
            self.assertIn("application/json", hdrs.get("Content-Type", ""))
            self.assertEqual(v, {"valid": True, "entries": len(items),
                                 "headSequence": items[-1]["sequence"],
                                 "headHash": items[-1]["hash"]})
            self.assertEqual(v["headSequence"], len(items))

    def test_independent_chain_verification(self):
        for reader in (self.reader, self.greader):
            items = self.all(reader)
            r = harness.verify_chain(items)
            self.assertTrue(r["valid"], r)
            self.assertEqual(r["entries"], len(items))
            self.assertEqual(r["headHash"], self.srv.audit_verify(reader)["headHash"])
        # the verifier itself notices a change, a gap and a reordering
        items = self.all()
        changed = [dict(e) for e in items]
        changed[5]["reason"] = "changed"
        self.assertEqual(harness.verify_chain(changed)["firstBrokenSequence"], 6)
        self.assertEqual(harness.verify_chain(items[:3] + items[4:])["firstBrokenSequence"], 4)
        swapped = items[:2] + [items[3], items[2]] + items[4:]
        self.assertEqual(harness.verify_chain(swapped)["firstBrokenSequence"], 3)

    def test_listing_is_the_hashed_form(self):
        """Every listed entry re-hashes to its own hash (so nothing was added, dropped or
        re-typed on the way out), and holds no real number."""
        st, _, body = self.srv.api("GET", AUDIT + "?limit=500", self.reader)
        self.assertEqual(st, 200)
        for e in body["items"]:  # entry_hash raises on a real number
            self.assertEqual(harness.entry_hash(e), e["hash"], e)


if __name__ == "__main__":
    unittest.main()
