"""Past-tense messages that watch workers post to the app; workers never touch widgets."""

from __future__ import annotations

from typing import Any

from textual.message import Message


class RowsChanged(Message):
    """Objects of one kind were added/modified (`upserted`) or deleted (`deleted` uids).

    `reset` means a full (re-)list: everything of that kind not in `upserted` is gone.
    """

    def __init__(
        self, kind: str, upserted: list[Any], deleted: list[str], *, reset: bool = False
    ) -> None:
        super().__init__()
        self.kind = kind
        self.upserted = upserted
        self.deleted = deleted
        self.reset = reset


class ClusterUnreachable(Message):
    """A watch lost the API server; `reason` is the one-line cause, `retry_in` seconds."""

    def __init__(self, kind: str, reason: str, retry_in: float) -> None:
        super().__init__()
        self.kind = kind
        self.reason = reason
        self.retry_in = retry_in


class ClusterReachable(Message):
    """A watch (re-)listed its kind successfully: the API server answers again."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
