"""`k8sclaw-controller`: the controller manager (SPEC §3) and its pure building blocks.

`main` runs the manager (one informer per watched kind, `_operator`); `build_job` is the
pure AgentRun -> Job builder the AgentRun reconciler uses; `resolve` turns flags and
`K8SCLAW_*` variables into `Settings`.
"""

from k8sclaw_controllers.manager._jobbuilder import JobOptions, Tools, build_job, pod_labels
from k8sclaw_controllers.manager._main import main
from k8sclaw_controllers.manager._outcome import Outcome
from k8sclaw_controllers.manager._settings import Images, Settings, parse_duration, resolve

__all__ = [
    "Images",
    "JobOptions",
    "Outcome",
    "Settings",
    "Tools",
    "build_job",
    "main",
    "parse_duration",
    "pod_labels",
    "resolve",
]
