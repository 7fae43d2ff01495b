"""Tests of pdelearn.models.taylor: Taylor-mode derivatives of the PR-Net block.

Checked against nested forward mode (:func:`~pdelearn.autodiff.channel_derivatives`, itself checked
against finite differences in tests/test_channel_derivatives.py) in float64, for every smooth
activation, with and without the skip connection, at random query points.
"""

from __future__ import annotations

import pytest
import torch

from pdelearn.autodiff import channel_derivatives
from pdelearn.models.prnet import PRNet
from pdelearn.models.taylor import activation_derivatives, jet_block

DT = torch.float64


@pytest.mark.parametrize("name", ["softplus", "tanh", "silu", "gelu"])
def test_activation_derivatives_match_autograd(name):
    f = {"softplus": torch.nn.functional.softplus, "tanh": torch.tanh, "silu": torch.nn.functional.silu,
         "gelu": torch.nn.functional.gelu}[name]
    x = torch.linspace(-3, 3, 13, dtype=DT, requires_grad=True)
    got = activation_derivatives(name, x.detach(), 4)
    y = f(x)
    torch.testing.assert_close(got[0], y.detach(), rtol=1e-13, atol=1e-13)
    for n in range(1, 5):
        (y,) = torch.autograd.grad(y.sum(), x, create_graph=True)
        torch.testing.assert_close(got[n], y.detach(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("activation, skip", [("softplus", True), ("tanh", True), ("silu", True), ("gelu", False)])
def test_jets_match_nested_forward_mode(activation, skip):
    torch.manual_seed(0)
    net = PRNet(1, 8, 4, width=6, n_down=0, activation=activation, skip=skip).double()
    with torch.no_grad():
        net.queries.normal_()
        for p in net.block.parameters():
            p.add_(0.1 * torch.randn_like(p))  # GroupNorm affine away from (1, 0)
    z = net.block_input(net.features(torch.randn(3, 1, 8, 8, dtype=DT)), net.queries)
    ref = channel_derivatives(net.block, z, net.block.coordinate_channels,
                              ["h_d1d1d1", "h_d2d2d2d2", "h_tt"])
    jets = jet_block(net.block, z, {"d1": 3, "d2": 4, "t": 2})
    for c, k in (("d1", 3), ("d2", 4), ("t", 2)):
        assert len(jets[c]) == k + 1
        for j in range(k + 1):
            name = "h" + ("_" + c * j if j else "")
            torch.testing.assert_close(jets[c][j], ref[name], rtol=1e-10, atol=1e-11)


def test_gradients_through_jets_match_gradients_through_nested_forward_mode():
    torch.manual_seed(1)
    net = PRNet(1, 8, 4, width=4, n_down=0).double()
    z = net.block_input(net.features(torch.randn(2, 1, 8, 8, dtype=DT)), net.queries)
    params = list(net.block.parameters()) + [net.queries]
    jets = jet_block(net.block, net.block_input(z[:, :4], net.queries), {"d1": 3, "t": 1})
    loss_j = (jets["d1"][3] ** 2).mean() + (jets["t"][1] ** 2).mean()
    ref = channel_derivatives(net.block, net.block_input(z[:, :4], net.queries), net.block.coordinate_channels,
                              ["h_d1d1d1", "h_t"])
    loss_r = (ref["h_d1d1d1"] ** 2).mean() + (ref["h_t"] ** 2).mean()
    ga = torch.autograd.grad(loss_j, params, allow_unused=True)
    gb = torch.autograd.grad(loss_r, params, allow_unused=True)
    assert ga[7] is None and not gb[7].any()  # derivatives do not depend on the last GroupNorm's bias
    assert ga[8] is not None and ga[8].abs().max() > 0  # the query points H get gradients
    for a, b in zip(ga, gb):
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
