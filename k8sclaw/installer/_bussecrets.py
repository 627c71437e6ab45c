"""The bus's keys and configuration, generated once per install (issue #13 item 1).

`k8sclaw-bus-signing` keeps the operator, system-account and account seeds (the
controller mounts only the account seed, to mint per-run users); `k8sclaw-nats-config`
is the server config from `Trust.server_config` (operator mode, no anonymous users), the
exact text the tests run; `k8sclaw-bus-<identity>` hold the control-plane identities' creds
(`busauth.IDENTITIES`). Existing Secrets are never replaced: new keys would invalidate
every credential in use, so a re-install keeps them.
"""

from __future__ import annotations

import base64
from typing import Any

from k8sclaw.kube import Kube, NotFoundError
from k8sclaw_protocol import BusKeys, busauth, mint_user, names

SIGNING_SECRET = "k8sclaw-bus-signing"
NATS_CONFIG_SECRET = "k8sclaw-nats-config"
NATS_CONFIG_KEY = "nats.conf"
NATS_STORE_DIR = "/data"
NATS_MONITOR_PORT = 8222
_SEED_KEYS = ("operator.seed", "system-account.seed", "account.seed")


def creds_secret(identity: str) -> str:
    """Name of a control-plane identity's creds Secret."""
    return f"k8sclaw-bus-{identity}"


def _secret(name: str, namespace: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {names.LABEL_PART_OF: names.MANAGED_BY},
        },
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def secrets_for(keys: BusKeys, namespace: str) -> list[dict[str, Any]]:
    """Every bus Secret of an install with these keys."""
    seeds = (keys.operator_seed, keys.system_account_seed, keys.account_seed)
    config = keys.trust().server_config(
        store_dir=NATS_STORE_DIR, port=names.NATS_PORT, monitor_port=NATS_MONITOR_PORT
    )
    objects = [
        _secret(SIGNING_SECRET, namespace, dict(zip(_SEED_KEYS, seeds, strict=True))),
        _secret(NATS_CONFIG_SECRET, namespace, {NATS_CONFIG_KEY: config}),
    ]
    for identity, permissions in busauth.IDENTITIES.items():
        creds = mint_user(keys.account_seed, identity, permissions.claims())
        objects.append(
            _secret(creds_secret(identity), namespace, {busauth.BUS_CREDS_KEY: creds.text()})
        )
    return objects


def _existing(kube: Kube, name: str, namespace: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = kube.get_raw("v1", "Secret", name, namespace)
    except NotFoundError:
        return None
    return found


def missing(kube: Kube, namespace: str) -> list[dict[str, Any]]:
    """The bus Secrets this install lacks, made with the keys already installed (or new
    ones on a first install)."""
    signing = _existing(kube, SIGNING_SECRET, namespace)
    if signing is None:
        keys = BusKeys.generate()
    else:
        data = signing.get("data") or {}
        seeds = [base64.b64decode(data[k]).decode() for k in _SEED_KEYS]
        keys = BusKeys(*seeds)
    wanted = secrets_for(keys, namespace)
    return [obj for obj in wanted if _existing(kube, obj["metadata"]["name"], namespace) is None]
