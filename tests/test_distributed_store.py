"""The Zarr embedding store: metadata a reader checks, fp16 accuracy, encode -> eval/segment-volume with no
encoder call, a killed encode resumed, two writers at once."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("zarr")

from gazesam.cli.main import main  # noqa: E402
from gazesam.core.errors import InputError  # noqa: E402
from gazesam.core.imageio import read_image  # noqa: E402
from gazesam.engine import ImageEmbedding  # noqa: E402
from gazesam.engine.cache import image_digest  # noqa: E402
from gazesam.engine.runtime_onnx import OnnxRuntime  # noqa: E402
from gazesam.engine.store import EmbeddingStore  # noqa: E402
from gazesam.evaluation.dataset import list_items, read_item_mask  # noqa: E402
from gazesam.evaluation.metrics import load_truth  # noqa: E402
from gazesam.prompt.gazebox import tight_box  # noqa: E402

SHA = "ab" * 32


def _emb(seed: int = 0) -> ImageEmbedding:
    rng = np.random.default_rng(seed)
    return ImageEmbedding(rng.normal(size=(1, 256, 64, 64)).astype(np.float32), (120, 90), (256, 192), "litemedsam")


def test_store_round_trip_and_the_metadata_a_reader_checks(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    store = EmbeddingStore(path, "litemedsam", SHA, mode="a")
    emb = _emb()
    assert store.put("0123abcd", emb) and not store.put("0123abcd", emb)  # second write: nothing to do
    back = EmbeddingStore(path, "litemedsam", SHA).get("0123abcd")
    assert back.original_size == (120, 90) and back.input_size == (256, 192) and back.model == "litemedsam"
    assert np.array_equal(back.features, emb.features.astype(np.float16).astype(np.float32))
    assert EmbeddingStore(path, "litemedsam", SHA).get("ffff") is None
    import zarr  # any Zarr reader opens it

    root = zarr.open_group(str(path), mode="r")
    assert root.attrs["gazesam"]["format"] == "gazesam-embeddings"
    arr = root[f"litemedsam-{SHA[:16]}/0123abcd"]
    assert arr.dtype == np.float16 and arr.chunks == arr.shape == (1, 256, 64, 64)
    with pytest.raises(InputError, match="no embeddings of litemedsam with checkpoint cdcdcd"):
        EmbeddingStore(path, "litemedsam", "cd" * 32)
    with pytest.raises(InputError, match="as float16; encode with --precision fp16"):
        EmbeddingStore(path, "litemedsam", SHA, mode="a", precision="fp32")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("x")
    with pytest.raises(InputError, match="not an embedding store"):
        EmbeddingStore(tmp_path / "other", "litemedsam", SHA, mode="a")
    with pytest.raises(InputError, match="does not exist"):
        EmbeddingStore(tmp_path / "missing.zarr", "litemedsam", SHA)


def test_manifests_tell_an_incomplete_store_and_stale_tmp_is_removed(tmp_path: Path) -> None:
    store = EmbeddingStore(tmp_path / "s.zarr", "litemedsam", SHA, mode="a")
    store.write_manifest("volume-ct", {"key": "volume-ct", "digests": ["aa", "bb", "cc"]})
    store.put("aa", _emb())
    assert store.incomplete() == {"volume-ct": 2}
    dead = store.path / ".tmp" / f"{os.uname().nodename}-999999999-0123"
    dead.mkdir(parents=True)
    assert store.remove_stale_tmp() == 1 and not dead.exists()
    store.put("bb", _emb(1))
    store.put("cc", _emb(2))
    assert store.incomplete() == {}


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


@pytest.mark.data
def test_fp16_store_masks_keep_iou_0_998_of_fp32(shared_data: Path, litemedsam, tmp_path: Path) -> None:
    store = EmbeddingStore.for_predictor(tmp_path / "s.zarr", litemedsam, mode="a")
    for item in list_items(shared_data / "kvasir-gaze")[:3]:
        image = read_image(item.image_path)
        truth, _ = load_truth(read_item_mask(item))
        emb = litemedsam.encode(image)
        store.put(image_digest(image), emb)
        x0, y0, x1, y1 = tight_box(truth)
        box = (x0, y0, x1 - 1, y1 - 1)
        back = store.get(image_digest(image))
        assert _iou(litemedsam.predict(emb, box=box).mask, litemedsam.predict(back, box=box).mask) >= 0.998


@pytest.fixture()
def no_encoder(monkeypatch):
    """Any call of the real encoder fails the test."""

    def boom(self, x):
        raise AssertionError("the encoder ran although the store holds the embedding")

    monkeypatch.setattr(OnnxRuntime, "encode", boom)


def _small_dataset(shared_data: Path, dest: Path, n: int = 2) -> Path:
    src = shared_data / "kvasir-gaze"
    (dest / "images").mkdir(parents=True)
    (dest / "masks").mkdir()
    for item in list_items(src)[:n]:
        shutil.copy(item.image_path, dest / "images")
        shutil.copy(item.mask_path, dest / "masks")
    shutil.copy(src / "fixations.csv", dest)
    return dest


@pytest.mark.data
@pytest.mark.slow
def test_encode_then_eval_from_the_store_runs_no_encoder(shared_data: Path, tmp_path: Path, monkeypatch,
                                                         capsys) -> None:
    data = _small_dataset(shared_data, tmp_path / "data")
    store = tmp_path / "kvasir.zarr"
    assert main(["encode", str(data), "--store", str(store), "--no-progress"]) == 0
    assert "2 embedding(s) written, 0 already stored" in capsys.readouterr().out
    assert main(["encode", str(data), "--store", str(store), "--no-progress"]) == 0  # nothing left to do
    assert "0 embedding(s) written, 2 already stored" in capsys.readouterr().out

    def boom(self, x):
        raise AssertionError("the encoder ran although the store holds the embedding")

    monkeypatch.setattr(OnnxRuntime, "encode", boom)
    out = tmp_path / "report"
    assert main(["eval", str(data), "--policy", "gaze-box", "--store", str(store), "--report", str(out),
                 "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["policies"]["gaze-box"]["n_images"] == 2
    assert summary["policies"]["oracle-box"]["mean_dice_end"] > 0.8


def _liver_box(shared_data: Path) -> tuple[int, list[int]]:
    import SimpleITK as sitk

    seg = sitk.GetArrayFromImage(sitk.ReadImage(str(shared_data / "totalseg-examples" / "example_seg.nii.gz")))
    liver = seg == 5  # (z, y, x)
    z = int(np.argmax(liver.sum(axis=(1, 2))))
    ys, xs = np.nonzero(liver[z])
    return z, [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())]


@pytest.mark.data
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_killed_encode_resumes_then_segment_volume_reads_the_store(shared_data: Path, tmp_path: Path,
                                                                   monkeypatch, capsys) -> None:
    ct = shared_data / "totalseg-examples" / "example_ct_sm.nii.gz"
    store = tmp_path / "ct.zarr"
    gazesam = Path(sys.executable).parent / "gazesam"
    proc = subprocess.Popen([str(gazesam), "encode", str(ct), "--store", str(store), "--threads", "1",
                             "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    end = time.time() + 300
    try:
        while time.time() < end and proc.poll() is None:
            group = next(store.glob("litemedsam-*"), None) if store.is_dir() else None
            if group is not None and len([d for d in group.iterdir() if d.is_dir() and d.name != "inputs"]) >= 3:
                break
            time.sleep(0.1)
        assert proc.poll() is None, f"encode ended before it could be killed: {proc.stderr.read().decode()}"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    from gazesam.engine import load_predictor

    half = EmbeddingStore.for_predictor(store, load_predictor(threads=1, cache_size=0))
    missing = half.incomplete()
    assert len(missing) == 1 and 0 < next(iter(missing.values())) <= 30 - 3
    for digest in half.digests():  # what the killed writer left is complete and readable
        assert half.get(digest) is not None
    assert main(["encode", str(ct), "--store", str(store), "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "incomplete" in captured.err and "resuming" in captured.err
    assert "complete" in captured.out and "already stored" in captured.out
    assert half.incomplete() == {} and len(half.digests()) == 30

    def boom(self, x):
        raise AssertionError("the encoder ran although the store holds the embedding")

    monkeypatch.setattr(OnnxRuntime, "encode", boom)
    z, (x0, y0, x1, y1) = _liver_box(shared_data)
    out = tmp_path / "liver.nii.gz"
    assert main(["segment-volume", str(ct), "--box-slice", str(z), str(x0), str(y0), str(x1), str(y1),
                 "--store", str(store), "-o", str(out), "--quiet", "--no-refine"]) == 0
    assert out.is_file() and "voxels of 'object'" in capsys.readouterr().out


@pytest.mark.data
@pytest.mark.slow
def test_two_writers_at_once_leave_a_complete_readable_store(shared_data: Path, tmp_path: Path) -> None:
    data = _small_dataset(shared_data, tmp_path / "data")
    store = tmp_path / "s.zarr"
    gazesam = Path(sys.executable).parent / "gazesam"
    cmd = [str(gazesam), "encode", str(data), "--store", str(store), "--threads", "1", "--no-progress"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1].decode()[-500:] for o in outs]
    from gazesam.engine import load_predictor

    pred = load_predictor(threads=1, cache_size=0)
    s = EmbeddingStore.for_predictor(store, pred)
    assert s.incomplete() == {} and len(s.digests()) == 2
    for item in list_items(data):
        image = read_image(item.image_path)
        got = s.get(image_digest(image))
        assert got is not None and got.original_size == image.shape[:2]
    assert not any((store / ".tmp").iterdir())


def test_missing_extras_and_bad_cluster_options_are_one_line_errors(monkeypatch, tmp_path: Path, capsys) -> None:
    from gazesam.evaluation.distributed import cluster, require_distributed

    for cmd in (["eval", str(tmp_path), "--report", str(tmp_path / "r")], ["encode", str(tmp_path), "--store",
                                                                            str(tmp_path / "s.zarr")]):
        assert main([*cmd, "--workers", "0"]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--workers must be a positive number of worker processes, got 0" in err[0]
    with pytest.raises(InputError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        with cluster(scheduler="tcp://127.0.0.1:9", timeout=2):
            pass
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if the extra were not installed
    monkeypatch.setitem(sys.modules, "zarr", None)
    with pytest.raises(InputError, match=r"pip install gazesam\[distributed\]"):
        require_distributed()
    with pytest.raises(InputError, match=r"needs zarr: pip install gazesam\[distributed\]"):
        EmbeddingStore(tmp_path / "s.zarr", "litemedsam", SHA, mode="a")


APP_WITH_COUNTED_ENCODER = """
import atexit, sys
from gazesam.engine.runtime_onnx import OnnxRuntime
calls = []
real = OnnxRuntime.encode
def counted(self, x):
    calls.append(1)
    return real(self, x)
OnnxRuntime.encode = counted
atexit.register(lambda: print(f"encoder calls: {len(calls)}"))
from gazesam.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.qt
@pytest.mark.slow
def test_app_opens_a_stored_image_without_running_the_encoder(tmp_path: Path, capsys) -> None:
    from tests.app_helpers import CENTRE, H, W, write_fixation_table, write_object_image

    image = write_object_image(tmp_path / "object.png")
    table = write_fixation_table(tmp_path / "fix.csv", "object.png",
                                 [(CENTRE[0] / W, CENTRE[1] / H, 0.8), ((CENTRE[0] + 4) / W, (CENTRE[1] - 3) / H, 0.8)])
    store = tmp_path / "s.zarr"
    assert main(["encode", str(image), "--store", str(store), "--no-progress"]) == 0
    assert "1 embedding(s) written" in capsys.readouterr().out
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    env.pop("QT_QPA_PLATFORM", None)
    shot = tmp_path / "shot.png"
    proc = subprocess.run([sys.executable, "-c", APP_WITH_COUNTED_ENCODER, "app", str(image), "--source",
                           f"replay:{table}", "--out", str(tmp_path / "session"), "--store", str(store),
                           "--screenshot", str(shot), "--quit-after", "20"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    assert "fixation->mask latency in the app" in proc.stdout and shot.is_file()
    assert "encoder calls: 0" in proc.stdout
    assert main(["app", str(image), "--store", str(tmp_path / "missing.zarr"), "--quit-after", "1"]) == 1
    assert "does not exist; make it with gazesam encode" in capsys.readouterr().err
