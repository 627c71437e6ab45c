"""The interactive wizard driven through a pseudo-terminal: answers in, objects out, and
the typed key never reaches the screen."""

from __future__ import annotations

import base64
import io
import os
import sys

import kubernetes
import pexpect

from k8sclaw_protocol import names
from tests.harness.kube import KubeEnv

SECRET = "sk-typed-never-echoed-42"
ENTER = "\r"


def _spawn(kube: KubeEnv) -> pexpect.spawn:
    env = {k: v for k, v in os.environ.items() if not k.startswith("K8SCLAW_")}
    env.update(
        PROMPT_TOOLKIT_NO_CPR="1",
        TERM="xterm",
        COLUMNS="100",
        LINES="40",
        KUBECONFIG=str(kube.kubeconfig),
    )
    return pexpect.spawn(
        sys.executable,
        ["-m", "k8sclaw", "onboard"],
        env=env,
        encoding="utf-8",
        timeout=30,
        dimensions=(40, 100),
    )


def test_wizard_creates_objects_and_hides_the_key(kube: KubeEnv) -> None:
    child = _spawn(kube)
    screen = io.StringIO()
    child.logfile_read = screen  # everything the terminal showed
    try:
        child.expect("Instance name")
        child.send("\x15")  # clear the default (Ctrl-U), then type our own
        child.send("wiz" + ENTER)
        child.expect("Provider")
        child.send(ENTER)  # OpenAI, the first choice
        child.expect("Model")
        child.send(ENTER)  # default gpt-4o
        child.expect("OPENAI_API_KEY")
        child.send(SECRET + ENTER)
        child.expect("Channel")
        child.send(ENTER)  # Skip is the default
        child.expect("default policy")
        child.send(ENTER)
        child.expect("Proceed")
        child.send(ENTER)
        child.expect("Onboarding complete")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0, screen.getvalue()[-2000:]
    assert "wiz" in screen.getvalue()  # typed answers are echoed ...
    assert SECRET not in screen.getvalue()  # ... the key is not
    assert SECRET[:6] not in screen.getvalue()

    core = kubernetes.client.CoreV1Api(kube.api_client)
    secret = core.read_namespaced_secret("wiz-openai-key", kube.namespace)
    assert base64.b64decode(secret.data["OPENAI_API_KEY"]).decode() == SECRET
    api = kubernetes.client.CustomObjectsApi(kube.api_client)
    inst = api.get_namespaced_custom_object(
        names.GROUP, names.API_VERSION, kube.namespace, "clawinstances", "wiz"
    )
    assert inst["spec"]["agents"]["default"]["model"] == "gpt-4o"
    assert inst["spec"]["authRefs"] == [{"provider": "openai", "secret": "wiz-openai-key"}]
    assert inst["spec"]["policyRef"] == "default-policy"
