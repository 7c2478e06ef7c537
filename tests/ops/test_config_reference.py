"""The configuration reference in docs/operations.md is serve's settings table, and it is true.

- The block between <!-- settings:begin --> and <!-- settings:end --> is what
  `jobengine __doc settings` prints from the table in src/cli/cmd_serve.c
  (scripts/config_reference.py --check; `make config-reference` rewrites it).
- Every row is a setting serve knows: its flag is in `serve --help` with its environment variable
  and config key.
- Every documented default is a value serve accepts: a config file holding every key with its
  documented default starts a server that answers /readyz.
- Each environment variable is read: a bad value in it is refused, naming the setting.
"""
import json
import os
import re
import subprocess
import sys
import time
import unittest

import harness

SRC = os.environ.get("JE_SOURCE_DIR") or harness.REPO
DOCS = os.path.join(SRC, "docs", "operations.md")
ROW = re.compile(r"^\| `--([a-z0-9-]+)` \| `([A-Z0-9_]+)` \| `([A-Za-z]+)` \| (.*?) \| (.*) \|$")


def doc_rows():
    with open(DOCS) as f:
        text = f.read()
    block = text.split("<!-- settings:begin -->")[1].split("<!-- settings:end -->")[0]
    rows = [ROW.match(line) for line in block.splitlines() if line.startswith("| `--")]
    assert rows and all(rows), "a row of the reference is not in the expected form"
    return [(m.group(1), m.group(2), m.group(3), m.group(4)) for m in rows]


class ConfigReference(unittest.TestCase):
    def test_docs_match_the_settings_table(self):
        p = subprocess.run([sys.executable, "-B", os.path.join(SRC, "scripts", "config_reference.py"),
                            "--bin", harness.BIN, "--docs", DOCS, "--check"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.assertEqual(p.returncode, 0, p.stdout)

    def test_every_row_is_a_setting_of_serve(self):
        help_text = harness.run_cli(["serve", "--help"], check=True).stdout
        rows = doc_rows()
        in_help = set(re.findall(r"^  --([a-z0-9-]+) .*\n +env ", help_text, re.M))
        self.assertEqual({r[0] for r in rows}, in_help, "the reference and --help list different "
                         "settings")
        for flag, env, key, _ in rows:
            self.assertRegex(help_text, r"--%s .*\n.*env %s \[%s\]" % (re.escape(flag), env, key))

    def test_documented_defaults_start_a_server(self):
        cfg = {}
        for flag, env, key, default in doc_rows():
            if default.startswith("`"):
                value = default.strip("`")
                cfg[key] = int(value) if re.fullmatch(r"\d+", value) else value
        self.assertIn("threads", cfg)
        data = os.path.join(harness.TMP, "config-reference-%d" % os.getpid())
        os.makedirs(data, exist_ok=True)
        path = os.path.join(data, "config.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        port = harness.free_port()
        env = harness.clean_env()
        proc = subprocess.Popen([harness.BIN, "serve", "--config", path, "--listen",
                                 "127.0.0.1:%d" % port, "--store",
                                 "sqlite:" + os.path.join(data, "je.db")],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)
        try:
            status = None
            for _ in range(200):
                if proc.poll() is not None:
                    break
                try:
                    status, _, _ = harness.http_request("http://127.0.0.1:%d" % port, "GET",
                                                        "/readyz")[:3]
                    break
                except OSError:
                    time.sleep(0.05)
            self.assertIsNone(proc.poll(), "serve refused the documented defaults: %s"
                              % (proc.stderr.read() if proc.poll() is not None else ""))
            self.assertEqual(status, 200)
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    def test_environment_variables_are_read(self):
        checked = 0
        for flag, env, key, default in doc_rows():
            if not default.startswith("`") or not re.fullmatch(r"`\d+`", default):
                continue
            e = harness.clean_env({env: "not-a-number"})
            p = subprocess.run([harness.BIN, "serve", "--listen", "127.0.0.1:1", "--store",
                                "sqlite:/nonexistent/x.db"], env=e, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=30)
            self.assertEqual(p.returncode, 1, (env, p.stderr))
            self.assertIn(flag, p.stderr, env)
            checked += 1
        self.assertGreaterEqual(checked, 20)


if __name__ == "__main__":
    unittest.main()
