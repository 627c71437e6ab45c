"""NATS decentralized-auth material: operator/account keys, user JWTs, creds files.

The bus runs in NATS operator mode with a MEMORY resolver: the server trusts one operator,
which signed one system account and one application account (`K8SCLAW`); every client is a
user whose JWT the account key signed. The JWT format and the nkey signatures are NATS's own
(ed25519 via `nkeys`); this module only lays out claims. The controller holds the account
seed and mints per-run users; `k8sclaw_protocol._busauth` says what each user may do.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from dataclasses import dataclass
from typing import Any, Final

import nkeys

from k8sclaw_protocol import _events

ALGORITHM: Final = "ed25519-nkey"
ACCOUNT_NAME: Final = "K8SCLAW"
SYSTEM_ACCOUNT_NAME: Final = "SYS"
OPERATOR_NAME: Final = "k8sclaw"

_ROLES: Final = {
    "operator": nkeys.PREFIX_BYTE_OPERATOR,
    "account": nkeys.PREFIX_BYTE_ACCOUNT,
    "user": nkeys.PREFIX_BYTE_USER,
}


def new_seed(role: str) -> str:
    """A fresh nkey seed (`SO…`, `SA…`, `SU…`) from the OS random source."""
    return bytes(nkeys.encode_seed(os.urandom(32), _ROLES[role])).decode()


def public_key(seed: str) -> str:
    """The public key (`O…`, `A…`, `U…`) of a seed."""
    return bytes(nkeys.from_seed(seed.encode()).public_key).decode()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def encode_jwt(claims: dict[str, Any], signer_seed: str) -> str:
    """Sign `claims` as a NATS JWT: `iss` is the signer, `jti` the claims' hash."""
    claims = {**claims, "iat": int(time.time()), "iss": public_key(signer_seed)}
    digest = hashlib.sha256(json.dumps(claims, sort_keys=True).encode()).digest()
    claims["jti"] = base64.b32encode(digest).decode().rstrip("=")
    header = _b64(json.dumps({"typ": "JWT", "alg": ALGORITHM}).encode())
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = nkeys.from_seed(signer_seed.encode()).sign(f"{header}.{body}".encode())
    return f"{header}.{body}.{_b64(signature)}"


def decode_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, unverified (for tests and diagnostics only)."""
    body = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return claims


_UNLIMITED: Final = {
    "subs": -1,
    "data": -1,
    "payload": -1,
    "imports": -1,
    "exports": -1,
    "wildcards": True,
    "conn": -1,
    "leaf": -1,
}
_JETSTREAM: Final = {
    "mem_storage": -1,
    "disk_storage": -1,
    "streams": -1,
    "consumer": -1,
    "max_ack_pending": -1,
    "mem_max_stream_bytes": -1,
    "disk_max_stream_bytes": -1,
    "max_bytes_required": False,
}


@dataclass(frozen=True)
class Trust:
    """The server side of the bus's auth: who the server trusts (all public JWTs)."""

    operator_jwt: str
    system_account: str
    system_account_jwt: str
    account: str
    account_jwt: str

    def server_config(
        self,
        *,
        store_dir: str,
        host: str = "0.0.0.0",
        port: int = 4222,
        monitor_port: int | None = None,
        server_name: str = "k8sclaw-nats",
    ) -> str:
        """The whole `nats-server` config: JetStream, payload cap and operator mode with
        every account preloaded (no anonymous users). The manifests and the test fixture
        both run exactly this."""
        lines = [
            f"server_name: {server_name}",
            f"host: {host}",
            f"port: {port}",
            f"max_payload: {_events.MAX_PAYLOAD_BYTES}",
            f"jetstream {{ store_dir: {json.dumps(store_dir)} }}",
            f"operator: {self.operator_jwt}",
            f"system_account: {self.system_account}",
            "resolver: MEMORY",
            "resolver_preload: {",
            f"  {self.system_account}: {self.system_account_jwt}",
            f"  {self.account}: {self.account_jwt}",
            "}",
        ]
        if monitor_port is not None:
            lines.insert(3, f"http_port: {monitor_port}")
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class BusKeys:
    """Generated once at install: the operator key signs the accounts and is then not
    needed; the account seed signs every user and stays with the controller."""

    operator_seed: str
    system_account_seed: str
    account_seed: str

    @classmethod
    def generate(cls) -> BusKeys:
        return cls(new_seed("operator"), new_seed("account"), new_seed("account"))

    def trust(self) -> Trust:
        """Operator and account JWTs for the server (deterministic up to `iat`/`jti`)."""
        sys_pub = public_key(self.system_account_seed)
        operator = {
            "sub": public_key(self.operator_seed),
            "name": OPERATOR_NAME,
            "nats": {"type": "operator", "version": 2, "system_account": sys_pub},
        }
        return Trust(
            operator_jwt=encode_jwt(operator, self.operator_seed),
            system_account=sys_pub,
            system_account_jwt=self._account_jwt(sys_pub, SYSTEM_ACCOUNT_NAME, jetstream=False),
            account=public_key(self.account_seed),
            account_jwt=self._account_jwt(
                public_key(self.account_seed), ACCOUNT_NAME, jetstream=True
            ),
        )

    def _account_jwt(self, subject: str, name: str, *, jetstream: bool) -> str:
        limits = {**_UNLIMITED, **(_JETSTREAM if jetstream else {})}
        claims = {
            "sub": subject,
            "name": name,
            "nats": {"limits": limits, "type": "account", "version": 2},
        }
        return encode_jwt(claims, self.operator_seed)


@dataclass(frozen=True)
class UserCreds:
    """One user's JWT and seed; `text()` is the `.creds` file nats clients read."""

    jwt: str
    seed: str

    def text(self) -> str:
        return (
            "-----BEGIN NATS USER JWT-----\n"
            f"{self.jwt}\n"
            "------END NATS USER JWT------\n\n"
            "************************* IMPORTANT *************************\n"
            "NKEY Seed printed below can be used to sign and prove identity.\n"
            "NKEYs are sensitive and should be treated as secrets.\n\n"
            "-----BEGIN USER NKEY SEED-----\n"
            f"{self.seed}\n"
            "------END USER NKEY SEED------\n"
        )


def mint_user(
    account_seed: str,
    name: str,
    permissions: dict[str, Any],
    *,
    expires_in: float | None = None,
) -> UserCreds:
    """A new user key signed by the account, with NATS `permissions` and optional expiry."""
    seed = new_seed("user")
    claims: dict[str, Any] = {
        "sub": public_key(seed),
        "name": name,
        "nats": {
            **permissions,
            "subs": -1,
            "data": -1,
            "payload": -1,
            "type": "user",
            "version": 2,
        },
    }
    if expires_in is not None:
        claims["exp"] = int(time.time() + expires_in)
    return UserCreds(jwt=encode_jwt(claims, account_seed), seed=seed)
