"""Isometric MobileNetV3 for CIFAR / Tiny ImageNet, with a pluggable middle block (ODE block, PDE block, none).

"Isometric": after a small stem every block keeps the same resolution (16 x 16) and the same width
(``64 * width_multiplier`` channels). A block is MobileNetV3's inverted residual: Conv1x1(C -> 6C) BN HSwish,
depthwise Conv5x5 BN, squeeze-and-excite, HSwish, Conv1x1(6C -> C) BN, plus the input. The network is

    stem (image -> C x 16 x 16) -> depth // 2 blocks -> middle block -> depth - depth // 2 blocks -> head

and the head is Conv1x1(C -> 6C) BN HSwish, global average pooling, dropout, Linear(6C -> n_classes).
The paper gives only the middle block (PR-Net's f, Appendix F) and the parameter counts; the stem, the depth
(8 blocks) and the head here are our choice, sized so that the counts land near the paper's (see
``docs/vision.md``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..errors import ConfigError
from .blocks import check_images
from .odeblock import ConcatConv2d, ODEBlock

__all__ = ["IsometricMobileNetV3", "InvertedResidual", "MBODEFunc", "SqueezeExcite", "ode_middle"]

MAP_SIZE = 16
EXPANSION = 6
KERNEL = 5

#: ``middle(channels, map_size) -> nn.Module`` mapping ``(B, C, S, S)`` to ``(B, C, S, S)``.
MiddleFactory = Callable[[int, int], nn.Module]


class SqueezeExcite(nn.Module):
    """Channel attention: ``x * hardsigmoid(W2 relu(W1 mean_hw(x)))``, reduction 4."""

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        hidden = max(8, channels // reduction)
        self.fc = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True),
                                nn.Conv2d(hidden, channels, 1), nn.Hardsigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(x)


def _body(channels: int) -> list[nn.Module]:
    """Layers after the first 1x1 convolution of an inverted residual (shared by the block and the ODE function)."""
    hidden = channels * EXPANSION
    return [nn.BatchNorm2d(hidden), nn.Hardswish(),
            nn.Conv2d(hidden, hidden, KERNEL, padding=KERNEL // 2, groups=hidden, bias=False), nn.BatchNorm2d(hidden),
            SqueezeExcite(hidden), nn.Hardswish(), nn.Conv2d(hidden, channels, 1, bias=False), nn.BatchNorm2d(channels)]


class InvertedResidual(nn.Module):
    """MobileNetV3 block with expansion 6, kernel 5, SE and hard-swish: ``(B, C, S, S) -> (B, C, S, S)``."""

    def __init__(self, channels: int):
        super().__init__()
        expand = nn.Conv2d(channels, channels * EXPANSION, 1, bias=False)
        self.layers = nn.Sequential(expand, *_body(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x)


class MBODEFunc(nn.Module):
    """The inverted-residual body as an ODE right-hand side ``f(t, h)``; ``t`` enters the first 1x1 convolution."""

    def __init__(self, channels: int):
        super().__init__()
        self.expand = ConcatConv2d(channels, channels * EXPANSION, kernel_size=1, padding=0, bias=False)
        self.rest = nn.Sequential(*_body(channels))

    def forward(self, t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return self.rest(self.expand(t, h))


def ode_middle(adjoint: bool = True, **solver) -> MiddleFactory:
    """A middle-block factory: an :class:`ODEBlock` over :class:`MBODEFunc` (dopri5, rtol = atol = 1e-3)."""

    def make(channels: int, map_size: int) -> nn.Module:
        return ODEBlock(MBODEFunc(channels), adjoint=adjoint, **solver)

    return make


class IsometricMobileNetV3(nn.Module):
    """Isometric MobileNetV3 classifier: ``(B, in_channels, S, S) -> (B, n_classes)``.

    Parameters
    ----------
    n_classes, in_channels
        Classes and image channels.
    image_size
        Side ``S`` of the input images: ``16 * 2**k`` (16, 32, 64, 128, ...); the stem downsamples by ``2**k``.
    width
        Width multiplier: ``C = 64 * width`` channels in every block (the paper uses 1 and 2).
    depth
        Number of inverted-residual blocks (half before, half after the middle block).
    middle
        ``middle(C, 16) -> nn.Module`` (e.g. :func:`ode_middle`, or a PDE block); ``None``: no middle block.
    dropout
        Dropout before the final linear layer.
    """

    def __init__(self, n_classes: int, in_channels: int = 3, image_size: int = 32, *, width: int = 1,
                 depth: int = 8, middle: MiddleFactory | None = None, dropout: float = 0.3):
        super().__init__()
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ConfigError(f"width multiplier must be an integer >= 1, received {width!r}")
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
            raise ConfigError(f"depth must be an integer >= 0, received {depth!r}")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), received {dropout}")
        factor = image_size // MAP_SIZE if isinstance(image_size, int) and image_size >= MAP_SIZE else 0
        if factor < 1 or factor * MAP_SIZE != image_size or factor & (factor - 1):
            raise ConfigError(f"the isometric MobileNetV3 takes images of side 16 * 2**k (16, 32, 64, ...), received "
                              f"{image_size!r}; resize the data (load_dataset(..., image_size=32 or 64))")
        self.n_classes, self.in_channels, self.image_size, self.width = n_classes, in_channels, image_size, width
        c = 64 * width
        self.channels = c
        stem: list[nn.Module] = []
        ch, stride_left = in_channels, factor.bit_length() - 1
        while True:  # 3x3 convolutions, stride 2 until the map is 16 x 16, then a 1x1 to C channels
            stride = 2 if stride_left > 0 else 1
            stem += [nn.Conv2d(ch, c // 2, 3, stride, 1, bias=False), nn.BatchNorm2d(c // 2), nn.Hardswish()]
            ch, stride_left = c // 2, stride_left - 1
            if stride_left <= 0:
                break
        stem += [nn.Conv2d(c // 2, c, 1, bias=False), nn.BatchNorm2d(c)]
        self.stem = nn.Sequential(*stem)
        self.blocks_before = nn.Sequential(*[InvertedResidual(c) for _ in range(depth // 2)])
        self.middle = middle(c, MAP_SIZE) if middle is not None else nn.Identity()
        self.blocks_after = nn.Sequential(*[InvertedResidual(c) for _ in range(depth - depth // 2)])
        self.head = nn.Sequential(nn.Conv2d(c, c * EXPANSION, 1, bias=False), nn.BatchNorm2d(c * EXPANSION),
                                  nn.Hardswish(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout),
                                  nn.Linear(c * EXPANSION, n_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The ``(B, C, 16, 16)`` map entering the middle block."""
        check_images(x, self.in_channels, self.image_size)
        return self.blocks_before(self.stem(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks_after(self.middle(self.features(x))))
