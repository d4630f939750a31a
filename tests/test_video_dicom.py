"""Multi-frame DICOM cine in: real files written with pydicom, read back frame by frame with their times."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom", reason="pydicom (the dicom extra) writes and reads the test files")

from pydicom.dataset import Dataset, FileMetaDataset  # noqa: E402
from pydicom.tag import Tag  # noqa: E402
from pydicom.uid import ExplicitVRLittleEndian, generate_uid  # noqa: E402

from gazesam.core import limits  # noqa: E402
from gazesam.core.errors import InputError, LimitError, TruncatedVideoError  # noqa: E402
from gazesam.video.dicomclip import read_dicom_clip  # noqa: E402
from gazesam.video.io import read_clip  # noqa: E402

US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"  # Ultrasound Multi-frame Image Storage


def cine(n: int = 8, rows: int = 40, cols: int = 48, *, rgb: bool = False, bits: int = 8) -> np.ndarray:
    """A bright disc moving across a noisy background, one frame per time point."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:rows, :cols]
    hi = 255 if bits == 8 else 4000
    out = []
    for i in range(n):
        f = rng.integers(0, hi // 8, (rows, cols))
        f[(yy - rows / 2) ** 2 + (xx - 8 - 4 * i) ** 2 < 36] = hi
        out.append(f)
    a = np.stack(out).astype(np.uint8 if bits == 8 else np.uint16)
    if rgb:
        a = np.stack([a, a // 2, 255 - a], axis=-1).astype(np.uint8)
    return a


def write_cine(path: Path, frames: np.ndarray, *, frame_time_ms: float | None = 33.0,
               time_vector_ms: list[float] | None = None, claimed_frames: int | None = None) -> Path:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = US_MULTIFRAME
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = US_MULTIFRAME, ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "US"
    ds.PatientName, ds.PatientID = "Gazesam^Cine", "GZ0002"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    n = frames.shape[0]
    ds.NumberOfFrames = claimed_frames or n
    ds.Rows, ds.Columns = frames.shape[1], frames.shape[2]
    rgb = frames.ndim == 4
    ds.SamplesPerPixel = 3 if rgb else 1
    ds.PhotometricInterpretation = "RGB" if rgb else "MONOCHROME2"
    if rgb:
        ds.PlanarConfiguration = 0
    bits = frames.dtype.itemsize * 8
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    if time_vector_ms is not None:
        ds.FrameTimeVector = time_vector_ms
        ds.FrameIncrementPointer = Tag(0x0018, 0x1065)
    elif frame_time_ms is not None:
        ds.FrameTime = frame_time_ms
        ds.FrameIncrementPointer = Tag(0x0018, 0x1063)
    ds.PixelData = np.ascontiguousarray(frames).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def test_frames_times_and_pixels_round_trip(tmp_path: Path) -> None:
    frames = cine(8)
    f = write_cine(tmp_path / "cine.dcm", frames, frame_time_ms=33.0)
    clip = read_clip(f)
    assert clip.kind == "dicom" and clip.n_frames == 8 and clip.size == (48, 40)
    np.testing.assert_allclose(clip.times, np.arange(8) * 0.033)
    assert clip.meta["times_from"] == "FrameTime"
    for got, want in zip(clip.frames, frames):  # 8-bit greyscale is shown as stored
        assert got.shape == (40, 48, 3) and got.dtype == np.uint8
        np.testing.assert_array_equal(got[:, :, 0], want)
        np.testing.assert_array_equal(got[:, :, 2], want)


def test_frame_time_vector_gives_uneven_times(tmp_path: Path) -> None:
    inc = [0.0, 20.0, 20.0, 60.0, 20.0, 40.0]  # ms from each frame to the next (a dropped stretch)
    f = write_cine(tmp_path / "echo", cine(6), time_vector_ms=inc)  # no suffix: found by the preamble
    clip = read_clip(f)
    np.testing.assert_allclose(clip.times, np.cumsum(inc) / 1000.0)
    assert clip.meta["times_from"] == "FrameTimeVector"
    bad = write_cine(tmp_path / "bad.dcm", cine(6), time_vector_ms=[0.0, 20.0, 20.0])
    with pytest.raises(InputError, match="3 values for 6 frames"):
        read_clip(bad)


def test_rgb_and_16_bit_frames(tmp_path: Path) -> None:
    rgb = cine(4, rgb=True)
    clip = read_clip(write_cine(tmp_path / "rgb.dcm", rgb))
    for got, want in zip(clip.frames, rgb):
        np.testing.assert_array_equal(got, want)
    deep = cine(4, bits=16)
    clip = read_clip(write_cine(tmp_path / "deep.dcm", deep))
    assert clip.frames[0].dtype == np.uint8
    # one window over the whole clip: the disc is bright on every frame, its place moves
    for i, got in enumerate(clip.frames):
        assert got[20, 8 + 4 * i, 0] == 255 and got[20, 8 + 4 * i, 0] > got[2, 40, 0]


def test_no_timing_tags_fall_back_to_fps_and_say_so(tmp_path: Path) -> None:
    clip = read_dicom_clip(write_cine(tmp_path / "plain.dcm", cine(3), frame_time_ms=None), fps=10.0)
    np.testing.assert_allclose(clip.times, [0.0, 0.1, 0.2])
    assert "no frame timing" in clip.meta["times_from"]


def test_truncated_file_keeps_the_frames_read(tmp_path: Path) -> None:
    frames = cine(8)
    f = write_cine(tmp_path / "cine.dcm", frames)
    data = f.read_bytes()
    frame_bytes = frames[0].nbytes
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: len(data) - 3 * frame_bytes - frame_bytes // 2])  # 4.5 frames survive
    with pytest.raises(TruncatedVideoError) as info:
        read_clip(cut)
    msg = str(info.value)
    assert "\n" not in msg and "truncated" in msg and "4 of 8 frames" in msg
    part = info.value.clip
    assert part.n_frames == 4
    np.testing.assert_allclose(part.times, np.arange(4) * 0.033)
    for got, want in zip(part.frames, frames[:4]):
        np.testing.assert_array_equal(got[:, :, 0], want)


def test_corrupt_or_cut_header_is_one_clear_line(tmp_path: Path) -> None:
    f = write_cine(tmp_path / "cine.dcm", cine(4))
    head = tmp_path / "head.dcm"
    head.write_bytes(f.read_bytes()[:200])  # cut inside the header
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"\x00" * 128 + b"DICM" + b"\xff" * 64)
    for bad in (head, junk):
        with pytest.raises(InputError) as info:
            read_clip(bad)
        assert "\n" not in str(info.value) and str(bad) in str(info.value)


def test_huge_claimed_size_is_refused_before_reading_pixels(tmp_path: Path) -> None:
    # the header claims 100000 frames of 1024x1024 (300 GiB); 2 are stored: refused from the header alone
    f = write_cine(tmp_path / "huge.dcm", cine(2, rows=1024, cols=1024), claimed_frames=100_000)
    with pytest.raises(InputError, match="over the limit"):
        read_clip(f)
    limits.configure(max_pixels=1000)
    try:
        with pytest.raises(LimitError, match="--max-pixels"):
            read_clip(write_cine(tmp_path / "wide.dcm", cine(2)))
    finally:
        limits.configure(max_pixels=limits.DEFAULT_MAX_PIXELS)
