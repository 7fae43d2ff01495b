"""The physics-informed forward problem: loss wiring, constraints, time marching, resume, references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from pdelearn.models.mlp import CoordinateNetwork, CoordinateSpec
from pdelearn.problems.conditions import ScalarFunction, parse_conditions
from pdelearn.problems.forward import ForwardProblem
from pdelearn.problems.reference import reference_solution
from pdelearn.recipes import resolve
from pdelearn.train import Trainer

HEAT = {"equation": "u_t = 0.1*u_xx", "domain": {"x": [-1, 1], "t": [0, 1]}, "initial_condition": "sin(pi*x)",
        "boundary": {"type": "dirichlet"}, "reference": {"solver": "none"},
        "model": {"width": 8, "depth": 2}, "sampling": {"collocation": 64, "initial": 16, "boundary": 8},
        "training": {"dtype": "float64"}}


class Exact(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x, t):
        return self.fn(x, t)


def problem(data, overrides=(), **kw):
    recipe = resolve(data, overrides)
    cond = parse_conditions(recipe)
    return ForwardProblem(recipe, cond, kw.pop("reference", None), **kw), recipe, cond


def points(n=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (2 * torch.rand(n, generator=g, dtype=torch.float64) - 1,
            torch.rand(n, generator=g, dtype=torch.float64))


@pytest.mark.parametrize("equation, exact", [
    ("u_t = 0.1*u_xx", lambda x, t: torch.exp(-0.1 * math.pi**2 * t) * torch.sin(math.pi * x)),
    # stationary Allen-Cahn kink: eps u'' + 5 u - 5 u^3 = 0 for u = tanh(k x), k^2 = 5 / (2 eps)
    ("u_t = 0.1*u_xx - 5*u**3 + 5*u", lambda x, t: torch.tanh(5.0 * x) + 0 * t),
    # Burgers by Cole-Hopf: u = 2 nu pi e sin(pi x) / (2 + e cos(pi x)), e = exp(-nu pi^2 t)
    ("u_t = -u*u_x + 0.05*u_xx", lambda x, t: 2 * 0.05 * math.pi * torch.exp(-0.05 * math.pi**2 * t)
     * torch.sin(math.pi * x) / (2 + torch.exp(-0.05 * math.pi**2 * t) * torch.cos(math.pi * x))),
    # a term with the coordinate in it: u = exp(-cos x) g(x - t) solves u_t = sin(x) u - u_x
    ("u_t = sin(x)*u - u_x", lambda x, t: torch.exp(-torch.cos(x)) * torch.cos(x - t)),
])
def test_residual_vanishes_on_exact_solutions(equation, exact):
    prob, _, _ = problem({**HEAT, "equation": equation})
    x, t = points()
    r = prob.residual(Exact(exact), x, t)
    assert r.shape == (50, 1)
    assert float(r.detach().abs().max()) < 1e-10


def test_the_residual_is_not_zero_for_a_wrong_solution():
    prob, _, _ = problem(HEAT)
    x, t = points()
    r = prob.residual(Exact(lambda x, t: torch.sin(math.pi * x) + 0 * t), x, t)
    assert float(r.detach().abs().max()) > 0.5


def test_losses_are_zero_for_the_exact_solution_and_weights_by_name():
    prob, _, _ = problem(HEAT)
    prob.before_step(0)
    exact = lambda x, t: torch.exp(-0.1 * math.pi**2 * t) * torch.sin(math.pi * x)  # noqa: E731
    prob.models[0] = Exact(exact)
    losses = prob.losses(0, frozenset({"L_I", "L_B", "L_G"}))
    assert set(losses) == {"L_I", "L_B", "L_G"}
    assert all(float(v.detach()) < 1e-20 for v in losses.values())
    assert prob.loss_names == ["L_I", "L_B", "L_G"]


def test_periodic_embedding_makes_the_solution_periodic():
    prob, _, _ = problem({**HEAT, "boundary": {"type": "periodic"}, "model": {"periodic_harmonics": 3}})
    assert "L_B" not in prob.loss_names
    t = torch.linspace(0, 1, 5, dtype=torch.float64)
    left = torch.full_like(t, -1.0).requires_grad_(True)
    right = torch.full_like(t, 1.0).requires_grad_(True)
    ul, ur = prob.models[0](left, t), prob.models[0](right, t)
    assert torch.allclose(ul, ur, atol=1e-12)
    gl = torch.autograd.grad(ul.sum(), left)[0]
    gr = torch.autograd.grad(ur.sum(), right)[0]
    assert torch.allclose(gl, gr, atol=1e-12)


def test_hard_initial_condition_and_exact_dirichlet_boundaries():
    data = {**HEAT, "boundary": {"type": "dirichlet", "enforce": "exact"}, "training": {"hard_ic": True, "dtype": "float64"}}
    prob, _, cond = problem(data)
    assert prob.loss_names == ["L_G"]
    prob.before_step(0)
    x = torch.linspace(-1, 1, 11, dtype=torch.float64)
    u0 = prob.models[0](x, torch.zeros_like(x))
    assert torch.allclose(u0, torch.sin(math.pi * x), atol=1e-14)
    t = torch.linspace(0, 1, 7, dtype=torch.float64)
    assert float(prob.models[0](torch.full_like(t, -1.0), t).detach().abs().max()) < 1e-14
    assert float(prob.models[0](torch.full_like(t, 1.0), t).detach().abs().max()) < 1e-14


def test_time_windows_start_from_the_previous_window():
    data = {**HEAT, "boundary": {"type": "periodic"}, "model": {"periodic_harmonics": 2, "width": 8, "depth": 2},
            "training": {"hard_ic": True, "time_windows": 3, "steps": 2, "dtype": "float64"}}
    prob, _, _ = problem(data)
    for step in range(0, 6):
        prob.before_step(step)
    assert prob.window == 2
    x = torch.linspace(-1, 1, 33, dtype=torch.float64)[:-1]
    t1 = prob.edges[2]
    with torch.no_grad():
        end_of_1 = prob.models[1](x, torch.full_like(x, t1))
        start_of_2 = prob.models[2](x, torch.full_like(x, t1))
    assert torch.allclose(end_of_1, start_of_2, atol=1e-10)
    # the snapshot's derivatives match the previous window's too
    xg = x.clone().requires_grad_(True)
    d_prev = torch.autograd.grad(prob.models[1](xg, torch.full_like(xg, t1)).sum(), xg)[0]
    d_next = torch.autograd.grad(prob.models[2](xg, torch.full_like(xg, t1)).sum(), xg)[0]
    assert torch.allclose(d_prev, d_next, atol=1e-8)


def test_causal_weights_and_stratified_time_sampling():
    data = {**HEAT, "training": {"causal": {"eps": 100.0, "chunks": 4}, "dtype": "float64"},
            "sampling": {"collocation": 30, "initial": 4, "boundary": 4}}
    prob, _, _ = problem(data)
    assert prob.n_col == 32
    prob.before_step(0)
    chunks = prob.t_col.reshape(4, -1)
    for i in range(4):
        assert float(chunks[i].min()) >= i / 4 and float(chunks[i].max()) <= (i + 1) / 4
    loss = prob.losses(0, frozenset({"L_G"}))["L_G"]
    assert torch.isfinite(loss) and 0 < prob.diagnostics["causal_min_w"] <= 1


def _train(folder, until=None, **extra):
    data = {**HEAT, "boundary": {"type": "periodic"}, "model": {"periodic_harmonics": 2, "width": 8, "depth": 2},
            "training": {"steps": 4, "lbfgs_steps": 2, "lbfgs_max_iter": 3, "time_windows": 2, "hard_ic": True,
                         "causal": {"eps": 1.0, "chunks": 4}, "dtype": "float64", "checkpoint_every": 3,
                         "lr_decay": {"rate": 0.5, "every": 2}}}
    prob, recipe, _ = problem(data)
    trainer = Trainer(prob.param_groups(), prob.losses, steps=prob.total_steps, state={"problem": prob},
                      folder=folder, before_step=prob.before_step, log_every=1, checkpoint_every=3)
    return prob, trainer


def test_interrupted_and_resumed_run_equals_an_uninterrupted_one(tmp_path):
    torch.use_deterministic_algorithms(True)
    try:
        prob_a, trainer_a = _train(tmp_path / "a")
        res_a = trainer_a.run()
        _, trainer_b = _train(tmp_path / "b")
        trainer_b.run(until=res_a.step // 2 + 1)  # stop inside the second window's Adam phase
        prob_c, trainer_c = _train(tmp_path / "b")
        trainer_c.resume()
        res_c = trainer_c.run()
    finally:
        torch.use_deterministic_algorithms(False)
    assert res_a.step == res_c.step == 12
    assert abs(res_a.losses["L_G"] - res_c.losses["L_G"]) <= 1e-12 * max(1.0, abs(res_a.losses["L_G"]))
    for pa, pc in zip(prob_a.parameters(), prob_c.parameters()):
        assert torch.allclose(pa, pc, rtol=0, atol=1e-12)


def test_scalar_function_evaluates_on_numpy_and_torch():
    f = ScalarFunction("x**2*cos(pi*x)", "x")
    xs = np.linspace(-1, 1, 5)
    assert np.allclose(f(xs), xs**2 * np.cos(np.pi * xs))
    assert torch.allclose(f(torch.as_tensor(xs)), torch.as_tensor(xs**2 * np.cos(np.pi * xs)))
    assert f.diff(1).expr.free_symbols


def test_spectral_reference_matches_the_allen_cahn_solver():
    from pdelearn.solvers import allen_cahn

    recipe = resolve({"equation": "u_t = 0.0001*u_xx - 5*u**3 + 5*u", "domain": {"x": [-1, 1], "t": [0, 0.5]},
                      "initial_condition": "x**2*cos(pi*x)", "reference": {"nx": 128, "nt": 11, "dt": 1e-3}})
    ref = reference_solution(recipe, parse_conditions(recipe))
    want = allen_cahn(nx=128, t=np.linspace(0, 0.5, 11), dt=1e-3)
    assert np.allclose(ref.x, want["x"]) and np.abs(ref.u - want["u"]).max() < 1e-10


def test_spectral_reference_matches_ac_mat(shared_data):
    from scipy.io import loadmat

    recipe = resolve({"equation": "u_t = 0.0001*u_xx - 5*u**3 + 5*u", "domain": {"x": [-1, 1], "t": [0, 1]},
                      "initial_condition": "x**2*cos(pi*x)", "reference": {"dt": 1e-3}})
    ref = reference_solution(recipe, parse_conditions(recipe))
    mat = loadmat(shared_data / "AC.mat")
    assert np.linalg.norm(ref.u - mat["uu"]) / np.linalg.norm(mat["uu"]) < 1e-9


def test_finite_difference_reference_solves_the_heat_equation():
    recipe = resolve({**HEAT, "reference": {"solver": "finite_difference", "nx": 21, "nt": 5, "refine": 4}})
    ref = reference_solution(recipe, parse_conditions(recipe))
    exact = np.exp(-0.1 * np.pi**2 * ref.t)[None, :] * np.sin(np.pi * ref.x)[:, None]
    assert np.abs(ref.u - exact).max() < 1e-6


def test_finite_difference_reference_matches_burgers_shock_mat(shared_data):
    from scipy.io import loadmat

    mat = loadmat(shared_data / "burgers_shock.mat")
    recipe = resolve({**HEAT, "equation": "u_t = -u*u_x + 0.0031830988618379067*u_xx", "initial_condition": "-sin(pi*x)",
                      "domain": {"x": [-1, 1], "t": [0, 0.99]},
                      "reference": {"solver": "finite_difference", "nx": 256, "nt": 100, "refine": 4}})
    ref = reference_solution(recipe, parse_conditions(recipe))
    assert np.linalg.norm(ref.u - mat["usol"]) / np.linalg.norm(mat["usol"]) < 1e-4


def test_reference_from_a_file_and_its_domain_check(tmp_path):
    from pdelearn.errors import ConfigError

    x = np.linspace(-1, 1, 9)
    t = np.linspace(0, 1, 6)
    np.savez(tmp_path / "ref.npz", x=x, t=t, u=np.outer(np.sin(np.pi * x), np.exp(-t)))
    recipe = resolve({**HEAT, "reference": {"file": str(tmp_path / "ref.npz")}})
    ref = reference_solution(recipe, parse_conditions(recipe))
    assert ref.u.shape == (9, 6) and "ref.npz" in ref.source
    recipe = resolve({**HEAT, "domain": {"x": [0, 1], "t": [0, 1]}, "reference": {"file": str(tmp_path / "ref.npz")}})
    with pytest.raises(ConfigError, match="outside the recipe's domain"):
        reference_solution(recipe, parse_conditions(recipe))


def test_reference_data_loss_and_prediction_grid():
    data = {**HEAT, "reference": {"solver": "finite_difference", "nx": 11, "nt": 6, "refine": 2},
            "losses": {"weights": {"L_R": 1.0}, "reference_points": 16}, "training": {"time_windows": 2, "dtype": "float64"}}
    recipe = resolve(data)
    cond = parse_conditions(recipe)
    ref = reference_solution(recipe, cond)
    prob = ForwardProblem(recipe, cond, ref, t_end=0.5)
    prob.before_step(0)
    assert "L_R" in prob.loss_names
    assert float(prob.ref_t[prob.ref_idx].max()) <= 0.25 + 1e-12
    assert torch.isfinite(prob.losses(0, frozenset({"L_R"}))["L_R"])
    pred = prob.predict(ref.x, ref.t)
    assert pred.shape == ref.u.shape and np.isfinite(prob.rel_l2())


def test_coordinate_network_shapes():
    net = CoordinateNetwork([CoordinateSpec(0, 1), CoordinateSpec(0, 1)], kind="modified_mlp", width=4, depth=3,
                            fourier=(5, 1.0))
    assert net(torch.rand(7), torch.rand(7)).shape == (7, 1)


def test_short_forward_run_matches_the_exact_heat_solution(tmp_path):
    """Accuracy guard: a short training run must solve u_t = 0.1 u_xx, u = exp(-0.1 pi^2 t) sin(pi x), to < 1 %."""
    torch.manual_seed(0)
    data = {**HEAT, "model": {"width": 20, "depth": 2}, "seed": 0,
            "sampling": {"collocation": 256, "initial": 64, "boundary": 32},
            "training": {"steps": 300, "lr": 1e-2, "lbfgs_steps": 8, "lbfgs_max_iter": 20, "dtype": "float64"}}
    prob, recipe, _ = problem(data)
    trainer = Trainer(prob.param_groups(), prob.losses, steps=prob.total_steps, state={"problem": prob},
                      folder=tmp_path, before_step=prob.before_step, log_every=100, checkpoint_every=10_000)
    trainer.run()
    x, t = np.linspace(-1, 1, 81), np.linspace(0, 1, 41)
    exact = np.exp(-0.1 * np.pi**2 * t)[None, :] * np.sin(np.pi * x)[:, None]
    rel = np.linalg.norm(prob.predict(x, t) - exact) / np.linalg.norm(exact)
    assert rel < 1e-2, rel  # 0.16 % measured (seed 0); a broken residual, boundary or IC gives > 10 %
