"""COCO: gazesam's 2D masks and sessions exported as COCO JSON and read back with pycocotools; `gazesam eval` on
a COCO version of kvasir-gaze images scores exactly what it scores on the native layout."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

pycocotools = pytest.importorskip("pycocotools", reason="COCO needs the 'coco' extra (pycocotools)")
from pycocotools import mask as mask_utils  # noqa: E402
from pycocotools.coco import COCO  # noqa: E402

from gazesam.cli.main import main  # noqa: E402
from gazesam.session.coco import truth_mask  # noqa: E402
from gazesam.core.errors import InputError  # noqa: E402
from gazesam.evaluation.dataset import list_items, read_item_mask, read_mask  # noqa: E402
from gazesam.session import DocumentRef, Session  # noqa: E402
from gazesam.session.labels import Label  # noqa: E402

pytestmark = pytest.mark.data
KVASIR_IMAGES = ("cju2lyynuymli0855g7fxgbhe", )  # plus the first two of the folder, see _pick


def _pick(shared_data, n: int = 3) -> list[str]:
    stems = sorted(p.stem for p in (shared_data / "kvasir-gaze" / "images").glob("*.jpg"))
    return sorted({*KVASIR_IMAGES, *stems[:n - 1]})


def test_mask_pairs_export_reads_back_with_pycocotools(shared_data, tmp_path, capsys) -> None:
    k = shared_data / "kvasir-gaze"
    stems = _pick(shared_data)
    args = []
    for s in stems:
        args += ["--mask", str(k / "images" / f"{s}.jpg"), str(k / "masks" / f"{s}.png")]
    out = tmp_path / "polyps.json"
    assert main(["export-coco", *args, "--category", "polyp", "--out", str(out)]) == 0
    assert "3 image(s), 3 annotation(s), 1 category" in capsys.readouterr().out
    coco = COCO(str(out))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["polyp"]
    for img in coco.loadImgs(coco.getImgIds()):
        truth = np.asarray(Image.open(k / "masks" / (img["file_name"][:-4] + ".png")).convert("L")) > 127
        (ann,) = coco.loadAnns(coco.getAnnIds(imgIds=img["id"]))
        np.testing.assert_array_equal(coco.annToMask(ann).astype(bool), truth)
        assert ann["area"] == int(truth.sum()) == int(mask_utils.area(coco.annToRLE(ann)))
        np.testing.assert_allclose(ann["bbox"], mask_utils.toBbox(coco.annToRLE(ann)))
        assert (img["height"], img["width"]) == truth.shape


def test_session_export_has_one_annotation_per_label(shared_data, tmp_path) -> None:
    k = shared_data / "kvasir-gaze"
    stem = _pick(shared_data)[0]
    image_path = k / "images" / f"{stem}.jpg"
    image = np.asarray(Image.open(image_path).convert("RGB"))
    truth = np.asarray(Image.open(k / "masks" / f"{stem}.png").convert("L")) > 127
    label_map = np.zeros(truth.shape, np.uint16)
    label_map[truth] = 3
    label_map[:20, :30] = 7
    s = Session(DocumentRef.for_image(image_path, image), labels=[Label(3, "polyp", "#ff0000"),
                                                                  Label(7, "marker", "#00ff00"),
                                                                  Label(9, "unused", "#0000ff")],
                label_map=label_map, session_dir=tmp_path / "session")
    s.save()
    out = tmp_path / "session.json"
    assert main(["export-coco", str(tmp_path / "session"), "--out", str(out)]) == 0
    coco = COCO(str(out))
    cats = {c["name"]: c["id"] for c in coco.loadCats(coco.getCatIds())}
    assert set(cats) == {"polyp", "marker", "unused"}
    anns = coco.loadAnns(coco.getAnnIds())
    assert len(anns) == 2  # the empty label has no annotation
    for ann in anns:
        value = ann["gazesam_label_value"]
        assert ann["category_id"] == cats[{3: "polyp", 7: "marker"}[value]] and ann["iscrowd"] == 0
        np.testing.assert_array_equal(coco.annToMask(ann).astype(bool), label_map == value)
    assert coco.loadImgs(anns[0]["image_id"])[0]["file_name"] == image_path.name


def test_polygons_and_crowd_regions_decode_to_truth() -> None:
    h, w = 40, 50
    poly = [[10, 10, 30, 10, 30, 25, 10, 25]]
    crowd = mask_utils.encode(np.asfortranarray(np.pad(np.ones((5, 5), np.uint8), ((30, 5), (40, 5)))))
    crowd["counts"] = crowd["counts"].decode("ascii")  # compressed RLE as JSON holds it
    truth = truth_mask([{"id": 1, "segmentation": poly, "iscrowd": 0},
                        {"id": 2, "segmentation": crowd, "iscrowd": 1}], h, w)
    want = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(poly, h, w))).astype(bool)
    np.testing.assert_array_equal(truth == 255, want)
    assert (truth == 128).sum() == 25  # crowd: the ignore band of gazesam's scoring
    with pytest.raises(InputError, match="no polygon or RLE"):
        truth_mask([{"id": 3, "segmentation": None}], h, w)


def _native_and_coco(shared_data, tmp_path, n: int = 3):
    """The same kvasir images as the native layout and as a COCO dataset (compressed RLE by pycocotools)."""
    k = shared_data / "kvasir-gaze"
    stems = _pick(shared_data, n)
    native, coco = tmp_path / "native", tmp_path / "coco"
    for d in (native / "images", native / "masks", coco / "images"):
        d.mkdir(parents=True)
    images, anns = [], []
    for i, s in enumerate(stems, start=1):
        for d in (native / "images", coco / "images"):
            (d / f"{s}.jpg").symlink_to(k / "images" / f"{s}.jpg")
        (native / "masks" / f"{s}.png").symlink_to(k / "masks" / f"{s}.png")
        m = np.asarray(Image.open(k / "masks" / f"{s}.png").convert("L")) > 127
        rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
        images.append({"id": i, "file_name": f"{s}.jpg", "width": m.shape[1], "height": m.shape[0]})
        anns.append({"id": i, "image_id": i, "category_id": 1, "iscrowd": 0, "area": int(m.sum()),
                     "bbox": [float(v) for v in mask_utils.toBbox(rle)],
                     "segmentation": {"size": rle["size"], "counts": rle["counts"].decode("ascii")}})
    (coco / "annotations.json").write_text(json.dumps({"images": images, "annotations": anns,
                                                        "categories": [{"id": 1, "name": "polyp"}]}))
    for d in (native, coco):
        (d / "fixations.csv").symlink_to(k / "fixations.csv")
    return native, coco


def test_coco_dataset_items_match_native(shared_data, tmp_path) -> None:
    native, coco = _native_and_coco(shared_data, tmp_path)
    a, b = list_items(native), list_items(coco)
    assert [i.name for i in a] == [i.name for i in b]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(read_mask(x.mask_path) > 127, read_item_mask(y) == 255)


@pytest.mark.slow
def test_eval_on_coco_gives_the_native_dice(shared_data, tmp_path, litemedsam) -> None:
    from gazesam.evaluation.evaluate import ORACLE, evaluate
    from gazesam.prompt import DEFAULT_POLICY

    native, coco = _native_and_coco(shared_data, tmp_path, n=2)  # two images, each through 3 policies: ~1 min
    ra = evaluate(native, [DEFAULT_POLICY], predictor=litemedsam, progress=False)
    rb = evaluate(coco, [DEFAULT_POLICY], predictor=litemedsam, progress=False)
    assert ra.policies == rb.policies and len(ra.policies) >= 2
    for policy in ra.policies:
        da = [(r.image, r.dice_end) for r in ra.results[policy]]
        db = [(r.image, r.dice_end) for r in rb.results[policy]]
        assert len(da) == 2 and da == db
    assert np.mean([r.dice_end for r in ra.results[ORACLE]]) > 0.5  # real masks were scored, not empty ones
