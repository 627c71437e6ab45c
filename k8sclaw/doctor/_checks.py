"""The doctor's checks, one function per area; each returns its findings and never raises
for a state of the cluster it can describe (errors of the call itself are the runner's).

What "current" means comes from what this CLI ships: the CRDs in `k8sclaw/manifests/crds`
and the Deployments/StatefulSet of the install bundle pinned to `k8sclaw_protocol.VERSION`
(so a new component in the bundle is checked without touching this module).
"""

from __future__ import annotations

import functools
from typing import Any

import yaml

from k8sclaw.doctor._cluster import Reader, shown
from k8sclaw.doctor._model import Finding, fail, ok, warn
from k8sclaw.installer import CRDS_DIR, contains, load_bundle
from k8sclaw.installer._wait import available, established
from k8sclaw.kube import CRDsMissingError, ForbiddenError, KubeError
from k8sclaw_protocol import names

APIEXT = "apiextensions.k8s.io/v1"
ADMISSION = "admissionregistration.k8s.io/v1"
SYSTEM = names.SYSTEM_NAMESPACE
INSTALL = "k8sclaw install"
CONTROLLER = "k8sclaw-controller"
PROBE_POLICY = "k8sclaw-doctor-probe"
_WORKLOAD_STEPS = frozenset({"nats", "control plane"})
_LABELS = {"k8sclaw-apiserver": "API server", "nats": "NATS"}


def api(reader: Reader) -> list[Finding]:
    """The API server answers; its version names what we talk to."""
    body = reader.request("GET", "/version", what="version")
    version = shown(body.get("gitVersion") or "unknown version", 40)
    server = shown(reader.kube.connection.server, 120)
    return [ok("api", f"API reachable at {server} (Kubernetes {version})")]


@functools.cache
def shipped_crds() -> tuple[dict[str, Any], ...]:
    """The CRDs this CLI installs, as shipped."""
    return tuple(yaml.safe_load(p.read_text()) for p in sorted(CRDS_DIR.glob("*.yaml")))


def crds(reader: Reader) -> list[Finding]:
    """Every shipped CRD is installed, Established, and holds the shipped spec."""
    missing, stale, waiting = [], [], []
    for crd in shipped_crds():
        name = crd["metadata"]["name"]
        live = reader.get(APIEXT, "CustomResourceDefinition", name, None)
        if live is None:
            missing.append(name)
        elif not contains(live.get("spec"), crd["spec"]):
            stale.append(name)
        elif not established(live):
            waiting.append(name)
    problems = [
        *([f"missing: {', '.join(missing)}"] if missing else []),
        *([f"stale (not this CLI's {names.VERSION}): {', '.join(stale)}"] if stale else []),
        *([f"not Established yet: {', '.join(waiting)}"] if waiting else []),
    ]
    if problems:
        return [fail("crds", "CRDs " + "; ".join(problems), INSTALL)]
    return [ok("crds", f"CRDs: {len(shipped_crds())} installed and current ({names.VERSION})")]


@functools.cache
def _shipped_workloads() -> tuple[dict[str, Any], ...]:
    """The bundle's Deployments and StatefulSet (read once: parsing the bundle is most of
    a doctor run's own time)."""
    steps = load_bundle(names.VERSION, "default")
    return tuple(
        obj
        for step in steps
        if step.name in _WORKLOAD_STEPS
        for obj in step.objects
        if obj["kind"] in ("Deployment", "StatefulSet")
    )


def _images(obj: dict[str, Any]) -> dict[str, str]:
    spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    return {str(c.get("name")): str(c.get("image")) for c in spec.get("containers") or []}


def label(name: str) -> str:
    """What a user calls a control-plane workload: controller, webhook, API server, NATS."""
    return _LABELS.get(name, name.removeprefix("k8sclaw-"))


def _describe_fix(kind: str, name: str, namespace: str) -> str:
    return f"kubectl -n {namespace} describe {kind.lower()}/{name}"


def _not_available(live: dict[str, Any]) -> str:
    status = live.get("status") or {}
    wanted = (live.get("spec") or {}).get("replicas", 1)
    ready = status.get("availableReplicas", status.get("readyReplicas", 0)) or 0
    why = next(
        (
            c.get("message")
            for c in status.get("conditions") or []
            if c.get("type") == "Available" and c.get("message")
        ),
        "",
    )
    return f"not Available ({ready}/{wanted} ready{'; ' + shown(why, 120) if why else ''})"


def _workload(reader: Reader, want: dict[str, Any], namespace: str, what: str) -> Finding:
    """One Deployment/StatefulSet: present, at the wanted images, rolled out."""
    kind, name = want["kind"], want["metadata"]["name"]
    try:
        live = reader.get("apps/v1", kind, name, namespace)
    except ForbiddenError as exc:  # unknown to this user, not broken
        return warn(what, f"{what}: not checked ({shown(exc)})", shown(exc.hint))
    if live is None:
        return fail(what, f"{what}: {kind.lower()}/{name} is not installed", INSTALL)
    running = _images(live)
    for container, image in _images(want).items():
        if running.get(container) != image:
            found = shown(running.get(container) or "no such container", 120)
            return fail(what, f"{what}: runs {found}, this CLI ships {image}", INSTALL)
    if not available(live):
        text = f"{what}: {kind.lower()}/{name} {_not_available(live)}"
        return fail(what, text, _describe_fix(kind, name, namespace))
    return ok(what, f"{what}: Available, {names.VERSION}")


def control_plane(reader: Reader) -> list[Finding]:
    """Controller, webhook, API server and NATS: installed, current, Available."""
    return [
        _workload(reader, want, SYSTEM, label(want["metadata"]["name"]))
        for want in _shipped_workloads()
    ]


def _ours_current(obj: dict[str, Any]) -> str | None:
    """The first K8sClaw image not at this CLI's version, None when all are."""
    for image in _images(obj).values():
        tag = image.rpartition(":")[2]
        if image.startswith(names.IMAGE_REGISTRY + "/") and tag != names.VERSION:
            return image
    return None


def _instances(reader: Reader, namespace: str) -> list[dict[str, Any]]:
    """The namespace's instances; none when the CRDs are missing (their check says so)."""
    try:
        return reader.list(names.GROUP_VERSION, "ClawInstance", namespace)
    except CRDsMissingError:
        return []


def channels(reader: Reader, namespace: str) -> list[Finding]:
    """The channel Deployment of every instance's channels: there, current, Available."""
    found = []
    for inst in _instances(reader, namespace):
        instance = inst["metadata"]["name"]
        for channel in (inst.get("spec") or {}).get("channels") or []:
            what = shown(f"channel {instance}/{channel.get('type')}", 120)
            name = names.channel_deployment_name(instance, str(channel.get("type")))
            live = reader.get("apps/v1", "Deployment", name, namespace)
            old = _ours_current(live) if live else None
            if live is None:
                fix = f"kubectl -n {SYSTEM} logs deployment/{CONTROLLER}"
                found.append(fail(what, f"{what}: deployment/{shown(name)} missing", fix))
            elif old:
                text = f"{what}: runs {shown(old, 120)}, this CLI is {names.VERSION}"
                found.append(fail(what, text, INSTALL))
            elif not available(live):
                text = f"{what}: {_not_available(live)}"
                found.append(fail(what, text, _describe_fix("Deployment", name, namespace)))
            else:
                found.append(ok(what, f"{what}: Available, {names.VERSION}"))
    return found


def _wanted_secrets(inst: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(secret, what it is for, the key a fix should create) of one instance."""
    from k8sclaw.onboard import CHANNELS, PROVIDERS

    spec = inst.get("spec") or {}
    wanted = []
    for ref in spec.get("authRefs") or []:
        provider = PROVIDERS.get(str(ref.get("provider") or ""))
        key = (provider.key_env if provider else None) or "API_KEY"
        wanted.append((str(ref.get("secret")), f"{ref.get('provider') or 'provider'} key", key))
    for channel in spec.get("channels") or []:
        kind = str(channel.get("type"))
        key = CHANNELS[kind].token_env if kind in CHANNELS else "TOKEN"
        secret = (channel.get("configRef") or {}).get("secret")
        wanted.append((str(secret), f"{kind} channel config", key))
    return wanted


def secrets(reader: Reader, namespace: str) -> list[Finding]:
    """The Secrets the namespace's instances reference exist (their contents stay unread
    in the output: only names are shown)."""
    instances = _instances(reader, namespace)
    found = []
    for inst in instances:
        instance = shown(inst["metadata"]["name"], 63)
        for secret, what, key in _wanted_secrets(inst):
            if reader.get("v1", "Secret", secret, namespace) is None:
                name = shown(secret, 253)
                fix = (
                    f"kubectl -n {namespace} create secret generic {name} --from-literal={key}=..."
                )
                found.append(
                    fail("secrets", f"instance {instance}: Secret {name} ({what}) missing", fix)
                )
    if not found:
        count = sum(len(_wanted_secrets(i)) for i in instances)
        text = (
            f"instance Secrets: {count} referenced by {len(instances)} instance(s) "
            f"in {namespace}, all present"
        )
        found.append(ok("secrets", text))
    return found


def _probe_policy(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": names.GROUP_VERSION,
        "kind": "ClawPolicy",
        "metadata": {"name": PROBE_POLICY, "namespace": namespace},
        "spec": {},
    }


def webhook(reader: Reader, namespace: str) -> list[Finding]:
    """The admission webhook is registered and answers: a server-side dry-run create of a
    ClawPolicy (the webhook sees dry runs: sideEffects None; nothing is stored)."""
    check = "webhook"
    config = reader.get(
        ADMISSION, "ValidatingWebhookConfiguration", names.WEBHOOK_CONFIGURATION, None
    )
    if config is None:
        return [fail(check, "admission webhook: not registered (policy is not enforced)", INSTALL)]
    path = f"/apis/{names.GROUP_VERSION}/namespaces/{namespace}/clawpolicies"
    try:
        reader.request(
            "POST",
            path,
            what="clawpolicies",
            custom=True,
            body=_probe_policy(namespace),
            query=[("dryRun", "All")],
        )
    except ForbiddenError:
        return [
            warn(
                check,
                f"admission webhook: not checked (you may not create ClawPolicies in {namespace})",
            )
        ]
    except CRDsMissingError:
        return [warn(check, "admission webhook: not checked (CRDs missing)", INSTALL)]
    except KubeError as exc:
        message = str(exc)
        if "failed calling webhook" in message:
            text = "admission webhook: not answering (fail-closed: runs and policies are refused)"
            return [fail(check, text, "k8sclaw install --wait")]
        return [warn(check, f"admission webhook: dry-run refused: {shown(message)}")]
    return [ok(check, "admission webhook: answering (a dry-run ClawPolicy was admitted)")]


def bus(reader: Reader) -> list[Finding]:
    """NATS reachable from the controller, as the controller itself reports it: its pod is
    Ready only while /readyz finds the bus connection (and the API watches) fine."""
    check = "bus"
    pods = reader.list("v1", "Pod", SYSTEM, f"app.kubernetes.io/name={CONTROLLER}")
    logs = f"kubectl -n {SYSTEM} logs deployment/{CONTROLLER}"
    if not pods:
        text = "NATS from the controller: unknown, no controller pod is running"
        return [fail(check, text, _describe_fix("Deployment", CONTROLLER, SYSTEM))]
    for pod in pods:
        for cond in (pod.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "Ready" and cond.get("status") == "True":
                name = shown(pod["metadata"]["name"], 80)
                return [ok(check, f"NATS reachable from the controller (pod {name} Ready)")]
    text = "NATS from the controller: its pod is not Ready (its /readyz checks the bus)"
    return [fail(check, text, logs)]
