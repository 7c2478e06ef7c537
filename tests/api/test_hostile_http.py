"""Black-box tests of hostile HTTP framing (issue 13, docs/api.md "Errors"): a request framed two
ways (Content-Length with Transfer-Encoding, or two Content-Lengths that differ) is answered
400 BAD_REQUEST and its connection closed, so nothing smuggled after it is served; ordinary
keep-alive and pipelining keep working."""

import json
import socket
import unittest

from harness import ServerTestCase

CLIENTS = [("viewer", ["acme"], ["Orch.Viewer"]), ("admin", ["acme"], ["Orch.Admin"])]


def exchange(port, raw, timeout=5):
    """Sends raw bytes, reads until the server closes (or the timeout); returns (bytes, closed)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(raw)
    data, closed = b"", False
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                closed = True
                break
            data += chunk
    except socket.timeout:
        pass
    s.close()
    return data, closed


class HostileHttpTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(CLIENTS, name="hostile-http")

    def assertRefusedAndClosed(self, raw):
        data, closed = exchange(self.srv.port, raw)
        self.assertTrue(closed, data[:400])
        self.assertEqual(data.count(b"HTTP/1.1 "), 1, data)  # the smuggled request is not served
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 400 "), head)
        self.assertIn(b"connection: close", head.lower())
        self.assertEqual(json.loads(body)["error"]["code"], "BAD_REQUEST")

    def test_content_length_with_transfer_encoding(self):
        self.assertRefusedAndClosed(
            b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")

    def test_two_content_lengths_that_differ(self):
        self.assertRefusedAndClosed(
            b"POST /jobengine/quotas HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            b"Content-Length: 7\r\n\r\nabcdefgGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")

    def test_two_transfer_encodings(self):
        self.assertRefusedAndClosed(
            b"POST /token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Transfer-Encoding: identity\r\n\r\n0\r\n\r\n")

    def test_pipelined_requests_still_served(self):
        data, closed = exchange(
            self.srv.port,
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: 0\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        self.assertEqual(data.count(b"HTTP/1.1 200 "), 2, data)  # equal duplicates are one
        self.assertTrue(closed)

    def test_json_routes_want_a_json_content_type(self):
        tok = self.srv.grant("admin", "orch:quota orch:read", quota_reason="media types")
        body = json.dumps({"jobType": "ct.check", "maxActive": 3, "maxPerHour": 10,
                           "burstCapacity": 5, "refillPerSecond": 1}).encode()
        for ctype in ("text/plain", "application/x-www-form-urlencoded", None,
                      "application/jsonx", "application/json/x", "text/json"):
            h = {"Authorization": "Bearer " + tok}
            if ctype:
                h["Content-Type"] = ctype
            st, _, js = self.srv.request("POST", "/jobengine/quotas", h, body)
            self.assertEqual(st, 415, (ctype, js))
            self.assertEqual(js["error"]["code"], "UNSUPPORTED_MEDIA_TYPE", js)
        st, _, page = self.srv.api("GET", "/jobengine/quotas?jobType=ct.check", tok)
        self.assertEqual(page["items"], [], page)  # nothing was created
        for i, ctype in enumerate(("application/json", "Application/JSON; charset=utf-8",
                                   "application/merge-patch+json")):
            b = json.loads(body)
            b["jobType"] = "ct.ok%d" % i
            st, _, js = self.srv.request(
                "POST", "/jobengine/quotas",
                {"Authorization": "Bearer " + tok, "Content-Type": ctype},
                json.dumps(b).encode())
            self.assertEqual(st, 201, (ctype, js))
        # an empty body needs no type (acquire takes an optional body)
        qid = js["quotaId"]
        st, _, js = self.srv.request("POST", "/jobengine/quotas/%s/pause" % qid,
                                     {"Authorization": "Bearer " + tok}, b"")
        self.assertNotEqual(st, 415, js)

    def test_put_that_changes_nothing(self):
        tok = self.srv.grant("admin", "orch:quota orch:read", quota_reason="no-op puts")
        st, _, q = self.srv.api("POST", "/jobengine/quotas", tok,
                                body={"jobType": "noop.check", "maxActive": 3, "maxPerHour": 10,
                                      "burstCapacity": 5, "refillPerSecond": 1})
        self.assertEqual(st, 201, q)
        path = "/jobengine/quotas/" + q["quotaId"]
        entries = len(self.srv.audit_all(tok, resourceId=q["quotaId"]))
        for body in ({}, {"maxActive": 3}, {"maxActive": 3, "maxPerHour": 10, "burstCapacity": 5,
                                            "refillPerSecond": 1.0}):
            st, h, js = self.srv.api("PUT", path, tok, body=body)
            self.assertEqual(st, 200, (body, js))
            self.assertEqual(js["version"], q["version"], (body, js))
            self.assertEqual(js["updatedAt"], q["updatedAt"], (body, js))
            self.assertEqual(h.get("ETag"), '"%d"' % q["version"])
        self.assertEqual(len(self.srv.audit_all(tok, resourceId=q["quotaId"])), entries)
        st, _, js = self.srv.api("PUT", path, tok, body={"maxActive": 4})
        self.assertEqual((st, js["version"]), (200, q["version"] + 1), js)
        self.assertEqual(len(self.srv.audit_all(tok, resourceId=q["quotaId"])), entries + 1)


if __name__ == "__main__":
    unittest.main()
