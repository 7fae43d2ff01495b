"""Out-of-distribution conditions: seeded torchvision transforms of pixel-space test images.

Each transform maps a batch ``(B, C, S, S)`` in ``[0, 1]`` to one of the same shape (clipped to
``[0, 1]``). Random parameters (noise, angles, jitter factors) are drawn from a ``torch.Generator``
given by the caller, so a condition is reproducible from its seed.

=========  ======================================================================================
name       transform
=========  ======================================================================================
noise      additive Gaussian noise N(0, 0.1^2)
crop       centre crop of round(S * 56 / 64) pixels, resized back to S (bilinear)
rotate     rotation by an angle uniform in [-30, 30] degrees, per image
jitter     colour jitter 0.2 (brightness, contrast, saturation, hue), per image; colour images only
=========  ======================================================================================
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..errors import ConfigError

__all__ = ["SHIFTS", "NOISE_STD", "CROP_FRACTION", "ROTATION_DEG", "JITTER", "shift_transform", "describe"]

NOISE_STD = 0.1
CROP_FRACTION = 56 / 64
ROTATION_DEG = 30.0
JITTER = 0.2
SHIFTS = ("noise", "crop", "rotate", "jitter")


def describe(name: str) -> str:
    """One line saying what the condition ``name`` does."""
    return {"noise": f"Gaussian noise N(0, {NOISE_STD}^2)", "crop": "centre crop 56/64 of the side, resized back",
            "rotate": f"random rotation in [-{ROTATION_DEG:g}, {ROTATION_DEG:g}] degrees",
            "jitter": f"colour jitter {JITTER} (brightness, contrast, saturation, hue)"}[name]


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> list[float]:
    return (low + (high - low) * torch.rand(n, generator=generator, dtype=torch.float64)).tolist()


def shift_transform(name: str, channels: int) -> Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None:
    """The transform of condition ``name`` for images with ``channels`` channels.

    Returns None where the condition does not apply (``jitter`` on grey images: saturation and hue
    are undefined). Unknown names are a :class:`ConfigError` (checked by the caller first).
    """
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    if name == "noise":
        def noise(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
            z = torch.randn(x.shape, generator=g, dtype=torch.float32).to(x.device, x.dtype)
            return (x + NOISE_STD * z).clamp(0.0, 1.0)
        return noise
    if name == "crop":
        def crop(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
            size = x.shape[-1]
            side = max(1, round(size * CROP_FRACTION))
            out = TF.resize(TF.center_crop(x, [side, side]), [size, size], interpolation=InterpolationMode.BILINEAR,
                            antialias=True)
            return out.clamp(0.0, 1.0)
        return crop
    if name == "rotate":
        def rotate(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
            angles = _uniform(len(x), -ROTATION_DEG, ROTATION_DEG, g)
            return torch.stack([TF.rotate(img, a, interpolation=InterpolationMode.BILINEAR)
                                for img, a in zip(x, angles)]).clamp(0.0, 1.0)
        return rotate
    if name == "jitter":
        if channels != 3:
            return None

        def jitter(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
            n = len(x)
            b, c, s = (_uniform(n, 1 - JITTER, 1 + JITTER, g) for _ in range(3))
            h = _uniform(n, -JITTER, JITTER, g)
            out = []
            for i, img in enumerate(x):
                img = TF.adjust_brightness(img, b[i])
                img = TF.adjust_contrast(img, c[i])
                img = TF.adjust_saturation(img, s[i])
                out.append(TF.adjust_hue(img, h[i]))
            return torch.stack(out).clamp(0.0, 1.0)
        return jitter
    raise ConfigError(f"unknown out-of-distribution condition {name!r}")
