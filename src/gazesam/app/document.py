"""The open document and its session: open, continue, autosave, save (as), release, crash-recovery entry.

Rules (docs/app.md, "What is kept"): a session folder is never overwritten: opening a document whose
default folder holds a session of the *same* document continues it, one of another document is refused;
*save as* into a folder holding a session is refused. The session's rules themselves (labels, undo,
files) live in :mod:`gazesam.session`; this part only decides which session is open and when it is written.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gazesam.core.errors import GazesamError, InputError
from gazesam.core.imageio import read_image
from gazesam.session import (
    Annotator,
    Autosaver,
    DocumentRef,
    ImageCanvas,
    Session,
    guess_kind,
    load_session,
    write_overlay,
)
from gazesam.session.store import SESSION_FILE, read_session_json
from gazesam.volume.dicomseg import save_session_seg
from gazesam.volume.io import read_volume

if TYPE_CHECKING:  # the controller owns this part and imports this module: a runtime import would be a cycle
    from gazesam.app.controller import AppController


class DocumentManager:
    """One document at a time and its session, annotator and autosaver. GUI thread."""

    def __init__(self, app: AppController) -> None:
        self.app = app
        self.session: Session | None = None
        self.annotator: Annotator | None = None  # the mask on offer; turns offers and clicks into annotations
        self.autosaver: Autosaver | None = None
        self.image: np.ndarray | None = None  # the 2D document (volumes: see VolumeNavigator.volume)
        self.recovery_token: str | None = None  # this process's entry in the recovery registry

    # ---- opening ---------------------------------------------------------------------------------------
    def open_path(self, path: str | Path) -> None:
        """Open an image, a volume (file or DICOM folder) or a saved session (folder or session.json)."""
        p = Path(path).expanduser()
        if not p.exists():
            raise InputError(f"{p} does not exist")
        if (p.is_dir() and (p / SESSION_FILE).is_file()) or p.name == SESSION_FILE:
            self.open_session(load_session(p))
            return
        kind = guess_kind(p)
        if kind == "image":
            image = read_image(p)
            ref = DocumentRef.for_image(p, image)
        else:
            volume = read_volume(p)
            ref = DocumentRef.for_volume(p, volume.shape, spacing=volume.spacing, origin=volume.origin,
                                         direction=tuple(np.asarray(volume.direction).reshape(-1)))
        folder = self.app.config.default_session_dir(ref.stem)
        if session_in(folder, ref):  # the same document: continue its session, never overwrite it
            self.open_session(load_session(folder))
            return
        if self.session is not None:
            self.app.release_document()
        self._new_session(ref)
        if kind == "image":
            self._show_image(image)
        else:
            self.image = None
            self.app.volumes.show(volume)

    def open_session(self, session: Session) -> None:
        """Continue a saved (or crash-recovered) session: same folder, same labels and masks."""
        if self.session is not None:
            self.app.release_document()
        doc = session.document
        self._attach(session)
        if doc.kind == "image":
            self._show_image(read_image(doc.path))
        else:
            self.image = None
            self.app.volumes.show(read_volume(Path(doc.path)))
        self.app.message.emit(f"reopened {doc.name}: {len(session.annotations)} accepted mask(s)", 5000)

    def _show_image(self, image: np.ndarray) -> None:
        assert self.session is not None
        self.app.volumes.release()
        self.image = image
        self.app.show_canvas(ImageCanvas(image, key=(self.session.document.sha256 or self.session.document.path,
                                                     "image")))

    def _new_session(self, ref: DocumentRef) -> None:
        config = self.app.config
        session = Session(ref, session_dir=config.default_session_dir(ref.stem), overwrite=config.overwrite)
        session.update_settings(source=config.source, model=config.model, runtime=config.runtime)
        self._attach(session)

    def _attach(self, session: Session) -> None:
        app = self.app
        self.session = session
        self.annotator = Annotator(session, point_prompts=app.point_prompts)
        self.annotator.add_listener(self._on_annotator)
        session.add_listener(self._on_session)
        self.autosaver = Autosaver(on_error=lambda e: app.error.emit(f"autosave failed: {e}"))
        session.autosave = self.autosaver
        if session.session_dir is not None:
            session.session_dir.mkdir(parents=True, exist_ok=True)
            if self.recovery_token is None:
                self.recovery_token = app.registry.register(session.session_dir, session.document.path)
            else:
                app.registry.move(self.recovery_token, session.session_dir)
            session.save()  # the folder exists and reopens from the first second
        app.gaze.restore_offset(session.settings)
        if app.gaze.source is not None:
            app.gaze.start_recording()
        app.labelsChanged.emit()

    def _on_annotator(self, what: str) -> None:
        self.app.candidateChanged.emit()

    def _on_session(self, what: str) -> None:
        if what in ("paint", "undo", "redo", "labels", "active"):
            self.app.labelsChanged.emit()

    # ---- closing ---------------------------------------------------------------------------------------
    def close(self) -> bool:
        """Save the session and stop its autosaver; False (and the error told) if the save failed."""
        ok = True
        if self.session is not None:
            try:
                self.save()
            except GazesamError as exc:
                ok = False
                self.app.error.emit(str(exc))
        if self.autosaver is not None:
            self.autosaver.close()
            self.autosaver = None
        return ok

    def forget(self) -> None:
        """Let go of the (closed) session: the next document starts afresh."""
        if self.session is not None:
            self.session.remove_listener(self._on_session)
        self.session = None
        self.annotator = None
        self.image = None

    def release_recovery(self) -> None:
        """After a good save on exit: nothing is left to recover."""
        if self.recovery_token is not None:
            self.app.registry.release(self.recovery_token)

    # ---- saving ----------------------------------------------------------------------------------------
    def save(self, folder: str | Path | None = None) -> Path | None:
        """Write masks, session and overlay now (Ctrl+S); with ``folder``, move the session there."""
        app, session = self.app, self.session
        if session is None:
            return None
        if self.autosaver is not None:
            self.autosaver.flush()
        old = session.session_dir
        if folder is not None:
            new = Path(folder).expanduser().resolve()
            if new != old and (new / SESSION_FILE).exists():
                raise InputError(f"{new} already holds a session; save into an empty folder (a session folder is "
                                 "never overwritten)")
            new.mkdir(parents=True, exist_ok=True)
            if old is not None and old != new:
                earlier = list(session.recordings)
                session.session_dir = new
                if app.gaze.recorder is not None:
                    app.gaze.start_recording()  # the log continues in the new folder; the old one is closed
                for name in earlier:  # closed now, so the copies are complete
                    if (old / name).is_file():
                        shutil.copy2(old / name, new / name)
            session.session_dir = new
            if self.recovery_token is not None:
                app.registry.move(self.recovery_token, new)
        if app.gaze.recorder is not None:
            app.gaze.recorder.flush(sync=True)
        if app.ui_settings is not None:
            session.update_settings(**app.ui_settings())
        path = session.save()
        if app.volume is not None and getattr(app.volume, "source_format", "") == "dicom":
            self._save_dicom_seg(path.parent)
        if self.image is not None:
            write_overlay(self.image, session.label_map, list(session.labels), path.parent / "overlay.png")
        app.message.emit(f"saved to {path.parent}", 3000)
        return path

    def _save_dicom_seg(self, folder: Path) -> None:
        """A DICOM volume's session also gets labels.seg.dcm (DICOM-SEG for PACS); the session is already saved,
        so a SEG that cannot be written is reported, not raised."""
        app = self.app
        model = getattr(getattr(app.predictor, "spec", None), "name", None) or app.config.model
        try:
            save_session_seg(app.volume, app.session.label_map, list(app.session.labels), folder, model)
        except GazesamError as exc:
            app.error.emit(f"the session is saved, but its DICOM-SEG is not: {exc}")


def session_in(folder: Path, ref: DocumentRef) -> bool:
    """Whether ``folder`` holds a session of ``ref``'s document (True: continue it); a session of another
    document there is refused (:class:`InputError`): a session folder is never overwritten."""
    if not (folder / SESSION_FILE).exists():
        return False
    data = read_session_json(folder)
    doc = data.get("document", {}) if isinstance(data.get("document"), dict) else {}
    same_path = bool(doc.get("path")) and Path(str(doc["path"])).expanduser().resolve() == Path(ref.path).resolve()
    same_data = ref.sha256 is not None and doc.get("sha256") == ref.sha256
    if same_path or same_data:
        return True
    raise InputError(f"{folder} already holds a session of {doc.get('path') or 'another document'}; continue it "
                     f"with `gazesam app {folder}`, or choose another --out folder")
