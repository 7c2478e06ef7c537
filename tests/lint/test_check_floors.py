"""Self-test of scripts/check_floors.py: the checker must pass a good tree and fail each kind of
violation, with its message and exit code.

Each test writes a small src/ tree into a temporary directory and runs the script on it as ctest
does (a separate python3 process, --root DIR). Standard library only:
  python3 tests/lint/test_check_floors.py"""

import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(os.path.dirname(os.path.dirname(HERE)), "scripts", "check_floors.py")

# A tree that keeps every rule: each file maps to the lines it holds.
GOOD = {
    "core/buf.h": ["#include <stddef.h>"],
    "core/buf.c": ['#include "core/buf.h"', "#include <string.h>"],
    "core/jcs.c": ['#include "buf.h"'],  # a bare name: the file's own folder
    "base/arena.h": ['#include "core/buf.h"'],
    "base/arena.c": ['#include "base/arena.h"'],
    "store/store.h": ['#include "core/buf.h"', '#include "base/arena.h"'],
    "store/store.c": ['#include "store/store.h"'],
    "store/sqlite_impl.h": ['#include "store/store.h"'],
    "store/sqlite.c": ['#include "store/sqlite_impl.h"'],
    "store/sqlite_rows.h": ['#include "store/sqlite_impl.h"'],
    "store/sqlite_rows.c": ['#include "store/sqlite_rows.h"', '#include "store/sqlite_impl.h"'],
    "store/sqlite_rows_jobs.c": ['#include "store/sqlite_rows.h"'],
    "store/sqlite_ops.h": ['#include "store/sqlite_rows.h"'],
    "store/sqlite_jobs.h": ['#include "store/sqlite_ops.h"'],
    "store/sqlite_jobs.c": ['#include "store/sqlite_impl.h"', '#include "store/sqlite_rows.h"',
                            '#include "store/sqlite_ops.h"', '#include "store/sqlite_jobs.h"'],
    "store/sqlite_quota.c": ['#include "store/sqlite_impl.h"', '#include "store/sqlite_ops.h"'],
    "auth/keys.h": ['#include "store/store.h"', '#include "base/arena.h"'],
    "auth/jwt.c": ['#include "auth/keys.h"', '#include "keys.h"'],
    "http/arena.h": ['#include "base/arena.h"'],
    "http/form.c": ['#include "http/arena.h"', '#include "core/buf.h"'],
    "engine/engine.c": ['#include "auth/keys.h"', '#include "http/arena.h"'],
    "api/app.c": ['#include "engine/engine.h"', '#include "store/sqlite_ops.h"'],
    "engine/engine.h": ['#include "store/store.h"'],
    "cli/main.c": ['#include "api/app.h"', '#include "engine/engine.h"',
                   '#  include   "core/buf.h"', "#include <api/whatever.h>"],
    "api/app.h": [],
}


def write_tree(root, files):
    for rel, lines in files.items():
        path = os.path.join(root, "src", rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as fh:
            fh.write("/* test file */\n" + "\n".join(lines) + "\n")


def run(root, *args):
    p = subprocess.run([sys.executable, "-B", SCRIPT, "--root", root] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    return p.returncode, p.stdout.splitlines(), p.stderr


class CheckFloors(unittest.TestCase):
    def check(self, changes=None, drop=()):
        """Runs the checker on GOOD with changes applied (rel -> lines) and files dropped."""
        files = {k: v for k, v in GOOD.items() if k not in drop}
        files.update(changes or {})
        with tempfile.TemporaryDirectory() as tmp:
            write_tree(tmp, files)
            return run(tmp)

    def assert_fails_with(self, result, expected):
        code, out, err = result
        self.assertEqual(code, 1, "\n".join(out) + err)
        self.assertEqual(out[:-1], expected)
        self.assertRegex(out[-1], r"^check_floors: %d violations? in \d+ files scanned$"
                         % len(expected))

    def test_good_tree_passes(self):
        code, out, err = self.check()
        self.assertEqual(code, 0, "\n".join(out) + err)
        self.assertEqual(out, ["check_floors: OK, no include runs upwards (%d files scanned)"
                               % len(GOOD)])

    def test_works_without_base_folder(self):
        drop = [k for k in GOOD if k.startswith("base/")]
        code, out, err = self.check(drop=drop)
        self.assertEqual(code, 0, "\n".join(out) + err)
        self.assertEqual(len(out), 1)

    def test_upward_include(self):
        self.assert_fails_with(
            self.check({"store/store.h": ['#include "core/buf.h"', '#include "auth/keys.h"']}),
            ['src/store/store.h:3: includes "auth/keys.h" (floor 3 auth/ is not below floor 2 '
             'store/)'])

    def test_upward_from_core_and_base(self):
        self.assert_fails_with(
            self.check({"core/buf.c": ['#include "base/arena.h"'],
                        "base/arena.c": ['#include "base/arena.h"', '#include "store/store.h"']}),
            ['src/base/arena.c:3: includes "store/store.h" (floor 2 store/ is not below floor 1 '
             'base/)',
             'src/core/buf.c:2: includes "base/arena.h" (floor 1 base/ is not below floor 0 '
             'core/)'])

    def test_engine_includes_api(self):
        self.assert_fails_with(
            self.check({"engine/engine.c": ['#include "api/app.h"']}),
            ['src/engine/engine.c:2: includes "api/app.h" (floor 5 api/ is not below floor 4 '
             'engine/)'])

    def test_same_floor_auth_and_http(self):
        self.assert_fails_with(
            self.check({"auth/verifier.h": ['#include "http/arena.h"'],
                        "http/form.c": ['#include "http/arena.h"', '#include "auth/keys.h"']}),
            ['src/auth/verifier.h:2: includes "http/arena.h" (floor 3 http/ is not below floor 3 '
             'auth/)',
             'src/http/form.c:3: includes "auth/keys.h" (floor 3 auth/ is not below floor 3 '
             'http/)'])

    def test_relative_path_is_resolved(self):
        self.assert_fails_with(
            self.check({"auth/verifier.h": ['#include "../http/arena.h"']}),
            ['src/auth/verifier.h:2: includes "../http/arena.h" (floor 3 http/ is not below '
             'floor 3 auth/)'])

    def test_system_includes_are_ignored(self):
        code, out, err = self.check({"core/buf.c": ["#include <api/app.h>", "#include <cli/x.h>"]})
        self.assertEqual(code, 0, "\n".join(out) + err)

    def test_store_row_file_includes_operations_header(self):
        self.assert_fails_with(
            self.check({"store/sqlite_rows.c": ['#include "store/sqlite_rows.h"',
                                                '#include "store/sqlite_ops.h"']}),
            ['src/store/sqlite_rows.c:3: includes "store/sqlite_ops.h" (store tier 2 '
             'sqlite_ops.h is not below store tier 1 sqlite_rows.c)'])

    def test_store_writer_includes_rows(self):
        self.assert_fails_with(
            self.check({"store/sqlite_impl.h": ['#include "store/store.h"',
                                                '#include "store/sqlite_rows.h"']}),
            ['src/store/sqlite_impl.h:3: includes "store/sqlite_rows.h" (store tier 1 '
             'sqlite_rows.h is not below store tier 0 sqlite_impl.h)'])

    def test_store_operation_includes_another_operation(self):
        self.assert_fails_with(
            self.check({"store/sqlite_quota.c": ['#include "store/sqlite_ops.h"',
                                                 '#include "store/sqlite_jobs.h"']}),
            ['src/store/sqlite_quota.c:3: includes "store/sqlite_jobs.h" (store tier 2 '
             "sqlite_jobs.h is another file's own header; in tier 2 a file includes only its "
             'own header and sqlite_ops.h, postgres_ops.h)'])

    def test_store_file_not_in_tier_table(self):
        self.assert_fails_with(
            self.check({"store/mysql.c": ['#include "store/store.h"']}),
            ["src/store/mysql.c: store file not in the store tier table "
             "(scripts/check_floors.py)"])

    def test_unknown_folder(self):
        self.assert_fails_with(
            self.check({"util/strings.h": ['#include "core/buf.h"'],
                        "core/jcs.c": ['#include "util/strings.h"']}),
            ["src/util/: folder not in the floor table (scripts/check_floors.py)",
             'src/core/jcs.c:2: includes "util/strings.h" (util/ is not in the floor table)'])

    def test_list_prints_the_table(self):
        with tempfile.TemporaryDirectory() as tmp:
            write_tree(tmp, {"core/buf.h": []})
            code, out, err = run(tmp, "--list")
        self.assertEqual(code, 0, err)
        text = "\n".join(out)
        for floor, folder in [(0, "core/"), (1, "base/"), (2, "store/"), (3, "auth/"),
                              (3, "http/"), (4, "engine/"), (5, "api/"), (6, "cli/")]:
            self.assertRegex(text, r"(?m)^  %d  %s" % (floor, folder))
        self.assertIn("(no such folder yet)", text)  # only core/ exists in this tree
        self.assertIn("sqlite_ops.h", text)


if __name__ == "__main__":
    unittest.main()
