"""benchmarks/information_limit.py: the Cramer-Rao standard errors against closed forms."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
bench = pytest.importorskip("information_limit")


def _heat_case(nx=32, nt=41, d=0.2, k=2, A=1.3, T=1.0):
    length = 2 * np.pi
    x = np.arange(nx) * length / nx
    t = np.linspace(0.0, T, nt)
    ii, jj = np.repeat(np.arange(nx), nt), np.tile(np.arange(nt), nx)
    return x, t, ii, jj, length, d, k, A


def test_known_initial_state_matches_the_closed_form():
    # u = A exp(-d k^2 t) sin(k x): du/dd = -k^2 t u, so se(d) = sigma / sqrt(sum (k^2 t u)^2)
    x, t, ii, jj, length, d, k, A = _heat_case()
    u = A * np.exp(-d * k**2 * t)[None, :] * np.sin(k * x)[:, None]
    sigma = 0.01
    J = (-(k**2) * t[None, :] * u)[ii, jj]
    exact = sigma / math.sqrt(float(J @ J))
    se = bench.fisher_se({"u_xx": d}, A * np.sin(k * x), length, t, ii, jj, sigma, 0.025, None)
    assert se.shape == (1,)
    assert se[0] == pytest.approx(exact, rel=1e-6)


def test_free_initial_state_matches_the_closed_form_and_is_larger():
    # free amplitude a of the one mode as well: 2 x 2 Fisher matrix of (d, a) in closed form
    x, t, ii, jj, length, d, k, A = _heat_case()
    g = np.exp(-d * k**2 * t)[None, :] * np.sin(k * x)[:, None]
    Jd, Ja = (-(k**2) * t[None, :] * A * g)[ii, jj], g[ii, jj]
    info = np.array([[Jd @ Jd, Jd @ Ja], [Ja @ Jd, Ja @ Ja]])
    sigma = 0.01
    exact = sigma * math.sqrt(np.linalg.inv(info)[0, 0])
    basis = np.sin(k * x)[:, None]  # the one free direction
    se_free = bench.fisher_se({"u_xx": d}, A * np.sin(k * x), length, t, ii, jj, sigma, 0.025, basis)
    se_known = bench.fisher_se({"u_xx": d}, A * np.sin(k * x), length, t, ii, jj, sigma, 0.025, None)
    assert se_free[0] == pytest.approx(exact, rel=1e-6)
    assert se_free[0] > se_known[0]
    # the Fourier basis of the benchmark holds that direction: more free modes can only raise the bound
    se_modes = bench.fisher_se({"u_xx": d}, A * np.sin(k * x), length, t, ii, jj, sigma, 0.025,
                               bench.fourier_basis(x.size, 4))
    assert se_modes[0] >= se_free[0] * (1 - 1e-9)


def test_probability_of_meeting_a_target():
    assert bench.within(1.96, 1.0) == pytest.approx(0.95, abs=1e-3)
    assert bench.within(1.0, 1.0) == pytest.approx(0.6827, abs=1e-4)
    assert bench.within(0.1, 0.0) == 1.0


def test_fourier_basis_shape_and_columns():
    B = bench.fourier_basis(16, 3)
    assert B.shape == (16, 5)
    w = 2 * np.pi * np.arange(16) / 16
    assert np.allclose(B[:, 0], 1) and np.allclose(B[:, 3], np.cos(2 * w)) and np.allclose(B[:, 4], np.sin(2 * w))
