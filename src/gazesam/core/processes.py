"""Is the process that holds something (a session, a store write) still running? Used to tell a live
owner from one that was killed, so its leftovers can be cleaned or recovered."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def process_start(pid: int) -> str | None:
    """Process start time (Linux), so a recycled pid is not mistaken for the original owner."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def pid_alive(pid: int, start: str | None = None) -> bool:
    """Whether process ``pid`` runs on this machine; with ``start`` (its :func:`process_start`), whether it
    is still that process and not a later one given the same pid."""
    if pid <= 0:
        return False
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)
        if not handle:
            return False
        code = ctypes.c_ulong()
        ctypes.windll.kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        ctypes.windll.kernel32.CloseHandle(handle)
        return code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if start is not None:
        now = process_start(pid)
        return now is None or now == start
    return True
