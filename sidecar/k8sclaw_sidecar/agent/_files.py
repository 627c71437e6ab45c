"""File tools confined to the pod's mounts: read_file, write_file, list_directory.

The model sees pod paths (`/workspace/x`, `/tmp/x`, `/skills/x`; relative paths are
under `/workspace`); each is mapped to the local mount and resolved with symlinks
followed, then must still lie inside an allowed root — so `..` and symlinks cannot
escape.
"""

from __future__ import annotations

from pathlib import Path

from k8sclaw_sidecar._settings import PodPaths

READ_ROOTS = ("/workspace", "/tmp", "/skills")
WRITE_ROOTS = ("/workspace", "/tmp")
READ_CAP = 100_000


class ToolError(Exception):
    """A tool call that cannot be carried out; the message goes back to the model."""


def confine(paths: PodPaths, requested: str, roots: tuple[str, ...]) -> Path:
    """Map a model-visible path into a local path under one of `roots`, or raise."""
    if not requested:
        raise ToolError("path is required")
    mount, rest = "/workspace", requested
    for root in roots:
        if requested == root or requested.startswith(root + "/"):
            mount, rest = root, requested[len(root) :]
            break
    else:
        if requested.startswith("/"):
            raise ToolError(f"{requested} is outside the allowed roots {', '.join(roots)}")
    base = paths.local(mount).resolve()
    target = (base / rest.lstrip("/")).resolve()
    if target != base and base not in target.parents:
        raise ToolError(f"{requested} escapes {mount}")
    return target


def read_file(paths: PodPaths, path: str) -> str:
    target = confine(paths, path, READ_ROOTS)
    try:
        text = target.read_text(errors="replace")
    except FileNotFoundError as exc:
        raise ToolError(f"{path} does not exist") from exc
    except IsADirectoryError as exc:
        raise ToolError(f"{path} is a directory; use list_directory") from exc
    if len(text) > READ_CAP:
        return text[:READ_CAP] + f"\n... (truncated at {READ_CAP} characters)"
    return text


def write_file(paths: PodPaths, path: str, content: str) -> str:
    target = confine(paths, path, WRITE_ROOTS)
    target.parent.mkdir(parents=True, exist_ok=True)
    written = target.write_text(content)
    return f"wrote {written} characters to {path}"


def list_directory(paths: PodPaths, path: str) -> str:
    target = confine(paths, path or "/workspace", READ_ROOTS)
    if not target.is_dir():
        raise ToolError(f"{path} is not a directory")
    lines = []
    for entry in sorted(target.iterdir()):
        if entry.name.startswith(".."):
            continue  # ConfigMap projection internals
        kind = "dir " if entry.is_dir() else "file"
        size = entry.stat().st_size if entry.is_file() else 0
        lines.append(f"{kind} {size:>10} {entry.name}")
    return "\n".join(lines) or "(empty directory)"
