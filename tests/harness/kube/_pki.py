"""The emulator's certificates, laid out as kubeadm lays out a cluster's.

- the cluster CA: signs the API server's serving certificate (127.0.0.1, localhost) and
  the client certificates of certificate users (CN = user name, O = groups), which is how
  a kind/kubeadm admin logs in;
- the front-proxy CA and its `front-proxy-client` certificate: what kube-apiserver
  presents to aggregated API servers when it proxies a request for an APIService.

ECDSA P-256 throughout (the webhook's certificate helpers make the CAs and serving pair).
"""

from __future__ import annotations

import datetime as dt
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from k8sclaw_controllers.webhook import _certs

FRONT_PROXY_CLIENT = "front-proxy-client"


def client_cert(
    ca_cert: bytes, ca_key: bytes, user: str, groups: tuple[str, ...] = ()
) -> tuple[bytes, bytes]:
    """A client certificate (PEM cert, PEM key) for `user` in `groups`, signed by the CA."""
    issuer = x509.load_pem_x509_certificate(ca_cert)
    signer = serialization.load_pem_private_key(ca_key, password=None)
    assert isinstance(signer, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
    subject.append(x509.NameAttribute(NameOID.COMMON_NAME, user))
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(subject))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(signer, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), pem_key


def subject_of(peercert: dict[str, object] | None) -> tuple[str, tuple[str, ...]] | None:
    """(user, groups) of a verified client certificate, as kube-apiserver reads it."""
    if not peercert:
        return None
    user, groups = "", []
    for rdn in peercert.get("subject", ()):  # type: ignore[attr-defined]
        for key, value in rdn:
            if key == "commonName":
                user = str(value)
            elif key == "organizationName":
                groups.append(str(value))
    return (user, tuple(groups)) if user else None


@dataclass
class Pki:
    """Every certificate the emulator needs, with files for the `ssl` module."""

    ca_cert: bytes
    ca_key: bytes
    front_proxy_ca: bytes
    folder: Path

    @classmethod
    def create(cls) -> Pki:
        folder = Path(tempfile.mkdtemp(prefix="kube-emulator-pki-"))
        ca_cert, ca_key = _certs.new_ca("kubernetes")
        serving = _certs.issue(ca_cert, ca_key, ["127.0.0.1", "localhost", "kubernetes"])
        (folder / "apiserver.crt").write_bytes(serving.cert)
        (folder / "apiserver.key").write_bytes(serving.key)
        proxy_ca, proxy_ca_key = _certs.new_ca("front-proxy-ca")
        proxy_cert, proxy_key = client_cert(proxy_ca, proxy_ca_key, FRONT_PROXY_CLIENT)
        (folder / "front-proxy-client.crt").write_bytes(proxy_cert)
        (folder / "front-proxy-client.key").write_bytes(proxy_key)
        return cls(ca_cert, ca_key, proxy_ca, folder)

    def server_context(self) -> ssl.SSLContext:
        """The API server's TLS: client certificates optional, verified by the cluster CA."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.folder / "apiserver.crt", self.folder / "apiserver.key")
        context.load_verify_locations(cadata=self.ca_cert.decode())
        context.verify_mode = ssl.CERT_OPTIONAL
        return context

    def proxy_context(self, ca_bundle: str | None) -> ssl.SSLContext:
        """kube-apiserver's client side towards an aggregated API server: the
        front-proxy-client certificate; the server checked against `ca_bundle` (PEM), or
        not at all (`insecureSkipTLSVerify`) when None."""
        if ca_bundle is None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            context = ssl.create_default_context(cadata=ca_bundle)
        context.load_cert_chain(
            self.folder / "front-proxy-client.crt", self.folder / "front-proxy-client.key"
        )
        return context
