"""Run the checks: the API first (an unreachable cluster is one ✗, nothing else), then
every other check at once, each bounded by the same timeout.

Threads, not asyncio: the Kubernetes client is blocking, and a thread per check keeps a
slow answer in one area from holding up the rest. A check still running at the deadline
is reported as a ✗ and abandoned (its own request timeout ends its thread soon after).
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable

from k8sclaw.doctor import _checks
from k8sclaw.doctor._cluster import Reader, shown
from k8sclaw.doctor._model import Finding, fail, warn
from k8sclaw.kube import ForbiddenError, Kube, KubeError

DEFAULT_TIMEOUT = 5.0
Check = Callable[[Reader, str], list[Finding]]
CHECKS: tuple[tuple[str, Check], ...] = (
    ("crds", lambda r, ns: _checks.crds(r)),
    ("control plane", lambda r, ns: _checks.control_plane(r)),
    ("webhook", _checks.webhook),
    ("bus", lambda r, ns: _checks.bus(r)),
    ("channels", _checks.channels),
    ("secrets", _checks.secrets),
)


def _errored(check: str, exc: KubeError, label: str = "") -> Finding:
    """A check whose own call failed: the error's line and hint."""
    return fail(check, f"{label or check}: {shown(exc)}", shown(exc.hint) if exc.hint else "")


def run(kube: Kube, namespace: str, *, timeout: float = DEFAULT_TIMEOUT) -> list[Finding]:
    """Every finding, in a fixed order; only the API's when the API does not answer."""
    reader = Reader(kube, timeout)
    try:
        first = _checks.api(reader)
    except KubeError as exc:
        return [_errored("api", exc, "API")]
    pool = concurrent.futures.ThreadPoolExecutor(len(CHECKS), thread_name_prefix="doctor")
    try:
        futures = [(name, pool.submit(check, reader, namespace)) for name, check in CHECKS]
        deadline = time.monotonic() + timeout * 2 + 1  # a check makes a few calls in a row
        found = list(first)
        for name, future in futures:
            found.extend(_result(name, future, deadline - time.monotonic(), timeout))
        return found
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _result(
    name: str, future: concurrent.futures.Future[list[Finding]], left: float, timeout: float
) -> list[Finding]:
    try:
        return future.result(timeout=max(left, 0.01))
    except concurrent.futures.TimeoutError:
        waited = f"{timeout * 2 + 1:.0f}s"
        return [fail(name, f"{name}: no answer within {waited}", "k8sclaw doctor --timeout 20")]
    except ForbiddenError as exc:  # RBAC hides this area from you: unknown, not broken
        return [warn(name, f"{name}: not checked ({shown(exc)})", shown(exc.hint))]
    except KubeError as exc:
        return [_errored(name, exc)]
