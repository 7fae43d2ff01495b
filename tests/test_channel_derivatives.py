"""Tests of pdelearn.autodiff.channel_derivatives: per-sample, per-position forward-mode derivatives.

The block is a small conv net with GroupNorm and smooth activations whose input carries the
coordinates ``d1, d2, t`` as channels, as in PR-Net. Derivatives are checked against central finite
differences in float64 at every sample and position, for orders 1 to 3 and mixed ones.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pdelearn.autodiff import channel_derivatives
from pdelearn.errors import DataError, ShapeError

DT = torch.float64
C = 3  # feature channels; d1, d2, t are channels C, C + 1, C + 2
COORDS = {"d1": C, "d2": C + 1, "t": C + 2}


def block(seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(C + 3, 6, 3, padding=1), nn.GroupNorm(2, 6), nn.Softplus(),
        nn.Conv2d(6, C, 3, padding=1), nn.GroupNorm(1, C), nn.Tanh(),
    ).double()
    return net


def inputs(n=3, size=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    h0 = torch.randn(n, C, size, size, generator=g, dtype=DT)
    ax = torch.linspace(0, 1, size, dtype=DT)
    d1 = ax.view(1, 1, size, 1).expand(n, 1, size, size)
    d2 = ax.view(1, 1, 1, size).expand(n, 1, size, size)
    t = torch.rand(n, 1, 1, 1, generator=g, dtype=DT).expand(n, 1, size, size)
    return torch.cat([h0, d1, d2, t], 1)


def shifted(net, z, shifts):
    """``net`` at the inputs with coordinate channels shifted by ``{name: amount}``."""
    z = z.clone()
    for c, s in shifts.items():
        z[:, COORDS[c]] += s
    return net(z)


def finite_difference(net, z, wrt, eps):
    """Central differences of any order/mix: nested ``(f(+e) - f(-e)) / 2e`` per coordinate."""
    def fd(shifts, rest):
        if not rest:
            return shifted(net, z, shifts)
        c, rest = rest[0], rest[1:]
        plus = dict(shifts, **{c: shifts.get(c, 0.0) + eps})
        minus = dict(shifts, **{c: shifts.get(c, 0.0) - eps})
        return (fd(plus, rest) - fd(minus, rest)) / (2 * eps)

    with torch.no_grad():
        return fd({}, list(wrt))


@pytest.mark.parametrize(
    "name, wrt, eps, tol",
    [
        ("h_d1", ("d1",), 1e-5, 1e-8),
        ("h_d2", ("d2",), 1e-5, 1e-8),
        ("h_t", ("t",), 1e-5, 1e-8),
        ("h_d1d1", ("d1", "d1"), 1e-4, 1e-6),
        ("h_d1d2", ("d1", "d2"), 1e-4, 1e-6),
        ("h_d2t", ("d2", "t"), 1e-4, 1e-6),
        ("h_d1d1d1", ("d1", "d1", "d1"), 1e-3, 1e-4),
        ("h_d2d2d2", ("d2", "d2", "d2"), 1e-3, 1e-4),
    ],
)
def test_against_finite_differences_at_every_sample_and_position(name, wrt, eps, tol):
    net, z = block(), inputs()
    d = channel_derivatives(net, z, COORDS, [name])
    expected = finite_difference(net, z, wrt, eps)
    assert d[name].shape == (3, C, 5, 5)
    assert expected.abs().max() > 1e-2  # a derivative that is not trivially zero
    torch.testing.assert_close(d[name].detach(), expected, rtol=tol, atol=tol)


def test_all_orders_of_a_library_at_once_match_single_requests():
    net, z = block(1), inputs(seed=1)
    names = ["h_t", "h_d1", "h_d1d1", "h_d1d1d1", "h_d2", "h_d2d2", "h_d2d2d2", "h_d1d2"]
    together = channel_derivatives(net, z, COORDS, names)
    assert set(together) == {"h", *names}
    torch.testing.assert_close(together["h"], net(z), rtol=0, atol=1e-14)
    for n in names:
        alone = channel_derivatives(net, z, COORDS, [n])[n]
        torch.testing.assert_close(together[n], alone, rtol=1e-12, atol=1e-12)


def test_derivatives_are_not_summed_over_the_batch():
    """Sample 0's derivatives do not change when samples 1 and 2 change."""
    net, z = block(2), inputs(seed=2)
    names = ["h_t", "h_d1", "h_d2d2", "h_d1d1d1"]
    before = channel_derivatives(net, z, COORDS, names)
    z2 = z.clone()
    z2[1:] = inputs(seed=3)[1:] * 3.0  # other features and times for the other samples
    after = channel_derivatives(net, z2, COORDS, names)
    for n in names:
        torch.testing.assert_close(after[n][0], before[n][0], rtol=0, atol=1e-14)
        assert not torch.allclose(after[n][1:], before[n][1:])
    # a batch-summed derivative (autograd.grad of the summed output w.r.t. a shared coordinate)
    # would give one number for the whole batch; ours differs between samples and positions
    assert before["h_t"].flatten(1).std(dim=0).max() > 1e-3


def test_gradients_through_the_derivatives_match_finite_differences():
    """Losses of derivatives back-propagate to the parameters (reverse over forward mode)."""
    net, z = block(3), inputs(n=2, size=4, seed=4)
    w = net[3].weight

    def loss():
        d = channel_derivatives(net, z, COORDS, ["h_t", "h_d1d1"])
        return (d["h_t"] ** 2).mean() + (d["h_d1d1"] ** 2).mean() + (d["h"] ** 2).mean()

    (g,) = torch.autograd.grad(loss(), w)
    eps = 1e-6
    for idx in [(0, 0, 0, 0), (1, 2, 1, 2), (2, 5, 2, 1)]:
        with torch.no_grad():
            w[idx] += eps
            up = loss()
            w[idx] -= 2 * eps
            down = loss()
            w[idx] += eps
        assert abs(float(g[idx]) - float((up - down) / (2 * eps))) < 1e-7 * max(1.0, abs(float(g[idx])))


def count_jvp(monkeypatch):
    import torch.func

    calls = []
    original = torch.func.jvp

    def jvp(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(torch.func, "jvp", jvp)
    return calls


@pytest.mark.parametrize(
    "names, n_jvp",
    [
        (["h_d1", "h_d1d1", "h_d1d1d1"], 3),  # one nested chain of depth 3 (was 1 + 2 + 3)
        (["h_d1d1d1", "h_d1"], 3),
        (["h_t", "h_d1", "h_d1d1", "h_d1d1d1", "h_d2", "h_d2d2", "h_d2d2d2"], 7),  # 3 + 3 + 1
        (["h_d1d2", "h_d1"], 2),
        (["h"], 0),
        ([], 0),
    ],
)
def test_each_derivative_is_computed_once(monkeypatch, names, n_jvp):
    net, z = block(), inputs(n=1, size=3)
    calls = count_jvp(monkeypatch)
    out = channel_derivatives(net, z, COORDS, names)
    assert len(calls) == n_jvp
    assert "h" in out and all(n in out for n in names)


def test_unknown_name_and_bad_channel():
    net, z = block(), inputs(n=1, size=3)
    with pytest.raises(DataError, match=r"cannot compute 'h_x'.*\['d1', 'd2', 't'\]"):
        channel_derivatives(net, z, COORDS, ["h_x"])
    with pytest.raises(DataError, match="cannot compute 'u_t'"):
        channel_derivatives(net, z, COORDS, ["u_t"])
    with pytest.raises(ShapeError, match="coordinate channel 't' = 9 is outside the 6 input channels"):
        channel_derivatives(net, z, {"t": 9}, ["h_t"])
