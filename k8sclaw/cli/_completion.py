"""`k8sclaw completion bash|zsh|fish`: print the shell completion script (click's own)."""

from __future__ import annotations

import click


@click.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print a completion script, e.g. `eval "$(k8sclaw completion bash)"`."""
    from click.shell_completion import get_completion_class

    from k8sclaw.cli import cli

    cls = get_completion_class(shell)
    if cls is None:  # pragma: no cover - click ships all three
        raise click.UsageError(f"unsupported shell {shell}")
    click.echo(cls(cli, {}, "k8sclaw", "_K8SCLAW_COMPLETE").source())
