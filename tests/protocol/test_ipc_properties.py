"""Property tests: the IPC reader never crashes; bad files quarantined, good ones read once."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from k8sclaw_protocol import IpcLayout, QuarantinedError, ipc

_FILES = [
    "output/result.json",
    "output/status.json",
    "output/stream-1.json",
    "spawn/request-1.json",
    "tools/exec-request-1.json",
    "messages/send-1.json",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)
# Objects shaped roughly like IPC messages so that some of them are valid.
ipc_like = st.fixed_dictionaries(
    {},
    optional={
        "status": st.sampled_from(["success", "error", "other"]),
        "type": st.sampled_from(["text", "tool_use", "bogus"]),
        "phase": st.sampled_from(["thinking", "responding", "x"]),
        "content": st.text(max_size=5),
        "index": st.integers(-2, 3),
        "task": st.text(max_size=5),
        "id": st.sampled_from(["a1", "", "../x"]),
        "command": st.text(max_size=5),
        "channel": st.sampled_from(["slack", ""]),
        "text": st.text(max_size=5),
    },
)


def _deliver(raw: bytes, relative: str) -> tuple[int, int, int]:
    """Write one file, run the reader; returns (delivered, quarantined, left behind)."""
    with tempfile.TemporaryDirectory() as tmp:
        layout = IpcLayout(Path(tmp))
        layout.ensure()
        path = ipc.write_atomic(layout.root / relative, raw)
        route = ipc.route_for(layout, path)
        assert route is not None
        delivered = 0
        try:
            ipc.read_validated(layout, path, route.model)
            delivered = 1
        except QuarantinedError:
            pass
        quarantined = len([p for p in layout.errors.iterdir() if not p.name.endswith(".reason")])
        return delivered, quarantined, int(path.exists())


def _valid(raw: bytes, relative: str, layout_root: Path = Path("/ipc")) -> bool:
    route = ipc.route_for(IpcLayout(layout_root), layout_root / relative)
    assert route is not None
    try:
        route.model.model_validate_json(raw)
    except ValidationError:
        return False
    return True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.binary(max_size=200), relative=st.sampled_from(_FILES))
def test_random_bytes_never_crash_the_reader(raw: bytes, relative: str) -> None:
    delivered, quarantined, left = _deliver(raw, relative)
    assert delivered + quarantined == 1
    assert delivered == int(_valid(raw, relative))
    assert left == delivered


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values | ipc_like, relative=st.sampled_from(_FILES))
def test_random_json_is_delivered_once_or_quarantined(value: Any, relative: str) -> None:
    raw = json.dumps(value).encode()
    delivered, quarantined, _ = _deliver(raw, relative)
    assert delivered + quarantined == 1
    assert delivered == int(_valid(raw, relative))
