"""What every handler needs: the cluster client, the reviewers, the stream hub, the store.

Kept on `app.state.deps`; handlers get the caller through `caller`, a FastAPI dependency
that authenticates the request (the security scheme shows in the OpenAPI document).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from k8sclaw_controllers.apiserver._auth import Access, Authenticator, Authorizer, Caller
from k8sclaw_controllers.manager import _kube

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"
_LABEL = re.compile(DNS_LABEL)


@dataclass
class Deps:
    kube: _kube.Kube
    authn: Authenticator
    authz: Authorizer
    hub: Any = None  # _stream.Hub when a bus is configured
    transcripts: Any = None  # the transcript store
    front_proxy: Any = None  # _frontproxy.FrontProxy when the aggregated API is served
    tasks: list[asyncio.Task[None]] = field(default_factory=list)  # hub, recorder

    async def visible_namespaces(self, caller: Caller, verb: str, plural: str) -> set[str] | None:
        """Namespaces where `caller` may `verb` `plural`; None when allowed cluster-wide."""
        if await self.authz.allowed(caller, Access(verb, plural)):
            return None
        listing = await self.kube.get("/api/v1/namespaces")
        names = [str(ns["metadata"]["name"]) for ns in listing.get("items") or []]
        answers = await asyncio.gather(
            *(self.authz.allowed(caller, Access(verb, plural, namespace=n)) for n in names)
        )
        return {name for name, ok in zip(names, answers, strict=True) if ok}


def deps(request: Request) -> Deps:
    found: Deps = request.app.state.deps
    return found


_bearer = HTTPBearer(auto_error=False, description="A Kubernetes token or the static admin token")


async def caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    header = f"Bearer {credentials.credentials}" if credentials else None
    return await deps(request).authn.authenticate(header)


CallerDep = Annotated[Caller, Depends(caller)]
DepsDep = Annotated[Deps, Depends(deps)]


def valid_label(value: str) -> bool:
    return bool(_LABEL.match(value))
