"""Output-error refinement and check of joint discovery (pdelearn.problems.joint_refine): coefficient
recovery from a slightly wrong start, the misfit check accepting the true support and rejecting a
wrong one, the alternatives (a superset reduced by the nested F-test), the skip for scattered data,
the settings' validation and the summary fields."""

from __future__ import annotations

import numpy as np
import pytest

from pdelearn.equation import Equation
from pdelearn.errors import ConfigError
from pdelearn.problems.joint import JointConfig
from pdelearn.problems.joint_refine import auto_ic_modes, misfit_threshold, refine_support
from pdelearn.solvers.equation import simulate_equation

TRUTH = {"u*u_x": -1.0, "u_xx": 0.15}  # resolved on the 64-point grid (the check asks for it)
NX, LENGTH, NOISE = 64, 2 * np.pi, 0.02


@pytest.fixture(scope="module")
def samples() -> dict:
    x = LENGTH * np.arange(NX) / NX
    t = np.linspace(0.0, 1.0, 11)
    u = simulate_equation(Equation("u_t", TRUTH), x, t, np.sin(x) + 0.5 * np.cos(2 * x) + 0.2, dt=0.01)
    data, sigma = _draw(x, t, u, 300, NOISE, seed=0)
    return {**data, "sigma": sigma, "u0": u[:, 0]}


def _draw(x: np.ndarray, t: np.ndarray, u: np.ndarray, n: int, rel_noise: float, seed: int) -> tuple[dict, float]:
    """``n`` grid points of ``u (x, t)`` with Gaussian noise ``rel_noise * std(u)``: (samples, sigma)."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(u.size, n, replace=False)
    i, j = np.unravel_index(idx, u.shape)
    sigma = rel_noise * u.std()
    return {"x": x[i], "t": t[j], "u": u[i, j] + sigma * rng.standard_normal(n)}, sigma


def _refine(s: dict, selected: dict, **kw):
    data = {k: s[k] for k in ("x", "t", "u")}
    return refine_support(data, selected, network_sigma=s["sigma"], period=LENGTH, ic_modes=4, dt=0.05, max_iter=6, **kw)


def test_refinement_recovers_the_coefficients_from_a_wrong_start(samples):
    start = {"u*u_x": -0.9, "u_xx": 0.095}  # the network's readout, 10-20 % off
    ref = _refine(samples, start, u0=samples["u0"] + 0.05)
    assert ref.status == "accepted" and ref.reliable and ref.note == ""
    for k, v in TRUTH.items():
        c, se = ref.equation.coefficients[k], ref.std_errors[k]
        assert 0 < se < 0.05 * abs(v) and abs(c - v) < 3 * se, (k, c, se)
        lo, hi = ref.equation.intervals[k]
        assert lo < v < hi
    (cand,) = ref.candidates
    assert cand["origin"] == "selected" and cand["passed"] and cand["ratio"] < ref.threshold
    assert abs(cand["sigma"] / samples["sigma"] - 1) < 0.2  # the misfit is the noise level
    assert np.sqrt(np.mean((ref.u0 - samples["u0"]) ** 2)) < 0.5 * samples["sigma"]


@pytest.fixture(scope="module")
def rejected(samples):
    return _refine(samples, {"u_x": -0.3, "u_xx": 0.08})  # advection instead of the nonlinear term


def test_check_rejects_a_wrong_support_and_reports_the_candidates(rejected):
    ref = rejected
    assert ref.status == "rejected" and not ref.reliable and ref.equation is None
    assert [c["origin"] for c in ref.candidates][0] == "selected"
    assert all(not c["passed"] for c in ref.candidates)
    assert ref.candidates[0]["ratio"] > 4 * ref.threshold
    assert "noise level" in ref.note


def test_alternative_superset_is_reduced_by_the_f_test(samples):
    wrong = {"u_x": -0.3, "u_xx": 0.08}
    superset = {"u*u_x": -0.8, "u_xx": 0.1, "u": 0.01}
    ref = _refine(samples, wrong, alternatives=[("first selection", superset)])
    assert ref.status == "accepted", ref.candidates
    assert set(ref.equation.coefficients) == set(TRUTH)
    assert "first selection" in ref.note
    dropped = [c for c in ref.candidates if c["origin"] == "first selection without u"]
    assert dropped and dropped[0]["F"] < 4.0 and dropped[0]["passed"]
    assert max(abs(ref.equation.coefficients[k] / v - 1) for k, v in TRUTH.items()) < 0.05


def test_scattered_samples_skip_with_a_note(samples):
    s = {k: samples[k] for k in ("x", "t", "u")}
    s["x"] = s["x"] + np.random.default_rng(1).uniform(0, 0.01, s["x"].size)
    ref = refine_support(s, TRUTH, network_sigma=0.01)
    assert ref.status == "skipped" and ref.reliable and "not on a uniform grid" in ref.note


def test_threshold_and_modes():
    assert 1.0 < misfit_threshold(2000, 40, 0.01) < 1.12
    assert misfit_threshold(2000, 40, 0.001) > misfit_threshold(2000, 40, 0.01)
    x = 2 * np.pi * np.arange(128) / 128
    assert auto_ic_modes(np.sin(3 * x), 1.0) == 8  # the floor
    wide = auto_ic_modes(1 / np.cosh(4 * (x - np.pi)) ** 2, 0.3)
    assert 12 <= wide <= 32 and auto_ic_modes(1 / np.cosh(4 * (x - np.pi)) ** 2, 0.3, tol=1e-6) > wide


@pytest.mark.parametrize("key, value, words", [
    ("refine", "output-error", "refine must be 'output_error'"),
    ("refine_alpha", 1.5, "refine_alpha"),
    ("refine_ic_modes", 0, "refine_ic_modes"),
    ("refine_dt", -1.0, "refine_dt"),
    ("refine_restarts", -1, "refine_restarts"),
    ("period", 0.0, "period"),
])
def test_config_validation(key, value, words):
    with pytest.raises(ConfigError, match=words):
        JointConfig(**{key: value})


def test_recipe_validation():
    from pdelearn.problems.joint_recipe import joint_config
    from pdelearn.recipes import resolve

    r = resolve({"problem": "joint_discovery", "data": {"system": "burgers", "period": 16.0},
                 "sparsity": {"refine": "output_error", "refine_alpha": 0.05}})
    cfg = JointConfig.from_dict(joint_config(r))
    assert (cfg.refine, cfg.refine_alpha, cfg.period) == ("output_error", 0.05, 16.0)
    # opt-in until the check rejects wrong supports reliably (docs/joint_refine.md, "Status")
    assert JointConfig.from_dict(joint_config(resolve({"problem": "joint_discovery",
                                                       "data": {"system": "kdv"}}))).refine == "none"
    for bad in ({"refine": "maybe"}, {"refine_alpha": 0.0}, {"refine_ic_modes": 0}, {"refine_restarts": -1}):
        with pytest.raises(ConfigError):
            resolve({"problem": "joint_discovery", "data": {"system": "burgers"}, "sparsity": bad})


def _result(equation, refinement, refine="output_error"):
    from pdelearn.problems.joint import JointResult
    from pdelearn.terms import TermLibrary

    lib = TermLibrary(["u_x", "u*u_x", "u_xx"], ["u"], ["x"])
    net = Equation("u_t", {"u_x": -0.3, "u_xx": 0.08}, intervals={"u_x": (-0.4, -0.2), "u_xx": (0.07, 0.09)})
    return JointResult(equation if equation is not None else net, None, None, lib, JointConfig(refine=refine),
                       network_equation=net, refinement=refinement)


def test_summary_and_outcome_of_a_rejected_run(rejected):
    from pdelearn.problems.base import RunContext
    from pdelearn.problems.joint_run import JointDiscovery, refinement_lines, summarize

    truth = Equation("u_t", TRUTH)
    summary = summarize(_result(None, rejected), truth=truth)
    ref = summary["refinement"]
    assert ref["status"] == "rejected" and ref["equation"] is None and len(ref["candidates"]) >= 3
    assert summary["network_equation"] == "u_t = -0.3 u_x + 0.08 u_xx" and summary["network_exact_support"] is False
    lines = refinement_lines(summary)
    assert lines[0].startswith("network    u_t = -0.3 u_x") and any("selected: u_x, u_xx: misfit" in x for x in lines)
    out = JointDiscovery(None, JointConfig(), {}, None, truth, "test").finish(RunContext("cpu"), _result(None, rejected))
    assert not out.reliable and out.message.startswith("no reliable equation found")


def test_summary_of_an_accepted_and_of_an_unchecked_run(samples):
    from pdelearn.problems.joint_run import interval_method, refinement_lines, summarize

    ref = _refine(samples, TRUTH)
    res = _result(ref.equation, ref)
    summary = summarize(res, truth=Equation("u_t", TRUTH))
    assert summary["refinement"]["status"] == "accepted" and summary["terms"] == ref.equation.coefficients
    assert summary["exact_support"] and summary["max_rel_error"] < 0.05
    assert set(summary["refinement"]["std_errors"]) == set(TRUTH) and summary["network_intervals"]["u_x"] == [-0.4, -0.2]
    assert "Fisher" in interval_method(res) and "Fisher" in summary["interval_method"]
    assert any("Fisher standard error" in x for x in refinement_lines(summary))
    off = summarize(_result(None, None, refine="none"))
    assert off["refinement"]["status"] == "off" and "not checked" in off["refinement"]["note"]


def test_default_start_and_automatic_step(samples):
    """Without u0 and dt: the smoothed earliest samples and the largest step that agrees with its half."""
    data = {k: samples[k] for k in ("x", "t", "u")}
    ref = refine_support(data, TRUTH, network_sigma=samples["sigma"], period=LENGTH, ic_modes=4, max_iter=3)
    assert ref.status == "accepted" and ref.candidates[0]["dt"] == ref.settings["dt"] in (0.05, 0.025, 0.0125)


@pytest.mark.parametrize("width, grown", [(1.0, False), (6.0, True)])
def test_initial_state_modes_grow_with_the_evidence(width, grown):
    """The refinement starts with MODES initial-state modes and doubles them while the F-test says the samples
    need them: a narrow pulse (spectrum beyond 16 modes) grows to 32, a smooth state stays at 16."""
    nx = 128
    x = LENGTH * np.arange(nx) / nx
    t = np.linspace(0.0, 0.5, 11)
    u0 = 1.0 / np.cosh(width * (x - np.pi)) ** 2
    u = simulate_equation(Equation("u_t", TRUTH), x, t, u0, dt=0.01)
    data, sigma = _draw(x, t, u, 600, 0.003, seed=2)
    ref = refine_support(data, TRUTH, network_sigma=sigma, period=LENGTH, dt=0.05, max_iter=8)
    assert ref.status == "accepted", ref.candidates
    assert ref.candidates[0]["ic_modes"] == 16
    assert ref.settings["ic_modes"] == (32 if grown else 16)
    if grown:
        assert ref.candidates[-1]["origin"] == "selected, 32 initial-state modes" and ref.note == ""
        for k, v in TRUTH.items():
            assert abs(ref.equation.coefficients[k] - v) < 3 * ref.std_errors[k] + 1e-3 * abs(v), (k, ref.equation)


def test_a_simulation_not_resolved_on_the_grid_fails_the_check():
    """Samples on a 32-point grid of a front that needs more points: the equation simulated on that grid fits
    the (noisy) samples, but doubling the solver grid changes it by about the noise level: not reliable."""
    from pdelearn.problems.joint_refine import RESOLVED

    fine = 2 * np.pi * np.arange(256) / 256
    t = np.linspace(0.0, 1.0, 11)
    truth = {"u*u_x": -1.0, "u_xx": 0.08}
    u = simulate_equation(Equation("u_t", truth), fine, t, np.sin(fine) + 0.5 * np.cos(2 * fine) + 0.2, dt=0.01)[::8]
    data, sigma = _draw(fine[::8], t, u, 300, 0.1, seed=3)
    ref = refine_support(data, truth, network_sigma=sigma, period=2 * np.pi, ic_modes=4, dt=0.05, max_iter=6)
    first = ref.candidates[0]
    assert first["ratio"] <= first["threshold"]  # the misfit alone would pass
    assert not first["resolved"] and not first["passed"] and RESOLVED < first["grid_change"] < 1.0
    assert ref.status == "rejected" and not ref.reliable
    from pdelearn.problems.joint_run import refinement_lines, summarize

    lines = refinement_lines(summarize(_result(None, ref)))
    assert any(x.startswith("  selected: u*u_x, u_xx: misfit") and "FAIL (not resolved on the grid: a grid twice as "
               "fine changes it by" in x for x in lines), lines


def test_local_noise_level_without_a_model():
    """Leave-one-out local quadratic fits recover a known noise level on a smooth field (x periodic), err high
    (never low) where the field is sharper than the samples' spacing, and decline too few samples."""
    from pdelearn.problems.joint_refine import local_noise_sigma

    nx, nt = 128, 60
    x, t = 2 * np.pi * np.arange(nx) / nx, np.linspace(0, 1, nt)
    u = np.sin(x)[:, None] * np.cos(2 * t)[None, :] + 0.3 * np.cos(3 * x)[:, None]
    rng = np.random.default_rng(4)
    idx = rng.choice(u.size, 2000, replace=False)
    i, j = np.unravel_index(idx, u.shape)
    for sigma in (0.3, 0.03):
        est = local_noise_sigma(i, j, u[i, j] + sigma * rng.standard_normal(idx.size), nx)
        assert abs(est / sigma - 1) < 0.08, (sigma, est)
    twice = np.concatenate([i, i]), np.concatenate([j, j])  # every point measured twice, independent noise
    est = local_noise_sigma(*twice, u[twice] + 0.03 * rng.standard_normal(2 * idx.size), nx)
    assert abs(est / 0.03 - 1) < 0.08, est  # a sample is never its own neighbour
    sharp = np.tanh(20 * np.sin(x))[:, None] * np.ones(nt)[None, :]
    assert local_noise_sigma(i, j, sharp[i, j] + 0.01 * rng.standard_normal(idx.size), nx) > 0.01
    assert local_noise_sigma(i[:40], j[:40], u[i[:40], j[:40]], nx) is None


def _joint_cfg(**kw):
    return JointConfig(samples=300, width=24, depth=3, warmup=500, max_steps=900, sparsify_every=200, patience=1,
                       lr_network=3e-3, ensemble=0, bootstrap=0, prune=False, dtype="float64", refine="output_error",
                       period=LENGTH, refine_ic_modes=4, refine_dt=0.05, **kw)


def test_a_library_that_cannot_explain_the_samples_is_rejected_after_a_restart(samples, tmp_path):
    """Library {u, u_x} for Burgers samples: the network, pulled towards the wrong equation, misses the samples
    by 6-7 noise levels, so its residual cannot be the check's noise level; the local fits' estimate is. Every
    candidate fails, training restarts once from new weights, fails again: rejected, both runs reported."""
    from pdelearn import joint_discover
    from pdelearn.problems.joint import RESTART_SEED
    from pdelearn.problems.joint_run import refinement_lines, summarize
    from pdelearn.terms import TermLibrary

    data = {k: samples[k] for k in ("x", "t", "u")}
    res = joint_discover(data, TermLibrary(["u", "u_x"], ["u"], ["x"]), _joint_cfg(), folder=tmp_path, progress=False)
    ref = res.refinement
    assert ref.status == "rejected" and not ref.reliable and "after 1 restart" in ref.note
    st = ref.settings
    assert st["network_sigma"] > 3 * samples["sigma"] and abs(st["local_sigma"] / samples["sigma"] - 1) < 0.5
    assert ref.noise_sigma == st["local_sigma"] and st["network_seed"] == RESTART_SEED
    assert min(c["ratio"] for c in ref.candidates if c.get("ratio") is not None) > 4 * ref.threshold
    (first,) = ref.attempts
    assert first["network_seed"] == 0 and first["candidates"] and not any(c["passed"] for c in first["candidates"])
    assert res.config.seed == 0  # the run's own settings; the restart's seed is in the refinement
    assert (tmp_path / "metrics.attempt1.jsonl").exists() and (tmp_path / "metrics.jsonl").exists()
    lines = refinement_lines(summarize(res))
    assert any(x.startswith("training run 1 (network seed 0): u_t =") for x in lines), lines
    assert any(x.startswith(f"training run 2 (network seed {RESTART_SEED})") for x in lines), lines


def test_a_restart_that_passes_replaces_the_rejected_run(monkeypatch, samples):
    """The restart's accepted equation is the result; the rejected run is kept in ``attempts``."""
    import pdelearn.problems.joint as J
    from pdelearn import joint_discover
    from pdelearn.problems.joint import JointResult
    from pdelearn.problems.joint_refine import Refinement
    from pdelearn.terms import TermLibrary

    seeds = []
    good = _refine(samples, TRUTH)

    def fake(s, lib, cfg, folder, device, progress, say):
        seeds.append(cfg.seed)
        ref = good if len(seeds) == 2 else Refinement("rejected", candidates=[{"origin": "selected"}], note="no fit",
                                                      noise_sigma=0.1)
        eq = good.equation if len(seeds) == 2 else Equation("u_t", {"u_x": -0.3})
        return JointResult(eq, None, None, lib, cfg, network_equation=Equation("u_t", {"u_x": -0.3}), refinement=ref)

    monkeypatch.setattr(J, "_discover_once", fake)
    data = {k: samples[k] for k in ("x", "t", "u")}
    res = joint_discover(data, TermLibrary(["u_x", "u*u_x", "u_xx"], ["u"], ["x"]), _joint_cfg(seed=7))
    assert seeds == [7, 7 + J.RESTART_SEED] and res.config.seed == 7
    assert res.refinement.status == "accepted" and res.equation is good.equation
    assert res.refinement.note.startswith("found after 1 restart(s)") and res.refinement.attempts[0]["note"] == "no fit"
    none = joint_discover(data, TermLibrary(["u_x"], ["u"], ["x"]), _joint_cfg(seed=7, refine_restarts=0))
    assert seeds[2:] == [7] and none.refinement.status == "rejected" and not none.refinement.attempts


def test_time_step_is_chosen_on_the_state_the_fit_uses():
    """A network's u(x, t0) at high noise carries a flat tail of small wiggles beyond the fitted modes; the
    automatic step is chosen on the start projected on those modes (KdV at 50 % noise, seed 8: the raw
    network state asked for a step below 1/32 of the output spacing, and the true equation failed)."""
    truth = {"u*u_x": -6.0, "u_xxx": -1.0}
    nx, length = 64, 30.0
    x, t = length * np.arange(nx) / nx, np.linspace(0, 1, 11)
    u0 = 0.5 / np.cosh(0.7 * (x - 12)) ** 2 + 0.3 / np.cosh(0.6 * (x - 22)) ** 2
    u = simulate_equation(Equation("u_t", truth), x, t, u0, dt=0.002)
    data, sigma = _draw(x, t, u, 300, 0.1, seed=5)
    wiggly = u0 + 0.05 * u.std() * np.random.default_rng(6).standard_normal(nx)
    steps = [refine_support(data, truth, network_sigma=sigma, u0=start, period=length, ic_modes=8,
                            max_iter=1).candidates[0]["dt"] for start in (u0, wiggly)]
    assert steps[0] == steps[1] == 0.05, steps


def test_the_start_states_fine_structure_enters_with_one_amplitude():
    """The start state's content above the fitted modes (up to the modes that represent it to noise / sqrt(n))
    enters the fit as one shape with one amplitude. The same start cut to 16 modes leaves that structure to the
    F-test, which grows the modes to 32 and fits it mode by mode: with the noise fitted into high modes (whose
    phases move as k^3 t) the dispersive coefficient lands 0.6 % off, 5 of its own standard errors."""
    truth = {"u*u_x": -6.0, "u_xxx": -1.0}
    nx, length = 128, 30.0
    x, t = length * np.arange(nx) / nx, np.linspace(0, 2, 11)
    u0 = 1.0 / np.cosh(x - 12) ** 2 + 0.4 / np.cosh(0.8 * (x - 22)) ** 2
    u = simulate_equation(Equation("u_t", truth), x, t, u0, dt=0.002)
    data, sigma = _draw(x, t, u, 1000, 0.1, seed=7)
    kw = dict(network_sigma=sigma, period=length, dt=0.02, max_iter=6)
    ref = refine_support(data, truth, u0=u0, **kw)
    assert ref.status == "accepted", ref.candidates
    modes = ref.settings["ic_modes"]
    assert 16 <= modes < ref.settings["fine_structure_modes"] <= 32 and ref.candidates[0]["ic_modes"] == modes
    for k, v in truth.items():
        assert abs(ref.equation.coefficients[k] - v) < 3 * ref.std_errors[k], (k, ref.equation)
    cut = np.fft.rfft(u0)
    cut[16:] = 0.0
    plain = refine_support(data, truth, u0=np.fft.irfft(cut, nx), **kw)
    assert plain.settings["fine_structure_modes"] is None and plain.settings["ic_modes"] == 32
    err = {name: abs(r.equation.coefficients["u_xxx"] + 1.0) for name, r in (("fine", ref), ("cut", plain))}
    assert err["cut"] > 5 * err["fine"] and err["cut"] > 3 * plain.std_errors["u_xxx"], err
