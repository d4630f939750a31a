"""Guards against known defects of the installed Qt binding, checked once at app start-up.

PySide6 6.12.0 on CPython < 3.12 returns ``None`` from every void Qt method (``QPainter.setPen``,
``QWidget.update``, ...) without taking a reference to it. On 3.12+ ``None`` is immortal and nothing
happens; on 3.11 each call steals one reference, and after a few thousand calls (a few seconds of
painting) the interpreter aborts with "none_dealloc: deallocating None". pyproject.toml excludes that
release; this module detects the defect if it is installed anyway, and keeps the app alive by giving
``None`` a practically infinite reference count (what 3.12 does by design), with a warning that says
which package to change.
"""

from __future__ import annotations

import ctypes
import logging
import sys
import warnings

log = logging.getLogger(__name__)

_PINNED = False


def none_refcount_leak(calls: int = 64) -> int:
    """References to ``None`` lost per ``calls`` void Qt calls (0 for a healthy binding)."""
    from PySide6.QtCore import QPoint

    p = QPoint()
    before = sys.getrefcount(None)
    for _ in range(calls):
        p.setX(1)
    return before - sys.getrefcount(None)


def guard_none_refcount() -> bool:
    """Detect the PySide6 ``None`` reference leak and neutralise it; returns whether it was found."""
    global _PINNED
    if sys.version_info >= (3, 12):
        return False  # None is immortal
    leak = none_refcount_leak()
    if leak <= 0:
        return False
    if not _PINNED:
        # ob_refcnt is the first field of every object in release builds of CPython
        ctypes.c_ssize_t.from_address(id(None)).value += 1 << 48
        _PINNED = True
        import PySide6

        warnings.warn(
            f"PySide6 {PySide6.__version__} leaks references to None on Python "
            f"{sys.version_info.major}.{sys.version_info.minor}; gazesam worked around it, but install "
            "PySide6-Essentials<6.12 (pip install 'PySide6-Essentials<6.12') or use Python 3.12+",
            RuntimeWarning, stacklevel=2,
        )
    return True
