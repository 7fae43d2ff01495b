"""Time budgets of the long computations of discovery (issue 27, item 3): past the budget the best result so
far is kept and reported as unreliable, with what was done and how to continue; bad budgets are refused."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from pdelearn.budget import Budget, BudgetExceeded, check_budget
from pdelearn.cli import main
from pdelearn.data import from_arrays
from pdelearn.discovery import discover
from pdelearn.equation import Equation
from pdelearn.errors import ConfigError
from pdelearn.inverse import fit_output_error
from pdelearn.refine import refine
from pdelearn.solvers import simulate_equation
from pdelearn.terms import polynomial_library


@pytest.fixture(scope="module")
def fronts():
    """Small Allen-Cahn-type fronts at 10 % noise (a refinement runs on them)."""
    x = np.linspace(-1, 1, 64, endpoint=False)
    t = np.linspace(0, 1, 41)
    u = simulate_equation(Equation.parse("u_t = 0.01*u_xx + 5*u - 5*u**3"), x, t,
                          0.8 * np.sin(np.pi * x) + 0.3 * np.cos(3 * np.pi * x), dealias=False)
    u = u + 0.1 * u.std() * np.random.default_rng(0).standard_normal(u.shape)
    return x, t, u


@pytest.mark.parametrize("bad", [0, -1.0, math.nan, math.inf, "60", True])
def test_bad_budgets_are_config_errors(bad):
    with pytest.raises(ConfigError, match="must be a number of seconds > 0"):
        check_budget(bad)
    with pytest.raises(ConfigError, match="budget"):
        discover({"u": np.zeros((8, 5))}, {"x": np.arange(8.0), "t": np.arange(5.0)}, budget=bad)


def test_budget_object():
    assert check_budget(None) is None and check_budget(2) == 2.0
    b = Budget(1e-9, "the test")
    while not b.expired():
        pass
    with pytest.raises(BudgetExceeded, match="the test ran past its time budget") as e:
        b.check(partial="kept")
    assert e.value.partial == "kept"
    Budget(None).check()  # no limit: never raises


def test_fit_output_error_stops_at_its_budget_with_the_last_estimate(fronts):
    x, t, u = fronts
    b = Budget(1e-9, "the fit")
    with pytest.raises(BudgetExceeded) as e:
        fit_output_error({"x": x, "t": t, "u": u}, "u_t = a*u_xx + b*u + c*u**3", {"a": 0.02, "b": 4.0, "c": -4.0},
                         ic_modes=4, dt=0.005, budget=b)
    fit = e.value.partial
    assert fit is not None and not fit.converged and "time budget" in fit.message
    assert set(fit.parameters) == {"a", "b", "c"}


def test_refine_past_its_budget_keeps_the_start_and_says_so(fronts):
    x, t, u = fronts
    lib = polynomial_library("u", "x", 3, 2)
    idx = [lib.names.index(n) for n in ("u", "u^3", "u_xx")]
    ref = refine(from_arrays({"u": u}, {"x": x, "t": t}), lib, "u_t", idx, [5.0, -5.0, 0.01], budget=1e-3)
    assert "time budget of 0.001 s in the first fit" in ref.stopped and "--budget 60" in ref.stopped
    assert sorted(ref.final) == ["u", "u^3", "u_xx"] and ref.summary()["stopped"] == ref.stopped
    assert any("time budget" in w for w in ref.unresolved_warnings()) and "time budget" in ref.note()


def test_discover_past_the_budget_is_unreliable(fronts):
    x, t, u = fronts
    d = discover({"u": u}, {"x": x, "t": t}, max_order=3, refine="output-error", budget=1e-3)
    assert not d.reliable and any("stopped at its time budget" in w for w in d.warnings)
    assert d.options["budget"] == 1e-3 and d.refinements[0].stopped


def test_cli_budget_hit_exits_3_with_the_message(fronts, tmp_path):
    x, t, u = fronts
    np.savez(tmp_path / "fronts.npz", u=u, x=x, t=t)
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["discover", str(tmp_path / "fronts.npz"), "--out", str(out), "--max-order", "3",
                                    "--refine", "output-error", "--budget", "0.001"])
    assert res.exit_code == 3, res.output
    assert "time budget of 0.001 s" in res.output and "--budget 60" in res.output and "fit(s)" in res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["reliable"] is False and summary["refinement"][0]["stopped"]


@pytest.mark.parametrize("value", ["0", "-5", "nan", "soon"])
def test_cli_bad_budget_exits_2_without_a_folder(fronts, tmp_path, value):
    x, t, u = fronts
    np.savez(tmp_path / "fronts.npz", u=u, x=x, t=t)
    res = CliRunner().invoke(main, ["discover", str(tmp_path / "fronts.npz"), "--out", str(tmp_path / "run"),
                                    "--budget", value])
    assert res.exit_code == 2, res.output
    assert "budget" in res.output.lower() and not (tmp_path / "run").exists()


def test_the_inverse_problem_stops_at_its_budget_with_the_last_estimate(tmp_path):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    result = CliRunner().invoke(main, ["fit", str(root / "recipes" / "burgers_inverse.yaml"), "--out",
                                       str(tmp_path / "r"), "--set", "output_error.budget=1e-6",
                                       "--set", "data.samples=300", "--set", "output_error.max_iter=3"])
    assert result.exit_code == 3, result.output
    assert "stopped by the time budget of 1e-06 s" in result.output and "output_error.budget" in result.output
    assert (tmp_path / "r" / "summary.json").is_file()
    bad = CliRunner().invoke(main, ["fit", str(root / "recipes" / "burgers_inverse.yaml"), "--out",
                                    str(tmp_path / "b"), "--set", "output_error.budget=0"])
    assert bad.exit_code == 2 and "budget" in bad.output and not (tmp_path / "b").exists()


def test_joint_discovery_max_minutes_counts_over_all_its_training_calls(tmp_path):
    """Joint discovery calls its trainer once per sparsification period; the budget spans all of them (it used to
    restart with each call, so a run with max_minutes 0.02 trained 15,000 steps for a minute)."""
    import time
    from pathlib import Path

    recipe = tmp_path / "r.yaml"
    recipe.write_text("problem: joint_discovery\ndata: {system: burgers, samples: 200, noise: 0.0}\n"
                      "library: {max_power: 1, max_order: 2}\nmodel: {width: 8, depth: 2}\n"
                      "training: {warmup: 5, max_steps: 1000000, log_every: 10, max_minutes: 0.02}\n"
                      "sparsity: {every: 10, patience: 1000, prune_steps: 5}\nuncertainty: {ensemble: 0, bootstrap: 5}\n")
    t0 = time.perf_counter()
    result = CliRunner().invoke(main, ["fit", str(recipe), "--out", str(tmp_path / "run")])
    assert result.exit_code == 3, result.output
    assert "training stopped at training.max_minutes = 0.02" in result.output
    assert time.perf_counter() - t0 < 30
    assert Path(tmp_path / "run" / "summary.json").is_file()
