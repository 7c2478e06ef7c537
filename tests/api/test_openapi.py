"""Black-box tests of GET /.well-known/openapi (api.md §3.7) and of docs/openapi.json against the
real server:

- the route answers without a token, 200 application/json, the exact bytes of docs/openapi.json,
  which the build embeds in the binary;
- the document is OpenAPI 3.1 and sound: every $ref resolves, every path parameter is declared,
  ... (and, where a python3 with openapi_spec_validator is on PATH, it validates too);
- the document's paths and methods are exactly the route table's (src/api/routes.c), /metrics
  excepted whether the table has it or not, and the console's routes (JE_ROUTE_CONSOLE) left out, and each documented operation is routed (not
  404 "no such route", not 405);
- a walk through every operation: each answer's status is documented for it, its media type too,
  its body validates against the documented schema, its required headers are present, and every
  request body sent validates against the documented request schema."""

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import unittest
import urllib.parse
import uuid

import harness
from harness import FORM, REPO, ServerTestCase

DOC_PATH = os.path.join(REPO, "docs", "openapi.json")
ROUTES_C = os.path.join(REPO, "src", "api", "routes.c")
OPENAPI = "/.well-known/openapi"
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
# Documented routes the route table may lack (another change may add them later).
OPTIONAL_ROUTES = {("GET", "/metrics")}
TENANT = "acme"
CLIENTS = [
    ("all", [TENANT], ["Orch.Admin", "Orch.Operator"]),
    ("viewer", [TENANT], ["Orch.Viewer"]),
    ("other", [TENANT], ["Orch.Viewer"]),
    ("platform", ["_system"], ["Orch.PlatformAdmin"]),
]


def load_doc():
    with open(DOC_PATH, "rb") as f:
        raw = f.read()
    return raw, json.loads(raw.decode("utf-8"))


def route_table():
    """{(METHOD, pattern): kind} of the table in src/api/routes.c, with the string macros of that
    file expanded and adjacent literals joined as C does."""
    with open(ROUTES_C, encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    macros = {name: value for name, value in
              re.findall(r'^[ \t]*#define[ \t]+(\w+)[ \t]+"([^"\\]*)"[ \t]*$', text, re.M)}
    m = re.search(r"je_routes\s*\[\s*\]\s*=\s*\{(.*?)\{\s*NULL\s*,", text, re.S)
    if not m:
        raise AssertionError("no je_routes[] table ending in a NULL entry in %s" % ROUTES_C)
    routes = {}
    entry = re.compile(r'\{\s*"([A-Z]+)"\s*,\s*((?:"[^"\\]*"|\w+)(?:\s*(?:"[^"\\]*"|\w+))*)\s*,'
                       r'\s*(JE_ROUTE_\w+)')
    for method, expr, kind in entry.findall(m.group(1)):
        parts = []
        for lit, name in re.findall(r'"([^"\\]*)"|(\w+)', expr):
            if name:
                if name not in macros:
                    raise AssertionError("route path uses %s, not a string macro of routes.c"
                                         % name)
                parts.append(macros[name])
            else:
                parts.append(lit)
        if kind == "JE_ROUTE_CONSOLE":
            continue  # the console's files are no part of the API (docs/api.md "Console")
        routes[(method, "".join(parts))] = kind
    if len(routes) < 30:
        raise AssertionError("only %d routes parsed from %s" % (len(routes), ROUTES_C))
    return routes


def doc_operations(doc):
    """{(METHOD, path): operation} of the document."""
    return {(m.upper(), p): op for p, item in doc["paths"].items()
            for m, op in item.items() if m in HTTP_METHODS}


def resolve_pointer(doc, ref):
    if not ref.startswith("#/"):
        raise KeyError("not a local $ref: %r" % ref)
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list):
            node = node[int(part)]
        else:
            node = node[part]
    return node


def deref(doc, node):
    seen = 0
    while isinstance(node, dict) and "$ref" in node:
        node = resolve_pointer(doc, node["$ref"])
        seen += 1
        if seen > 20:
            raise AssertionError("a $ref cycle")
    return node


# ------------------------------------------------------------------------------------------------
# A small JSON Schema (2020-12) validator for the keywords the document uses.


class SchemaError(AssertionError):
    pass


def _type_ok(value, t):
    if t == "null":
        return value is None
    if t == "boolean":
        return isinstance(value, bool)
    if t == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or \
            (isinstance(value, float) and value.is_integer())
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t == "string":
        return isinstance(value, str)
    if t == "array":
        return isinstance(value, list)
    if t == "object":
        return isinstance(value, dict)
    raise SchemaError("unknown type %r in the document" % t)


def validate(doc, schema, value, where="$"):
    """Raises SchemaError naming the first place where value does not match schema."""
    if schema is True or schema == {}:
        return
    if schema is False:
        raise SchemaError("%s: no value is allowed here" % where)
    if "$ref" in schema:
        validate(doc, resolve_pointer(doc, schema["$ref"]), value, where)
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_type_ok(value, t) for t in types):
            raise SchemaError("%s: %r is not of type %s" % (where, value, "/".join(types)))
    if "const" in schema and value != schema["const"]:
        raise SchemaError("%s: %r is not %r" % (where, value, schema["const"]))
    if "enum" in schema and value not in schema["enum"]:
        raise SchemaError("%s: %r is not one of %r" % (where, value, schema["enum"]))
    for sub in schema.get("allOf", ()):
        validate(doc, sub, value, where)
    for key in ("anyOf", "oneOf"):
        if key not in schema:
            continue
        passed, why = 0, []
        for sub in schema[key]:
            try:
                validate(doc, sub, value, where)
                passed += 1
            except SchemaError as e:
                why.append(str(e))
        if passed == 0 or (key == "oneOf" and passed > 1):
            raise SchemaError("%s: %d of the %s alternatives match %r (%s)"
                              % (where, passed, key, value, "; ".join(why)))
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, (int, float)):
        if "minimum" in schema and value < schema["minimum"]:
            raise SchemaError("%s: %r < minimum %r" % (where, value, schema["minimum"]))
        if "maximum" in schema and value > schema["maximum"]:
            raise SchemaError("%s: %r > maximum %r" % (where, value, schema["maximum"]))
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            raise SchemaError("%s: %r <= exclusiveMinimum" % (where, value))
    elif isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            raise SchemaError("%s: %r is shorter than %d" % (where, value, schema["minLength"]))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise SchemaError("%s: %r is longer than %d" % (where, value, schema["maxLength"]))
        if "pattern" in schema and not re.search(schema["pattern"], value):
            raise SchemaError("%s: %r does not match %s" % (where, value, schema["pattern"]))
    elif isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            raise SchemaError("%s: fewer than %d items" % (where, schema["minItems"]))
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise SchemaError("%s: more than %d items" % (where, schema["maxItems"]))
        if "items" in schema:
            for i, v in enumerate(value):
                validate(doc, schema["items"], v, "%s[%d]" % (where, i))
    elif isinstance(value, dict):
        for name in schema.get("required", ()):
            if name not in value:
                raise SchemaError("%s: required member %r missing from %r" % (where, name, value))
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for name, v in value.items():
            if name in props:
                validate(doc, props[name], v, "%s.%s" % (where, name))
            elif extra is False:
                raise SchemaError("%s: member %r is not documented" % (where, name))
            elif isinstance(extra, dict):
                validate(doc, extra, v, "%s.%s" % (where, name))


def structural_problems(doc):
    """What makes the document unsound, as a list of strings (empty when sound)."""
    problems = []

    def walk(node, where):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                try:
                    resolve_pointer(doc, ref)
                except (KeyError, IndexError, ValueError, TypeError):
                    problems.append("%s: $ref %s does not resolve" % (where, ref))
            for k, v in node.items():
                walk(v, where + "/" + k)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, "%s/%d" % (where, i))
    walk(doc, "#")
    if problems:
        return problems
    if not str(doc.get("openapi", "")).startswith("3.1."):
        problems.append("openapi is %r, not 3.1.x" % doc.get("openapi"))
    for key in ("title", "version"):
        if not doc.get("info", {}).get(key):
            problems.append("info.%s missing" % key)
    schemes = doc.get("components", {}).get("securitySchemes", {})
    tags = {t["name"] for t in doc.get("tags", [])}
    op_ids = set()
    for path, item in doc["paths"].items():
        if not path.startswith("/"):
            problems.append("path %r is not written from the root" % path)
        templated = set(re.findall(r"\{([^}]+)\}", path))
        path_params = [deref(doc, p) for p in item.get("parameters", [])]
        for method, op in item.items():
            if method not in HTTP_METHODS:
                continue
            where = "%s %s" % (method.upper(), path)
            oid = op.get("operationId")
            if not oid or oid in op_ids:
                problems.append("%s: operationId %r missing or repeated" % (where, oid))
            op_ids.add(oid)
            for t in op.get("tags", []):
                if t not in tags:
                    problems.append("%s: tag %r is not declared" % (where, t))
            params = path_params + [deref(doc, p) for p in op.get("parameters", [])]
            seen = set()
            for p in params:
                key = (p.get("in"), p.get("name"))
                if key in seen:
                    problems.append("%s: parameter %r twice" % (where, key))
                seen.add(key)
                if "schema" not in p and "content" not in p:
                    problems.append("%s: parameter %r has no schema" % (where, key))
            declared = {p["name"] for p in params if p.get("in") == "path"}
            for name in templated - declared:
                problems.append("%s: path parameter {%s} is not declared" % (where, name))
            for name in declared - templated:
                problems.append("%s: path parameter %s is not in the path" % (where, name))
            for p in params:
                if p.get("in") == "path" and p.get("required") is not True:
                    problems.append("%s: path parameter %s must be required" % (where, p["name"]))
            for req in op.get("security", doc.get("security", [])):
                for name in req:
                    if name not in schemes:
                        problems.append("%s: security scheme %r undefined" % (where, name))
            if path.startswith("/jobengine/") and not any(
                    "bearerAuth" in req for req in op.get("security", [])):
                problems.append("%s: a /jobengine route without bearerAuth" % where)
            if not op.get("responses"):
                problems.append("%s: no responses" % where)
            for status, resp in op.get("responses", {}).items():
                resp = deref(doc, resp)
                if not re.match(r"^[1-5]\d\d$", status):
                    problems.append("%s: response key %r" % (where, status))
                if not resp.get("description"):
                    problems.append("%s %s: no description" % (where, status))
                if "X-Trace-Id" not in resp.get("headers", {}):
                    problems.append("%s %s: X-Trace-Id not documented" % (where, status))
    for name, schema in doc.get("components", {}).get("schemas", {}).items():
        def closed_required(s, at):
            if isinstance(s, dict):
                if s.get("additionalProperties") is False:
                    for r in s.get("required", []):
                        if r not in s.get("properties", {}):
                            problems.append("schema %s%s: required %r is not a property"
                                            % (name, at, r))
                for k, v in s.items():
                    closed_required(v, at + "/" + k)
            elif isinstance(s, list):
                for i, v in enumerate(s):
                    closed_required(v, "%s/%d" % (at, i))
        closed_required(schema, "")
    return problems


def spec_validator_result():
    """(ran, ok, output) of openapi_spec_validator: in this interpreter when it has the module,
    else with another python3 on PATH that has it; ran is False when none has it."""
    try:
        from openapi_spec_validator import validate as oas_validate
    except ImportError:
        oas_validate = None
    if oas_validate is not None:
        try:
            oas_validate(load_doc()[1])
            return True, True, ""
        except Exception as e:  # the validator's own error types vary between versions
            return True, False, str(e)
    for name in ("python3", "python"):
        exe = shutil.which(name)
        if not exe or os.path.realpath(exe) == os.path.realpath(sys.executable):
            continue
        try:
            p = subprocess.run([exe, "-m", "openapi_spec_validator", DOC_PATH],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            continue
        out = p.stdout + p.stderr
        if "No module named" in out:
            continue
        return True, p.returncode == 0, out
    return False, False, ""


# ------------------------------------------------------------------------------------------------


class OpenApiDocumentTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.raw, cls.doc = load_doc()
        cls.table = route_table()
        cls.ops = doc_operations(cls.doc)
        srv = cls.srv = cls.start_class_server(CLIENTS, name="openapi", metrics=True)
        cls.token = srv.grant("all", "orch:read orch:jobs orch:quota orch:backfill",
                              quota_reason="openapi conformance", quota_ticket="OA-1",
                              backfill_reason="openapi conformance")
        cls.reader = srv.grant("viewer", "orch:read")
        cls.gov = srv.grant("platform", "orch:governance", governance_reason="openapi conformance",
                            governance_ticket="OA-9")
        cls.platform_read = srv.grant("platform", "orch:read")
        cls.covered = set()  # (METHOD, template) answered 2xx and checked

    # -- the route itself --------------------------------------------------------------------------
    def test_served_without_token_as_json(self):
        st, hdrs, body = self.srv.request("GET", OPENAPI)
        self.assertEqual(st, 200, body)
        self.assertEqual(hdrs.get("Content-Type", "").split(";")[0].strip(), "application/json")
        self.assertRegex(hdrs.get("X-Trace-Id") or "", r"^[0-9a-f]{32}$")
        self.assertIn("max-age=", hdrs.get("Cache-Control") or "")
        self.assertIsInstance(body, dict)
        self.assertTrue(str(body.get("openapi", "")).startswith("3.1"), body.get("openapi"))
        self.assertEqual(body["info"]["title"], "JobEngine")
        self.assertEqual([s["url"] for s in body["servers"]], ["http://127.0.0.1:8440"])
        for path in body["paths"]:
            self.assertTrue(path.startswith("/"), path)
        # HEAD answers like GET, without a body
        st, hdrs, text = self.srv.request("HEAD", OPENAPI)
        self.assertEqual(st, 200)
        self.assertEqual(text, "")

    def test_served_bytes_are_docs_openapi_json(self):
        u = urllib.parse.urlsplit(self.srv.url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=15)
        try:
            conn.request("GET", OPENAPI)
            raw = conn.getresponse().read()
        finally:
            conn.close()
        self.assertEqual(raw, self.raw, "the served document differs from docs/openapi.json: "
                                        "rebuild the binary")

    # -- the document ------------------------------------------------------------------------------
    def test_document_is_sound(self):
        self.assertEqual(structural_problems(self.doc), [])
        self.assertEqual(self.doc["openapi"], "3.1.0")
        self.assertEqual(self.doc["info"]["version"], "0.1.0")
        comps = self.doc["components"]
        self.assertEqual(comps["securitySchemes"]["bearerAuth"],
                         dict(comps["securitySchemes"]["bearerAuth"], type="http",
                              scheme="bearer", bearerFormat="JWT"))
        self.assertEqual(comps["securitySchemes"]["clientBasic"]["scheme"], "basic")
        for name in ("Quota", "Job", "LeasedJob", "Backfill", "AuditEntry", "ErrorEnvelope",
                     "OAuthError"):
            self.assertIn(name, comps["schemas"])
        err = comps["schemas"]["ErrorEnvelope"]["properties"]["error"]
        self.assertEqual(set(err["required"]), {"code", "message", "trace_id", "details"})
        for path in ("/token", "/introspect", "/revoke"):
            content = self.ops[("POST", path)]["requestBody"]["content"]
            self.assertEqual(list(content), [FORM], path)
        token_params = set(deref(self.doc, self.ops[("POST", "/token")]["requestBody"]["content"]
                                 [FORM]["schema"])["properties"])
        self.assertLessEqual({"grant_type", "scope", "tenant", "quota_reason", "quota_ticket",
                              "backfill_reason", "backfill_ticket", "operator_reason",
                              "operator_ticket"}, token_params)
        for (method, path), op in self.ops.items():
            if path.startswith("/jobengine/"):
                names = {deref(self.doc, p)["name"] for p in op.get("parameters", [])}
                self.assertLessEqual({"X-StellaOps-Tenant", "X-Stella-Tenant"}, names, path)
        limit = comps["parameters"]["limit"]["schema"]
        self.assertEqual((limit["minimum"], limit["maximum"], limit["default"]), (1, 500, 50))

    def test_spec_validator(self):
        ran, ok, out = spec_validator_result()
        if not ran:
            self.skipTest("openapi_spec_validator is not installed (structural checks ran)")
        self.assertTrue(ok, out)

    # -- routes --------------------------------------------------------------------------------------
    def test_paths_match_route_table(self):
        documented = set(self.ops)
        table = set(self.table)
        missing = sorted(table - documented)
        phantom = sorted(documented - table - OPTIONAL_ROUTES)
        self.assertEqual(missing, [], "routes of src/api/routes.c missing from the document")
        self.assertEqual(phantom, [], "documented routes the server does not have")
        for route in OPTIONAL_ROUTES:
            self.assertIn(route, documented, "%s %s should be documented" % route)
        for (method, path), kind in self.table.items():
            public = kind != "JE_ROUTE_API"
            op = self.ops[(method, path)]
            if kind == "JE_ROUTE_PUBLIC":
                self.assertEqual(op.get("security"), [], "%s %s needs no token" % (method, path))
            elif kind == "JE_ROUTE_AUTHORITY":
                self.assertIn({"clientBasic": []}, op.get("security"), path)
            self.assertEqual(public, not path.startswith("/jobengine/"), path)

    def test_every_documented_route_is_routed(self):
        for (method, path), op in sorted(self.ops.items()):
            if (method, path) not in self.table:
                continue  # an optional route this server lacks (checked above)
            concrete = re.sub(r"\{[^}]+\}", lambda m: str(uuid.uuid4()), path)
            headers, body = {}, None
            if path.startswith("/jobengine/"):
                headers["Authorization"] = "Bearer " + self.token
                if method in ("POST", "PUT", "DELETE"):
                    headers["Content-Type"] = "application/json"
                    body = b"{}"
            elif "requestBody" in op:
                headers["Content-Type"] = FORM
                body = b""
            st, hdrs, js = self.srv.request(method, concrete, headers, body)
            routing_404 = st == 404 and isinstance(js, dict) and \
                js.get("error", {}).get("message") == "no such route"
            self.assertFalse(routing_404, "%s %s is not routed" % (method, concrete))
            self.assertNotEqual(st, 405, "%s %s: %r" % (method, concrete, js))
            self.assertIn(str(st), op["responses"],
                          "%s %s answered %s, not documented: %r" % (method, path, st, js))

    # -- answers against the document ---------------------------------------------------------------
    def check(self, method, template, resp, request_body=None, media_in=None):
        """resp = (status, headers, body) of a call of template; asserts it is documented."""
        st, hdrs, body = resp
        op = self.ops.get((method, template))
        self.assertIsNotNone(op, "%s %s is not documented" % (method, template))
        where = "%s %s -> %s" % (method, template, st)
        if request_body is not None and 200 <= st < 300:
            rb = op.get("requestBody")
            self.assertIsNotNone(rb, "%s takes no documented body" % where)
            media = rb["content"].get(media_in or "application/json")
            self.assertIsNotNone(media, "%s: no %s request body" % (where, media_in))
            try:
                validate(self.doc, media["schema"], request_body, "request")
            except SchemaError as e:
                self.fail("%s: a request the server accepts is invalid by the document: %s"
                          % (where, e))
        self.assertIn(str(st), op["responses"], "%s is not documented: %r" % (where, body))
        resp_doc = deref(self.doc, op["responses"][str(st)])
        for name, h in resp_doc.get("headers", {}).items():
            h = deref(self.doc, h)
            value = hdrs.get(name)
            if h.get("required"):
                self.assertIsNotNone(value, "%s: header %s missing" % (where, name))
            if value is not None:
                schema = h.get("schema", {})
                if schema.get("type") == "integer":
                    self.assertRegex(value, r"^-?\d+$", "%s: header %s" % (where, name))
                    value = int(value)
                try:
                    validate(self.doc, schema, value, name)
                except SchemaError as e:
                    self.fail("%s: %s" % (where, e))
        content = resp_doc.get("content")
        if not content:
            self.assertIn(body, ("", None), "%s: a body where none is documented" % where)
        else:
            ctype = (hdrs.get("Content-Type") or "").split(";")[0].strip()
            self.assertIn(ctype, content, "%s: Content-Type %r not documented" % (where, ctype))
            schema = content[ctype]["schema"]
            try:
                if ctype == "application/x-ndjson":
                    validate(self.doc, schema, body)
                    line_schema = op["x-ndjson-line-schema"]
                    for i, line in enumerate(body.splitlines()):
                        validate(self.doc, line_schema, json.loads(line), "line %d" % (i + 1))
                else:
                    validate(self.doc, schema, body)
            except SchemaError as e:
                self.fail("%s: the answer does not match the document: %s" % (where, e))
            if isinstance(body, dict) and "error" in body and ctype == "application/json" \
                    and isinstance(body["error"], dict):
                self.assertEqual(body["error"]["trace_id"], hdrs.get("X-Trace-Id"))
        if 200 <= st < 300:
            type(self).covered.add((method, template))
        return body

    def call(self, expect, method, template, params=(), token=None, body=None, headers=None,
             query=""):
        """Calls template (its {x} filled from params in order); asserts the status is expect
        and that the answer is documented. Returns the body."""
        path = template
        for p in params:
            path = re.sub(r"\{[^}]+\}", p, path, count=1)
        resp = self.srv.api(method, path + query, token, headers=headers, body=body)
        self.assertEqual(resp[0], expect, "%s %s%s: %r" % (method, path, query, resp[2]))
        return self.check(method, template, resp,
                          request_body=body if isinstance(body, (dict, list)) else None)

    def authority(self, expect, path, client, form, auth="basic"):
        st, js, hdrs = self.srv.authority_post(path, client, auth=auth, form=form)
        self.assertEqual(st, expect, "%s: %r" % (path, js))
        request = {k: v for k, v in form}
        if auth == "form" and client is not None:
            request.update(client_id=client, client_secret=self.srv.secrets[client])
        return self.check("POST", path, (st, hdrs, js), request_body=request, media_in=FORM)

    def test_answers_match_document(self):
        tok, srv, call = self.token, self.srv, self.call
        now = harness.now_ms()

        # operations, discovery, keys
        for path in ("/healthz", "/readyz", "/.well-known/openid-configuration", "/jwks",
                     OPENAPI):
            call(200, "GET", path)
        if ("GET", "/metrics") in self.table:
            # on the API listener a 404 that says where; the documented 200 on --metrics-listen
            call(404, "GET", "/metrics")
            st, hdrs, _ = srv.metrics()
            self.assertEqual(st, 200)
            self.assertTrue(hdrs.get("Content-Type", "").startswith("text/plain"), hdrs)
            type(self).covered.add(("GET", "/metrics"))

        # the Authority
        scope = [("grant_type", "client_credentials"), ("scope", "orch:read")]
        granted = self.authority(200, "/token", "viewer", scope)
        self.authority(200, "/token", "viewer", scope, auth="form")
        self.authority(400, "/token", "viewer", [("grant_type", "client_credentials"),
                                                 ("scope", "orch:quota")])
        self.authority(401, "/token", None, scope, auth="none")
        self.authority(200, "/introspect", "viewer", [("token", granted["access_token"])])
        self.authority(200, "/introspect", "viewer", [("token", "not.a.token")])
        self.authority(400, "/introspect", "viewer", [])
        self.authority(400, "/revoke", "other", [("token", granted["access_token"])])
        self.authority(200, "/revoke", "viewer", [("token", granted["access_token"])])
        st, hdrs, js = harness.http_request_tolerant(
            srv.url, "POST", "/token", {"Content-Type": FORM}, b"a=" + b"x" * (1024 * 1024 + 10))
        self.assertEqual(st, 413, js)
        self.check("POST", "/token", (st, hdrs, js))

        # the gate
        Q, QID = "/jobengine/quotas", "/jobengine/quotas/{quotaId}"
        call(401, "GET", Q)
        call(403, "POST", Q, token=self.reader, body=harness.quota_body("nope"))
        call(400, "GET", Q, token=tok, headers={"X-StellaOps-Tenant": "globex"})
        call(200, "GET", Q, token=tok, headers={"X-StellaOps-Tenant": TENANT,
                                                "X-Stella-Tenant": TENANT})

        # quotas
        q1 = call(201, "POST", Q, token=tok, body=harness.quota_body("scan.image"),
                  headers={"Idempotency-Key": "oa-q1"})
        call(201, "POST", Q, token=tok, body=harness.quota_body("scan.image"),
             headers={"Idempotency-Key": "oa-q1"})  # the first answer again
        call(409, "POST", Q, token=tok, body=harness.quota_body("scan.image"))  # QUOTA_EXISTS
        call(422, "POST", Q, token=tok, body=harness.quota_body("big", max_active=5000))
        call(400, "POST", Q, token=tok, body=dict(harness.quota_body("typo"), maxActiv=1))
        call(400, "POST", Q, token=tok, body=harness.quota_body("blank", reason=" "))
        call(201, "POST", Q, token=tok, body=harness.quota_body(
            "ingest.advisory", reason="for backfills", ticket="OA-2"))
        q2 = call(201, "POST", Q, token=tok, body=harness.quota_body("tiny", max_active=2),
                  headers={"X-StellaOps-Reason": "header reason", "X-StellaOps-Ticket": "OA-3"})
        qid, q2id = [q1["quotaId"]], [q2["quotaId"]]
        call(200, "GET", QID, qid, token=tok)
        call(404, "GET", QID, [str(uuid.uuid4())], token=tok)
        page = call(200, "GET", Q, token=tok, query="?limit=1")
        self.assertIsNotNone(page["continuationToken"])
        call(200, "GET", Q, token=tok,
             query="?continuationToken=" + urllib.parse.quote(page["continuationToken"]))
        call(400, "GET", Q, token=tok, query="?limit=0")
        call(200, "GET", Q, token=tok, query="?paused=false&jobType=scan.image")
        call(200, "GET", Q + "/summary", token=tok)
        call(200, "GET", Q + "/ceilings", token=tok, query="?jobType=scan.image")
        call(200, "GET", Q + "/ceilings", token=self.reader, query="?jobType=*")
        call(400, "GET", Q + "/ceilings", token=tok)
        call(200, "PUT", QID, qid, token=tok, body={"maxActive": 20, "reason": "more"},
             headers={"If-Match": '"%d"' % q1["version"]})
        call(412, "PUT", QID, qid, token=tok, body={"maxActive": 20}, headers={"If-Match": '"999"'})
        call(422, "PUT", QID, qid, token=tok, body={"maxPerHour": 10 ** 9})
        until = harness.format_time_ms(now + 3600 * 1000)
        elevated = call(200, "PUT", QID, qid, token=tok,
                        body={"maxActive": 30, "expiresAt": until})
        self.assertIsNotNone(elevated["elevation"])
        call(200, "POST", QID + "/pause", qid, token=tok, body={"reason": "hold"})
        call(423, "POST", QID + "/acquire", qid, token=tok, body={})
        call(200, "POST", QID + "/resume", qid, token=tok)
        permit = call(200, "POST", QID + "/acquire", qid, token=tok, body={"ttlSeconds": 60},
                      headers={"Idempotency-Key": "oa-p1"})
        call(409, "POST", QID + "/acquire", qid, token=tok, body={"ttlSeconds": 61},
             headers={"Idempotency-Key": "oa-p1"})  # IDEMPOTENCY_KEY_REUSED
        call(204, "POST", QID + "/release", qid, token=tok, body={"permitId": permit["permitId"]})
        call(404, "POST", QID + "/release", qid, token=tok, body={"permitId": permit["permitId"]})
        call(200, "POST", QID + "/acquire", q2id, token=tok)
        call(200, "POST", QID + "/acquire", q2id, token=tok)
        call(429, "POST", QID + "/acquire", q2id, token=tok)
        call(409, "PUT", QID, q2id, token=tok, body={"maxActive": 1})  # below usage
        gone = call(201, "POST", Q, token=tok, body=harness.quota_body("gone"))
        call(204, "DELETE", QID, [gone["quotaId"]], token=tok, body={"reason": "cleanup"})
        call(404, "DELETE", QID, [gone["quotaId"]], token=tok)

        # capacity pools (issue 15): the platform's view and a tenant's, the pool's refusal of an
        # acquire and its hold on a lease
        P, PID = "/jobengine/pools", "/jobengine/pools/{jobType}"
        pt = ["pool.scan"]
        pool = {"strategy": "max-limit", "maxActive": 1, "maxPerHour": 1000, "shares": [
            {"tenantId": TENANT, "weight": 2.5, "tier": 1, "reserved": 0, "maxActive": 1},
            {"tenantId": "globex", "maxActive": None}], "reason": "capacity plan",
            "ticket": "OA-10"}
        created = call(201, "PUT", PID, pt, token=self.gov, body=pool)
        self.assertIn("usage", created)
        call(200, "PUT", PID, pt, token=self.gov, body=pool, headers={"If-Match": '"1"'})
        call(412, "PUT", PID, pt, token=self.gov, body=pool, headers={"If-Match": '"9"'})
        call(400, "PUT", PID, pt, token=self.gov, body=dict(pool, strategy="fair"))
        call(403, "PUT", PID, pt, token=tok, body=pool)
        call(404, "PUT", PID, ["*"], token=self.gov, body=pool)
        call(201, "PUT", PID, ["pool.other"], token=self.gov,
             headers={"X-StellaOps-Reason": "second pool"},
             body={"strategy": "unlimited", "maxActive": 5, "maxPerHour": None, "shares": None})
        full = call(200, "GET", P, token=self.platform_read)
        self.assertEqual([p["jobType"] for p in full["items"]], ["pool.other", "pool.scan"])
        mine = call(200, "GET", P, token=self.reader)
        self.assertTrue(all("you" in p and "usage" not in p for p in mine["items"]), mine)
        call(200, "GET", PID, pt, token=self.gov)
        call(200, "GET", PID, pt, token=tok)
        call(404, "GET", PID, ["pool.none"], token=tok)
        pq = call(201, "POST", Q, token=tok, body=harness.quota_body("pool.scan"))
        pqid = [pq["quotaId"]]
        held = call(200, "POST", QID + "/acquire", pqid, token=tok, body={"ttlSeconds": 60})
        refused = call(429, "POST", QID + "/acquire", pqid, token=tok)
        self.assertEqual((refused["error"]["code"], refused["error"]["details"]["cap"]),
                         ("POOL_EXHAUSTED", "pool_max_active"), refused)
        call(201, "POST", "/jobengine/jobs", token=tok, body={"jobType": "pool.scan",
                                                              "payload": 1})
        waiting = call(200, "POST", "/jobengine/jobs/lease", token=tok,
                       body={"jobTypes": ["pool.scan"], "workerId": "wp"})
        self.assertEqual((waiting["jobs"], waiting["pool"]["jobType"]), ([], "pool.scan"), waiting)
        seen = call(200, "GET", PID, pt, token=self.platform_read)
        self.assertEqual(seen["usage"]["active"], 1, seen)
        call(204, "POST", QID + "/release", pqid, token=tok, body={"permitId": held["permitId"]})
        call(204, "DELETE", PID, pt, token=self.gov, body={"reason": "done", "ticket": "OA-11"})
        call(204, "DELETE", PID, ["pool.other"], token=self.gov)
        call(404, "DELETE", PID, pt, token=self.gov)

        # circuit breakers (issue 15): the platform sets and forces, a failing job opens one, the
        # lease and acquire answers say so, a tenant's operator forces its own per-tenant row
        BR, BRID = "/jobengine/breakers", "/jobengine/breakers/{jobType}"
        bt, own = ["brk.scan"], ["brk.own"]
        brk = {"failureRate": 1, "minSamples": 1, "windowSeconds": 60, "openSeconds": 600,
               "probes": 2, "reason": "protect the scanners", "ticket": "OA-20"}
        made = call(201, "PUT", BRID, bt, token=self.gov, body=brk)
        self.assertEqual((made["state"], made["tenantId"], made["version"]), ("closed", None, 1))
        call(200, "PUT", BRID, bt, token=self.gov, body=dict(brk, failureRate=0.75),
             headers={"If-Match": '"1"'})
        call(412, "PUT", BRID, bt, token=self.gov, body=brk, headers={"If-Match": '"9"'})
        call(400, "PUT", BRID, bt, token=self.gov, body=dict(brk, probes=0))
        call(403, "PUT", BRID, bt, token=tok, body=brk)
        call(404, "PUT", BRID, ["*"], token=self.gov, body=brk)
        call(201, "PUT", BRID, own, token=self.gov, body={"perTenant": True},
             headers={"X-StellaOps-Reason": "one per tenant"})
        operator = srv.grant("all", "orch:operate", operator_reason="our own breaker",
                             operator_ticket="OA-21")
        mine = call(200, "POST", BRID + "/force", own, token=operator, body={"state": "closed"})
        self.assertEqual((mine["tenantId"], mine["force"]), (TENANT, "forced-closed"), mine)
        call(409, "POST", BRID + "/force", bt, token=operator, body={"state": "open"})
        call(400, "POST", BRID + "/force", bt, token=self.gov, body={"state": "sideways"})
        call(404, "POST", BRID + "/force", ["brk.none"], token=self.gov, body={"state": "open"})
        rows = call(200, "GET", BR, token=self.platform_read)
        self.assertEqual([(b["jobType"], b["tenantId"]) for b in rows["items"]],
                         [("brk.own", None), ("brk.own", TENANT), ("brk.scan", None)], rows)
        call(200, "GET", BR, token=self.reader)
        call(200, "GET", BRID, own, token=self.reader)
        call(404, "GET", BRID, ["brk.none"], token=self.reader)
        bq = call(201, "POST", Q, token=tok, body=harness.quota_body("brk.scan"))
        for _ in range(2):
            call(201, "POST", "/jobengine/jobs", token=tok, body={"jobType": "brk.scan",
                                                                  "payload": 1})
        got = call(200, "POST", "/jobengine/jobs/lease", token=tok,
                   body={"jobTypes": ["brk.scan"], "workerId": "wb"})
        bj = got["jobs"][0]
        call(200, "POST", "/jobengine/jobs/{jobId}/complete", [bj["jobId"]], token=tok,
             body={"leaseId": bj["leaseId"], "status": "failed", "error": "downstream down"})
        stopped = call(200, "POST", "/jobengine/jobs/lease", token=tok,
                       body={"jobTypes": ["brk.scan"], "workerId": "wb"})
        self.assertEqual((stopped["jobs"], stopped["breaker"]["jobType"]), ([], "brk.scan"))
        self.assertIsNotNone(stopped["breaker"]["retryAt"], stopped)
        shut = call(503, "POST", QID + "/acquire", [bq["quotaId"]], token=tok, body={})
        self.assertEqual((shut["error"]["code"], shut["error"]["details"]["state"]),
                         ("BREAKER_OPEN", "open"), shut)
        call(200, "POST", BRID + "/force", bt, token=self.gov,
             body={"state": "auto", "reason": "downstream back", "ticket": "OA-22"})
        call(204, "DELETE", BRID, bt, token=self.gov, body={"reason": "done"})
        call(204, "DELETE", BRID, own, token=self.gov)
        call(404, "DELETE", BRID, bt, token=self.gov)

        # jobs
        J, JID = "/jobengine/jobs", "/jobengine/jobs/{jobId}"
        event_time = harness.format_time_ms(now - 60000)
        job = call(201, "POST", J, token=tok, body={
            "jobType": "scan.image", "payload": {"image": "a"}, "priority": 5,
            "sourceId": "registry", "eventKey": "img-1", "eventTime": event_time},
            headers={"Idempotency-Key": "oa-j1"})
        call(409, "POST", J, token=tok, body={"jobType": "scan.image", "payload": 2},
             headers={"Idempotency-Key": "oa-j1"})
        call(400, "POST", J, token=tok, body={"jobType": "*", "payload": 1})
        st, hdrs, js = harness.http_request_tolerant(
            srv.url, "POST", J, {"Authorization": "Bearer " + tok,
                                 "Content-Type": "application/json"},
            b'{"payload": "' + b"x" * (1024 * 1024 + 10) + b'"}')
        self.assertEqual(st, 413, js)
        self.check("POST", J, (st, hdrs, js))
        call(200, "GET", J, token=tok, query="?status=pending&jobType=scan.image&limit=5")
        call(400, "GET", J, token=tok, query="?status=bogus")
        call(200, "GET", J + "/summary", token=tok)
        call(200, "GET", JID, [job["jobId"]], token=tok)
        call(404, "GET", JID, [str(uuid.uuid4())], token=tok)
        leased = call(200, "POST", J + "/lease", token=tok, body={
            "jobTypes": ["scan.image"], "workerId": "w1", "max": 1, "leaseSeconds": 60})
        self.assertEqual(len(leased["jobs"]), 1, leased)
        lj = leased["jobs"][0]
        ljid = [lj["jobId"]]
        call(200, "POST", JID + "/heartbeat", ljid, token=tok,
             body={"leaseId": lj["leaseId"], "extendSeconds": 30})
        call(200, "POST", "/jobengine/dedup/claim", token=tok, body={
            "sourceId": "registry", "jobId": lj["jobId"],
            "events": [{"eventKey": "img-1", "eventTime": event_time},
                       {"eventKey": "img-2", "eventTime": event_time, "digest": "sha256:ab"}]})
        call(404, "POST", "/jobengine/dedup/claim", token=tok, body={
            "sourceId": "registry", "jobId": str(uuid.uuid4()),
            "events": [{"eventKey": "img-1", "eventTime": event_time}]})
        call(200, "POST", JID + "/complete", ljid, token=tok,
             body={"leaseId": lj["leaseId"], "status": "succeeded"})
        call(409, "POST", JID + "/heartbeat", ljid, token=tok, body={"leaseId": lj["leaseId"]})
        call(409, "POST", JID + "/complete", ljid, token=tok,
             body={"leaseId": lj["leaseId"], "status": "failed", "error": "late"})
        call(409, "POST", "/jobengine/dedup/claim", token=tok, body={
            "sourceId": "registry", "jobId": lj["jobId"],
            "events": [{"eventKey": "img-1", "eventTime": event_time}]})
        call(200, "POST", QID + "/pause", qid, token=tok)
        call(201, "POST", J, token=tok, body={"jobType": "scan.image", "payload": None})
        held = call(200, "POST", J + "/lease", token=tok, body={"jobTypes": ["scan.image"],
                                                                "workerId": "w1"})
        self.assertEqual(held, {"jobs": [], "nextEligibleAt": None})
        call(200, "POST", QID + "/resume", qid, token=tok)
        again = call(200, "POST", J + "/lease", token=tok, body={"jobTypes": ["scan.image"],
                                                                 "workerId": "w2"})
        self.assertEqual(len(again["jobs"]), 1, again)
        call(200, "POST", JID + "/complete", [again["jobs"][0]["jobId"]], token=tok,
             body={"leaseId": again["jobs"][0]["leaseId"], "status": "failed", "error": "boom"})

        # backfills
        B, BID = "/jobengine/backfills", "/jobengine/backfills/{backfillId}"
        hour = harness.hour_start_ms(now) - 3 * harness.HOUR_MS

        def window(start, hours, source="nvd", **extra):
            return harness.backfill_body(source, "ingest.advisory", start,
                                         start + hours * harness.HOUR_MS, **extra)
        preview = call(200, "POST", B + "/preview", token=tok, body=window(hour, 2))
        call(400, "POST", B + "/preview", token=tok, body={"sourceId": "nvd"})
        call(200, "POST", B, token=tok, body=window(hour, 2, dryRun=True))
        bf = call(201, "POST", B, token=tok, body=window(
            hour, 2, planHash=preview["plan"]["planHash"], batchSeconds=3600,
            reason="re-ingest", ticket="SEC-1"), headers={"Idempotency-Key": "oa-b1"})
        call(409, "POST", B, token=tok, body=window(hour, 1))  # BACKFILL_DUPLICATE
        future = harness.hour_start_ms(now) + 2 * harness.HOUR_MS
        call(422, "POST", B, token=tok, body=window(future, 1, source="osv"))  # BACKFILL_UNSAFE
        call(409, "POST", B, token=tok, body=window(hour - 10 * harness.HOUR_MS, 1, source="ghsa",
                                                    planHash="sha256:" + "0" * 64))  # PLAN_CHANGED
        call(200, "GET", B, token=tok, query="?limit=2&status=pending")
        call(400, "GET", B, token=tok, query="?status=nope")
        call(200, "GET", BID, [bf["backfillId"]], token=tok)
        call(404, "GET", BID, [str(uuid.uuid4())], token=tok)
        bid = [bf["backfillId"]]
        call(412, "POST", BID + "/start", bid, token=tok, headers={"If-Match": '"999"'})
        call(409, "POST", BID + "/pause", bid, token=tok)  # INVALID_STATE
        call(200, "POST", BID + "/start", bid, token=tok, body={"reason": "go"})
        batch_lease = {"jobTypes": ["ingest.advisory"], "workerId": "b1"}

        def lease_batch():
            resp = self.srv.api("POST", J + "/lease", tok, body=batch_lease)
            return resp if resp[0] != 200 or resp[2]["jobs"] else None
        resp = harness.wait_until("a batch job to lease", lease_batch, timeout=15)
        self.assertEqual(resp[0], 200, resp[2])
        batch = self.check("POST", J + "/lease", resp, request_body=batch_lease)["jobs"][0]
        self.assertEqual(batch["backfillId"], bf["backfillId"], batch)
        call(200, "GET", JID, [batch["jobId"]], token=tok)
        call(200, "POST", JID + "/complete", [batch["jobId"]], token=tok,
             body={"leaseId": batch["leaseId"], "status": "succeeded"})
        call(200, "POST", BID + "/pause", bid, token=tok, headers={"X-StellaOps-Reason": "wait"})
        call(200, "POST", BID + "/resume", bid, token=tok)
        call(200, "POST", BID + "/cancel", bid, token=tok, body={"reason": "done", "ticket": "T"})
        call(409, "POST", BID + "/resume", bid, token=tok)

        # audit
        A = "/jobengine/audit"
        page = call(200, "GET", A, token=tok, query="?limit=3")
        call(200, "GET", A, token=tok,
             query="?limit=3&continuationToken=" + urllib.parse.quote(page["continuationToken"]))
        call(200, "GET", A, token=tok, query="?eventType=quota.created&resourceType=quota"
                                             "&actor=all&since=2020-01-01T00:00:00Z")
        call(400, "GET", A, token=tok, query="?since=yesterday")
        call(200, "GET", A + "/verify", token=tok)
        call(200, "GET", A + "/export", token=tok)
        call(200, "GET", A + "/export", token=tok, query="?fromSequence=2")
        call(400, "GET", A + "/export", token=tok, query="?fromSequence=0")

        # every documented operation of this server answered 2xx once, and matched
        wanted = {k for k in self.ops if k in self.table}
        self.assertEqual(sorted(wanted - self.covered), [],
                         "operations whose success answer was not checked")

    def test_validator_catches_mismatches(self):
        """The checks above would notice a document that disagrees with the server."""
        quota = {"quotaId": "x"}
        with self.assertRaises(SchemaError):
            validate(self.doc, {"$ref": "#/components/schemas/Quota"}, quota)
        st, hdrs, body = self.srv.api("GET", "/healthz")
        with self.assertRaises(SchemaError):
            validate(self.doc, {"$ref": "#/components/schemas/Ready"}, body)
        with self.assertRaises(SchemaError):
            validate(self.doc, {"$ref": "#/components/schemas/ErrorEnvelope"},
                     {"error": {"code": "X", "message": "m", "trace_id": "0" * 32,
                                "details": {}, "extra": 1}})
        broken = json.loads(self.raw)
        broken["paths"]["/jobengine/quotas/{quotaId}"]["get"]["parameters"] = []
        broken["paths"]["/jobengine/jobs"]["get"]["responses"]["200"]["content"][
            "application/json"]["schema"] = {"$ref": "#/components/schemas/Nope"}
        problems = structural_problems(broken)
        self.assertTrue(any("Nope" in p for p in problems), problems)
        del broken["paths"]["/jobengine/jobs"]
        problems = structural_problems(broken)
        self.assertTrue(any("{quotaId}" in p for p in problems), problems)

if __name__ == "__main__":
    unittest.main(verbosity=2)
