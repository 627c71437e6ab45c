"""`k8sclaw version`: the CLI's version and the platform it runs on."""

from __future__ import annotations

import json
import platform
import sys

import click

from k8sclaw import __version__


@click.command("version")
@click.option(
    "-o",
    "--output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)
def version_command(output: str) -> None:
    """Print the k8sclaw version."""
    info = {
        "version": __version__,
        "python": platform.python_version(),
        "platform": f"{sys.platform}/{platform.machine()}",
    }
    if output == "json":
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(f"k8sclaw {info['version']} (python {info['python']}, {info['platform']})")
