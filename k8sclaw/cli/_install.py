"""`k8sclaw install` and `k8sclaw uninstall`: the control plane in and out of a cluster.

The work is in `k8sclaw.installer`; this module parses flags, shows progress on stderr
and turns failures into one-line errors.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from k8sclaw import __version__
from k8sclaw.cli import _common

_MARK = {"created": "+", "configured": "~", "unchanged": "="}


@click.command("install")
@click.option(
    "--version",
    "version",
    default=__version__,
    show_default=True,
    metavar="V",
    help="Release to install; other than this CLI's own, its manifests are downloaded "
    "from $K8SCLAW_RELEASE_URL (default: the GitHub releases) and checksum-verified.",
)
@click.option("--dry-run", is_flag=True, help="Print the YAML that would be applied and exit.")
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="Wait for the Deployments to become Available.",
)
@click.option(
    "--timeout",
    default=300.0,
    show_default=True,
    metavar="SECONDS",
    help="How long each wait may take.",
)
@click.option("--allow-downgrade", is_flag=True, help="Install over a newer version.")
@click.option(
    "--database-url-secret",
    metavar="NAME",
    default=None,
    help="Keep transcripts in PostgreSQL: DATABASE_URL from key `url` of Secret NAME in "
    "k8sclaw-system (two API server replicas, no SQLite volume).",
)
@_common.cluster_options()
@_common.translating
def install(
    version: str,
    *,
    dry_run: bool,
    wait: bool,
    timeout: float,
    allow_downgrade: bool,
    database_url_secret: str | None,
    target: _common.Target,
) -> None:
    """Install CRDs, RBAC, NATS, controller, API server, webhook, network policies,
    policy presets and default skills (presets and skills go into -n, default: the
    context's namespace). Safe to re-run: server-side apply, unchanged objects stay."""
    from k8sclaw import installer

    version = version.lstrip("v")
    namespace = target.namespace or ("default" if dry_run else target.ns())
    with tempfile.TemporaryDirectory(prefix="k8sclaw-release-") as tmp:
        manifests = installer.MANIFESTS_DIR
        if version != __version__:
            _say(f"Fetching the manifests of K8sClaw {version} ({installer.release_url(version)})")
            manifests = installer.fetch_manifests(version, Path(tmp))
        steps = installer.load_bundle(version, namespace, manifests)
    if database_url_secret:
        installer.use_database_secret(steps, database_url_secret)
    if dry_run:
        click.echo(installer.to_yaml(steps), nl=False)
        return
    kube = target.kube()
    current = installer.installed_version(kube)
    installer.check_version(current, version, allow_downgrade=allow_downgrade)
    _say(
        f"Installing K8sClaw {version} into {kube.connection.context} "
        f"({kube.connection.server})"
        + (f", upgrading from {current}" if current and current != version else "")
    )

    def report(step: str, ref: str, action: str) -> None:
        _say(f"  {_MARK[action]} {step:<24} {ref} {action}")

    result = installer.install(kube, steps, wait=wait, timeout=timeout, report=report)
    total = len(result.actions)
    _say(f"Done: {total} objects, {result.changed} changed, {total - result.changed} unchanged.")
    if not wait:
        # The admission webhooks are registered fail-closed before their pod runs.
        _say(
            "Not waited for: the admission webhooks are fail-closed, so until the webhook "
            "pod is Ready, creating K8sClaw objects (k8sclaw onboard, k8sclaw run) is "
            "refused. Run `k8sclaw install --wait` to wait for it, or `k8sclaw doctor` "
            "to check."
        )
    _say("Next: k8sclaw onboard    (creates your first instance)")


@click.command("uninstall")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--keep-crds", is_flag=True, help="Keep the CRDs (and so the custom resources).")
@click.option(
    "--timeout",
    default=120.0,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for each deletion.",
)
@_common.cluster_options()
@_common.translating
def uninstall(yes: bool, *, keep_crds: bool, timeout: float, target: _common.Target) -> None:
    """Remove K8sClaw: controller stopped, finalizers stripped, custom resources, control
    plane, CRDs and namespace deleted. Safe to re-run."""
    from k8sclaw import installer

    kube = target.kube()
    if not yes:
        click.confirm(
            f"Remove K8sClaw and ALL its objects from {kube.connection.context}?",
            abort=True,
            err=True,
        )
    installer.uninstall(kube, keep_crds=keep_crds, timeout=timeout, say=lambda m: _say(f"  {m}"))
    _say("K8sClaw uninstalled.")


def _say(message: str) -> None:
    click.echo(message, err=True)
