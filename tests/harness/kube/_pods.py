"""Pod subresources served beside the generic verbs: `binding` and `log`.

`pods/binding` assigns a node (what a scheduler does; the process kubelet uses it).
`pods/log` is proxied, like kube-apiserver does, to the kubelet of the pod's node at the
first of the Node's addresses in `--kubelet-preferred-address-types` order (Hostname,
InternalDNS, InternalIP, ExternalDNS, ExternalIP; a name that does not resolve is a 500,
as there) and `daemonEndpoints.kubeletEndpoint.Port` (HTTPS, `/containerLogs/`, the
certificate unverified as kube-apiserver's default), so the same kubelet serves logs
behind the emulator and behind a real API server.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.harness.kube import _errors
from tests.harness.kube._cluster import Cluster
from tests.harness.kube._http import Reply, Target, json_response
from tests.harness.kube._server import Request, StreamResponse

PREFERRED_ADDRESS_TYPES = ("Hostname", "InternalDNS", "InternalIP", "ExternalDNS", "ExternalIP")


class PodSubresources:
    """Handlers for `pods/binding` and `pods/log`."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def handlers(self) -> dict[str, Any]:
        return {"binding": self.binding, "log": self.log}

    async def binding(self, request: Request, target: Target) -> Reply:
        if request.method != "POST":
            raise _errors.method_not_allowed()
        body = await request.json()
        node = (body.get("target") or {}).get("name")
        ns, name = target.namespace or "", target.name or ""
        pod = self.cluster.read(target.rtype, ns, name)
        if not node:
            raise _errors.invalid("", "Binding", name, [("target.name", "Required value")])
        if pod["spec"].get("nodeName"):
            why = f'pod {name} is already assigned to node "{pod["spec"]["nodeName"]}"'
            raise _errors.conflict("", "pods/binding", name, why)
        pod["spec"]["nodeName"] = node
        self.cluster.store.write(target.rtype.key, pod)
        status = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "code": 201,
        }
        return json_response(status, 201)

    def _container(self, pod: dict[str, Any], wanted: str | None) -> str:
        names: list[str] = [c["name"] for c in pod["spec"].get("containers", [])]
        every = [c["name"] for c in pod["spec"].get("initContainers", [])] + names
        name = pod["metadata"]["name"]
        if wanted is None:
            if len(names) != 1:
                choices = " ".join(names)
                raise _errors.bad_request(
                    f"a container name must be specified for pod {name}, choose one of: [{choices}]"
                )
            return names[0]
        if wanted not in every:
            raise _errors.bad_request(f"container {wanted} is not valid for pod {name}")
        return wanted

    def _kubelet_url(self, pod: dict[str, Any], container: str) -> str:
        name, node_name = pod["metadata"]["name"], pod["spec"].get("nodeName")
        waiting = f'container "{container}" in pod "{name}" is waiting to start: ContainerCreating'
        if not node_name:
            raise _errors.bad_request(waiting)
        nodes = self.cluster.registry.find("", "v1", "nodes")
        assert nodes is not None
        node = self.cluster.find(nodes, "", node_name)
        status = (node or {}).get("status", {})
        addresses = {a.get("type"): a.get("address") for a in status.get("addresses", [])}
        address = next((addresses[t] for t in PREFERRED_ADDRESS_TYPES if addresses.get(t)), None)
        port = status.get("daemonEndpoints", {}).get("kubeletEndpoint", {}).get("Port")
        if address is None or port is None:
            raise _errors.bad_request(waiting)
        ns = pod["metadata"]["namespace"]
        return f"https://{address}:{port}/containerLogs/{ns}/{name}/{container}"

    async def log(self, request: Request, target: Target) -> Reply:
        if request.method != "GET":
            raise _errors.method_not_allowed()
        pod = self.cluster.peek(target.rtype, target.namespace or "", target.name or "")
        url = self._kubelet_url(pod, self._container(pod, request.query.get("container")))
        params = {
            k: v
            for k, v in request.query.items()
            if k in ("follow", "tailLines", "timestamps", "previous", "limitBytes", "sinceSeconds")
        }
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            try:
                upstream = await session.get(url, params=params, ssl=False)
            except aiohttp.ClientConnectorDNSError as exc:
                host = url.split("/")[2].rsplit(":", 1)[0]
                why = f"dial tcp: lookup {host}: no such host"
                raise _errors.internal(f'Get "{url}": {why}') from exc
            except aiohttp.ClientError as exc:
                raise _errors.internal(f'Get "{url}": {exc}') from exc
            async with upstream:
                if upstream.status != 200:
                    raise _errors.bad_request((await upstream.text()).strip())
                response = StreamResponse(headers={"Content-Type": "text/plain"})
                await response.prepare(request)
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
                await response.write_eof()
                return response
