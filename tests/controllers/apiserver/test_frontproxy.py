"""Request-header authentication rules, as kube-apiserver's front proxy is trusted."""

from __future__ import annotations

import json

import pytest

from k8sclaw_controllers.apiserver._errors import ApiError
from k8sclaw_controllers.apiserver._frontproxy import FrontProxy

DATA = {
    "requestheader-client-ca-file": "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----",
    "requestheader-allowed-names": json.dumps(["front-proxy-client"]),
    "requestheader-username-headers": json.dumps(["X-Remote-User"]),
    "requestheader-group-headers": json.dumps(["X-Remote-Group"]),
    "requestheader-extra-headers-prefix": json.dumps(["X-Remote-Extra-"]),
}


def test_the_forwarded_user_groups_and_extra_are_read() -> None:
    proxy = FrontProxy.from_configmap(DATA)
    assert proxy is not None
    caller = proxy.identify(
        "front-proxy-client",
        [
            ("x-remote-user", "carol"),
            ("x-remote-group", "devs"),
            ("x-remote-group", "system:authenticated"),
            ("x-remote-extra-scopes%2fread", "a"),
        ],
    )
    assert caller.username == "carol"
    assert caller.groups == ("devs", "system:authenticated")
    assert caller.extra == (("scopes/read", ("a",)),)


def test_a_certificate_name_outside_the_allowed_names_is_refused() -> None:
    proxy = FrontProxy.from_configmap(DATA)
    assert proxy is not None
    with pytest.raises(ApiError) as refused:
        proxy.identify("someone-else", [("x-remote-user", "kubernetes-admin")])
    assert refused.value.code == 401


def test_no_user_header_is_refused_and_no_ca_disables_the_proxy() -> None:
    proxy = FrontProxy.from_configmap(DATA)
    assert proxy is not None
    with pytest.raises(ApiError):
        proxy.identify("front-proxy-client", [("x-remote-group", "system:masters")])
    assert FrontProxy.from_configmap({}) is None
    empty_names = FrontProxy.from_configmap({**DATA, "requestheader-allowed-names": "[]"})
    assert empty_names is not None  # empty list: any certificate from the CA may proxy
    assert empty_names.identify("anyone", [("x-remote-user", "u")]).username == "u"
