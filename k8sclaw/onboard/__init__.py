"""Onboarding: the five-step wizard (cluster, instance, provider, channel, policy).

`plan(answers)` is pure; `apply` writes with server-side apply; `ask` runs the
questionary prompts. The CLI's `k8sclaw onboard` and its `--non-interactive` mode
share all three.
"""

from k8sclaw.onboard._apply import apply, check_cluster
from k8sclaw.onboard._plan import DEFAULT_POLICY, Answers, default_policy, plan
from k8sclaw.onboard._providers import CHANNELS, PROVIDERS, Channel, Provider
from k8sclaw.onboard._wizard import ask, problems

__all__ = [
    "Answers",
    "CHANNELS",
    "Channel",
    "DEFAULT_POLICY",
    "PROVIDERS",
    "Provider",
    "apply",
    "ask",
    "check_cluster",
    "default_policy",
    "plan",
    "problems",
]
