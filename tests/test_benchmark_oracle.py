"""The oracle peer of benchmarks/joint_discovery.py: output-error fit with the true support and initial condition."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
joint_bench = pytest.importorskip("joint_discovery")


def test_oracle_recovers_burgers_without_noise():
    out = joint_bench.oracle_fit("burgers", 0.0, seed=0, samples=300)
    coefs = out["equation"].coefficients
    assert coefs["u*u_x"] == pytest.approx(-1.0, rel=1e-3) and coefs["u_xx"] == pytest.approx(0.1, rel=1e-3)
    assert out["oracle_rel_se"] == {"u*u_x": 0.0, "u_xx": 0.0}


def test_oracle_error_matches_its_standard_error():
    # 10 % noise on 300 samples: the fitted coefficients lie within 4 Fisher standard errors of the truth,
    # and the standard errors shrink like 1 / sqrt(samples)
    out = joint_bench.oracle_fit("burgers", 0.1, seed=1, samples=300)
    se = out["oracle_rel_se"]
    coefs = out["equation"].coefficients
    assert 0 < se["u*u_x"] < se["u_xx"] < 0.2
    assert abs(coefs["u*u_x"] + 1.0) < 4 * se["u*u_x"] and abs(coefs["u_xx"] - 0.1) / 0.1 < 4 * se["u_xx"]
    more = joint_bench.oracle_fit("burgers", 0.1, seed=1, samples=1200)["oracle_rel_se"]
    assert more["u_xx"] == pytest.approx(se["u_xx"] / 2, rel=2e-3)  # rounded to 5 decimals
