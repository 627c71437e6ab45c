"""File tools confined to the pod's mounts: read_file, write_file, list_directory.

The model sees pod paths (`/workspace/x`, `/tmp/x`, `/skills/x`; relative paths are
under `/workspace`); each is mapped to the local mount and opened beneath it through
`safefs`, one component at a time with no symlink followed (issue #13 item 4: a
resolve-then-open check lost the race against a directory/symlink swap loop in the
workspace and leaked `/proc/self/environ`). `..` is resolved lexically and may not climb
above the mount. Opens never block (a FIFO is refused, not waited on), reads are capped
in bytes before decoding and listings in entries.

`/skills` is the one exception to "no symlinks": Kubernetes projects ConfigMaps as
symlinks into `..data/`. Nobody in the pod can write there (read-only mount), so the
path is resolved first, must stay inside, and the resolved path is then opened without
following anything.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from k8sclaw_protocol import safefs
from k8sclaw_sidecar._settings import PodPaths

READ_ROOTS = ("/workspace", "/tmp", "/skills")
WRITE_ROOTS = ("/workspace", "/tmp")
READ_ONLY_MOUNTS = frozenset({"/skills"})
READ_CAP = 100_000
"""Bytes read_file returns at most (read that far and no further, then decoded)."""
LIST_CAP = 1_000
"""Entries list_directory reports at most."""
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC


class ToolError(Exception):
    """A tool call that cannot be carried out; the message goes back to the model."""


def _mount_of(requested: str, roots: tuple[str, ...]) -> tuple[str, str]:
    if not requested:
        raise ToolError("path is required")
    for root in roots:
        if requested == root or requested.startswith(root + "/"):
            return root, requested[len(root) :]
    if requested.startswith("/"):
        raise ToolError(f"{requested} is outside the allowed roots {', '.join(roots)}")
    return "/workspace", requested


def locate(paths: PodPaths, requested: str, roots: tuple[str, ...]) -> tuple[Path, str]:
    """The local mount directory and the clean relative path below it, or ToolError."""
    mount, rest = _mount_of(requested, roots)
    base = paths.local(mount)
    try:
        relative = "/".join(safefs.split(rest))
    except safefs.UnsafePathError as exc:
        raise ToolError(f"{requested} escapes {mount}") from exc
    if mount in READ_ONLY_MOUNTS and relative:
        real_base = base.resolve()
        target = (real_base / relative).resolve()
        if target != real_base and real_base not in target.parents:
            raise ToolError(f"{requested} escapes {mount}")
        return real_base, str(target.relative_to(real_base))
    return base, relative


def _open(paths: PodPaths, requested: str, roots: tuple[str, ...], flags: int) -> int:
    base, relative = locate(paths, requested, roots)
    try:
        return safefs.open_beneath(base, relative, flags)
    except FileNotFoundError as exc:
        raise ToolError(f"{requested} does not exist") from exc
    except safefs.UnsafePathError as exc:
        raise ToolError(f"{requested}: refused, {exc.strerror}") from exc
    except OSError as exc:
        raise ToolError(f"{requested}: {exc.strerror or 'cannot open'}") from exc


def read_file(paths: PodPaths, path: str) -> str:
    with safefs.opened(_open(paths, path, READ_ROOTS, os.O_RDONLY)) as fd:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise ToolError(f"{path} is a directory; use list_directory")
        if not stat.S_ISREG(st.st_mode):
            raise ToolError(f"{path} is not a regular file")
        try:
            data, more = safefs.read_fd(fd, READ_CAP)
        except OSError as exc:
            raise ToolError(f"{path}: {exc.strerror or 'cannot read'}") from exc
    text = data.decode("utf-8", errors="replace")
    if more:
        return text + f"\n... (truncated at {READ_CAP} bytes)"
    return text


def write_file(paths: PodPaths, path: str, content: str) -> str:
    base, relative = locate(paths, path, WRITE_ROOTS)
    parent, _, name = relative.rpartition("/")
    if not name:
        raise ToolError(f"{path} names a directory, not a file")
    try:
        with (
            safefs.opened(safefs.make_dirs(base, parent)) as dirfd,
            safefs.opened(safefs.open_beneath(dirfd, name, _WRITE_FLAGS, 0o644)) as fd,
        ):
            safefs.require_regular(fd, path)
            view = memoryview(content.encode())
            while view:
                view = view[os.write(fd, view) :]
    except FileNotFoundError as exc:
        raise ToolError(f"{path}: a parent directory vanished") from exc
    except OSError as exc:
        raise ToolError(f"{path}: refused, {exc.strerror or 'cannot write'}") from exc
    return f"wrote {len(content)} characters to {path}"


def _describe(entry: os.DirEntry[str]) -> str:
    st = entry.stat(follow_symlinks=False)
    if stat.S_ISDIR(st.st_mode):
        return f"dir  {0:>10} {entry.name}"
    if stat.S_ISLNK(st.st_mode):
        return f"link {0:>10} {entry.name}"
    if stat.S_ISREG(st.st_mode):
        return f"file {st.st_size:>10} {entry.name}"
    return f"other{0:>10} {entry.name}"


def list_directory(paths: PodPaths, path: str) -> str:
    flags = os.O_RDONLY | os.O_DIRECTORY
    lines: list[str] = []
    more = False
    try:
        with (
            safefs.opened(_open(paths, path or "/workspace", READ_ROOTS, flags)) as fd,
            os.scandir(fd) as entries,
        ):
            for entry in entries:
                if entry.name.startswith(".."):
                    continue  # ConfigMap projection internals
                if len(lines) >= LIST_CAP:
                    more = True
                    break
                try:
                    lines.append(_describe(entry))
                except OSError:
                    continue  # removed while listing
    except OSError as exc:
        raise ToolError(f"{path}: {exc.strerror or 'cannot list'}") from exc
    lines.sort(key=lambda line: line.split(None, 2)[-1])
    if more:
        lines.append(f"... (listing stopped at {LIST_CAP} entries)")
    return "\n".join(lines) or "(empty directory)"
