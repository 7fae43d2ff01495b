"""Closing the loop: simulating equations, bootstrap intervals, `pdelearn simulate`."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from pdelearn import ConfigError, DataError, Equation, ShapeError, discover
from pdelearn.cli import main
from pdelearn.solvers import burgers, kdv, simulate_equation


def test_simulate_matches_reference_solver_burgers():
    ref = burgers(nx=128, t=np.linspace(0, 2, 21))
    u = simulate_equation(Equation.parse("u_t = -u*u_x + 0.1*u_xx"), ref["x"], ref["t"], ref["u"][:, 0])
    assert np.linalg.norm(u - ref["u"]) / np.linalg.norm(ref["u"]) < 1e-6


def test_simulate_linear_dispersion_exact():
    # u_t = -u_xxx has the exact solution sin(x + t)
    x = np.linspace(0, 2 * np.pi, 32, endpoint=False)
    t = np.linspace(0, 1, 5)
    u = simulate_equation(Equation.parse("u_t = -u_xxx"), x, t, np.sin(x))
    assert np.abs(u - np.sin(x[:, None] + t[None, :])).max() < 1e-10


def test_simulate_kdv_soliton_shape():
    ref = kdv(nx=256, t=np.linspace(0, 2, 11))
    u = simulate_equation(Equation.parse("u_t = -6*u*u_x - u_xxx"), ref["x"], ref["t"], ref["u"][:, 0], dt=1e-3)
    assert np.linalg.norm(u - ref["u"]) / np.linalg.norm(ref["u"]) < 1e-3


def test_simulate_rejects_systems_and_bad_shapes():
    x = np.linspace(0, 1, 8, endpoint=False)
    with pytest.raises(ConfigError, match="one field in one space dimension"):
        simulate_equation(Equation("u_t", {"v": 1.0}, fields=["u", "v"], coords=["x"]), x, [0.0, 0.1], x)
    with pytest.raises(ShapeError, match="expected x"):
        simulate_equation(Equation.parse("u_t = u_xx"), x, [0.0, 0.1], x[:4])


def test_bootstrap_intervals_cover_truth():
    ref = burgers(nx=128)
    rng = np.random.default_rng(1)
    u = ref["u"] + 0.05 * ref["u"].std() * rng.standard_normal(ref["u"].shape)
    res = discover({"u": u}, {"x": ref["x"], "t": ref["t"]}, bootstrap=100)
    iv = res.equation.intervals
    assert set(iv) == {"u*u_x", "u_xx"}
    assert iv["u*u_x"][0] < -1.0 < iv["u*u_x"][1]
    assert iv["u_xx"][0] < 0.1 < iv["u_xx"][1]
    assert res.equation.to_dict()["intervals"]["u_xx"] == list(iv["u_xx"])
    with pytest.raises(ConfigError, match="bootstrap"):
        discover({"u": u}, {"x": ref["x"], "t": ref["t"]}, bootstrap=-1)


def test_cli_simulate_closes_the_loop(tmp_path):
    runner = CliRunner()
    data, run = tmp_path / "b.npz", tmp_path / "run"
    assert runner.invoke(main, ["generate", "burgers", "--out", str(data)]).exit_code == 0
    r = runner.invoke(main, ["discover", str(data), "--out", str(run), "--bootstrap", "20"])
    assert r.exit_code == 0, r.output
    assert "intervals" in json.loads((run / "equation.json").read_text())
    r = runner.invoke(main, ["simulate", str(run)])
    assert r.exit_code == 0, r.output
    summary = json.loads((run / "simulation.json").read_text())
    assert summary["rel_l2"] < 1e-3
    assert (run / "simulation.png").stat().st_size > 1000


def test_cli_simulate_errors(tmp_path):
    r = CliRunner().invoke(main, ["simulate", str(tmp_path / "missing")])
    assert r.exit_code == 2 and "equation.json" in r.output and "Traceback" not in r.output
    run = tmp_path / "run"
    run.mkdir()
    (run / "equation.json").write_text(json.dumps(Equation.parse("u_t = u_xx").to_dict()))
    r = CliRunner().invoke(main, ["simulate", str(run)])
    assert r.exit_code == 2 and "--data" in r.output


def test_simulate_run_missing_data_file(tmp_path):
    from pdelearn.simulate import simulate_run

    run = tmp_path / "run"
    run.mkdir()
    (run / "equation.json").write_text(json.dumps(Equation.parse("u_t = u_xx").to_dict()))
    with pytest.raises(DataError, match="not found"):
        simulate_run(run, data=tmp_path / "nope.npz")


@pytest.fixture(scope="module")
def discovered(tmp_path_factory):
    """A `pdelearn discover` run folder on generated Burgers data."""
    base = tmp_path_factory.mktemp("sim")
    runner = CliRunner()
    assert runner.invoke(main, ["generate", "burgers", "--out", str(base / "b.npz")]).exit_code == 0
    assert runner.invoke(main, ["discover", str(base / "b.npz"), "--out", str(base / "run")]).exit_code == 0
    return base / "run"


def _edited(run, tmp_path, name, text):
    import shutil

    dst = tmp_path / "edited"
    shutil.copytree(run, dst)
    (dst / name).write_text(text)
    return dst


def _one_error(run, match, code=2):
    before = sorted(p.name for p in run.iterdir())
    r = CliRunner().invoke(main, ["simulate", str(run)])
    assert r.exit_code == code, r.output
    assert r.output.startswith("Error: ") and len(r.output.strip().splitlines()) == 1, r.output
    assert "Traceback" not in r.output and match in r.output, r.output
    assert sorted(p.name for p in run.iterdir()) == before  # nothing written


@pytest.mark.parametrize("terms, match", [
    ({"u**u": 1.0}, "exponents must be numbers"),
    (["u_xx"], "'terms' must map term names to numbers"),
    ({"u_xx": "big"}, "coefficient of 'u_xx' must be a number"),
    ({"u_y": 1.0}, "unknown name 'u_y'"),
    ({"1/u": 1.0}, "became NaN/inf"),  # and no RuntimeWarning lines on the way
])
def test_simulate_an_edited_equation_is_one_error_line(discovered, tmp_path, terms, match):
    eq = json.loads((discovered / "equation.json").read_text())
    eq["terms"] = terms
    _one_error(_edited(discovered, tmp_path, "equation.json", json.dumps(eq)), match)


@pytest.mark.parametrize("name, text, match", [
    ("equation.json", '{"lhs": ', "is not valid JSON"),
    ("options.json", "[1]", "must hold a JSON object"),
    ("options.json", '{"data": 3}', "'data' in"),
    ("options.json", '{"data": "b.npz", "load": 3}', "'load' in"),
])
def test_simulate_edited_run_files_are_one_error_line(discovered, tmp_path, name, text, match):
    _one_error(_edited(discovered, tmp_path, name, text), match)


def test_any_failure_of_the_solver_becomes_a_data_error(discovered, tmp_path, monkeypatch):
    import pdelearn.simulate as sim

    def broken(*args, **kwargs):
        raise TypeError("unsupported operand type(s) for ** or pow(): 'Symbol' and 'Symbol'")

    monkeypatch.setattr(sim, "simulate_equation", broken)
    _one_error(_edited(discovered, tmp_path, "summary.json", "{}"), "cannot simulate u_t = ")
