"""HTTPS (docs/operations.md): `jobengine serve --tls-cert/--tls-key` against Python's ssl, curl
and the jobengine CLI's --cacert; what a bad pair does at start and on SIGHUP; reloading the
certificate without dropping connections. Certificates are made here (tests/ops/pki.py)."""

import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import tempfile
import unittest
import warnings

from harness import (TMP, Server, ServerTestCase, claims_of, free_port, run_cli,
                     verify_token_independently)
from ops_harness import (https_connection, https_request, log_lines, msg_is, tls_context,
                         tls_socket, wait_log)
from pki import Pki, der_of, write_key

CLIENTS = [("viewer", ["acme"], ["Orch.Viewer"])]
V = ssl.TLSVersion
# OpenSSL's own floor lowered, so that what fails is refused by the server, not by this client
ANY_CIPHER = "ALL:@SECLEVEL=0"


def sha256_hex(der):
    return hashlib.sha256(der).hexdigest()


def serve_args(cert, key):
    return ["--tls-cert", cert, "--tls-key", key]


def replace_file(src, dst):
    """dst gets src's bytes in one rename (a reader never sees half a file)."""
    tmp = dst + ".new"
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def write_file(path, data):
    tmp = path + ".new"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class Certs:
    """One set of certificates for the whole file (made once: key generation is the slow part)."""

    def __init__(self):
        os.makedirs(TMP, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix="tls-certs-", dir=TMP)
        self.ca = Pki(self.dir, "ca")
        self.a_crt, self.a_key = self.ca.server("a", kind="rsa")
        self.b_crt, self.b_key = self.ca.server("b")
        self.other = Pki(self.dir, "other-ca")
        self.bad_crt, self.bad_key = self.other.server("bad")
        self.stray_key = write_key(os.path.join(self.dir, "stray.key"))
        self.garbage = os.path.join(self.dir, "garbage.pem")
        with open(self.garbage, "wb") as f:
            f.write(b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n"
                    b"-----END CERTIFICATE-----\n")

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


CERTS = None


def setUpModule():
    global CERTS
    CERTS = Certs()


def tearDownModule():
    if CERTS is not None:
        CERTS.close()


class TlsServing(ServerTestCase):
    """One HTTPS server (certificate a) for the handshake, curl and CLI checks."""

    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(CLIENTS, name="tls",
                                         args=serve_args(CERTS.a_crt, CERTS.a_key))
        cls.url = "https://127.0.0.1:%d" % cls.srv.port

    def ca_ctx(self, **kw):
        return tls_context(CERTS.ca.pem, **kw)

    def handshake(self, ctx, name="127.0.0.1"):
        with tls_socket(self.srv.port, ctx, name) as s:
            return s.version(), s.cipher(), s.getpeercert(binary_form=True)

    # -- what a client sees --------------------------------------------------------------------
    def test_tls12_and_tls13_verify_against_the_ca_and_serve(self):
        for version in (V.TLSv1_2, V.TLSv1_3):
            for name in ("127.0.0.1", "localhost"):
                with self.subTest(version=version.name, server_name=name):
                    ctx = self.ca_ctx(minimum=version, maximum=version)
                    st, _, body, der = https_request(self.srv.port, ctx, "GET", "/readyz",
                                                     server_name=name)
                    self.assertEqual(st, 200, body)
                    self.assertEqual(json.loads(body)["status"], "ready")
                    self.assertEqual(der, der_of(CERTS.a_crt),
                                     "the certificate served is not the one configured")

    def test_a_returning_client_resumes_its_session(self):
        """Session tickets: a client that comes back skips the full handshake (TLS 1.2 and 1.3),
        and a resumed session still answers."""
        for version in (V.TLSv1_2, V.TLSv1_3):
            with self.subTest(version=version.name):
                ctx = self.ca_ctx(minimum=version, maximum=version)
                with tls_socket(self.srv.port, ctx) as s:
                    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    first = b""
                    while True:  # reading the answer also reads a TLS 1.3 ticket
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        first += chunk
                    session = s.session
                    self.assertFalse(s.session_reused)
                self.assertTrue(first.startswith(b"HTTP/1.1 200"), first[:40])
                self.assertIsNotNone(session)
                raw = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
                with ctx.wrap_socket(raw, server_hostname="127.0.0.1", session=session) as s:
                    self.assertTrue(s.session_reused, "the server made a full handshake again")
                    s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    self.assertTrue(s.recv(4096).startswith(b"HTTP/1.1 200"))

    def test_the_listening_line_names_https_and_the_certificate(self):
        line = [x for x in log_lines(self.srv) if x.get("msg") == "listening"][-1]
        self.assertEqual(line.get("scheme"), "https", line)
        self.assertEqual(line.get("tlsCertSha256"), sha256_hex(der_of(CERTS.a_crt)), line)

    def test_tls11_and_older_are_refused(self):
        warnings.simplefilter("ignore", DeprecationWarning)  # ssl.TLSVersion.TLSv1_1 is
        ctx = tls_context(CERTS.ca.pem, minimum=V.MINIMUM_SUPPORTED, maximum=V.TLSv1_1,
                          ciphers=ANY_CIPHER)
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            self.handshake(ctx)
        # the same client, allowed TLS 1.2, gets through: the refusal was the version's
        ctx = tls_context(CERTS.ca.pem, minimum=V.MINIMUM_SUPPORTED, maximum=V.TLSv1_2,
                          ciphers=ANY_CIPHER)
        self.assertEqual(self.handshake(ctx)[0], "TLSv1.2")

    def test_tls12_offers_only_aead_ciphers_with_ecdhe(self):
        # certificate a has an RSA key: every one of these could be negotiated with it
        for weak in ("AES128-SHA", "AES128-GCM-SHA256", "DHE-RSA-AES128-GCM-SHA256",
                     "ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA384"):
            with self.subTest(cipher=weak):
                ctx = tls_context(CERTS.ca.pem, maximum=V.TLSv1_2, ciphers=weak + ":@SECLEVEL=0")
                with self.assertRaises((ssl.SSLError, ConnectionError)):
                    self.handshake(ctx)
        for good in ("ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
                     "ECDHE-RSA-CHACHA20-POLY1305"):
            with self.subTest(cipher=good):
                ctx = tls_context(CERTS.ca.pem, maximum=V.TLSv1_2, ciphers=good)
                version, cipher, _ = self.handshake(ctx)
                self.assertEqual((version, cipher[0]), ("TLSv1.2", good))

    def test_a_client_trusting_another_ca_refuses_the_server(self):
        with self.assertRaises(ssl.SSLCertVerificationError):
            self.handshake(tls_context(CERTS.other.pem))

    def test_plain_http_on_the_tls_port_is_not_served(self):
        import socket
        with socket.create_connection(("127.0.0.1", self.srv.port), timeout=10) as s:
            s.sendall(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            try:
                data = s.recv(4096)
            except (ConnectionError, socket.timeout):
                data = b""
        self.assertNotIn(b"ready", data)
        self.assertFalse(data.startswith(b"HTTP/1.1 200"), data)

    def test_curl_with_cacert(self):
        ok = subprocess.run(["curl", "-sS", "--max-time", "20", "--cacert", CERTS.ca.pem,
                             "-o", "-", "-w", "\n%{http_code}", self.url + "/readyz"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
        self.assertEqual(ok.returncode, 0, ok.stderr)
        body, code = ok.stdout.rsplit("\n", 1)
        self.assertEqual(code, "200")
        self.assertEqual(json.loads(body)["status"], "ready")
        bad = subprocess.run(["curl", "-sS", "--max-time", "20", "--cacert", CERTS.other.pem,
                              self.url + "/readyz"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
        self.assertEqual(bad.returncode, 60, "curl should refuse the certificate: %s" % bad.stderr)

    def test_issuer_defaults_to_https_listen(self):
        ctx = self.ca_ctx()
        st, _, body, _ = https_request(self.srv.port, ctx, "GET",
                                       "/.well-known/openid-configuration")
        self.assertEqual(st, 200, body)
        disco = json.loads(body)
        self.assertEqual(disco["issuer"], self.url)
        self.assertTrue(disco["token_endpoint"].startswith(self.url + "/"), disco)
        p = self.cli_token("--cacert", CERTS.ca.pem)
        self.assertEqual(p.returncode, 0, p.stderr)
        token = p.stdout.strip()
        st, _, jwks, _ = https_request(self.srv.port, ctx, "GET", "/jwks")
        self.assertEqual(st, 200)
        claims = verify_token_independently(self.url, token, self.url, jwks=json.loads(jwks))
        self.assertEqual(claims["iss"], self.url)

    # -- the CLI ------------------------------------------------------------------------------
    def cli_token(self, *extra, url=None, env=None):
        return run_cli(["token", "--url", url or self.url, "--client-id", "viewer",
                        "--client-secret", self.srv.secrets["viewer"], "--scope", "orch:read"]
                       + list(extra), env=env, timeout=60)

    def test_cli_cacert_verifies_the_server(self):
        for how, extra, env in (("--cacert", ["--cacert", CERTS.ca.pem], None),
                                ("JOBENGINE_CACERT", [], {"JOBENGINE_CACERT": CERTS.ca.pem})):
            with self.subTest(how=how):
                p = self.cli_token(*extra, env=env)
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertEqual(claims_of(p.stdout.strip())["scope"], "orch:read")
        p = self.cli_token("--cacert", CERTS.ca.pem,
                           url="https://localhost:%d" % self.srv.port)
        self.assertEqual(p.returncode, 0, "the certificate names localhost too: " + p.stderr)

    def test_cli_refuses_a_server_it_cannot_verify(self):
        for how, extra in (("system CAs", []), ("another CA", ["--cacert", CERTS.other.pem])):
            with self.subTest(how=how):
                p = self.cli_token(*extra)
                self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
                self.assertEqual(p.stdout, "", "no token may be printed")
                self.assertTrue(p.stderr.startswith("jobengine token: "), p.stderr)
                self.assertIn("certificate", p.stderr.lower())

    def test_cli_cacert_that_is_not_a_file(self):
        p = self.cli_token("--cacert", os.path.join(CERTS.dir, "absent.pem"))
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertEqual(p.stdout, "")
        self.assertTrue(p.stderr.startswith("jobengine token: "), p.stderr)


class PlainHttpRefusal(ServerTestCase):
    """The CLI sends over plain http:// only to loopback, unless told to."""

    def test_plain_http_to_a_non_loopback_host_is_refused_before_sending(self):
        p = run_cli(["token", "--url", "http://10.1.2.3:8440", "--client-id", "x",
                     "--client-secret", "y", "--scope", "orch:read"], timeout=20)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("refusing plain http://", p.stderr)
        self.assertTrue(p.stderr.startswith("jobengine token: "), p.stderr)

    def test_allow_http_sends_anyway(self):
        # 0.0.0.0 is not loopback to the CLI, yet Linux connects it to this machine: a plain
        # server on 127.0.0.1 answers there, so --allow-http is seen to get a real token.
        srv = self.new_server(CLIENTS, name="plain")
        url = "http://0.0.0.0:%d" % srv.port
        args = ["token", "--url", url, "--client-id", "viewer", "--client-secret",
                srv.secrets["viewer"], "--scope", "orch:read"]
        before = srv.log_size()
        p = run_cli(args, timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("refusing plain http:// to 0.0.0.0", p.stderr)
        for how, extra, env in (("--allow-http", ["--allow-http"], None),
                                ("JOBENGINE_ALLOW_HTTP=1", [], {"JOBENGINE_ALLOW_HTTP": "1"})):
            with self.subTest(how=how):
                q = run_cli(args + extra, env=env, timeout=30)
                self.assertEqual(q.returncode, 0, q.stderr)
                self.assertEqual(claims_of(q.stdout.strip())["scope"], "orch:read")
        deadline = time.monotonic() + 10  # a request's line follows its answer by a moment
        while True:
            token_lines = [x for x in log_lines(srv, before) if x.get("msg") == "request"
                           and x.get("path") == "/token"]
            if len(token_lines) >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        self.assertEqual(len(token_lines), 2, "the refused call must not have been sent")


class TlsStartErrors(unittest.TestCase):
    """A TLS setting that cannot work stops serve at start: exit 1, the file named."""

    def serve(self, *args, env=None):
        d = tempfile.mkdtemp(prefix="tls-start-", dir=TMP)
        self.addCleanup(shutil.rmtree, d, True)
        return run_cli(["serve", "--listen", "127.0.0.1:%d" % free_port(), "--store",
                        "sqlite:" + os.path.join(d, "je.db")] + list(args), env=env, timeout=60)

    def assertRefused(self, p, *names):
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertTrue(p.stderr.startswith("jobengine serve: "), p.stderr)
        self.assertNotIn("listening", p.stderr)
        for n in names:
            self.assertIn(n, p.stderr)

    def test_cert_and_key_go_together(self):
        for how, args, env in (("--tls-cert only", ["--tls-cert", CERTS.a_crt], None),
                               ("--tls-key only", ["--tls-key", CERTS.a_key], None),
                               ("JOBENGINE_TLS_KEY only", [], {"JOBENGINE_TLS_KEY": CERTS.a_key}),
                               ("an empty --tls-cert", ["--tls-cert", "", "--tls-key", CERTS.a_key],
                                None),
                               ("an empty JOBENGINE_TLS_KEY", ["--tls-cert", CERTS.a_crt],
                                {"JOBENGINE_TLS_KEY": ""})):
            with self.subTest(how=how):
                self.assertRefused(self.serve(*args, env=env), "tls-cert and tls-key go together")

    def test_a_key_that_is_not_the_certificates(self):
        for key in (CERTS.stray_key, CERTS.bad_key):
            with self.subTest(key=os.path.basename(key)):
                self.assertRefused(self.serve(*serve_args(CERTS.a_crt, key)), key,
                                   "does not belong")

    def test_garbage_and_missing_files(self):
        absent = os.path.join(CERTS.dir, "absent.pem")
        for how, cert, key, named in (
                ("garbage certificate", CERTS.garbage, CERTS.a_key, CERTS.garbage),
                ("garbage key", CERTS.a_crt, CERTS.garbage, CERTS.garbage),
                ("missing certificate", absent, CERTS.a_key, absent),
                ("missing key", CERTS.a_crt, absent, absent)):
            with self.subTest(how=how):
                self.assertRefused(self.serve(*serve_args(cert, key)), named)


class TlsReload(ServerTestCase):
    """SIGHUP re-reads the certificate and key: new handshakes get the new one, open
    connections go on; a pair that does not load changes nothing."""

    def tls_server(self, via_config=False):
        """A server on certificate a, read from server.crt/server.key in its data dir (flags,
        or the config file's tlsCert/tlsKey)."""
        srv = self.new_server(CLIENTS, name="tls-reload", start=False)
        crt, key = os.path.join(srv.dir, "server.crt"), os.path.join(srv.dir, "server.key")
        replace_file(CERTS.a_crt, crt)
        replace_file(CERTS.a_key, key)
        if via_config:
            srv.config = os.path.join(srv.dir, "config.json")
            with open(srv.config, "w") as f:
                json.dump({"tlsCert": crt, "tlsKey": key}, f)
            srv.args += ["--config", srv.config]
        else:
            srv.args += serve_args(crt, key)
        srv.start()
        return srv, crt, key

    def served_der(self, srv):
        with tls_socket(srv.port, tls_context(CERTS.ca.pem)) as s:
            return s.getpeercert(binary_form=True)

    def sighup(self, srv):
        offset = srv.log_size()
        srv.proc.send_signal(signal.SIGHUP)
        return offset

    def test_sighup_serves_the_new_certificate_and_keeps_open_connections(self):
        srv, crt, key = self.tls_server()
        ctx = tls_context(CERTS.ca.pem)
        kept = https_connection(srv.port, ctx)
        self.addCleanup(kept.close)
        kept.request("GET", "/readyz")
        resp = kept.getresponse()
        self.assertEqual((resp.status, resp.read()[:0]), (200, b""))
        self.assertEqual(kept.sock.getpeercert(binary_form=True), der_of(CERTS.a_crt))

        replace_file(CERTS.b_key, key)
        replace_file(CERTS.b_crt, crt)
        offset = self.sighup(srv)
        line = wait_log(srv, msg_is("reloaded"), offset, what="the 'reloaded' line")
        self.assertEqual(line.get("tlsCertSha256"), sha256_hex(der_of(CERTS.b_crt)), line)
        self.assertEqual(line.get("level"), "info", line)

        self.assertEqual(self.served_der(srv), der_of(CERTS.b_crt),
                         "a new handshake after SIGHUP must get the new certificate")
        # the connection opened before the reload still answers, on its own session
        sock_before = kept.sock
        kept.request("GET", "/readyz")
        resp = kept.getresponse()
        self.assertEqual(resp.status, 200)
        self.assertEqual(json.loads(resp.read())["status"], "ready")
        self.assertIs(kept.sock, sock_before, "the open connection was not kept")

    def test_a_bad_pair_on_sighup_keeps_the_old_certificate(self):
        srv, crt, key = self.tls_server()
        a_der = der_of(CERTS.a_crt)
        for how, new_crt, new_key in (("garbage certificate", CERTS.garbage, CERTS.a_key),
                                      ("key of another certificate", CERTS.a_crt, CERTS.b_key),
                                      ("certificate removed", None, CERTS.a_key)):
            with self.subTest(how=how):
                if new_crt is None:
                    os.unlink(crt)
                else:
                    replace_file(new_crt, crt)
                replace_file(new_key, key)
                offset = self.sighup(srv)
                line = wait_log(srv, lambda x: x.get("level") == "error", offset,
                                what="an error line")
                self.assertTrue(line.get("msg", "").startswith("reload failed"), line)
                self.assertNotIn("reloaded", [x.get("msg") for x in log_lines(srv, offset)])
                self.assertTrue(srv.alive(), "the server must survive a failed reload")
                self.assertEqual(self.served_der(srv), a_der, "the old certificate is kept")
        # a good pair afterwards is taken
        replace_file(CERTS.b_key, key)
        replace_file(CERTS.b_crt, crt)
        offset = self.sighup(srv)
        wait_log(srv, msg_is("reloaded", tlsCertSha256=sha256_hex(der_of(CERTS.b_crt))), offset,
                 what="the 'reloaded' line")
        self.assertEqual(self.served_der(srv), der_of(CERTS.b_crt))

    def test_sighup_rereads_the_config_files_tls_paths(self):
        srv, crt, key = self.tls_server(via_config=True)
        self.assertEqual(self.served_der(srv), der_of(CERTS.a_crt))
        with open(srv.config, "w") as f:
            json.dump({"tlsCert": CERTS.b_crt, "tlsKey": CERTS.b_key}, f)
        offset = self.sighup(srv)
        wait_log(srv, msg_is("reloaded", tlsCertSha256=sha256_hex(der_of(CERTS.b_crt))), offset,
                 what="the 'reloaded' line")
        self.assertEqual(self.served_der(srv), der_of(CERTS.b_crt))
        # a config file naming only one of the pair is refused, and changes nothing
        with open(srv.config, "w") as f:
            json.dump({"tlsCert": CERTS.a_crt}, f)
        offset = self.sighup(srv)
        line = wait_log(srv, lambda x: x.get("level") == "error", offset, what="an error line")
        self.assertTrue(line["msg"].startswith("reload failed"), line)
        self.assertEqual(self.served_der(srv), der_of(CERTS.b_crt))
        # an empty certificate path with a key is the same: refused, not served as plain HTTP
        with open(srv.config, "w") as f:
            json.dump({"tlsCert": "", "tlsKey": CERTS.a_key}, f)
        offset = self.sighup(srv)
        line = wait_log(srv, lambda x: x.get("level") == "error", offset, what="an error line")
        self.assertTrue(line["msg"].startswith("reload failed"), line)
        self.assertIn("tls-cert and tls-key go together", srv.log_from(offset))
        self.assertEqual(self.served_der(srv), der_of(CERTS.b_crt))

    def test_empty_flags_turn_off_the_files_pair(self):
        srv = self.new_server(CLIENTS, name="tls-off", start=False)
        config = os.path.join(srv.dir, "config.json")
        with open(config, "w") as f:
            json.dump({"tlsCert": CERTS.a_crt, "tlsKey": CERTS.a_key}, f)
        srv.args += ["--config", config, "--tls-cert", "", "--tls-key", ""]
        srv.start()
        st, _, body = srv.request("GET", "/readyz")
        self.assertEqual((st, body.get("status")), (200, "ready"),
                         "plain HTTP is served when both paths are empty")

    def test_tls_from_the_environment(self):
        srv = self.new_server(CLIENTS, name="tls-env", env={"JOBENGINE_TLS_CERT": CERTS.a_crt,
                                                            "JOBENGINE_TLS_KEY": CERTS.a_key})
        st, _, _, der = https_request(srv.port, tls_context(CERTS.ca.pem), "GET", "/readyz")
        self.assertEqual(st, 200)
        self.assertEqual(der, der_of(CERTS.a_crt))


if __name__ == "__main__":
    unittest.main(verbosity=2)
