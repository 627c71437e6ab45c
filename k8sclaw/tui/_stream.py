"""One way to end a thread that is blocked reading a long HTTP stream (a watch, a log
follow): set a flag the loop checks, then shut the response down so the read returns at
once instead of waiting for the next byte. Shared by the watchers, the `l` Events feed and
the feed's log follower."""

from __future__ import annotations

import contextlib
import threading
from typing import Any


class StreamReader:
    """Base of the TUI's stream-reading thread bodies; `stop()` may be called from any thread."""

    def __init__(self) -> None:
        self.stopped = threading.Event()
        self._resp: Any = None

    def stop(self) -> None:
        """Ask the loop to end and unblock a stream read in progress."""
        self.stopped.set()
        resp = self._resp
        if resp is not None:
            with contextlib.suppress(Exception):
                resp.shutdown()
