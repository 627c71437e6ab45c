"""What every renderer shares: the column type, the row type, ages, masking.

Renderers are pure: `render(obj, now)` turns one model into strings, so the CLI's
`-o table|wide` and the TUI's tables show the same cells and are tested without a cluster.
Nothing here imports pydantic at runtime: the wire renderers (`_wire`) share these helpers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from k8sclaw.render._columns import Column
from k8sclaw.render._terminal import terminal_safe

if TYPE_CHECKING:
    from k8sclaw_protocol import Resource

R = TypeVar("R", bound="Resource")
T = TypeVar("T")
Row = tuple[str, ...]
NONE = "-"
MASK = "********"
TASK_WIDTH = 48  # an AgentRun's TASK cell (`-o wide`)


def spent_today(spend: dict[str, Any] | None, now: datetime) -> str:
    """SPENT of an instance: today's tokens and cost ("1500 $0.01"); a day that has
    ended reads as nothing spent (`status.spend` is only written when a run ends)."""
    today = (spend or {}).get("today") or {}
    start = str(today.get("start") or "")
    if not start.startswith(now.astimezone(UTC).strftime("%Y-%m-%d")):
        return "0"
    tokens = int(today.get("totalTokens") or 0)
    try:
        cost = float(today.get("cost") or 0)
    except ValueError:
        cost = 0.0
    if not cost:
        return str(tokens)
    return f"{tokens} <$0.01" if cost < 0.01 else f"{tokens} ${cost:.2f}"


def clock() -> datetime:
    """The time ages are measured against when the caller passes none; one function so a
    test comparing two renderings can pin it (two reads a second apart differ by `1s`)."""
    return datetime.now(UTC)


class TableRenderer(Generic[T]):
    """`headers` and `row` over `columns` and `render`: shared by the model renderers
    (`KindRenderer`) and the wire renderers (`_wire.WireRenderer`)."""

    columns: tuple[Column, ...]
    render: Callable[[T, datetime], Row]

    def headers(self, *, wide: bool) -> list[str]:
        """Column names for table (or wide) output."""
        return [c.name for c in self.columns if wide or not c.wide]

    def row(self, obj: T, *, wide: bool, now: datetime | None = None) -> Row:
        """One object's cells for table (or wide) output."""
        cells = self.render(obj, now or clock())
        return tuple(
            cell for col, cell in zip(self.columns, cells, strict=True) if wide or not col.wide
        )


@dataclass(frozen=True)
class KindRenderer(TableRenderer[R]):
    """The columns of one kind and the pure function that fills them."""

    kind: type[R]
    columns: tuple[Column, ...]
    render: Callable[[R, datetime], Row]


def age(then: datetime | None, now: datetime) -> str:
    """kubectl-style compact age: 42s, 5m, 3h, 2d (`-` when unknown)."""
    if then is None:
        return NONE
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def until(when: datetime | None, now: datetime) -> str:
    """Time left to a future moment: in 5m, in 2h (`-` when unknown, `now` when past)."""
    if when is None:
        return NONE
    return f"in {age(now, when)}" if when > now else "now"


def duration_ms(ms: int | None) -> str:
    """A run's duration from milliseconds: 850ms, 12.3s, 4m5s."""
    if not ms:
        return NONE
    if ms < 1000:
        return f"{ms}ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f}s"
    minutes, seconds = divmod(ms // 1000, 60)
    return f"{minutes}m{seconds}s"


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 timestamp from the wire (`...Z`), as pydantic parses it; None if unset."""
    if not value:
        return None
    return datetime.fromisoformat(str(value))


def text(value: object) -> str:
    """A cell: `-` for empty values, one terminal-safe line for everything else."""
    if value is None or value == "":
        return NONE
    return " ".join(terminal_safe(str(value)).split())


def clip(cell: str, width: int) -> str:
    """A cell cut to `width` characters, the last one an ellipsis when cut."""
    return cell if len(cell) <= width else cell[: width - 1] + "…"


def mask(value: str | None) -> str:
    """Secret values are never shown: a fixed-width mask that does not leak the length."""
    return MASK if value else NONE
