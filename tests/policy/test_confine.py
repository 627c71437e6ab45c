"""Run confinement (SPEC §17): model binding from the instance, sandbox images from the
policy's allow-list, skills only from SkillPacks, names that fit a Job and a subject."""

from __future__ import annotations

from typing import Any

import jsonpatch
import pytest

from k8sclaw_controllers.policy import (
    DEFAULT_SANDBOX_IMAGE,
    bind,
    evaluate_run,
    mutation_patches,
    name_token,
)
from k8sclaw_protocol import ClawInstance, build_run, names
from tests.policy._builders import make_policy, make_run, run_body

KEY_SECRET = "alpha-openai-key"
LLM = "https://llm.team-a.example/v1"


def make_instance(**default: Any) -> ClawInstance:
    """Instance "alpha": openai at LLM with its key Secret, plus `default` overrides."""
    return ClawInstance.from_wire(
        {
            "metadata": {"name": "alpha", "namespace": "team-a"},
            "spec": {
                "agents": {"default": {"model": "gpt-4o", "baseURL": LLM, **default}},
                "authRefs": [{"provider": "openai", "secret": KEY_SECRET}],
            },
        }
    )


def rules(spec: dict[str, Any], policy: dict[str, Any] | None = None, **kw: Any) -> list[str]:
    decision = evaluate_run(
        make_run(**spec),
        make_policy(**policy) if policy is not None else None,
        instance=make_instance(),
        **kw,
    )
    return [violation.rule for violation in decision.violations]


@pytest.mark.parametrize(
    ("model", "rule"),
    [
        ({"authSecretRef": "someone-elses-secret"}, "spec.model.authSecretRef"),
        ({"baseURL": "https://evil.example/v1"}, "spec.model.baseURL"),
        ({"provider": "anthropic"}, "spec.model.provider"),
    ],
)
def test_a_model_binding_other_than_the_instances_is_refused(
    model: dict[str, Any], rule: str
) -> None:
    spec = {"model": {"provider": "openai", "model": "gpt-4o", **model}}
    assert rules(spec) == [rule]
    assert rules(spec, {}) == [rule]  # with or without a policy
    message = evaluate_run(make_run(**spec), None, instance=make_instance()).message
    assert f"rule {rule}: must equal the instance's" in message
    assert 'remove it or change the ClawInstance "alpha"' in message


def test_repeating_or_leaving_out_the_binding_passes_and_mutation_fills_it() -> None:
    same = {"provider": "openai", "model": "o1", "authSecretRef": KEY_SECRET, "baseURL": LLM}
    assert rules({"model": same}) == []
    run = make_run(model={"model": "gpt-4o"})
    assert rules({"model": {"model": "gpt-4o"}}) == []
    patched = jsonpatch.apply_patch(
        run_body(model={"model": "gpt-4o"}), mutation_patches(run, None, make_instance())
    )
    assert patched["spec"]["model"] == {
        "provider": "openai",
        "model": "gpt-4o",
        "baseURL": LLM,
        "authSecretRef": KEY_SECRET,
    }
    bound = bind(run, make_instance()).spec.model
    assert (bound.auth_secret_ref, bound.base_url, bound.model) == (KEY_SECRET, LLM, "gpt-4o")


def test_a_secret_on_a_run_of_an_instance_without_one_is_refused() -> None:
    bare = ClawInstance.from_wire(
        {"metadata": {"name": "alpha"}, "spec": {"agents": {"default": {"model": "m"}}}}
    )
    run = make_run(model={"model": "m", "authSecretRef": "db-password"})
    message = evaluate_run(run, None, instance=bare).message
    assert "spec.model.authSecretRef: must equal the instance's (unset)" in message


def test_sandbox_images_come_from_the_allow_list() -> None:
    def image(name: str | None) -> dict[str, Any]:
        return {"sandbox": {"enabled": True, **({"image": name} if name else {})}}

    assert rules(image(None)) == rules(image(DEFAULT_SANDBOX_IMAGE)) == []
    assert rules(image("evil/miner:1")) == ["sandboxPolicy.allowedImages"]
    assert rules(image("evil/miner:1"), {}) == ["sandboxPolicy.allowedImages"]
    corp = {"sandboxPolicy": {"defaultImage": "corp/sandbox:2"}}
    assert rules(image("corp/sandbox:2"), corp) == []
    assert rules(image(DEFAULT_SANDBOX_IMAGE), corp) == ["sandboxPolicy.allowedImages"]
    listed = {"sandboxPolicy": {"allowedImages": ["corp/a:1", "corp/b:1"]}}
    assert rules(image("corp/b:1"), listed) == []
    run = make_run(**image("corp/c:1"))
    message = evaluate_run(run, make_policy(**listed), instance=make_instance()).message
    assert 'spec.sandbox.image "corp/c:1" is not allowed; use one of corp/a:1, corp/b:1' in message


def test_skills_mount_only_existing_skillpacks() -> None:
    skills = {"skills": [{"skillPackRef": "k8s-ops"}, {"configMapRef": "kube-root-ca.crt"}]}
    assert rules(skills, skill_packs={"k8s-ops"}) == ["spec.skills[1].configMapRef"]
    missing = {"skills": [{"skillPackRef": "team-secrets"}]}
    assert rules(missing, skill_packs=set()) == ["spec.skills[0].skillPackRef"]
    assert rules(missing, skill_packs={"team-secrets"}) == []


@pytest.mark.parametrize(
    ("name", "generate", "ok"),
    [
        ("run-1", None, True),
        ("a" * 63, None, True),
        ("a" * 64, None, False),
        ("my.run", None, False),
        ("Run", None, False),
        (None, "alpha-run-", True),
        (None, "a" * 59 + "-", False),
    ],
)
def test_names_must_be_dns_labels(name: str | None, generate: str | None, ok: bool) -> None:
    found = name_token("AgentRun", name, generate)
    assert (found == []) is ok
    if not ok:
        assert found[0].rule == "metadata.name" and "DNS-1123 label" in found[0].message


def test_the_run_builder_makes_runs_that_pass_confinement() -> None:
    instance = make_instance(sandbox={"enabled": True, "image": "corp/sandbox:2"})
    instance.metadata.namespace = "team-a"
    run = build_run(instance, "hi", source="cli", name="built-1")
    decision = evaluate_run(run, None, instance=instance)
    assert decision.allowed, decision.message
    assert run.spec.model.auth_secret_ref == KEY_SECRET
    assert names.LABEL_INSTANCE in run.metadata.labels
