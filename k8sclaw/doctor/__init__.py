"""`k8sclaw doctor` and the TUI's `/status`: everything a run needs, checked at once.

Shared by the CLI and the TUI (which may not import each other): `run(kube, namespace)`
returns `Finding`s (✓/!/✗, one line, the command that fixes a ✗); `lines` renders them.
"""

from __future__ import annotations

from k8sclaw.doctor._model import MARKS, Finding, Verdict, healthy, lines, summary
from k8sclaw.doctor._run import DEFAULT_TIMEOUT, run

__all__ = ["DEFAULT_TIMEOUT", "MARKS", "Finding", "Verdict", "healthy", "lines", "run", "summary"]
