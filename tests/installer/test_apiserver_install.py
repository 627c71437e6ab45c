"""What `install` ships for the API server: its RBAC is as narrow as it says, the user
roles aggregate as documented, and `--database-url-secret` switches to PostgreSQL."""

from __future__ import annotations

from typing import Any

from click.testing import CliRunner

from k8sclaw import __version__
from k8sclaw.cli import cli
from k8sclaw.installer import load_bundle, use_database_secret


def _objects(database_secret: str | None = None) -> list[dict[str, Any]]:
    steps = load_bundle(__version__, "team-a")
    if database_secret:
        use_database_secret(steps, database_secret)
    return [obj for step in steps for obj in step.objects]


def _one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def test_apiserver_may_review_and_nothing_wider() -> None:
    role = _one(_objects(), "ClusterRole", "k8sclaw-apiserver")
    grants = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert ("authentication.k8s.io", "tokenreviews", "create") in grants
    assert ("authorization.k8s.io", "subjectaccessreviews", "create") in grants
    assert not any(r == "secrets" or "*" in (g, r, v) for g, r, v in grants), grants
    writes = {(r, v) for g, r, v in grants if v not in ("get", "list", "watch")}
    assert writes == {
        ("tokenreviews", "create"),
        ("subjectaccessreviews", "create"),
        *(
            (r, v)
            for r in ("clawinstances", "agentruns", "clawschedules")
            for v in ("create", "delete")
        ),
        ("agentruns", "patch"),  # the chat router marks a run replied (reply-sent)
        ("apiservices", "patch"),  # its CA into its own APIService's caBundle, by name:
    }
    (own,) = [r for r in role["rules"] if "apiservices" in r["resources"]]
    assert own["resourceNames"] == ["v1alpha1.transcripts.k8sclaw.io"]


def test_the_apiservice_is_verified_by_a_ca_bundle_the_apiserver_keeps() -> None:
    objects = _objects()
    service = _one(objects, "APIService", "v1alpha1.transcripts.k8sclaw.io")
    assert "insecureSkipTLSVerify" not in service["spec"]
    deployment = _one(objects, "Deployment", "k8sclaw-apiserver")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert "--tls-secret=k8sclaw-apiserver-tls" in container["args"]
    tls = _one(objects, "Role", "k8sclaw-apiserver-tls")
    named = [r for r in tls["rules"] if r.get("resourceNames")]
    assert named == [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["k8sclaw-apiserver-tls"],
            "verbs": ["get", "update", "patch"],
        }
    ]


def test_user_roles_aggregate_to_view_edit_admin() -> None:
    objects = _objects()
    aggregated = {
        name: {
            k.rsplit("aggregate-to-", 1)[1]
            for k, v in _one(objects, "ClusterRole", name)["metadata"]["labels"].items()
            if "aggregate-to-" in k and v == "true"
        }
        for name in ("k8sclaw-viewer", "k8sclaw-user", "k8sclaw-admin")
    }
    assert aggregated == {
        "k8sclaw-viewer": {"view", "edit", "admin"},
        "k8sclaw-user": {"edit", "admin"},
        "k8sclaw-admin": {"admin"},
    }
    viewer = _one(objects, "ClusterRole", "k8sclaw-viewer")
    assert {v for rule in viewer["rules"] for v in rule["verbs"]} == {"get", "list", "watch"}


def test_database_url_secret_switches_to_postgres() -> None:
    objects = _objects("transcripts-db")
    deployment = _one(objects, "Deployment", "k8sclaw-apiserver")
    assert not [o for o in objects if o["kind"] == "PersistentVolumeClaim"]
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    (url,) = [e for e in container["env"] if e["name"] == "DATABASE_URL"]
    assert url["valueFrom"]["secretKeyRef"] == {"name": "transcripts-db", "key": "url"}
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert not any("persistentVolumeClaim" in v for v in volumes)


def test_install_dry_run_with_database_url_secret() -> None:
    result = CliRunner().invoke(
        cli, ["install", "--dry-run", "--database-url-secret", "transcripts-db", "-n", "team-a"]
    )
    assert result.exit_code == 0, result.output
    assert "name: transcripts-db" in result.output
    assert "kind: PersistentVolumeClaim" not in result.output
