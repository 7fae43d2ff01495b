"""Pieces shared by PR-Net and its baselines: torchdiffeq's MNIST extractor and head, and GroupNorm.

One definition serves :mod:`pdelearn.models.prnet` and :mod:`pdelearn.models.baselines`, so the
PR-Net and ODE-Net / RK-Net / ResNet classifiers differ only in their middle block.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ShapeError

__all__ = ["check_images", "group_norm", "map_size", "downsampling", "classifier_head"]


def group_norm(channels: int, max_groups: int = 32) -> nn.GroupNorm:
    """``GroupNorm`` with the largest number of groups ``<= max_groups`` that divides ``channels``.

    torchdiffeq's ``norm(dim)`` uses ``min(32, dim)`` groups, which does not divide 67 (64 features +
    3 coordinates); this picks 1 group there and 32 for 64 channels.
    """
    groups = max(g for g in range(1, min(max_groups, channels) + 1) if channels % g == 0)
    return nn.GroupNorm(groups, channels)


def map_size(image_size: int, n_down: int) -> int:
    """Side of the feature map of :func:`downsampling` for square images of side ``image_size``."""
    s = image_size - 2
    for _ in range(n_down):
        s = (s + 2 - 4) // 2 + 1
    return s


def downsampling(in_channels: int, width: int = 64, n_down: int = 2) -> nn.Sequential:
    """The feature extractor of torchdiffeq's MNIST example.

    ``Conv3x3(in -> width)``, then ``n_down`` times ``GroupNorm, ReLU, Conv4x4 stride 2``: a 28 x 28
    image becomes ``(width, 6, 6)`` with ``n_down = 2`` (:func:`map_size`); an 8 x 8 digit becomes
    ``(width, 6, 6)`` with ``n_down = 0``.
    """
    layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 3, 1)]
    for _ in range(n_down):
        layers += [group_norm(width), nn.ReLU(), nn.Conv2d(width, width, 4, 2, 1)]
    return nn.Sequential(*layers)


def classifier_head(width: int, n_classes: int) -> nn.Sequential:
    """``GroupNorm, ReLU, global average pooling, Linear(width -> n_classes)`` (torchdiffeq's head)."""
    return nn.Sequential(group_norm(width), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, n_classes))


def check_images(x: torch.Tensor, channels: int, size: int) -> None:
    """Raise :class:`~pdelearn.errors.ShapeError` unless ``x`` has shape ``(B, channels, size, size)``."""
    expected = (channels, size, size)
    if x.dim() != 4 or tuple(x.shape[1:]) != expected:
        raise ShapeError(f"expected images of shape (batch, {', '.join(map(str, expected))}), received "
                         f"{tuple(x.shape)}")
