"""Baseline classifiers: ODE block against exact solutions, adjoint vs backprop gradients, parameter counts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pdelearn.errors import ConfigError, ShapeError

pytest.importorskip("torchdiffeq")

from pdelearn.models.baselines import (  # noqa: E402
    ConvODEFunc,
    ODENet,
    RKNet,
    build_model,
    count_parameters,
    mnist_feature_size,
)
from pdelearn.models.odeblock import ConcatConv2d, ODEBlock  # noqa: E402


class Linear(nn.Module):
    """``dh/dt = h A^T`` on rows of h (exact solution ``h(t) = h(0) expm(t A)^T``)."""

    def __init__(self, a: torch.Tensor):
        super().__init__()
        self.a = nn.Parameter(a)

    def forward(self, t, h):
        return h @ self.a.T


def _linear_case():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(3, 3, generator=g, dtype=torch.float64) * 0.7
    h0 = torch.randn(5, 3, generator=g, dtype=torch.float64)
    return a, h0, h0 @ torch.linalg.matrix_exp(a).T


@pytest.mark.parametrize("adjoint", [True, False])
def test_ode_block_solves_a_linear_system_exactly(adjoint):
    a, h0, exact = _linear_case()
    block = ODEBlock(Linear(a), adjoint=adjoint, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(block(h0), exact, rtol=1e-8, atol=1e-8)
    # fixed-step RK4 with step 0.05: global error O(h^4), and the previous solver comes back afterwards
    with block.solver("rk4", step_size=0.05):
        err = (block(h0) - exact).abs().max().item()
    assert 1e-12 < err < 1e-5
    assert (block.method, block.step_size, block.rtol) == ("dopri5", None, 1e-10)


def test_adjoint_gradient_matches_finite_differences():
    a, h0, _ = _linear_case()
    block = ODEBlock(Linear(a.clone()), adjoint=True, rtol=1e-11, atol=1e-11)
    w = torch.linspace(-1, 1, 15, dtype=torch.float64).reshape(5, 3)

    def loss(mat):
        return (h0 @ torch.linalg.matrix_exp(mat).T * w).sum()

    (block(h0) * w).sum().backward()
    eps, fd = 1e-6, torch.zeros_like(a)
    for i in range(3):
        for j in range(3):
            e = torch.zeros_like(a)
            e[i, j] = eps
            fd[i, j] = (loss(a + e) - loss(a - e)) / (2 * eps)
    torch.testing.assert_close(block.func.a.grad, fd, rtol=1e-6, atol=1e-7)


class SmoothConvFunc(nn.Module):
    """A smooth convolutional right-hand side (tanh), where adaptive adjoint and backprop gradients must agree."""

    def __init__(self, channels):
        super().__init__()
        self.c1, self.c2 = ConcatConv2d(channels, channels), ConcatConv2d(channels, channels)

    def forward(self, t, h):
        return self.c2(t, torch.tanh(self.c1(t, h)))


def _adjoint_vs_backprop(func, h0, w, **solver):
    grads = []
    for adjoint in (True, False):
        func.zero_grad()
        (ODEBlock(func, adjoint=adjoint, **solver)(h0) * w).sum().backward()
        grads.append(torch.cat([p.grad.reshape(-1) for p in func.parameters()]))
    return ((grads[0] - grads[1]).norm() / grads[1].norm()).item()


def test_adjoint_gradients_equal_backprop_gradients_smooth_conv():
    torch.manual_seed(0)
    func = SmoothConvFunc(4).double()
    g = torch.Generator().manual_seed(1)
    h0, w = (torch.randn(2, 4, 6, 6, generator=g, dtype=torch.float64) for _ in range(2))
    assert _adjoint_vs_backprop(func, h0, w, rtol=1e-9, atol=1e-9) < 1e-6


def test_adjoint_gradients_converge_to_backprop_on_the_odenet_function():
    # GroupNorm + ReLU make the right-hand side non-smooth and stiff at initialisation: the continuous adjoint
    # matches backpropagation only as the step shrinks (with fixed-step RK4: 7e-3 at h = 0.1, 4e-4 at h = 0.02)
    torch.manual_seed(0)
    func = ConvODEFunc(16).double()
    g = torch.Generator().manual_seed(1)
    h0, w = (torch.randn(2, 16, 6, 6, generator=g, dtype=torch.float64) for _ in range(2))
    coarse = _adjoint_vs_backprop(func, h0, w, method="rk4", step_size=0.1)
    fine = _adjoint_vs_backprop(func, h0, w, method="rk4", step_size=0.02)
    assert fine < 1e-3 and fine < coarse / 5 and coarse < 2e-2


def test_odenet_and_rknet_share_the_forward_pass():
    torch.manual_seed(0)
    ode, rk = ODENet(), RKNet()
    rk.load_state_dict(ode.state_dict())
    assert ode.middle.adjoint and not rk.middle.adjoint
    x = torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(ode(x), rk(x))


def test_parameter_counts_mnist():
    # exactly torchdiffeq's odenet_mnist counts (208,266 and 576,778); the paper rounds them to 0.22 M and 0.60 M
    # (within 6 %: 5.3 % and 3.9 %)
    counts = {name: count_parameters(build_model(name, 10, 1, 28)) for name in ("odenet", "rknet", "resnet")}
    assert counts == {"odenet": 208_266, "rknet": 208_266, "resnet": 576_778}
    assert abs(counts["odenet"] / 0.22e6 - 1) < 0.06
    assert abs(counts["resnet"] / 0.60e6 - 1) < 0.06


@pytest.mark.parametrize("name, width, paper", [
    ("mobilenetv3", 1, 1.21e6), ("mobilenetv3", 2, 4.30e6),
    ("odenet_mobilenetv3", 1, 1.36e6), ("odenet_mobilenetv3", 2, 4.90e6),
])
def test_parameter_counts_tiny_imagenet_within_5_percent_of_paper(name, width, paper):
    n = count_parameters(build_model(name, 200, 3, 64, width=width))
    assert abs(n / paper - 1) < 0.05, n


@pytest.mark.parametrize("name, channels, size", [
    ("odenet", 1, 28), ("rknet", 3, 32), ("resnet", 1, 14), ("mobilenetv3", 3, 32), ("odenet_mobilenetv3", 3, 16),
])
def test_output_shapes(name, channels, size):
    model = build_model(name, 7, channels, size)
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(3, channels, size, size, generator=torch.Generator().manual_seed(0)))
    assert out.shape == (3, 7) and torch.isfinite(out).all()
    with pytest.raises(ShapeError, match=f"expected images of shape \\(batch, {channels}, {size}, {size}\\)"):
        model(torch.randn(3, channels, size + 1, size + 1))


def test_feature_map_sizes():
    assert [mnist_feature_size(s) for s in (28, 32, 14)] == [6, 7, 3]
    with pytest.raises(ConfigError, match="at least 14 x 14"):
        mnist_feature_size(13)


@pytest.mark.parametrize("call, match", [
    (("odenett", 10, 1, 28), "did you mean 'odenet'"),
    (("odenet", 10, 1, 8), "at least 14 x 14"),
    (("mobilenetv3", 10, 3, 48), r"16 \* 2\*\*k"),
    (("mobilenetv3", 10, 3, 8), r"16 \* 2\*\*k"),
    (("resnet", 1, 1, 28), "n_classes must be an integer >= 2"),
    (("resnet", 10, 0, 28), "in_channels must be an integer >= 1"),
])
def test_bad_model_input(call, match):
    with pytest.raises(ConfigError, match=match):
        build_model(*call)


@pytest.mark.parametrize("name, options, match", [
    ("resnet", {"method": "rk4"}, "has no option"),
    ("odenet", {"method": "rk4"}, "needs step_size > 0"),
    ("odenet", {"method": "dopri5", "step_size": 0.1}, "step_size is for fixed-step"),
    ("rknet", {"method": "leapfrog"}, "unknown ODE method"),
    ("mobilenetv3", {"width": 0}, "width multiplier"),
    ("resnet", {"n_blocks": 0}, "n_blocks"),
])
def test_bad_model_options(name, options, match):
    size = 32 if "mobile" in name else 28
    with pytest.raises(ConfigError, match=match):
        build_model(name, 10, 3, size, **options)
