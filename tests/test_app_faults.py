"""The app under faults, as a user meets them: a session folder that already holds a session, a document
that cannot be opened, SIGTERM/SIGINT while running. Nothing accepted is lost, the run says what happened
and exits with the right status, the gaze log gets its footer."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = [pytest.mark.qt, pytest.mark.slow]

from tests.app_helpers import CENTRE, H, W, subprocess_env, write_fixation_recording, write_object_image  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _env(tmp_path: Path) -> dict:
    return subprocess_env(tmp_path, offscreen=False)


def _app(args: list[str], tmp_path: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gazesam", "app", *args], env=_env(tmp_path), cwd=tmp_path,
                          capture_output=True, text=True, timeout=timeout)


def _saved_session(tmp_path: Path, image: Path, folder: Path) -> tuple[bytes, bytes]:
    from gazesam.session import DocumentRef, Session

    img = np.asarray(Image.open(image).convert("RGB"))
    s = Session(DocumentRef.for_image(image, img), session_dir=folder)
    m = np.zeros(img.shape[:2], bool)
    cx, cy = int(CENTRE[0]), int(CENTRE[1])
    m[cy - 20: cy + 20, cx - 20: cx + 20] = True
    s.accept(m)
    f = s.save()
    mask = next((folder / "masks").iterdir())
    return f.read_bytes(), mask.read_bytes()


def test_a_session_of_another_document_in_out_is_refused_not_overwritten(tmp_path: Path) -> None:
    first = write_object_image(tmp_path / "first.png")
    other = write_object_image(tmp_path / "other.png")
    Image.fromarray(255 - np.asarray(Image.open(other))).save(other)  # a different file
    folder = tmp_path / "session"
    session_json, mask = _saved_session(tmp_path, first, folder)
    proc = _app([str(other), "--out", str(folder), "--screenshot", str(tmp_path / "s.png"), "--quit-after", "1"],
                tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "already holds a session" in proc.stderr and "Traceback" not in proc.stderr
    assert (folder / "session.json").read_bytes() == session_json
    assert next((folder / "masks").iterdir()).read_bytes() == mask


def test_the_same_document_with_out_continues_its_session(tmp_path: Path) -> None:
    image = write_object_image(tmp_path / "object.png")
    folder = tmp_path / "session"
    _saved_session(tmp_path, image, folder)
    proc = _app([str(image), "--out", str(folder), "--screenshot", str(tmp_path / "s.png"), "--quit-after", "1"],
                tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((folder / "session.json").read_text())
    assert len(data["annotations"]) == 1  # the accepted mask is still there
    assert (np.asarray(Image.open(folder / "labels.png")) > 0).sum() == 40 * 40


def test_a_document_that_cannot_be_opened_fails_the_headless_run(tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_text("not an image")
    proc = _app([str(bad), "--screenshot", str(tmp_path / "s.png"), "--quit-after", "1"], tmp_path, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("gazesam app: error:") and "broken.png" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_closes_the_app_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    image = write_object_image(tmp_path / "object.png")
    rec = write_fixation_recording(tmp_path / "rec.tsv", [(CENTRE[0] / W, CENTRE[1] / H, 60.0)])
    folder = tmp_path / "session"
    proc = subprocess.Popen([sys.executable, "-m", "gazesam", "app", str(image), "--source", f"replay:{rec}",
                             "--out", str(folder), "--screenshot", str(tmp_path / "s.png"), "--quit-after", "120"],
                            env=_env(tmp_path), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 180
        log = folder / "gaze.tsv"
        while time.monotonic() < deadline:  # wait until gaze is being recorded
            if log.is_file() and log.read_text().count("\nsample\t") > 50:
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.5)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert f"{sig.name}: saving the session and closing" in err
    assert "# closed:" in log.read_text()  # the footer
    assert (folder / "session.json").is_file()
    assert list((tmp_path / "cache" / "recovery").glob("*")) == []  # a clean close releases the entry


def test_a_full_session_disk_fails_the_run_with_one_line_and_no_hang(tmp_path: Path, tiny_disk: Path) -> None:
    disk = tiny_disk
    with open(disk / "filler", "wb") as fh:
        try:
            fh.write(b"\0" * (1 << 20))
        except OSError:
            pass
    image = write_object_image(tmp_path / "object.png")
    t0 = time.monotonic()
    proc = _app([str(image), "--out", str(disk / "session"), "--screenshot", str(tmp_path / "s.png"),
                 "--quit-after", "2"], tmp_path, timeout=120)
    assert time.monotonic() - t0 < 90
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "disk is full" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not list(disk.rglob(".tmp-*"))  # no partial files
