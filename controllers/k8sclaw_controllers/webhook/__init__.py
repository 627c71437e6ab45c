"""`k8sclaw-webhook`: the admission webhook enforcing ClawPolicies (SPEC §6).

Layers: `_review` (AdmissionReview wire format) and `_admission` (handlers calling the
pure `k8sclaw_controllers.policy` engine) over `_source` (live cluster reads) and
`_runs` (the watch-fed count of active runs);
`_server` (aiohttp HTTPS app), `_certs` / `_tls` (CA, serving certificates, rotation),
`_configs` (webhook configurations), `_main` (dev and in-cluster modes).
"""

from k8sclaw_controllers.webhook._admission import Admission
from k8sclaw_controllers.webhook._certs import (
    CertBundle,
    generate,
    issue,
    needs_rotation,
    service_hosts,
)
from k8sclaw_controllers.webhook._configs import configurations, service_client, url_client
from k8sclaw_controllers.webhook._main import Running, dev_webhook, main
from k8sclaw_controllers.webhook._runs import RunIndex
from k8sclaw_controllers.webhook._server import build_app
from k8sclaw_controllers.webhook._settings import Settings, resolve
from k8sclaw_controllers.webhook._source import ClusterSource, Source, SourceError

__all__ = [
    "Admission",
    "CertBundle",
    "ClusterSource",
    "RunIndex",
    "Running",
    "Settings",
    "Source",
    "SourceError",
    "build_app",
    "configurations",
    "dev_webhook",
    "generate",
    "issue",
    "main",
    "needs_rotation",
    "resolve",
    "service_client",
    "service_hosts",
    "url_client",
]
