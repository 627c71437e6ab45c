"""The columns of every kind, in one import-light module.

Both renderers read these: the model renderers (`_agentrun`, ...) used by the TUI and
`Kube`, and the wire renderers (`_wire`) of the CLI's fast read path.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """One table column; `wide` columns show only with `-o wide`."""

    name: str
    wide: bool = False
    numeric: bool = False


AGENT_RUN = (
    Column("NAME"),
    Column("INSTANCE"),
    Column("PHASE"),
    Column("POD"),
    Column("TOKENS", numeric=True),
    Column("DURATION"),
    Column("MODEL", wide=True),
    Column("SOURCE", wide=True),
    Column("TASK", wide=True),
    Column("AGE"),
)
CLAW_INSTANCE = (
    Column("NAME"),
    Column("PHASE"),
    Column("CHANNELS"),
    Column("PODS", numeric=True),
    Column("RUNS", numeric=True),
    Column("SPENT"),
    Column("MODEL", wide=True),
    Column("PROVIDER", wide=True),
    Column("POLICY", wide=True),
    Column("AGE"),
)
CLAW_POLICY = (
    Column("NAME"),
    Column("BOUND", numeric=True),
    Column("TOOLS"),
    Column("FEATURES"),
    Column("SANDBOX", wide=True),
    Column("MAX-DEPTH", wide=True, numeric=True),
    Column("AGE"),
)
SKILL_PACK = (
    Column("NAME"),
    Column("SKILLS", numeric=True),
    Column("PHASE"),
    Column("CONFIGMAP"),
    Column("NAMES", wide=True),
    Column("AGE"),
)
CLAW_SCHEDULE = (
    Column("NAME"),
    Column("INSTANCE"),
    Column("SCHEDULE"),
    Column("SUSPEND"),
    Column("PHASE"),
    Column("LAST-RUN"),
    Column("NEXT"),
    Column("RUNS", numeric=True),
    Column("TASK", wide=True),
    Column("AGE"),
)
