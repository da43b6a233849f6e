"""Batch-level augmentation on the device: random affine moves, mirror images and erased patches.

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
    # affine_grid maps output to input coordinates in [-1, 1]: one pixel is 2 / size. (Divided by plain
    # numbers: a tensor of the sizes would be a copy from the host, which waits for the GPU.)
    offset = uniform(batch, 2) * shift * 2
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack(
        [torch.stack([cos, -sin, offset[:, 0] / width], dim=1), torch.stack([sin, cos, offset[:, 1] / height], dim=1)],
        dim=1,
    )
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_flip(images: Tensor, probability: float = 0.5) -> Tensor:
    """Mirror each image left-right with ``probability``: a mirrored garment is still the same garment, a
    mirrored digit is not (use it for Fashion-MNIST, never for MNIST)."""
    if probability == 0:
        return images
    flip = torch.rand(len(images), device=images.device) < probability
    return torch.where(flip.view(-1, 1, 1, 1), images.flip(-1), images)


def random_erase(images: Tensor, probability: float = 0.0, max_area: float = 0.25) -> Tensor:
    """Blank one random rectangle (to the background, 0) in each image with ``probability``.

    Random erasing (Zhong et al., 2017): the network must classify from the parts it still sees, so it
    cannot lean on a single region. The rectangle covers 2% to ``max_area`` of the image, with an aspect
    ratio between 1:3 and 3:1. Done with one mask for the whole batch, no Python loop over images.
    """
    if probability == 0:
        return images
    batch, _, height, width = images.shape
    device = images.device
    area = (0.02 + torch.rand(batch, device=device) * (max_area - 0.02)) * height * width
    aspect = torch.exp((torch.rand(batch, device=device) * 2 - 1) * math.log(3))
    box_h = (area * aspect).sqrt().clamp(1, height)
    box_w = (area / aspect).sqrt().clamp(1, width)
    top = torch.rand(batch, device=device) * (height - box_h)
    left = torch.rand(batch, device=device) * (width - box_w)
    rows = torch.arange(height, device=device).view(1, height, 1)
    cols = torch.arange(width, device=device).view(1, 1, width)
    inside = (
        (rows >= top.view(-1, 1, 1))
        & (rows < (top + box_h).view(-1, 1, 1))
        & (cols >= left.view(-1, 1, 1))
        & (cols < (left + box_w).view(-1, 1, 1))
    )
    erase = inside & (torch.rand(batch, 1, 1, device=device) < probability)
    return images.masked_fill(erase.unsqueeze(1), 0.0)
