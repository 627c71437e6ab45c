"""K8sClaw: the `k8sclaw` command-line tool, terminal UI and installer.

Kept import-light: `k8sclaw --help` and `k8sclaw version` must not load the Kubernetes
client, textual or pydantic (bench/cli_startup.py measures it).
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
