"""Tests of pdelearn.sparse: recovery of known sparse coefficients and input checks."""

from __future__ import annotations

import numpy as np
import pytest

from pdelearn.errors import ConfigError, DataError, ShapeError
from pdelearn.sparse import SparseRegression, SparseResult, lstsq_on

N, K = 300, 12
TRUE_SUPPORT = [1, 4, 7]
TRUE_VALUES = [2.0, -0.5, 3.0]


def problem(seed: int = 0, noise: float = 0.0, scales=None):
    """``G`` (N, K) with independent Gaussian columns, ``b = G w`` (+ noise relative to ||G w||)."""
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((N, K))
    w = np.zeros(K)
    w[TRUE_SUPPORT] = TRUE_VALUES
    b = G @ w
    if noise:
        b = b + noise * np.linalg.norm(b) / np.sqrt(N) * rng.standard_normal(N)
    if scales is not None:  # G' = G * s, w' = w / s: the same b
        G = G * scales
        w = w / scales
    return G, b, w


def support_of(res: SparseResult) -> list[int]:
    return np.flatnonzero(res.support).tolist()


# ------------------------------------------------------------------------------------- recovery


@pytest.mark.parametrize("method", ["backward", "stlsq"])
def test_exact_data_exact_recovery(method):
    G, b, w = problem()
    res = SparseRegression(method=method).fit(G, b)
    assert support_of(res) == TRUE_SUPPORT
    np.testing.assert_allclose(res.coefficients, w, atol=1e-12)
    assert res.relative_residual < 1e-12
    assert res.coefficients.shape == (K,) and res.support.dtype == bool


@pytest.mark.parametrize("method", ["backward", "stlsq"])
@pytest.mark.parametrize("noise", [1e-3, 1e-2, 5e-2])
def test_noisy_data_recovers_support(method, noise):
    G, b, w = problem(seed=1, noise=noise)
    res = SparseRegression(method=method).fit(G, b)
    assert support_of(res) == TRUE_SUPPORT
    # least squares on the true support: error ~ noise / sqrt(N) relative
    np.testing.assert_allclose(res.coefficients[TRUE_SUPPORT], TRUE_VALUES, rtol=10 * noise)
    assert res.relative_residual == pytest.approx(noise, rel=0.3)


def test_coefficients_spanning_five_orders_of_magnitude():
    # true coefficients 1e-4 ... 10 in the units of the columns (like 1e-4 u_xx next to 5 u^3)
    scales = np.ones(K)
    scales[TRUE_SUPPORT] = [2e4, 1.0, 1.0 / 3.0]  # coefficients become 1e-4, -0.5, 9
    scales[[0, 2]] = [1e-3, 1e4]  # big and small columns that are not in the model
    G, b, w = problem(seed=2, noise=1e-3, scales=scales)
    assert np.ptp(np.log10(np.abs(w[TRUE_SUPPORT]))) > 4.9
    res = SparseRegression().fit(G, b)
    assert support_of(res) == TRUE_SUPPORT
    np.testing.assert_allclose(res.coefficients[TRUE_SUPPORT], w[TRUE_SUPPORT], rtol=1e-2)


@pytest.mark.parametrize("method", ["backward", "stlsq"])
@pytest.mark.parametrize("column", [1, 4, 5])
@pytest.mark.parametrize("factor", [1e4, 1e-4])
def test_selection_is_scale_free(method, column, factor):
    G, b, _ = problem(seed=3, noise=1e-2)
    base = SparseRegression(method=method).fit(G, b)
    G2 = G.copy()
    G2[:, column] *= factor
    scaled = SparseRegression(method=method).fit(G2, b)
    assert support_of(scaled) == support_of(base) == TRUE_SUPPORT
    expected = base.coefficients.copy()
    expected[column] /= factor
    np.testing.assert_allclose(scaled.coefficients, expected, rtol=1e-8, atol=1e-300)
    # scaling b scales the coefficients and leaves the support
    res_b = SparseRegression(method=method).fit(G, 1e-6 * b)
    assert support_of(res_b) == TRUE_SUPPORT
    np.testing.assert_allclose(res_b.coefficients, 1e-6 * base.coefficients, rtol=1e-8)


def test_terms_below_the_relative_tolerance_are_dropped_on_clean_data():
    G, b, w = problem(seed=4)
    tiny = 1e-5 * np.linalg.norm(b) / np.linalg.norm(G[:, 9])  # explains 1e-5 of ||b|| < tol = 5e-4
    res = SparseRegression().fit(G, b + tiny * G[:, 9])
    assert support_of(res) == TRUE_SUPPORT
    # with a tolerance below 1e-5 the term is kept (tol = 0 would keep rounding-level terms too)
    res0 = SparseRegression(tol=1e-7).fit(G, b + tiny * G[:, 9])
    assert support_of(res0) == sorted(TRUE_SUPPORT + [9])
    assert res0.coefficients[9] == pytest.approx(tiny, rel=1e-6)


def test_swapped_support_has_its_own_residual():
    # b = x1 + x2 and x3 is b up to 1e-5: backward elimination removes x3 first, the swap step
    # finds the one-term model {x3}; the reported residual must be that of the chosen model
    rng = np.random.default_rng(5)
    x1, x2 = rng.standard_normal((2, 200))
    x3 = x1 + x2 + 1e-5 * rng.standard_normal(200)
    G = np.stack([x1, x2, x3], axis=1)
    b = x1 + x2
    res = SparseRegression().fit(G, b)
    assert support_of(res) == [2]
    r = b - G @ res.coefficients
    assert res.relative_residual == pytest.approx(np.linalg.norm(r) / np.linalg.norm(b), rel=1e-6)
    assert np.isfinite(res.relative_residual)


def test_n_eff_lowers_the_noise_test_power():
    G, b, _ = problem(seed=6, noise=2e-2)
    res = SparseRegression().fit(G, b)
    assert res.sigma2 > 0
    few = SparseRegression().fit(G, b, n_eff=10)
    assert few.sigma2 == pytest.approx(res.sigma2 * N / 10)


def test_zero_column_is_harmless():
    G, b, w = problem(seed=7)
    G[:, 0] = 0.0
    res = SparseRegression().fit(G, b)
    assert support_of(res) == TRUE_SUPPORT
    np.testing.assert_allclose(res.coefficients, w, atol=1e-12)


def test_lstsq_on_support():
    G, b, w = problem(seed=8)
    s = np.zeros(K, bool)
    s[TRUE_SUPPORT] = True
    np.testing.assert_allclose(lstsq_on(G, b, s), w, atol=1e-12)
    np.testing.assert_array_equal(lstsq_on(G, b, np.zeros(K, bool)), np.zeros(K))


# ------------------------------------------------------------------------------------- STLSQ


def test_stlsq_fixed_threshold():
    # coefficients on unit-norm columns relative to ||b||: with the true support they are about
    # |w_j| ||G_j|| / ||b||; 2, 0.5 and 3 on columns of norm ~sqrt(N) against ||b|| ~ 3.6 sqrt(N)
    G, b, w = problem(seed=9, noise=1e-2)
    res = SparseRegression(method="stlsq", threshold=0.05).fit(G, b)
    assert support_of(res) == TRUE_SUPPORT
    np.testing.assert_allclose(res.coefficients[TRUE_SUPPORT], TRUE_VALUES, rtol=0.05)
    # a threshold above the smallest true coefficient (-0.5 -> ~0.14) removes it
    res_hi = SparseRegression(method="stlsq", threshold=0.3).fit(G, b)
    assert support_of(res_hi) == [1, 7]
    # a tiny threshold keeps (almost) everything on noisy data
    res_lo = SparseRegression(method="stlsq", threshold=1e-8).fit(G, b)
    assert res_lo.support.sum() == K


def test_stlsq_automatic_matches_backward():
    G, b, _ = problem(seed=10, noise=1e-2)
    auto = SparseRegression(method="stlsq").fit(G, b)
    back = SparseRegression().fit(G, b)
    assert support_of(auto) == support_of(back) == TRUE_SUPPORT
    np.testing.assert_allclose(auto.coefficients, back.coefficients, rtol=1e-10)
    assert len(auto.path) >= 2


def test_stlsq_with_ridge():
    G, b, w = problem(seed=11, noise=1e-3)
    res = SparseRegression(method="stlsq", ridge=1e-6).fit(G, b)
    assert support_of(res) == TRUE_SUPPORT


# ----------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"method": "lasso"}, "method"),
        ({"f_crit": -1.0}, "f_crit"),
        ({"f_crit": float("nan")}, "f_crit"),
        ({"f_crit": "4"}, "f_crit"),
        ({"tol": -1e-3}, "tol"),
        ({"tol": float("inf")}, "tol"),
        ({"ridge": -1.0}, "ridge"),
        ({"threshold": 0.0}, "threshold"),
        ({"threshold": -0.1}, "threshold"),
        ({"threshold": float("nan")}, "threshold"),
        ({"threshold": float("inf")}, "threshold"),
        ({"threshold": "0.1"}, "threshold"),
    ],
)
def test_bad_settings(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        SparseRegression(**kwargs)


@pytest.mark.parametrize(
    "G_shape, b_shape",
    [((10, 3), (9,)), ((10, 3), (10, 1)), ((10,), (10,)), ((2, 10, 3), (10,))],
)
def test_mismatched_shapes(G_shape, b_shape):
    with pytest.raises(ShapeError, match="expected G"):
        SparseRegression().fit(np.ones(G_shape), np.ones(b_shape))


@pytest.mark.parametrize("where", ["G", "b"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_entries(where, bad):
    G, b, _ = problem(seed=12)
    if where == "G":
        G[3, 2] = bad
    else:
        b[5] = bad
    with pytest.raises(DataError, match="NaN or inf"):
        SparseRegression().fit(G, b)


@pytest.mark.parametrize("n_rows", [K, K + 1, K + 2, 5000])
def test_few_and_many_rows(n_rows):
    # few rows: the problem is solved as it is; many rows: it is first reduced by a QR factorisation
    rng = np.random.default_rng(13)
    G = rng.standard_normal((n_rows, K))
    w = np.zeros(K)
    w[TRUE_SUPPORT] = TRUE_VALUES
    res = SparseRegression().fit(G, G @ w)
    assert support_of(res) == TRUE_SUPPORT
    np.testing.assert_allclose(res.coefficients, w, atol=1e-10)
    assert res.relative_residual < 1e-10


def test_swap_refinement_matches_brute_force_swaps():
    from pdelearn.sparse import _rss, _swap_refine

    def brute(G, b, s, rss):
        s = s.copy()
        for _ in range(10):
            best = (rss, None, None)
            for i in np.flatnonzero(s):
                for j in np.flatnonzero(~s):
                    t = s.copy()
                    t[i], t[j] = False, True
                    r = _rss(G, b, t)
                    if r < best[0] * (1 - 1e-9):
                        best = (r, i, j)
            if best[1] is None:
                return s, rss
            rss = best[0]
            s[best[1]], s[best[2]] = False, True
        return s, rss

    rng = np.random.default_rng(1)
    moved = 0
    for _ in range(60):
        n, K = int(rng.integers(15, 50)), int(rng.integers(3, 12))
        G = rng.standard_normal((n, K))
        w = np.where(rng.random(K) < 0.5, rng.standard_normal(K), 0.0)
        b = G @ w + 0.3 * rng.standard_normal(n)
        s = np.zeros(K, bool)
        s[rng.choice(K, int(rng.integers(1, K)), replace=False)] = True
        expected, rss_expected = brute(G, b, s, _rss(G, b, s))
        got, rss_got = _swap_refine(G, b, s, _rss(G, b, s))
        assert np.array_equal(got, expected) and np.isclose(rss_got, rss_expected, rtol=1e-10)
        moved += not np.array_equal(got, s)
    assert moved > 10  # the cases do exercise swaps


def _smooth_error_problem(seed: int):
    """Two true terms plus four candidates, and an error smooth over ~30 rows (10 % of ||b||).

    Such an error (finite-difference truncation, smoothed noise) has few independent samples, so
    its chance correlation with a smooth spurious column is far above what the row count suggests.
    """
    rng = np.random.default_rng(seed)
    n = 3000
    t = np.linspace(0, 1, n)
    G = np.column_stack([np.sin(6 * np.pi * t), t * np.cos(10 * np.pi * t), t, t**2, np.cos(3 * np.pi * t),
                         np.sin(14 * np.pi * t)])
    b = G[:, 0] + 0.5 * G[:, 1]
    e = np.convolve(rng.standard_normal(n + 59), np.hanning(60), "valid")
    return G, b + 0.1 * np.linalg.norm(b) / np.linalg.norm(e) * e


def test_blocked_cross_validation_rejects_terms_fitting_smooth_error():
    truth = np.array([1, 1, 0, 0, 0, 0], bool)
    old = SparseRegression(tol=5e-3)
    new = SparseRegression(tol=5e-3, cv_blocks=10, cv_tol=0.04)
    hits = {"old": 0, "new": 0}
    for seed in range(10):
        G, b = _smooth_error_problem(seed)
        hits["old"] += np.array_equal(old.fit(G, b).support, truth)
        res = new.fit(G, b)
        hits["new"] += np.array_equal(res.support, truth)
    # the F-test counts 3000 independent rows and the tolerance 0.5 % of ||b||: spurious terms pass
    assert hits["old"] <= 1, hits
    assert hits["new"] >= 8, hits


def test_blocked_cross_validation_keeps_true_terms_and_is_scale_free():
    G, b, w = problem(seed=3, noise=0.01)
    scales = np.logspace(-4, 4, K)
    for s in (np.ones(K), scales):
        res = SparseRegression(cv_blocks=10, cv_tol=0.04).fit(G * s, b)
        assert np.flatnonzero(res.support).tolist() == TRUE_SUPPORT
        np.testing.assert_allclose(res.coefficients[TRUE_SUPPORT] * s[TRUE_SUPPORT], TRUE_VALUES, rtol=0.02)


@pytest.mark.parametrize("kwargs, match", [({"cv_blocks": 1}, "cv_blocks"), ({"cv_blocks": True}, "cv_blocks"),
                                           ({"cv_blocks": 2.5}, "cv_blocks"), ({"cv_tol": -0.1}, "cv_tol")])
def test_bad_cross_validation_settings(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        SparseRegression(**kwargs)
