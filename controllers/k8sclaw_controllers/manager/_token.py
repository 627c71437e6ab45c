"""A bearer token read from a file that is rewritten under us: the projected ServiceAccount
token (rotated about hourly on managed clusters) or a kubeconfig user's `tokenFile`.

Why not read it once: after rotation every request answers 401, and the fail-closed webhook
then refuses every AgentRun. `header()` is called per request and costs one `stat`: the file
is re-read only when its identity (device, inode, size, mtime) changed; the kubelet swaps a
projected token by renaming a symlinked directory, so the inode always changes. `reload()`
re-reads unconditionally, for the request that came back 401 (a rewrite within the
filesystem's mtime granularity, or a token revoked before its file changed).
"""

from __future__ import annotations

import os

MAX_TOKEN_BYTES = 64 * 1024  # a JWT is ~1 KB; a bigger "token" is not one
_Identity = tuple[int, int, int, int]


class TokenError(ValueError):
    """The token file is missing, too big, or holds something that is not a bearer token."""


def _check(token: bytes, path: str) -> str:
    """The token as header-safe text: visible ASCII only, so a file can never smuggle a
    CR/LF (a header injection) or bytes the API server would reject anyway."""
    if not token:
        raise TokenError(f"token file {path} is empty")
    if len(token) > MAX_TOKEN_BYTES:
        raise TokenError(f"token file {path} is over {MAX_TOKEN_BYTES} bytes")
    if any(byte < 0x21 or byte > 0x7E for byte in token):
        raise TokenError(f"token file {path} holds characters a bearer token cannot have")
    return token.decode("ascii")


class TokenFile:
    """`header()`: the current `Bearer <token>` of `path`, re-read when the file changes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._identity: _Identity | None = None
        self._header = ""
        self.reload()

    def header(self) -> str:
        """The Authorization value; a changed file is re-read first. While the file cannot
        be read (mid-rotation), the last good token is kept: the next request tries again."""
        try:
            stat = os.stat(self.path)
        except OSError:
            return self._header
        if (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns) != self._identity:
            try:
                self.reload()
            except (OSError, TokenError):
                return self._header
        return self._header

    def reload(self) -> bool:
        """Re-read the file now; True if the token differs from the one held before.

        Raises OSError or TokenError when the file cannot give a token (first read only
        matters: callers of `header()` keep the previous one)."""
        with open(self.path, "rb") as file:
            stat = os.fstat(file.fileno())
            token = _check(file.read(MAX_TOKEN_BYTES + 1).strip(), self.path)
        header = f"Bearer {token}"
        changed = header != self._header
        self._identity = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
        self._header = header
        return changed
