"""Every problem type answers "is this real?" (issue 27, item 4): joint discovery and the inverse problem on
constant or no-signal data exit 3 with a reason; zero-width intervals are never printed; AutoSelect and the
PySINDy bridge carry discover's checks (relative residual, near misses, ``reliable`` and a warning); joint
refinement and joint training that run out of time are unreliable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner

from pdelearn.cli import main
from pdelearn.equation import Equation
from pdelearn.problems.joint import JointConfig, JointJob, _verdict
from pdelearn.problems.joint_prune import equation_needed, null_test
from pdelearn.terms import TermLibrary

ROOT = Path(__file__).resolve().parents[1]


# -- joint discovery ---------------------------------------------------------------------------------

def _job(u_of, seed=0):
    """A job on 400 samples ``u_of(x, t)`` plus 20 % noise, trained 400 data-only steps, support {u_x}."""
    rng = np.random.default_rng(seed)
    x, t = rng.uniform(0, 2 * np.pi, 400), rng.uniform(0, 2, 400)
    u = u_of(x, t, rng)
    lib = TermLibrary(["u_x", "u**2", "u*u_x"], ["u"], ["x"])
    cfg = JointConfig(samples=400, width=20, depth=2, warmup=400, prune_steps=300, lr_network=3e-3, dtype="float64")
    torch.manual_seed(0)
    job = JointJob({"x": x, "t": t, "u": u}, lib, cfg, "cpu")
    opt = torch.optim.Adam(job.model.parameters(), lr=3e-3)
    for _ in range(cfg.warmup):
        opt.zero_grad()
        job.losses(0, frozenset({"L_D"}))["L_D"].backward()
        opt.step()
    job.fix_support(np.array([True, False, False]))
    return job, cfg


def test_the_null_test_keeps_a_wave_and_refuses_a_field_without_dynamics():
    wave, cfg = _job(lambda x, t, rng: np.sin(x - t) + 0.2 * 0.7 * rng.standard_normal(x.size))
    found = null_test(wave, cfg)
    assert found["needed"] and found["F"] > 100 and found["support"] == ["u_x"], found
    still, cfg = _job(lambda x, t, rng: np.sin(x) + 0.2 * 0.7 * rng.standard_normal(x.size))
    before = still.eq.mask.clone()
    found = null_test(still, cfg)
    assert not found["needed"] and found["F"] < cfg.f_crit, found
    assert torch.equal(still.eq.mask, before)  # the job itself is not changed


def test_signal_share_tells_noise_from_a_noisy_field():
    from pdelearn.problems.joint_prune import signal_share
    from pdelearn.reliability import MIN_SIGNAL_SHARE, no_signal

    rng = np.random.default_rng(1)
    x, t = rng.uniform(0, 2 * np.pi, 500), rng.uniform(0, 2, 500)
    noise = signal_share({"x": x, "t": t, "u": rng.standard_normal(500)})
    wave = signal_share({"x": x, "t": t, "u": np.sin(x - t) + 0.7 * rng.standard_normal(500)})  # 100 % noise
    assert abs(noise) < MIN_SIGNAL_SHARE < 0.3 < wave
    assert "no signal" in no_signal(noise) and no_signal(wave) is None and no_signal(None) is None
    assert signal_share({"x": x, "t": t, "u": np.full(500, 3.0)}) == 0.0


def test_equation_needed_uses_a_pruning_that_kept_every_term():
    cfg = JointConfig()
    kept = [{"support": ["u_x", "u_xx"], "F": {"u_x": 50.0, "u_xx": 9.0}, "dropped": None, "data_loss": 0.1}]
    assert equation_needed(None, cfg, kept) == {"support": ["u_x", "u_xx"], "F": 9.0, "from": "pruning",
                                                "needed": True}


def test_verdict_rules():
    cfg = JointConfig(max_minutes=2.0)
    none = {"support": ["u_x"], "F": 0.4, "needed": False}
    out = _verdict("u_t", cfg, "max_minutes", 700, 0.1, 1, None)
    assert len(out) == 1 and "training.max_minutes = 2 after 700 of 10000 steps" in out[0] and "max_minutes=8" in out[0]
    out = _verdict("u_t", cfg, "converged", 700, 0.9, 1, none, 0.02)
    assert "no signal" in out[0] and "explains only" in out[1] and "do not need any term" in out[2]
    assert "F = 0.4 < f_crit = 4" in out[2]
    assert _verdict("u_t", cfg, "converged", 700, 0.1, 2, {"needed": True}) == []


JOINT_FAST = {
    "problem": "joint_discovery",
    "library": {"max_power": 1, "max_order": 2},
    "model": {"width": 16, "depth": 2},
    "training": {"warmup": 100, "max_steps": 400, "dtype": "float64", "log_every": 100},
    "sparsity": {"every": 100, "patience": 1, "prune_steps": 100},
    "uncertainty": {"bootstrap": 5, "ensemble": 0},
}


def _grid(tmp_path, u):
    x = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    t = np.linspace(0, 2, 21)
    np.savez(tmp_path / "d.npz", u=u(x, t), x=x, t=t)
    return tmp_path / "d.npz"


def _fit(tmp_path, recipe):
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return CliRunner().invoke(main, ["fit", str(path), "--out", str(tmp_path / "run")])


def test_joint_discovery_on_pure_noise_exits_3(tmp_path):
    rng = np.random.default_rng(0)
    data = _grid(tmp_path, lambda x, t: rng.standard_normal((x.size, t.size)))
    res = _fit(tmp_path, {**JOINT_FAST, "data": {"file": str(data), "samples": 500}})
    assert res.exit_code == 3, res.output
    assert "not an answer" in res.output and "no reliable equation found" in res.output
    assert "discovered" not in res.output and "best candidate (not an answer): u_t =" in res.output
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["reliable"] is False and summary["unreliable"] and summary["evidence"]["needed"] is False


def test_joint_discovery_on_constant_data_exits_3(tmp_path):
    data = _grid(tmp_path, lambda x, t: np.full((x.size, t.size), 3.0))
    res = _fit(tmp_path, {**JOINT_FAST, "data": {"file": str(data), "samples": 500}})
    assert res.exit_code == 3, res.output
    assert "does not change in time" in res.output and "discovered" not in res.output
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["reliable"] is False


def test_joint_refinement_past_its_budget_is_stopped_and_unreliable():
    from pdelearn.problems.base import RunContext
    from pdelearn.problems.joint_refine import refine_support
    from pdelearn.problems.joint_run import JointDiscovery
    from pdelearn.solvers.equation import simulate_equation

    x = 2 * np.pi * np.arange(64) / 64
    t = np.linspace(0.0, 1.0, 11)
    u = simulate_equation(Equation("u_t", {"u*u_x": -1.0, "u_xx": 0.15}), x, t, np.sin(x) + 0.2, dt=0.01)
    rng = np.random.default_rng(0)
    idx = rng.choice(u.size, 300, replace=False)
    i, j = np.unravel_index(idx, u.shape)
    s = {"x": x[i], "t": t[j], "u": u[i, j] + 0.01 * rng.standard_normal(300)}
    ref = refine_support(s, {"u*u_x": -0.9, "u_xx": 0.1}, network_sigma=0.01, period=2 * np.pi, ic_modes=4, dt=0.05,
                         max_iter=6, budget=1e-3)
    assert ref.status == "stopped" and not ref.reliable and ref.equation is None
    assert "time budget of 0.001 s" in ref.note and "sparsity.refine_budget=60" in ref.note
    assert ref.summary()["settings"]["budget_s"] == 1e-3
    from pdelearn.problems.joint import JointResult

    lib = TermLibrary(["u*u_x", "u_xx"], ["u"], ["x"])
    net = Equation("u_t", {"u*u_x": -0.9, "u_xx": 0.1})
    result = JointResult(net, None, None, lib, JointConfig(refine="output_error"), network_equation=net, refinement=ref)
    out = JointDiscovery(None, JointConfig(), {}, None, None, "test").finish(RunContext("cpu"), result)
    assert not out.reliable and "time budget" in out.message


@pytest.mark.parametrize("bad", [0, -1, "soon", float("nan"), float("inf")])
def test_joint_refine_budget_is_validated(bad):
    from pdelearn.errors import ConfigError
    from pdelearn.recipes import resolve

    with pytest.raises(ConfigError, match="refine_budget"):
        resolve({"problem": "joint_discovery", "data": {"system": "burgers"}, "sparsity": {"refine_budget": bad}})
    with pytest.raises(ConfigError, match="refine_budget"):
        JointConfig(refine_budget=bad)


# -- the inverse problem ------------------------------------------------------------------------------

INVERSE = {
    "problem": "inverse",
    "equation": "u_t = -l1*u*u_x + l2*u_xx",
    "parameters": {"l1": 0.8, "l2": 0.05},
    "device": "cpu",
    "output_error": {"ic_modes": 4, "dt": 0.01},
}


def test_inverse_on_constant_data_exits_3_without_intervals(tmp_path):
    x = np.linspace(0, 2 * np.pi, 32, endpoint=False)
    t = np.linspace(0, 1, 11)
    np.savez(tmp_path / "c.npz", u=np.full((32, 11), 3.0), x=x, t=t)
    res = _fit(tmp_path, {**INVERSE, "data": {"file": str(tmp_path / "c.npz"), "samples": 300}})
    assert res.exit_code == 3, res.output
    assert "95 % interval" not in res.output and "+-" not in res.output
    assert "the data do not inform l1 = 0.8" in res.output and "(still its starting guess)" in res.output
    assert "does not change in time" in res.output and "no better than a field that does not change" in res.output
    eq = json.loads((tmp_path / "run" / "equation.json").read_text())
    assert not eq.get("intervals") and not eq.get("std_errors")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["reliable"] is False and summary["fit"]["evidence"]["sensitivity"]["l1"] < 1e-6


def test_inverse_evidence_on_informative_data():
    from pdelearn.inverse import evidence, fit_output_error
    from pdelearn.parametrized import parametrize
    from pdelearn.reliability import inverse_warnings
    from pdelearn.solvers.equation import simulate_equation

    x = np.linspace(0, 2 * np.pi, 32, endpoint=False)
    t = np.linspace(0, 1, 11)
    u = simulate_equation(Equation("u_t", {"u*u_x": -1.0, "u_xx": 0.08}), x, t, np.sin(x) + 0.2, dt=0.01)
    data = {"x": np.repeat(x, t.size), "t": np.tile(t, x.size), "u": u.ravel()}
    form = parametrize("u_t = -l1*u*u_x + l2*u_xx", {"l1": 0.7, "l2": 0.05})
    fit = fit_output_error(data, form, ic_modes=4, dt=0.01)
    ev = evidence(fit, data, form, ic_modes=4)
    assert min(ev["sensitivity"].values()) > 1e-3 and ev["p_value"] < 1e-10
    assert inverse_warnings("u_t", form.names, list(fit.parameters.values()), form.guesses, ev) == []


# -- the PySINDy bridge -------------------------------------------------------------------------------

ps = pytest.importorskip("pysindy")


def _sindy(x, t, diff=None, names=("x", "y")):
    from pdelearn.pysindy import AutoSelect

    model = ps.SINDy(optimizer=AutoSelect(), feature_library=ps.PolynomialLibrary(degree=2),
                     differentiation_method=diff or ps.FiniteDifference())
    model.fit(x, t=t, feature_names=list(names))
    return model


def test_autoselect_on_white_noise_is_unreliable_and_warns():
    from pdelearn.pysindy import UnreliableSelectionWarning, equation_from_pysindy

    with pytest.warns(UnreliableSelectionWarning, match="explains only"):
        model = _sindy(np.random.default_rng(0).standard_normal((2000, 2)), 0.01)
    assert model.optimizer.reliable is False
    assert all(f and f[0]["rule"] == "unexplained" for f in model.optimizer.findings_)
    with pytest.warns(UnreliableSelectionWarning, match="for x_t explains only"):
        equation_from_pysindy(model)


def test_autoselect_on_constant_data_warns():
    from pdelearn.pysindy import UnreliableSelectionWarning

    with pytest.warns(UnreliableSelectionWarning, match="does not change"):
        model = _sindy(np.full((500, 2), 3.0), 0.01)
    assert not model.optimizer.reliable


def test_autoselect_clean_oscillator_is_reliable(recwarn):
    t = np.linspace(0, 10, 2001)
    x = np.stack([np.exp(-0.1 * t) * np.cos(2 * t), -np.exp(-0.1 * t) * (2 * np.sin(2 * t) + 0.1 * np.cos(2 * t))], 1)
    model = _sindy(x, t)
    assert model.optimizer.reliable and not [w for w in recwarn if "not reliable" in str(w.message)]


def test_lorenz_with_noisy_finite_differences_names_the_undecidable_term():
    from scipy.integrate import solve_ivp

    from pdelearn.pysindy import UnreliableSelectionWarning, equation_from_pysindy

    def rhs(_, s):
        return [10 * (s[1] - s[0]), s[0] * (28 - s[2]) - s[1], s[0] * s[1] - 8 / 3 * s[2]]

    t = np.arange(0, 10, 0.002)
    x = solve_ivp(rhs, (t[0], t[-1]), [-8, 8, 27], t_eval=t, rtol=1e-10, atol=1e-10).y.T
    x = x + 0.01 * x.std(axis=0) * np.random.default_rng(0).standard_normal(x.shape)
    with pytest.warns(UnreliableSelectionWarning):
        model = _sindy(x, t, names=("x", "y", "z"))
    with pytest.warns(UnreliableSelectionWarning, match=r"y_t: the left-out term y would lower .* undecidable") as w:
        eq = equation_from_pysindy(model)
    assert "y" not in eq.equations[1].coefficients  # the true -y term was dropped: now said, not silent
    assert "SmoothedFiniteDifference" in str(w[0].message)


def test_duplicate_field_names_are_a_config_error():
    from pdelearn.errors import ConfigError
    from pdelearn.pysindy import equation_from_pysindy, library_from_pysindy

    lib = ps.PolynomialLibrary(degree=2).fit(np.random.default_rng(0).standard_normal((20, 2)))
    with pytest.raises(ConfigError, match="field names must be distinct.*'u'"):
        library_from_pysindy(lib, fields=["u", "u"])
    with pytest.raises(ConfigError, match="field names must be distinct"):
        TermLibrary.from_pysindy(lib, fields=["u", "u"])
    t = np.linspace(0, 1, 101)
    model = ps.SINDy(feature_library=ps.PolynomialLibrary(degree=1)).fit(np.stack([np.exp(-t), np.exp(t)], 1), t=t)
    with pytest.raises(ConfigError, match="distinct"):
        equation_from_pysindy(model, fields=["u", "u"])


def test_write_equation_folder_never_replaces_what_it_did_not_write(tmp_path):
    from pdelearn.errors import ConfigError
    from pdelearn.pysindy import write_equation_folder

    eq = Equation("u_t", {"u_xx": 0.1})
    (tmp_path / "file").write_text("precious")
    with pytest.raises(ConfigError, match="exists and is not a folder"):
        write_equation_folder(eq, tmp_path / "file")
    assert (tmp_path / "file").read_text() == "precious"
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "equation.json").write_text("my own notes")
    with pytest.raises(ConfigError, match="already holds equation.json, not written by pdelearn"):
        write_equation_folder(eq, mine)
    assert (mine / "equation.json").read_text() == "my own notes"
    made = write_equation_folder(eq, tmp_path / "new" / "run")
    assert (made / "equation.json").is_file() and (made / ".pdelearn-run").is_file()
    write_equation_folder(Equation("u_t", {"u_xx": 0.2}), made)  # its own folder: replaced
    assert json.loads((made / "equation.json").read_text())["terms"] == {"u_xx": 0.2}


def test_coefficient_drift_extrapolates_a_shrinking_drift():
    """``a`` moves 0.04 then 0.02 (r = 0.5): 0.02 more to go, 10 % of 0.2 plus; ``b`` jitters: no drift."""
    from pdelearn.reliability import coefficient_drift

    checks = [{"a": 0.14, "b": 1.0}, {"a": 0.18, "b": 1.01}, {"a": 0.20, "b": 1.0}]
    term, share = coefficient_drift(checks)
    assert term == "a" and share == pytest.approx(0.02 / 0.20)
    assert coefficient_drift(checks[:2]) is None
    growing = [{"a": 0.1}, {"a": 0.11}, {"a": 0.13}]
    assert coefficient_drift(growing) == ("a", float("inf"))
    settled = [{"a": 0.1}, {"a": 0.1}, {"a": 0.1}]
    assert coefficient_drift(settled) == ("a", 0.0)


def test_a_joint_run_declared_converged_while_drifting_is_not_an_answer():
    """joint discovery's verdict: 'converged' (support stable, last change under tol) with coefficients still on
    their way (u_xx 32 % to go at the pace of the last checks; hostile case joint_tiny_converged) is exit 3."""
    from pdelearn.problems.joint import JointConfig, _verdict

    cfg = JointConfig()
    history = [{"coefficients": {"u*u_x": -0.2641, "u_xx": 0.02851}},
               {"coefficients": {"u*u_x": -0.2676, "u_xx": 0.02911}},
               {"coefficients": {"u*u_x": -0.2708, "u_xx": 0.02967}}]
    out = _verdict("u_t", cfg, "converged", 845, 0.1, 2, {"needed": True}, None, history)
    assert len(out) == 1 and "the coefficients were still moving" in out[0] and "u_xx" in out[0]
    steady = [{"coefficients": {"u*u_x": -1.0021, "u_xx": 0.0971}}, {"coefficients": {"u*u_x": -0.9997, "u_xx": 0.0975}},
              {"coefficients": {"u*u_x": -1.0006, "u_xx": 0.0972}}]  # the Burgers 50 % run: jitter, no drift
    assert _verdict("u_t", cfg, "converged", 2750, 0.1, 2, {"needed": True}, None, steady) == []
    assert _verdict("u_t", cfg, "max_steps", 845, 0.1, 2, {"needed": True}, None, history) == []
