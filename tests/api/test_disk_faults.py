"""Disk faults (issue 13, "Crash loop and faults"), against a real server over HTTP: a full disk
and an unwritable store answer 503 STORE_UNAVAILABLE with a message that names the fault, reads
keep working, nothing acknowledged is lost, the store is never corrupt (PRAGMA integrity_check)
and writes succeed again once space returns, without a restart; a store file damaged on disk is
refused at start, naming the file, and left as it was.

How each fault is made, and why (docs/operations.md "Disk faults"):
- Full disk, SQLite, two ways. (1) Always, on any machine: RLIMIT_FSIZE lowered on the running
  server (prlimit(2) on one's own child needs no privilege; only the soft limit is lowered, so it
  can be raised back). Every write to a file then fails with EFBIG; jobengine ignores SIGXFSZ
  (src/cli/main.c), so that is an I/O error and not a kill. (2) Where mount(2) is permitted (root
  with CAP_SYS_ADMIN, as in this repository's CI container): the store on a tmpfs mounted with
  size=, filled to the last byte by a filler file; deleting it gives the space back. (1) makes
  sure the fault is created everywhere; (2) is the real ENOSPC, and says why it did not run.
- Full disk, PostgreSQL (the api-pg pass): the test's database is created in a tablespace on a
  size-limited tmpfs, then that tmpfs is filled (needs mount(2)). It runs on a PostgreSQL of its
  own (harness.OwnPostgres): a full tablespace fails the server's checkpoints, and with them the
  DROP DATABASE of the tests running beside it.
- Unwritable store. As root chmod stops nothing, so: (1) a running server whose filesystem turns
  read-only under it, as the kernel does after an I/O error: an ext4 image on a loop device
  mounted errors=remount-ro, and /sys/fs/ext4/<dev>/trigger_fs_error (needs root and a loop
  device); (2) a server started on a read-only store: a tmpfs remounted read-only (where mount is
  permitted), else chmod 0500/0400 (not root). If neither can be made, the test fails.
- Damaged file (no privilege needed): one b-tree page in the middle of the file overwritten with
  random bytes, the file truncated, a file that is not a database.
"""

import collections
import hashlib
import os
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

import harness
from harness import (BIN, JOBS, ON_POSTGRES, TMP, ServerTestCase, clean_env, free_port, job_path,
                     list_jobs_all, quota_body)

CLIENTS = [
    ("operator", ["acme"], ["Orch.Operator"]),
    ("admin", ["acme"], ["Orch.Admin"]),
    ("viewer", ["acme"], ["Orch.Viewer"]),
]
Q = "/jobengine/quotas"
PAD = 16 * 1024  # bytes of payload per job written under a fault: the store must grow


def run(*cmd, timeout=60):
    return subprocess.run(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)


def note(msg):
    """A line on stderr, so a variant that could not run is seen in the ctest log."""
    sys.stderr.write("\n[test_disk_faults] %s\n" % msg)


def mount_tmpfs(path, size):
    """Mounts a tmpfs of size bytes on path; (True, "") or (False, why)."""
    p = run("mount", "-t", "tmpfs", "-o", "size=%d,mode=0700" % size, "tmpfs", path)
    return p.returncode == 0, p.stdout.strip()


def unmount(path):
    run("umount", path)
    if os.path.ismount(path):
        run("umount", "-l", path)


def fill(directory):
    """Fills the filesystem of directory to the last byte; returns the filler's path."""
    path = os.path.join(directory, "filler")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 1 << 16, 4096, 512, 1):
            chunk = b"\0" * size
            try:
                while os.write(fd, chunk) == size:
                    pass
            except OSError:
                pass
    finally:
        os.close(fd)
    return path


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def sqlite_rows(db_path, sql):
    """Rows of sql on a copy of the store (db and -wal), so nothing touches the original."""
    os.makedirs(TMP, exist_ok=True)
    d = tempfile.mkdtemp(prefix="df-copy-", dir=TMP)
    try:
        for suffix in ("", "-wal"):
            if os.path.exists(db_path + suffix):
                shutil.copyfile(db_path + suffix, os.path.join(d, "copy.db" + suffix))
        conn = sqlite3.connect(os.path.join(d, "copy.db"))
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def integrity(db_path):
    return [r[0] for r in sqlite_rows(db_path, "PRAGMA integrity_check")]


class FaultSession:
    """Tokens taken before the fault (a grant is audited, so /token answers 503 during one), a
    quota, and the record of what was acknowledged and what was refused."""

    def __init__(self, test, srv):
        self.t, self.srv = test, srv
        self.op = srv.grant("operator", "orch:jobs")
        self.admin = srv.grant("admin", "orch:quota", quota_reason="disk fault test",
                               quota_ticket="DF-1")
        self.read = srv.grant("viewer", "orch:read")
        st, _, q = srv.api("POST", Q, self.admin, body=quota_body("df.quota"))
        test.assertEqual(st, 201, q)
        self.qid, self.qversion = q["quotaId"], q["version"]
        self.acked = {}        # Idempotency-Key -> jobId of every 201
        self.failed = []       # keys answered 503
        self.acked_puts = [q["version"]]
        self.messages = collections.Counter()
        for i in range(3):
            self.submit_acked("before-%d" % i)

    def submit(self, key, pad=0):
        return self.srv.api("POST", JOBS, self.op, headers={"Idempotency-Key": key},
                            body={"jobType": "df.job", "payload": {"key": key, "pad": "x" * pad}})

    def submit_acked(self, key, pad=0):
        st, _, js = self.submit(key, pad)
        self.t.assertEqual(st, 201, js)
        self.acked[key] = js["jobId"]

    def put(self, step):
        return self.srv.api("PUT", Q + "/" + self.qid, self.admin,
                            body={"maxActive": 11 + step, "reason": "fault step %d" % step})

    def write_under_fault(self, words, min_failures=6, tries=400):
        """Submits (and changes the quota) until min_failures writes were refused; each answer is
        201/200 or 503 STORE_UNAVAILABLE whose message holds one of words."""
        t, failed_before = self.t, len(self.failed)
        for _ in range(tries):
            i = self.step = getattr(self, "step", -1) + 1  # keys and values new on each call
            key = "fault-%d" % i
            resp = self.submit(key, PAD)
            if resp[0] == 201:
                self.acked[key] = resp[2]["jobId"]
            else:
                self.refused(resp, words)
                self.failed.append(key)
            if i % 3 == 0:
                resp = self.put(i)
                if resp[0] == 200:
                    self.acked_puts.append(resp[2]["version"])
                else:
                    self.refused(resp, words)
            if len(self.failed) - failed_before >= min_failures:
                return
        t.fail("the fault was not felt: %d writes, %d refused"
               % (tries, len(self.failed) - failed_before))

    def refused(self, resp, words):
        err = self.t.assertEnvelope(resp, 503, "STORE_UNAVAILABLE")
        self.t.assertTrue(any(w in err["message"] for w in words),
                          "the message does not name the fault (%r): %r" % (words, err["message"]))
        self.messages[err["message"]] += 1

    def reads_work(self):
        srv, t = self.srv, self.t
        some = next(iter(self.acked.values()))
        for path in (JOBS + "?limit=3", job_path(some), JOBS + "/summary", Q + "/" + self.qid,
                     "/jobengine/audit?limit=3", "/jobengine/audit/verify"):
            st, _, body = srv.api("GET", path, self.read)
            t.assertEqual(st, 200, "GET %s during the fault: %s %r" % (path, st, body))
        t.assertEqual(srv.request("GET", "/healthz")[0], 200)

    def recover(self):
        """Writes succeed again without a restart; every refused submit, retried with its key,
        is stored once."""
        deadline, tries = time.monotonic() + 5, 0
        while True:
            tries += 1
            st, _, js = self.submit("after-fault", 0)
            if st == 201 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.t.assertEqual(st, 201, "writes did not come back once space returned: %r" % (js,))
        self.acked["after-fault"] = js["jobId"]
        resp = self.put(988)  # maxActive 999: no step under the fault used it
        self.t.assertEqual(resp[0], 200, resp[2])
        self.acked_puts.append(resp[2]["version"])
        for key in self.failed:
            self.submit_acked(key, PAD)
        return tries

    def check_nothing_lost(self):
        """Every acknowledged job once (and no other); the quota at the last acknowledged
        version, its audit entries exactly the acknowledged changes; the chain verifies."""
        t, srv = self.t, self.srv
        jobs = list_jobs_all(srv, self.read, jobType="df.job")
        keys = collections.Counter(j["payload"]["key"] for j in jobs)
        t.assertEqual([k for k, n in keys.items() if n > 1], [], "a job stored twice")
        by_key = {j["payload"]["key"]: j["jobId"] for j in jobs}
        lost = [k for k, jid in self.acked.items() if by_key.get(k) != jid]
        t.assertEqual(lost, [], "acknowledged jobs lost")
        t.assertEqual(sorted(by_key), sorted(self.acked), "a job nobody was told of")
        q = srv.get_json(Q + "/" + self.qid, self.read)
        t.assertEqual(q["version"], self.acked_puts[-1], "a refused change took effect")
        entries = srv.audit_all(self.read)
        upd = [e["details"]["after"]["version"] for e in entries
               if e["eventType"] == "quota.updated" and e["resourceId"] == self.qid]
        t.assertEqual(upd, self.acked_puts[1:])
        v = srv.audit_verify(self.read)
        t.assertIs(v["valid"], True, v)
        t.assertTrue(harness.verify_chain(entries)["valid"])


class FaultCase(ServerTestCase):
    def scratch(self, name, base=None):
        os.makedirs(TMP, exist_ok=True)
        d = tempfile.mkdtemp(prefix=name + "-", dir=base or TMP)
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def tmpfs(self, name, size, base=None):
        """A tmpfs of size bytes (unmounted after the test), or (None, why)."""
        d = self.scratch(name, base)
        ok, why = mount_tmpfs(d, size)
        if not ok:
            return None, why
        self.addCleanup(unmount, d)
        return d, ""


@unittest.skipIf(ON_POSTGRES, "SQLite files; the PostgreSQL pass runs PgDiskFullTest")
class SqliteDiskFullTest(FaultCase):
    def test_file_size_limit_then_room_again(self):
        """RLIMIT_FSIZE on the running server: runs on every machine."""
        d = self.scratch("df-fsize")
        db = os.path.join(d, "je.db")
        srv = self.new_server(CLIENTS, name="df-fsize", store="sqlite:" + db)
        s = FaultSession(self, srv)
        soft, hard = resource.prlimit(srv.proc.pid, resource.RLIMIT_FSIZE)
        # 1 byte: every write to any file fails (the server's log file too, for the while)
        resource.prlimit(srv.proc.pid, resource.RLIMIT_FSIZE, (1, hard))
        try:
            s.write_under_fault(("File too large", "could not be written"))
            s.reads_work()
            self.assertTrue(srv.alive(), "the server died of the file-size limit (SIGXFSZ)")
        finally:
            resource.prlimit(srv.proc.pid, resource.RLIMIT_FSIZE, (soft, hard))
        note("file-size limit: %s" % dict(s.messages))
        s.recover()
        s.check_nothing_lost()
        srv.stop()
        self.assertEqual(integrity(db), ["ok"])
        srv.start()
        s.check_nothing_lost()

    def test_full_tmpfs_then_room_again(self):
        """A real ENOSPC: the store on a 24 MiB tmpfs, filled."""
        mnt, why = self.tmpfs("df-tmpfs", 24 << 20)
        if mnt is None:
            note("the full-tmpfs variant did not run (mount refused: %s); the file-size limit "
                 "variant made the fault instead" % why)
            self.skipTest("mount(2) refused: %s" % why)
        db = os.path.join(mnt, "je.db")
        srv = self.new_server(CLIENTS, name="df-tmpfs", store="sqlite:" + db)
        s = FaultSession(self, srv)
        filler = fill(mnt)
        s.write_under_fault(("disk holding the store is full",))
        s.reads_work()
        st, js, hdrs = srv.token("viewer", scope="orch:read")
        self.assertEqual((st, js.get("error")), (503, "temporarily_unavailable"),
                         "a grant that cannot be audited is not issued: %r" % (js,))
        self.assertEqual(hdrs.get("Retry-After"), "1")
        note("full tmpfs: %s" % dict(s.messages))
        os.remove(filler)
        tries = s.recover()
        self.assertEqual(tries, 1, "the first write after space returned failed")
        s.check_nothing_lost()
        srv.stop()
        self.assertEqual(integrity(db), ["ok"])
        srv.start()
        s.check_nothing_lost()


@unittest.skipUnless(ON_POSTGRES, "the PostgreSQL pass")
class PgDiskFullTest(FaultCase):
    def test_full_tablespace_then_room_again(self):
        """The test's database in a tablespace on a 24 MiB tmpfs, filled."""
        # under /tmp: PostgreSQL's user must reach it, and JE_TEST_TMP may be a 0700 directory
        mnt, why = self.tmpfs("df-pg", 24 << 20, base=tempfile.gettempdir())
        if mnt is None:
            note("the PostgreSQL full-disk variant did not run (mount refused: %s)" % why)
            self.skipTest("mount(2) refused: %s" % why)
        ts_dir = os.path.join(mnt, "ts")
        os.mkdir(ts_dir, 0o700)
        if os.geteuid() == 0:
            shutil.chown(mnt, "postgres", "postgres")
            shutil.chown(ts_dir, "postgres", "postgres")
        # A PostgreSQL of its own: while the tablespace is full, the server's checkpoints fail,
        # and so would the DROP DATABASE of every test beside this one on a shared server.
        pg = harness.OwnPostgres("df-pg")
        self.addCleanup(pg.close)  # before the server: stops after it, before the unmount
        pg.query("CREATE TABLESPACE df_ts LOCATION '%s'" % ts_dir)
        pg.query("CREATE DATABASE df TABLESPACE df_ts")
        srv = self.new_server(CLIENTS, name="df-pg", store=pg.database_url("df"))
        s = FaultSession(self, srv)
        filler = fill(mnt)
        s.write_under_fault(("the disk holding the store is full",))
        s.reads_work()
        note("full tablespace: %s" % dict(s.messages))
        os.remove(filler)
        s.recover()
        s.check_nothing_lost()
        srv.restart()
        s.check_nothing_lost()
        srv.stop()  # before its database is dropped


def loop_ext4(test, size=48 << 20):
    """An ext4 image on a loop device, mounted errors=remount-ro (unmounted after the test), and
    its trigger_fs_error file; (None, None, why) when that cannot be made here."""
    if os.geteuid() != 0:
        return None, None, "not root"
    d = test.scratch("df-ext4")
    img, mnt = os.path.join(d, "img"), os.path.join(d, "mnt")
    os.mkdir(mnt, 0o700)
    with open(img, "wb") as f:
        f.truncate(size)
    p = run("mkfs.ext4", "-q", "-F", img)
    if p.returncode != 0:
        return None, None, "mkfs.ext4: " + p.stdout.strip()
    p = run("mount", "-o", "loop,errors=remount-ro", img, mnt)
    if p.returncode != 0:
        return None, None, "mount -o loop: " + p.stdout.strip()
    test.addCleanup(unmount, mnt)
    dev = os.path.basename(run("findmnt", "-n", "-o", "SOURCE", mnt).stdout.strip())
    trigger = "/sys/fs/ext4/%s/trigger_fs_error" % dev
    if not os.path.exists(trigger):
        return None, None, "no " + trigger
    return mnt, trigger, ""


def serve_once(store, timeout=15):
    """`jobengine serve` on store, expected to refuse: (exit code, output). A server that starts
    listening is stopped and reported with exit code None."""
    cmd = [BIN, "serve", "--listen", "127.0.0.1:%d" % free_port(), "--store", store]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env=clean_env())
    try:
        out, _ = p.communicate(timeout=timeout)
        return p.returncode, out
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
        return None, out


@unittest.skipIf(ON_POSTGRES, "SQLite files")
class UnwritableStoreTest(FaultCase):
    def test_filesystem_turns_read_only_under_the_server(self):
        mnt, trigger, why = loop_ext4(self)
        if mnt is None:
            note("the read-only-remount variant did not run (%s); test_read_only_store_at_start "
                 "and the file-size limit variant cover the unwritable store instead" % why)
            self.skipTest(why)
        db = os.path.join(mnt, "store", "je.db")
        srv = self.new_server(CLIENTS, name="df-ro", store="sqlite:" + db)
        s = FaultSession(self, srv)
        with open(trigger, "w") as f:
            f.write("1")  # what ext4 does on an I/O error: remount read-only
        s.write_under_fault(("Read-only file system",), min_failures=4)
        run("sync")  # the store's dirty pages meet the read-only filesystem
        time.sleep(0.5)
        s.write_under_fault(("Read-only file system",), min_failures=4)
        s.reads_work()
        self.assertTrue(srv.alive())
        note("read-only remount: %s" % dict(s.messages))
        srv.stop()
        code, out = serve_once("sqlite:" + db)
        self.assertIsNotNone(code, "served a read-only store:\n" + out)
        self.assertNotEqual(code, 0, out)
        self.assertIn(db, out)
        self.assertIn("Read-only file system", out)
        # what was acknowledged is in the file (read from a copy: the filesystem is read-only)
        self.assertEqual(integrity(db), ["ok"])
        stored = dict(sqlite_rows(db, "SELECT json_extract(payload, '$.key'), job_id FROM jobs"))
        lost = [k for k, jid in s.acked.items() if stored.get(k) != jid]
        self.assertEqual(lost, [], "acknowledged jobs lost")

    def test_read_only_store_at_start(self):
        """A store that cannot be written is refused at start with the file and the reason."""
        mnt, why = self.tmpfs("df-rostart", 16 << 20)
        base = mnt or self.scratch("df-rostart")
        db = os.path.join(base, "store", "je.db")
        srv = self.new_server(CLIENTS, name="df-rostart", store="sqlite:" + db)
        s = FaultSession(self, srv)
        srv.stop()
        if mnt is not None:
            p = run("mount", "-o", "remount,ro", mnt)
            self.assertEqual(p.returncode, 0, p.stdout)
            reason = "Read-only file system"
        elif os.geteuid() != 0:
            os.chmod(db, 0o400)
            os.chmod(os.path.dirname(db), 0o500)
            self.addCleanup(os.chmod, os.path.dirname(db), 0o700)
            reason = "Permission denied"
        else:
            self.fail("cannot make a store unwritable here: root, and mount(2) refused (%s)"
                      % why)
        before = sha256_file(db)
        code, out = serve_once("sqlite:" + db)
        self.assertIsNotNone(code, "served a read-only store:\n" + out)
        self.assertNotEqual(code, 0, out)
        self.assertIn(db, out)
        self.assertIn(reason, out)
        self.assertNotIn("listening", out)
        self.assertEqual(sha256_file(db), before)
        stored = dict(sqlite_rows(db, "SELECT json_extract(payload, '$.key'), job_id FROM jobs"))
        self.assertEqual({k: stored.get(k) for k in s.acked}, s.acked)


def btree_page_near_middle(db):
    """The number (1-based) of an in-use b-tree page nearest the middle of the file."""
    pages = sqlite_rows(db, "SELECT pageno FROM dbstat WHERE pagetype IN ('leaf', 'internal')")
    count = os.path.getsize(db) // 4096
    return min((p for (p,) in pages), key=lambda p: abs(p - count // 2))


@unittest.skipIf(ON_POSTGRES, "SQLite files")
class DamagedStoreTest(FaultCase):
    @classmethod
    def setUpClass(cls):
        """One store with 300 jobs (about 1.5 MB), stopped cleanly: its WAL is checkpointed
        into the file and removed, so the file alone is the store."""
        os.makedirs(TMP, exist_ok=True)
        cls.dir = tempfile.mkdtemp(prefix="df-damaged-", dir=TMP)
        cls.pristine = os.path.join(cls.dir, "pristine.db")
        srv = cls.start_class_server(CLIENTS, name="df-damaged", store="sqlite:" + cls.pristine)
        tok = srv.grant("operator", "orch:jobs")
        for i in range(300):
            harness.submit_job(srv, tok, "df.damaged", {"i": i, "pad": "p" * 4000})
        srv.stop()
        assert not os.path.exists(cls.pristine + "-wal"), "the WAL was not checkpointed"

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def copy(self, name):
        path = os.path.join(self.dir, name + ".db")
        shutil.copyfile(self.pristine, path)
        return path

    def assertRefused(self, path, words):
        before = sha256_file(path)
        code, out = serve_once("sqlite:" + path)
        self.assertIsNotNone(code, "a damaged store was served:\n" + out)
        self.assertNotEqual(code, 0, out)
        self.assertNotIn("listening", out)
        self.assertIn(path, out, "the error does not name the file")
        self.assertTrue(any(w in out for w in words), out)
        after = sha256_file(path)
        self.assertEqual(after, before, "refusing the store changed the file")
        # the CLI's commands open the store the same way
        p = harness.run_cli(["client", "list", "--store", "sqlite:" + path])
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertIn(path, p.stderr)
        return out

    def test_pristine_copy_is_served(self):
        """The control: the undamaged file starts."""
        srv = self.new_server([], name="df-pristine", store="sqlite:" + self.copy("control"))
        self.assertTrue(srv.alive())

    def test_page_overwritten_in_the_middle(self):
        path = self.copy("page")
        page = btree_page_near_middle(path)
        with open(path, "r+b") as f:
            f.seek((page - 1) * 4096)
            f.write(random.Random(13).randbytes(4096))
        out = self.assertRefused(path, ("is damaged",))
        self.assertIn("quick_check", out)

    def test_truncated_file(self):
        path = self.copy("truncated")
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) * 6 // 10)
        self.assertRefused(path, ("is damaged",))

    def test_not_a_database(self):
        path = self.copy("notadb")
        with open(path, "wb") as f:
            f.write(random.Random(7).randbytes(256 * 1024))
        self.assertRefused(path, ("is not a SQLite database",))


if __name__ == "__main__":
    unittest.main(verbosity=2)
