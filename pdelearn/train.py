"""One alternating trainer for every problem (Algorithm 1 of the paper).

The trainer knows nothing about PDEs. It takes

- parameter groups (:class:`ParamGroup`), each with its own optimizer (and optional learning-rate
  scheduler), the names of the losses it minimises, loss weights by name, an update period and an
  active step range (e.g. Adam for steps 0..N, then L-BFGS);
- a callable ``loss_fn(step, names) -> {name: scalar tensor}`` returning (at least) the named
  losses, or ``loss_fn(step, names, batch)`` when the trainer draws mini-batches from a ``loader``;
- the objects whose ``state_dict`` makes up a checkpoint (modules, problems).

Training runs for ``steps`` steps, or for ``epochs`` passes over a ``loader`` (one step per batch).
A group's update period and active range count steps (``unit="step"``) or epochs
(``unit="epoch"``: the group updates on every batch of its active epochs). At each step every active
group, in order, evaluates its losses, back-propagates their weighted sum and steps its optimizer. A
group with ``fresh=False`` reuses the losses an earlier group computed in the same step (one forward
evaluation shared, no cache in the problem); ``fresh=True`` (default) evaluates them again after the
earlier groups' updates. A backward pass through such a shared graph reaches only its group's
parameters (``inputs=``), so a shared loss may depend on parameters an earlier group has just updated.
``validate`` runs every ``validate_every`` epochs (steps without a loader); with ``keep_best`` the best state by
that validation number is restored at the end. A non-finite loss stops training with
:class:`~pdelearn.errors.TrainingError`; the last good checkpoint is kept. A checkpoint is written only after a
completed step (or at the end of a run), and never with non-finite parameters, so a run that fails at its first
step leaves none. Metrics go to ``metrics.jsonl`` (JSON lines); checkpoints
(``checkpoint.pt``: states, optimizers, schedulers, step, RNG states) are written atomically and load
with ``torch.load(..., weights_only=True)`` (the files: :mod:`pdelearn.checkpoints`); :meth:`Trainer.resume`
continues a run bit for bit.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

import torch

from .checkpoints import (
    CHECKPOINT,
    METRICS,
    append_metrics,
    checkpoint_data,
    load_best_state,
    load_checkpoint,
    restore_checkpoint,
    save_best,
    truncate_metrics,
    write_checkpoint,
)
from .errors import ConfigError, TrainingError

__all__ = ["ParamGroup", "Trainer", "TrainResult", "load_checkpoint", "CHECKPOINT", "METRICS"]

_log = logging.getLogger(__name__)

LossFn = Callable[[int, frozenset], Mapping[str, torch.Tensor]]


@dataclass
class ParamGroup:
    """Parameters trained together by one optimizer on a weighted sum of named losses.

    Parameters
    ----------
    name
        Unique name (``"network"``, ``"coefficients"``).
    optimizer
        Any ``torch.optim.Optimizer`` over the group's parameters. ``torch.optim.LBFGS`` (or any
        optimizer listed with ``closure=True``) is stepped with a closure.
    losses
        Names of the losses this group minimises (keys of ``loss_fn``'s result).
    weights
        Loss weights by name (default 1 for a listed loss).
    every
        Update period in steps (the group runs at ``start, start + every, ...``).
    start, stop
        Active step range ``[start, stop)``; ``stop=None`` is open-ended.
    scheduler
        Optional learning-rate scheduler, stepped after each update of this group.
    balance
        ``"gradnorm"``: multiply the weights by ``mean_j |grad L_j| / |grad L_i|`` (running average
        with factor ``balance_alpha``, refreshed every ``balance_every`` updates).
    closure
        Step the optimizer with a closure (default: True for L-BFGS).
    unit
        ``"step"`` or ``"epoch"`` (needs a trainer with a ``loader``): what ``every``, ``start`` and
        ``stop`` count.
    fresh
        Evaluate the losses anew for this group (default). False: reuse the values computed earlier
        in the same step by another group when they are all there (one forward pass shared).
    """

    name: str
    optimizer: torch.optim.Optimizer
    losses: Sequence[str]
    weights: Mapping[str, float] = field(default_factory=dict)
    every: int = 1
    start: int = 0
    stop: Optional[int] = None
    scheduler: Any = None
    balance: Literal["none", "gradnorm"] = "none"
    balance_every: int = 100
    balance_alpha: float = 0.9
    closure: Optional[bool] = None
    unit: Literal["step", "epoch"] = "step"
    fresh: bool = True

    def __post_init__(self) -> None:
        if not self.losses:
            raise ConfigError(f"parameter group {self.name!r} minimises no loss; list at least one loss name")
        if self.every < 1 or self.start < 0 or (self.stop is not None and self.stop < self.start):
            raise ConfigError(f"parameter group {self.name!r}: need every >= 1 and 0 <= start <= stop, received "
                              f"every={self.every}, start={self.start}, stop={self.stop}")
        if self.balance not in ("none", "gradnorm"):
            raise ConfigError(f"parameter group {self.name!r}: balance must be 'none' or 'gradnorm', received {self.balance!r}")
        if self.unit not in ("step", "epoch"):
            raise ConfigError(f"parameter group {self.name!r}: unit must be 'step' or 'epoch', received {self.unit!r}")
        if self.closure is None:
            self.closure = isinstance(self.optimizer, torch.optim.LBFGS)
        self.balance_weights = {n: 1.0 for n in self.losses}

    def active_range(self, step: int, steps_per_epoch: int = 1) -> bool:
        """Whether ``step`` lies in ``[start, stop)`` (in epochs for ``unit="epoch"``)."""
        k = step // steps_per_epoch if self.unit == "epoch" else step
        return self.start <= k and (self.stop is None or k < self.stop)

    def active(self, step: int, steps_per_epoch: int = 1) -> bool:
        """Whether the group updates at ``step`` (``steps_per_epoch`` converts steps to epochs)."""
        k = step // steps_per_epoch if self.unit == "epoch" else step
        return self.active_range(step, steps_per_epoch) and (k - self.start) % self.every == 0

    @property
    def params(self) -> list[torch.nn.Parameter]:
        return [p for g in self.optimizer.param_groups for p in g["params"]]

    def weight(self, name: str) -> float:
        return float(self.weights.get(name, 1.0)) * self.balance_weights.get(name, 1.0)


@dataclass
class TrainResult:
    """What :meth:`Trainer.run` did: final step, wall time, last losses and why it stopped."""

    step: int
    elapsed_s: float
    losses: dict[str, float]
    stopped: Optional[str] = None  # None: finished; "max_minutes": time budget reached
    epoch: Optional[int] = None  # completed epochs (trainers with a loader)
    best: Optional[dict[str, Any]] = None  # {"step", "epoch", key: value} of the kept best state


class Trainer:
    """Alternating multi-group trainer with checkpoints, metrics and NaN detection.

    Parameters
    ----------
    groups
        The parameter groups, in update order.
    loss_fn
        ``loss_fn(step, names)`` returns a dict of scalar tensors with at least ``names``.
    steps
        Total number of steps (without a ``loader``).
    epochs, loader
        Train ``epochs`` passes over ``loader`` (any re-iterable with ``len``, e.g. a
        ``torch.utils.data.DataLoader``): one step per batch, ``loss_fn(step, names, batch)``. A
        loader with ``set_epoch(epoch)`` gets the epoch number before each pass, so that a resumed
        run sees the batches of the interrupted epoch again.
    state
        ``{name: object with state_dict() / load_state_dict()}`` saved in checkpoints.
    folder
        Run folder for ``metrics.jsonl`` and ``checkpoint.pt``; None: nothing is written.
    log_every, checkpoint_every
        Periods in steps for metrics lines and checkpoints.
    max_minutes
        Stop (with a checkpoint) once this call of :meth:`run` has trained this long; a resumed run
        gets the budget again.
    progress
        Show a tqdm bar; None: only on a terminal and outside pytest.
    before_step
        Called with the step number before the groups update (e.g. to resample points).
    metrics_fn
        Called at log steps; its dict (floats) is added to the metrics line.
    is_main
        Write files and show progress (False on non-zero ranks of distributed training).
    validate, validate_every
        ``validate(epoch_or_step) -> {name: float}`` after every ``validate_every`` epochs (steps
        without a loader); logged in ``metrics.jsonl`` under ``"validation"``.
    keep_best, best_mode
        A key of ``validate``'s result: the state with the best value (``"max"`` or ``"min"``) is
        kept (in memory and as ``best.pt``) and restored when training finishes. Ties keep the
        earlier state: a later one must be strictly better.
    average_gradients
        Data-parallel training without ``DistributedDataParallel``: average each group's gradients
        over the ranks of the running process group after its backward pass
        (:func:`pdelearn.distributed.average_gradients`); logged losses are averaged too and the
        ``max_minutes`` stop is decided by all ranks together.
    meta
        Plain data (``str``, numbers, lists, dicts) saved in every checkpoint under ``"meta"``, e.g.
        ``{"recipe": <the resolved recipe>}`` so that a resume can name what was edited since.
    grad_scaler
        A ``torch.amp.GradScaler`` for mixed precision: each group back-propagates its scaled loss
        and steps through the scaler (a step whose gradients are not finite is skipped); the scale is
        updated once per step and checkpointed. Not with closure optimizers (L-BFGS).

    Examples
    --------
    >>> w = torch.nn.Parameter(torch.tensor([3.0]))
    >>> g = ParamGroup("w", torch.optim.SGD([w], lr=0.25), ["L"])
    >>> out = Trainer([g], lambda step, names: {"L": (w ** 2).sum()}, steps=20, state={}).run()
    >>> out.step, round(w.item(), 3)
    (20, 0.0)
    """

    def __init__(self, groups: Sequence[ParamGroup], loss_fn: LossFn, *, steps: int | None = None,
                 state: Mapping[str, Any] | None = None, folder: str | os.PathLike | None = None,
                 log_every: int = 100, checkpoint_every: int = 1000, max_minutes: float | None = None,
                 progress: bool | None = None, before_step: Callable[[int], None] | None = None,
                 metrics_fn: Callable[[int], Mapping[str, float]] | None = None, is_main: bool = True,
                 epochs: int | None = None, loader: Any = None,
                 validate: Callable[[int], Mapping[str, float]] | None = None, validate_every: int = 1,
                 keep_best: str | None = None, best_mode: Literal["max", "min"] = "max",
                 average_gradients: bool = False, grad_scaler: Any = None, meta: Mapping[str, Any] | None = None):
        names = [g.name for g in groups]
        if not groups or len(set(names)) != len(names):
            raise ConfigError(f"the trainer needs at least one parameter group, with unique names; received {names}")
        if (loader is None) != (epochs is None) or (loader is None) == (steps is None):
            raise ConfigError("give the trainer either steps=N, or epochs=N together with loader=...; received "
                              f"steps={steps}, epochs={epochs}, loader={'set' if loader is not None else None}")
        self.loader = loader
        self.steps_per_epoch = 1
        if loader is not None:
            self.steps_per_epoch = len(loader)
            if self.steps_per_epoch < 1 or epochs < 0:
                raise ConfigError(f"the loader must give at least one batch and epochs must be >= 0; received "
                                  f"{self.steps_per_epoch} batches, epochs={epochs}")
            steps = epochs * self.steps_per_epoch
        elif any(g.unit == "epoch" for g in groups):
            raise ConfigError("parameter groups with unit='epoch' need a trainer with epochs= and loader=")
        if validate_every < 1 or best_mode not in ("max", "min") or (keep_best is not None and validate is None):
            raise ConfigError(f"need validate_every >= 1, best_mode 'max' or 'min', and a validate function for "
                              f"keep_best; received {validate_every}, {best_mode!r}, keep_best={keep_best!r}")
        if steps < 0 or log_every < 1 or checkpoint_every < 1:
            raise ConfigError(f"need steps >= 0, log_every >= 1, checkpoint_every >= 1; received {steps}, {log_every}, "
                              f"{checkpoint_every}")
        self.groups = list(groups)
        self.loss_fn = loss_fn
        self.steps = int(steps)
        self.state = dict(state or {})
        self.folder = Path(folder) if folder is not None else None
        self.log_every, self.checkpoint_every = int(log_every), int(checkpoint_every)
        self.max_minutes = max_minutes
        self.progress = progress
        self.before_step, self.metrics_fn = before_step, metrics_fn
        self.is_main = is_main
        self.validate, self.validate_every = validate, int(validate_every)
        self.keep_best, self.best_mode = keep_best, best_mode
        self.average_gradients = bool(average_gradients)
        if grad_scaler is not None and any(g.closure for g in groups):
            raise ConfigError("mixed precision (a grad scaler) cannot step closure optimizers such as L-BFGS; train "
                              "those groups in full precision")
        self.grad_scaler = grad_scaler
        self.meta = dict(meta or {})
        self.best: dict[str, Any] | None = None
        self._best_state: dict[str, Any] | None = None
        self._batches = None
        self._wrote_step: int | None = None  # the step of the checkpoint this trainer wrote last
        self._step_ok = False  # a loss of the current step was finite (its start state is a good one)
        self.step = 0
        self.elapsed_s = 0.0
        self.last: dict[str, torch.Tensor] = {}
        self._session: float | None = None  # start of this invocation's training: max_minutes counts from it

    # -- the loop ------------------------------------------------------------------------------
    def run(self, until: int | None = None) -> TrainResult:
        """Train from the current step to ``until`` (default: ``steps``); save a final checkpoint."""
        until = self.steps if until is None else min(int(until), self.steps)
        if self._session is None:  # one budget for every run() call of this trainer (joint discovery calls it
            self._session = time.perf_counter()  # once per sparsification period)
        session = self._session
        t0 = time.perf_counter() - self.elapsed_s
        bar = self._bar()
        stopped = None
        if self.folder is not None and self.is_main:
            self.folder.mkdir(parents=True, exist_ok=True)
        try:
            while self.step < until:
                step = self.step
                self._step_ok = False
                batch = self._next_batch(step)
                if self.before_step is not None:
                    self.before_step(step)
                active = [g for g in self.groups if g.active(step, self.steps_per_epoch)]
                shared: dict[str, torch.Tensor] = {}
                for i, g in enumerate(active):
                    retain = any(not h.fresh for h in active[i + 1:])
                    self._update(g, step, batch, shared, retain)
                if self.grad_scaler is not None and active:
                    self.grad_scaler.update()
                self.step = step + 1
                self.elapsed_s = time.perf_counter() - t0
                if bar is not None:
                    bar.update(1)
                    if self.step % 10 == 0 or self.step == until:
                        bar.set_postfix({k: f"{float(v):.3e}" for k, v in self.last.items()}, refresh=False)
                if self.step % self.log_every == 0 or self.step == until:
                    self._log_metrics()
                if self.validate is not None and self._period_end():
                    self._validate()
                if (self.max_minutes is not None and self.step < until
                        and self._any(time.perf_counter() - session > 60.0 * self.max_minutes)):
                    stopped = "max_minutes"
                    _log.warning("stopping at step %d: max_minutes=%g reached", self.step, self.max_minutes)
                    break
                if self.step % self.checkpoint_every == 0 and self.step < until:
                    self.save_checkpoint()
        finally:
            if bar is not None:
                bar.close()
        if self.folder is not None:
            self.save_checkpoint()
        if self._best_state is not None and self.step >= self.steps:
            for k, obj in self.state.items():
                obj.load_state_dict(self._best_state[k])
        epoch = self.step // self.steps_per_epoch if self.loader is not None else None
        return TrainResult(self.step, self.elapsed_s, {k: float(v) for k, v in self.last.items()}, stopped, epoch,
                           dict(self.best) if self.best else None)

    # -- batches, validation -----------------------------------------------------------------
    def _next_batch(self, step: int) -> Any:
        if self.loader is None:
            return None
        within = step % self.steps_per_epoch
        if within == 0 or self._batches is None:
            if hasattr(self.loader, "set_epoch"):  # the shuffle of an epoch depends on its number only (resumable)
                self.loader.set_epoch(step // self.steps_per_epoch)
            self._batches = iter(self.loader)
            for _ in range(within):  # resumed in the middle of an epoch
                next(self._batches)
        return next(self._batches)

    def _period_end(self) -> bool:
        if self.loader is None:
            return self.step % self.validate_every == 0
        return self.step % self.steps_per_epoch == 0 and (self.step // self.steps_per_epoch) % self.validate_every == 0

    def _validate(self) -> None:
        import copy

        at = self.step // self.steps_per_epoch if self.loader is not None else self.step
        values = {k: float(v) for k, v in self.validate(at).items()}
        line: dict[str, Any] = {"step": self.step, "validation": values}
        if self.loader is not None:
            line["epoch"] = at
        if self.keep_best is not None:
            if self.keep_best not in values:
                raise ConfigError(f"keep_best={self.keep_best!r} is not among the validation values {sorted(values)}")
            v = values[self.keep_best]
            old = None if self.best is None else self.best[self.keep_best]
            if old is None or (v > old if self.best_mode == "max" else v < old):
                self.best = {"step": self.step, self.keep_best: v}
                if self.loader is not None:
                    self.best["epoch"] = at
                self._best_state = {k: copy.deepcopy(obj.state_dict()) for k, obj in self.state.items()}
                if self.folder is not None and self.is_main:
                    save_best(self.folder, self.best, self._best_state)
            line["best"] = dict(self.best)
        _log.info("validation at step %d: %s", self.step, values)
        if self.folder is not None and self.is_main:
            append_metrics(self.folder, line)

    def _call_loss(self, g: ParamGroup, step: int, batch: Any) -> Mapping[str, torch.Tensor]:
        names = frozenset(g.losses)
        return self.loss_fn(step, names) if self.loader is None else self.loss_fn(step, names, batch)

    def _losses(self, g: ParamGroup, step: int, batch: Any = None,
                shared: dict[str, torch.Tensor] | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if not g.fresh and shared is not None and all(n in shared for n in g.losses):
            out: Mapping[str, torch.Tensor] = shared
        else:
            out = self._call_loss(g, step, batch)
            if shared is not None:
                shared.update(out)
        missing = [n for n in g.losses if n not in out]
        if missing:
            raise ConfigError(f"group {g.name!r} needs the losses {missing}, but loss_fn returned {sorted(out)}")
        losses = {n: out[n] for n in g.losses}
        bad = [n for n, v in losses.items() if not torch.isfinite(v.detach()).all()]
        if _any_rank(bool(bad)):  # under torch.distributed every rank stops together instead of hanging
            name = bad[0] if bad else next(iter(losses))
            value = float(losses[name].detach().reshape(-1)[0]) if bad else "non-finite on another rank"
            raise self._diverged(name, value, step)
        self._step_ok = True
        total = sum(g.weight(n) * v for n, v in losses.items())
        for n, v in losses.items():
            self.last[n] = v.detach()
        return total, losses

    def _update(self, g: ParamGroup, step: int, batch: Any = None, shared: dict[str, torch.Tensor] | None = None,
                retain: bool = False) -> None:
        if g.closure:
            def closure():
                g.optimizer.zero_grad(set_to_none=True)
                total, _ = self._losses(g, step, batch)
                total.backward()
                self._sync(g)
                return total

            g.optimizer.step(closure)
        else:
            total, losses = self._losses(g, step, batch, shared)
            if g.balance == "gradnorm" and (step - g.start) // g.every % g.balance_every == 0:
                self._rebalance(g, losses)
                total = sum(g.weight(n) * v for n, v in losses.items())
            g.optimizer.zero_grad(set_to_none=True)
            if self.grad_scaler is not None:
                total = self.grad_scaler.scale(total)
            if retain or not g.fresh:
                # a graph shared with another group of this step: reach only this group's parameters (the
                # other group's may have been updated in place since the forward pass)
                total.backward(retain_graph=retain, inputs=[p for p in g.params if p.requires_grad])
            else:
                total.backward()
            self._sync(g)  # scaled gradients: a non-finite one reaches every rank, which then all skip the step
            if self.grad_scaler is not None:
                self.grad_scaler.step(g.optimizer)
            else:
                g.optimizer.step()
        if g.scheduler is not None:
            g.scheduler.step()

    def _sync(self, g: ParamGroup) -> None:
        if self.average_gradients:
            from .distributed import average_gradients

            average_gradients(g.params)

    def _any(self, flag: bool) -> bool:
        """``flag`` or-ed over the ranks when they train together (every rank must call this at the same step)."""
        return _any_rank(flag) if self.average_gradients else flag

    def _rebalance(self, g: ParamGroup, losses: Mapping[str, torch.Tensor]) -> None:
        params = [p for p in g.params if p.requires_grad]
        norms = {}
        for n, v in losses.items():
            if float(g.weights.get(n, 1.0)) == 0.0 or not v.requires_grad:
                continue
            grads = torch.autograd.grad(v, params, retain_graph=True, allow_unused=True)
            norms[n] = math.sqrt(sum(float((x.detach() ** 2).sum()) for x in grads if x is not None))
        positive = [v for v in norms.values() if v > 0]
        if len(positive) < 2:
            return
        mean = sum(positive) / len(positive)
        for n, v in norms.items():
            if v > 0:
                new = mean / v
                g.balance_weights[n] = g.balance_alpha * g.balance_weights[n] + (1 - g.balance_alpha) * new

    def _diverged(self, name: str, value: float | str, step: int) -> TrainingError:
        if (self._wrote_step == step and not self._step_ok and self.folder is not None and self.is_main
                and not name.startswith("parameter ")):
            # the checkpoint just written holds the very state whose loss is not finite: it is not a good one
            (self.folder / CHECKPOINT).unlink(missing_ok=True)
            self._wrote_step = None
        if self.folder is None:
            where = "no run folder was given, so no checkpoint was kept"
        elif (self.folder / CHECKPOINT).exists():
            where = f"the last good checkpoint is kept in {self.folder}"
        else:
            where = "no good checkpoint existed yet, so none was kept"
        what = name if name.startswith("parameter ") else f"loss {name}"
        return TrainingError(f"training stopped: {what} became {value} at step {step}; {where}. Lower the "
                             "learning rate, use float64, or check the equation and loss weights")

    def _bar(self):
        show = self.progress
        if show is None:
            show = sys.stderr.isatty() and "PYTEST_CURRENT_TEST" not in os.environ
        if not (show and self.is_main):
            return None
        from tqdm.auto import tqdm

        return tqdm(total=self.steps, initial=self.step, unit="batch" if self.loader is not None else "step",
                    dynamic_ncols=True, leave=True)

    # -- metrics ---------------------------------------------------------------------------------
    def _log_metrics(self) -> None:
        losses = {k: float(v) for k, v in self.last.items()}
        if self.average_gradients:
            from .distributed import average_values

            losses = average_values(losses)  # the mean over the ranks' shares of the batch
        line: dict[str, Any] = {
            "step": self.step,
            "time_s": round(self.elapsed_s, 4),
            "losses": losses,
            "lr": {g.name: g.optimizer.param_groups[0]["lr"] for g in self.groups
                   if g.active_range(self.step - 1, self.steps_per_epoch)},
        }
        if self.loader is not None:
            line["epoch"] = (self.step - 1) // self.steps_per_epoch
        bal = {g.name: dict(g.balance_weights) for g in self.groups if g.balance != "none"}
        if bal:
            line["balance"] = bal
        if self.metrics_fn is not None:
            extra = dict(self.metrics_fn(self.step))
            if extra:
                line["metrics"] = extra
        _log.info("step %d %s", self.step, line["losses"])
        if self.folder is not None and self.is_main:
            append_metrics(self.folder, line)

    # -- checkpoints -----------------------------------------------------------------------------
    def checkpoint(self) -> dict[str, Any]:
        """Everything needed to resume, as tensors and plain containers (``weights_only`` loadable)."""
        for name, obj in self.state.items():
            if isinstance(obj, torch.nn.Module):
                for pname, p in obj.named_parameters():
                    if not torch.isfinite(p.detach()).all():
                        raise self._diverged(f"parameter {name}.{pname}", "non-finite", self.step)
        return checkpoint_data(step=self.step, elapsed_s=self.elapsed_s, state=self.state, groups=self.groups,
                               best=self.best, scaler=self.grad_scaler, meta=self.meta)

    def save_checkpoint(self) -> Path | None:
        """Write ``checkpoint.pt`` atomically (temporary file + rename)."""
        if self.folder is None or not self.is_main:
            return None
        target = write_checkpoint(self.folder, self.checkpoint())
        self._wrote_step = self.step
        return target

    def resume(self, path: str | os.PathLike | None = None) -> int:
        """Load a checkpoint (default ``folder/checkpoint.pt``); drop metrics lines after its step.

        Returns the step training continues from.
        """
        path = Path(path) if path is not None else (self.folder / CHECKPOINT if self.folder else None)
        if path is None:
            raise ConfigError("resume needs a checkpoint path or a run folder")
        data = load_checkpoint(path)
        restore_checkpoint(data, path, self.state, self.groups, self.grad_scaler)
        self.step = int(data["step"])
        self.elapsed_s = float(data["elapsed_s"])
        self.best = dict(data.get("best") or {}) or None
        best_state = load_best_state(self.folder) if self.best and self.folder is not None else None
        if best_state is not None:
            self._best_state = best_state
        if self.folder is not None and self.is_main and (self.folder / METRICS).exists():
            truncate_metrics(self.folder / METRICS, self.step)
        return self.step


def _any_rank(flag: bool) -> bool:
    """``flag`` of this process, or-ed over all ranks when a default process group is running."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return flag
    t = torch.tensor([float(flag)])
    if torch.distributed.get_backend() == "nccl":
        t = t.cuda()
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
    return bool(t.item())

