"""The session folder on disk, and autosave.

Layout (everything a downstream user needs, in formats every tool reads)::

    <session>/session.json                 labels, annotations with timings, settings, validation, events
    <session>/labels.png | labels.nii.gz   the label map (values = label values; NIfTI on the input's grid)
    <session>/masks/label-001-<name>.png   one binary mask per label (0/255), .nii.gz for volumes
    <session>/gaze.tsv                     the gaze recording (the gaze stage's lossless format)

Every file is written to a temporary name and renamed into place, and session.json last, so a crash in
the middle of a save leaves the folder as its last complete save wrote it, readable. Each save first
removes the temporaries a killed writer left (:func:`remove_stale_temporaries`). Every path written,
read or deleted is checked by :func:`session_path` to lie inside the session folder after resolving
links: a link planted in a session (``masks`` pointing at another folder, ``overlay.png`` at a file
elsewhere, a ``label_map`` of ``../x``) is refused instead of followed, so opening a session never touches
a file outside it.
"""

from __future__ import annotations

import errno
import json
import os
import re
import threading
from pathlib import Path
from typing import Callable

import numpy as np

from gazesam.core.errors import InputError, OutputError
from gazesam.core.outputs import disk_nearly_full, inside, os_error_message
from gazesam.session.labels import Label
from gazesam.session.session import Session, SessionSnapshot

SESSION_FILE = "session.json"
MASK_DIR = "masks"
_MASK_RE = re.compile(r"^label-\d{3,5}-.*\.(png|nii\.gz)$")


def label_slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip()).strip("-._")
    return slug[:60] or "label"


def mask_filename(label: Label, volume: bool) -> str:
    return f"label-{label.value:03d}-{label_slug(label.name)}.{'nii.gz' if volume else 'png'}"


def session_path(root: str | Path, rel: str | Path, *, what: str = "file") -> Path:
    """``root/rel``, refused (:class:`OutputError`) unless it is a plain path inside ``root``.

    Refused: an absolute ``rel`` or one with ``..``; a ``rel`` that is itself a link (a write would
    replace what it points at); anything whose folder resolves outside ``root``. The one check every
    session read, write and delete goes through.
    """
    root = Path(root)
    relp = Path(rel)
    if relp.is_absolute() or ".." in relp.parts:
        raise OutputError(f"session folder {root}: {what} {rel} is not a path inside the session folder; "
                          "session files must live in it")
    p = root / relp
    if p.is_symlink():
        raise OutputError(f"session folder {root}: {what} {rel} is a link (to {os.readlink(p)}); session files "
                          "must be plain files inside the folder - remove the link")
    if not inside(p.parent, root) or (p.exists() and not inside(p, root)):
        raise OutputError(f"session folder {root}: {what} {rel} leads outside the session folder (through a "
                          "link); remove the link")
    return p


def _tmp(path: Path) -> Path:
    # keep the real suffix so writers that dispatch on it (SimpleITK) pick the right format
    return path.with_name(f".tmp-{os.getpid()}-{threading.get_ident()}-{path.name}")


_TMP_RE = re.compile(r"^\.tmp-(\d+)-\d+-")


def _writer_gone(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OSError):
        return False
    return False


def remove_stale_temporaries(folder: Path) -> list[str]:
    """Delete ``.tmp-<pid>-...`` files in ``folder`` left by a writer that died mid-save (SIGKILL, power).

    Why: a killed save leaves its temporary file behind, and it would stay in the session folder forever
    (the next run writes under its own pid), passing for part of the session. Only plain files whose
    writing process is gone are removed (a live writer renames its temporary within milliseconds);
    links are left alone, never followed. Returns the names removed.
    """
    removed: list[str] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for p in entries:
        m = _TMP_RE.match(p.name)
        if m and not p.is_symlink() and p.is_file() and _writer_gone(int(m.group(1))):
            try:
                p.unlink()
                removed.append(p.name)
            except OSError:
                pass
    return removed


def _write_png(array: np.ndarray, path: Path) -> None:
    from PIL import Image

    tmp = _tmp(path)
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    try:
        Image.fromarray(array).save(tmp, format="PNG")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_nifti(array_ijk: np.ndarray, grid: dict | None, path: Path) -> None:
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.ascontiguousarray(array_ijk.transpose(2, 1, 0)))
    if grid:
        image.SetSpacing(tuple(grid["spacing"]))
        image.SetOrigin(tuple(grid["origin"]))
        image.SetDirection(tuple(grid["direction"]))
    tmp = _tmp(path)
    try:
        sitk.WriteImage(image, str(tmp), useCompression=True)
        os.replace(tmp, path)
    except RuntimeError as exc:  # ITK reports a full disk this way
        raise OSError(errno.ENOSPC if disk_nearly_full(path.parent) else errno.EIO, str(exc).strip().splitlines()[-1]) from None
    finally:
        tmp.unlink(missing_ok=True)


def _label_array(label_map: np.ndarray) -> np.ndarray:
    """uint8 when every value fits (what most tools expect of a label PNG), else uint16."""
    return label_map.astype(np.uint8) if int(label_map.max(initial=0)) <= 255 else label_map.astype(np.uint16)


def write_snapshot(snapshot: SessionSnapshot) -> Path:
    """Write a session folder from a snapshot (safe to call from a worker thread)."""
    if snapshot.session_dir is None:
        raise InputError("the session has no folder to save into")
    root = Path(snapshot.session_dir)
    try:
        root.mkdir(parents=True, exist_ok=True)
        masks = session_path(root, MASK_DIR, what="folder")
        masks.mkdir(exist_ok=True)
        for folder in (root, masks):  # what a save killed mid-way left behind
            remove_stale_temporaries(folder)
    except OSError as exc:
        raise OutputError(f"cannot create the session folder {root}: {exc.strerror or exc}") from None
    data = dict(snapshot.data)
    volume = data["document"]["kind"] == "volume"
    grid = data["document"].get("grid")
    label_map = _label_array(snapshot.label_map)
    try:
        if volume:
            _write_nifti(label_map, grid, session_path(root, "labels.nii.gz"))
            data["label_map"] = "labels.nii.gz"
        else:
            _write_png(label_map, session_path(root, "labels.png"))
            data["label_map"] = "labels.png"
        written: dict[str, str] = {}
        for d in data["labels"]:
            label = Label.from_json(d)
            name = mask_filename(label, volume)
            binary = (snapshot.label_map == label.value).astype(np.uint8)
            target = session_path(root, f"{MASK_DIR}/{name}")
            if volume:
                _write_nifti(binary, grid, target)
            else:
                _write_png(binary * 255, target)
            written[str(label.value)] = f"{MASK_DIR}/{name}"
        data["masks"] = written
        keep = {Path(p).name for p in written.values()}
        for old in masks.iterdir():  # masks of renamed / removed labels would mislead
            if _MASK_RE.match(old.name) and old.name not in keep and old.is_file() and not old.is_symlink():
                old.unlink(missing_ok=True)
        target = session_path(root, SESSION_FILE)
        tmp = _tmp(target)
        try:
            tmp.write_text(json.dumps(data, indent=1, allow_nan=False, default=_json_default))
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot save the session: {os_error_message(exc, root)}; the accepted masks are still "
                          "in memory - free space or save elsewhere (Ctrl+Shift+S)") from None
    return root / SESSION_FILE


def _json_default(obj: object) -> object:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def session_file(path: str | Path) -> Path:
    p = Path(path)
    return p / SESSION_FILE if p.is_dir() else p


def read_session_json(path: str | Path) -> dict:
    f = session_file(path)
    if not f.is_file():
        raise InputError(f"{f} does not exist; give a session folder or its session.json")
    try:
        return json.loads(f.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{f} is not a readable session file: {exc}") from None


def load_session(path: str | Path, *, verify: bool = True) -> Session:
    """Reopen a saved session: labels, label map, annotations, settings.

    ``verify`` checks the annotated file still exists and is unchanged (content hash).
    """
    f = session_file(path)
    data = read_session_json(f)
    root = f.parent
    name = data.get("label_map") or ("labels.nii.gz" if data.get("document", {}).get("kind") == "volume" else "labels.png")
    if not isinstance(name, str):
        raise InputError(f"{f}: label_map must be a file name inside the session folder, got {name!r}")
    try:
        label_path = session_path(root, name, what="label map")
        for rec in data.get("recordings", []) or []:
            session_path(root, str(rec), what="gaze log")
    except OutputError as exc:
        raise InputError(f"{f} is not a safe session: {exc}") from None
    if not label_path.is_file():
        raise InputError(f"the session's label map {label_path} is missing")
    try:
        if name.endswith(".nii.gz") or name.endswith(".nii"):
            import SimpleITK as sitk

            label_map = sitk.GetArrayFromImage(sitk.ReadImage(str(label_path))).transpose(2, 1, 0)
        else:
            from PIL import Image

            with Image.open(label_path) as im:
                label_map = np.asarray(im)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a corrupt file for the user
        raise InputError(f"cannot read the label map {label_path}: {exc}") from None
    session = Session.from_json(data, label_map.astype(np.uint16), root)
    if verify:
        session.document.verify()
    session.dirty = False
    return session


class Autosaver:
    """Write the session after every change, on a background thread, coalescing bursts.

    The latest snapshot always wins: if three masks are accepted while one save is running, the next save
    writes the state after the third, not three saves. ``flush()`` waits for everything requested so far
    (used on close and in tests). Errors are reported through ``on_error`` and never kill the thread.
    """

    def __init__(self, on_error: Callable[[Exception], None] | None = None,
                 on_saved: Callable[[Path], None] | None = None) -> None:
        self._lock = threading.Condition()
        self._pending: SessionSnapshot | None = None
        self._busy = False
        self._closed = False
        self._requested = 0
        self._done = 0
        self.on_error = on_error
        self.on_saved = on_saved
        self.last_error: Exception | None = None
        self.saves = 0
        self._thread = threading.Thread(target=self._run, name="gazesam-autosave", daemon=True)
        self._thread.start()

    def __call__(self, session: Session) -> None:
        if session.session_dir is None:
            return
        self.request(session.snapshot())

    def request(self, snapshot: SessionSnapshot) -> None:
        with self._lock:
            if self._closed:
                return
            self._pending = snapshot
            self._requested += 1
            self._lock.notify_all()

    def _run(self) -> None:
        while True:
            with self._lock:
                while self._pending is None and not self._closed:
                    self._lock.wait()
                if self._pending is None and self._closed:
                    return
                snapshot, self._pending = self._pending, None
                upto = self._requested
                self._busy = True
            try:
                path = write_snapshot(snapshot)
                self.saves += 1
                if self.on_saved is not None:
                    self.on_saved(path)
            except Exception as exc:  # noqa: BLE001 - reported, the next save may succeed
                self.last_error = exc
                if self.on_error is not None:
                    self.on_error(exc)
            with self._lock:
                self._busy = False
                self._done = max(self._done, upto)
                self._lock.notify_all()

    def flush(self, timeout: float | None = 30.0) -> bool:
        with self._lock:
            target = self._requested
            return self._lock.wait_for(lambda: self._done >= target, timeout)

    def close(self, timeout: float | None = 30.0) -> None:
        self.flush(timeout)
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        self._thread.join(timeout)


def write_overlay(image: np.ndarray, label_map: np.ndarray, labels: list[Label], path: str | Path,
                  alpha: float = 0.45) -> Path:
    """A human-readable preview: the image with labels tinted in their colours (what the paper's C key saved)."""
    from PIL import Image

    rgb = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)
    out = rgb[..., :3].astype(np.float32)
    for label in labels:
        sel = label_map == label.value
        if sel.any():
            out[sel] = (1 - alpha) * out[sel] + alpha * np.asarray(label.rgb, np.float32)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p = session_path(p.parent, p.name, what="overlay")
    tmp = _tmp(p)
    try:
        Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8)).save(tmp, format="PNG")
        os.replace(tmp, p)
    except OSError as exc:
        raise OutputError(os_error_message(exc, p)) from None
    finally:
        tmp.unlink(missing_ok=True)
    return p
