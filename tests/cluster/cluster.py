"""Helpers for the multi-node black-box tests of issue 11 (tests/cluster): several stateless
`jobengine serve` processes over one PostgreSQL database must give exactly the answers one node
gives.

Everything goes through harness.py (tests/api); this module only adds:
  ISSUER                    the one issuer every node of a cluster is started with (a cluster
                            behind one address mints and accepts the same `iss`)
  Cluster                   N nodes on one store; round-robin helpers; watch_class()/watch()
                            register the nodes with a ServerTestCase so that the database is
                            dropped only after every node stopped
  Balancer                  one thread's view of a load balancer: each request goes to the next
                            node, on a keep-alive connection per node
  OwnPostgres               (harness.py's) re-exported: a PostgreSQL of one test
  Recorder                  thread-safe record of what a load acknowledged, what was ambiguous
                            (the connection failed, or 503: the change may or may not have been
                            stored) and what was unexpected
  small API helpers         create_quota, quota_of, acquire/release paths, lease/complete bodies
"""

import collections
import os
import sys
import threading

import harness
from harness import (CONNECTION_ERRORS, JOBS, KeepAlive, OwnPostgres,  # noqa: F401
                     Server, quota_body, wait_until)

ISSUER = "http://jobengine.cluster.test"
Q = "/jobengine/quotas"
LEASE = JOBS + "/lease"
NODE_NAMES = "abcdefgh"


def qpath(qid, action=None):
    return Q + "/" + qid + ("/" + action if action else "")


# ------------------------------------------------------------------------------------------------
# The cluster


class Cluster:
    """n `jobengine serve` nodes over one store, all with --issuer ISSUER.

    clients are added to the store once (by the first node's Server) and every node shares the
    secrets. store: a store URL (a database of an OwnPostgres); default: a new database on the
    suite's PostgreSQL (Server's own, dropped by the first node's cleanup). node_env: a list of
    per-node environments (JOBENGINE_CLOCK_SKEW_MS, ...)."""

    def __init__(self, clients, n=3, name="cluster", args=(), store=None, node_env=None,
                 start=True, all_at_once=False):
        node_env = list(node_env or [])
        node_env += [{}] * (n - len(node_env))
        self.args = ["--issuer", ISSUER] + list(args)
        first = Server(clients, self.args, name="%s-%s" % (name, NODE_NAMES[0]), start=False,
                       store=store, env=node_env[0])
        self.store = first.store
        self.nodes = [first]
        for i in range(1, n):
            s = Server((), self.args, name="%s-%s" % (name, NODE_NAMES[i]), start=False,
                       store=self.store, env=node_env[i])
            s.secrets = first.secrets  # one client table: the same secrets everywhere
            self.nodes.append(s)
        if start:
            self.start(all_at_once)

    def start(self, all_at_once=False):
        """Starts the nodes: the first alone (it makes the store's first signing key), then the
        others together; all_at_once: every node together on the fresh store (they meet the
        migrations' advisory lock, and the creation of the first signing key, together)."""
        first = 0 if all_at_once else 1
        if first:
            self.nodes[0].start()
        rest = self.nodes[first:]
        errors = harness.run_threads(len(rest), lambda i: rest[i].start(), 60)
        if errors:
            raise AssertionError("a node did not start: %r" % errors[:2])

    def __getitem__(self, i):
        return self.nodes[i % len(self.nodes)]

    def __len__(self):
        return len(self.nodes)

    def __iter__(self):
        return iter(self.nodes)

    @property
    def a(self):
        return self.nodes[0]

    @property
    def b(self):
        return self.nodes[1]

    @property
    def c(self):
        return self.nodes[2]

    def name_of(self, node):
        return NODE_NAMES[self.nodes.index(node)]

    def alive(self):
        return [s for s in self.nodes if s.alive()]

    # -- registration with a ServerTestCase ------------------------------------------------------
    def watch_class(self, cls):
        """For setUpClass: the nodes are watched for every test of cls and stopped after the
        class; the first node (which drops the database) is cleaned up last (class cleanups run
        last-in first-out)."""
        for s in self.nodes:
            cls.watch_class(s)
        return self

    def watch(self, tc):
        """For one test: the nodes are watched by tc (logs printed when it fails, a node that died
        on its own fails it) and stopped after it, the first node last."""
        for s in reversed(self.nodes):
            tc._own.append(s)
        for s in self.nodes:
            tc.watch(s)
        return self

    # -- small conveniences ----------------------------------------------------------------------
    def grant(self, client, scope, node=0, **form):
        return self[node].grant(client, scope, **form)

    def readyz(self, node):
        try:
            st, _, body = node.request("GET", "/readyz")
            return st, body
        except CONNECTION_ERRORS as e:
            return None, repr(e)

    def wait_ready(self, timeout=30, nodes=None):
        """Polls /readyz of every (alive) node until each answers 200."""
        for s in nodes or self.alive():
            wait_until("%s:/readyz to answer 200" % s.url,
                       lambda s=s: self.readyz(s)[0] == 200, timeout, 0.1)


class Balancer:
    """What one client thread sees behind a round-robin load balancer: each request goes to the
    next node (start: the first node index), on one keep-alive connection per node. skip(i) takes
    a node out of the rotation (it died). last: the index of the node the last request went to."""

    def __init__(self, cluster, start=0):
        self.nodes = list(cluster.nodes) if isinstance(cluster, Cluster) else list(cluster)
        self.conns = [KeepAlive(s.url) for s in self.nodes]
        self.i = start
        self.last = None
        self.skipped = set()

    def skip(self, index):
        self.skipped.add(index)

    def next_index(self):
        for _ in range(len(self.nodes)):
            k = self.i % len(self.nodes)
            self.i += 1
            if k not in self.skipped:
                return k
        raise AssertionError("every node is out of the rotation")

    def request(self, method, path, token=None, body=None, headers=None, node=None):
        """(status, headers, body) of method path on the next node (or on node index `node`).
        A connection error propagates (CONNECTION_ERRORS)."""
        k = self.next_index() if node is None else node
        self.last = k
        return self.conns[k].request(method, path, token, body=body, headers=headers)

    def close(self):
        for c in self.conns:
            c.close()


class Recorder:
    """Thread-safe tallies of a load: acked[kind] (list of values whose change a 2xx
    acknowledged), ambiguous[kind] (values whose outcome is unknown: the connection failed or a
    503 came back), unexpected (anything else, asserted empty), counters."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acked = collections.defaultdict(list)
        self.ambiguous = collections.defaultdict(list)
        self.unexpected = []
        self.count = collections.Counter()

    def ack(self, kind, value):
        with self.lock:
            self.acked[kind].append(value)

    def unknown(self, kind, value):
        with self.lock:
            self.ambiguous[kind].append(value)

    def bad(self, what):
        with self.lock:
            self.unexpected.append(what)

    def inc(self, name, n=1):
        with self.lock:
            self.count[name] += n


def is_store_unavailable(status, body):
    """503 with the error envelope and code STORE_UNAVAILABLE (architecture.md)."""
    return (status == 503 and isinstance(body, dict) and isinstance(body.get("error"), dict)
            and body["error"].get("code") == "STORE_UNAVAILABLE")


# ------------------------------------------------------------------------------------------------
# API helpers


def create_quota(node, token, job_type, **limits):
    """POST /jobengine/quotas on node that must answer 201; returns the quota."""
    st, _, body = node.api("POST", Q, token, body=quota_body(job_type, **limits))
    if st != 201:
        raise AssertionError("create quota %s on %s answered %s: %r" % (job_type, node.url, st,
                                                                        body))
    return body


def quota_of(node, token, qid):
    return node.get_json(qpath(qid), token)


def lease_body(job_types, worker, max_jobs=1, lease_seconds=60):
    return {"jobTypes": job_types if isinstance(job_types, list) else [job_types],
            "workerId": worker, "max": max_jobs, "leaseSeconds": lease_seconds}


def complete_body(lease_id, status="succeeded"):
    return {"leaseId": lease_id, "status": status}


def log_excerpt(srv, needle, n=5):
    """The last n lines of srv's log that hold needle (for failure messages)."""
    return [l for l in srv.log_text().splitlines() if needle in l][-n:]


def now_ms():
    return harness.now_ms()


def note(text):
    """A line of the test's own output (visible in ctest --output-on-failure and -V)."""
    sys.stdout.write("\n[cluster] %s\n" % text)
    sys.stdout.flush()


def call(lb, method, path, token=None, body=None, headers=None, node=None):
    """One request through a Balancer, classified: (kind, status, headers, body) where kind is
    "ok" (2xx), "unavailable" (503 STORE_UNAVAILABLE in the error envelope), "conn" (the
    connection failed: status, headers and body are None, the outcome is unknown) or "other"."""
    try:
        st, hdrs, js = lb.request(method, path, token, body=body, headers=headers, node=node)
    except CONNECTION_ERRORS:
        lb.conns[lb.last].close()
        return "conn", None, None, None
    if 200 <= st < 300:
        return "ok", st, hdrs, js
    if is_store_unavailable(st, js):
        return "unavailable", st, hdrs, js
    return "other", st, hdrs, js
