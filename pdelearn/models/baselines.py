"""Baseline image classifiers: ODE-Net, RK-Net and ResNet on the torchdiffeq MNIST architecture, and the
isometric MobileNetV3 (plain or with an ODE middle block), built by name with :func:`build_model`.

The MNIST architecture (the ``odenet_mnist`` example of torchdiffeq):

* extractor: Conv(in, 64, 3) -> GroupNorm -> ReLU -> Conv(64, 64, 4, stride 2, pad 1) -> GN -> ReLU ->
  Conv(64, 64, 4, stride 2, pad 1): a ``(B, 64, 6, 6)`` map for 28 x 28 images;
* middle: an ODE block over GN -> ReLU -> ConcatConv(65 -> 64, 3x3) -> GN -> ReLU -> ConcatConv -> GN on
  ``t in [0, 1]`` (dopri5, rtol = atol = 1e-3), with adjoint gradients (ODE-Net) or backpropagation through
  the solver (RK-Net); or 6 residual blocks (ResNet);
* head: GN -> ReLU -> global average pooling -> Linear(64, n_classes).

GroupNorm has ``min(32, C)`` groups. Parameter counts for 10 classes and 1 channel: ODE-Net / RK-Net
208,266, ResNet 576,778 (the paper rounds these to 0.22 M and 0.60 M).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
from torch import nn

from ..errors import ConfigError, did_you_mean
from .blocks import check_images, classifier_head, downsampling, group_norm, map_size
from .mobilenetv3 import IsometricMobileNetV3, ode_middle
from .odeblock import ConcatConv2d, ODEBlock

__all__ = ["MODELS", "ConvODEFunc", "MNISTNet", "ODENet", "RKNet", "ResBlock", "ResNet", "build_model",
           "count_parameters", "mnist_extractor", "mnist_feature_size", "mnist_head", "group_norm"]

MIN_MAP = 3  # the middle block's 3x3 convolutions need a map of at least 3 x 3


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def mnist_feature_size(image_size: int) -> int:
    """Side of the extractor's output map for ``image_size`` x ``image_size`` inputs (28 -> 6).

    Raises
    ------
    ConfigError
        If the map would be smaller than 3 x 3 (images smaller than 14 pixels).
    """
    if isinstance(image_size, bool) or not isinstance(image_size, int):
        raise ConfigError(f"image_size must be an integer number of pixels, received {image_size!r}")
    side = map_size(image_size, 2)
    if side < MIN_MAP:
        raise ConfigError(f"the MNIST architecture needs images of at least 14 x 14 pixels (a feature map of at "
                          f"least {MIN_MAP} x {MIN_MAP}), received {image_size}; upsample the data, e.g. "
                          "load_dataset('digits', image_size=28)")
    return side


def mnist_extractor(in_channels: int = 1, width: int = 64) -> nn.Sequential:
    """The downsampling layers: ``(B, in_channels, S, S) -> (B, width, s, s)`` with ``s = mnist_feature_size(S)``."""
    return downsampling(in_channels, width, n_down=2)


def mnist_head(width: int = 64, n_classes: int = 10) -> nn.Sequential:
    """The classifier head: ``(B, width, s, s) -> (B, n_classes)``."""
    return classifier_head(width, n_classes)


class ConvODEFunc(nn.Module):
    """``f(t, h)`` = GN -> ReLU -> ConcatConv3x3 -> GN -> ReLU -> ConcatConv3x3 -> GN; ``(B, C, s, s)`` in and out."""

    def __init__(self, channels: int = 64):
        super().__init__()
        self.norm1, self.conv1 = group_norm(channels), ConcatConv2d(channels, channels)
        self.norm2, self.conv2 = group_norm(channels), ConcatConv2d(channels, channels)
        self.norm3 = group_norm(channels)

    def forward(self, t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        out = self.conv1(t, torch.relu(self.norm1(h)))
        out = self.conv2(t, torch.relu(self.norm2(out)))
        return self.norm3(out)


class ResBlock(nn.Module):
    """``h + conv(relu(gn(conv(relu(gn(h))))))`` with bias-free 3x3 convolutions."""

    def __init__(self, channels: int = 64):
        super().__init__()
        self.norm1, self.conv1 = group_norm(channels), nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.norm2, self.conv2 = group_norm(channels), nn.Conv2d(channels, channels, 3, 1, 1, bias=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        out = self.conv1(torch.relu(self.norm1(h)))
        return h + self.conv2(torch.relu(self.norm2(out)))


class MNISTNet(nn.Module):
    """Extractor -> ``middle`` -> head on the torchdiffeq MNIST architecture: ``(B, C_in, S, S) -> (B, n_classes)``.

    Parameters
    ----------
    middle
        A module mapping ``(B, width, s, s)`` to the same shape (ODE block, residual blocks, PDE block).
    n_classes, in_channels, image_size
        Classes, image channels and side ``S`` (at least 14; 28 gives the 6 x 6 map of the paper).
    width
        Channels of the feature map (64).
    """

    def __init__(self, middle: nn.Module, n_classes: int = 10, in_channels: int = 1, image_size: int = 28,
                 width: int = 64):
        super().__init__()
        self.map_size = mnist_feature_size(image_size)
        self.n_classes, self.in_channels, self.image_size, self.width = n_classes, in_channels, image_size, width
        self.extractor = mnist_extractor(in_channels, width)
        self.middle = middle
        self.head = mnist_head(width, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The map ``h(0)`` of shape ``(B, width, s, s)`` entering the middle block."""
        check_images(x, self.in_channels, self.image_size)
        return self.extractor(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.middle(self.features(x)))


class ODENet(MNISTNet):
    """ODE-Net: the ODE block with adjoint gradients (``method``, ``rtol``, ``atol``, ``step_size`` as in ODEBlock)."""

    adjoint = True

    def __init__(self, n_classes: int = 10, in_channels: int = 1, image_size: int = 28, *, width: int = 64,
                 method: str = "dopri5", rtol: float = 1e-3, atol: float = 1e-3, step_size: float | None = None):
        block = ODEBlock(ConvODEFunc(width), adjoint=self.adjoint, method=method, rtol=rtol, atol=atol,
                         step_size=step_size)
        super().__init__(block, n_classes, in_channels, image_size, width)


class RKNet(ODENet):
    """RK-Net: the same ODE block, gradients by backpropagation through the solver's steps."""

    adjoint = False


class ResNet(MNISTNet):
    """ResNet: ``n_blocks`` (6) residual blocks in place of the ODE block."""

    def __init__(self, n_classes: int = 10, in_channels: int = 1, image_size: int = 28, *, width: int = 64,
                 n_blocks: int = 6):
        if isinstance(n_blocks, bool) or not isinstance(n_blocks, int) or n_blocks < 1:
            raise ConfigError(f"n_blocks must be an integer >= 1, received {n_blocks!r}")
        super().__init__(nn.Sequential(*[ResBlock(width) for _ in range(n_blocks)]), n_classes, in_channels,
                         image_size, width)


def _odenet_mobilenetv3(n_classes: int, in_channels: int, image_size: int, *, width: int = 1, depth: int = 8,
                        dropout: float = 0.3, adjoint: bool = True, method: str = "dopri5", rtol: float = 1e-3,
                        atol: float = 1e-3, step_size: float | None = None) -> IsometricMobileNetV3:
    middle = ode_middle(adjoint=adjoint, method=method, rtol=rtol, atol=atol, step_size=step_size)
    return IsometricMobileNetV3(n_classes, in_channels, image_size, width=width, depth=depth, middle=middle,
                                dropout=dropout)


def _mobilenetv3(n_classes: int, in_channels: int, image_size: int, *, width: int = 1, depth: int = 8,
                 dropout: float = 0.3) -> IsometricMobileNetV3:
    return IsometricMobileNetV3(n_classes, in_channels, image_size, width=width, depth=depth, dropout=dropout)


#: name -> constructor ``(n_classes, in_channels, image_size, **options) -> nn.Module``.
MODELS: dict[str, Callable[..., nn.Module]] = {
    "odenet": ODENet,
    "rknet": RKNet,
    "resnet": ResNet,
    "mobilenetv3": _mobilenetv3,
    "odenet_mobilenetv3": _odenet_mobilenetv3,
}


def build_model(name: str, n_classes: int, in_channels: int, image_size: int, **options) -> nn.Module:
    """A baseline classifier by name.

    Parameters
    ----------
    name
        ``odenet``, ``rknet``, ``resnet`` (MNIST architecture), ``mobilenetv3``, ``odenet_mobilenetv3``.
    n_classes, in_channels, image_size
        From the data set (``VisionData.info``).
    **options
        Constructor options (``width``, ``method``, ``rtol``, ``atol``, ``step_size``, ``n_blocks``, ``depth``,
        ``dropout``, ``adjoint``), checked against the constructor's signature.

    Raises
    ------
    ConfigError
        Unknown name or option, bad class or channel count, an image size the architecture cannot take.
    """
    if name not in MODELS:
        raise ConfigError(did_you_mean(name, MODELS, "model"))
    for label, value, low in (("n_classes", n_classes, 2), ("in_channels", in_channels, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"{label} must be an integer >= {low}, received {value!r}")
    make = MODELS[name]
    params = inspect.signature(make).parameters
    allowed = [p for p, v in params.items() if v.kind is inspect.Parameter.KEYWORD_ONLY]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(f"model {name!r} has no option(s) {', '.join(unknown)}; its options are "
                          f"{', '.join(allowed) or 'none'}")
    return make(n_classes, in_channels, image_size, **options)
