"""Evaluate a trained classifier run folder: clean, out-of-distribution and adversarial accuracy.

:func:`load_classifier` rebuilds the network of a ``pdelearn fit`` classification run from its
``recipe.yaml`` (:func:`~pdelearn.problems.classification.build_network`) and loads the weights of
``best.pt`` (the kept-best state) or else ``checkpoint.pt``. :func:`evaluate_run` measures every
condition on the test set with :func:`~pdelearn.problems.classification.evaluate` (top-1, top-5,
per-class mean and std) and adds the training overhead from the run's ``summary.json`` and,
optionally, a t-SNE of ``h_task`` (:mod:`pdelearn.evaluation.features`).

ODE baselines (models holding an ``ODEBlock``) are attacked twice: with gradients through the
adaptive solver they were trained with, and with gradients through a fixed-step solver (adaptive step
control can mask gradients); the adversarial images of both are classified by the model as deployed.
"""

from __future__ import annotations

import contextlib
import json
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError, DataError, did_you_mean
from .attacks import ATTACKS, Normalized, fgsm, parse_eps, pgd
from .shifts import SHIFTS, describe, shift_transform

__all__ = ["ClassifierRun", "DEFAULT_EPS", "EVALUATION", "FIXED_STEP", "check_names", "evaluate_run",
           "load_classifier"]

EVALUATION = "evaluation.json"
#: The paper's budgets: 0.5/255, 1/255, 3/255 of the pixel range.
DEFAULT_EPS = ("0.5/255", "1/255", "3/255")
#: The fixed-step solver whose gradients attack ODE baselines a second time.
FIXED_STEP = {"method": "rk4", "step_size": 0.1}


@dataclass
class ClassifierRun:
    """A run folder's recipe, rebuilt network (eval mode, weights loaded), test data and summary."""

    folder: Path
    recipe: Any
    model: nn.Module
    data: Any  #: ``pdelearn.vision.VisionData`` of the evaluation data
    weights: str  #: file the weights came from
    summary: dict


def check_names(names: Sequence[str], known: Sequence[str], what: str) -> list[str]:
    """``names`` unchanged if all are in ``known``; else a ConfigError with one did-you-mean."""
    for n in names:
        if n not in known:
            raise ConfigError(did_you_mean(n, known, what) + f" (known {what}s: {', '.join(known)})")
    return list(dict.fromkeys(names))


def _read_recipe(folder: Path) -> Any:
    from ..recipes import load_recipe
    from ..runfiles import RECIPE

    if not folder.is_dir():
        raise ConfigError(f"{str(folder)!r} is not a folder; pass the --out folder of a `pdelearn fit` classification run")
    if not (folder / RECIPE).is_file():
        raise ConfigError(f"{str(folder)!r} is not a run folder (no {RECIPE}); pass the --out folder of a "
                          "`pdelearn fit` classification run")
    recipe = load_recipe(folder / RECIPE)
    if recipe.problem != "classification":
        raise ConfigError(f"{str(folder)!r} is a {recipe.problem!r} run, not a classifier; `pdelearn evaluate` takes "
                          "runs of recipes with problem: classification")
    return recipe


def load_classifier(folder: str | Path, *, dataset: str | None = None, image_size: int | None = None,
                    root: str | None = None, device: str | torch.device = "cpu") -> ClassifierRun:
    """The trained classifier of ``folder`` and its test data.

    Parameters
    ----------
    folder
        A ``pdelearn fit`` run folder of a classification recipe.
    dataset, image_size, root
        Evaluation data other than the recipe's (None: the recipe's). Its images must have the size,
        channels and classes the network was trained on.
    device
        Where the network runs.

    Raises
    ------
    ConfigError
        Not a folder, not a run, not a classification run.
    DataError
        No readable weights, weights that do not fit the recipe's network, evaluation data of another
        image size, channel or class count than the training data.
    """
    from ..problems.classification import build_network, load_weights
    from ..vision import load_dataset

    folder = Path(folder)
    recipe = _read_recipe(folder)
    weights, state = load_weights(folder)
    d = recipe.data
    train = load_dataset(d.dataset, d.root, image_size=d.image_size, **d.options)
    data = train
    if dataset is not None or image_size is not None or root is not None:
        options = d.options if (dataset or d.dataset) == d.dataset else {}
        data = load_dataset(dataset or d.dataset, root if root is not None else d.root, image_size=image_size,
                            **options)
        a, b = train.info, data.info
        if (a.image_size, a.channels) != (b.image_size, b.channels):
            raise DataError(f"the run was trained on {a.channels} x {a.image_size} x {a.image_size} images ({a.name}) but "
                            f"the evaluation data has {b.channels} x {b.image_size} x {b.image_size} ({b.name}); pass "
                            f"--image-size {a.image_size} (or a data set with {a.channels} channel(s))")
        if a.num_classes != b.num_classes:
            raise DataError(f"the run classifies {a.num_classes} classes ({a.name}) but {b.name} has {b.num_classes}; "
                            "evaluate on a data set with the same classes")
    model = build_network(recipe, train.info)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise DataError(f"the weights in {folder / weights} do not fit the network of its recipe.yaml ({first}); was "
                        "recipe.yaml edited after training?") from None
    model.to(torch.device(device)).eval()
    summary: dict = {}
    if (folder / "summary.json").is_file():
        with contextlib.suppress(json.JSONDecodeError, UnicodeDecodeError):
            summary = json.loads((folder / "summary.json").read_text())
    return ClassifierRun(folder, recipe, model, data, weights, summary)


# -- conditions ------------------------------------------------------------------------------------
def ode_blocks(model: nn.Module) -> list[nn.Module]:
    """The ODE blocks of ``model``: modules with a ``solver(method, step_size)`` context and a ``method``."""
    return [m for m in model.modules() if callable(getattr(m, "solver", None)) and hasattr(m, "method")]


@contextlib.contextmanager
def _solver(blocks: list[nn.Module], spec: dict | None) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        for b in blocks if spec else []:
            stack.enter_context(b.solver(spec["method"], step_size=spec["step_size"]))
        yield


@dataclass
class _Condition:
    name: str
    kind: str  # clean | ood | attack
    make: Callable[[torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor] | None  # pixel batch -> pixel batch
    eps: float | None = None
    eps_text: str | None = None
    solver: str | None = None
    note: str | None = None


def _conditions(ood: Sequence[str], attacks: Sequence[str], eps: Sequence[str], channels: int, pix: Normalized,
                blocks: list[nn.Module]) -> list[_Condition]:
    out = [_Condition("clean", "clean", None)]
    for name in ood:
        tf = shift_transform(name, channels)
        if tf is None:
            out.append(_Condition(name, "ood", None, note=f"skipped: {describe(name)} needs colour images, these have "
                                  f"{channels} channel(s)"))
        else:
            out.append(_Condition(name, "ood", lambda x, y, g, tf=tf: tf(x, g), note=describe(name)))
    solvers: list[tuple[str | None, dict | None]] = [(None, None)]
    if blocks:
        solvers = [(f"adaptive ({blocks[0].method})", None),
                   (f"fixed-step ({FIXED_STEP['method']}, step {FIXED_STEP['step_size']})", FIXED_STEP)]
    for attack in attacks:
        for text in eps:
            e = parse_eps(text)
            for label, spec in solvers:
                def make(x, y, g, attack=attack, e=e, spec=spec):
                    with _solver(blocks, spec):
                        return fgsm(pix, x, y, e) if attack == "fgsm" else pgd(pix, x, y, e)
                name = f"{attack} {text}" + ("" if spec is None else " fixed-step")
                out.append(_Condition(name, "attack", make, eps=e, eps_text=str(text), solver=label))
    return out


def _seed(seed: int, name: str) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))


def _measure(cond: _Condition, run: ClassifierRun, pix: Normalized, batches: Any, seed: int) -> dict[str, Any]:
    from ..problems.classification import evaluate

    g = _seed(seed, cond.name)

    def conditioned() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for x, y in batches:
            if cond.make is None:
                yield x, y
            else:
                yield pix.normalize(cond.make(pix.pixels(x), y, g)), y

    t0 = time.perf_counter()
    ev = evaluate(run.model, conditioned(), run.data.info.num_classes)
    rec = {"name": cond.name, "kind": cond.kind, "top1": ev["top1"], "top5": ev["top5"], "loss": ev["loss"],
           "per_class_mean": ev["per_class_mean"], "per_class_std": ev["per_class_std"], "per_class": ev["per_class"],
           "n": ev["n"], "seconds": round(time.perf_counter() - t0, 3)}
    if cond.kind == "attack":
        rec.update(eps=cond.eps, eps_text=cond.eps_text, gradients=cond.solver or "exact")
    if cond.note:
        rec["note"] = cond.note
    return rec


def _overhead(summary: dict) -> dict[str, Any] | None:
    keys = ("train_s_per_iteration", "peak_memory_mb", "peak_memory_kind", "parameters", "inference_s_per_1000",
            "device", "steps", "test_top1")
    got = {k: summary[k] for k in keys if k in summary}
    return got or None


def evaluate_run(run: ClassifierRun, *, ood: Sequence[str] = SHIFTS, attacks: Sequence[str] = ATTACKS,
                 eps: Sequence[str] = DEFAULT_EPS, seed: int = 0, batch_size: int = 500, max_images: int | None = None,
                 progress: bool = False) -> dict[str, Any]:
    """Every condition's accuracy on the test set of ``run``; nothing is written.

    Parameters
    ----------
    run
        From :func:`load_classifier`.
    ood, attacks
        Names among :data:`~pdelearn.evaluation.shifts.SHIFTS` and :data:`~pdelearn.evaluation.attacks.ATTACKS`.
    eps
        Attack budgets as text (``"1/255"``), fractions of the pixel range, in ``(0, 0.3]``.
    seed
        Seeds the random transforms (one generator per condition).
    batch_size, max_images
        Test batches; ``max_images`` evaluates the first images only (quick checks).
    progress
        A tqdm bar over the conditions.

    Returns
    -------
    dict
        ``run``, ``model``, ``dataset``, ``weights``, ``seed``, ``conditions`` (list of records with
        ``top1``, ``top5``, ``per_class_mean``, ``per_class_std``, ...), ``overhead`` (from ``summary.json``).
    """
    from ..problems.classification import Batches

    ood = check_names(ood, SHIFTS, "out-of-distribution condition")
    attacks = check_names(attacks, ATTACKS, "attack")
    info = run.data.info
    device = next(run.model.parameters()).device
    pix = Normalized(run.model, info.mean, info.std).to(device)
    conds = _conditions(ood, attacks, list(eps), info.channels, pix, ode_blocks(run.model))
    test = run.data.test
    if max_images is not None:
        test = torch.utils.data.Subset(test, range(min(max_images, len(test))))
    batches = Batches(test, batch_size, shuffle=False, device=device)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(conds), unit="condition", desc="evaluate", leave=False)
    records = []
    try:
        for cond in conds:
            if bar is not None:
                bar.set_postfix_str(cond.name)
            if cond.make is None and cond.kind != "clean":
                records.append({"name": cond.name, "kind": cond.kind, "skipped": cond.note})
            else:
                records.append(_measure(cond, run, pix, batches, seed))
            if bar is not None:
                bar.update()
    finally:
        if bar is not None:
            bar.close()
    chance = 1.0 / info.num_classes
    clean = records[0]["top1"]
    out = {"run": str(run.folder), "model": run.recipe.model.kind, "dataset": info.name, "image_size": info.image_size,
           "weights": run.weights, "seed": seed, "train_seed": run.recipe.seed, "n_test": records[0]["n"],
           "pixel_space": "attacks and noise act on [0, 1] pixels before the data set's normalisation",
           "pgd": {"steps": 3, "alpha": 1 / 255, "random_start": False},
           "conditions": records, "overhead": _overhead(run.summary),
           "reliable": clean > 1.5 * chance}
    if not out["reliable"]:
        out["message"] = (f"clean top-1 {clean:.3f} is near chance ({chance:.3f}): the classifier did not learn, so its "
                          "robustness figures mean nothing; train it longer")
    return out
