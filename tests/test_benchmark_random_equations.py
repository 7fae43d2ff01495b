"""The draw generator of benchmarks/random_equations.py: deterministic, and its verification rejects bad draws."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
bench = pytest.importorskip("random_equations")


def test_draw_is_a_pure_function_of_the_seed():
    a, b = bench.draw_case(2), bench.draw_case(2)
    assert a["truth"] == b["truth"] and a["noise"] == b["noise"]
    assert np.array_equal(a["noisy"], b["noisy"]) and np.array_equal(a["u"], b["u"])
    other = bench.draw_case(7)
    assert other["truth"] != a["truth"]
    # the verified clean data reproduce the true coefficients by least squares within 0.5 %
    assert a["verify_max_rel_error"] <= bench.VERIFY_RTOL
    assert a["family"] in bench.FAMILIES and a["nx"] in bench.NX and bench.NT[0] <= a["nt"] <= bench.NT[1]


def _heat(nu=0.1, nx=64, nt=101, T=1.0, r=0.0, modes=2):
    """Exact solution of u_t = nu u_xx + r u on [0, 2 pi): ``modes`` Fourier modes."""
    length = 2 * np.pi
    x = np.arange(nx) * length / nx
    t = np.linspace(0, T, nt)
    u = np.exp((r - nu) * t) * np.sin(x)[:, None] + 0.5 * np.exp((r - 4 * nu) * t) * np.cos(2 * x)[:, None]
    if modes == 3:
        u = u + 0.3 * np.exp((r - 9 * nu) * t) * np.sin(3 * x + 1.0)[:, None]
    return u, x, t, length


def test_verification_accepts_an_exact_solution_and_rejects_bad_draws():
    u, x, t, length = _heat()
    figures, reason = bench.verify(u, x, t, {"u_xx": 0.1}, length)
    assert reason is None and figures["verify_max_rel_error"] < 1e-4
    # wrong coefficient: the true terms do not reproduce the data
    assert "not recoverable" in bench.verify(u, x, t, {"u_xx": 0.2}, length)[1]
    # a true term below pdelearn's negligible share (r u with r = 1e-5 next to 0.1 u_xx) is not asked for
    tiny = _heat(r=1e-5)
    assert bench.verify(tiny[0], *tiny[1:3], {"u_xx": 0.1, "u": 1e-5}, tiny[3])[1].startswith("negligible term: u ")
    ok = _heat(r=0.05, modes=3)
    assert bench.verify(ok[0], *ok[1:3], {"u_xx": 0.1, "u": 0.05}, ok[3])[1] is None
    # two modes fix two decay rates: u_xxxx replaces u exactly, so the support cannot be recovered by anyone
    two = _heat(r=0.05)
    assert bench.verify(two[0], *two[1:3], {"u_xx": 0.1, "u": 0.05}, two[3])[1] == (
        "not identifiable: u is replaced by u_xxxx on the clean samples with as good a fit")
    # (nearly) one mode: u and u_xx are nearly the same column up to a factor (the other true term replaces u_xx)
    one = _heat(r=0.3)
    one_u = one[0] - 0.497 * np.exp((0.3 - 0.4) * one[2]) * np.cos(2 * one[1])[:, None]
    assert bench.verify(one_u, *one[1:3], {"u_xx": 0.1, "u": 0.3}, one[3])[1].startswith(
        "not identifiable: u_xx is replaced by the other true terms")
    # blow-up, flat and under-resolved data
    bad = u.copy()
    bad[3, 50] = np.nan
    assert bench.verify(bad, x, t, {"u_xx": 0.1}, length)[1].startswith("blow-up")
    flat = _heat(nu=1e-4)
    assert bench.verify(flat[0], *flat[1:3], {"u_xx": 1e-4}, flat[3])[1].startswith("flat")
    rough = u + 1e-2 * np.cos(30 * x)[:, None]
    assert bench.verify(rough, x, t, {"u_xx": 0.1}, length)[1].startswith("under-resolved")
    # too coarse in time: fourth-order differences of a fast decay miss the coefficient
    fast = _heat(nu=8.0, nt=6, T=0.5)
    assert "not recoverable" in bench.verify(fast[0], *fast[1:3], {"u_xx": 8.0}, fast[3])[1]


def test_seed_ranges_are_parsed():
    assert bench.parse_seeds(["0-3", "9,11"]) == [0, 1, 2, 3, 9, 11]
    with pytest.raises(Exception, match="0-19"):
        bench.parse_seeds("a-b")
