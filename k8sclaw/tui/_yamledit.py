"""`e`: edit an object's YAML in $EDITOR and replace it on the server, as `kubectl edit`.

The YAML opened is the object as the watch last saw it, resourceVersion included, and it
is written back with a PUT: when someone changed the object meanwhile the API server
answers 409 and the user is told so (their edit is kept in its file) instead of
silently overwriting the other change. Secrets are never in these objects (only Secret
names), so nothing is masked here — a masked value would be written back.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import yaml

from k8sclaw.kube import ConflictError, Kube, resource_type
from k8sclaw_protocol import names

Suspend = Callable[[], AbstractContextManager[None]]


class EditError(Exception):
    """The edit cannot be applied; the message says why and what to do."""


def editor_command() -> list[str]:
    """$VISUAL, else $EDITOR, else vi (kubectl's order), split as a shell would."""
    return shlex.split(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi")


def editable(obj: Any) -> str:
    """The object's YAML for editing: as the API shows it, without managedFields."""
    data = dict(obj.to_wire())
    data.get("metadata", {}).pop("managedFields", None)
    header = (
        f"# Edit {data.get('kind')} {data['metadata']['name']}; save and quit to apply it.\n"
        "# An unchanged file cancels. It is applied only if nobody changed it meanwhile.\n"
    )
    return header + yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def run_editor(text: str, suspend: Suspend) -> tuple[Path, str] | None:
    """Open `text` in the editor (the UI suspended while it runs); the file and its new
    text, or None when nothing changed (the file is then removed)."""
    handle, name = tempfile.mkstemp(prefix="k8sclaw-edit-", suffix=".yaml")
    path = Path(name)
    with os.fdopen(handle, "w") as out:
        out.write(text)
    command = [*editor_command(), str(path)]
    try:
        code = _call(command, suspend)
    except FileNotFoundError as exc:
        path.unlink()
        raise EditError(f"editor {command[0]!r} not found: set $EDITOR") from exc
    edited = path.read_text()
    if code != 0:
        path.unlink()
        raise EditError(f"editor {command[0]!r} exited {code}; nothing applied")
    if edited == text:
        path.unlink()
        return None
    return path, edited


def _call(command: list[str], suspend: Suspend) -> int:
    from textual.app import SuspendNotSupported

    try:
        with suspend():
            return subprocess.call(command)
    except SuspendNotSupported:  # no terminal to hand over (tests, textual-web)
        return subprocess.call(command, stdin=subprocess.DEVNULL)


def parse(path: Path, text: str) -> dict[str, Any]:
    """The edited object; EditError naming the line when it is not a YAML mapping."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not YAML"
        text = f"{path}{where}: {problem}; nothing applied (your edit is kept there)"
        raise EditError(text) from exc
    if not isinstance(data, dict) or not isinstance(data.get("metadata"), dict):
        raise EditError(f"{path}: not a Kubernetes object (no metadata); nothing applied")
    return data


def apply(kube: Kube, original: Any, path: Path, edited: dict[str, Any]) -> str:
    """PUT the edited object (its resourceVersion guards against lost updates); the line
    to show. The edit file is removed once applied and kept when refused."""
    kind, name, ns = original.info.kind, original.name, original.namespace
    rtype = resource_type(names.GROUP_VERSION, kind)
    try:
        kube.request("PUT", rtype.item(name, ns), what=f"{kind} {name}", custom=True, body=edited)
    except ConflictError as exc:
        raise EditError(
            f"{kind} {name} changed since you opened it; nothing applied. Press e to edit "
            f"the current version (your edit is kept in {path})"
        ) from exc
    except Exception as exc:
        raise EditError(f"{exc}; nothing applied (your edit is kept in {path})") from exc
    path.unlink()
    return f"edited {kind} {name}"
