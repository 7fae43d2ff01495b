"""The differentiable torch ETDRK4 solver: agreement with the numpy solver to round-off, gradients
against finite differences (reverse and forward mode, with and without checkpointing), batching,
and the errors for equations it cannot take."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.io
import torch

from pdelearn.equation import Equation
from pdelearn.errors import ConfigError, ShapeError, TrainingError
from pdelearn.solvers.equation import simulate_equation
from pdelearn.solvers.torch_etdrk4 import PeriodicSolver

F64 = torch.float64


def _coef(eq: Equation) -> torch.Tensor:
    return torch.tensor(list(eq.terms.values()), dtype=F64)


def _rel(a, b) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.mark.parametrize(
    "text, nx, length, u0, t_end, dt, dealias",
    [
        ("u_t = 0.0001*u_xx - 5*u**3 + 5*u", 128, 2.0, lambda x: x**2 * np.cos(np.pi * x), 0.3, 1e-3, False),
        ("u_t = -u*u_x + 0.1*u_xx", 64, 16.0, lambda x: np.exp(-((x + 2.0) ** 2)), 2.0, 1e-2, True),
        ("u_t = -6*u*u_x - u_xxx", 128, 60.0, lambda x: 0.5 / np.cosh(0.5 * (x + 20.0)) ** 2, 1.0, 1e-3, True),
        ("u_t = -u*u_x - u_xx - u_xxxx + 0.1", 64, 32 * np.pi, lambda x: np.cos(x / 16) * (1 + np.sin(x / 16)),
         5.0, 0.025, False),
    ],
)
def test_agrees_with_numpy_solver_to_round_off(text, nx, length, u0, t_end, dt, dealias):
    eq = Equation.parse(text)
    x = -length / 2 + length * np.arange(nx) / nx
    t = np.linspace(0.0, t_end, 6)
    ref = simulate_equation(eq, x, t, u0(x), dt=dt, dealias=dealias)
    out = PeriodicSolver(eq, nx, length, dealias=dealias).solve(_coef(eq), torch.tensor(u0(x)), t, dt)
    assert out.dtype == F64 and out.shape == (nx, t.size)
    assert _rel(out.numpy(), ref) < 1e-13


def test_reproduces_ac_mat(shared_data):
    d = scipy.io.loadmat(shared_data / "AC.mat")
    x, t, uu = d["x"].ravel(), d["tt"].ravel(), d["uu"]
    eq = Equation.parse("u_t = 0.0001*u_xx - 5*u**3 + 5*u")
    out = PeriodicSolver(eq, x.size, 2.0, dealias=False).solve(_coef(eq), torch.tensor(uu[:, 0]), t, 1e-3)
    assert _rel(out.numpy(), uu) < 1e-10


def _small():
    eq = Equation.parse("u_t = -u*u_x + 0.05*u_xx + 0.2*u - 0.3*u_xxx")
    solver = PeriodicSolver(eq, 16, 2 * math.pi)
    x = solver.grid().numpy()
    u0 = torch.tensor(np.sin(x) + 0.3 * np.cos(2 * x), dtype=F64)
    return solver, _coef(eq), u0, np.array([0.0, 0.1, 0.3])


@pytest.mark.parametrize("every", [None, 2])
def test_gradients_match_finite_differences(every):
    solver, coef, u0, t = _small()

    def f(c, u):
        return solver.solve(c, u, t, 0.05, checkpoint_every=every)

    assert torch.autograd.gradcheck(f, (coef.clone().requires_grad_(), u0.clone().requires_grad_()),
                                    eps=1e-6, atol=1e-7, rtol=1e-5, check_forward_ad=True)


def test_checkpointed_backward_equals_plain_backward():
    solver, coef, u0, t = _small()
    w = torch.linspace(-1, 1, 16 * 3, dtype=F64).reshape(16, 3)
    grads = []
    for every in (None, 1, 4):
        c, u = coef.clone().requires_grad_(), u0.clone().requires_grad_()
        (solver.solve(c, u, t, 0.05, checkpoint_every=every) * w).sum().backward()
        grads.append(torch.cat([c.grad, u.grad]))
    assert torch.allclose(grads[0], grads[1], rtol=1e-12, atol=1e-14)
    assert torch.allclose(grads[0], grads[2], rtol=1e-12, atol=1e-14)


def test_batch_equals_single_solves():
    solver, coef, u0, t = _small()
    coefs = coef * torch.tensor([[1.0], [0.9], [1.1]], dtype=F64)
    out = solver.solve(coefs, u0, t, 0.05)
    assert out.shape == (3, 16, 3)
    for b in range(3):
        assert torch.allclose(out[b], solver.solve(coefs[b], u0, t, 0.05), rtol=0, atol=1e-14)


def test_unsupported_equations_and_bad_shapes():
    with pytest.raises(ConfigError, match="constant coefficients"):
        PeriodicSolver(["x*u_x", "u_xx"], 32, 1.0)
    with pytest.raises(ConfigError, match="one field in one space dimension"):
        PeriodicSolver(Equation.parse("u_t = u_xx + u_yy"), 32, 1.0)
    with pytest.raises(ConfigError, match="twice"):
        PeriodicSolver(["u_xx", "u_xx"], 32, 1.0)
    solver, coef, u0, t = _small()
    with pytest.raises(ShapeError, match="coefficients must have shape"):
        solver.solve(coef[:2], u0, t, 0.05)
    with pytest.raises(ShapeError, match="u0 must have shape"):
        solver.solve(coef, u0[:8], t, 0.05)
    with pytest.raises(ConfigError, match="multiple of the time step"):
        solver.solve(coef, u0, [0.0, 0.12], 0.05)


def test_blow_up_is_a_training_error():
    solver = PeriodicSolver(["u_xx"], 128, 2 * math.pi)
    x = solver.grid()
    with pytest.raises(TrainingError, match="NaN/inf by t = .*reduce dt"):
        solver.solve(torch.tensor([-1.0], dtype=F64), torch.sin(x) + 1e-3 * torch.cos(60 * x), [0.0, 1.0], 0.01)
