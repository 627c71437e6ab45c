"""Options every cluster command shares (kubectl conventions) and the objects behind them.

`cluster_options` adds --kubeconfig/--context/-n/-A; `output_option` adds -o. Commands
receive a `Target` and call `target.kube()` only when they need the cluster, or
`target.rest()` for the fast read path (None when this kubeconfig needs `Kube`;
K8SCLAW_DEBUG=1 prints why, K8SCLAW_NO_FAST_READ=1 turns the fast path off).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from k8sclaw.kube import Kube, RestClient

F = TypeVar("F", bound=Callable[..., Any])
OUTPUTS = ("table", "wide", "json", "yaml", "name")


@dataclass
class Target:
    """Where a command acts: kubeconfig, context and namespace (None = the context's)."""

    kubeconfig: str | None
    context: str | None
    namespace: str | None
    all_namespaces: bool = False
    _kube: Kube | None = None
    _rest: RestClient | None = None
    _rest_refused: bool = False

    def kube(self) -> Kube:
        """Connect once per command (raises NoKubeconfigError with the fix)."""
        if self._kube is None:
            from k8sclaw.kube import ClusterTarget, Kube

            self._kube = Kube.connect(ClusterTarget(self.kubeconfig, self.context))
        return self._kube

    def close(self) -> None:
        """Close the cluster client the command opened (its connections), if any."""
        if self._kube is not None:
            self._kube.close()
            self._kube = None

    def rest(self) -> RestClient | None:
        """The fast read-only client, or None when only `kube()` can use this kubeconfig."""
        if self._rest is None and not self._rest_refused:
            from k8sclaw.kube import ClusterTarget, UnsupportedConfigError, connect_rest

            if os.environ.get("K8SCLAW_NO_FAST_READ"):
                self._rest_refused = True
                return None
            try:
                self._rest = connect_rest(ClusterTarget(self.kubeconfig, self.context))
            except UnsupportedConfigError as exc:
                self._rest_refused = True
                if os.environ.get("K8SCLAW_DEBUG"):
                    click.echo(f"debug: fast read path off ({exc}); using kubernetes", err=True)
        return self._rest

    def ns(self) -> str:
        """The namespace to act in: -n, else the kubeconfig context's, else default."""
        if self.namespace:
            return self.namespace
        return self._rest.namespace if self._rest else self.kube().namespace

    def list_ns(self) -> str | None:
        """Namespace for list calls: None with -A (all namespaces)."""
        return None if self.all_namespaces else self.ns()


def cluster_options(*, all_namespaces: bool = False) -> Callable[[F], F]:
    """Add --kubeconfig, --context, -n (and -A) and pass them on as `target`."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(
            kubeconfig: str | None,
            context: str | None,
            namespace: str | None,
            *args: Any,
            **kwargs: Any,
        ) -> Any:
            root = click.get_current_context().find_root().params  # `k8sclaw -n NS <cmd>`
            every = bool(kwargs.pop("all_namespaces", False))
            every = every or (all_namespaces and bool(root.get("all_namespaces")))
            target = Target(
                kubeconfig or root.get("kubeconfig"),
                context or root.get("context"),
                namespace or root.get("namespace"),
                every,
            )
            try:
                return func(*args, target=target, **kwargs)
            finally:
                target.close()

        opts = [
            click.option(
                "--kubeconfig",
                metavar="PATH",
                help="Kubeconfig file (default: $KUBECONFIG, ~/.kube/config).",
            ),
            click.option("--context", metavar="NAME", help="Kubeconfig context to use."),
            click.option(
                "-n", "--namespace", metavar="NS", help="Namespace (default: the context's)."
            ),
        ]
        if all_namespaces:
            opts.append(
                click.option(
                    "-A", "--all-namespaces", is_flag=True, help="List across all namespaces."
                )
            )
        for opt in reversed(opts):
            wrapper = opt(wrapper)
        return wrapper  # type: ignore[return-value]

    return decorate


TEMPLATE_OUTPUTS = ("jsonpath=", "custom-columns=")


class OutputFormat(click.ParamType):  # type: ignore[type-arg]
    """-o: one of OUTPUTS, or kubectl's jsonpath=TEMPLATE / custom-columns=SPEC."""

    name = "format"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The format, or a usage error listing what -o takes."""
        text = str(value)
        if text in OUTPUTS or (text.startswith(TEMPLATE_OUTPUTS) and "=" in text[5:]):
            return text
        known = "|".join(OUTPUTS) + "|jsonpath=...|custom-columns=..."
        return self.fail(f"{text!r} is not one of {known}", param, ctx)


def output_option(default: str) -> Callable[[F], F]:
    """-o table|wide|json|yaml|name|jsonpath=…|custom-columns=…."""
    return click.option(
        "-o",
        "--output",
        type=OutputFormat(),
        default=default,
        show_default=True,
        metavar="FORMAT",
        help="table|wide|json|yaml|name|jsonpath=TEMPLATE|custom-columns=H:.path,...",
    )


class SuggestingChoice(click.Choice):  # type: ignore[type-arg]
    """A choice whose refusal names the closest valid value and lists the rest."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The value when it is one of the choices, else a usage error with a suggestion."""
        if value in self.choices:
            return value
        from k8sclaw.cli._lazy import closest

        choices = [str(c) for c in self.choices]
        guess = closest(str(value), choices)
        meant = f" Did you mean {guess!r}?" if guess else ""
        return self.fail(f"{value!r} is not one of {', '.join(choices)}.{meant}", param, ctx)


def _check_duration(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Refuse a bad duration at the flag, in words (not the pattern the API would print)."""
    if value is None:
        return None
    import re

    from k8sclaw_protocol import DURATION_PATTERN

    if not re.fullmatch(DURATION_PATTERN, value):
        raise click.BadParameter(
            f"{value!r} is not a duration; use a duration like 30s, 5m, 1h (or 1h30m)",
            ctx,
            param,
        )
    return value


def timeout_option() -> Callable[[F], F]:
    """--timeout DURATION, checked before anything connects."""
    return click.option(
        "--timeout",
        metavar="DURATION",
        callback=_check_duration,
        help="Run timeout, e.g. 90s, 10m (default 10m).",
    )


def translating(func: F) -> F:
    """Run the command with API/validation errors turned into one-line CLI errors."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from k8sclaw.cli._errors import translated

        with translated():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
