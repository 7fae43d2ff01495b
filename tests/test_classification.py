"""Tests of the classification problem (PR-Net, Algorithm 1) on scikit-learn's digits.

The problem is built from a small digits split made here (no dependency on the data-set module),
trained for a few batches through the protocol's Trainer and finished; the recipe files parse through
the one recipe loader; a run through ``pdelearn fit`` is tested when ``pdelearn.vision`` is present.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from pdelearn.errors import ConfigError
from pdelearn.problems.base import RunContext
from pdelearn.problems.classification import (
    MODELS,
    ClassificationProblem,
    _milestones_in_updates,
    build_network,
    evaluate,
)
from pdelearn.problems.classification_recipe import ClassificationRecipe
from pdelearn.recipes import load_recipe, resolve

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def digits(n_train=96, n_val=32, n_test=64):
    sk = pytest.importorskip("sklearn.datasets")
    b = sk.load_digits()
    x = torch.as_tensor(b.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = (x - 0.3) / 0.4
    y = torch.as_tensor(b.target)
    cut = [0, n_train, n_train + n_val, n_train + n_val + n_test]
    sets = [TensorDataset(x[a:b_], y[a:b_]) for a, b_ in zip(cut, cut[1:])]
    info = SimpleNamespace(name="digits", num_classes=10, channels=1, image_size=8)
    return SimpleNamespace(train=sets[0], val=sets[1], test=sets[2], info=info)


def recipe(**sections):
    base = {"problem": "classification", "data": {"dataset": "digits", "batch_size": 32, "max_batches": 2},
            "model": {"width": 8, "n_down": 0}, "training": {"epochs": 2, "log_every": 1}}
    for k, v in sections.items():
        base[k] = {**base.get(k, {}), **v}
    return resolve(base)


def problem(r, data=None, seed=0):
    torch.manual_seed(seed)
    data = data or digits()
    return ClassificationProblem(r, build_network(r, data.info), data, torch.device("cpu"), seed)


def ctx(folder=None):
    return RunContext(device=torch.device("cpu"), seed=0, folder=folder, progress=False)


# ------------------------------------------------------------------------------------------ recipes
@pytest.mark.parametrize("name", ["prnet_digits.yaml", "prnet_mnist.yaml", "odenet_mnist.yaml", "rknet_mnist.yaml",
                                  "resnet_mnist.yaml"])
def test_recipes_parse_through_the_one_loader(name):
    r = load_recipe(RECIPES / name)
    assert isinstance(r, ClassificationRecipe) and r.model.kind == name.split("_")[0]
    if name != "prnet_digits.yaml" and r.model.kind != "prnet":  # torchdiffeq's MNIST set-up
        t = r.training
        assert (t.optimizer, t.lr, t.momentum, t.milestones, t.epochs) == ("sgd", 0.1, 0.9, [60, 100, 140], 160)
    if name == "prnet_mnist.yaml":  # the paper's hyperparameters (Appendix E)
        t = r.training
        assert (t.epochs, r.data.batch_size, t.milestones, t.gamma) == (160, 128, [60, 80, 140], 0.1)
        assert (t.queries.lr, t.equation.lr, t.queries.every, t.equation.every, t.optimizer) == (1e-3, 1e-3, 1, 1, "adam")
        assert Path(r.data.root).is_absolute()  # resolved against the recipe's folder


@pytest.mark.parametrize(
    "sections, message",
    [
        ({"training": {"weights": {"L_X": 1.0}}}, "unknown loss name(s) ['L_X']"),
        ({"training": {"milestones": [80, 60]}}, "increasing epoch numbers"),
        ({"library": {"max_order": 4}}, "library.max_order (4) needs derivatives the PDE block does not give"),
        ({"training": {"equation": {"lrr": 1.0}}}, "did you mean 'training.equation.lr'"),
    ],
)
def test_recipe_errors(sections, message):
    with pytest.raises(ConfigError) as err:
        recipe(**sections)
    assert message in str(err.value)


def test_model_errors_at_build():
    info = digits().info
    with pytest.raises(ConfigError, match="model.kind: unknown model 'prnett'; did you mean 'prnet'"):
        build_network(recipe(model={"kind": "prnett"}), info)
    with pytest.raises(ConfigError, match="activation 'relu' of the PDE block is not smooth"):
        build_network(recipe(model={"activation": "relu"}), info)
    with pytest.raises(ConfigError, match="side 8 become a 1 x 1 feature map"):
        build_network(recipe(model={"n_down": 2}), info)
    with pytest.raises(ConfigError, match=r"model.activation, model.n_down configure PR-Net; model.kind 'odenet'"):
        build_network(recipe(model={"kind": "odenet", "activation": "tanh"}), info)
    with pytest.raises(ConfigError, match=r"needs \['h_d1d1d1'\].*up to order 2"):
        build_network(recipe(model={"max_order": 2}, library={"terms": ["h", "h_d1d1d1"]}), info)


# ------------------------------------------------------------------------------------- Algorithm 1
def test_groups_follow_algorithm_1():
    r = recipe(training={"queries": {"every": 2, "lr": 0.01}, "equation": {"every": 3, "l1": 0.5},
                         "weights": {"L_G": 0.25}, "milestones": [1, 4]})
    p = problem(r)
    g = {x.name: x for x in p.groups()}
    assert list(g) == ["network", "block", "queries", "coefficients"]
    m = p.model
    ids = {k: {id(q) for q in v.params} for k, v in g.items()}
    assert ids["network"] == {id(q) for q in m.network_parameters()}
    assert ids["block"] == {id(q) for q in m.block.parameters()}
    assert ids["queries"] == {id(m.queries)} and ids["coefficients"] == {id(m.equation.coefficients)}
    assert [tuple(x.losses) for x in g.values()] == [("L_T",), ("L_T", "L_I", "L_G"), ("L_T_H",), ("L_G_a", "R_G")]
    assert g["block"].weights["L_G"] == 0.25 and g["coefficients"].weights["R_G"] == 0.5
    assert (g["queries"].every, g["coefficients"].every) == (2, 3)
    assert all(x.unit == "epoch" for x in g.values()) and not g["coefficients"].fresh
    assert g["queries"].optimizer.param_groups[0]["lr"] == 0.01
    assert p.trainer_options()["keep_best"] == "val_top1"
    opts = problem(recipe(training={"best_by": "loss"})).trainer_options()
    assert (opts["keep_best"], opts["best_mode"]) == ("val_loss", "min")
    # lr milestones count epochs: 2 batches per epoch; a group every 2 epochs updates in epochs 0, 2, ...
    assert g["network"].scheduler.milestones == {2: 1, 8: 1}
    assert _milestones_in_updates([1, 4, 5], 2, 10) == [10, 20, 30]


def test_losses_and_where_their_gradients_go():
    p = problem(recipe())
    batch = next(iter(p.train_batches))
    out = p.losses(0, frozenset({"L_T", "L_I", "L_G"}), batch)
    assert set(out) == {"L_T", "L_I", "L_G", "L_G_a", "R_G"}
    m = p.model
    torch.testing.assert_close(out["L_G_a"], out["L_G"])  # same value, different graphs
    grads = torch.autograd.grad(out["L_G"], [m.block.net[0].weight, m.extractor[0].weight, m.queries], allow_unused=True)
    assert grads[0].abs().max() > 0 and grads[1] is None  # theta, not the extractor
    assert grads[2].abs().max() > 0  # h_t depends on where H queries f
    assert not out["L_G_a"].requires_grad or torch.autograd.grad(
        out["L_G_a"], [m.block.net[0].weight], allow_unused=True)[0] is None
    (ga,) = torch.autograd.grad(out["L_G_a"] + 0.1 * out["R_G"], [m.equation.coefficients])
    assert ga.abs().max() > 0
    alone = p.losses(0, frozenset({"L_G_a", "R_G"}), batch)  # coefficient group in an epoch without the block
    torch.testing.assert_close(alone["L_G_a"], out["L_G_a"])
    task = p.losses(0, frozenset({"L_T"}), batch)
    assert set(task) == {"L_T"}
    torch.testing.assert_close(task["L_T"], out["L_T"])
    queries = p.losses(0, frozenset({"L_T_H"}), batch)  # the queries group: L_T with h(0) given, same value
    assert set(queries) == {"L_T_H"}
    torch.testing.assert_close(queries["L_T_H"], out["L_T"])
    grads = torch.autograd.grad(queries["L_T_H"], [m.queries, m.extractor[0].weight], allow_unused=True)
    assert grads[0].abs().max() > 0 and grads[1] is None  # H, not the extractor


def test_features_are_computed_once_per_extractor_state_and_lg_samples_subsample():
    p = problem(recipe())
    batch = next(iter(p.train_batches))
    x = batch[0]
    h0 = p._features(x)
    assert p._features(x) is h0  # reused by the groups after the network group's step
    with torch.no_grad():
        p.model.extractor[0].weight.add_(0.1)  # an optimizer step: the cached h(0) is stale
    assert p._features(x) is not h0
    full = p.losses(0, frozenset({"L_T", "L_I", "L_G"}), batch)
    r = recipe(training={"lg_samples": 2})
    q = problem(r)
    q.model.load_state_dict(p.model.state_dict())
    sub = q.losses(0, frozenset({"L_T", "L_I", "L_G"}), batch)
    torch.testing.assert_close(sub["L_T"], full["L_T"])  # the task loss on the whole batch
    torch.testing.assert_close(sub["L_I"], full["L_I"])
    m = q.model
    d = m.derivatives(q._features(x)[:2])
    torch.testing.assert_close(sub["L_G"], m.residual(d).pow(2).mean())  # L_G on the first 2 images
    torch.testing.assert_close(sub["L_G_a"], sub["L_G"])


def test_two_epoch_smoke_run_trains_every_group_and_finishes(tmp_path):
    p = problem(recipe())
    m = p.model
    before = {"theta": m.block.net[0].weight.detach().clone(), "extractor": m.extractor[0].weight.detach().clone(),
              "H": m.queries.detach().clone(), "a": m.equation.coefficients.detach().clone()}
    c = ctx(tmp_path)
    result = p.train(c)
    assert result.step == 4 and result.epoch == 2 and result.best["epoch"] in (1, 2)
    after = {"theta": m.block.net[0].weight, "extractor": m.extractor[0].weight, "H": m.queries,
             "a": m.equation.coefficients}
    for k in before:
        assert not torch.equal(before[k], after[k].detach()), k
    out = p.finish(c, result)
    s = out.summary
    for key in ("test_top1", "test_top5", "per_class_mean", "per_class_std", "parameters", "inference_s_per_1000",
                "train_s_per_iteration", "peak_memory_mb", "equation", "equation_fit_r2", "steps"):
        assert key in s, key
    assert s["parameters"] == m.parameter_count() and s["inference_s_per_1000"] > 0
    assert 0 <= s["test_top1"] <= s["test_top5"] <= 1 and len(s["per_class"]) == 10
    # the dense L1 equation is printed first and kept in equation.json's "dense_equation"; the sparse readout of the
    # engine is the equation written (issue 29)
    assert len(m.equation.equation().terms) == 28 and str(m.equation.equation()) in out.lines[1]
    assert out.equation_extra["dense_equation"]["equation"] == str(m.equation.equation())
    r = s["readout"]
    assert out.equation.lhs == "h_t" and r["terms"] == [t.name for t in out.equation.terms] or not r["terms"]
    assert set(r) >= {"terms", "coefficients", "intervals", "r2_held_out", "dense_r2_held_out", "sample", "reliable"}
    assert s["equation_explains_little"] == (not r["reliable"]) and "sparse readout" in "\n".join(out.lines)
    assert (tmp_path / "coefficients.png").stat().st_size > 0
    json.dumps(s)  # JSON-able
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert any("validation" in x for x in lines) and any("L_G" in x.get("losses", {}) for x in lines)


def test_evaluate_counts_top1_top5_and_per_class():
    model = nn.Sequential(nn.Flatten(), nn.Identity())
    x = torch.eye(10)[[0, 1, 2, 3]].view(4, 10, 1, 1)  # logits = one-hot of the predicted class
    y = torch.tensor([0, 1, 5, 3])
    ev = evaluate(model, [(x, y)], 10)
    assert ev["top1"] == 0.75 and ev["top5"] == 1.0 and ev["n"] == 4
    expected = torch.nn.functional.cross_entropy(x.view(4, 10), y).item()
    assert ev["loss"] == pytest.approx(expected)
    assert ev["per_class"][5] == 0.0 and ev["per_class"][0] == 1.0
    assert ev["per_class_mean"] == pytest.approx(0.75) and torch.isnan(torch.tensor(ev["per_class"][9]))


def test_a_baseline_trains_with_the_task_loss_only(monkeypatch):
    def tiny(r, info):
        return nn.Sequential(nn.Conv2d(info.channels, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                             nn.Linear(4, info.num_classes))

    monkeypatch.setitem(MODELS, "tiny", tiny)
    p = problem(recipe(model={"kind": "tiny"}))
    groups = p.groups()
    assert [(g.name, tuple(g.losses)) for g in groups] == [("network", ("L_T",))]
    result = p.train(ctx())
    out = p.finish(ctx(), result)
    assert out.equation is None and "equation" not in out.summary
    assert out.summary["parameters"] == sum(q.numel() for q in p.model.parameters())


def test_near_chance_accuracy_is_reported_unreliable():
    p = problem(recipe(training={"epochs": 1}, data={"max_batches": 1}))
    with torch.no_grad():
        p.model.head[-1].weight.zero_()
        p.model.head[-1].bias.copy_(torch.arange(10.0))  # always predicts class 9
    out = p.finish(ctx(), SimpleNamespace(step=1, elapsed_s=1.0, losses={}, stopped=None, epoch=1, best=None))
    assert not out.reliable and "near chance" in out.message


@pytest.mark.parametrize("target, reliable, says", [
    (None, False, "the recipe states no training.target_top1"),
    (0.95, False, "test top-1 0.9000 misses training.target_top1 = 0.95"),
    (0.9, True, None),
])
def test_a_run_stopped_by_max_minutes_is_unreliable_unless_it_meets_target_top1(target, reliable, says, monkeypatch):
    import pdelearn.problems.classification as cls

    p = problem(recipe(training={"epochs": 3, "max_minutes": 0.5, "target_top1": target}, data={"max_batches": 1}))
    good = {"top1": 0.9, "top5": 1.0, "loss": 0.3, "per_class_mean": 0.9, "per_class_std": 0.05,
            "per_class": [0.9] * 10, "n": 64}
    monkeypatch.setattr(cls, "evaluate", lambda *a, **k: dict(good))
    stopped = SimpleNamespace(step=1, elapsed_s=30.0, losses={}, stopped="max_minutes", epoch=1, best=None)
    out = p.finish(ctx(), stopped)
    assert out.reliable is reliable and out.summary["target_met"] is (None if target is None else reliable)
    if says:
        assert says in out.message and "stopped by training.max_minutes = 0.5 before it finished (stopped at " \
            "step 1 of 3 (1 of 3 epochs trained)" in out.message
    finished = SimpleNamespace(step=3, elapsed_s=30.0, losses={}, stopped=None, epoch=3, best=None)
    assert p.finish(ctx(), finished).reliable  # a finished run is judged as before


def test_target_top1_is_a_fraction():
    with pytest.raises(ConfigError, match="target_top1"):
        recipe(training={"target_top1": 90})


CLASSIFICATION_RECIPES = [p for p in sorted(RECIPES.glob("*.yaml")) if "problem: classification" in p.read_text()]


@pytest.mark.parametrize("path", CLASSIFICATION_RECIPES, ids=lambda p: p.stem)
def test_every_classification_recipe_smoke_runs_two_steps(path, tmp_path):
    """Each classification recipe parses and trains two batches, on FakeData of the recipe's image shape."""
    pytest.importorskip("pdelearn.vision")
    r = load_recipe(path)
    from click.testing import CliRunner

    from pdelearn.cli import main

    # FakeData of the recipe's image shape and number of classes (no real data needed)
    size = r.data.image_size or {"digits": 8, "mnist": 28, "svhn": 32, "cifar10": 32, "cifar100": 32}.get(r.data.dataset, 64)
    channels = 1 if r.data.dataset in ("digits", "mnist") else 3
    classes = {"cifar100": 100, "tinyimagenet": 200}.get(r.data.dataset, 10)
    sets = ["data.dataset=fake", "data.root=null", f"data.image_size={size}", "data.max_batches=2", "data.batch_size=2",
            "data.workers=0", "training.epochs=1", "data.val_fraction=0.25", "device=cpu", "data.augment=false",
            "model.init_from=null",  # transfer recipes: tests/test_classification_recipes.py trains their source
            f"data.options={{fake_train: 8, fake_test: 4, fake_channels: {channels}, fake_classes: {classes}}}"]
    if r.training.schedule == "cosine":
        sets.append("training.warmup_epochs=0")  # the warm-up must end within the one epoch
    args = ["fit", str(path), "--out", str(tmp_path / "run")]
    for item in sets:
        args += ["--set", item]
    res = CliRunner().invoke(main, args)
    assert res.exit_code in (0, 3), res.output  # 3: near-chance accuracy after two batches is flagged unreliable
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["model"] == r.model.kind and summary["parameters"] > 0 and summary["steps"] == 2
    assert len(summary["per_class"]) == classes


def test_fit_runs_a_recipe_end_to_end(tmp_path):
    pytest.importorskip("pdelearn.vision")
    from click.testing import CliRunner

    from pdelearn.cli import main

    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["fit", str(RECIPES / "prnet_digits.yaml"), "--out", str(out), "--set",
                                    "training.epochs=1", "--set", "data.max_batches=2", "--set", "model.width=8"])
    assert res.exit_code in (0, 3), res.output
    assert "learned equation of the PDE block" in res.output
    for f in ("summary.json", "equation.json", "equation.tex", "coefficients.png", "losses.png", "recipe.yaml"):
        assert (out / f).exists(), f
    assert json.loads((out / "summary.json").read_text())["model"] == "prnet"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_smoke_run_on_cuda():
    torch.manual_seed(0)
    r, data = recipe(training={"epochs": 1}), digits()
    p = ClassificationProblem(r, build_network(r, data.info), data, torch.device("cuda"), 0)
    c = RunContext(device=torch.device("cuda"), seed=0, folder=None, progress=False)
    out = p.finish(c, p.train(c))
    assert out.summary["peak_memory_kind"] == "cuda_max_allocated" and out.summary["inference_s_per_1000"] > 0
    assert next(p.model.parameters()).is_cuda
