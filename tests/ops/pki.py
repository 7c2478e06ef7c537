"""Test certificates for tests/ops, made with python3-cryptography: a CA, server certificates it
signs (IP 127.0.0.1 + DNS localhost; EC or RSA keys), and the bad ones (another CA's, a key that matches none).

    pki = Pki(directory)         writes ca.pem; pki.server("a") writes a.crt + a.key signed by it
    Pki(directory, "other-ca")   a second, unrelated CA
    write_key(path)              a fresh private key (matches no certificate)

Every function returns paths; der_of(cert_path) gives a certificate's DER for comparisons."""

import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _key(kind="ec"):
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(key, path):
    with open(path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    os.chmod(path, 0o600)
    return path


def _write_cert(cert, path):
    with open(path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return path


def write_key(path):
    """A fresh EC P-256 private key at path (PEM): it belongs to no certificate."""
    return _write_key(_key(), path)


def der_of(cert_path):
    with open(cert_path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read()).public_bytes(serialization.Encoding.DER)


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class Pki:
    """A CA in directory (name.pem, name.key) that signs server certificates."""

    def __init__(self, directory, name="ca"):
        self.dir = directory
        self.key = _key()
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (x509.CertificateBuilder()
                     .subject_name(_name("JobEngine test " + name))
                     .issuer_name(_name("JobEngine test " + name))
                     .public_key(self.key.public_key())
                     .serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(hours=1))
                     .not_valid_after(now + datetime.timedelta(days=2))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                     .add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                                  False, False), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.pem = _write_cert(self.cert, os.path.join(directory, name + ".pem"))

    def server(self, name, hosts=("127.0.0.1", "localhost"), kind="ec"):
        """name.crt and name.key: a server certificate for hosts signed by this CA, its key
        kind "ec" (P-256) or "rsa" (2048 bits). Returns (cert_path, key_path)."""
        key = _key(kind)
        sans = []
        for h in hosts:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(h)))
            except ValueError:
                sans.append(x509.DNSName(h))
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder()
                .subject_name(_name(name))
                .issuer_name(self.cert.subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(hours=1))
                .not_valid_after(now + datetime.timedelta(days=2))
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(True, False, kind == "rsa", False, False, False,
                                             False, False, False), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                               critical=False)
                .sign(self.key, hashes.SHA256()))
        crt = _write_cert(cert, os.path.join(self.dir, name + ".crt"))
        return crt, _write_key(key, os.path.join(self.dir, name + ".key"))
