"""The ``inverse`` problem type: recipes validate, both estimators run through ``pdelearn fit``, the
output-error estimator recovers the parameters of a simulated equation, bad recipes exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from pdelearn.cli import main
from pdelearn.errors import ConfigError
from pdelearn.recipes import load_recipe, resolve

ROOT = Path(__file__).resolve().parents[1]

SMALL = {
    "problem": "inverse",
    "equation": "u_t = -l1*u*u_x + l2*u_xx",
    "parameters": {"l1": 0.7, "l2": 0.05},
    "truth": {"l1": 1.0, "l2": 0.08},
    "device": "cpu",
    "data": {"simulate": {"equation": "u_t = -u*u_x + 0.08*u_xx", "initial": "sin(x) + 0.5*cos(2*x) + 0.2",
                          "x": [0.0, 6.283185307179586], "nx": 32, "t": [0.0, 1.0], "nt": 11, "dt": 0.01},
             "samples": 300, "noise": 0.0},
    "output_error": {"ic_modes": 4, "dt": 0.01},
    "pinn": {"width": 8, "depth": 2, "adam_steps": 30, "lbfgs_steps": 5, "log_every": 10},
}


def _fit(tmp_path, recipe: dict, *extra: str):
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return CliRunner().invoke(main, ["fit", str(path), "--out", str(tmp_path / "run"), *extra])


def test_output_error_recovers_the_parameters(tmp_path):
    res = _fit(tmp_path, SMALL)
    assert res.exit_code == 0, res.output
    assert "identified u_t = -1 u u_x + 0.08 u_xx" in res.output and "95 % interval" in res.output
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert max(summary["rel_errors"].values()) < 1e-5
    eq = json.loads((tmp_path / "run" / "equation.json").read_text())
    assert set(eq["intervals"]) == {"u*u_x", "u_xx"} and eq["parameters"]["l1"] == pytest.approx(1.0, abs=1e-5)
    assert (tmp_path / "run" / "initial_state.npz").is_file()


def test_pinn_estimator_runs_and_says_it_has_no_intervals(tmp_path):
    res = _fit(tmp_path, SMALL, "--set", "estimator=pinn")
    assert res.exit_code == 0, res.output
    assert "identified u_t = " in res.output and "no intervals" in res.output
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["estimator"] == "pinn" and summary["fit"]["steps"] >= 30


def test_a_fit_that_does_not_converge_exits_3(tmp_path):
    res = _fit(tmp_path, SMALL, "--set", "output_error.max_iter=1")
    assert res.exit_code == 3 and "did not converge" in res.output


@pytest.mark.parametrize("change, message", [
    ({"parameters": {"u_x": 1.0, "l2": 0.1}, "equation": "u_t = -u_x*u*u_x + l2*u_xx"}, "collides"),
    ({"parameters": {"l1": 1.0}}, "l2"),
    ({"truth": {"l1": 1.0}}, "truth must give a value"),
    ({"data": {"samples": 100}}, "exactly one data source"),
])
def test_bad_recipes_exit_2_without_a_folder(tmp_path, change, message):
    res = _fit(tmp_path, {**SMALL, **change})
    assert res.exit_code == 2 and message in res.output, res.output
    assert not (tmp_path / "run").exists()


def test_the_shipped_recipe_validates():
    r = load_recipe(ROOT / "recipes" / "burgers_inverse.yaml")
    assert r.estimator == "output_error" and r.data.samples == 2000 and r.truth["l2"] == pytest.approx(0.01 / 3.141592653589793)
    with pytest.raises(ConfigError):
        resolve({**SMALL, "estimator": "adjoint"})
