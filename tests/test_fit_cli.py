"""`pdelearn fit`: smoke runs of every recipe, run-folder contents, resume, and bad input (exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

from pdelearn.cli import main

ROOT = Path(__file__).resolve().parents[1]
# recipes of the forward problems (other problem kinds, e.g. joint_discovery, have their own tests)
RECIPES = [p for p in sorted((ROOT / "recipes").glob("*.yaml"))
           if (yaml.safe_load(p.read_text()) or {}).get("problem", "forward") in ("forward", "extrapolation")]
SMALL = ["training.steps=2", "training.lbfgs_steps=1", "training.lbfgs_max_iter=2", "training.time_windows=2",
         "training.log_every=1", "reference.nx=64", "reference.nt=11", "reference.dt=1e-3", "reference.refine=2",
         "sampling.collocation=64", "sampling.initial=16", "sampling.boundary=8", "losses.reference_points=32",
         "model.width=8", "model.depth=2", "device=cpu", "training.target_rel_l2=null"]
RUN_FILES = {"recipe.yaml", "metrics.jsonl", "checkpoint.pt", "summary.json", "equation.json", "equation.tex",
             "solution.png", "losses.png", "prediction.npz"}


def fit(*args):
    return CliRunner().invoke(main, ["fit", *args], catch_exceptions=False)


def small(*extra):
    out = []
    for item in SMALL + list(extra):
        out += ["--set", item]
    return out


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_every_recipe_smoke_runs_into_a_complete_run_folder(path, tmp_path):
    out = tmp_path / "run"
    result = fit(str(path), "--out", str(out), *small())
    assert result.exit_code == 0, result.output
    assert "enforcing  u_t = " in result.output and "rel. L2 error" in result.output
    summary = json.loads((out / "summary.json").read_text())
    for key in ("rel_l2", "wall_time_s", "steps", "device"):
        assert key in summary
    assert summary["device"] == "cpu" and summary["steps"] > 0
    assert json.loads((out / "equation.json").read_text())["lhs"] == "u_t"
    if summary["problem"] == "extrapolation":
        for key in ("err_t0815_aware", "err_t0995_aware", "err_t0815_ignorant", "err_t0995_ignorant"):
            assert 0 <= summary[key] < 10
        assert (out / "extrapolation.png").exists()
        for sub in ("aware", "ignorant"):
            assert RUN_FILES - {"recipe.yaml", "equation.json", "equation.tex"} <= {p.name for p in (out / sub).iterdir()}
        ckpt = out / "aware" / "checkpoint.pt"
    else:
        assert RUN_FILES <= {p.name for p in out.iterdir()}
        ckpt = out / "checkpoint.pt"
    data = torch.load(ckpt, weights_only=True)
    assert data["step"] == summary.get("aware", summary)["steps"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folders left


def test_resume_continues_to_the_same_result(tmp_path):
    recipe = str(ROOT / "recipes" / "burgers_forward.yaml")
    args = small("training.dtype=float64", "training.lbfgs_steps=0", "training.time_windows=1")
    full = fit(recipe, "--out", str(tmp_path / "full"), *args, "--set", "training.steps=6")
    assert full.exit_code == 0, full.output
    half = fit(recipe, "--out", str(tmp_path / "half"), *args, "--set", "training.steps=3")
    assert half.exit_code == 0, half.output
    resumed = fit("--resume", str(tmp_path / "half"), "--set", "training.steps=6")
    assert resumed.exit_code == 0, resumed.output
    a = json.loads((tmp_path / "full" / "summary.json").read_text())
    b = json.loads((tmp_path / "half" / "summary.json").read_text())
    assert b["steps"] == 6
    assert abs(a["losses"]["L_G"] - b["losses"]["L_G"]) < 1e-12 * max(1, a["losses"]["L_G"])
    assert abs(a["rel_l2"] - b["rel_l2"]) < 1e-10


def test_resume_with_a_different_recipe_is_refused(tmp_path):
    recipe = str(ROOT / "recipes" / "burgers_forward.yaml")
    assert fit(recipe, "--out", str(tmp_path / "r"), *small()).exit_code == 0
    other = CliRunner().invoke(main, ["fit", str(ROOT / "recipes" / "allen_cahn.yaml"), "--resume", str(tmp_path / "r")])
    assert other.exit_code == 2 and "differs from the recipe of the run" in other.output


def test_nan_loss_at_step_0_exits_2_and_leaves_nothing(tmp_path):
    recipe = tmp_path / "blowup.yaml"
    recipe.write_text("equation: 'u_t = 1e30*u**3'\ndomain: {x: [-1, 1], t: [0, 1]}\ninitial_condition: 'cos(pi*x)'\n"
                      "reference: {solver: none}\ntraining: {steps: 5}\n")
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["fit", str(recipe), "--out", str(out), *small("reference.nt=3")])
    assert result.exit_code == 2
    assert "loss L_G became inf at step 0; no good checkpoint existed yet" in result.output
    assert [ln for ln in result.output.splitlines() if ln.startswith("Error:")] and "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blowup.yaml"]  # the README's promise: nothing on disk


def test_a_run_stopped_by_max_minutes_is_unreliable_unless_it_meets_a_stated_target(tmp_path):
    recipe = str(ROOT / "recipes" / "burgers_forward.yaml")
    args = small("training.steps=50", "training.lbfgs_steps=0", "training.max_minutes=1e-9")
    stopped = CliRunner().invoke(main, ["fit", recipe, "--out", str(tmp_path / "a"), *args])
    assert stopped.exit_code == 3, stopped.output
    assert "Unreliable result: training stopped by training.max_minutes = 1e-09 before it finished (stopped at step 1 " \
           "of 100; no time window trained to its end, window 1 in progress); the recipe states no " \
           "training.target_rel_l2" in stopped.output
    assert f"continue with: pdelearn fit --resume {tmp_path / 'a'}" in stopped.output
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["reliable"] is False and summary["stopped"] == "max_minutes" and summary["windows_done"] == 0
    missed = CliRunner().invoke(main, ["fit", recipe, "--out", str(tmp_path / "b"), *args,
                                       "--set", "training.target_rel_l2=1e-6"])
    assert missed.exit_code == 3 and "misses training.target_rel_l2 = 1e-06" in missed.output, missed.output
    met = CliRunner().invoke(main, ["fit", recipe, "--out", str(tmp_path / "c"), *args,
                                    "--set", "training.target_rel_l2=100"])
    assert met.exit_code == 0, met.output
    assert "meets training.target_rel_l2 = 100" in met.output
    assert json.loads((tmp_path / "c" / "summary.json").read_text())["target_met"] is True
    bad = CliRunner().invoke(main, ["fit", recipe, "--out", str(tmp_path / "d"), *args,
                                    "--set", "training.target_rel_l2=0"])
    assert bad.exit_code == 2 and "target_rel_l2" in bad.output and not (tmp_path / "d").exists()


def test_a_finished_run_that_misses_its_stated_target_is_unreliable(tmp_path):
    recipe = str(ROOT / "recipes" / "burgers_forward.yaml")
    res = fit(recipe, "--out", str(tmp_path / "r"), *small("training.target_rel_l2=1e-9"))
    assert res.exit_code == 3, res.output  # never exit 0 with an error above the recipe's target
    assert "the run finished, but its rel. L2 error" in res.output and "misses training.target_rel_l2 = 1e-09" \
        in res.output
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["target_met"] is False
    ok = fit(recipe, "--out", str(tmp_path / "s"), *small("training.target_rel_l2=100"))
    assert ok.exit_code == 0, ok.output
    assert json.loads((tmp_path / "s" / "summary.json").read_text())["target_met"] is True


BAD = [
    ("equation: 'u_t = 0.1*u_xx'\ndomain: {x: [0, 1], t: [0, 1]\n", "malformed YAML at line"),
    ("equation: 'u_t = 0.1*u_xx'\ndomain: {x: [0, 1], t: [0, 1]}\ninitial_condition: '0'\ntrainng: {}\n",
     "did you mean 'training'"),
    ("equation: \"u_t = __import__('os').system('touch PWNED')\"\ndomain: {x: [0, 1], t: [0, 1]}\n"
     "initial_condition: '0'\n", "equation"),
    ("equation: 'u_t = 0.1*u_xx + q'\ndomain: {x: [0, 1], t: [0, 1]}\ninitial_condition: '0'\n", "unknown name 'q'"),
    ("equation: 'u_t = 0.1*u_xx'\ndomain: {x: [0, 1], t: [0, 1]}\ninitial_condition: 'sin(x'\n", "initial_condition"),
]


@pytest.mark.parametrize("text, message", BAD)
def test_bad_recipes_exit_2_without_a_folder(text, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.yaml").write_text(text)
    result = CliRunner().invoke(main, ["fit", "r.yaml", "--out", "run"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: ") and message in result.output
    assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.yaml"]


def test_output_folder_errors(tmp_path):
    recipe = str(ROOT / "recipes" / "allen_cahn.yaml")
    bad = CliRunner().invoke(main, ["fit", recipe, "--out", str(tmp_path / "no" / "such" / "run"),
                                    "--set", f"reference.file={tmp_path / 'missing.mat'}", *small()])
    assert bad.exit_code == 2 and "missing.mat" in bad.output, bad.output
    assert not (tmp_path / "no").exists()  # parents made for the run are removed again when it fails
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    busy = CliRunner().invoke(main, ["fit", recipe, "--out", str(tmp_path / "full"), *small()])
    assert busy.exit_code == 2 and "not empty" in busy.output
    nothing = CliRunner().invoke(main, ["fit"])
    assert nothing.exit_code == 2 and "give a RECIPE" in nothing.output
    no_run = CliRunner().invoke(main, ["fit", "--resume", str(tmp_path / "full")])
    assert no_run.exit_code == 2 and "is not a run folder" in no_run.output


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_cuda_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(main, ["fit", str(ROOT / "recipes" / "allen_cahn.yaml"), "--device", "cuda",
                                       "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "CUDA is not available" in result.output
    assert not (tmp_path / "run").exists()


def test_usage_error_in_a_subprocess_has_no_traceback(tmp_path):
    (tmp_path / "r.yaml").write_text("equation: \"u_t = __import__('os').system('touch PWNED')\"\n"
                                     "domain: {x: [0, 1], t: [0, 1]}\ninitial_condition: '0'\n")
    proc = subprocess.run([sys.executable, "-m", "pdelearn.cli", "fit", "r.yaml", "--out", "run"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("Error: equation") and "Traceback" not in proc.stderr
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "run").exists()


@pytest.mark.gpu
def test_smoke_run_on_cuda(tmp_path):
    result = fit(str(ROOT / "recipes" / "allen_cahn.yaml"), "--out", str(tmp_path / "run"), *small(), "--device", "cuda")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["device"].startswith("cuda")
