"""The transcripts package's public door is pinned: the API server builds on it."""

from __future__ import annotations

from k8sclaw_controllers import transcripts

PINNED = [
    "ANNOTATION_DAYS", "ANNOTATION_MAX_EVENTS", "DATA_CAP", "DEFAULT_PAGE", "EventRow",
    "ExchangeRow", "Kind", "KubeRunLookup", "MAX_EXCHANGES", "MAX_PAGE", "NewEvent",
    "RECORDER_DURABLE", "Recorder", "RecorderStats",
    "Retention", "RetentionPolicy", "RunInfo", "RunLookup", "RunRow", "SessionDetail",
    "SessionRow", "SqlStore", "StoreError", "SweepResult", "TranscriptPage", "TranscriptStore",
    "kube_policy", "latest_schema_version", "open_store", "policy_from_instances", "run_info",
    "run_recorder", "run_sweeper", "run_transcripts", "to_new_event",
]  # fmt: skip


def test_all_is_sorted_pinned_and_complete() -> None:
    assert transcripts.__all__ == sorted(transcripts.__all__) == PINNED
    for name in transcripts.__all__:
        assert hasattr(transcripts, name), name
