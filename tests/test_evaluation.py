"""Tests of ``pdelearn evaluate`` / ``compare``: attacks against closed forms, shifts, run folders, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from pdelearn.cli import main
from pdelearn.errors import ConfigError
from pdelearn.evaluation import Normalized, compare_runs, evaluate_run, fgsm, load_classifier, parse_eps, pgd
from pdelearn.evaluation.core import FIXED_STEP, _solver, ode_blocks
from pdelearn.evaluation.shifts import shift_transform

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("torchvision")
pytest.importorskip("sklearn")


# -- attacks: closed forms ---------------------------------------------------------------------------
def _linear(n_in: int = 12, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    lin = nn.Linear(n_in, 2).double()
    return nn.Sequential(nn.Flatten(), lin)


def test_fgsm_matches_the_closed_form_of_a_linear_two_class_model():
    # CE of logits W x + b with label 0: d/dx = p1 (W1 - W0), so sign(grad) = sign(W1 - W0) for every image
    model = _linear()
    w = model[1].weight.detach()
    x = torch.full((3, 1, 3, 4), 0.5, dtype=torch.float64)
    x[1] += 0.1
    y = torch.zeros(3, dtype=torch.long)
    eps = 2 / 255
    expected = x + eps * torch.sign(w[1] - w[0]).view(1, 1, 3, 4)
    torch.testing.assert_close(fgsm(model, x, y, eps), expected, rtol=0, atol=1e-15)
    # label 1 flips the direction; pixels at the border are clipped to [0, 1]
    edge = torch.zeros(1, 1, 3, 4, dtype=torch.float64)
    out = fgsm(model, edge, torch.ones(1, dtype=torch.long), eps)
    torch.testing.assert_close(out, (eps * torch.sign(w[0] - w[1])).clamp(min=0).view(1, 1, 3, 4), rtol=0, atol=1e-15)


@pytest.mark.parametrize("eps, moved", [(0.5 / 255, 0.5 / 255), (2 / 255, 2 / 255), (5 / 255, 3 / 255)])
def test_pgd_on_a_linear_model_walks_to_the_projection(eps, moved):
    # constant gradient sign: 3 steps of 1/255 reach min(3/255, eps) along sign(W1 - W0)
    model = _linear()
    w = model[1].weight.detach()
    x = torch.full((2, 1, 3, 4), 0.5, dtype=torch.float64)
    y = torch.zeros(2, dtype=torch.long)
    expected = x + moved * torch.sign(w[1] - w[0]).view(1, 1, 3, 4)
    torch.testing.assert_close(pgd(model, x, y, eps), expected, rtol=0, atol=1e-12)


def test_pgd_stays_in_the_ball_and_raises_the_loss_of_a_nonlinear_model():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Tanh(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3)).double()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(8, 1, 6, 6, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (8,), generator=g)
    eps = 3 / 255
    adv = pgd(model, x, y, eps, random_start=True, generator=torch.Generator().manual_seed(2))
    assert (adv - x).abs().max() <= eps + 1e-12 and adv.min() >= 0 and adv.max() <= 1
    ce = nn.functional.cross_entropy
    assert ce(model(adv), y) > ce(model(x), y) and ce(model(fgsm(model, x, y, eps)), y) > ce(model(x), y)


def test_attacks_perturb_the_image_only():
    from pdelearn.models.prnet import PRNet

    torch.manual_seed(0)
    net = PRNet(1, 8, 10, width=8, n_down=0, max_order=1).eval()
    pix = Normalized(net, (0.3,), (0.3,))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.rand(4, 1, 8, 8)
    adv = pgd(pix, x, torch.arange(4), 1 / 255)
    assert all(p.grad is None for p in net.parameters())  # no parameter (H included) received a gradient
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert 0 < (adv - x).abs().max() <= 1 / 255 + 1e-7


def test_attacks_agree_with_torchattacks():
    ta = pytest.importorskip("torchattacks")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Tanh(), nn.Flatten(), nn.Linear(64, 10)).eval()
    x, y = torch.rand(6, 1, 6, 6), torch.arange(6)
    eps = 3 / 255
    torch.testing.assert_close(fgsm(model, x, y, eps), ta.FGSM(model, eps=eps)(x, y), rtol=0, atol=1e-6)
    ref = ta.PGD(model, eps=eps, alpha=1 / 255, steps=3, random_start=False)(x, y)
    torch.testing.assert_close(pgd(model, x, y, eps), ref, rtol=0, atol=1e-6)


@pytest.mark.parametrize("text, value", [("1/255", 1 / 255), ("0.5/255", 0.5 / 255), ("0.01", 0.01)])
def test_parse_eps(text, value):
    assert parse_eps(text) == pytest.approx(value, rel=1e-15)


@pytest.mark.parametrize("text", ["0", "-1/255", "1", "0.31", "abc", "1/0"])
def test_parse_eps_refuses_out_of_range_and_garbage(text):
    with pytest.raises(ConfigError, match="--eps"):
        parse_eps(text)


# -- shifts ---------------------------------------------------------------------------------------------
def test_shifts_are_seeded_and_do_what_they_say():
    x = torch.full((64, 1, 16, 16), 0.5)
    noise = shift_transform("noise", 1)
    a, b = noise(x, torch.Generator().manual_seed(3)), noise(x, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and abs(float((a - x).std()) - 0.1) < 0.003 and abs(float((a - x).mean())) < 0.003
    assert torch.allclose(shift_transform("crop", 1)(x, None), x)  # a constant image is unchanged by crop + resize
    ramp = torch.linspace(0, 1, 16).view(1, 1, 1, 16).expand(1, 1, 16, 16)
    cropped = shift_transform("crop", 1)(ramp, None)  # 14 of 16 columns stretched: the ramp gets steeper
    assert float(cropped[0, 0, 8, -1] - cropped[0, 0, 8, 0]) < 1.0 and cropped[0, 0, 8, 0] > 0
    dot = torch.zeros(2, 1, 15, 15)
    dot[:, :, 7, 7] = 1.0
    rot = shift_transform("rotate", 1)(dot, torch.Generator().manual_seed(0))  # the centre is the rotation's fixed point
    assert rot[:, 0, 7, 7].min() > 0.5
    assert shift_transform("jitter", 1) is None
    colour = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    j = shift_transform("jitter", 3)
    assert torch.equal(j(colour, torch.Generator().manual_seed(1)), j(colour, torch.Generator().manual_seed(1)))


# -- run folders ---------------------------------------------------------------------------------------
TINY = {"problem": "classification", "seed": 0, "device": "cpu",
        "data": {"dataset": "digits", "val_fraction": 0.1, "batch_size": 64, "eval_batch_size": 500},
        "model": {"kind": "prnet", "width": 8, "n_down": 0, "max_order": 1},
        "library": {"max_power": 1, "max_order": 1},
        "training": {"epochs": 3, "lr": 0.02, "milestones": [10], "log_every": 100}}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A PR-Net trained for 3 epochs on 8 x 8 digits (a few seconds)."""
    from pdelearn.problems.classification_recipe import ClassificationRecipe
    from pdelearn.runs import new_run, run_recipe

    folder = tmp_path_factory.mktemp("runs") / "tiny"
    recipe = ClassificationRecipe.model_validate(TINY)
    with new_run(folder, recipe):
        run_recipe(recipe, folder)
    return folder


def _copy(run: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(run, dst)
    return dst


def test_clean_accuracy_reproduces_the_runs_own_test_figure(tiny_run):
    run = load_classifier(tiny_run)
    ev = evaluate_run(run, ood=(), attacks=())
    summary = json.loads((tiny_run / "summary.json").read_text())
    assert run.weights == "best.pt" and ev["reliable"]
    clean = ev["conditions"][0]
    assert clean["top1"] == summary["test_top1"] and clean["per_class_mean"] == summary["per_class_mean"]
    assert ev["overhead"]["train_s_per_iteration"] == summary["train_s_per_iteration"]


def test_cli_evaluate_and_compare(tiny_run, tmp_path):
    run = _copy(tiny_run, tmp_path)
    res = CliRunner().invoke(main, ["evaluate", str(run), "--ood", "noise", "--ood", "jitter", "--attack", "fgsm",
                                    "--eps", "1/255", "--eps", "3/255", "--max-images", "120", "--tsne", "60"])
    assert res.exit_code == 0, res.output
    ev = json.loads((run / "evaluation.json").read_text())
    names = [c["name"] for c in ev["conditions"]]
    assert names == ["clean", "noise", "jitter", "fgsm 1/255", "fgsm 3/255"]
    assert "skipped" in ev["conditions"][2] and ev["conditions"][1]["n"] == 120
    fg1, fg3 = ev["conditions"][3], ev["conditions"][4]
    assert fg3["top1"] <= fg1["top1"] <= ev["conditions"][0]["top1"] + 1e-12  # larger budgets hurt more
    assert -1 <= ev["tsne"]["silhouette_tsne"] <= 1 and (run / "tsne.png").stat().st_size > 1000
    assert "| fgsm 3/255 | exact |" in res.output and "per iteration" in res.output
    twin = tmp_path / "twin"
    shutil.copytree(run, twin)
    table = CliRunner().invoke(main, ["compare", str(run), str(twin)])
    assert table.exit_code == 0, table.output
    row = [ln for ln in table.output.splitlines() if ln.startswith("| prnet (digits)")][0]
    assert row.endswith("| 2 |") and f"{100 * fg1['top1']:.2f} +- 0.00" in row
    latex = compare_runs([run], latex=True)
    assert latex.startswith("\\begin{tabular}") and "fgsm 1/255" in latex and latex.rstrip().endswith("\\end{tabular}")


def test_ode_baselines_are_attacked_through_both_solvers(tmp_path):
    pytest.importorskip("torchdiffeq")
    from pdelearn.problems.classification import build_network
    from pdelearn.problems.classification_recipe import ClassificationRecipe
    from pdelearn.vision import load_dataset

    recipe = ClassificationRecipe.model_validate({**TINY, "data": {**TINY["data"], "image_size": 14},
                                                  "model": {"kind": "odenet", "width": 8}, "library": {}})
    torch.manual_seed(0)
    net = build_network(recipe, load_dataset("digits", image_size=14).info)
    folder = tmp_path / "ode"
    folder.mkdir()
    (folder / "recipe.yaml").write_text(recipe.to_yaml())
    torch.save({"state": {"model": net.state_dict()}}, folder / "checkpoint.pt")
    run = load_classifier(folder)
    blocks = ode_blocks(run.model)
    assert len(blocks) == 1 and blocks[0].method == "dopri5"
    with _solver(blocks, FIXED_STEP):
        assert (blocks[0].method, blocks[0].step_size) == ("rk4", 0.1)
    seen = []
    hook = blocks[0].register_forward_pre_hook(lambda mod, args: seen.append((mod.method, torch.is_grad_enabled())))
    ev = evaluate_run(run, ood=(), attacks=("fgsm",), eps=("3/255",), max_images=16)
    hook.remove()
    # clean: adaptive; attack 1: adaptive gradients, adaptive classification; attack 2: rk4 gradients, adaptive
    assert seen == [("dopri5", False), ("dopri5", True), ("dopri5", False), ("rk4", True), ("dopri5", False)]
    res = CliRunner().invoke(main, ["evaluate", str(folder), "--no-ood", "--no-attack", "--out", str(tmp_path / "o")])
    assert res.exit_code == 3 and "near chance" in res.output  # an untrained network: said so, exit 3
    assert json.loads((tmp_path / "o" / "evaluation.json").read_text())["reliable"] is False
    assert [(c["name"], c.get("gradients")) for c in ev["conditions"][1:]] == [
        ("fgsm 3/255", "adaptive (dopri5)"), ("fgsm 3/255 fixed-step", "fixed-step (rk4, step 0.1)")]
    assert blocks[0].method == "dopri5" and run.weights == "checkpoint.pt"


# -- bad input ------------------------------------------------------------------------------------------
def _fails(args, match, tmp_path):
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and match in res.output, res.output
    return res


def test_evaluate_refuses_a_folder_that_is_not_a_classifier_run(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    _fails(["evaluate", str(empty)], "is not a run folder (no recipe.yaml)", tmp_path)
    other = tmp_path / "forward"
    other.mkdir()
    shutil.copy(ROOT / "recipes" / "burgers_forward.yaml", other / "recipe.yaml")
    _fails(["evaluate", str(other)], "not a classifier", tmp_path)
    assert sorted(p.name for p in other.iterdir()) == ["recipe.yaml"] and not any(empty.iterdir())


@pytest.mark.parametrize("args, match", [
    (["--ood", "nosie"], "did you mean 'noise'"),
    (["--attack", "fsgm"], "did you mean 'fgsm'"),
    (["--eps", "80/255", "--attack", "pgd"], "out of range"),
    (["--dataset", "fake", "--image-size", "16"], "trained on 1 x 8 x 8 images"),
    (["--tsne", "3"], "--tsne"),
])
def test_evaluate_bad_options_exit_2_and_write_nothing(tiny_run, tmp_path, args, match):
    run = _copy(tiny_run, tmp_path)
    out = tmp_path / "out"
    _fails(["evaluate", str(run), "--out", str(out), "--no-attack" if "--attack" not in args and "--eps" not in args
            else "--no-ood", *args], match, tmp_path)
    assert not out.exists() and not (run / "evaluation.json").exists()


def test_evaluate_refuses_weights_that_do_not_fit_the_recipe(tiny_run, tmp_path):
    run = _copy(tiny_run, tmp_path)
    text = (run / "recipe.yaml").read_text().replace("width: 8", "width: 16")
    (run / "recipe.yaml").write_text(text)
    _fails(["evaluate", str(run), "--no-ood", "--no-attack"], "do not fit the network", tmp_path)


def test_compare_needs_evaluated_runs(tiny_run, tmp_path):
    _fails(["compare", str(tmp_path)], "evaluation.json' does not exist; run `pdelearn evaluate", tmp_path)
    (tmp_path / "evaluation.json").write_text("{}")
    _fails(["compare", str(tmp_path)], "is not an evaluation written by", tmp_path)
    _fails(["compare"], "at least one", tmp_path)


GOOD_EVALUATION = {"model": "prnet", "dataset": "digits", "overhead": {"train_s_per_iteration": 0.01},
                   "conditions": [{"name": "clean", "top1": 0.9}, {"name": "jitter", "skipped": "no ODE block"}]}


@pytest.mark.parametrize("edit, match", [
    (lambda ev: ev.update(conditions={"clean": 0.9}), "'conditions' must be a non-empty list"),
    (lambda ev: ev.update(conditions=[]), "'conditions' must be a non-empty list"),
    (lambda ev: ev["conditions"].append("noise"), "conditions[2] must be a record with a text 'name'"),
    (lambda ev: ev["conditions"][0].pop("top1"), "'top1' must be a number in [0, 1], received NoneType"),
    (lambda ev: ev["conditions"][0].update(top1="90 %"), "'top1' must be a number in [0, 1], received str"),
    (lambda ev: ev["conditions"][0].update(top1=90), "'top1' must be a number in [0, 1], received int 90"),
    (lambda ev: ev.pop("model"), "'model' must be text"),
    (lambda ev: ev.update(dataset=["digits"]), "'dataset' must be text"),
    (lambda ev: ev.update(overhead=[1]), "'overhead' must be a record"),
    (lambda ev: ev["overhead"].update(peak_memory_mb="big"), "overhead 'peak_memory_mb' must be a number"),
])
def test_compare_refuses_an_edited_evaluation_in_one_line(edit, match, tmp_path):
    import copy

    ok = tmp_path / "ok"
    ok.mkdir()
    (ok / "evaluation.json").write_text(json.dumps(GOOD_EVALUATION))
    assert CliRunner().invoke(main, ["compare", str(ok)]).exit_code == 0
    ev = copy.deepcopy(GOOD_EVALUATION)
    edit(ev)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "evaluation.json").write_text(json.dumps(ev))
    res = _fails(["compare", str(ok), str(bad)], match, tmp_path)
    assert len(res.output.strip().splitlines()) == 1 and res.output.startswith("Error: ")
    assert "was evaluation.json edited?" in res.output


def test_compare_refuses_the_same_run_twice(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "evaluation.json").write_text(json.dumps(GOOD_EVALUATION))
    for other in (str(run), str(run / "evaluation.json"), str(tmp_path / "." / "run")):
        res = _fails(["compare", str(run), other], "are the same evaluated run", tmp_path)
        assert len(res.output.strip().splitlines()) == 1


# -- transfer learning ----------------------------------------------------------------------------------
def test_transfer_loads_every_layer_but_the_head(tiny_run, tmp_path):
    import yaml

    from pdelearn.errors import DataError
    from pdelearn.problems.classification import build_network, load_weights, transfer_weights
    from pdelearn.problems.classification_recipe import ClassificationRecipe
    from pdelearn.vision import load_dataset

    fake = {"dataset": "fake", "image_size": 8, "val_fraction": 0.25, "batch_size": 8, "max_batches": 2,
            "options": {"fake_train": 32, "fake_test": 16, "fake_classes": 5, "fake_channels": 1}}
    target = {**TINY, "data": fake, "model": {**TINY["model"], "init_from": str(tiny_run)},
              "training": {**TINY["training"], "epochs": 1}}
    r = ClassificationRecipe.model_validate(target)
    data = load_dataset("fake", image_size=8, fake_classes=5, fake_channels=1)
    net = build_network(r, data.info)
    _, source = load_weights(tiny_run)
    assert transfer_weights(net, tiny_run) == sum(1 for k in source if not k.startswith("head."))
    mine = net.state_dict()
    assert all(torch.equal(mine[k], v) for k, v in source.items() if not k.startswith("head."))
    assert mine["head.4.weight"].shape == (5, 8) and source["head.4.weight"].shape == (10, 8)
    wide = build_network(ClassificationRecipe.model_validate({**target, "model": {**target["model"], "width": 16}}),
                         data.info)
    with pytest.raises(DataError, match="do not fit this network.*same model.kind, width"):
        transfer_weights(wide, tiny_run)
    # through `pdelearn fit`: a relative init_from is read against the recipe's folder
    spec = tmp_path / "transfer.yaml"
    shutil.copytree(tiny_run, tmp_path / "source")
    spec.write_text(yaml.safe_dump({**target, "model": {**target["model"], "init_from": "source"}}))
    res = CliRunner().invoke(main, ["fit", str(spec), "--out", str(tmp_path / "tuned")])
    assert res.exit_code in (0, 3), res.output  # 3: near chance on random FakeData labels
    summary = json.loads((tmp_path / "tuned" / "summary.json").read_text())
    assert summary["init_from"] == str((tmp_path / "source").resolve())
