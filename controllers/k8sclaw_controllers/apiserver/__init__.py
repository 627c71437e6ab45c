"""`k8sclaw-apiserver` (SPEC §7): HTTP and WebSocket API over instances, runs, schedules,
transcripts and sessions, with Kubernetes RBAC as the one source of who sees what.

Modules: `_settings` (flags/env), `_auth` (TokenReview, SubjectAccessReview, static token),
`_objects` (CRUD of the kinds), `_runs` (run creation via the shared builder, logs,
transcripts, sessions), `_stream`/`_wsroute` (`/ws/stream`), `_errors` (the one JSON error
shape), `_app` (application and lifespan), `_main` (the process).
"""

from k8sclaw_controllers.apiserver._app import build_app
from k8sclaw_controllers.apiserver._main import main
from k8sclaw_controllers.apiserver._settings import Settings, resolve

__all__ = ["Settings", "build_app", "main", "resolve"]
