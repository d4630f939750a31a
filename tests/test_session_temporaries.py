"""A save killed mid-way (SIGKILL, power) leaves its temporary file; the next save removes it.

Found by the SIGKILL harness (tests/test_app_kill.py, seed 3): ``masks/.tmp-<pid>-<tid>-label-005-label-5.png``
stayed in the session folder for good, passing for part of the session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from gazesam.session import DocumentRef, Session


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_the_next_save_removes_temporaries_of_a_dead_writer_only(tmp_path: Path) -> None:
    img = np.zeros((32, 48, 3), np.uint8)
    (tmp_path / "img.png").write_bytes(b"")  # the path only names the document here
    s = Session(DocumentRef.for_image(tmp_path / "img.png", img), session_dir=tmp_path / "s")
    s.save()
    root = tmp_path / "s"
    dead = _dead_pid()
    stale = [root / f".tmp-{dead}-1-session.json", root / "masks" / f".tmp-{dead}-2-label-001-object.png"]
    for p in stale:
        p.write_bytes(b"partial")
    ours = root / f".tmp-{os.getpid()}-3-labels.png"  # a live writer's (this process): not touched
    ours.write_bytes(b"in flight")
    outside = tmp_path / "precious.png"
    outside.write_bytes(b"keep")
    link = root / "masks" / f".tmp-{dead}-4-label-002-x.png"
    link.symlink_to(outside)  # a link is never followed, and left alone
    m = np.zeros((32, 48), bool)
    m[4:10, 4:10] = True
    s.accept(m)
    s.save()
    assert not any(p.exists() for p in stale)
    assert ours.read_bytes() == b"in flight" and link.is_symlink() and outside.read_bytes() == b"keep"
