"""Robustness of PR-Net against its baselines (paper, Table 5): OOD shifts and FGSM / PGD, several seeds.

Every model is trained with the same budget (epochs, batch size, optimizer, learning rate and schedule)
through ``pdelearn fit``'s driver (``classification`` problem, one run folder per model and seed), then
measured by ``pdelearn evaluate`` (noise, crop, rotation; FGSM and PGD at 0.5/255, 1/255, 3/255 in pixel
space; ODE-Net also with fixed-step gradients). The table is ``pdelearn compare``'s: top-1 in % as mean
+- sample standard deviation over the seeds. The claim tested: PR-Net is more robust at small eps.

Quick path (scikit-learn digits, 16 x 16, CPU, minutes)::

    OMP_NUM_THREADS=1 python benchmarks/robustness.py --quick --out benchmarks/results/robustness_digits.json

MNIST (28 x 28; the data folder as for recipes/prnet_mnist.yaml)::

    python benchmarks/robustness.py --dataset mnist --root data --epochs 10 --seeds 0 1 2 --device cuda

Prints the table and writes JSON (every per-seed evaluation, the settings, the machine).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pdelearn.evaluation import compare_runs, evaluate_folder  # noqa: E402
from pdelearn.problems.classification_recipe import ClassificationRecipe  # noqa: E402


def recipe(kind: str, args: argparse.Namespace, seed: int) -> ClassificationRecipe:
    """The same budget for every model; PR-Net's own options only for PR-Net."""
    data = {"dataset": args.dataset, "image_size": args.image_size, "val_fraction": 0.1, "batch_size": args.batch_size,
            "eval_batch_size": 500}
    if args.root:
        data["root"] = str(Path(args.root).resolve())
    model: dict = {"kind": kind, "width": args.width}
    if kind == "prnet":
        model.update(n_down=args.n_down)
    training = {"epochs": args.epochs, "optimizer": "adam", "lr": args.lr, "milestones": [max(1, int(0.7 * args.epochs))],
                "gamma": 0.1, "best_by": "loss", "log_every": 1000}
    return ClassificationRecipe.model_validate({"problem": "classification", "seed": seed, "device": args.device,
                                                "data": data, "model": model, "training": training})


def train(r: ClassificationRecipe, folder: Path) -> float:
    """``pdelearn fit`` in a child process (so each run's peak memory is its own); wall seconds."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    spec = folder.parent / f"{folder.name}.yaml"
    spec.write_text(r.to_yaml())
    t0 = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-m", "pdelearn.cli", "fit", str(spec), "--out", str(folder), "--force"],
                          env=env, capture_output=True, text=True)
    if done.returncode not in (0, 3):  # 3: near chance, still evaluated (and visible in the table)
        raise RuntimeError(f"training {folder.name} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - t0


def summarise(records: list[dict], models: list[str]) -> dict:
    """Per condition and model: top-1 and its drop from the same run's clean top-1, mean and sd over seeds.

    The drop matters because the models' clean accuracies differ: robustness is how much is lost.
    """
    out: dict = {}
    names = [c["name"] for c in records[0]["conditions"] if "top1" in c and c["name"] != "clean"]
    for name in names:
        out[name] = {}
        for k in models:
            top, drop = [], []
            for ev in records:
                if ev["model"] != k:
                    continue
                by = {c["name"]: c["top1"] for c in ev["conditions"] if "top1" in c}
                if name in by:
                    top.append(by[name])
                    drop.append(by["clean"] - by[name])
            if top:
                def sd(v):
                    return statistics.stdev(v) if len(v) > 1 else None
                out[name][k] = {"top1": statistics.mean(top), "top1_sd": sd(top), "drop": statistics.mean(drop),
                                "drop_sd": sd(drop), "n": len(top)}
    return out


def claim_table(claim: dict) -> str:
    """Markdown: the drop in top-1 (percentage points, mean +- sd over seeds) per condition and model."""
    models = sorted({k for v in claim.values() for k in v})
    lines = ["| condition | " + " | ".join(f"{k} drop (pp)" for k in models) + " |", "|---|" + "---|" * len(models)]
    for name, by in claim.items():
        cells = []
        for k in models:
            r = by.get(k)
            cells.append("-" if r is None else f"{100 * r['drop']:.2f}" + (
                f" +- {100 * r['drop_sd']:.2f}" if r["drop_sd"] is not None else ""))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def trained(r: ClassificationRecipe, folder: Path) -> bool:
    """Whether ``folder`` holds a finished run of exactly the recipe ``r`` (``--reuse``)."""
    from pdelearn.recipes import load_recipe

    if not (folder / "summary.json").is_file() or not (folder / "recipe.yaml").is_file():
        return False
    return load_recipe(folder / "recipe.yaml").to_dict() == r.to_dict()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="digits")
    p.add_argument("--root", default=None, help="data folder (mnist)")
    p.add_argument("--image-size", type=int, default=16)
    p.add_argument("--models", nargs="+", default=["prnet", "resnet", "odenet"])
    p.add_argument("--seeds", nargs="+", type=int, default=[10, 11, 12])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--n-down", type=int, default=1, help="PR-Net's stride-2 convolutions")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--device", default="cpu")
    p.add_argument("--runs", default=None, help="keep the run folders here (default: a temporary folder)")
    p.add_argument("--quick", action="store_true", help="digits, 16 x 16, 6 epochs, width 16, seeds 10 11 12")
    p.add_argument("--out", default="benchmarks/results/robustness.json")
    p.add_argument("--reuse", action="store_true", help="keep finished runs of the same recipe in --runs")
    p.add_argument("--summarise", default=None, metavar="JSON", help="print the tables of an earlier --out and stop")
    args = p.parse_args(argv)
    if args.summarise:
        saved = json.loads(Path(args.summarise).read_text())
        print(saved["table"])
        print(claim_table(summarise(saved["evaluations"], saved["settings"]["models"])))
        return 0
    if args.quick:
        args.dataset, args.image_size, args.epochs, args.width = "digits", 16, 6, 16
    torch.set_num_threads(max(1, torch.get_num_threads()))
    base = Path(args.runs) if args.runs else Path(tempfile.mkdtemp(prefix="robustness-"))
    records, folders, t_start = [], [], time.perf_counter()
    for kind in args.models:
        for seed in args.seeds:
            folder = base / f"{kind}-seed{seed}"
            r = recipe(kind, args, seed)
            if args.reuse and trained(r, folder):
                train_s = None
            else:
                train_s = train(r, folder)
            ev = evaluate_folder(folder, ood=("noise", "crop", "rotate"), attacks=("fgsm", "pgd"),
                                 eps=("0.5/255", "1/255", "3/255"), seed=seed)
            ev["train_wall_s"] = None if train_s is None else round(train_s, 1)
            records.append(ev)
            folders.append(folder)
            took = "reused" if train_s is None else f"{train_s:.0f} s"
            print(f"{kind} seed {seed}: clean {ev['conditions'][0]['top1']:.4f} ({took})", file=sys.stderr)
    table = compare_runs(folders)
    print(table)
    claim = summarise(records, args.models)
    print(claim_table(claim))
    out = {"settings": vars(args), "table": table, "claim": claim, "evaluations": records,
           "wall_s": round(time.perf_counter() - t_start, 1),
           "machine": {"python": platform.python_version(), "torch": torch.__version__, "cpu_threads":
                       torch.get_num_threads(), "platform": platform.platform()}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
