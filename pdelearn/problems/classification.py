"""Image classification with PR-Net (Algorithm 1 of the paper) or a baseline, as one problem type.

PR-Net trains four parameter groups, each with its own optimizer, on every batch of its active epochs:

==============  ========================================  ===========================  ==============
group           parameters                                losses                       period
==============  ========================================  ===========================  ==============
network         extractor + block ``theta`` + head        ``L_T``                      every epoch
block           ``theta``                                 ``L_T + L_I + L_G``          every epoch
queries         the query points ``H``                    ``L_T`` (as ``L_T_H``)       ``queries.every``
coefficients    the equation's coefficients ``a``         ``L_G + l1 * sum |a|``       ``equation.every``
==============  ========================================  ===========================  ==============

``L_T`` is the cross-entropy of the logits, ``L_I`` the mean squared difference between
``f(h(0), d, 0)`` and ``h(0)`` on the grid, ``L_G`` the mean squared residual of the governing equation
at the query points (per sample, channel and position; with ``training.lg_samples`` on that many images of the
batch). ``L_T_H`` is ``L_T`` evaluated with the extractor's output ``h(0)`` taken as given: the queries group
reaches ``H`` only, so its step back-propagates through the block and head, not the extractor. Within one
step, ``h(0)`` (no graph) is computed once after the network group's update and reused by the block, queries
and coefficient groups. A baseline (``model.kind`` other than
``prnet``) has the network group with ``L_T`` only. After every ``validate_every`` epochs the
validation accuracy is measured and the best state is kept. The coefficients are not used at
inference; the learned equation is the readout printed at the end.
"""

from __future__ import annotations

import functools
import math
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ConfigError, DataError, did_you_mean
from ..models.prnet import PRNet, default_library, library_from_terms
from ..plots import plot_coefficients
from ..sparse_readout import add_to_run as add_readout
from ..train import ParamGroup
from .base import Outcome, Problem, RunContext
from .classification_recipe import ClassificationRecipe, ClassModel

__all__ = ["ClassificationProblem", "MODELS", "build_network", "evaluate", "inference_seconds", "Batches", "load_weights",
           "transfer_weights"]


# -- models --------------------------------------------------------------------------------------
def _library(recipe: ClassificationRecipe):
    lib = recipe.library
    return (library_from_terms(lib.terms) if lib.terms is not None
            else default_library(lib.max_power, lib.max_order, lib.mixed))


def _width_multiplier(m: ClassModel) -> dict[str, int]:
    """``{"width": m.width}`` unless it is PR-Net's default 64 channels (then the builder's own default: for the
    MobileNetV3 networks a multiplier of 1); a saved recipe.yaml holds the default."""
    return {"width": m.width} if m.width != ClassModel.model_fields["width"].default else {}


def _prnet_mobilenet(recipe: ClassificationRecipe, info: Any) -> nn.Module:
    from ..models.prnet_mobilenet import MobileNetPRNet

    m = recipe.model
    if m.n_down != ClassModel.model_fields["n_down"].default:
        raise ConfigError("model.n_down configures the MNIST extractor; the MobileNetV3 stem downsamples to 16 x 16 by "
                          "itself (remove model.n_down)")
    unknown = sorted(set(m.options) - {"depth", "dropout"})
    if unknown:
        raise ConfigError(f"model.options {unknown} are not options of prnet_mobilenetv3; it takes depth and dropout "
                          "(and model.width as the width multiplier, model.activation, skip, t_query, max_order)")
    return MobileNetPRNet(info.num_classes, info.channels, info.image_size, **_width_multiplier(m), **m.options,
                          activation=m.activation, skip=m.skip, library=_library(recipe), max_order=m.max_order,
                          t_query=m.t_query)


def _prnet(recipe: ClassificationRecipe, info: Any) -> nn.Module:
    m = recipe.model
    library = _library(recipe)
    if m.options:
        raise ConfigError(f"model.options {sorted(m.options)} are for baselines; PR-Net takes model.width, n_down, "
                          "activation, skip, t_query, max_order")
    return PRNet(info.channels, info.image_size, info.num_classes, width=m.width, n_down=m.n_down,
                 activation=m.activation, skip=m.skip, library=library, max_order=m.max_order, t_query=m.t_query)


def _baseline(recipe: ClassificationRecipe, info: Any) -> nn.Module:
    m = recipe.model
    # PR-Net's own fields set to other values than their defaults (a saved recipe.yaml holds every default)
    own = sorted(k for k in ("n_down", "activation", "skip", "t_query", "max_order")
                 if k in m.model_fields_set and getattr(m, k) != ClassModel.model_fields[k].default)
    if own:
        raise ConfigError(f"model.{', model.'.join(own)} configure PR-Net; model.kind {m.kind!r} takes its options from "
                          "model.options (and model.width)")
    try:
        from ..models.baselines import build_model  # the baselines of pdelearn.models.baselines
    except ImportError as exc:
        raise ConfigError(f"model.kind {m.kind!r} needs pdelearn.models.baselines, which this installation does not "
                          "have; use model.kind: prnet") from exc
    # PR-Net's default width is not every baseline's (mobilenetv3: a multiplier)
    return build_model(m.kind, n_classes=info.num_classes, in_channels=info.channels, image_size=info.image_size,
                       **_width_multiplier(m), **m.options)


#: ``model.kind`` -> builder ``(recipe, dataset info) -> nn.Module``. PR-Net trains Algorithm 1; every
#: other entry is a baseline trained with the task loss only.
MODELS: dict[str, Callable[[ClassificationRecipe, Any], nn.Module]] = {
    "prnet": _prnet,
    "odenet": _baseline,
    "rknet": _baseline,
    "resnet": _baseline,
    "mobilenetv3": _baseline,
    "odenet_mobilenetv3": _baseline,
    "prnet_mobilenetv3": _prnet_mobilenet,
}


def build_network(recipe: ClassificationRecipe, info: Any) -> nn.Module:
    """The network of ``recipe.model.kind`` for a data set described by ``info`` (channels, image_size,
    num_classes)."""
    kind = recipe.model.kind
    if kind not in MODELS:
        raise ConfigError("model.kind: " + did_you_mean(kind, MODELS, what="model"))
    return MODELS[kind](recipe, info)


# -- weights of a run folder ---------------------------------------------------------------------
def load_weights(folder: str | Path) -> tuple[str, dict[str, torch.Tensor]]:
    """``(file name, model state_dict)`` of a classification run folder: ``best.pt``, else ``checkpoint.pt``."""
    folder = Path(folder)
    for name in ("best.pt", "checkpoint.pt"):
        path = folder / name
        if path.is_file():
            try:
                return name, torch.load(path, map_location="cpu", weights_only=True)["state"]["model"]
            except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
                raise DataError(f"{path} could not be read as a pdelearn checkpoint ({type(exc).__name__}: {exc}); "
                                "was the run interrupted while writing it?") from None
    raise DataError(f"{str(folder)!r} holds no weights (best.pt or checkpoint.pt); pass the folder of a trained "
                    "classification run")


def transfer_weights(model: nn.Module, folder: str | Path) -> int:
    """Load every weight of the run in ``folder`` into ``model`` except the classifier head (``head.*``).

    Transfer learning: the head is the new data set's (fresh), every other layer starts from the run.
    Returns the number of tensors loaded; a layer of another shape (other width, image size or
    library) is a :class:`DataError`.
    """
    _, state = load_weights(folder)
    own = model.state_dict()
    body = {k: v for k, v in state.items() if not k.startswith("head.")}
    missing = sorted(k for k in own if not k.startswith("head.") and k not in body)
    wrong = sorted(k for k, v in body.items() if k not in own or own[k].shape != v.shape)
    if missing or wrong:
        first = (wrong or missing)[0]
        raise DataError(f"the weights of {folder} do not fit this network: {len(wrong)} tensor(s) of another shape or "
                        f"name, {len(missing)} missing (first: {first!r}); model.init_from needs the same model.kind, "
                        "width, image size and library as the run")
    model.load_state_dict(body, strict=False)
    return len(body)


# -- data ----------------------------------------------------------------------------------------
class Batches:
    """A re-iterable of ``(images, labels)`` batches on a device, at most ``max_batches`` per pass.

    Parameters
    ----------
    dataset
        A torch ``Dataset`` of ``(image (C, s, s), label)``.
    batch_size, workers
        As for ``torch.utils.data.DataLoader`` (with ``ranks > 1``: the batch of this rank).
    shuffle, seed
        Shuffle each pass with a permutation drawn from ``seed + epoch`` (:meth:`set_epoch`), so an
        epoch's batches do not depend on what ran before (a resumed run sees the same batches).
    rank, ranks
        Distributed training: this rank reads every ``ranks``-th image of the permutation, from ``rank``
        on (``torch.utils.data.DistributedSampler``), so that the ranks' batches ``k`` together are the
        single-process batch ``k`` of ``ranks * batch_size`` images.
    max_batches
        Stop each pass after this many batches (smoke runs); None: the whole data set.
    """

    def __init__(self, dataset, batch_size: int, *, shuffle: bool, device: torch.device, seed: int = 0,
                 workers: int = 0, max_batches: int | None = None, rank: int = 0, ranks: int = 1):
        self.sampler = (torch.utils.data.DistributedSampler(dataset, num_replicas=ranks, rank=rank, shuffle=True,
                                                            seed=seed) if shuffle or ranks > 1 else None)
        self.loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, sampler=self.sampler,
                                                  num_workers=workers, drop_last=False)
        self.device, self.max_batches = device, max_batches

    def set_epoch(self, epoch: int) -> None:
        """Use the permutation of epoch ``epoch``."""
        if self.sampler is not None:
            self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.loader) if self.max_batches is None else min(len(self.loader), self.max_batches)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for i, (x, y) in enumerate(self.loader):
            if i >= len(self):
                return
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)


# -- evaluation ----------------------------------------------------------------------------------
@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable, n_classes: int) -> dict[str, Any]:
    """Top-1, top-5 and per-class accuracy of ``model`` (eval mode) over ``batches``.

    Returns
    -------
    dict
        ``top1``, ``top5`` (None with fewer than 6 classes), ``loss`` (mean cross-entropy), ``per_class`` (list, NaN for a class
        without samples), ``per_class_mean``, ``per_class_std``, ``n``.
    """
    was = model.training
    model.eval()
    correct1 = correct5 = n = 0
    loss = 0.0
    hits = torch.zeros(n_classes, dtype=torch.float64)
    counts = torch.zeros(n_classes, dtype=torch.float64)
    try:
        for x, y in batches:
            logits = model(x)
            loss += float(F.cross_entropy(logits, y, reduction="sum"))
            pred = logits.argmax(1)
            correct1 += int((pred == y).sum())
            if n_classes > 5:
                correct5 += int((logits.topk(5, 1).indices == y[:, None]).any(1).sum())
            hits += torch.bincount(y[pred == y].cpu(), minlength=n_classes).double()
            counts += torch.bincount(y.cpu(), minlength=n_classes).double()
            n += len(y)
    finally:
        model.train(was)
    per_class = torch.where(counts > 0, hits / counts.clamp(min=1), torch.full_like(counts, float("nan")))
    seen = per_class[counts > 0]
    return {"top1": correct1 / max(n, 1), "loss": loss / max(n, 1), "top5": correct5 / max(n, 1) if n_classes > 5 else None,
            "per_class": per_class.tolist(), "per_class_mean": float(seen.mean()) if len(seen) else float("nan"),
            "per_class_std": float(seen.std(unbiased=False)) if len(seen) else float("nan"), "n": n}


@torch.no_grad()
def inference_seconds(model: nn.Module, batches: Iterable, device: torch.device, warmup: int = 2) -> float:
    """Seconds per 1,000 images of ``model(x)`` in eval mode, data loading excluded.

    The first batch is run ``warmup`` times untimed (allocator, kernels, caches), then every batch is
    timed once (CUDA synchronised around each call).
    """
    was = model.training
    model.eval()
    total, n = 0.0, 0
    try:
        for i, (x, _) in enumerate(batches):
            for _ in range(warmup if i == 0 else 0):
                model(x)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t0 = time.perf_counter()
            model(x)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            total += time.perf_counter() - t0
            n += len(x)
    finally:
        model.train(was)
    return 1000.0 * total / n if n else float("nan")


def peak_memory_mb(device: torch.device) -> tuple[float, str]:
    """Peak memory in MiB and what it measures: CUDA allocations on a GPU, else the process's peak RSS."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda_max_allocated"
    import resource  # POSIX only

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return rss / (2**20 if sys.platform == "darwin" else 2**10), "process_peak_rss"


# -- the problem ---------------------------------------------------------------------------------
def cosine_factor(update: int, total: int, warmup: int, floor: float) -> float:
    """Learning-rate factor after ``update`` updates: linear warm-up over ``warmup`` updates, then a cosine from
    1 down to ``floor`` at ``total`` updates."""
    if update < warmup:
        return (update + 1) / warmup
    span = max(total - warmup, 1)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * min(update - warmup, span) / span))


def _milestones_in_updates(milestones: list[int], every: int, steps_per_epoch: int) -> list[int]:
    """Epoch milestones -> numbers of updates of a group that runs every ``every`` epochs."""
    return [steps_per_epoch * len(range(0, m, every)) for m in milestones]


class ClassificationProblem(Problem):
    """PR-Net (Algorithm 1) or a baseline on an image classification data set.

    Parameters
    ----------
    recipe
        The validated recipe.
    model
        The network (:class:`~pdelearn.models.prnet.PRNet` or a baseline), on ``device``.
    data
        ``pdelearn.vision.VisionData``-like: ``train``, ``val`` (or None), ``test`` datasets and ``info``.
    device
        Where training runs.
    seed
        Of the training batches' shuffle (with the epoch number).
    rank, ranks
        Distributed training (``torchrun``): this process's rank and the number of ranks; the recipe's
        ``batch_size`` is the global batch, each rank takes ``batch_size / ranks`` of it.
    """

    name = "classification"
    Recipe = ClassificationRecipe
    distributed = True

    def __init__(self, recipe: ClassificationRecipe, model: nn.Module, data: Any, device: torch.device,
                 seed: int = 0, *, rank: int = 0, ranks: int = 1):
        self.recipe, self.model, self.data, self.device = recipe, model.to(device), data, device
        self.info = data.info
        self.is_prnet = isinstance(model, PRNet)
        self.ranks = ranks
        self.amp = recipe.training.amp
        if self.amp and device.type != "cuda":
            raise ConfigError(f"training.amp (mixed precision) needs a CUDA device; this run is on {device.type}. Remove "
                              "training.amp (or set it to false), or run with --device cuda")
        self.grad_scaler = torch.amp.GradScaler("cuda") if self.amp else None
        d = recipe.data
        if d.batch_size % ranks:
            raise ConfigError(f"data.batch_size ({d.batch_size}) is the batch of all {ranks} processes together and must "
                              f"be a multiple of their number; use a batch size divisible by {ranks}")
        if ranks > 1:
            from ..distributed import broadcast_module

            broadcast_module(self.model)  # every rank starts from rank 0's weights
        self.train_batches = Batches(data.train, d.batch_size // ranks, shuffle=True, device=device, seed=seed,
                                     workers=d.workers, max_batches=d.max_batches, rank=rank, ranks=ranks)
        self.val_batches = (Batches(data.val, d.eval_batch_size, shuffle=False, device=device, workers=d.workers)
                            if data.val is not None and len(data.val) > 0 else None)
        self.test_batches = Batches(data.test, d.eval_batch_size, shuffle=False, device=device, workers=d.workers)
        self.validation_s = 0.0

    @classmethod
    def build(cls, recipe: ClassificationRecipe, ctx: RunContext) -> "ClassificationProblem":
        from ..vision import load_dataset

        d = recipe.data
        data = load_dataset(d.dataset, d.root, image_size=d.image_size, augment=d.augment,
                            val_fraction=d.val_fraction, split_seed=d.split_seed, **d.options)
        model = build_network(recipe, data.info)
        if recipe.model.init_from is not None:
            kept = transfer_weights(model, recipe.model.init_from)
            ctx.echo(f"initialised {kept} tensors from {recipe.model.init_from} (head replaced); fine-tuning all layers")
        return cls(recipe, model, data, torch.device(ctx.device), ctx.seed + 1, rank=ctx.rank, ranks=ctx.world_size)

    # -- Algorithm 1 ---------------------------------------------------------------------------------
    def groups(self) -> list[ParamGroup]:
        t, n = self.recipe.training, len(self.train_batches)

        def optimizer(params):
            if t.optimizer == "sgd":
                return torch.optim.SGD(params, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay)
            return torch.optim.Adam(params, lr=t.lr, weight_decay=t.weight_decay)

        def group(name, opt, losses, weights, every=1, fresh=True):
            if t.schedule == "cosine" and name in ("network", "block"):  # f's groups (Appendix F)
                total, warm, floor = t.epochs * n, t.warmup_epochs * n, t.min_lr / t.lr
                sched = torch.optim.lr_scheduler.LambdaLR(opt, functools.partial(cosine_factor, total=total,
                                                                                 warmup=warm, floor=floor))
            else:
                milestones = t.milestones if t.schedule == "multistep" else []
                sched = torch.optim.lr_scheduler.MultiStepLR(opt, _milestones_in_updates(milestones, every, n), t.gamma)
            return ParamGroup(name, opt, losses, weights=weights, every=every, unit="epoch", scheduler=sched,
                              fresh=fresh)

        w = {k: t.weights.get(k, 1.0) for k in ("L_T", "L_I", "L_G")}
        if not self.is_prnet:
            return [group("network", optimizer(list(self.model.parameters())), ["L_T"], {"L_T": w["L_T"]})]
        m, q, e = self.model, t.queries, t.equation
        return [
            group("network", optimizer(m.network_parameters()), ["L_T"], {"L_T": w["L_T"]}),
            group("block", optimizer(list(m.block.parameters())), ["L_T", "L_I", "L_G"], w),
            group("queries", torch.optim.Adam([m.queries], lr=q.lr, weight_decay=q.weight_decay), ["L_T_H"],
                  {"L_T_H": w["L_T"]}, q.every),
            group("coefficients", torch.optim.Adam(m.equation.parameters(), lr=e.lr, weight_decay=e.weight_decay),
                  ["L_G_a", "R_G"], {"R_G": e.l1}, e.every, fresh=False),
        ]

    def losses(self, step: int, names: frozenset, batch: Any = None) -> dict[str, torch.Tensor]:
        """``L_T``; for PR-Net also ``L_T_H`` (``L_T`` with ``h(0)`` given: the queries group's), ``L_I``,
        ``L_G`` (graph through ``theta``), ``L_G_a`` (``L_G`` as a function of the coefficients only:
        derivatives detached) and ``R_G = sum |a|``.

        The block group's evaluation returns ``L_G_a`` too, so the coefficient group (``fresh=False``
        semantics: same step, derivatives before the block's update) back-propagates through the
        small residual only. With ``training.lg_samples = n`` the derivatives (``L_G``, ``L_G_a``) are
        taken on the first ``n`` images of the batch and ``L_T`` on all of them.
        """
        x, y = batch
        smooth = self.recipe.training.label_smoothing
        if not self.is_prnet or not names & {"L_I", "L_G", "L_G_a", "L_T_H"}:
            with self._autocast():
                logits = self.model(x)
            return {"L_T": F.cross_entropy(logits.float(), y, label_smoothing=smooth)}
        m = self.model
        h0 = self._features(x)  # the block, queries and coefficient groups do not train the extractor
        if not names & {"L_T", "L_I", "L_G", "L_G_a"}:  # the queries group: f at H, then the head
            with self._autocast():
                logits = m.classify(m.task(h0))
            return {"L_T_H": F.cross_entropy(logits.float(), y, label_smoothing=smooth)}
        out: dict[str, torch.Tensor] = {"R_G": m.equation.l1()}
        n = self.recipe.training.lg_samples
        sub = h0 if n is None or n >= h0.shape[0] else h0[:n]
        if names & {"L_T", "L_I", "L_G"}:
            d = m.derivatives(sub)
            h = d["h"] if sub is h0 else m.task(h0)
            with self._autocast():
                logits = m.classify(h)
            out["L_T"] = F.cross_entropy(logits.float(), y, label_smoothing=smooth)
            out["L_I"] = F.mse_loss(m.initial(h0), h0)
            g, g_a = m.residuals(d)
            out["L_G"], out["L_G_a"] = g.pow(2).mean(), g_a.pow(2).mean()
        else:  # the coefficient group alone (in an epoch without the block group): no graph to theta
            with torch.no_grad():
                d = m.derivatives(sub)
            out["L_G_a"] = m.residual(d).pow(2).mean()
        return out

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        """``h(0)`` of the batch ``x`` without a graph (float32 under mixed precision), computed once per
        extractor state: the groups after the network group's step reuse it (the extractor's parameter
        versions change with every in-place update, which makes it stale)."""
        m = self.model
        key = (id(x), tuple(p._version for p in m.extractor.parameters()))
        cached = getattr(self, "_h0", None)
        if cached is not None and cached[0] == key and cached[1] is x:
            return cached[2]
        with torch.no_grad(), self._autocast():
            h0 = m.features(x)
        if self.amp:
            h0 = h0.float()  # the coordinate derivatives of the PDE block in float32 under mixed precision
        self._h0 = (key, x, h0)
        return h0

    def _autocast(self):
        """float16 autocast on CUDA with ``training.amp``; otherwise nothing changes."""
        return torch.autocast("cuda", dtype=torch.float16, enabled=self.amp)

    def state(self) -> dict[str, Any]:
        return {"model": self.model}

    def validate(self, epoch: int) -> dict[str, float]:
        """Validation top-1, per-class mean and cross-entropy after ``epoch`` epochs."""
        t0 = time.perf_counter()
        self._same_state()
        ev = evaluate(self.model, self.val_batches, self.info.num_classes)
        self.validation_s += time.perf_counter() - t0
        return {"val_top1": ev["top1"], "val_per_class_mean": ev["per_class_mean"], "val_loss": ev["loss"]}

    def trainer_options(self) -> dict[str, Any]:
        t = self.recipe.training
        opts: dict[str, Any] = {"epochs": t.epochs, "loader": self.train_batches, "log_every": t.log_every,
                                "checkpoint_every": max(len(self.train_batches), 1), "max_minutes": t.max_minutes,
                                "average_gradients": self.ranks > 1, "grad_scaler": self.grad_scaler}
        if self.val_batches is not None:
            opts.update(validate=self.validate, validate_every=t.validate_every,
                        keep_best=("val_top1" if t.best_by == "top1" else "val_loss") if t.keep_best else None,
                        best_mode="max" if t.best_by == "top1" else "min")
        return opts

    # -- evaluation ----------------------------------------------------------------------------------
    def equation_fit(self, max_batches: int = 4) -> float:
        """``1 - mean(g^2) / var(h_t)`` of the learned equation on test batches (1: ``h_t`` fully explained)."""
        m = self.model
        num = den = 0.0
        was = m.training
        m.eval()
        try:
            for i, (x, _) in enumerate(self.test_batches):
                if i >= max_batches:
                    break
                with torch.no_grad():
                    h0 = m.features(x)
                d = {k: v.detach() for k, v in m.derivatives(h0).items()}
                with torch.no_grad():
                    num += float(m.residual(d).pow(2).sum())
                    den += float((d["h_t"] - d["h_t"].mean()).pow(2).sum())
        finally:
            m.train(was)
        return 1.0 - num / den if den > 0 else float("nan")

    def _same_state(self) -> None:
        """Distributed: every rank evaluates rank 0's state (BatchNorm statistics are per rank in training)."""
        if self.ranks > 1:
            from ..distributed import broadcast_module

            broadcast_module(self.model)

    def _time_budget(self, ctx: RunContext, result: Any, top1: float, summary: dict[str, Any]) -> tuple[bool, str | None]:
        """A run stopped by ``max_minutes`` is unreliable unless ``training.target_top1`` is stated and met."""
        t = self.recipe.training
        target = t.target_top1
        summary["target_met"] = None if target is None else bool(top1 >= target)
        again = f"continue with: pdelearn fit --resume {ctx.folder}" if ctx.folder is not None else "train longer"
        where = (f"stopped at step {int(result.step)} of {t.epochs * max(len(self.train_batches), 1)} "
                 f"({result.epoch} of {t.epochs} epochs trained)")
        if summary["target_met"]:
            ctx.echo(f"stopped by max_minutes ({where}); test top-1 {top1:.4f} meets training.target_top1 = {target:g}")
            return True, None
        verdict = (f"test top-1 {top1:.4f} misses training.target_top1 = {target:g}" if target is not None else
                   "the recipe states no training.target_top1 that the result could meet")
        return False, (f"training stopped by training.max_minutes = {t.max_minutes:g} before it finished ({where}); "
                       f"{verdict}, so the result is not trustworthy; {again}")

    def finish(self, ctx: RunContext, result: Any) -> Outcome:
        model, info = self.model, self.info
        self._same_state()
        test = evaluate(model, self.test_batches, info.num_classes)
        infer = inference_seconds(model, self.test_batches, self.device)
        mem, mem_kind = peak_memory_mb(self.device)
        iters = max(int(result.step), 1)
        n_params = model.parameter_count() if self.is_prnet else sum(p.numel() for p in model.parameters())
        summary: dict[str, Any] = {
            "model": self.recipe.model.kind, "init_from": self.recipe.model.init_from, "dataset": info.name,
            "epochs": getattr(result, "epoch", None),
            "steps": int(result.step), "stopped": result.stopped,
            "test_top1": test["top1"], "test_top5": test["top5"], "test_loss": test["loss"],
            "per_class_mean": test["per_class_mean"],
            "per_class_std": test["per_class_std"], "per_class": test["per_class"], "n_test": test["n"],
            "parameters": int(n_params), "inference_s_per_1000": infer,
            "train_s_per_iteration": max(result.elapsed_s - self.validation_s, 0.0) / iters,
            "peak_memory_mb": mem, "peak_memory_kind": mem_kind, "best": getattr(result, "best", None),
            "losses": result.losses,
        }
        lines = [f"test top-1 {test['top1']:.4f}" + (f", top-5 {test['top5']:.4f}" if test["top5"] is not None else "")
                 + f", per-class {test['per_class_mean']:.4f} +- {test['per_class_std']:.4f}; {n_params:,} parameters; "
                 f"{infer:.3f} s per 1,000 images on {self.device.type}"]
        equation, extra = None, {}
        if self.is_prnet:
            equation = model.equation.equation()
            fit = self.equation_fit()
            summary["equation"] = str(equation)
            summary["equation_fit_r2"] = fit
            extra = {"fit_r2": fit, "library": model.equation.library.names,
                     "coefficients": model.equation.coefficients.detach().cpu().double().reshape(-1).tolist()}
            lines.insert(0, f"learned equation of the PDE block (dense, L1-trained; R^2 of h_t on test batches {fit:.3f}):")
            lines.insert(1, f"  {equation}")
            equation = add_readout(model, self.data.test, ctx.seed, summary, lines, extra, equation,
                                   f"the test images of {info.name}")
            if ctx.folder is not None and ctx.is_main:
                plot_coefficients(model.equation.library.names, extra["coefficients"], ctx.folder / "coefficients.png",
                                  title=f"PR-Net on {info.name}: coefficients of h_t = sum a_k term_k")
        chance = 1.0 / info.num_classes
        reliable = test["top1"] > 1.5 * chance
        message = None if reliable else (f"test top-1 {test['top1']:.3f} is near chance ({chance:.3f}): the classifier "
                                         "did not learn; train longer or check the data and learning rate")
        if reliable and result.stopped:
            reliable, message = self._time_budget(ctx, result, test["top1"], summary)
        return Outcome(summary=summary, equation=equation, equation_extra=extra, lines=lines, reliable=reliable,
                       message=message)
