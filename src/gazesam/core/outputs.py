"""Where results may be written, and writing them so that nothing is lost.

The one owner of output-path checks. Every command that writes a file the user named:

- checks the location *before doing the work* (:func:`check_output`): not a folder or a device, the
  folder exists and is writable, not the input itself (unless ``--force``), so a bad ``-o`` fails in a
  second instead of after minutes of work;
- writes through :func:`atomic_output`: into a temporary file next to the target, renamed over it only
  when complete. A full disk or any other write error removes the temporary file and leaves whatever was
  there before untouched, and becomes one :class:`~gazesam.core.errors.OutputError` line naming the file.

:func:`inside` is the check that a path (after resolving links) stays inside a folder; session folders use
it so that a link planted in a session never sends a write or a delete elsewhere.
"""

from __future__ import annotations

import errno
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from gazesam.core.errors import OutputError


def os_error_message(exc: OSError, path: str | os.PathLike) -> str:
    """A one-line, actionable description of a failed write to ``path``."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"cannot write {path}: the disk is full (free some space and run again; nothing partial was kept)"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write {path}: {exc.strerror or 'permission denied'}"
    return f"cannot write {path}: {exc.strerror or exc}"


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def check_output(path: str | os.PathLike, *, inputs: Iterable[str | os.PathLike | None] = (),
                 force: bool = False, what: str = "output", overwrite: bool = True,
                 force_replaces_input: bool = True) -> Path:
    """Validate an output file location before any work is done; returns it as a :class:`Path`.

    Refuses (with :class:`OutputError`): a folder, a device or anything that is not a regular file; a file
    whose folder is missing or not writable; the same file as one of ``inputs`` unless ``force`` and
    ``force_replaces_input`` (writing would destroy the input); an existing file when ``overwrite`` is false
    and not ``force``.
    """
    p = Path(path).expanduser()
    if p.is_dir():
        raise OutputError(f"{what} {p} is a folder; give a file name inside it")
    if p.exists() and not p.is_file():
        raise OutputError(f"{what} {p} is not a regular file (a device, pipe or socket); give a file name")
    parent = p.parent
    if not parent.is_dir():
        raise OutputError(f"cannot write {what} {p}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {what} {p}: folder {parent} is not writable")
    for inp in inputs:
        if inp is None:
            continue
        if _same_file(p, Path(inp).expanduser()):
            if not (force and force_replaces_input):
                hint = " (or pass --force to replace it)" if force_replaces_input else ""
                raise OutputError(f"{what} {p} is the input {inp}: writing it would destroy the input; choose "
                                  f"another name{hint}")
    if p.exists() and not overwrite and not force:
        raise OutputError(f"{what} {p} exists; choose another name or pass --force to overwrite it")
    probe = temp_path(p)  # can a file be made and written there at all (/proc, read-only, full disk)?
    try:
        with open(probe, "wb") as fh:
            fh.write(b"0")
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise OutputError(os_error_message(exc, p).replace("; nothing partial was kept", "")) from None
    finally:
        try:
            probe.unlink()
        except OSError:
            pass
    return p


def check_output_dir(path: str | os.PathLike, what: str = "output folder") -> Path:
    """Validate (and create) a folder results go into, before any work is done; returns it."""
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise OutputError(f"{what} {p} exists and is not a folder")
    created = not p.exists()
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(os_error_message(exc, p)) from None
    probe = p / f".gazesam-write-test-{os.getpid()}"
    try:
        if not os.access(p, os.W_OK | os.X_OK):
            raise OutputError(f"cannot write into {what} {p}: not writable")
        try:
            with open(probe, "wb") as fh:
                fh.write(b"0" * 4096)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise OutputError(os_error_message(exc, p).replace("; nothing partial was kept", "")) from None
        finally:
            probe.unlink(missing_ok=True)
    except OutputError:
        if created:
            try:
                p.rmdir()
            except OSError:
                pass
        raise
    return p


def temp_path(path: Path) -> Path:
    """A temporary name next to ``path`` keeping its suffix (writers that dispatch on it pick the format)."""
    return path.with_name(f".tmp-{os.getpid()}-{threading.get_ident()}-{path.name}")


@contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``, on any failure it is removed.

    An ``OSError`` (disk full, permission) becomes :class:`OutputError`; other exceptions pass through
    after the cleanup. What was at ``path`` before stays untouched unless the write completed.
    """
    target = Path(path)
    tmp = temp_path(target)
    try:
        yield tmp
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(os_error_message(exc, target)) from None
    except RuntimeError as exc:  # C++ writers (SimpleITK) report a failed write as RuntimeError
        full = disk_nearly_full(target.parent)
        tmp.unlink(missing_ok=True)
        if full:
            raise OutputError(os_error_message(OSError(errno.ENOSPC, "No space left on device"), target)) from None
        detail = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        raise OutputError(f"cannot write {target}: {detail[-1] if detail else type(exc).__name__}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def disk_nearly_full(folder: str | os.PathLike, min_free: int = 1 << 20) -> bool:
    """True when the file system holding ``folder`` has less than ``min_free`` bytes left for users.

    Used to name the cause when a library reports a failed write without an errno (SimpleITK)."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < min_free


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_output`)."""
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`atomic_output`)."""
    return write_bytes(path, text.encode("utf-8"))


def inside(path: str | os.PathLike, root: str | os.PathLike) -> bool:
    """True when ``path``, with every link resolved, lies inside folder ``root`` (also resolved)."""
    try:
        Path(path).resolve().relative_to(Path(root).resolve())
    except ValueError:
        return False
    return True
