"""Adversarial attacks in input (pixel) space, before the normalisation the network expects.

The data sets deliver normalised images ``(x_pix - mean) / std``; attacks perturb ``x_pix`` in
``[0, 1]`` under an L-infinity budget ``eps`` and the network sees the perturbed image normalised
again (:class:`Normalized`). Gradients are taken with respect to the image only: parameters, PR-Net's
coordinate channels and query points ``H`` are never perturbed (they are not inputs).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ConfigError

__all__ = ["ATTACKS", "EPS_MAX", "Normalized", "fgsm", "pgd", "parse_eps"]

#: The attacks by name: FGSM (one signed-gradient step of size eps) and PGD (3 steps of 1/255).
ATTACKS = ("fgsm", "pgd")
#: Largest eps accepted (pixel fraction); beyond it a perturbation is no longer "small" (MNIST's usual maximum).
EPS_MAX = 0.3


class Normalized(nn.Module):
    """``model((x_pix - mean) / std)``: a classifier of pixel-space images ``(B, C, S, S)`` in ``[0, 1]``."""

    def __init__(self, model: nn.Module, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def normalize(self, x_pix: torch.Tensor) -> torch.Tensor:
        return (x_pix - self.mean.to(x_pix)) / self.std.to(x_pix)

    def pixels(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised images back to pixel space."""
        return x * self.std.to(x) + self.mean.to(x)

    def forward(self, x_pix: torch.Tensor) -> torch.Tensor:
        return self.model(self.normalize(x_pix))


def parse_eps(text: str | float) -> float:
    """``"1/255"``, ``"0.5/255"`` or ``"0.004"`` -> float in ``(0, EPS_MAX]``; anything else is a ConfigError."""
    s = str(text).strip()
    try:
        if "/" in s:
            num, den = s.split("/", 1)
            value = float(num) / float(den)
        else:
            value = float(s)
    except (ValueError, ZeroDivisionError):
        raise ConfigError(f"--eps takes numbers such as 1/255 or 0.004, received {text!r}") from None
    if not 0.0 < value <= EPS_MAX:
        raise ConfigError(f"--eps {text} = {value:.4g} is out of range: eps is a fraction of the pixel range [0, 1] and "
                          f"must be in (0, {EPS_MAX}] (e.g. 1/255 = 0.0039); received {value:.4g}")
    return value


def _input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``d loss / d x`` (sum of cross-entropies over the batch) without touching parameter gradients."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(model(x), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
    return grad


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """Fast gradient sign method: ``clip(x + eps * sign(grad_x CE(model(x), y)), 0, 1)``.

    Parameters
    ----------
    model
        Maps pixel-space images ``(B, C, S, S)`` to logits ``(B, K)`` (e.g. :class:`Normalized`).
    x, y
        Images in ``[0, 1]`` and labels ``(B,)``.
    eps
        L-infinity budget.

    Returns
    -------
    torch.Tensor
        The adversarial images, shape of ``x``, detached.
    """
    return (x + eps * _input_gradient(model, x, y).sign()).clamp(0.0, 1.0).detach()


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *, steps: int = 3, alpha: float = 1 / 255,
        random_start: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
    """Projected gradient descent (Madry et al.): ``steps`` signed steps of ``alpha``, each projected
    onto the eps-ball around ``x`` and onto ``[0, 1]``.

    ``random_start`` starts from a uniform point of the ball (drawn with ``generator``); the default
    starts at ``x`` (deterministic). Shapes as in :func:`fgsm`.

    Each image keeps its strongest iterate, not the last: one the model misclassifies before one it
    still classifies correctly, and among those alike the one with the highest cross-entropy. Starting
    at ``x`` with ``alpha >= eps`` the first iterate is the FGSM image, so PGD is then never weaker
    than FGSM at the same ``eps`` (the last iterate alone could be: at 1/255 it was, on digits).
    """
    if steps < 1 or not alpha > 0:
        raise ConfigError(f"PGD needs steps >= 1 and alpha > 0, received steps={steps}, alpha={alpha}")
    x = x.detach()
    adv = x.clone()
    if random_start:
        noise = torch.rand(x.shape, generator=generator, device="cpu", dtype=x.dtype).to(x.device)
        adv = (x + eps * (2 * noise - 1)).clamp(0.0, 1.0)
    best, best_key = adv, None
    for _ in range(steps):
        adv = adv + alpha * _input_gradient(model, adv, y).sign()
        adv = torch.min(torch.max(adv, x - eps), x + eps).clamp(0.0, 1.0).detach()
        key = _strength(model, adv, y)
        if best_key is None:
            best, best_key = adv, key
            continue
        better = (key > best_key).view(-1, *([1] * (x.dim() - 1)))
        best, best_key = torch.where(better, adv, best), torch.maximum(key, best_key)
    return best


def _strength(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per image: its cross-entropy, plus a large constant when ``model`` misclassifies it (so a misclassified
    iterate always ranks above a correctly classified one)."""
    with torch.no_grad():
        logits = model(x)
        loss = F.cross_entropy(logits, y, reduction="none").double()
        wrong = (logits.argmax(1) != y).double()
    return loss + 1e6 * wrong
