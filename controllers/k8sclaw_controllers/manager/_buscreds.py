"""Bus credentials the controller mints: its own, and one NATS user per run's bridge.

The account signing seed (a Secret in k8sclaw-system, mounted into the controller only)
signs a user JWT per run whose permissions are `busauth.run_permissions` (that run's
subjects and consumers alone) and whose expiry is the run's timeout plus a margin. The
creds go into a Secret owned by the AgentRun (deleted with it), mounted as a file into the
ipc-bridge container only: never an env value in the pod spec.
"""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any

from k8sclaw_controllers.manager import _kube
from k8sclaw_protocol import AgentRun, ClawInstance, UserCreds, busauth, mint_user, names

log = logging.getLogger("k8sclaw.controller.buscreds")
Body = dict[str, Any]

EXPIRY_MARGIN_SECONDS = 15 * 60
"""Run credentials outlive the run's timeout by this much (pod start, slow result)."""
VOLUME = "bus-creds"


class SigningKeyError(Exception):
    """The account signing seed cannot be read; the message names the file."""


def load_seed(path: str) -> str:
    """The account seed from its mounted file (an `SA…` nkey seed)."""
    try:
        seed = Path(path).read_text().strip()
    except OSError as exc:
        raise SigningKeyError(f"cannot read the bus signing seed {path}: {exc}") from exc
    if not seed.startswith("SA"):
        raise SigningKeyError(f"{path} does not hold an account nkey seed")
    return seed


def controller_creds(seed: str) -> UserCreds:
    """The controller's own user (no expiry: it is re-minted at every start)."""
    return mint_user(seed, "controller", busauth.IDENTITIES["controller"].claims())


def secret_name(run: AgentRun) -> str:
    """Per run *instance* (uid in the name): a re-created run of the same name never finds
    its predecessor's Secret, so the controller needs create, never update."""
    return f"{run.name}-bus-{(run.metadata.uid or '')[:8]}"


def owner_reference(run: AgentRun) -> Body:
    return {
        "apiVersion": names.GROUP_VERSION,
        "kind": "AgentRun",
        "name": run.name,
        "uid": run.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _creds_secret(
    name: str, namespace: str, labels: dict[str, str], owner: Body, creds: UserCreds
) -> Body:
    data = base64.b64encode(creds.text().encode()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {**labels, names.LABEL_MANAGED_BY: names.MANAGED_BY},
            "ownerReferences": [owner],
        },
        "data": {busauth.BUS_CREDS_KEY: data},
    }


def secret_for(run: AgentRun, seed: str, timeout_seconds: float) -> Body:
    """The run's creds Secret (labelled, owned by the run)."""
    permissions = busauth.run_permissions(run.namespace, run.name, run.metadata.uid or "")
    creds = mint_user(
        seed,
        f"run-{run.namespace}-{run.name}",
        permissions.claims(),
        expires_in=timeout_seconds + EXPIRY_MARGIN_SECONDS,
    )
    labels = {names.LABEL_AGENT_RUN: run.name}
    return _creds_secret(secret_name(run), run.namespace, labels, owner_reference(run), creds)


def channel_secret_name(instance: ClawInstance) -> str:
    return f"{instance.name}-channel-bus-{(instance.metadata.uid or '')[:8]}"


def channel_secret_for(instance: ClawInstance, seed: str, owner: Body) -> Body:
    """The creds of an instance's channel pods (`busauth.channel_permissions`); no expiry:
    the pods live as long as the instance, which owns the Secret."""
    permissions = busauth.channel_permissions(instance.namespace, instance.name)
    creds = mint_user(seed, f"channel-{instance.namespace}-{instance.name}", permissions.claims())
    labels = {names.LABEL_INSTANCE: instance.name, names.LABEL_COMPONENT: names.COMPONENT_CHANNEL}
    name = channel_secret_name(instance)
    return _creds_secret(name, instance.namespace, labels, owner, creds)


async def ensure_secret(kube: _kube.Kube, run: AgentRun, seed: str, lifetime: float) -> None:
    """Create the run's creds Secret; an existing one is this very run's (a start retried
    after a controller restart) and is kept."""
    await create_once(kube, secret_for(run, seed, lifetime))


async def create_once(kube: _kube.Kube, body: Body) -> None:
    """Create a creds Secret unless it exists (its name carries its owner's uid, so an
    existing one is the same owner's: minted earlier, still valid)."""
    meta = body["metadata"]
    try:
        await kube.create(_kube.core(meta["namespace"], "secrets"), body, read=False)
    except _kube.ConflictError:
        log.info(
            "bus credentials %s/%s exist already; keeping them", meta["namespace"], meta["name"]
        )


def bridge_env(run: AgentRun) -> dict[str, str]:
    """What the bridge needs to find its creds and its own consumers."""
    created = run.metadata.creation_timestamp
    env = {
        busauth.ENV_BUS_CREDS_DIR: busauth.BUS_CREDS_MOUNT,
        busauth.ENV_RUN_UID: run.metadata.uid or "",
    }
    if created is not None:
        env[busauth.ENV_RUN_CREATED] = created.isoformat().replace("+00:00", "Z")
    return env


def bridge_mount() -> Body:
    return {"name": VOLUME, "mountPath": busauth.BUS_CREDS_MOUNT, "readOnly": True}


def volume(run: AgentRun) -> Body:
    """Only the creds key; group-readable for the pod's fsGroup, mounted in the bridge only."""
    return secret_volume(secret_name(run))


def secret_volume(name: str) -> Body:
    return {
        "name": VOLUME,
        "secret": {
            "secretName": name,
            "defaultMode": 0o440,
            "items": [{"key": busauth.BUS_CREDS_KEY, "path": busauth.BUS_CREDS_KEY}],
        },
    }
