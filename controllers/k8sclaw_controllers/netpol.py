"""NetworkPolicies for the agent pods of one namespace, generated from a ClawPolicy.

The controller calls `network_policies(namespace, policy, instance=..., model=...)`
when a run lands in a namespace and applies the result. Upstream shipped static
policies in the system namespace that selected nothing; these select the pods the
controller really builds (labels `k8sclaw.io/role=agent` and `k8sclaw.io/instance`,
see `manager.pod_labels`) in the run's own namespace.

- Agent pods: no ingress; egress to DNS (53 UDP/TCP), to NATS (pods
  `app.kubernetes.io/name=nats` in k8sclaw-system, TCP 4222), to the instance's model
  endpoint (below) and to the policy's `allowedEgress` CIDRs (a bare IP becomes /32 or
  /128; broad blocks exclude the cloud metadata address 169.254.169.254).
- Pods with a sandbox (`k8sclaw.io/sandbox=true`): no ingress; DNS, NATS and the model
  endpoint. The sandbox is a container of the agent pod (SPEC §4): it shares the pod's
  network namespace with the agent and the IPC bridge, and a NetworkPolicy selects
  pods, never containers, so "sandbox: DNS only" cannot be enforced apart from the
  bridge's NATS connection and the agent's model calls, which the pod cannot run
  without. `allowedEgress` is granted to a sandbox pod only when the policy sets
  `featureGates.network-access: true` explicitly (the agent's `fetch_url` in that pod
  needs it, and the sandbox then shares it). This decision is enforced here and
  asserted against the pod the controller's Job builder really produces.
- A hostname in `allowedEgress` cannot be expressed (NetworkPolicy matches IP blocks
  only): it is skipped with a warning; use a CIDR, or an FQDN-aware CNI policy.
- `denyAll: false` keeps ingress denied but leaves egress open; `denyAll: true` means
  nothing beyond DNS, NATS (`allowEventBus`), the model endpoint and `allowedEgress`.

The model endpoint. Agents call their model provider from the pod, so a policy that
cut the pod off from it would fail every run. The endpoint is the instance's
`agents.default.baseURL`, else its provider's default (`PROVIDER_BASE_URLS`); it is
chosen by the instance owner, never by the agent or the run, so it is always allowed
(`model_endpoint` -> `service_ref` -> `model_access`):

- IP literal host: an ipBlock /32 (/128) on the URL's port (scheme default 443/80).
  A Service's ClusterIP does not work here (CNIs judge traffic after kube-proxy's DNAT):
  name the Service instead.
- Cluster Service name (`svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.cluster.local`):
  the controller reads the Service and allows its pods — namespaceSelector
  `kubernetes.io/metadata.name=<ns>` + podSelector = the Service's selector — on the
  matching port's `targetPort` (a named targetPort is passed as a named NetworkPolicy
  port, which the CNI resolves against the pod's container ports: no pod lookup).
  A bare `svc` is the run's namespace, as the pod's DNS search path resolves it. A
  Service that is missing, unreadable, selector-less or ExternalName gets a warning
  and the public rule; a two-label `a.b` name that is no Service is a public host
  (pod DNS tries `a.b.<ns>.svc...` first, so the Service, when present, wins).
- Public host name (or no baseURL: the provider's public API): NetworkPolicy cannot
  name hosts, and providers publish no stable address ranges, so the rule is "public
  HTTPS": TCP on the URL's port (443) to 0.0.0.0/0 and ::/0 except private, loopback,
  link-local (incl. the 169.254.169.254 metadata address), CGNAT and unique-local
  ranges. Pods keep out of the cluster's and the VPC's private addresses, but can
  reach any public host on that port; stricter egress needs an FQDN-capable CNI policy
  (Cilium `toFQDNs`, Calico DNS policy) or an egress proxy as the baseURL, and the
  agent's `fetch_url` stays gated by `network-access` at admission.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from k8sclaw_protocol import ClawPolicy, names
from k8sclaw_protocol._policy import NetworkPolicySpec

Body = dict[str, Any]
METADATA_ADDRESS = ipaddress.ip_address("169.254.169.254")
DNS_PORT = 53
OPENAI_BASE_URL = "https://api.openai.com/v1"
PROVIDER_BASE_URLS: dict[str, str] = {
    "openai": OPENAI_BASE_URL,
    "anthropic": "https://api.anthropic.com",
    "ollama": "http://ollama.default.svc:11434/v1",  # = the agent's DEFAULT_OLLAMA_URL
}
"""Where the agent's SDKs go without a baseURL; any other provider: the OpenAI SDK's."""
NON_PUBLIC_V4 = (
    "10.0.0.0/8",  # private
    "100.64.0.0/10",  # CGNAT
    "127.0.0.0/8",  # loopback
    "169.254.0.0/16",  # link-local, cloud metadata
    "172.16.0.0/12",  # private
    "192.168.0.0/16",  # private
)
NON_PUBLIC_V6 = ("::1/128", "fc00::/7", "fe80::/10")  # loopback, unique-local, link-local
CLUSTER_DOMAIN = "cluster.local"
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


@dataclass(frozen=True)
class NetpolPlan:
    """The NetworkPolicy objects to apply and what could not be expressed."""

    policies: tuple[Body, ...]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelEndpoint:
    """Host and port an instance's agents send their model requests to."""

    url: str
    host: str
    port: int


@dataclass(frozen=True)
class ServiceRef:
    """A model host read as a cluster Service; `explicit`: it cannot be a public name."""

    name: str
    namespace: str
    explicit: bool


@dataclass(frozen=True)
class ModelAccess:
    """Egress rules that let agent (and sandbox) pods reach the model, and caveats."""

    rules: tuple[Body, ...]
    warnings: tuple[str, ...] = ()


def model_endpoint(provider: str, base_url: str | None) -> ModelEndpoint:
    """The endpoint of `base_url`, else of the provider's default URL; ValueError if bad."""
    url = base_url or PROVIDER_BASE_URLS.get(provider, OPENAI_BASE_URL)
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # out of range or not a number
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
        raise ValueError(
            f'model baseURL "{url}" is not an http(s) URL with a host; '
            "fix spec.agents.default.baseURL"
        )
    default = 443 if parts.scheme == "https" else 80
    return ModelEndpoint(url, parts.hostname.rstrip(".").lower(), port or default)


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def service_ref(host: str, namespace: str) -> ServiceRef | None:
    """The Service a pod in `namespace` reaches by `host`, if the name can be one."""
    labels = host.split(".")
    if _ip(host) is not None or host == "localhost":
        return None
    if not all(_LABEL.fullmatch(label) for label in labels):
        return None
    if len(labels) == 1:
        return ServiceRef(labels[0], namespace, explicit=True)
    if len(labels) == 2:
        return ServiceRef(labels[0], labels[1], explicit=False)
    if labels[2:] in (["svc"], ["svc", *CLUSTER_DOMAIN.split(".")]):
        return ServiceRef(labels[0], labels[1], explicit=True)
    return None


def public_rule(port: int) -> Body:
    """TCP `port` to every public IPv4/IPv6 address: private and special ranges excepted."""
    return {
        "to": [
            {"ipBlock": {"cidr": "0.0.0.0/0", "except": list(NON_PUBLIC_V4)}},
            {"ipBlock": {"cidr": "::/0", "except": list(NON_PUBLIC_V6)}},
        ],
        "ports": [{"protocol": "TCP", "port": port}],
    }


def _service_rule(service: Body, endpoint: ModelEndpoint) -> tuple[Body | None, str]:
    """Rule to the Service's pods on the target port(s), or None and why not."""
    meta, spec = service.get("metadata") or {}, service.get("spec") or {}
    where = f'Service "{meta.get("namespace")}/{meta.get("name")}"'
    selector = spec.get("selector")
    if spec.get("type") == "ExternalName" or not selector:
        return None, (
            f"{where} (model endpoint {endpoint.url}) has no pod selector, so no "
            "NetworkPolicy peer can name its backends; add their CIDR to allowedEgress"
        )
    ports = spec.get("ports") or []
    matching = [p for p in ports if p.get("port") == endpoint.port]
    note = "" if matching or not ports else f"{where} has no port {endpoint.port}"
    allowed: list[Body] = []
    for port in matching or ports:
        entry = {
            "protocol": port.get("protocol") or "TCP",
            "port": port.get("targetPort") or port.get("port"),
        }
        if entry not in allowed:
            allowed.append(entry)
    peer = {
        "namespaceSelector": {"matchLabels": {names.LABEL_NAMESPACE_NAME: meta.get("namespace")}},
        "podSelector": {"matchLabels": dict(selector)},
    }
    rule: Body = {"to": [peer]}
    if allowed:
        rule["ports"] = allowed
    return rule, (f"{note}; allowing all its ports" if note else "")


def model_access(
    endpoint: ModelEndpoint,
    namespace: str,
    *,
    service: Body | None = None,
    service_error: str = "not found",
) -> ModelAccess:
    """Rules for `endpoint` as seen from `namespace`; `service`: the Service read, if any."""
    address = _ip(endpoint.host)
    if address is not None:
        peer = {"ipBlock": {"cidr": f"{address}/{address.max_prefixlen}"}}
        return ModelAccess(({"to": [peer], "ports": [{"protocol": "TCP", "port": endpoint.port}]},))
    if endpoint.host == "localhost":
        return ModelAccess(())  # loopback never leaves the pod
    ref = service_ref(endpoint.host, namespace)
    public = (public_rule(endpoint.port),)
    if service is not None:
        selected, problem = _service_rule(service, endpoint)
        warnings = (problem,) if problem else ()
        return ModelAccess((selected,) if selected else public, warnings)
    if ref is not None and ref.explicit:
        warning = (
            f'model endpoint {endpoint.url}: Service "{ref.namespace}/{ref.name}" '
            f"{service_error}; allowing public HTTPS instead until it exists"
        )
        return ModelAccess(public, (warning,))
    return ModelAccess(public)


def default_model_access(namespace: str) -> ModelAccess:
    """Access for an instance without baseURL of the default provider (the public API)."""
    return model_access(model_endpoint("openai", None), namespace)


def policy_names(instance: str | None = None) -> tuple[str, str]:
    """Names of the (agent, sandbox) NetworkPolicies, one pair per instance."""
    suffix = f"-{instance}" if instance else ""
    return f"k8sclaw-agent{suffix}", f"k8sclaw-sandbox{suffix}"


def _dns() -> Body:
    return {"ports": [{"protocol": proto, "port": DNS_PORT} for proto in ("UDP", "TCP")]}


def _nats() -> Body:
    peer = {
        "namespaceSelector": {"matchLabels": {names.LABEL_NAMESPACE_NAME: names.SYSTEM_NAMESPACE}},
        "podSelector": {"matchLabels": {names.LABEL_NAME: names.NATS_APP_NAME}},
    }
    return {"to": [peer], "ports": [{"protocol": "TCP", "port": names.NATS_PORT}]}


def _egress_rule(host: str, port: int | None) -> Body | None:
    try:
        network = ipaddress.ip_network(host, strict=False)
    except ValueError:
        return None
    block: Body = {"cidr": str(network)}
    if network.version == 4 and METADATA_ADDRESS in network and network.prefixlen < 32:
        block["except"] = [f"{METADATA_ADDRESS}/32"]
    rule: Body = {"to": [{"ipBlock": block}]}
    if port is not None:
        rule["ports"] = [{"protocol": "TCP", "port": port}]
    return rule


def _selector(instance: str | None, sandbox: bool) -> Body:
    labels = {names.LABEL_ROLE: names.ROLE_AGENT}
    if instance:
        labels[names.LABEL_INSTANCE] = instance
    if sandbox:
        labels[names.LABEL_SANDBOX] = names.SANDBOX_LABEL_VALUE
        return {"matchLabels": labels}
    expression = {
        "key": names.LABEL_SANDBOX,
        "operator": "NotIn",
        "values": [names.SANDBOX_LABEL_VALUE],
    }
    return {"matchLabels": labels, "matchExpressions": [expression]}


def _object(name: str, namespace: str, selector: Body, egress: list[Body] | None) -> Body:
    spec: Body = {"podSelector": selector, "policyTypes": ["Ingress"], "ingress": []}
    if egress is not None:
        spec["policyTypes"].append("Egress")
        spec["egress"] = egress
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                names.LABEL_MANAGED_BY: names.MANAGED_BY,
                names.LABEL_PART_OF: names.MANAGED_BY,
            },
        },
        "spec": spec,
    }


def _allowed_egress(spec: NetworkPolicySpec) -> tuple[list[Body], list[str]]:
    rules: list[Body] = []
    warnings: list[str] = []
    for egress in spec.allowed_egress:
        rule = _egress_rule(egress.host, egress.port)
        if rule is None:
            warnings.append(
                f'allowedEgress host "{egress.host}" is not an IP block; NetworkPolicies cannot '
                "match host names, so it is not applied — use a CIDR (the instance's model "
                "endpoint is allowed without it)"
            )
        else:
            rules.append(rule)
    return rules, warnings


def network_policies(
    namespace: str,
    policy: ClawPolicy | None,
    *,
    instance: str | None = None,
    model: ModelAccess | None = None,
) -> NetpolPlan:
    """The agent and sandbox NetworkPolicies for `namespace` (defaults without a policy).

    `model`: how pods reach the instance's model endpoint (`model_access`); without it,
    the default provider's public API (`default_model_access`).
    """
    spec = (policy.spec.network_policy if policy else None) or NetworkPolicySpec()
    model = model or default_model_access(namespace)
    base = ([_dns()] if spec.allow_dns else []) + ([_nats()] if spec.allow_event_bus else [])
    base += list(model.rules)
    extra, warnings = _allowed_egress(spec)
    agent_name, sandbox_name = policy_names(instance)
    agent_egress = base + extra if spec.deny_all else None
    opted_in = policy is not None and policy.spec.feature_gates.get("network-access") is True
    sandbox_extra = extra if opted_in else []
    sandbox_egress = base + sandbox_extra if spec.deny_all else None
    return NetpolPlan(
        policies=(
            _object(agent_name, namespace, _selector(instance, sandbox=False), agent_egress),
            _object(sandbox_name, namespace, _selector(instance, sandbox=True), sandbox_egress),
        ),
        warnings=(*model.warnings, *warnings) if spec.deny_all else tuple(warnings),
    )


def selects(selector: Body, labels: dict[str, str]) -> bool:
    """Whether a LabelSelector (matchLabels + matchExpressions) matches `labels`."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = (
            expression["key"],
            expression["operator"],
            expression.get("values") or [],
        )
        present = key in labels
        matched = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }.get(operator)
        if matched is None:
            raise ValueError(
                f"matchExpressions operator {operator!r} is not In, NotIn, Exists or DoesNotExist"
            )
        if not matched:
            return False
    return True
