"""A session folder keeps what it holds and touches nothing outside it: links planted in it are refused,
paths in session.json cannot leave it, a full disk keeps the previous save and says so."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gazesam.core.errors import InputError, OutputError
from gazesam.session import DocumentRef, Session, load_session
from gazesam.session.store import session_path, write_overlay, write_snapshot


def _session(tmp_path: Path, folder: str = "out") -> Session:
    img = np.zeros((40, 50, 3), np.uint8)
    img[10:30, 10:30] = 200
    path = tmp_path / "img.png"
    Image.fromarray(img).save(path)
    s = Session(DocumentRef.for_image(path, img), session_dir=tmp_path / folder)
    m = np.zeros((40, 50), bool)
    m[10:30, 10:30] = True
    s.accept(m)
    return s


def test_a_masks_link_out_of_the_session_is_refused_and_nothing_outside_is_deleted(tmp_path: Path) -> None:
    s = _session(tmp_path)
    s.save()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    victim = elsewhere / "label-009-old.png"  # looks like a stale mask: a save would delete it
    victim.write_bytes(b"precious")
    masks = s.session_dir / "masks"
    for f in masks.iterdir():
        f.unlink()
    masks.rmdir()
    masks.symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(OutputError, match="masks is a link"):
        write_snapshot(s.snapshot())
    assert victim.read_bytes() == b"precious"


def test_a_linked_overlay_is_refused_and_its_target_kept(tmp_path: Path) -> None:
    s = _session(tmp_path)
    s.save()
    target = tmp_path / "notes.txt"
    target.write_text("my notes")
    (s.session_dir / "overlay.png").symlink_to(target)
    with pytest.raises(OutputError, match="overlay.png is a link"):
        write_overlay(np.zeros((40, 50, 3), np.uint8), s.label_map, list(s.labels), s.session_dir / "overlay.png")
    assert target.read_text() == "my notes"


@pytest.mark.parametrize("bad", ["../secret.png", "/etc/passwd", "sub/../../x.png"])
def test_session_json_paths_cannot_leave_the_folder(tmp_path: Path, bad: str) -> None:
    s = _session(tmp_path)
    f = s.save()
    data = json.loads(f.read_text())
    data["label_map"] = bad
    f.write_text(json.dumps(data))
    with pytest.raises(InputError, match="not a safe session"):
        load_session(s.session_dir, verify=False)


def test_a_recording_name_leaving_the_folder_is_refused(tmp_path: Path) -> None:
    s = _session(tmp_path)
    f = s.save()
    data = json.loads(f.read_text())
    data["recordings"] = ["../../gaze.tsv"]
    f.write_text(json.dumps(data))
    with pytest.raises(InputError, match="gaze log"):
        load_session(s.session_dir, verify=False)


def test_session_path_accepts_plain_files_inside(tmp_path: Path) -> None:
    assert session_path(tmp_path, "masks/label-001-a.png") == tmp_path / "masks" / "label-001-a.png"




def test_full_disk_keeps_the_previous_save_and_says_so(tmp_path: Path, tiny_disk: Path) -> None:
    s = _session(tmp_path)
    s.session_dir = tiny_disk / "session"
    first = s.save()
    before = first.read_bytes()
    with open(tiny_disk / "filler", "wb") as fh:  # the rest of the disk
        try:
            fh.write(b"\0" * (1 << 20))
        except OSError:
            pass
    big = np.random.default_rng(0).random((40, 50)) > 0.5  # incompressible: the PNGs no longer fit
    s.add_label("noise")
    s.accept(big)
    with pytest.raises(OutputError, match="disk is full.*still in memory"):
        write_snapshot(s.snapshot())
    assert first.read_bytes() == before  # the last good session is intact
    leftovers = [p.name for p in (tiny_disk / "session").rglob(".tmp-*")]
    assert leftovers == []
    assert len(s.annotations) == 2  # and the masks are still in memory
