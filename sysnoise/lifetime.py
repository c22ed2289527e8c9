"""Worker processes that end with their parent: after a kill -9 of the main process nothing else
would end them, and each holds a decoder's memory."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent_pid: int | None = None) -> None:
    """Make this process exit when `parent_pid` (default: the current parent) goes away.

    On Linux the kernel sends SIGKILL when the parent dies (prctl PR_SET_PDEATHSIG); elsewhere a
    daemon thread checks once a second. A parent that died before this call ends the process now.
    """
    parent_pid = os.getppid() if parent_pid is None else parent_pid
    if sys.platform.startswith("linux") and _set_death_signal():
        if os.getppid() != parent_pid:  # the parent died before the request took effect
            os._exit(1)
        return
    threading.Thread(target=_exit_when_gone, args=(parent_pid,), daemon=True).start()


def _set_death_signal() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _exit_when_gone(parent_pid: int) -> None:
    while True:
        time.sleep(1.0)
        if os.getppid() != parent_pid:
            os._exit(1)
