"""K8sClaw control plane: controller manager, admission webhook and API server.

Installed into the cluster images; never imports the TUI or the wizard.
"""

from k8sclaw_protocol import VERSION

__version__ = VERSION
__all__ = ["__version__"]
