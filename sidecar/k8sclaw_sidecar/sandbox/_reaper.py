"""The per-command reaper: runs one command and makes sure nothing of it outlives it.

`python -m k8sclaw_sidecar.sandbox._reaper <timeout> <argv...>` marks itself a child
subreaper (`prctl(PR_SET_CHILD_SUBREAPER)`), starts the command in a session of its own
and waits for it up to the timeout. Then, timed out or not, it kills every process
below itself: the command's process group, and every process that escaped it with
`setsid`/double fork, which the kernel re-parents to the nearest subreaper - this one
(issue #13 item 9: `setsid sh -c 'sleep infinity' &` outlived the timeout and kept the
pod alive). Killing its children re-parents their children to it in turn, so it
repeats until it has none. One reaper per command keeps concurrent commands apart.

Exit status: the command's (128+n for a signal), or death by SIGALRM after a timeout,
which the executor reads as "timed out".
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Final

_PR_SET_CHILD_SUBREAPER: Final = 36
_MAX_ROUNDS: Final = 2000
TIMEOUT_SIGNAL: Final = signal.SIGALRM


def become_subreaper() -> bool:
    """Orphans below this process are re-parented to it (Linux 3.4+); False elsewhere."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def children(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is `pid`, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] != b"Z":
            found.append(int(entry.name))
    return found


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def kill_descendants() -> None:
    """SIGKILL every process below this one until none is left (bounded rounds)."""
    me = os.getpid()
    for _ in range(_MAX_ROUNDS):
        kids = children(me)
        _reap()
        if not kids:
            return
        for pid in kids:
            with contextlib.suppress(OSError):
                os.killpg(os.getpgid(pid), signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.005)


def _on_term(signum: int, _frame: object) -> None:
    """The executor is stopping: take the command's whole tree down with us."""
    kill_descendants()
    os._exit(128 + signum)


def main(argv: list[str]) -> int:
    timeout, command = float(argv[0]), argv[1:]
    become_subreaper()
    signal.signal(signal.SIGTERM, _on_term)
    try:
        child = subprocess.Popen(command, start_new_session=True)
    except OSError as exc:
        print(f"cannot start command: {exc}", file=sys.stderr)
        return 127
    timed_out = False
    try:
        code = child.wait(timeout)
    except subprocess.TimeoutExpired:
        timed_out, code = True, 124
    kill_descendants()
    if timed_out:
        signal.signal(TIMEOUT_SIGNAL, signal.SIG_DFL)
        os.kill(os.getpid(), TIMEOUT_SIGNAL)
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
