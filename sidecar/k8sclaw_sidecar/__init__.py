"""K8sClaw agent pod runtime: IPC bridge, agent runner and sandbox executor.

Installed into agent pod images; depends on the protocol and nats-py only (no UI, no
Kubernetes client), so the images stay small.
"""

from k8sclaw_protocol import VERSION

__version__ = VERSION
__all__ = ["__version__"]
