#!/usr/bin/env python3
"""Checks that no #include in src/ runs upwards across the floors of the project.

  python3 scripts/check_floors.py [--root DIR]   exits 1 on any violation, 0 otherwise
  python3 scripts/check_floors.py --list         prints the floor table

A file may include headers of its own folder and of LOWER floors only. A header of another
folder on the same floor, or of a higher floor, is a violation; so is a folder under src/ that
the table below does not name (a new folder is placed on a floor consciously, here).

Inside store/ the files stand on tiers the same way: a store file may include store files of its
own tier or lower. In the operations tier each operation is apart, as the folders of one floor
are: an operation file may include its own header and the tier's shared headers, never another
operation's header.

Only quoted includes count ("dir/file.h", resolved as the compiler does: next to the including
file first, then from src/); <system> includes are ignored. Python 3 standard library only.
"""

# ----------------------------------------------------------------------------------------------
# THE FLOOR TABLE: the one place that says what stands on which floor. Lowest floor first.
# (floor, folder under src/, what it holds)
FLOORS = [
    (0, "core", "every rule and the records it changes, pure (no I/O, no clock, no"
                " randomness); buffers, JCS and the shared limits"),
    (1, "base", "what every floor above uses: the arena, base64url, secure random and UUIDv7,"
                " the clock"),
    (2, "store", "the store interface and its backends"),
    (3, "auth", "JWT, keys, the Authority's rules"),
    (3, "http", "the server, request/response helpers"),
    (4, "engine", "background work"),
    (5, "api", "the resource handlers"),
    (6, "cli", "main and the subcommands"),
]

# THE STORE TIERS: files of store/, matched by name (fnmatch patterns, first tier that matches
# wins). Lowest tier first. (tier, patterns, what they hold, shared)
#   shared = "all":  every file of the tier may include every other file of the tier
#   shared = [...]:  the files of the tier are apart: each may include its own header (same
#                    name, .h) and the headers listed, no other file of its tier
STORE_TIERS = [
    (0, ["store.h", "store.c", "backend.h", "backend.c", "sqlite.c", "sqlite_impl.h", "postgres.c",
         "postgres_impl.h"],
     "connections, the writer, the transaction runner", "all"),
    (1, ["sqlite_rows*.c", "sqlite_rows*.h", "postgres_rows*.c", "postgres_rows*.h"],
     "row load/save", "all"),
    (2, ["sqlite_ops.h", "sqlite_*.c", "sqlite_*.h", "postgres_ops.h", "postgres_*.c",
         "postgres_*.h"], "the operations", ["sqlite_ops.h", "postgres_ops.h"]),
]
STORE_FOLDER = "store"
# ----------------------------------------------------------------------------------------------

import argparse
import fnmatch
import os
import re
import sys

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')
FLOOR_OF = {folder: floor for floor, folder, _ in FLOORS}


def store_tier(name):
    """(tier, shared) of a file name of store/, or None when no tier names it."""
    for tier, patterns, _, shared in STORE_TIERS:
        if any(fnmatch.fnmatchcase(name, p) for p in patterns):
            return tier, shared
    return None


def print_table(src):
    print("Floors of src/ (lowest first). A file may include headers of its own folder and of "
          "lower floors only.")
    for floor, folder, what in FLOORS:
        absent = "" if os.path.isdir(os.path.join(src, folder)) else "   (no such folder yet)"
        print("  %d  %-8s %s%s" % (floor, folder + "/", what, absent))
    print("Tiers of %s/ (lowest first). A store file may include store files of its own tier "
          "or lower." % STORE_FOLDER)
    for tier, patterns, what, shared in STORE_TIERS:
        rule = "" if shared == "all" else \
            "   (each file apart: its own header and %s only)" % ", ".join(shared)
        print("  %d  %s: %s%s" % (tier, ", ".join(patterns), what, rule))


def source_files(src):
    """Every .c and .h under src/, as paths relative to src/ with '/' separators, sorted."""
    out = []
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames.sort()
        for f in filenames:
            if f.endswith(".c") or f.endswith(".h"):
                rel = os.path.relpath(os.path.join(dirpath, f), src)
                out.append(rel.replace(os.sep, "/"))
    return sorted(out)


def resolve(src, including, target):
    """Path of a quoted include relative to src/ ('/' separators): next to the including file
    when it exists there, else from src/ (-I src). None when it lands outside src/."""
    here = os.path.dirname(including)
    beside = os.path.normpath(os.path.join(here, target)).replace(os.sep, "/")
    if here and not beside.startswith("../") and os.path.isfile(os.path.join(src, beside)):
        return beside
    if "/" not in target and here:
        return beside  # a bare name: the compiler looks next to the file first
    rooted = os.path.normpath(target).replace(os.sep, "/")
    if rooted == ".." or rooted.startswith("../") or os.path.isabs(rooted):
        return None
    return rooted


def folder_of(rel):
    """Top folder under src/ of a path relative to src/, or '' for a file right in src/."""
    return rel.split("/", 1)[0] if "/" in rel else ""


def check_store(rel, line_no, target, inc):
    """The store tier rule for an include from store/ to store/; a message or None."""
    a, b = rel.rsplit("/", 1)[-1], inc.rsplit("/", 1)[-1]
    ta, tb = store_tier(a), store_tier(b)
    if ta is None or tb is None:
        return None  # the unplaced file itself is reported once, by check()
    (tier_a, shared_a), (tier_b, _) = ta, tb
    if tier_b > tier_a:
        return '%s:%d: includes "%s" (store tier %d %s is not below store tier %d %s)' % (
            "src/" + rel, line_no, target, tier_b, b, tier_a, a)
    if tier_b == tier_a and shared_a != "all":
        own = os.path.splitext(a)[0] + ".h"
        if b != a and b != own and b not in shared_a:
            return ('%s:%d: includes "%s" (store tier %d %s is another file\'s own header; '
                    'in tier %d a file includes only its own header and %s)') % (
                "src/" + rel, line_no, target, tier_b, b, tier_a, ", ".join(shared_a))
    return None


def check(root):
    """(violations, number of files scanned) for the tree at root."""
    src = os.path.join(root, "src")
    files = source_files(src)
    violations = []

    # Folders under src/ the table does not name, and files right in src/.
    for entry in sorted(os.listdir(src)):
        if os.path.isdir(os.path.join(src, entry)) and entry not in FLOOR_OF:
            violations.append("src/%s/: folder not in the floor table (scripts/check_floors.py)"
                              % entry)
    for rel in files:
        if folder_of(rel) == "":
            violations.append("src/%s: file outside any folder, not in the floor table" % rel)
        elif folder_of(rel) == STORE_FOLDER and store_tier(rel.rsplit("/", 1)[-1]) is None:
            violations.append("src/%s: store file not in the store tier table "
                              "(scripts/check_floors.py)" % rel)

    for rel in files:
        fa = folder_of(rel)
        if fa not in FLOOR_OF:
            continue  # already reported: its floor is unknown
        with open(os.path.join(src, rel), encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
        for line_no, line in enumerate(lines, 1):
            m = INCLUDE_RE.match(line)
            if not m:
                continue
            target = m.group(1)
            inc = resolve(src, rel, target)
            where = 'src/%s:%d: includes "%s"' % (rel, line_no, target)
            if inc is None:
                violations.append("%s (outside src/)" % where)
                continue
            fb = folder_of(inc)
            if fb == fa:
                if fa == STORE_FOLDER:
                    msg = check_store(rel, line_no, target, inc)
                    if msg:
                        violations.append(msg)
                continue
            if fb not in FLOOR_OF:
                violations.append("%s (%s is not in the floor table)" % (
                    where, (fb + "/") if fb else "src/ itself"))
                continue
            if FLOOR_OF[fb] >= FLOOR_OF[fa]:
                violations.append("%s (floor %d %s/ is not below floor %d %s/)" % (
                    where, FLOOR_OF[fb], fb, FLOOR_OF[fa], fa))
    return violations, len(files)


def main(argv):
    ap = argparse.ArgumentParser(description="Fails when an #include runs upwards across the "
                                             "floors of src/.")
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                    help="the project's root, holding src/ (default: this script's project)")
    ap.add_argument("--list", action="store_true", help="print the floor table and exit")
    args = ap.parse_args(argv)
    src = os.path.join(args.root, "src")
    if args.list:
        print_table(src)
        return 0
    if not os.path.isdir(src):
        print("check_floors: no src/ under %s" % args.root, file=sys.stderr)
        return 2
    violations, scanned = check(args.root)
    for v in violations:
        print(v)
    if violations:
        print("check_floors: %d violation%s in %d files scanned" % (
            len(violations), "" if len(violations) == 1 else "s", scanned))
        return 1
    print("check_floors: OK, no include runs upwards (%d files scanned)" % scanned)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
