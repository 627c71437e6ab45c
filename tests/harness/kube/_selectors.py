"""Label and field selectors, parsed the way kube-apiserver parses them.

Label selectors support `=`, `==`, `!=`, `in`, `notin`, existence and `!` absence;
field selectors support `=`, `==` and `!=` on the fields a type declares (plus
`metadata.name` and `metadata.namespace`, which every type has).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.harness.kube import _errors

Predicate = Callable[[dict[str, Any]], bool]

_SET_RE = re.compile(r"^\s*(!?)([A-Za-z0-9_./-]+)\s*(?:(notin|in)\s*\(([^)]*)\))?\s*$")
_EQ_RE = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s*(==|=|!=)\s*([A-Za-z0-9_./-]*)\s*$")


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside `in (...)` parentheses."""
    terms, depth, current = [], 0, ""
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [t for t in terms if t.strip()]


def _label_term(term: str) -> Callable[[dict[str, str]], bool]:
    if match := _EQ_RE.match(term):
        key, op, value = match.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if match := _SET_RE.match(term):
        bang, key, op, values = match.groups()
        if op:
            allowed = {v.strip() for v in values.split(",") if v.strip()}
            if op == "in":
                return lambda labels: labels.get(key) in allowed
            return lambda labels: labels.get(key) not in allowed
        if bang:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    raise _errors.bad_request(f"unable to parse requirement: invalid label selector: {term!r}")


def label_selector(text: str | None) -> Predicate:
    """A predicate over objects for a `labelSelector` query parameter."""
    if not text:
        return lambda obj: True
    terms = [_label_term(t) for t in _split_terms(text)]

    def matches(obj: dict[str, Any]) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        return all(term(labels) for term in terms)

    return matches


def match_label_selector(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Evaluate a structured metav1.LabelSelector (matchLabels + matchExpressions)."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], set(expr.get("values") or [])
        present = key in labels
        ok = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }.get(op, False)
        if not ok:
            return False
    return True


def _field_value(obj: dict[str, Any], path: str) -> str:
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if node is None:
        return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def field_selector(text: str | None, supported: tuple[str, ...]) -> Predicate:
    """A predicate for a `fieldSelector`; unsupported fields are a 400 like the real server."""
    if not text:
        return lambda obj: True
    allowed = {"metadata.name", "metadata.namespace", *supported}
    checks: list[tuple[str, bool, str]] = []
    for term in _split_terms(text):
        match = _EQ_RE.match(term)
        if not match:
            raise _errors.bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
        path, op, value = match.groups()
        if path not in allowed:
            raise _errors.bad_request(f"field label not supported: {path}")
        checks.append((path, op != "!=", value))

    def matches(obj: dict[str, Any]) -> bool:
        return all((_field_value(obj, p) == v) == eq for p, eq, v in checks)

    return matches
