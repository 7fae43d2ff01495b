"""PR-Net on the isometric MobileNetV3: the PDE middle block, its derivatives and parameter counts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pdelearn.autodiff import channel_derivatives
from pdelearn.errors import ConfigError, ShapeError
from pdelearn.models.baselines import build_model, count_parameters
from pdelearn.models.prnet_mobilenet import MBPDEBlock, MobileNetPRNet
from pdelearn.models.taylor import Gate, Jet, jet_block, jet_layers

DT = torch.float64


def block_count(c: int) -> int:
    """Parameters of the PDE block at ``C`` channels, by hand (Appendix F's layers, C + 3 -> 6C -> C)."""
    hidden, se = 6 * c, 6 * c // 4
    return ((c + 3) * hidden + 2 * hidden          # Conv1x1 (no bias), norm
            + 25 * hidden + 2 * hidden             # depthwise Conv5x5 (no bias), norm
            + hidden * se + se + se * hidden + hidden  # squeeze-and-excite, two 1x1 convolutions with bias
            + hidden * c + 2 * c)                  # Conv1x1 (no bias), norm


@pytest.mark.parametrize("width", [1, 2])
def test_parameter_count_is_the_backbone_plus_the_block_plus_H(width):
    net = MobileNetPRNet(200, 3, 64, width=width)
    backbone = count_parameters(build_model("mobilenetv3", 200, 3, 64, width=width))  # no middle block
    assert block_count(64) == 135_776
    assert sum(p.numel() for p in net.block.parameters()) == block_count(64 * width)
    assert net.parameter_count() == backbone + block_count(64 * width) + 3 * 16 * 16
    assert net.parameter_count(inference=False) == net.parameter_count() + 28


def test_parameter_count_width_1_is_within_5_percent_of_the_paper():
    """Table 3: PR-Net 1.36 M parameters at width 1 on Tiny ImageNet (200 classes, 64 x 64)."""
    n = MobileNetPRNet(200, 3, 64, width=1).parameter_count()
    assert n == 1_328_264 and abs(n / 1.36e6 - 1) < 0.05


def small_block(seed=0):
    torch.manual_seed(seed)
    block = MBPDEBlock(4).double()
    with torch.no_grad():
        for p in block.parameters():
            p.add_(0.1 * torch.randn_like(p))  # norm affine away from (1, 0)
    z = torch.randn(3, 7, 6, 6, dtype=DT)
    return block, z


def test_jets_through_the_inverted_residual_match_nested_forward_mode():
    block, z = small_block()
    ref = channel_derivatives(block, z, block.coordinate_channels, ["h_d1d1d1", "h_d2d2", "h_tt"])
    jets = jet_block(block, z, {"d1": 3, "d2": 2, "t": 2})
    torch.testing.assert_close(jets["d1"][0], block(z), rtol=1e-12, atol=1e-12)
    for c, k in (("d1", 3), ("d2", 2), ("t", 2)):
        for j in range(1, k + 1):
            torch.testing.assert_close(jets[c][j], ref["h_" + c * j], rtol=1e-9, atol=1e-10)


def test_derivatives_are_per_sample():
    block, z = small_block(1)
    alone = jet_block(block, z[1:2], {"d1": 2})["d1"][2]
    torch.testing.assert_close(jet_block(block, z, {"d1": 2})["d1"][2][1:2], alone, rtol=1e-12, atol=1e-12)


def test_derivatives_at_H_match_finite_differences():
    torch.manual_seed(2)
    net = MobileNetPRNet(5, 3, 16, width=1, depth=2).double().eval()
    h0 = net.features(torch.randn(2, 3, 16, 16, dtype=DT))
    d = net.derivatives(h0)
    assert set(d) == {"h", "h_t", "h_d1", "h_d1d1", "h_d1d1d1", "h_d2", "h_d2d2", "h_d2d2d2"}
    assert d["h"].shape == (2, 64, 16, 16)
    torch.testing.assert_close(d["h"], net.task(h0), rtol=1e-12, atol=1e-12)
    # shift every query point along v = (v1, v2, v3): dh/de = v1 h_d1 + v2 h_d2 + v3 h_t; along d1 alone the
    # second difference gives h_d1d1
    v = torch.tensor([0.3, -0.7, 0.5], dtype=DT).view(3, 1, 1)
    queries = net.queries.detach().clone()

    def shifted(e, direction):
        with torch.no_grad():
            net.queries.copy_(queries + e * direction)
            out = net.task(h0)
            net.queries.copy_(queries)
        return out

    eps = 1e-5
    fd = (shifted(eps, v) - shifted(-eps, v)) / (2 * eps)
    torch.testing.assert_close(fd, 0.3 * d["h_d1"] - 0.7 * d["h_d2"] + 0.5 * d["h_t"], rtol=1e-6, atol=1e-7)
    e1, eps2 = torch.tensor([1.0, 0.0, 0.0], dtype=DT).view(3, 1, 1), 1e-3
    fd2 = (shifted(eps2, e1) - 2 * shifted(0.0, e1) + shifted(-eps2, e1)) / eps2**2
    torch.testing.assert_close(fd2, d["h_d1d1"], rtol=1e-4, atol=1e-5)
    logits = net(torch.randn(2, 3, 16, 16, dtype=DT))
    assert logits.shape == (2, 5)


def test_gate_and_sigmoid_rules():
    torch.manual_seed(3)
    gate = Gate(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(3, 2, 1), nn.SiLU(), nn.Conv2d(2, 3, 1),
                              nn.Sigmoid())).double()
    x, v = torch.randn(2, 3, 4, 4, dtype=DT), torch.randn(2, 3, 4, 4, dtype=DT)
    jet = jet_layers(gate, Jet(x, {"v": [v, torch.zeros_like(v)]}))
    from torch.func import jvp

    first = lambda e: jvp(gate, (x + e * v,), (v,))[1]  # noqa: E731
    _, second = jvp(first, (torch.zeros((), dtype=DT),), (torch.ones((), dtype=DT),))
    torch.testing.assert_close(jet.primal, gate(x))
    torch.testing.assert_close(jet.series["v"][0], first(torch.zeros((), dtype=DT)), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(2 * jet.series["v"][1], second, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("layer", [nn.BatchNorm2d(3), nn.Hardswish(), nn.ReLU(), nn.Softplus(beta=2)])
def test_layers_without_a_taylor_rule_are_refused(layer):
    x = torch.randn(1, 3, 4, 4)
    with pytest.raises(TypeError, match="no Taylor rule"):
        jet_layers(layer, Jet(x, {"v": [x]}))


def test_bad_input():
    with pytest.raises(ConfigError, match="not smooth"):
        MBPDEBlock(4, activation="hardswish")
    with pytest.raises(ConfigError, match=r"16 \* 2\*\*k"):
        MobileNetPRNet(10, 3, 48)
    with pytest.raises(ConfigError, match="at least 2 classes"):
        MobileNetPRNet(1, 3, 32)
    net = MobileNetPRNet(10, 3, 32, depth=0)
    with pytest.raises(ShapeError, match=r"expected images of shape \(batch, 3, 32, 32\)"):
        net(torch.zeros(1, 3, 64, 64))


def test_the_classification_recipe_selects_it():
    from types import SimpleNamespace

    from pdelearn.problems.classification import build_network
    from pdelearn.recipes import resolve

    info = SimpleNamespace(num_classes=10, channels=3, image_size=32)

    def build(**model):
        return build_network(resolve({"problem": "classification", "data": {"dataset": "cifar10"},
                                      "model": {"kind": "prnet_mobilenetv3", "activation": "silu", **model}}), info)

    net = build(options={"depth": 2})
    assert isinstance(net, MobileNetPRNet) and net.width == 1 and len(net.after) == 1
    assert build(width=2, options={"depth": 0}).block.channels == 128
    with pytest.raises(ConfigError, match="model.n_down configures the MNIST extractor"):
        build(n_down=1)
    with pytest.raises(ConfigError, match=r"\['n_blocks'\] are not options of prnet_mobilenetv3"):
        build(options={"n_blocks": 3})
    with pytest.raises(ConfigError, match="not smooth"):
        build(activation="relu")
