"""`k8sclaw onboard` opts its namespace in (issue #13 item 8): the tenant label on the
namespace and the RoleBinding that grants the controller its write role there."""

from __future__ import annotations

import kubernetes
from click.testing import CliRunner

from k8sclaw.cli import cli
from k8sclaw_protocol import names
from tests.harness.kube import KubeEnv


def test_onboarding_labels_the_namespace_and_binds_the_controller(kube: KubeEnv) -> None:
    args = ["onboard", "--non-interactive", "--kubeconfig", str(kube.kubeconfig)]
    result = CliRunner().invoke(cli, [*args, "--instance", "alice", "--provider", "ollama"])
    assert result.exit_code == 0, result.stderr
    assert (
        f"rolebinding/{names.CONTROLLER_TENANT_BINDING} -n {kube.namespace}"
        in result.stdout + result.stderr
    )
    ns = kubernetes.client.CoreV1Api(kube.api_client).read_namespace(kube.namespace)
    assert ns.metadata.labels[names.LABEL_TENANT] == names.TENANT_LABEL_VALUE
    rbac = kubernetes.client.RbacAuthorizationV1Api(kube.api_client)
    binding = rbac.read_namespaced_role_binding(names.CONTROLLER_TENANT_BINDING, kube.namespace)
    assert (binding.role_ref.kind, binding.role_ref.name) == (
        "ClusterRole",
        names.CONTROLLER_TENANT_ROLE,
    )
    assert [(s.kind, s.name, s.namespace) for s in binding.subjects] == [
        ("ServiceAccount", names.CONTROLLER_SERVICE_ACCOUNT, names.SYSTEM_NAMESPACE)
    ]
    again = CliRunner().invoke(cli, [*args, "--instance", "alice", "--provider", "ollama"])
    assert again.exit_code == 0, again.stderr  # re-running onboarding keeps working
