"""The 1024-px pipeline end to end with a user checkpoint: MobileSAM's architecture with random weights
(no real weights can be downloaded here), through ONNX export and both runtimes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gazesam.engine import load_predictor
from gazesam.engine.modeling import build_model
from gazesam.engine.registry import get_spec
from gazesam.core.errors import CheckpointError
from gazesam.core.phantom import ct_phantom


@pytest.fixture(scope="module")
def random_mobilesam(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model(get_spec("mobilesam").encoder_config())
    for name, p in model.named_parameters():
        if name.endswith("attention_biases"):
            p.data.normal_(0, 0.5)
    path = tmp_path_factory.mktemp("ckpt") / "mobile_sam_random.pt"
    torch.save(model.state_dict(), path)
    return path


@pytest.mark.slow
def test_mobilesam_checkpoint_runs_on_onnx_and_torch_alike(random_mobilesam) -> None:
    onnx = load_predictor("mobilesam", runtime="onnx", checkpoint=random_mobilesam)
    ref = load_predictor("mobilesam", runtime="torch", checkpoint=random_mobilesam)
    image = ct_phantom(size=384).image
    e1, e2 = onnx.encode(image), ref.encode(image)
    assert e1.features.shape == (1, 256, 64, 64) and e1.input_size == (1024, 1024)
    np.testing.assert_allclose(e1.features, e2.features, atol=1e-3)
    kw = dict(box=(60, 100, 200, 220), points=[[120, 150]], point_labels=[1], multimask=True)
    a, b = onnx.predict(e2, **kw), ref.predict(e2, **kw)
    assert a.masks.shape == (3, 384, 384)
    np.testing.assert_allclose(a.low_res_logits, b.low_res_logits, atol=2e-3)


def test_a_checkpoint_of_another_model_is_refused(tmp_path) -> None:
    from gazesam.engine.checkpoints import locate_checkpoint

    lite = locate_checkpoint(get_spec("litemedsam"))
    with pytest.raises(CheckpointError, match="not a mobilesam checkpoint"):
        load_predictor("mobilesam", runtime="torch", checkpoint=lite)
