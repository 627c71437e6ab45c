"""Transcripts (SPEC §8): every run's events, stored once each, read by the API server.

Layers: `_rows` (typed rows, kinds, byte caps) and `_interface` (`TranscriptStore`) over
`_store` (`SqlStore`, `open_store`) over `_driver` with `_sqlite` (embedded, WAL) and
`_postgres` (psycopg pool); `_migrate` (shipped, versioned migrations), `_retention`
(sweep and policy); `_recorder` (the durable bus consumer) with `_lookup` (where a run
sits, from the Kubernetes API); `_service` (`run_transcripts`: both, for the API server).
"""

from k8sclaw_controllers.transcripts._interface import (
    DEFAULT_PAGE,
    MAX_EXCHANGES,
    MAX_PAGE,
    StoreError,
    TranscriptStore,
)
from k8sclaw_controllers.transcripts._lookup import KubeRunLookup, RunLookup, run_info
from k8sclaw_controllers.transcripts._migrate import latest as latest_schema_version
from k8sclaw_controllers.transcripts._recorder import (
    DURABLE as RECORDER_DURABLE,
)
from k8sclaw_controllers.transcripts._recorder import (
    Recorder,
    RecorderStats,
    run_recorder,
)
from k8sclaw_controllers.transcripts._retention import (
    ANNOTATION_DAYS,
    ANNOTATION_MAX_EVENTS,
    kube_policy,
    policy_from_instances,
    run_sweeper,
)
from k8sclaw_controllers.transcripts._rows import (
    DATA_CAP,
    EventRow,
    ExchangeRow,
    Kind,
    NewEvent,
    Retention,
    RetentionPolicy,
    RunInfo,
    RunRow,
    SessionDetail,
    SessionRow,
    SweepResult,
    TranscriptPage,
    to_new_event,
)
from k8sclaw_controllers.transcripts._service import run_transcripts
from k8sclaw_controllers.transcripts._store import SqlStore, open_store

__all__ = [
    "ANNOTATION_DAYS",
    "ANNOTATION_MAX_EVENTS",
    "DATA_CAP",
    "DEFAULT_PAGE",
    "EventRow",
    "ExchangeRow",
    "Kind",
    "KubeRunLookup",
    "MAX_EXCHANGES",
    "MAX_PAGE",
    "NewEvent",
    "RECORDER_DURABLE",
    "Recorder",
    "RecorderStats",
    "Retention",
    "RetentionPolicy",
    "RunInfo",
    "RunLookup",
    "RunRow",
    "SessionDetail",
    "SessionRow",
    "SqlStore",
    "StoreError",
    "SweepResult",
    "TranscriptPage",
    "TranscriptStore",
    "kube_policy",
    "latest_schema_version",
    "open_store",
    "policy_from_instances",
    "run_info",
    "run_recorder",
    "run_sweeper",
    "run_transcripts",
    "to_new_event",
]
