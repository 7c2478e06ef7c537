"""The CLI's man pages and shell completion (docs/operations.md "Man pages and shell completion"),
against the real binary: both are made from the tables the commands parse with, so every option
of every table is in its command's --help, in its man page and in the completion; the pages pass
groff's warnings; bash and zsh complete commands, subcommands, options and fixed values.

`jobengine __doc options` lists the tables ("CMD [SUB] --flag" a line); `jobengine __doc man DIR`
writes the pages."""
import collections
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import BIN, run_cli

TMP = os.environ.get("JE_TEST_TMP") or tempfile.gettempdir()


def has_flag(text, flag):
    """flag ("--max-active") as a whole option in text (not a prefix of --max-active-x)."""
    return re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(flag), text) is not None


def roff_text(src):
    """roff source as the words it prints: font changes dropped, \\- and \\e as - and \\."""
    return re.sub(r"\\f[BIRP]", "", src).replace("\\-", "-").replace("\\e", "\\")


def render(page):
    """A man page as man(1) shows it, as plain text."""
    env = dict(os.environ, MANWIDTH="200", LANG="C.UTF-8")
    env.pop("MANPAGER", None)
    p = subprocess.run(["man", "-l", "-P", "cat", page], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, env=env, timeout=30)
    assert p.returncode == 0, p.stderr
    return re.sub(r".\x08", "", p.stdout)


class CliDocs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        os.makedirs(TMP, exist_ok=True)
        cls.dir = tempfile.mkdtemp(prefix="cli-docs-", dir=TMP)
        cls.man = os.path.join(cls.dir, "man")
        run_cli(["__doc", "man", cls.man], check=True)
        cls.options = collections.OrderedDict()  # (cmd, sub or None) -> [flags]
        for line in run_cli(["__doc", "options"], check=True).stdout.splitlines():
            words = line.split()
            key = (words[0], words[1] if len(words) == 3 else None)
            cls.options.setdefault(key, []).append(words[-1])
        usage = run_cli(["--help"], check=True).stdout
        cls.commands = re.findall(r"^  (\S+) ", usage, re.M)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def help_of(self, cmd, sub):
        p = run_cli([cmd] + ([sub] if sub else []) + ["--help"])
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def page(self, cmd):
        with open(os.path.join(self.man, "jobengine-%s.1" % cmd)) as f:
            return f.read()

    # ---- the listing --------------------------------------------------------------------------

    def test_the_listing_covers_every_command_and_sub(self):
        cmds = {c for c, _ in self.options}
        for c in self.commands:
            if c != "completion":  # its only option is --help
                self.assertIn(c, cmds)
        self.assertIn("--max-per-hour", self.options[("quota", "set")])
        self.assertIn("--allow-decrease-below-usage", self.options[("quota", "set")])
        self.assertIn("--exec", self.options[("worker", None)])
        self.assertIn("--listen", self.options[("serve", None)])
        self.assertIn("--demo", self.options[("serve", None)])
        self.assertIn(("audit", "export"), self.options)
        self.assertGreater(sum(len(v) for v in self.options.values()), 300)
        self.assertNotIn("__doc", self.commands)

    # ---- --help and the man pages -------------------------------------------------------------

    def test_every_option_is_in_its_help_and_its_man_page(self):
        missing = []
        for (cmd, sub), flags in self.options.items():
            text = self.help_of(cmd, sub)
            page = self.page(cmd)
            if sub:  # the sub's entry in SUBCOMMANDS, up to the next one (or OPTIONS)
                m = re.search(r'^\.SS "%s %s"\n(.*?)(?=^\.S[SH] )' % (cmd, sub), page, re.M | re.S)
                self.assertIsNotNone(m, "%s: no SUBCOMMANDS entry for %s" % (cmd, sub))
                opts = re.search(r"^\.SH OPTIONS\n(.*?)(?=^\.SH )", page, re.M | re.S)
                page = m.group(1) + (opts.group(1) if opts else "")
            page = roff_text(page)
            for flag in flags:
                if not has_flag(text, flag):
                    missing.append("%s %s --help lacks %s" % (cmd, sub or "", flag))
                if not has_flag(page, flag):
                    missing.append("jobengine-%s.1 (%s) lacks %s" % (cmd, sub or "-", flag))
        self.assertEqual(missing, [])

    def test_one_page_a_command_and_each_passes_groff_warnings(self):
        want = {"jobengine.1"} | {"jobengine-%s.1" % c for c in self.commands}
        self.assertEqual(set(os.listdir(self.man)), want)
        for page in sorted(want):
            p = subprocess.run(["groff", "-man", "-ww", "-z", os.path.join(self.man, page)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=30)
            self.assertEqual((p.returncode, p.stderr), (0, ""), page)
            with open(os.path.join(self.man, page)) as f:
                src = f.read()
            # a text line never starts with a control character by accident
            for line in src.splitlines():
                if line.startswith("'"):
                    self.fail("%s: a line starts with ': %r" % (page, line))
                if line.startswith(".") and not re.match(r"\.(\\\"|[A-Z]{1,2}\b|nh|ad |nf|fi|br)",
                                                         line):
                    self.fail("%s: unexpected request %r" % (page, line))

    def test_every_page_names_the_version_of_the_binary(self):
        version = run_cli(["--version"], check=True).stdout.split()[1]  # "jobengine 0.1.0"
        self.assertRegex(version, r"^\d+\.\d+\.\d+$")
        for page in sorted(os.listdir(self.man)):
            with open(os.path.join(self.man, page)) as f:
                th = [l for l in f.read().splitlines() if l.startswith(".TH ")]
            self.assertEqual(len(th), 1, page)
            self.assertIn('"JobEngine %s"' % version, th[0], page)
        # and man shows it in the footer
        self.assertIn("JobEngine %s" % version, render(os.path.join(self.man, "jobengine.1")))

    def test_man_renders_the_quota_page(self):
        text = render(os.path.join(self.man, "jobengine-quota.1"))
        for want in ("NAME", "jobengine-quota - list, change, pause quotas", "SYNOPSIS",
                     "DESCRIPTION", "SUBCOMMANDS", "OPTIONS", "SEE ALSO", "quota set",
                     "jobengine quota set ID [--max-active N]", "--allow-decrease-below-usage",
                     "api.md \u00a73.3", "--url URL", "JOBENGINE_URL"):
            self.assertIn(want, text)
        # the sub's about text, from its table entry
        self.assertIn("Gives a permit's unit back before it expires.", text)

    def test_the_main_page_lists_commands_environment_and_exit_status(self):
        text = render(os.path.join(self.man, "jobengine.1"))
        for c in self.commands:
            self.assertIn("jobengine-%s(1)" % c, text)
        for section in ("COMMANDS", "ENVIRONMENT", "EXIT STATUS", "SEE ALSO"):
            self.assertRegex(text, r"(?m)^%s$" % section)
        env = re.search(r"(?ms)^ENVIRONMENT$(.*?)^EXIT STATUS$", text).group(1)
        names = set(re.findall(r"(?m)^\s+(JOBENGINE_[A-Z_]+)$", env))
        self.assertTrue({"JOBENGINE_URL", "JOBENGINE_TOKEN", "JOBENGINE_CLIENT_ID",
                         "JOBENGINE_CLIENT_SECRET", "JOBENGINE_TENANT", "JOBENGINE_STORE",
                         "JOBENGINE_CONFIG"} <= names, names)
        helps = "".join(self.help_of(c, None) for c in self.commands)
        for name in names:  # each variable named is one a command's --help documents
            self.assertIn(name, helps)
        status = re.search(r"(?ms)^EXIT STATUS$(.*?)^SEE ALSO$", text).group(1)
        self.assertRegex(status, r"(?m)^\s+0\s+Success")
        self.assertRegex(status, r"(?m)^\s+2\s+A usage error")

    def test_the_serve_page_has_every_setting_with_its_variable(self):
        text = render(os.path.join(self.man, "jobengine-serve.1"))
        md = run_cli(["__doc", "settings"], check=True).stdout
        rows = re.findall(r"^\| `--([a-z0-9-]+)` \| `([A-Z0-9_]+)` \|", md, re.M)
        self.assertGreater(len(rows), 20)
        for flag, var in rows:
            self.assertRegex(text, r"(?m)^\s+--%s$" % flag)
            self.assertIn("env %s " % var, text)

    def test_doc_usage_errors(self):
        p = run_cli(["__doc"])
        self.assertEqual(p.returncode, 2)
        self.assertIn("usage: jobengine __doc man DIR", p.stderr)
        self.assertEqual(run_cli(["__doc", "man"]).returncode, 2)
        self.assertEqual(run_cli(["__doc", "pdf", "x"]).returncode, 2)
        blocker = os.path.join(self.dir, "a-file")
        open(blocker, "w").close()
        p = run_cli(["__doc", "man", os.path.join(blocker, "man")])
        self.assertEqual(p.returncode, 1)
        self.assertIn("jobengine __doc: cannot make", p.stderr)

    # ---- completion ---------------------------------------------------------------------------

    def test_completion_command(self):
        p = run_cli(["completion", "--help"])
        self.assertEqual(p.returncode, 0)
        self.assertIn("usage: jobengine completion bash|zsh", p.stdout)
        self.assertIn("/etc/bash_completion.d/jobengine", p.stdout)
        p = run_cli(["completion", "fish"])
        self.assertEqual((p.returncode, p.stdout), (2, ""))
        self.assertEqual(p.stderr, "jobengine completion: unknown shell 'fish' (bash, zsh)\n")
        self.assertEqual(run_cli(["completion"]).returncode, 2)
        self.assertEqual(run_cli(["completion", "bash", "zsh"]).returncode, 2)
        self.assertIn("completion", self.commands)
        bash = run_cli(["completion", "bash"], check=True).stdout
        self.assertIn("complete -o default -F _jobengine jobengine", bash)
        zsh = run_cli(["completion", "zsh"], check=True).stdout
        self.assertTrue(zsh.startswith("#compdef jobengine\n"))

    def bash(self, *cases):
        """COMPREPLY of _jobengine for each list of words (the last one being completed)."""
        script = os.path.join(self.dir, "jobengine.bash")
        with open(script, "w") as f:
            f.write(run_cli(["completion", "bash"], check=True).stdout)
        prog = ["set -u", "source '%s'" % script]
        for words in cases:
            quoted = " ".join("'%s'" % w for w in words)
            prog.append("COMP_WORDS=(%s); COMP_CWORD=%d; _jobengine; echo \"${COMPREPLY[*]}\""
                        % (quoted, len(words) - 1))
        p = subprocess.run(["bash", "--norc", "--noprofile", "-c", "\n".join(prog)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual((p.returncode, p.stderr), (0, ""))
        return p.stdout.split("\n")[:len(cases)]

    def test_bash_completes_commands_subs_options_and_values(self):
        got = self.bash(["jobengine", "qu"], ["jobengine", "quota", "s"],
                        ["jobengine", "quota", "set", "--max-"],
                        ["jobengine", "quota", "list", "--paused", ""],
                        ["jobengine", "completion", ""], ["jobengine", "client", "r"],
                        ["jobengine", "serve", "--unq"], ["jobengine", "quota", "-"],
                        ["jobengine", "quota", "set", "ID", "--max-active", ""],
                        ["jobengine", "__"])
        self.assertEqual(got, ["quota", "set summary", "--max-active --max-per-hour", "true false",
                               "bash zsh", "remove rotate-secret", "--unquoted-job-types",
                               "--help", "", ""])

    def test_bash_offers_exactly_the_options_of_each_table(self):
        keys = list(self.options)
        script = os.path.join(self.dir, "flags.bash")
        with open(script, "w") as f:
            f.write(run_cli(["completion", "bash"], check=True).stdout)
        prog = "source '%s'\n" % script + "\n".join(
            "_jobengine_flags '%s'" % " ".join(w for w in k if w) for k in keys)
        p = subprocess.run(["bash", "--norc", "-c", prog], stdout=subprocess.PIPE, text=True,
                           timeout=60)
        for key, line in zip(keys, p.stdout.splitlines()):
            self.assertEqual(sorted(line.split()), sorted(self.options[key] + ["--help"]), key)

    def test_zsh_script_parses_and_completes(self):
        path = os.path.join(self.dir, "zfunc")
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, "_jobengine"), "w") as f:
            f.write(run_cli(["completion", "zsh"], check=True).stdout)
        p = subprocess.run(["zsh", "-n", os.path.join(path, "_jobengine")],
                           stderr=subprocess.PIPE, text=True, timeout=30)
        self.assertEqual((p.returncode, p.stderr), (0, ""))
        for line, want in ((r"jobengine quota s\t", {"set", "summary"}),
                           (r"jobengine quota set --max-\t", {"--max-active", "--max-per-hour"}),
                           (r"jobengine job list --status \t",
                            {"pending", "leased", "succeeded", "failed", "canceled"})):
            self.assertEqual(self.zsh_complete(path, line), want, line)

    def zsh_complete(self, fpath, typed):
        """What zsh's own completion system (compinit, the function found in fpath) offers after
        typing `typed` in an interactive zsh on a pseudo-terminal: every compadd is recorded."""
        driver = r"""
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PS1='>'; fpath=(%s \$fpath); autoload -U compinit; compinit -u -D"
zpty -w z 'compadd() { local -a m; builtin compadd -O m "$@"; print -rl -- "<<@${^m[@]}@>>" >/dev/tty; builtin compadd "$@"; }'
zpty -w -n z $'%s'
out=""
for i in {1..100}; do
  while zpty -r -t z chunk; do out+=$chunk; done
  [[ $out == *'<<@'[a-z-]* ]] && { sleep 0.5; while zpty -r -t z chunk; do out+=$chunk; done; break; }
  sleep 0.1
done
print -r -- "$out"
zpty -d z
""" % (fpath, typed)
        p = subprocess.run(["zsh", "-f", "-c", driver], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=60, errors="replace")
        return set(re.findall(r"<<@([a-z-]+)@>>", p.stdout))


if __name__ == "__main__":
    unittest.main(verbosity=2)
