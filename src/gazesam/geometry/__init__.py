"""Geometry stage: display -> window -> view -> image pixel -> volume voxel, and back."""

from gazesam.geometry.transforms import (
    Chain,
    DisplayToWindow,
    ImageToVoxel,
    Transform,
    ViewToImage,
    WindowToView,
    display_to_image,
    pixel_index,
)

__all__ = [
    "Chain",
    "DisplayToWindow",
    "ImageToVoxel",
    "Transform",
    "ViewToImage",
    "WindowToView",
    "display_to_image",
    "pixel_index",
]
