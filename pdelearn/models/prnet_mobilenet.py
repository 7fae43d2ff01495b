"""PR-Net on the isometric MobileNetV3 (CIFAR, SVHN, Tiny ImageNet): the middle block is a PDE block.

The network (paper, Appendix F) is the isometric MobileNetV3 of :mod:`pdelearn.models.mobilenetv3`
with its middle block replaced by ``f(h(0), d, t; theta)`` queried at the learned points ``H``:

    image -> stem, depth // 2 inverted residuals -> h(0): (B, C, 16, 16)
          -> f(h(0), d, t) at H -> h_task -> depth - depth // 2 inverted residuals -> head -> logits

``f`` is the inverted-residual body with the coordinates ``(d1, d2, t)`` as three more input channels:
``Conv1x1(C+3 -> 6C), norm, act, depthwise Conv5x5(6C), norm, squeeze-and-excite, act,
Conv1x1(6C -> C), norm`` plus ``h(0)`` (``C = 64 * width``; ``67 -> 384 -> 64`` at width 1, the paper's).
Two changes from the paper's layers, both so that derivatives with respect to the coordinates are
per sample and exist at every order (the parameter count is unchanged):

* **GroupNorm instead of BatchNorm** inside ``f``: BatchNorm in training mode normalises with batch
  statistics, so the output of one sample (and its derivatives) would depend on every other sample.
* **Smooth activations** inside ``f``: ``act`` is SiLU by default (the smooth counterpart of
  hard-swish, whose second derivative jumps and third vanishes), and the squeeze-and-excite gate is
  ``pool, Conv1x1, act, Conv1x1, sigmoid`` (hard-sigmoid and ReLU are piecewise linear).

The rest of the network (stem, blocks, head) is MobileNetV3's, with BatchNorm and hard-swish.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from ..terms import TermLibrary
from .blocks import check_images, group_norm
from .mobilenetv3 import EXPANSION, KERNEL, MAP_SIZE, IsometricMobileNetV3
from .prnet import COORDS, SMOOTH_ACTIVATIONS, CoordinateBlock, PRNet, check_activation
from .taylor import Gate

__all__ = ["MBPDEBlock", "MobileNetPRNet"]


class MBPDEBlock(CoordinateBlock):
    """``f(h(0), d, t; theta)`` as an inverted residual with coordinate channels: ``(B, C+3, s, s) -> (B, C, s, s)``.

    Parameters
    ----------
    channels
        ``C``, channels of ``h``.
    activation
        One of :data:`~pdelearn.models.prnet.SMOOTH_ACTIVATIONS` (default ``silu``).
    skip
        Residual connection from ``h(0)``.
    """

    def __init__(self, channels: int = 64, activation: str = "silu", skip: bool = True):
        super().__init__()
        check_activation(activation)
        act = SMOOTH_ACTIVATIONS[activation]
        hidden = channels * EXPANSION
        se = max(8, hidden // 4)
        self.channels, self.skip, self.activation = channels, skip, activation
        self.net = nn.Sequential(
            nn.Conv2d(channels + len(COORDS), hidden, 1, bias=False), group_norm(hidden), act(),
            nn.Conv2d(hidden, hidden, KERNEL, padding=KERNEL // 2, groups=hidden, bias=False), group_norm(hidden),
            Gate(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(hidden, se, 1), act(), nn.Conv2d(se, hidden, 1),
                               nn.Sigmoid())),
            act(), nn.Conv2d(hidden, channels, 1, bias=False), group_norm(channels),
        )



class MobileNetPRNet(PRNet):
    """PR-Net on the isometric MobileNetV3: ``(B, in_channels, S, S) -> (B, n_classes)``, ``S = 16 * 2**k``.

    ``extractor`` is the backbone's stem and first ``depth // 2`` blocks, ``block`` the
    :class:`MBPDEBlock`, ``after`` the other blocks, ``head`` MobileNetV3's head (``head.*`` is what
    transfer learning replaces). Everything else (``H``, the equation, derivatives, Algorithm 1) is
    :class:`~pdelearn.models.prnet.PRNet`'s.

    Parameters
    ----------
    n_classes, in_channels, image_size
        Classes, image channels, side of the images (16, 32, 64, ...).
    width
        Width multiplier: ``C = 64 * width`` (the paper: 1 and 2).
    depth, dropout
        Of the backbone (:class:`~pdelearn.models.mobilenetv3.IsometricMobileNetV3`).
    activation, skip
        Of the :class:`MBPDEBlock`.
    library, max_order, t_query
        As for :class:`~pdelearn.models.prnet.PRNet`.

    Examples
    --------
    >>> net = MobileNetPRNet(200, 3, 64, width=1)
    >>> net.parameter_count()
    1328264
    """

    def __init__(self, n_classes: int, in_channels: int = 3, image_size: int = 32, *, width: int = 1,
                 depth: int = 8, dropout: float = 0.3, activation: str = "silu", skip: bool = True,
                 library: TermLibrary | None = None, max_order: int = 3, t_query: float = 1.0):
        nn.Module.__init__(self)
        if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
            raise ConfigError(f"a classifier needs at least 2 classes, received {n_classes!r}")
        base = IsometricMobileNetV3(n_classes, in_channels, image_size, width=width, depth=depth, dropout=dropout)
        self.in_channels, self.image_size, self.width = in_channels, image_size, width
        self._assemble(nn.Sequential(base.stem, base.blocks_before), MBPDEBlock(base.channels, activation, skip),
                       base.head, MAP_SIZE, library, max_order, t_query, after=base.blocks_after)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``h(0)``: ``(B, 64 * width, 16, 16)`` from images ``(B, in_channels, S, S)``."""
        check_images(x, self.in_channels, self.image_size)
        return self.extractor(x)
