"""Tests of pdelearn.gls: noise operators are the exact Jacobians, covariances match dense algebra,
and the refit recovers known coefficients with honest standard errors."""

from __future__ import annotations

from functools import reduce

import numpy as np
import pytest

from pdelearn import solvers
from pdelearn.discovery import discover
from pdelearn.errors import ConfigError
from pdelearn.gls import GLSFit, _Integrator, _kron_weighted_gram, _row_covariance, gls_fit, noise_operators, refit
from pdelearn.terms import TermLibrary
from pdelearn.weak import WeakForm, weak_system


def banded(rng, centres, n, width):
    M = np.zeros((centres, n))
    for i in range(centres):
        s = rng.integers(0, n - width)
        M[i, s : s + width] = rng.normal(size=width)
    return M


@pytest.mark.parametrize("shape, centres", [((30, 20), (6, 4)), ((12, 10, 9), (3, 4, 2))])
def test_kron_weighted_gram_matches_dense_kronecker_products(shape, centres):
    rng = np.random.default_rng(0)
    A = [banded(rng, c, n, 5) for c, n in zip(centres, shape)]
    C = [banded(rng, c, n, 4) for c, n in zip(centres, shape)]
    m = rng.normal(size=shape)
    dense = reduce(np.kron, A) @ np.diag(m.ravel()) @ reduce(np.kron, C).T
    np.testing.assert_allclose(_kron_weighted_gram(A, C, m), dense, atol=1e-12 * np.abs(dense).max())


@pytest.fixture(scope="module")
def small_grid():
    rng = np.random.default_rng(1)
    x = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    t = np.linspace(0, 1, 30)
    u = np.sin(x)[:, None] * np.exp(-t)[None, :] + 0.1 * rng.standard_normal((40, 30))
    v = np.cos(x)[:, None] * (1 + t)[None, :] + 0.1 * rng.standard_normal((40, 30))
    return {"u": u, "v": v}, {"x": x, "t": t}


LIB = TermLibrary(["1", "u_xx", "v_x", "u**2*u_x", "u**2*v", "v**3"], ["u", "v"], ["x"])  # every rule
W = np.array([0.3, 0.1, -0.7, 1.3, 0.5, -0.2])
FORM = WeakForm(radius=0.2, max_tests=30)


def dense_operators(fields, coords, integ):
    """{field: P_f} as dense (rows, points) matrices, from noise_operators with explicit Kronecker products."""
    ops = noise_operators(fields, coords, LIB, "u_t", FORM)
    P = {f: 0.0 for f in fields}
    for scale, key in [(1.0, "b")] + [(-wk, t.key) for wk, t in zip(W, LIB)]:
        for orders, f, m in ops[key]:
            V = reduce(np.kron, [integ.mats[a][k] for a, k in enumerate(orders)])
            P[f] = P[f] + scale * V * np.ravel(m)[None, :]
    return ops, P


def test_noise_operators_are_the_residual_jacobians(small_grid):
    """Linear, flux (u^2 u_x), pointwise (u^2 v, v^3) and constant terms, two fields."""
    fields, coords = small_grid
    integ = _Integrator((40, 30), [coords["x"][1] - coords["x"][0], coords["t"][1] - coords["t"][0]], ["x", "t"], FORM, 2)
    _, P = dense_operators(fields, coords, integ)
    rng = np.random.default_rng(3)
    eps = 1e-6

    def residual(fs):
        G, b, _ = weak_system(fs, coords, LIB, ["u_t"], FORM)
        return b[:, 0] - G @ W

    for f in fields:
        for _ in range(3):
            delta = rng.standard_normal(fields[f].shape)
            fd = (residual({**fields, f: fields[f] + eps * delta}) - residual({**fields, f: fields[f] - eps * delta})) / (2 * eps)
            np.testing.assert_allclose(P[f] @ delta.ravel(), fd, rtol=1e-6, atol=1e-7 * np.abs(fd).max())


def test_row_covariance_is_the_sum_of_operator_products(small_grid):
    fields, coords = small_grid
    integ = _Integrator((40, 30), [coords["x"][1] - coords["x"][0], coords["t"][1] - coords["t"][0]], ["x", "t"], FORM, 2)
    ops, P = dense_operators(fields, coords, integ)
    expected = sum(p @ p.T for p in P.values())
    np.testing.assert_allclose(_row_covariance(ops, LIB, W, integ), expected, rtol=1e-10, atol=1e-12 * np.abs(expected).max())


def test_terms_without_a_rule_have_no_operator(small_grid):
    fields, coords = small_grid
    lib = TermLibrary(["u*u_xx"], ["u", "v"], ["x"])  # integrated with smoothed differences
    assert noise_operators(fields, coords, lib, "u_t", WeakForm()) is None
    assert refit(fields, coords, lib, "u_t", WeakForm()) is None


@pytest.fixture(scope="module")
def allen_cahn():
    return solvers.allen_cahn(nx=512, t=np.linspace(0.0, 1.0, 101), dt=1e-3)


def test_gls_recovers_clean_allen_cahn(allen_cahn):
    d = allen_cahn
    lib = TermLibrary(["u_xx", "u", "u**3"], ["u"], ["x"])
    fit = gls_fit({"u": d["u"]}, {"x": d["x"], "t": d["t"]}, lib, "u_t", WeakForm(radius={"x": 0.015, "t": 0.1}))
    np.testing.assert_allclose(fit.coefficients, [1e-4, 5.0, -5.0], rtol=3e-3)  # narrow sums: ~1e-3
    assert "rows" in str(fit) and fit.score < 1e-3


def test_refit_errors_agree_with_estimated_standard_errors(allen_cahn):
    """Over noise draws, GLS errors / estimated std behave like N(0, 1) and beat the OLS fit."""
    d = allen_cahn
    lib = TermLibrary(["u_xx", "u", "u**3"], ["u"], ["x"])
    truth = np.array([1e-4, 5.0, -5.0])
    z, gls_err, ols_err = [], [], []
    for seed in range(4):
        u = d["u"] + 0.01 * d["u"].std() * np.random.default_rng(seed).standard_normal(d["u"].shape)
        coords = {"x": d["x"], "t": d["t"]}
        fit = refit({"u": u}, coords, lib, "u_t", WeakForm())
        assert isinstance(fit, GLSFit)
        z.append((fit.coefficients - truth) / fit.std)
        gls_err.append(abs(fit.coefficients[0] / truth[0] - 1))
        G, b, _ = weak_system({"u": u}, coords, lib, ["u_t"], WeakForm())
        ols_err.append(abs(np.linalg.lstsq(G, b[:, 0], rcond=None)[0][0] / truth[0] - 1))
    assert np.abs(z).max() < 4.0, z
    assert np.mean(gls_err) < np.mean(ols_err), (gls_err, ols_err)


def test_discover_reports_the_gls_refit_and_none_keeps_least_squares(allen_cahn):
    d = allen_cahn
    u = d["u"] + 0.002 * d["u"].std() * np.random.default_rng(0).standard_normal(d["u"].shape)
    data, coords = {"u": u}, {"x": d["x"], "t": d["t"]}
    res = discover(data, coords)
    plain = discover(data, coords, refit="none")
    assert res.options["refit"] == "gls" and plain.options["refit"] == "none"
    assert set(res.equation.coefficients) == set(plain.equation.coefficients) == {"u", "u**3", "u_xx"}
    assert res.refits[0] is not None and plain.refits == [None]
    np.testing.assert_allclose(list(res.equation.coefficients.values()), res.refits[0].coefficients)
    assert res.equation.coefficients["u_xx"] != plain.equation.coefficients["u_xx"]


def test_bad_refit_option():
    x = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    t = np.linspace(0, 1, 41)
    u = np.exp(-0.5 * t)[None, :] * np.sin(x)[:, None]
    with pytest.raises(ConfigError, match="refit must be 'gls' or 'none', received 'ols'"):
        discover({"u": u}, {"x": x, "t": t}, refit="ols")


def test_left_out_scores_are_small_for_the_true_support_and_large_for_a_missing_term(allen_cahn):
    """The score test of left-out terms on the GLS rows: under the true support (1 % noise) every left-out term's F
    stays below the Bonferroni 1 % level; with the small diffusion ``u_xx`` left out its F is far above it."""
    from scipy.stats import chi2

    from pdelearn.gls import left_out_scores

    d = allen_cahn
    lib = TermLibrary(["u_xx", "u", "u**3", "u_x", "u**2", "u_xxx", "u*u_x"], ["u"], ["x"])
    coords = {"x": d["x"], "t": d["t"]}
    crit = chi2.isf(0.01 / 4, 1)
    for seed in range(2):
        u = {"u": d["u"] + 0.01 * d["u"].std() * np.random.default_rng(seed).standard_normal(d["u"].shape)}
        right = refit(u, coords, lib.select([lib[0], lib[1], lib[2]]), "u_t", WeakForm())
        scores = left_out_scores(u, coords, lib, "u_t", right)
        assert sorted(scores) == sorted(k for k in lib.keys if k not in right.terms)
        assert max(scores.values()) < crit, scores
        short = refit(u, coords, lib.select([lib[1], lib[2]]), "u_t", WeakForm())
        missing = left_out_scores(u, coords, lib, "u_t", short)
        assert missing["u_xx"] > 5 * crit and missing["u_xx"] == max(missing.values()), missing


def test_refits_of_two_sizes_disagree_beyond_their_combined_standard_errors():
    from pdelearn.gls import SCALE_Z, _disagreements

    a = GLSFit(np.array([1.0, 2.0]), np.array([0.01, 0.01]), 100, {"x": 0.015, "t": 0.1}, ["u", "u_xx"])
    b = GLSFit(np.array([1.0 + 0.5 * SCALE_Z * 0.01, 2.0 + 2 * SCALE_Z * 0.01]), np.array([0.01, 0.01]), 100,
               {"x": 0.1, "t": 0.1}, ["u", "u_xx"])
    out = _disagreements(a, b)
    assert [o["term"] for o in out] == ["u_xx"]
    assert out[0]["z"] == pytest.approx(2 * SCALE_Z / np.sqrt(2)) and out[0]["other_radius"] == {"x": 0.1, "t": 0.1}
    assert _disagreements(a, a) == []


def test_scale_conflict_message_names_both_refits():
    from pdelearn.discovery import _scale_conflict

    lib = TermLibrary(["u", "u_xx"], ["u"], ["x"])
    d = {"term": "u_xx", "coefficient": 0.1, "std": 0.001, "other": 0.12, "other_std": 0.002,
         "other_radius": {"x": 0.1, "t": 0.2}, "z": 8.94}
    assert _scale_conflict("u_t", lib, d) == (
        "u_t: the GLS refits on two test-function sizes disagree on u_xx: 0.1 +- 0.001 against 0.12 +- 0.002 (radius "
        "x 0.1, t 0.2), 8.94 combined standard errors apart; one of them carries an error its noise model does not "
        "describe")
