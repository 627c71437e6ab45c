"""Agent and sandbox pods can always reach the instance's model endpoint (issue #8).

Each host kind of a baseURL (IP literal, cluster Service name form, public host, the
provider's default) against the rules `netpol.py` generates, judged by a NetworkPolicy
evaluator (`_egress`) on the pod the controller's Job builder really makes.
"""

from __future__ import annotations

from typing import Any

import pytest

from k8sclaw.onboard._providers import PROVIDERS as ONBOARD_PROVIDERS
from k8sclaw_controllers.manager import Images, JobOptions, build_job
from k8sclaw_controllers.netpol import (
    PROVIDER_BASE_URLS,
    ModelAccess,
    ServiceRef,
    model_access,
    model_endpoint,
    network_policies,
    public_rule,
    selects,
    service_ref,
)
from k8sclaw_protocol import ClawInstance, build_run, names
from k8sclaw_sidecar.agent._settings import DEFAULT_OLLAMA_URL
from tests.policy._builders import make_policy
from tests.policy._egress import allows_ip, allows_pod

NS = "team-a"
OLLAMA_PODS = {"app": "ollama"}


def service(name: str = "ollama", namespace: str = "models", **spec: Any) -> dict[str, Any]:
    body = {"selector": OLLAMA_PODS, "ports": [{"port": 11434, "targetPort": 11434}], **spec}
    return {"metadata": {"name": name, "namespace": namespace}, "spec": body}


def access(url: str | None, provider: str = "openai", **kwargs: Any) -> ModelAccess:
    return model_access(model_endpoint(provider, url), NS, **kwargs)


def ns_labels(namespace: str) -> dict[str, str]:
    return {names.LABEL_NAMESPACE_NAME: namespace}


@pytest.mark.parametrize(
    ("url", "host", "port"),
    [
        ("https://api.example.com/v1", "api.example.com", 443),
        ("http://api.example.com/v1", "api.example.com", 80),
        ("https://API.Example.com.:8443", "api.example.com", 8443),
        ("http://[fd00::7]:8000/v1", "fd00::7", 8000),
    ],
)
def test_endpoint_port_defaults_by_scheme(url: str, host: str, port: int) -> None:
    endpoint = model_endpoint("openai", url)
    assert (endpoint.host, endpoint.port) == (host, port)


@pytest.mark.parametrize(
    "url", ["api.openai.com/v1", "ftp://x/v1", "http://x:99999/v1", "https://"]
)
def test_a_malformed_base_url_is_a_clear_error(url: str) -> None:
    with pytest.raises(ValueError, match=r"fix spec\.agents\.default\.baseURL"):
        model_endpoint("openai", url)


@pytest.mark.parametrize(
    ("provider", "host", "port"),
    [
        ("openai", "api.openai.com", 443),
        ("anthropic", "api.anthropic.com", 443),
        ("ollama", "ollama.default.svc", 11434),
        ("openai-compatible", "api.openai.com", 443),  # the OpenAI SDK's default
    ],
)
def test_provider_defaults_without_base_url(provider: str, host: str, port: int) -> None:
    endpoint = model_endpoint(provider, None)
    assert (endpoint.host, endpoint.port) == (host, port)


def test_ollama_default_matches_the_agent_and_the_onboarding_wizard() -> None:
    assert PROVIDER_BASE_URLS["ollama"] == DEFAULT_OLLAMA_URL
    assert ONBOARD_PROVIDERS["ollama"].default_base_url == DEFAULT_OLLAMA_URL


@pytest.mark.parametrize(
    ("host", "ref"),
    [
        ("ollama", ServiceRef("ollama", NS, explicit=True)),
        ("ollama.models", ServiceRef("ollama", "models", explicit=False)),
        ("ollama.models.svc", ServiceRef("ollama", "models", explicit=True)),
        ("ollama.models.svc.cluster.local", ServiceRef("ollama", "models", explicit=True)),
        ("api.openai.com", None),
        ("ollama.models.svc.cluster", None),
        ("my_llm.models", None),
        ("10.1.2.3", None),
        ("fd00::7", None),
        ("localhost", None),
    ],
)
def test_service_name_forms(host: str, ref: ServiceRef | None) -> None:
    assert service_ref(host, NS) == ref


@pytest.mark.parametrize(
    ("url", "address", "port", "cidr"),
    [
        ("http://10.20.30.40:8000/v1", "10.20.30.40", 8000, "10.20.30.40/32"),
        ("https://192.168.1.5/v1", "192.168.1.5", 443, "192.168.1.5/32"),
        ("http://[fd00::7]:11434/v1", "fd00::7", 11434, "fd00::7/128"),
    ],
)
def test_ip_literal_gets_exactly_its_address_and_port(
    url: str, address: str, port: int, cidr: str
) -> None:
    model = access(url)
    assert model.warnings == ()
    [rule] = model.rules
    assert rule["to"] == [{"ipBlock": {"cidr": cidr}}]
    assert allows_ip([rule], address, port)
    assert not allows_ip([rule], address, port + 1)
    assert not allows_ip([rule], "8.8.8.8", port)


@pytest.mark.parametrize(
    "host",
    ["ollama.models.svc", "ollama.models.svc.cluster.local", "ollama.models"],
)
def test_service_name_selects_the_services_pods_on_the_target_port(host: str) -> None:
    model = access(f"http://{host}:11434/v1", service=service())
    assert model.warnings == ()
    [rule] = model.rules
    assert allows_pod([rule], ns_labels("models"), {**OLLAMA_PODS, "x": "y"}, 11434)
    assert not allows_pod([rule], ns_labels(NS), OLLAMA_PODS, 11434)
    assert not allows_pod([rule], ns_labels("models"), {"app": "other"}, 11434)
    assert not allows_pod([rule], ns_labels("models"), OLLAMA_PODS, 22)
    assert not allows_ip([rule], "8.8.8.8", 443)


def test_service_port_maps_to_its_target_port_and_named_ports_pass_through() -> None:
    ports = [
        {"name": "api", "port": 80, "targetPort": "http"},
        {"name": "metrics", "port": 9090, "targetPort": 9090},
    ]
    [rule] = access("http://llm/v1", service=service("llm", NS, ports=ports)).rules
    assert rule["ports"] == [{"protocol": "TCP", "port": "http"}]
    [rule] = access("http://llm:9090/v1", service=service("llm", NS, ports=[ports[1]])).rules
    assert rule["ports"] == [{"protocol": "TCP", "port": 9090}]


def test_a_url_port_the_service_lacks_allows_its_ports_and_warns() -> None:
    model = access("http://ollama.models.svc:8080/v1", service=service())
    assert model.rules[0]["ports"] == [{"protocol": "TCP", "port": 11434}]
    [warning] = model.warnings
    assert 'Service "models/ollama" has no port 8080' in warning


@pytest.mark.parametrize(
    "spec",
    [{"selector": None}, {"type": "ExternalName", "externalName": "llm.example.com"}],
    ids=["selector-less", "external-name"],
)
def test_a_service_without_pods_to_select_falls_back_to_public_https(
    spec: dict[str, Any],
) -> None:
    model = access("http://ollama.models.svc:11434/v1", service=service(**spec))
    assert model.rules == (public_rule(11434),)
    [warning] = model.warnings
    assert "has no pod selector" in warning and "allowedEgress" in warning


def test_a_missing_service_warns_and_falls_back_to_public_https() -> None:
    model = access("http://ollama.models.svc:11434/v1")
    assert model.rules == (public_rule(11434),)
    [warning] = model.warnings
    assert 'Service "models/ollama" not found' in warning
    denied = access("http://ollama:11434/v1", service_error="could not be read (403 Forbidden)")
    assert f'Service "{NS}/ollama" could not be read (403 Forbidden)' in denied.warnings[0]


def test_a_two_label_name_that_is_no_service_is_a_public_host() -> None:
    assert access("https://example.com/v1") == ModelAccess((public_rule(443),))


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_public_host_reaches_public_addresses_on_443_only(provider: str) -> None:
    [rule] = access(None, provider).rules
    for public in ("8.8.8.8", "20.1.2.3", "2606:4700::1111"):
        assert allows_ip([rule], public, 443), public
        assert not allows_ip([rule], public, 80), public
    for inside in (
        "10.96.0.1",  # a ClusterIP
        "172.20.0.5",
        "192.168.0.10",
        "127.0.0.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # CGNAT
        "::1",
        "fd12:3456::1",  # unique-local
        "fe80::1",
    ):
        assert not allows_ip([rule], inside, 443), inside


def test_localhost_needs_no_rule() -> None:
    assert access("http://localhost:8080/v1") == ModelAccess(())


def _pod_labels(with_sandbox: bool) -> dict[str, str]:
    """Labels of the pod the Job builder makes for a run built from an instance."""
    spec: dict[str, Any] = {"agents": {"default": {"model": "llama3", "provider": "ollama"}}}
    if with_sandbox:
        spec["agents"]["default"]["sandbox"] = {"enabled": True}
    instance = ClawInstance.from_wire(
        {"metadata": {"name": "alpha", "namespace": NS, "uid": "u-1"}, "spec": spec}
    )
    run = build_run(instance, "hello", source="cli", name="run-1")
    run.metadata.uid = "0000-1111"
    job = build_job(run, JobOptions(images=Images(), event_bus_url=names.EVENT_BUS_URL))
    labels: dict[str, str] = job["spec"]["template"]["metadata"]["labels"]
    return labels


def _egress_of(policies: tuple[dict[str, Any], ...], labels: dict[str, str]) -> list[Any]:
    selecting = [p for p in policies if selects(p["spec"]["podSelector"], labels)]
    assert len(selecting) == 1
    egress: list[Any] = selecting[0]["spec"]["egress"]
    return egress


@pytest.mark.parametrize("with_sandbox", [False, True], ids=["agent-pod", "sandbox-pod"])
@pytest.mark.parametrize("preset", [{}, {"featureGates": {"network-access": False}}])
def test_the_real_pod_reaches_its_model_under_deny_all(
    with_sandbox: bool, preset: dict[str, Any]
) -> None:
    policy = make_policy(
        **preset, networkPolicy={"allowedEgress": [{"host": "10.9.0.0/16", "port": 5432}]}
    )
    model = access("http://ollama.models.svc:11434/v1", service=service())
    plan = network_policies(NS, policy, instance="alpha", model=model)
    egress = _egress_of(plan.policies, _pod_labels(with_sandbox))
    assert allows_pod(egress, ns_labels("models"), OLLAMA_PODS, 11434)
    assert not allows_pod(egress, ns_labels("models"), {"app": "postgres"}, 5432)
    assert allows_ip(egress, "10.9.0.7", 5432) is (not with_sandbox)
    assert not allows_ip(egress, "8.8.8.8", 443)  # an in-cluster model opens nothing public


def test_public_model_rule_reaches_sandbox_pods_but_keeps_private_ranges_closed() -> None:
    plan = network_policies(NS, make_policy(), instance="alpha")
    egress = _egress_of(plan.policies, _pod_labels(with_sandbox=True))
    assert allows_ip(egress, "20.1.2.3", 443)
    assert not allows_ip(egress, "10.0.0.8", 443)
    assert not allows_ip(egress, "169.254.169.254", 80)


def test_deny_all_false_applies_no_egress_and_drops_model_warnings() -> None:
    model = access("http://ollama.models.svc:11434/v1")
    plan = network_policies(NS, make_policy(networkPolicy={"denyAll": False}), model=model)
    assert all("egress" not in p["spec"] for p in plan.policies)
    assert plan.warnings == ()
    strict = network_policies(NS, make_policy(), model=model)
    assert strict.warnings == model.warnings


@pytest.mark.parametrize("with_sandbox", [False, True], ids=["agent-pod", "sandbox-pod"])
def test_agent_pods_reach_nats_clients_port_but_never_its_monitor(with_sandbox: bool) -> None:
    plan = network_policies(NS, make_policy(), instance="alpha")
    egress = _egress_of(plan.policies, _pod_labels(with_sandbox))
    system = ns_labels(names.SYSTEM_NAMESPACE)
    nats_pod = {names.LABEL_NAME: names.NATS_APP_NAME}
    assert allows_pod(egress, system, nats_pod, names.NATS_PORT)
    assert not allows_pod(egress, system, nats_pod, 8222)
