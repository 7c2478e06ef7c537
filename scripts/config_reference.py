#!/usr/bin/env python3
"""The configuration reference of docs/operations.md, generated from serve's settings table.

The table between the markers <!-- settings:begin --> and <!-- settings:end --> is exactly what
`jobengine __doc settings` prints (src/cli/cmd_serve.c, the table --help and the config file
parser use too). --check exits 1, with a diff, when the docs differ; --write rewrites the block.

  scripts/config_reference.py --bin build/jobengine --check|--write [--docs docs/operations.md]
"""
import argparse
import difflib
import subprocess
import sys

BEGIN, END = "<!-- settings:begin -->", "<!-- settings:end -->"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--docs", default="docs/operations.md")
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true")
    mode.add_argument("--write", action="store_true")
    args = ap.parse_args()
    table = subprocess.run([args.bin, "__doc", "settings"], check=True, text=True,
                           stdout=subprocess.PIPE).stdout
    with open(args.docs) as f:
        doc = f.read()
    if doc.count(BEGIN) != 1 or doc.count(END) != 1 or doc.index(BEGIN) > doc.index(END):
        sys.exit("%s: one %s ... %s block is needed" % (args.docs, BEGIN, END))
    head, rest = doc.split(BEGIN)
    old, tail = rest.split(END)
    new = "\n" + table
    if old == new:
        print("config reference: %s matches the settings table" % args.docs)
        return 0
    if args.check:
        sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                                   args.docs, "jobengine __doc settings"))
        print("config reference: %s differs from the settings table; run "
              "`make config-reference`" % args.docs)
        return 1
    with open(args.docs, "w") as f:
        f.write(head + BEGIN + new + END + tail)
    print("config reference: %s rewritten" % args.docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
