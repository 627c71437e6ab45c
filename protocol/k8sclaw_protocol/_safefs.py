"""Opening files beneath a trusted directory without ever following a symlink.

Everything under `/ipc`, `/workspace` and `/tmp` of an agent pod is written by someone
we do not trust, and it can change between any two system calls: a check-then-open
(`resolve()`, then `open()`) loses the race against a loop that swaps a directory for a
symlink (issue #13 item 4). So every component is opened relative to the file
descriptor of its parent with no symlink followed at any step: one
`openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` call where the kernel has it (5.6+),
otherwise a walk of `openat(O_NOFOLLOW | O_DIRECTORY)` calls from the root's descriptor.
Opens are non-blocking (a FIFO must not hang the reader) and readers check with
`fstat` that they hold a regular file before reading, capped in bytes.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Final

_SYS_OPENAT2: Final = 437  # the same number on every Linux architecture (unified table)
_RESOLVE_NO_SYMLINKS: Final = 0x04
_RESOLVE_BENEATH: Final = 0x08
_BASE_FLAGS: Final = os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK | os.O_NOFOLLOW
_DIR_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | _BASE_FLAGS


class UnsafePathError(OSError):
    """The path cannot be opened safely: `..` above the root, a symlink, a special file."""


class _OpenHow(ctypes.Structure):
    _fields_ = (
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    )


class _Openat2:
    """The raw `openat2` syscall through libc's `syscall()`; disabled after ENOSYS/EPERM
    (old kernels, seccomp profiles that do not list it)."""

    def __init__(self) -> None:
        self.available = os.uname().sysname == "Linux"
        self._syscall = None
        if self.available:
            try:
                self._syscall = ctypes.CDLL(None, use_errno=True).syscall
            except (OSError, AttributeError):
                self.available = False

    def __call__(self, dirfd: int, relative: str, flags: int, mode: int) -> int | None:
        """The new descriptor, or None when the syscall is unusable here."""
        if not self.available or self._syscall is None:
            return None
        if not flags & os.O_CREAT:
            mode = 0  # openat2 refuses a mode it would not use (EINVAL)
        how = _OpenHow(flags, mode, _RESOLVE_BENEATH | _RESOLVE_NO_SYMLINKS)
        fd = self._syscall(
            ctypes.c_long(_SYS_OPENAT2),
            ctypes.c_long(dirfd),
            ctypes.c_char_p(os.fsencode(relative)),
            ctypes.byref(how),
            ctypes.c_size_t(ctypes.sizeof(how)),
        )
        if fd >= 0:
            return int(fd)
        err = ctypes.get_errno()
        if err in (errno.ENOSYS, errno.EPERM):
            self.available = False
            return None
        raise _explain(err, relative)


_openat2 = _Openat2()


def _explain(err: int, relative: str) -> OSError:
    if err in (errno.ELOOP, errno.EXDEV):
        return UnsafePathError(err, f"{relative}: a symlink is in the way (not followed)")
    return OSError(err, os.strerror(err), relative)


def split(relative: str) -> list[str]:
    """Components of a path below a root, `.` and `..` resolved lexically (never through
    a symlink); `..` may not climb above the root (UnsafePathError)."""
    parts: list[str] = []
    for part in relative.split("/"):
        if part in ("", "."):
            continue
        if part != "..":
            parts.append(part)
        elif parts:
            parts.pop()
        else:
            raise UnsafePathError(errno.EXDEV, f"{relative}: climbs above its root")
    return parts


def _walk(dirfd: int, parts: list[str], flags: int, mode: int, make_parents: bool) -> int:
    """The portable fallback: one `openat(O_NOFOLLOW)` per component."""
    fd = os.dup(dirfd)
    try:
        for part in parts[:-1]:
            try:
                nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not make_parents:
                    raise
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o750, dir_fd=fd)
                nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nxt
        return os.open(parts[-1] if parts else ".", flags, mode, dir_fd=fd)
    except OSError as exc:
        raise _explain(exc.errno or errno.EIO, "/".join(parts)) from exc
    finally:
        os.close(fd)


def open_beneath(
    root: Path | int, relative: str, flags: int = os.O_RDONLY, mode: int = 0o640
) -> int:
    """A descriptor for `relative` under `root`, no symlink followed at any component.

    `root` itself is trusted (a mount point or a descriptor for one). Always adds
    O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY.
    """
    parts = split(relative)
    flags |= _BASE_FLAGS
    rootfd = root if isinstance(root, int) else os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fd = _openat2(rootfd, "/".join(parts) or ".", flags, mode)
        return fd if fd is not None else _walk(rootfd, parts, flags, mode, False)
    finally:
        if not isinstance(root, int):
            os.close(rootfd)


def make_dirs(root: Path | int, relative: str) -> int:
    """Open (creating as needed) the directory `relative` under `root`; no symlinks."""
    parts = split(relative)
    rootfd = root if isinstance(root, int) else os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return _walk(rootfd, [*parts, "."], _DIR_FLAGS, 0, True)
    finally:
        if not isinstance(root, int):
            os.close(rootfd)


def require_regular(fd: int, what: str) -> os.stat_result:
    """`fstat` the descriptor; UnsafePathError unless it is a regular file."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise UnsafePathError(errno.EINVAL, f"{what} is {kind}")
    return st


def read_fd(fd: int, cap: int) -> tuple[bytes, bool]:
    """At most `cap` bytes from the descriptor; True when there was more."""
    chunks: list[bytes] = []
    size = 0
    while size <= cap:
        try:
            chunk = os.read(fd, min(1 << 16, cap + 1 - size))
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    data = b"".join(chunks)
    return data[:cap], len(data) > cap


def read_regular(root: Path | int, relative: str, cap: int) -> tuple[bytes, bool]:
    """Read a regular file beneath `root` (capped); raises OSError for anything else."""
    fd = open_beneath(root, relative)
    try:
        require_regular(fd, relative)
        return read_fd(fd, cap)
    finally:
        os.close(fd)


@contextlib.contextmanager
def opened(fd: int) -> Iterator[int]:
    """Close `fd` when the block ends."""
    try:
        yield fd
    finally:
        os.close(fd)
