"""`k8sclaw onboard`: the wizard, or `--non-interactive` with a flag for every answer.

Keys are never flags (shell history, ps): `--api-key-env VAR` names the environment
variable holding the key, `--channel-token-env VAR` the channel token.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from k8sclaw import onboard as ob
from k8sclaw.cli import _common
from k8sclaw.cli._errors import CliError
from k8sclaw_protocol import names

if TYPE_CHECKING:
    from k8sclaw.kube import Kube


def _from_env(var: str | None, what: str) -> str | None:
    if not var:
        return None
    value = os.environ.get(var)
    if not value:
        raise CliError(
            f"environment variable {var} (the {what}) is empty or unset",
            hint=f"export {var}=... and re-run",
        )
    return value


@click.command("onboard")
@click.option("--non-interactive", is_flag=True, help="Take every answer from flags (CI, scripts).")
@click.option("--instance", default="my-agent", show_default=True, help="ClawInstance name.")
@click.option(
    "--provider", type=click.Choice(tuple(ob.PROVIDERS)), default="openai", show_default=True
)
@click.option("--model", help="Model name (default: the provider's).")
@click.option("--base-url", help="Endpoint for azure-openai, ollama, openai-compatible.")
@click.option("--api-key-env", metavar="VAR", help="Environment variable holding the API key.")
@click.option("--channel", type=click.Choice(tuple(ob.CHANNELS)), help="Chat channel to connect.")
@click.option("--channel-token-env", metavar="VAR", help="Environment variable holding its token.")
@click.option(
    "--policy/--no-policy",
    default=True,
    show_default=True,
    help="Create default-policy and reference it.",
)
@click.option("--yes", "-y", is_flag=True, help="Skip the confirmation.")
@_common.cluster_options()
@_common.translating
def onboard(
    *,
    non_interactive: bool,
    instance: str,
    provider: str,
    model: str | None,
    base_url: str | None,
    api_key_env: str | None,
    channel: str | None,
    channel_token_env: str | None,
    policy: bool,
    yes: bool,
    target: _common.Target,
) -> None:
    """Create an instance, its provider key, an optional channel and the default policy.
    Re-running updates the same objects in place."""
    say = _say
    say("K8sClaw · Onboarding")
    say("Step 1/5 — Checking cluster")
    kube, namespace = target.kube(), target.ns()
    existing = ob.check_cluster(kube, namespace)
    say(
        f"  connected to {kube.connection.context}, namespace {namespace} "
        f"({existing} instance(s) there)"
    )
    if non_interactive:
        spec = ob.PROVIDERS[provider]
        answers = ob.Answers(
            namespace=namespace,
            instance=instance,
            provider=provider,
            model=model or spec.default_model,
            base_url=base_url or spec.default_base_url,
            api_key=_from_env(api_key_env, "API key"),
            channel=channel,
            channel_token=_from_env(channel_token_env, "channel token"),
            policy=policy,
        )
        if spec.needs_base_url and not answers.base_url:
            raise CliError(f"provider {provider} needs an endpoint", hint="pass --base-url URL")
    else:
        from k8sclaw.onboard._wizard import confirm

        answers = ob.ask(namespace, say, default_instance=instance)
        if not yes and not confirm(answers, say):
            raise CliError("aborted; nothing was changed", hint="run `k8sclaw onboard` again")
    _apply(kube, answers)
    _next_steps(answers)


WEBHOOK_DOWN = (
    "the admission webhook is not answering yet: run `k8sclaw install --wait` (or `k8sclaw doctor`)"
)


def _apply(kube: Kube, answers: ob.Answers) -> None:
    """Create the objects; a fail-closed webhook with no pod behind it yet (right after
    `install --no-wait`) is named as such, not shown as the API's raw 500."""
    from k8sclaw.kube import KubeError

    try:
        ob.apply(kube, ob.plan(answers), _say)
    except KubeError as exc:
        if "failed calling webhook" not in str(exc):
            raise
        raise CliError(
            WEBHOOK_DOWN,
            hint=f"check its pod with `kubectl -n {names.SYSTEM_NAMESPACE} get pods`; "
            "then re-run k8sclaw onboard (it updates what it created)",
            exit_code=exc.exit_code,
        ) from exc


def _next_steps(answers: ob.Answers) -> None:
    say = _say
    say("Onboarding complete. Next:")
    say(f"  k8sclaw instances get {answers.instance}")
    say(f'  k8sclaw run --instance {answers.instance} "say hello"')
    if answers.api_key is None and ob.PROVIDERS[answers.provider].key_env:
        secret = names.provider_secret_name(answers.instance, answers.provider)
        say(
            "  no API key stored; add it with: kubectl create secret generic "
            f"{secret} --from-literal=<KEY_ENV>=..."
        )


def _say(message: str) -> None:
    click.echo(message, err=True)
