"""Crash recovery: know which sessions were open when their process died, and offer them back.

While a session is open, a small entry in the recovery folder (under the gazesam cache) names its folder
and the owning process. A clean close removes the entry. On the next start, entries whose process is gone
point at sessions that ended in a crash; because the session folder is autosaved after every accepted
mask, restoring it loses nothing that was accepted.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path

from gazesam.core.paths import cache_dir
from gazesam.core.processes import pid_alive, process_start
from gazesam.session.session import now_iso
from gazesam.session.store import SESSION_FILE, read_session_json


@dataclass(frozen=True)
class RecoveryEntry:
    token: str
    session_dir: Path
    pid: int
    host: str
    started: str
    document: str
    annotations: int
    modified: str | None
    entry_path: Path

    def describe(self) -> str:
        return (f"{Path(self.document).name}: {self.annotations} accepted mask(s), last saved "
                f"{self.modified or 'never'}, in {self.session_dir}")


class RecoveryRegistry:
    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else cache_dir("recovery")
        self.root.mkdir(parents=True, exist_ok=True)

    def register(self, session_dir: str | Path, document: str = "") -> str:
        """Mark a session folder as open by this process; returns the token to release on clean close."""
        token = uuid.uuid4().hex
        pid = os.getpid()
        entry = {
            "session_dir": str(Path(session_dir).resolve()),
            "pid": pid,
            "pid_start": process_start(pid),
            "host": socket.gethostname(),
            "started": now_iso(),
            "document": document,
        }
        path = self.root / f"{token}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(entry))
        os.replace(tmp, path)
        return token

    def move(self, token: str, session_dir: str | Path) -> None:
        """The session was saved somewhere else (Save As): recovery must follow it."""
        path = self.root / f"{token}.json"
        try:
            entry = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return
        entry["session_dir"] = str(Path(session_dir).resolve())
        path.write_text(json.dumps(entry))

    def release(self, token: str) -> None:
        (self.root / f"{token}.json").unlink(missing_ok=True)

    def pending(self) -> list[RecoveryEntry]:
        """Sessions left open by processes on this host that no longer run, newest first.

        Entries that point at nothing restorable (the crash came before the first autosave) are removed.
        """
        host = socket.gethostname()
        out: list[RecoveryEntry] = []
        for path in sorted(self.root.glob("*.json")):
            try:
                entry = json.loads(path.read_text())
                pid = int(entry["pid"])
                session_dir = Path(entry["session_dir"])
            except (OSError, json.JSONDecodeError, KeyError, ValueError):
                path.unlink(missing_ok=True)
                continue
            if entry.get("host") != host or pid_alive(pid, entry.get("pid_start")):
                continue
            if not (session_dir / SESSION_FILE).is_file():
                path.unlink(missing_ok=True)
                continue
            try:
                data = read_session_json(session_dir)
            except Exception:  # noqa: BLE001 - unreadable: nothing to offer
                path.unlink(missing_ok=True)
                continue
            out.append(RecoveryEntry(
                token=path.stem, session_dir=session_dir, pid=pid, host=host, started=entry.get("started", ""),
                document=data.get("document", {}).get("path", entry.get("document", "")),
                annotations=len(data.get("annotations", [])), modified=data.get("modified"), entry_path=path,
            ))
        out.sort(key=lambda e: e.modified or "", reverse=True)
        return out

    def discard(self, entry: RecoveryEntry) -> None:
        """Forget a crashed session (its folder stays on disk: nothing is deleted)."""
        entry.entry_path.unlink(missing_ok=True)
