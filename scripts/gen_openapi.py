#!/usr/bin/env python3
"""Compiles docs/openapi.json into src/api/openapi_doc.c (a C string holding the exact bytes of
the document), so that GET /.well-known/openapi needs no source tree at run time.

  python3 scripts/gen_openapi.py          rewrites src/api/openapi_doc.c
  python3 scripts/gen_openapi.py --check  exits 1 when src/api/openapi_doc.c is out of date

docs/openapi.json is the source; edit it, then run this script and commit both files
(tests/api/test_openapi.py checks that they agree)."""

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "openapi.json")
OUT = os.path.join(ROOT, "src", "api", "openapi_doc.c")
WIDTH = 92  # escaped characters per C string literal: lines stay within 100 columns

HEADER = """\
/* api/openapi_doc.c: GENERATED from docs/openapi.json by scripts/gen_openapi.py: do not edit.
 * The exact bytes of the OpenAPI document that GET /.well-known/openapi serves (api/openapi.c).
 * After changing docs/openapi.json run `python3 scripts/gen_openapi.py` and commit both files. */
/* clang-format off */
#include <stddef.h>

const char je_openapi_doc[] =
"""
FOOTER = """\
    ;
const size_t je_openapi_doc_len = sizeof je_openapi_doc - 1;
/* clang-format on */
"""


def escape_byte(b):
    """One byte as C string literal text. '?' is escaped so that no trigraph can form (-std=c11
    enables them); other non-printable or non-ASCII bytes become 3-digit octal escapes, which
    never swallow a following digit."""
    c = chr(b)
    if c == "\\":
        return "\\\\"
    if c == '"':
        return '\\"'
    if c == "?":
        return "\\?"
    if c == "\n":
        return "\\n"
    if c == "\t":
        return "\\t"
    if 0x20 <= b < 0x7F:
        return c
    return "\\%03o" % b


def literals(data):
    """The document as C string literals: one per line of the document, split at WIDTH."""
    out, cur = [], ""
    for b in data:
        e = escape_byte(b)
        if len(cur) + len(e) > WIDTH:
            out.append(cur)
            cur = ""
        cur += e
        if b == 0x0A:
            out.append(cur)
            cur = ""
    if cur:
        out.append(cur)
    return out


def generate(data):
    body = "".join('    "%s"\n' % lit for lit in literals(data))
    return HEADER + body + FOOTER


def main(argv):
    check = "--check" in argv[1:]
    with open(DOC, "rb") as f:
        data = f.read()
    try:
        json.loads(data.decode("utf-8"))
    except ValueError as e:
        sys.stderr.write("gen_openapi: %s is not valid JSON: %s\n" % (DOC, e))
        return 2
    if b"\0" in data:
        sys.stderr.write("gen_openapi: %s holds a NUL byte\n" % DOC)
        return 2
    text = generate(data)
    if check:
        try:
            with open(OUT, "r", encoding="ascii") as f:
                current = f.read()
        except OSError:
            current = None
        if current != text:
            sys.stderr.write("gen_openapi: %s is out of date: run python3 scripts/gen_openapi.py\n"
                             % os.path.relpath(OUT, ROOT))
            return 1
        return 0
    with open(OUT, "w", encoding="ascii", newline="\n") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
