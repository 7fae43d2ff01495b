"""A new problem type through new code only: the Problem protocol, the recipe union, the driver, the Trainer.

``DecayProblem`` identifies the rate ``k`` of ``u_t = -k u`` from noisy samples of ``u = exp(-k t)``. It is
registered with one entry in ``PROBLEMS`` (here with ``monkeypatch``; in the package: one line in
``pdelearn/problems/registry.py``) and then runs through ``pdelearn fit`` like every built-in type.
"""

from __future__ import annotations

import json
from typing import Literal

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner
from pydantic import Field

from pdelearn import Equation, Outcome, ParamGroup, Problem, RecipeBase
from pdelearn.cli import main
from pdelearn.problems.base import StrictModel
from pdelearn.problems.registry import PROBLEMS
from pdelearn.recipes import resolve


class DecayData(StrictModel):
    rate: float = Field(1.5, gt=0)
    samples: int = Field(200, ge=2)
    noise: float = Field(0.01, ge=0)


class DecayTraining(StrictModel):
    steps: int = Field(300, ge=1)
    lr: float = Field(0.05, gt=0)


class DecayRecipe(RecipeBase):
    problem: Literal["toy_decay"] = "toy_decay"
    data: DecayData = DecayData()
    training: DecayTraining = DecayTraining()


class DecayProblem(Problem):
    name = "toy_decay"
    Recipe = DecayRecipe

    def __init__(self, recipe: DecayRecipe, t: torch.Tensor, y: torch.Tensor):
        self.recipe, self.t, self.y = recipe, t, y
        self.k = torch.nn.Parameter(torch.tensor(0.5, dtype=torch.float64))
        self.module = torch.nn.ParameterList([self.k])

    @classmethod
    def build(cls, recipe, ctx):
        rng = ctx.np_rng()
        t = np.sort(rng.uniform(0, 2, recipe.data.samples))
        y = np.exp(-recipe.data.rate * t) * (1 + recipe.data.noise * rng.standard_normal(t.size))
        return cls(recipe, torch.as_tensor(t), torch.as_tensor(y))

    def groups(self):
        return [ParamGroup("rate", torch.optim.Adam([self.k], lr=self.recipe.training.lr), ["L_D"])]

    def losses(self, step, names, batch=None):
        return {"L_D": ((torch.exp(-self.k * self.t) - self.y) ** 2).mean()}

    def state(self):
        return {"rate": self.module}

    def trainer_options(self):
        return {"steps": self.recipe.training.steps, "log_every": 50, "checkpoint_every": 100}

    def finish(self, ctx, result):
        k = float(self.k.detach())
        eq = Equation("u_t", {"u": -k}, ["u"], ["x"])
        ok = abs(k - self.recipe.data.rate) < 0.1 * self.recipe.data.rate
        return Outcome({"rate": k, "steps": result.step}, eq, {"role": "identified"}, [f"identified {eq}"],
                       reliable=ok, message=None if ok else f"rate {k:.3g} did not converge")


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(PROBLEMS, "toy_decay", f"{__name__}:DecayProblem")


def test_the_union_validates_the_new_type(registered):
    r = resolve({"problem": "toy_decay", "data": {"rate": 2.0}})
    assert isinstance(r, DecayRecipe) and r.data.rate == 2.0 and r.training.steps == 300
    with pytest.raises(Exception, match="did you mean 'data.rate'"):
        resolve({"problem": "toy_decay", "data": {"rte": 2.0}})
    with pytest.raises(Exception, match="training.steps"):
        resolve({"problem": "toy_decay"}, ["training.steps=0"])
    # the built-in types are unaffected
    assert resolve({"problem": "joint_discovery", "data": {"system": "burgers"}}).problem == "joint_discovery"


def test_the_new_type_runs_through_fit(registered, tmp_path):
    recipe = tmp_path / "decay.yaml"
    recipe.write_text(yaml.safe_dump({"problem": "toy_decay", "data": {"rate": 1.5}, "device": "cpu"}))
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["fit", str(recipe), "--out", str(out), "--set", "training.steps=400"])
    assert res.exit_code == 0, res.output
    assert "identified u_t = " in res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rate"] == pytest.approx(1.5, rel=0.05) and summary["device"] == "cpu"
    assert json.loads((out / "equation.json").read_text())["role"] == "identified"
    for name in ("recipe.yaml", "metrics.jsonl", "checkpoint.pt", "losses.png", "equation.tex"):
        assert (out / name).is_file(), name
    # resumable: the driver continues from the checkpoint
    res = CliRunner().invoke(main, ["fit", "--resume", str(out), "--set", "training.steps=500"])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "summary.json").read_text())["steps"] == 500


def test_an_unreliable_outcome_exits_3(registered, tmp_path):
    recipe = tmp_path / "decay.yaml"
    recipe.write_text(yaml.safe_dump({"problem": "toy_decay", "training": {"steps": 2}, "device": "cpu"}))
    res = CliRunner().invoke(main, ["fit", str(recipe), "--out", str(tmp_path / "run")])
    assert res.exit_code == 3 and "Unreliable result: rate" in res.output
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["reliable"] is False


def test_an_unknown_problem_type_is_a_clear_error(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("problem: joint-discovery\n")
    res = CliRunner().invoke(main, ["fit", str(recipe), "--out", str(tmp_path / "run")])
    assert res.exit_code == 2 and "did you mean 'joint_discovery'" in res.output
    assert not (tmp_path / "run").exists()
