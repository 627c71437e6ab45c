"""How the CLI fails: one line on stderr, a hint naming the fix, an exit code per class.

`CliError` is a click exception so click's machinery exits with its code; `translated()`
turns `k8sclaw.kube.KubeError` (and invalid input) into it at the command boundary.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import click


class CliError(click.ClickException):
    """A failure the user can act on: `message` and `hint` are one line each."""

    def __init__(self, message: str, *, hint: str = "", exit_code: int = 1) -> None:
        super().__init__(" ".join(message.split()))
        self.hint = hint
        self.exit_code = exit_code  # type: ignore[misc]  # click declares it ClassVar; per-error here

    def show(self, file: IO[Any] | None = None) -> None:
        """Print `error: ...` and `hint: ...` to stderr."""
        click.echo(f"error: {self.format_message()}", err=True, file=file)
        if self.hint:
            click.echo(f"hint: {self.hint}", err=True, file=file)


@contextmanager
def translated() -> Iterator[None]:
    """Turn API and validation errors raised inside the block into `CliError`."""
    from k8sclaw.kube import KubeError

    try:
        yield
    except KubeError as exc:
        raise CliError(str(exc), hint=exc.hint, exit_code=exc.exit_code) from exc
    except ValueError as exc:
        raise _from_value_error(exc) from exc


def _from_value_error(exc: ValueError) -> CliError:
    """A pydantic ValidationError names the field; other ValueErrors speak for themselves."""
    if type(exc).__module__.startswith("pydantic"):  # not imported unless a model failed
        from pydantic import ValidationError

        if isinstance(exc, ValidationError):
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            return CliError(f"{where}: {first['msg']}", hint="fix the value and re-run")
    return CliError(str(exc), hint="fix the value and re-run")


def usage_line(exc: click.UsageError) -> CliError:
    """A click usage error as one line plus a hint pointing at --help."""
    command = exc.ctx.command_path if exc.ctx else "k8sclaw"
    return CliError(exc.format_message(), hint=f"see `{command} --help`", exit_code=2)
