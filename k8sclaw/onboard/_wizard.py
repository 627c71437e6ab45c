"""The interactive steps 2-5 (step 1, the cluster check, runs before): questionary prompts
with defaults from the provider table; keys and tokens read with hidden input."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from k8sclaw.onboard._plan import Answers
from k8sclaw.onboard._providers import CHANNELS, PROVIDERS

_SKIP = "skip"


def _valid_name(text: str) -> bool | str:
    import re

    if re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", text) and len(text) <= 40:
        return True
    return "lower-case letters, digits and '-', at most 40 characters"


def problems(answers: Answers) -> list[tuple[str, str]]:
    """What stops `answers` from making a working instance, as (field, why) pairs: the
    same checks the prompts make, for forms (the TUI's `O`) that collect all at once."""
    provider = PROVIDERS[answers.provider]
    found: list[tuple[str, str]] = []
    named = _valid_name(answers.instance)
    if named is not True:
        found.append(("instance", f"instance name: {named}"))
    if provider.key_env and not answers.api_key:
        found.append(("key", f"{provider.label} needs an API key"))
    if provider.needs_base_url and not (answers.base_url or provider.default_base_url):
        found.append(("base_url", f"{provider.label} needs a base URL"))
    if answers.base_url and not answers.base_url.startswith(("http://", "https://")):
        found.append(("base_url", "the base URL must start with http:// or https://"))
    if answers.channel and not answers.channel_token:
        found.append(("token", f"the {answers.channel} channel needs its token"))
    return found


def ask(
    namespace: str, say: Callable[[str], None], *, default_instance: str = "my-agent"
) -> Answers:
    """Ask steps 2-5; KeyboardInterrupt (Ctrl-C) aborts."""
    import questionary

    say("Step 2/5 — Create your ClawInstance")
    instance = questionary.text(
        "Instance name:", default=default_instance, validate=_valid_name
    ).unsafe_ask()
    say("Step 3/5 — AI provider")
    provider = PROVIDERS[
        questionary.select(
            "Provider:",
            choices=[questionary.Choice(p.label, value=p.name) for p in PROVIDERS.values()],
        ).unsafe_ask()
    ]
    base_url = None
    if provider.needs_base_url:
        base_url = questionary.text(
            "Base URL:",
            default=provider.default_base_url or "",
            validate=lambda t: bool(t.strip()) or "required",
        ).unsafe_ask()
    model = questionary.text("Model:", default=provider.default_model).unsafe_ask()
    api_key = None
    if provider.key_env:
        api_key = questionary.password(f"{provider.key_env} (hidden, empty to skip):").unsafe_ask()
    say("Step 4/5 — Connect a channel (optional)")
    choices: list[Any] = [questionary.Choice(c.label, value=c.name) for c in CHANNELS.values()]
    choices.append(questionary.Choice("Skip", value=_SKIP))
    channel = questionary.select("Channel:", choices=choices, default=choices[-1]).unsafe_ask()
    token = None
    if channel != _SKIP:
        spec = CHANNELS[channel]
        token = questionary.password(f"{spec.token_env} ({spec.token_hint}, hidden):").unsafe_ask()
    say("Step 5/5 — Default policy")
    policy = questionary.confirm(
        "Apply the default policy (default-policy)?", default=True
    ).unsafe_ask()
    return Answers(
        namespace=namespace,
        instance=instance,
        provider=provider.name,
        model=model,
        base_url=base_url or None,
        api_key=api_key or None,
        channel=None if channel == _SKIP else channel,
        channel_token=token or None,
        policy=bool(policy),
    )


def confirm(answers: Answers, say: Callable[[str], None]) -> bool:
    """Show the summary (keys masked) and ask to proceed."""
    import questionary

    say("Summary")
    for label, value in answers.summary():
        say(f"  {label:<9} {value}")
    return bool(questionary.confirm("Proceed?", default=True).unsafe_ask())
