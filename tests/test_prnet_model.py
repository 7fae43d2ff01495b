"""Tests of pdelearn.models.prnet: the PR-Net block, query points, derivatives and parameter counts."""

from __future__ import annotations

import pytest
import torch

from pdelearn.errors import ConfigError, LibraryError, ParseError, ShapeError
from pdelearn.models.prnet import PDEBlock, PRNet, default_library, library_from_terms, map_size
from pdelearn.terms import TermLibrary

DT = torch.float64


def small(seed=0, **kw):
    torch.manual_seed(seed)
    kw.setdefault("width", 4)
    return PRNet(1, 8, 3, n_down=0, **kw).double()


def images(n=3, seed=0):
    return torch.randn(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed), dtype=DT)


def test_parameter_count_on_mnist_matches_the_paper():
    """Table 2: PR-Net 0.21 M parameters on MNIST (two significant digits, so within +-0.005 M)."""
    net = PRNet(1, 28, 10)
    n = net.parameter_count()
    assert abs(n / 1e6 - 0.21) <= 0.005
    # extractor 132,224 (as torchdiffeq's ODE-Net), block 79,258, H 3 x 6 x 6, head 778
    assert n == 132_224 + 79_258 + 108 + 778
    assert net.parameter_count(inference=False) == n + 28  # the 28 coefficients are not needed at inference
    assert net.size == 6 and net.equation.lhs == ("h_t",) and len(net.equation.library) == 28


def test_default_library_has_the_paper_terms_in_each_direction():
    lib = default_library()
    assert len(lib) == 28
    assert {"1", "h^3", "h_d1", "h^3 h_d1d1d1", "h^2 h_d2d2"} <= set(lib.names)
    assert not any("d1d2" in n for n in lib.names)
    assert len(default_library(mixed=True)) == 40


def test_forward_is_one_pass_at_the_query_points_and_ignores_the_coefficients():
    net, x = small(), images()
    logits = net(x)
    assert logits.shape == (3, 3)
    torch.testing.assert_close(logits, net.head(net.task(net.features(x))))
    with torch.no_grad():
        net.equation.coefficients.add_(1.0)
    torch.testing.assert_close(net(x), logits, rtol=0, atol=0)


def test_derivatives_at_the_query_points_match_finite_differences_of_H():
    net, x = small(1), images(seed=1)
    h0 = net.features(x)
    d = net.derivatives(h0)
    assert set(d) == {"h", "h_t", "h_d1", "h_d1d1", "h_d1d1d1", "h_d2", "h_d2d2", "h_d2d2d2"}
    assert all(v.shape == (3, 4, 6, 6) for v in d.values())
    torch.testing.assert_close(d["h"], net.task(h0), rtol=1e-12, atol=1e-12)
    eps = 1e-5
    for i, name in enumerate(["h_d1", "h_d2", "h_t"]):  # shift coordinate i of every query point
        with torch.no_grad():
            net.queries[i] += eps
            up = net.task(h0)
            net.queries[i] -= 2 * eps
            down = net.task(h0)
            net.queries[i] += eps
        torch.testing.assert_close(d[name], (up - down) / (2 * eps), rtol=1e-7, atol=1e-7)


def test_residual_is_per_point_and_uses_the_coefficients():
    net, x = small(2), images(seed=2)
    d = net.derivatives(net.features(x))
    g = net.residual(d)
    assert g.shape == (3 * 4 * 6 * 6,)
    torch.testing.assert_close(g, d["h_t"].reshape(-1))  # zero coefficients: g = h_t
    lib = net.equation.library
    with torch.no_grad():
        net.equation.coefficients[lib.index("h^2 h_d2d2"), 0] = 0.5
    torch.testing.assert_close(net.residual(d), (d["h_t"] - 0.5 * d["h"] ** 2 * d["h_d2d2"]).reshape(-1))


def test_initial_state_is_h0_at_t0_with_the_skip_connection_when_the_block_is_silent():
    net, x = small(3), images(seed=3)
    h0 = net.features(x)
    with torch.no_grad():
        net.block.net[-1].weight.zero_()  # last GroupNorm outputs zero
        net.block.net[-1].bias.zero_()
    torch.testing.assert_close(net.initial(h0), h0)
    plain = PDEBlock(4, skip=False).double()
    plain.load_state_dict(net.block.state_dict())
    assert plain(net.block_input(h0, net.queries)).abs().max() == 0  # without the skip, h(0) is not added


def test_custom_library_with_a_coordinate_term_and_a_mixed_derivative():
    lib = library_from_terms(["h", "d1*h", "h*h_d1d2"])
    net = small(4, library=lib, max_order=2)
    d = net.derivatives(net.features(images()))
    assert {"d1", "h_d1d2", "h_t"} <= set(d)
    torch.testing.assert_close(d["d1"][0, 0], net.queries[0].detach())
    assert net.residual(d).shape == (3 * 4 * 36,)


@pytest.mark.parametrize("activation", ["relu", "hardswish", "leaky_relu"])
def test_non_smooth_activation_in_the_block_is_refused(activation):
    with pytest.raises(ConfigError, match=f"activation '{activation}' of the PDE block is not smooth"):
        PRNet(1, 28, 10, activation=activation)


def test_unknown_activation():
    with pytest.raises(ConfigError, match="'swoosh' of the PDE block is unknown; use one of"):
        PDEBlock(4, activation="swoosh")


def test_library_beyond_the_configured_order_is_refused():
    with pytest.raises(ConfigError, match=r"needs \['h_d1d1d1', 'h_d2d2d2'\] \(order 3\).*up to order 2"):
        PRNet(1, 28, 10, library=default_library(), max_order=2)
    assert len(PRNet(1, 28, 10, max_order=2).equation.library) == 20  # the default library follows max_order
    with pytest.raises(ConfigError, match=r"space coordinates \['d1', 'd2'\]; the library uses \['x'\]"):
        PRNet(1, 28, 10, library=TermLibrary(["h*h_x"], ["h"], ["x"]))
    with pytest.raises(ConfigError, match="one field 'h'"):
        PRNet(1, 28, 10, library=TermLibrary(["u*u_d1"], ["u"], ["d1", "d2"]))
    with pytest.raises((LibraryError, ParseError), match="h_q"):
        library_from_terms(["h*h_q"])


def test_image_size_the_architecture_cannot_take():
    assert map_size(28, 2) == 6 and map_size(8, 0) == 6 and map_size(32, 2) == 7
    with pytest.raises(ConfigError, match="side 8 become a 1 x 1 feature map after 2 stride-2"):
        PRNet(1, 8, 10)
    with pytest.raises(ShapeError, match=r"built for a 6 x 6 map"):
        PRNet(1, 28, 10).features(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ConfigError, match="at least 2 classes"):
        PRNet(1, 28, 1)
