"""Run confinement (SPEC §17): what a run may not choose for itself.

Someone allowed only to create AgentRuns must not be able to widen what the run can
reach. So a run's provider, auth Secret and base URL come from its ClawInstance (the
run may leave them unset, or repeat them; a different value is refused, never silently
replaced, so the caller learns why); its sandbox image comes from the policy's
allow-list; its skills come only from SkillPacks (a ConfigMap the platform manages),
never from an arbitrary ConfigMap; and its name must fit a Job, a label value and a bus
subject token. Pure functions: the webhook and the controller's pre-check both call them.
"""

from __future__ import annotations

from collections.abc import Collection

from k8sclaw_controllers.policy._decision import Violation
from k8sclaw_protocol import AgentRun, ClawInstance, ClawPolicy, events, instance_model, names

RULE_NAME = "metadata.name"
RULE_IMAGES = "sandboxPolicy.allowedImages"
DEFAULT_SANDBOX_IMAGE = names.image(names.IMAGE_SANDBOX)
# Kubernetes appends five characters to a generateName prefix.
_GENERATED_SUFFIX = "x" * 5


def name_token(kind: str, name: str | None, generate_name: str | None = None) -> list[Violation]:
    """The name (or the names `generate_name` yields) must be a DNS-1123 label.

    A longer name or one with dots is a valid custom-resource name but cannot become
    the run's Job (label values hold at most 63 characters) nor one NATS subject token.
    """
    candidate = name or ((generate_name or "") + _GENERATED_SUFFIX)
    if events.scope_token_ok(candidate):
        return []
    shown = name or f"{generate_name}<random>"
    text = (
        f'{kind} name "{shown}" must be a DNS-1123 label: at most 63 lower-case letters, '
        "digits and '-', starting and ending with a letter or digit, no dots "
        "(it becomes a Job name, a label value and a bus subject token)"
    )
    return [Violation(RULE_NAME, text)]


def _bound_fields(run: AgentRun, instance: ClawInstance) -> list[tuple[str, object, object]]:
    """(field, run's value, instance's value) for each field the run set itself."""
    model, bound = run.spec.model, instance_model(instance)
    found: list[tuple[str, object, object]] = []
    if model.provider is not None:
        found.append(("provider", model.provider, bound.provider))
    if model.auth_secret_ref is not None:
        found.append(("authSecretRef", model.auth_secret_ref, bound.auth_secret_ref))
    if model.base_url is not None:
        found.append(("baseURL", model.base_url, bound.base_url))
    return found


def instance_binding(run: AgentRun, instance: ClawInstance) -> list[Violation]:
    """provider, authSecretRef and baseURL, when the run sets them, equal the instance's."""
    found = []
    for field, value, expected in _bound_fields(run, instance):
        if value == expected:
            continue
        shown = f'"{expected}"' if expected is not None else "unset"
        text = (
            f'must equal the instance\'s ({shown}), got "{value}"; remove it or change '
            f'the ClawInstance "{instance.name}"'
        )
        found.append(Violation(f"spec.model.{field}", text))
    return found


def bind(run: AgentRun, instance: ClawInstance) -> AgentRun:
    """A copy of `run` whose provider, authSecretRef and baseURL are the instance's.

    Called only after `instance_binding` passed, so it fills what the run left unset
    and changes nothing the run set.
    """
    bound = run.model_copy(deep=True)
    expected = instance_model(instance)
    model = bound.spec.model
    model.provider = expected.provider
    model.auth_secret_ref = expected.auth_secret_ref
    model.base_url = expected.base_url
    return bound


def allowed_images(policy: ClawPolicy | None, instance: ClawInstance | None) -> tuple[str, ...]:
    """Sandbox images a run may name: the policy's allow-list, else its default image.

    Without a policy: the instance's own sandbox image, else the release's image.
    """
    rules = policy.spec.sandbox_policy if policy is not None else None
    if rules is not None and rules.allowed_images is not None:
        return tuple(rules.allowed_images)
    if policy is not None:
        return ((rules.default_image if rules else None) or DEFAULT_SANDBOX_IMAGE,)
    sandbox = instance.spec.agents.default.sandbox if instance is not None else None
    return ((sandbox.image if sandbox else None) or DEFAULT_SANDBOX_IMAGE,)


def sandbox_image(
    run: AgentRun, policy: ClawPolicy | None, instance: ClawInstance | None
) -> list[Violation]:
    """An enabled sandbox names an allowed image (unset means the default: allowed)."""
    sandbox = run.spec.sandbox
    if sandbox is None or not sandbox.enabled or not sandbox.image:
        return []
    allowed = allowed_images(policy, instance)
    if sandbox.image in allowed:
        return []
    text = (
        f'spec.sandbox.image "{sandbox.image}" is not allowed; use one of '
        f"{', '.join(allowed) or '(none)'} or leave it unset"
    )
    return [Violation(RULE_IMAGES, text)]


def skill_sources(run: AgentRun, packs: Collection[str] | None) -> list[Violation]:
    """Skills name SkillPacks that exist (`packs`: those visible to the run; None skips
    the existence check); a plain `configMapRef` is refused."""
    found = []
    for index, ref in enumerate(run.spec.skills):
        if ref.config_map_ref:
            text = (
                f'ConfigMap "{ref.config_map_ref}" is not managed by a SkillPack; runs mount '
                "only SkillPacks — name one in skillPackRef"
            )
            found.append(Violation(f"spec.skills[{index}].configMapRef", text))
        pack = ref.skill_pack_ref
        if pack and packs is not None and pack not in packs:
            text = (
                f'SkillPack "{pack}" not found in namespace "{run.namespace}" or '
                f'"{names.SYSTEM_NAMESPACE}"; create it or fix the reference'
            )
            found.append(Violation(f"spec.skills[{index}].skillPackRef", text))
    return found
