"""A click group whose subcommands are imported only when invoked.

`k8sclaw --help` lists every command from a static table without importing the
modules behind them, which keeps startup well under 0.3 s.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click


def closest(word: str, choices: list[str] | tuple[str, ...]) -> str | None:
    """The choice a typo most likely meant (difflib, imported only on a miss), or None."""
    import difflib

    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    if found:
        return found[0]
    prefixed = [c for c in choices if c.startswith(word) or word.startswith(c)]
    return prefixed[0] if len(prefixed) == 1 else None


class SuggestingGroup(click.Group):
    """A group whose unknown-command error names the command that was probably meant."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """Click's lookup; on a miss, "No such command 'runz'. Did you mean 'runs'?"."""
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            guess = closest(name, self.list_commands(ctx))
            if guess:
                ctx.fail(f"No such command {name!r}. Did you mean {guess!r}?")
        return super().resolve_command(ctx, args)


class LazyGroup(SuggestingGroup):
    """Group that resolves `name -> "module:attribute"` on first use."""

    def __init__(
        self,
        *args: object,
        lazy_commands: dict[str, tuple[str, str]] | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        # name -> (import path "pkg.module:attr", one-line help shown by --help)
        self.lazy_commands = lazy_commands or {}

    def main(  # type: ignore[override]
        self, args: Any = None, prog_name: str | None = None, **extra: Any
    ) -> Any:
        """Run the CLI; errors become one line plus a hint on stderr (never a traceback)."""
        from k8sclaw.cli._errors import CliError, usage_line

        if extra.get("standalone_mode", True) is False:
            return super().main(args, prog_name, **extra)
        extra["standalone_mode"] = False
        try:
            code = super().main(args, prog_name, **extra)
        except click.UsageError as exc:
            usage_line(exc).show()
            sys.exit(2)
        except CliError as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(1)
        except Exception as exc:
            if os.environ.get("K8SCLAW_DEBUG"):
                raise
            CliError(
                f"unexpected {type(exc).__name__}: {exc}",
                hint="re-run with K8SCLAW_DEBUG=1 for a traceback and report it",
            ).show()
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Eager and lazy commands, sorted."""
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import a lazy command the first time it is needed."""
        if cmd_name in self.lazy_commands:
            return self._load(cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List commands with their static help, importing nothing."""
        rows = [(name, help_text) for name, (_, help_text) in self.lazy_commands.items()]
        rows += [
            (name, cmd.get_short_help_str(limit=formatter.width))
            for name, cmd in self.commands.items()
            if not cmd.hidden
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(sorted(rows))

    def _load(self, cmd_name: str) -> click.Command:
        path, _ = self.lazy_commands[cmd_name]
        module_name, attr = path.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{path} is not a click command")
        return command
