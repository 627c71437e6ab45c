"""The `k8sclaw` command: a thin root that dispatches to one module per command group.

With no arguments it opens the terminal UI. Command modules are imported lazily.
"""

from __future__ import annotations

import click

from k8sclaw import __version__
from k8sclaw.cli._lazy import LazyGroup
from k8sclaw.cli._version import version_command

# name -> ("module:attribute", short help). Commands land here as their issues do.
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "budgets": ("k8sclaw.cli._budgets:budgets", "Show spent/limit of every budget per instance."),
    "completion": ("k8sclaw.cli._completion:completion", "Print a shell completion script."),
    "doctor": ("k8sclaw.cli._doctor:doctor", "Check everything a run needs; ✗ lines say the fix."),
    "features": ("k8sclaw.cli._features:features", "Enable, disable or list feature gates."),
    "install": ("k8sclaw.cli._install:install", "Install the control plane into the cluster."),
    "instances": ("k8sclaw.cli._instances:instances", "List, show or delete ClawInstances."),
    "memory": ("k8sclaw.cli._memory:memory", "Show, edit or clear an instance's memory."),
    "onboard": ("k8sclaw.cli._onboard:onboard", "Wizard: instance, provider, channel, policy."),
    "policies": ("k8sclaw.cli._policies:policies", "List or show ClawPolicies."),
    "run": ("k8sclaw.cli._runs:run", 'Start an agent run: k8sclaw run "<task>".'),
    "runs": ("k8sclaw.cli._runs:runs", "List, show, follow, create or delete AgentRuns."),
    "schedules": (
        "k8sclaw.cli._schedules:schedules",
        "List, show, create, delete, suspend, resume or trigger ClawSchedules.",
    ),
    "sessions": ("k8sclaw.cli._sessions:sessions", "List or show recorded sessions."),
    "skills": ("k8sclaw.cli._skills:skills", "List or show SkillPacks."),
    "uninstall": ("k8sclaw.cli._install:uninstall", "Remove K8sClaw from the cluster."),
}


@click.group(
    cls=LazyGroup,
    lazy_commands=LAZY_COMMANDS,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, "--version", prog_name="k8sclaw")
@click.option("--kubeconfig", metavar="PATH", help="Kubeconfig file (as kubectl/k9s).")
@click.option("--context", metavar="NAME", help="Kubeconfig context to use.")
@click.option("-n", "--namespace", metavar="NS", help="Namespace (default: the context's).")
@click.option(
    "-A", "--all-namespaces", is_flag=True, help="Every namespace (TUI, and list commands)."
)
@click.option(
    "--readonly", is_flag=True, help="TUI: hide and refuse every action that changes the cluster."
)
@click.pass_context
def cli(
    ctx: click.Context,
    *,
    kubeconfig: str | None,
    context: str | None,
    namespace: str | None,
    all_namespaces: bool,
    readonly: bool,
) -> None:
    """K8sClaw: run AI agents on Kubernetes.

    Run without a command to open the terminal UI (k9s-style: `k8sclaw -n team-a
    --context prod --readonly`, `k8sclaw -A`). --kubeconfig, --context, -n and -A given
    here are also the defaults of the command that follows.
    """
    if ctx.invoked_subcommand is None:
        from k8sclaw.tui import run_tui

        code = run_tui(
            kubeconfig, context, namespace, readonly=readonly, all_namespaces=all_namespaces
        )
        ctx.exit(code)


cli.add_command(version_command)


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the process exit code."""
    try:
        cli.main(args=argv, prog_name="k8sclaw", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    return 0
