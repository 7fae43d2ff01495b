"""The trainer's files: ``checkpoint.pt`` (what a resume needs), ``best.pt`` (the kept-best state) and
``metrics.jsonl`` (one JSON line per log or validation step).

Checkpoints are plain tensors and containers (``torch.load(..., weights_only=True)``), written through the one
atomic writer (:func:`pdelearn.runfiles.atomic_write`). :func:`restore_checkpoint` loads one into a run's states,
optimizers, schedulers and grad scaler, and fails before training when it does not fit;
:class:`~pdelearn.train.Trainer` uses these functions (``save_checkpoint``, ``resume``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from .errors import ConfigError, TrainingError
from .runfiles import atomic_write, write_text

__all__ = ["CHECKPOINT", "METRICS", "BEST", "load_checkpoint", "checkpoint_data", "restore_checkpoint",
           "append_metrics", "truncate_metrics", "save_best", "load_best_state", "write_checkpoint"]

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"
BEST = "best.pt"


def checkpoint_data(*, step: int, elapsed_s: float, state: Mapping[str, Any], groups: Sequence[Any],
                    best: Mapping[str, Any] | None, scaler: Any, meta: Mapping[str, Any]) -> dict[str, Any]:
    """Everything needed to resume (format 1): states, optimizers, schedulers, balance weights, RNG states."""
    rng: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return {
        "format": 1,
        "step": step,
        "elapsed_s": elapsed_s,
        "state": {k: v.state_dict() for k, v in state.items()},
        "optimizers": {g.name: g.optimizer.state_dict() for g in groups},
        "schedulers": {g.name: g.scheduler.state_dict() for g in groups if g.scheduler is not None},
        "balance": {g.name: dict(g.balance_weights) for g in groups},
        "rng": rng,
        "best": dict(best) if best else {},
        "scaler": scaler.state_dict() if scaler is not None else {},
        "meta": meta,
    }


def write_checkpoint(folder: Path, data: Mapping[str, Any]) -> Path:
    """Write ``folder/checkpoint.pt`` atomically (temporary file + rename); returns its path."""
    target = folder / CHECKPOINT
    atomic_write(target, lambda fh: torch.save(data, fh))
    return target


def restore_checkpoint(data: Mapping[str, Any], path: Path, state: Mapping[str, Any], groups: Sequence[Any],
                       scaler: Any) -> None:
    """Load ``data`` (read from ``path``) into the states, optimizers, schedulers and scaler; set the RNG states.

    A checkpoint of another run, or of a recipe edited since (states of another shape), fails here with a
    :class:`~pdelearn.errors.TrainingError` / :class:`~pdelearn.errors.ConfigError`, not in the middle of training.
    """
    missing = [k for k in state if k not in data["state"]]
    if missing:
        raise TrainingError(f"checkpoint {str(path)!r} has no state for {missing}; was it written by this run?")
    for g in groups:
        if g.name not in data["optimizers"]:
            raise TrainingError(f"checkpoint {str(path)!r} has no optimizer {g.name!r}; it belongs to another run")
    try:  # a state of another shape (the recipe was edited since) fails here, not in the middle of training
        for k, obj in state.items():
            obj.load_state_dict(data["state"][k])
        for g in groups:
            g.optimizer.load_state_dict(data["optimizers"][g.name])
            if g.scheduler is not None and g.name in data["schedulers"]:
                g.scheduler.load_state_dict(data["schedulers"][g.name])
            g.balance_weights.update(data["balance"].get(g.name, {}))
        if scaler is not None and data.get("scaler"):
            scaler.load_state_dict(data["scaler"])
    except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as exc:
        first = " ".join(line.strip() for line in str(exc).strip().splitlines()[:2]) or type(exc).__name__
        raise ConfigError(f"the checkpoint in {str(path.parent)!r} does not fit the run built from its recipe "
                          f"({first[:300]}); the recipe was changed after the checkpoint was written: undo the "
                          "change, or start a new run with --out") from None
    torch.set_rng_state(data["rng"]["torch"])
    if "cuda" in data["rng"] and torch.cuda.is_available():
        states = data["rng"]["cuda"]
        if len(states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(states)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` with clear errors."""
    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"no checkpoint at {str(path)!r}; pass the run folder of an earlier `pdelearn fit`")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several kinds for corrupt or foreign files
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
        why = type(exc).__name__ + (f": {first}" if 0 < len(first) <= 100 else "")  # not torch's long advice
        raise TrainingError(f"cannot read checkpoint {str(path)!r} ({why}); it is damaged or not a pdelearn "
                            "checkpoint: start a new run with --out") from None
    if not isinstance(data, dict) or data.get("format") != 1:
        raise TrainingError(f"{str(path)!r} is not a pdelearn checkpoint")
    return data


def save_best(folder: Path, best: Mapping[str, Any], state: Mapping[str, Any]) -> None:
    """Write ``best.pt`` (the kept-best record and its state dicts) atomically."""
    data = {"best": best, "state": state}
    atomic_write(folder / BEST, lambda fh: torch.save(data, fh))


def load_best_state(folder: Path) -> dict[str, Any] | None:
    """The state dicts of ``folder/best.pt``; None when there is none."""
    if not (folder / BEST).exists():
        return None
    return torch.load(folder / BEST, map_location="cpu", weights_only=True)["state"]


def append_metrics(folder: Path, line: Mapping[str, Any]) -> None:
    """Append one JSON line to ``folder/metrics.jsonl``."""
    with open(folder / METRICS, "a") as fh:
        fh.write(json.dumps(line) + "\n")


def truncate_metrics(path: Path, step: int) -> None:
    """Keep the lines of ``path`` up to ``step`` (a resumed run writes the later ones again); unreadable lines go."""
    keep = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                keep.append(line)
        except json.JSONDecodeError:
            continue
    write_text(path, "".join(k + "\n" for k in keep))
