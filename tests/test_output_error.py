"""The output-error engine's policy and search (pdelearn.output_error): the rules each caller passes, named once."""

from __future__ import annotations

import numpy as np
import pytest

from pdelearn.output_error import policy
from pdelearn.output_error.search import backward, best_trial


def test_the_policy_is_a_leaf_without_torch():
    import subprocess
    import sys

    code = "import sys, pdelearn.output_error.policy; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_divided_step_and_its_slack():
    assert policy.divided_step(0.01, 0.01 / policy.DT_MAX) == pytest.approx(1e-3)
    assert policy.divided_step(0.05, 0.1) == 0.05  # never more than the spacing
    ratio = 3.0 + 1e-12  # a rounding error above a whole number
    assert policy.divided_step(0.3, ratio) == pytest.approx(0.1)
    assert policy.divided_step(0.3, ratio, slack=0.0) == pytest.approx(0.075)


def test_halving_step_takes_the_largest_step_that_agrees_with_its_half():
    solves = []

    def solve(dt):
        solves.append(dt)
        return None if dt > 0.3 else np.array([dt**2])  # blows up above 0.3, error ~ dt^2

    assert policy.halving_step(solve, 1.0, tol=0.05) == 0.25  # 0.25^2 - 0.125^2 < 0.05; 0.5 blew up
    assert policy.halving_step(solve, 1.0, tol=0.02) == 0.125
    assert policy.halving_step(lambda dt: None, 1.0, tol=1.0) is None
    assert policy.retry_step(0.04, 1.0) is None and policy.retry_step(1.0, 1.0) == 0.25


def test_mode_rules_and_noise_floor():
    x = 2 * np.pi * np.arange(128) / 128
    smooth = np.sin(x) + 0.3 * np.cos(2 * x)
    assert policy.modes_above_floor(smooth + 1e-3 * np.random.default_rng(0).standard_normal(128)) == policy.MODES
    assert policy.modes_to_tolerance(np.sin(3 * x), 1.0) == 8
    power = np.r_[np.ones(4) * 100, np.ones(4)]
    assert policy.upper_floor(power) == 1.0 and policy.upper_band(power, ends=False).size == 3


def test_best_trial_applies_the_acceptance_rule_before_the_key():
    tried = []

    def trial(k):
        tried.append(k)
        return None if k == 0 else (k, 10 - k)

    assert best_trial([0, 1, 2, 3], trial, key=lambda r: r[1]) == (3, 7)
    assert best_trial([0, 1, 2, 3], trial, key=lambda r: r[1], accept=lambda r: r[0] < 3) == (2, 8)
    assert best_trial([0], trial, key=lambda r: r[1]) is None and tried.count(0) == 3


def test_backward_elimination_stops_at_the_smallest_size_or_when_nothing_is_accepted():
    drop_last = lambda s: s[:-1] if s[-1] != "keep" else None  # noqa: E731
    assert backward(["a", "b", "c"], drop_last, size=len) == ["a"]
    assert backward(["a", "keep", "c"], drop_last, size=len) == ["a", "keep"]
    assert backward(["a", "b", "c"], drop_last, size=len, smallest=2) == ["a", "b"]
