"""Batch-level augmentation on the device: small random affine moves of whole batches of digits.

Done on the batch tensor inside the training step (not per sample in the DataLoader), so it costs one
``affine_grid`` + ``grid_sample`` per batch and runs on the GPU when there is one.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def random_affine(images: Tensor, shift: float = 0.0, rotation: float = 0.0, scale: float = 0.0) -> Tensor:
    """Move each image by its own random shift, rotation and scaling.

    Args:
        images: float tensor (B, C, H, W) whose background is 0 (what ``grid_sample`` pads with).
        shift: largest shift in pixels, in each direction.
        rotation: largest rotation in degrees, either way.
        scale: largest relative change of size, e.g. 0.1 for 90%-110%.
    """
    if shift == 0 and rotation == 0 and scale == 0:
        return images
    batch, _, height, width = images.shape

    def uniform(*size: int) -> Tensor:  # in [-1, 1)
        return torch.rand(*size, device=images.device) * 2 - 1

    angle = uniform(batch) * math.radians(rotation)
    zoom = 1 + uniform(batch) * scale
    # affine_grid maps output to input coordinates in [-1, 1]: one pixel is 2 / size.
    offset = uniform(batch, 2) * shift * 2 / torch.tensor([width, height], device=images.device)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack(
        [torch.stack([cos, -sin, offset[:, 0]], dim=1), torch.stack([sin, cos, offset[:, 1]], dim=1)], dim=1
    )
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
