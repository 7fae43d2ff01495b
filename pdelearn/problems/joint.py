"""Joint discovery: a network ``u(x, t)`` and its governing equation learned together.

From scattered, noisy samples ``(x_i, t_i, u_i)`` a coordinate network is fitted (data loss
``L_D``) while it is regularised by the residual of a sparse equation drawn from a term library
(``L_G``); the equation's coefficients are trained with ``L_G`` plus an L1 penalty (``R_G``) by
their own optimizer, alternating with the network as in Algorithm 1 of the paper, through the one
:class:`~pdelearn.train.Trainer`. This is the job DeePyMoD does.

Named losses (all dimensionless, so one setting serves data sets of any scale):

- ``L_D = mean (u_net - u_data)^2 / std(u_data)^2`` at the samples;
- ``L_G = mean (u_t - Theta(u) (a * mask))^2 / rms(u_t)^2`` at the collocation points (the samples
  plus optional extra random points); ``rms(u_t)`` is refreshed at each sparsification;
- ``R_G = sum |c * mask|`` over the coefficients in *normalized units* (below).

Parameter groups: ``warmup`` (network, ``L_D`` only, steps ``[0, warmup)``), ``network``
(``L_D + w_G L_G``) and ``coefficients`` (``L_G + l1 R_G``, own learning rate and period ``every``).

Normalization. Coordinates are mapped to ``[-1, 1]`` inside the network
(:class:`~pdelearn.models.mlp.CoordinateSpec`); the output is ``u = mean + std * net(x, t)``;
derivatives are taken with respect to the physical coordinates, so coefficients come out in
physical units. Library columns differ by orders of magnitude (``1e-4 u_xx`` next to ``5 u``), so
each coefficient is trained as ``a_k = c_k * s_k`` with ``s_k = ||u_t|| / ||Theta_k||`` (buffers
refreshed at every sparsification): ``c_k`` is the share of ``u_t`` that term ``k`` explains, of
order one for every term that matters, and one learning rate and one L1 weight serve all terms.

Sparsification. Every ``sparsify_every`` steps after the warm-up, ``Theta`` and ``u_t`` are taken from
the network at the collocation points (detached) and the engine's
:class:`~pdelearn.sparse.SparseRegression` (automatic, scale-free selection) picks the support over
the whole library; the mask is set (the residual uses only masked terms) and the coefficients are
re-initialised by least squares on the support. Training stops once the support has not changed for
``patience`` consecutive sparsifications and the active coefficients moved by less than ``tol``
(relative) between the last two, or at ``max_steps``. Then :func:`prune_terms` tests each selected term
on the data fit (output error: copies trained without it, an F-test of their data losses) and drops
the terms the data do not need. The reported equation is the least-squares fit on the final support
with the final network; an ensemble (or ``bootstrap`` resamples of the collocation rows) gives
per-term 95 % intervals.

Examples
--------
>>> from pdelearn.problems.joint import JointConfig
>>> JointConfig(samples=2000, noise=0.5).noise
0.5
>>> JointConfig(noise=-1)
Traceback (most recent call last):
...
pdelearn.errors.ConfigError: noise must be a number >= 0 (a fraction of the field's standard deviation, ...), received -1
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from ..autodiff import autograd_derivatives
from ..equation import Equation
from ..errors import ConfigError
from ..governing import NormalizedGoverningEquation
from ..intervals import bootstrap_intervals, ensemble_intervals
from ..models.mlp import JointModel
from ..sampling import check_samples
from ..sparse import SparseRegression, lstsq_on
from ..terms import TermLibrary, polynomial_library
from ..train import METRICS, Trainer
from .joint_config import JointConfig
from .joint_prune import _param_groups, _train_with_support, equation_needed, prune_terms, signal_share

__all__ = ["JointConfig", "JointResult", "joint_discover", "prune_terms"]

_log = logging.getLogger(__name__)
RESTART_SEED = 10_000  #: restart r of a rejected run trains from new weights, seed ``seed + RESTART_SEED * r``


# --------------------------------------------------------------------------------------------------
# result
# --------------------------------------------------------------------------------------------------
@dataclass
class JointResult:
    """What :func:`joint_discover` found and how."""

    equation: Equation  #: final equation (least squares on the final support), with intervals
    model: JointModel  #: the trained network ``u(x, t)``
    governing: NormalizedGoverningEquation  #: trained coefficients, mask and scales
    library: TermLibrary
    config: JointConfig
    history: list = field(default_factory=list, repr=False)  #: one dict per sparsification
    trajectory: list = field(default_factory=list, repr=False)  #: [(step, {key: coefficient})]
    steps: int = 0
    stopped: str = "max_steps"  #: "converged", "max_steps" or "max_minutes"
    wall_time_s: float = 0.0
    losses: dict = field(default_factory=dict)
    relative_residual: float = float("nan")
    final_readouts: list = field(default_factory=list, repr=False)  #: [{step, coefficients}] of the final phase
    ensemble: list = field(default_factory=list, repr=False)  #: [{key: coefficient}] per ensemble member
    ensemble_time_s: float = 0.0  #: part of wall_time_s spent training the ensemble
    pruning: list = field(default_factory=list, repr=False)  #: one dict per round of :func:`prune_terms`
    network_equation: Optional[Equation] = None  #: the network's least-squares equation (ensemble intervals)
    refinement: Any = None  #: :class:`~pdelearn.problems.joint_refine.Refinement`, or None (``refine: none``)
    #: the data fit's verdict on the whole equation (:func:`~pdelearn.problems.joint_prune.equation_needed`)
    evidence: Optional[dict] = None
    #: why the equation is not an answer (empty: nothing flagged); see :func:`_verdict`
    unreliable: list = field(default_factory=list)

    @property
    def network(self) -> JointModel:
        return self.model

    def __str__(self) -> str:
        return str(self.equation)

    def predict(self, x: np.ndarray, t: np.ndarray) -> np.ndarray:
        """The network on points ``x, t`` (same shape), as numpy."""
        x = np.asarray(x, dtype=np.float64)
        t = np.broadcast_to(np.asarray(t, dtype=np.float64), x.shape)
        p = next(self.model.parameters())
        with torch.no_grad():
            out = self.model(torch.as_tensor(x.reshape(-1), dtype=p.dtype), torch.as_tensor(t.reshape(-1), dtype=p.dtype))
        return out.cpu().double().numpy().reshape(x.shape)


# --------------------------------------------------------------------------------------------------
# the algorithm
# --------------------------------------------------------------------------------------------------
class JointJob:
    """Points, losses and sparsification of one joint discovery (used by :func:`joint_discover`)."""

    def __init__(self, s: dict[str, np.ndarray], library: TermLibrary, cfg: JointConfig, device):
        self.cfg = cfg
        self.library = library
        self.dtype = torch.float64 if cfg.dtype == "float64" else torch.float32
        gen = torch.Generator().manual_seed(cfg.seed)
        x_range, t_range = (s["x"].min(), s["x"].max()), (s["t"].min(), s["t"].max())
        self.model = JointModel(x_range, t_range, s["u"].mean(), s["u"].std(), cfg.width, cfg.depth, cfg.activation,
                                gen).to(device=device, dtype=self.dtype)
        self.model.mean.data = self.model.mean.data.double()
        self.model.std.data = self.model.std.data.double()
        self.eq = NormalizedGoverningEquation(library).to(device)
        self.lhs = self.eq.lhs[0]
        self.required = self.eq.required
        rng = np.random.default_rng(cfg.seed + 1)
        xc = np.concatenate([s["x"], rng.uniform(*x_range, cfg.extra_collocation)])
        tc = np.concatenate([s["t"], rng.uniform(*t_range, cfg.extra_collocation)])
        kw = {"dtype": self.dtype, "device": device}
        self.n = s["u"].size
        self.xc = torch.as_tensor(xc, **kw).requires_grad_(True)
        self.tc = torch.as_tensor(tc, **kw).requires_grad_(True)
        self.ud = torch.as_tensor(s["u"], **kw)
        self.var_d = float(np.var(s["u"]))
        self.ut_scale2 = 1.0

    # -- losses -------------------------------------------------------------------------------
    def _derivatives(self, create_graph: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(u at the collocation points, Theta (n, K), u_t (n,))``."""
        with torch.enable_grad():
            u = self.model(self.xc, self.tc)
            d = autograd_derivatives({self.library.fields[0]: u}, {self.library.coords[0]: self.xc, "t": self.tc},
                                     self.required, create_graph=create_graph)
        if not create_graph:
            u = u.detach()
        theta = self.eq.features(d)
        return u, theta, d[self.lhs]

    def losses(self, step: int, names: frozenset) -> dict[str, torch.Tensor]:
        """``L_D``, ``L_G`` and ``R_G`` of the current network and equation.

        A network group's call does one forward pass (with the derivative graph when ``L_G`` is asked
        for) and returns all three; the coefficient group (``fresh=False``) reuses them in the same step,
        back-propagating only into the coefficients (the network's update in between does not touch
        them, and the trainer restricts each backward pass to its group's parameters). Called alone, the
        coefficient group gets ``Theta`` and ``u_t`` from a detached pass.
        """
        out: dict[str, torch.Tensor] = {}
        if "L_D" in names:  # a network group: one forward pass gives L_D and, if needed, L_G
            if "L_G" in names:
                u, theta, ut = self._derivatives(create_graph=True)
                out["L_G"] = self._residual_loss(theta, ut)
                out["R_G"] = self.eq.l1()
            else:
                u = self.model(self.xc[: self.n].detach(), self.tc[: self.n].detach())
            out["L_D"] = ((u[: self.n] - self.ud) ** 2).mean() / self.var_d
            return out
        _, theta, ut = self._derivatives(create_graph=False)
        out["L_G"] = self._residual_loss(theta.detach(), ut.detach())
        out["R_G"] = self.eq.l1()
        return out

    def _residual_loss(self, theta: torch.Tensor, ut: torch.Tensor) -> torch.Tensor:
        g = ut - (theta @ self.eq.active.to(theta.dtype))[:, 0]
        return (g**2).mean() / self.ut_scale2

    # -- sparsification ------------------------------------------------------------------------
    def regression_system(self) -> tuple[np.ndarray, np.ndarray]:
        """``Theta (n, K)`` and ``u_t (n,)`` from the current network at the collocation points."""
        _, theta, ut = self._derivatives(create_graph=False)
        return theta.detach().double().cpu().numpy(), ut.detach().double().cpu().numpy()

    def fix_support(self, support: np.ndarray) -> np.ndarray:
        """Set the mask to ``support``, refresh the scales and start the coefficients from least squares on it."""
        return self._set_support(*self.regression_system(), support)

    def _set_support(self, G: np.ndarray, b: np.ndarray, support: np.ndarray) -> np.ndarray:
        a = lstsq_on(G, b, support)
        with torch.no_grad():
            self.eq.mask.copy_(torch.as_tensor(support, dtype=torch.bool)[:, None].to(self.eq.mask.device))
            self.eq.scales.copy_(NormalizedGoverningEquation.column_scales(torch.as_tensor(G), torch.as_tensor(b))
                                 .to(self.eq.scales.device))
            self.eq.set_physical(a)
        self.ut_scale2 = float(np.mean(b**2)) or 1.0
        return a

    @torch.no_grad()
    def data_loss(self) -> float:
        """``L_D`` of the current network at all samples."""
        u = self.model(self.xc[: self.n].detach(), self.tc[: self.n].detach())
        return float(((u - self.ud) ** 2).mean() / self.var_d)

    def adopt(self, other: "JointJob") -> None:
        """Take over the network, equation and ``u_t`` scale of ``other`` (a trained copy of this job)."""
        self.model.load_state_dict(other.model.state_dict())
        self.eq.load_state_dict(other.eq.state_dict())
        self.ut_scale2 = other.ut_scale2

    def sparsify(self, regression: SparseRegression) -> dict[str, Any]:
        G, b = self.regression_system()
        fit = regression.fit(G, b)
        support = fit.support
        a = self._set_support(G, b, support)
        return {"support": support.copy(), "coefficients": a, "relative_residual": fit.relative_residual}


def _library(cfg: JointConfig, library: TermLibrary | None) -> TermLibrary:
    if library is None:
        return polynomial_library("u", "x", cfg.max_power, cfg.max_order)
    if not isinstance(library, TermLibrary):
        raise ConfigError(f"library must be a TermLibrary, received {type(library).__name__}")
    if len(library.fields) != 1 or len(library.coords) != 1:
        raise ConfigError(f"joint discovery handles one field in one space coordinate; the library has fields "
                          f"{list(library.fields)} and coordinates {list(library.coords)}")
    if library.coords[0] == "t":
        raise ConfigError("the library's space coordinate cannot be named t (time is the left-hand side u_t)")
    return library


def joint_discover(samples: Mapping[str, Any], library: TermLibrary | None = None,
                   config: JointConfig | Mapping[str, Any] | None = None, *, folder: str | os.PathLike | None = None,
                   device: str | torch.device = "cpu", progress: bool | None = None, echo=None) -> JointResult:
    """Discover ``u_t = Theta(u) a`` from scattered samples, training a network alongside.

    Parameters
    ----------
    samples
        ``{"x": (n,), "t": (n,), "u": (n,)}`` (noisy values welcome); the library's space
        coordinate is fed from ``samples["x"]``.
    library
        Candidate terms of one field in one space coordinate; default
        ``polynomial_library("u", "x", config.max_power, config.max_order)``.
    config
        :class:`JointConfig` (or a mapping of its fields).
    folder
        Run folder for the trainer's ``metrics.jsonl`` and ``checkpoint.pt``; None writes nothing.
    echo
        Called with one line per sparsification (e.g. ``print``).

    Returns
    -------
    JointResult
        ``.equation`` (physical units, with 95 % bootstrap intervals when ``config.bootstrap``),
        ``.model``, ``.history`` (one entry per sparsification), ``.trajectory``, ``.wall_time_s``.

    With ``config.refine = "output_error"``, a run whose equation and alternatives all fail the check is
    trained again from new weights (seed ``seed + RESTART_SEED * r``) on the same samples, up to
    ``config.refine_restarts`` times; the returned result is the last run's, its ``refinement.attempts``
    lists the earlier runs' candidates (the earlier losses go to ``metrics.attempt<r>.jsonl``).
    """
    t_start = time.perf_counter()
    cfg = config if isinstance(config, JointConfig) else JointConfig.from_dict(config or {})
    lib = _library(cfg, library)
    s = check_samples(samples)
    device = torch.device(device)
    say = echo or (lambda m: _log.info(m))
    result = _discover_once(s, lib, cfg, folder, device, progress, say)
    attempts: list[dict[str, Any]] = []
    while result.refinement is not None and result.refinement.status == "rejected" and len(attempts) < cfg.refine_restarts:
        ref = result.refinement
        attempts.append({"network_seed": result.config.seed, "network_equation": str(result.network_equation),
                         "note": ref.note, "noise_sigma": ref.noise_sigma, "candidates": ref.candidates})
        seed = cfg.seed + RESTART_SEED * len(attempts)
        say(f"no candidate explains the samples: restart {len(attempts)}/{cfg.refine_restarts} from new weights "
            f"(seed {seed}) on the same samples")
        if folder is not None and (Path(folder) / METRICS).exists():  # the returned run's losses stay in metrics.jsonl
            os.replace(Path(folder) / METRICS, Path(folder) / f"metrics.attempt{len(attempts)}.jsonl")
        result = _discover_once(s, lib, replace(cfg, seed=seed), folder, device, progress, say)
    if attempts:
        ref = result.refinement
        ref.attempts, ref.settings["network_seed"] = attempts, result.config.seed
        ref.note = (f"{ref.note} (also after {len(attempts)} restart(s) from new weights)" if not ref.reliable else
                    f"found after {len(attempts)} restart(s) from new weights (network seed {result.config.seed})"
                    + (f"; {ref.note}" if ref.note else ""))
        result = replace(result, config=cfg, wall_time_s=time.perf_counter() - t_start)
    return result


def _discover_once(s: dict[str, np.ndarray], lib: TermLibrary, cfg: JointConfig, folder, device: torch.device,
                   progress: bool | None, say: Callable[[str], None]) -> JointResult:
    """One training run of :func:`joint_discover` (``cfg.seed``: the network's weights and collocation)."""
    t_start = time.perf_counter()
    job = JointJob(s, lib, cfg, device)
    regression = SparseRegression(tol=cfg.selection_tol, f_crit=cfg.f_crit)

    def regression_at(k: int) -> SparseRegression:
        # the tolerance starts loose (the network is still inconsistent with any sparse equation, so a strict
        # rule keeps spurious terms that only compensate derivative errors) and halves at every sparsification
        # down to selection_tol, so small true terms (1e-4 u_xx in Allen-Cahn) can come back once the network
        # agrees with the sparse equation
        tol = max(cfg.selection_tol, cfg.selection_tol_start * 0.5**k)
        return SparseRegression(tol=tol, f_crit=cfg.f_crit)
    groups = _param_groups(job, cfg, cfg.warmup, l1=cfg.l1)
    keys = lib.keys
    trajectory: list = []

    def metrics(step: int) -> dict[str, float]:
        a = job.eq.active.detach()[:, 0].double().cpu().numpy()
        trajectory.append((step, {k: float(v) for k, v in zip(keys, a)}))
        return {"active_terms": float(job.eq.mask.sum())}

    state = {"model": job.model, "equation": job.eq}
    trainer = Trainer(list(groups.values()), job.losses, steps=cfg.max_steps, state=state, folder=folder, log_every=cfg.log_every,
                      checkpoint_every=max(cfg.max_steps, 1), max_minutes=cfg.max_minutes, progress=progress,
                      metrics_fn=metrics)
    history: list[dict[str, Any]] = []
    final_readouts: list[dict[str, Any]] = []
    pruning: list[dict[str, Any]] = []
    evidence = None
    stopped = "max_steps"
    # warm-up on the data only, then start the equation from least squares on the full library
    trainer.run(until=cfg.warmup)
    if trainer.step < cfg.warmup:
        stopped = "max_minutes"
    else:
        first = job.sparsify(SparseRegression(method="stlsq", threshold=1e-12))  # all terms, plain least squares
        job.eq.mask.fill_(True)
        job.eq.set_physical(first["coefficients"])
        stable = 0
        previous = None
        while trainer.step < cfg.max_steps:
            res = trainer.run(until=trainer.step + cfg.sparsify_every)
            if res.stopped:
                stopped = res.stopped
                break
            info = job.sparsify(regression_at(len(history)))
            change = _relative_change(previous, info)
            same = previous is not None and np.array_equal(previous["support"], info["support"])
            stable = stable + 1 if same else 0
            entry = {"step": trainer.step, "support": [keys[i] for i in np.flatnonzero(info["support"])],
                     "coefficients": {keys[i]: float(info["coefficients"][i]) for i in np.flatnonzero(info["support"])},
                     "relative_residual": info["relative_residual"], "change": change, "stable": stable,
                     "losses": dict(res.losses)}
            history.append(entry)
            say(f"step {trainer.step}: {_format(entry['coefficients'], lib)}  (change {change:.2e}, stable {stable})")
            previous = info
            if stable >= cfg.patience and change < cfg.tol:
                stopped = "converged"
                break
        if cfg.prune and history and stopped in ("converged", "max_steps") and int(job.eq.mask.sum()) > 1:
            pruning = prune_terms(job, cfg, say)
        if history and stopped in ("converged", "max_steps"):
            evidence = equation_needed(job, cfg, pruning, say)
        if cfg.final_steps and history and stopped in ("converged", "max_steps"):
            # final phase: the support is fixed and the L1 penalty off; the network keeps fitting the data under the
            # final equation's residual, so the readout comes from a network that agrees with the sparse equation
            groups["coefficients"].weights = {"R_G": 0.0}
            if cfg.final_weight_G is not None:
                groups["network"].weights = {"L_G": cfg.final_weight_G}
            end = trainer.step + cfg.final_steps
            trainer.steps = end
            support_final = job.eq.mask[:, 0].cpu().numpy().astype(bool)
            while trainer.step < end:
                res = trainer.run(until=min(end, trainer.step + cfg.sparsify_every))
                G_, b_ = job.regression_system()
                a_ = lstsq_on(G_, b_, support_final)
                coefs = {keys[i]: float(a_[i]) for i in np.flatnonzero(support_final)}
                final_readouts.append({"step": trainer.step, "coefficients": coefs})
                say(f"final phase, step {trainer.step}: {_format(coefs, lib)}")
                if res.stopped:
                    stopped = res.stopped
                    break
        if trainer.folder is not None:
            trainer.save_checkpoint()
    # final readout: least squares on the final support, bootstrap intervals over collocation rows
    G, b = job.regression_system()
    support = job.eq.mask[:, 0].cpu().numpy().astype(bool)
    if not history:  # stopped during the warm-up: select once now
        info = job.sparsify(regression)
        support = info["support"]
    a = lstsq_on(G, b, support)
    rel = float(np.linalg.norm(b - G @ a) / (np.linalg.norm(b) or 1.0))
    idx = np.flatnonzero(support)
    intervals = None
    use_ensemble = bool(cfg.ensemble and idx.size and history)
    if cfg.bootstrap and idx.size and not use_ensemble:  # the ensemble's intervals replace the bootstrap's
        intervals = bootstrap_intervals(G, b, idx, cfg.bootstrap, cfg.seed)
        intervals = {lib[i].key: (float(lo), float(hi)) for i, (lo, hi) in zip(idx, intervals)}
    members: list[dict[str, float]] = []
    t_ensemble = time.perf_counter()
    if use_ensemble:
        for k in range(cfg.ensemble):
            a_k = _ensemble_member(job, s, lib, cfg, k, support, device)
            members.append({keys[i]: float(a_k[i]) for i in idx})
            say(f"ensemble member {k + 1}/{cfg.ensemble}: {_format(members[-1], lib)}")
        intervals = ensemble_intervals(a[idx], np.array([[m[keys[i]] for i in idx] for m in members]))
        intervals = {lib[i].key: (float(lo), float(hi)) for i, (lo, hi) in zip(idx, intervals)}
    equation = Equation(job.lhs, {lib[i]: float(a[i]) for i in idx}, lib.fields, lib.coords, intervals=intervals)
    t_ensemble = time.perf_counter() - t_ensemble
    network_equation, refinement = equation, None
    if cfg.refine == "output_error" and idx.size and history:
        refinement = _refine(job, s, cfg, equation, history, say)
        if refinement.status == "accepted":
            equation = refinement.equation
    return JointResult(equation, job.model, job.eq, lib, cfg, history, trajectory, trainer.step, stopped,
                       time.perf_counter() - t_start, {k: float(v) for k, v in trainer.last.items()}, rel,
                       final_readouts, members, t_ensemble, pruning, network_equation, refinement, evidence,
                       _verdict(job.lhs, cfg, stopped, trainer.step, rel, idx.size, evidence, signal_share(s),
                                None if refinement is not None and refinement.status == "accepted" else history))


def _verdict(lhs: str, cfg: JointConfig, stopped: str, steps: int, rel: float, n_terms: int,
             evidence: Optional[dict], share: Optional[float] = None, history: Optional[list] = None) -> list[str]:
    """Why the discovered equation is not an answer (empty: nothing flagged).

    The rules of ``discover`` (:func:`pdelearn.reliability.explained`: the network's ``u_t`` explained by the
    selected terms, relative residual at most ``MAX_RELATIVE_RESIDUAL``), the samples' signal (``share``,
    :func:`pdelearn.reliability.no_signal`), the data fit's test of the whole equation against none
    (``evidence``), a run that ``max_minutes`` stopped before it converged, and a run declared converged whose
    coefficients were still on their way (:func:`pdelearn.reliability.coefficient_drift` of ``history``).
    """
    from ..reliability import DRIFT_SHARE, coefficient_drift, explained, no_signal

    out = [why for why in [no_signal(share)] if why]
    drift = coefficient_drift([h["coefficients"] for h in history]) if history and stopped == "converged" else None
    if drift is not None and drift[1] > DRIFT_SHARE:
        out.append(f"training stopped as converged after {steps} steps, but the coefficients were still moving: at the "
                   f"pace of the last checks {drift[0]} would change by another {100 * drift[1]:.3g} % (more than "
                   f"{100 * DRIFT_SHARE:g} %); rerun with a larger sparsity.patience (now {cfg.patience}) or "
                   "training.max_steps")
    if stopped == "max_minutes":
        out.append(f"training stopped at training.max_minutes = {cfg.max_minutes:g} after {steps} of {cfg.max_steps} "
                   f"steps, before the equation converged; rerun with a larger limit (--set training.max_minutes="
                   f"{4 * cfg.max_minutes:g})")
    reason = explained(lhs, rel, n_terms)
    if reason:
        out.append(reason)
    if evidence is not None and not evidence["needed"]:
        out.append(f"the samples do not need any term: fitted with the equation {', '.join(evidence['support']) or '(none)'} "
                   f"and with none (u_t = 0), the data fit differs by F = {evidence['F']:.3g} < f_crit = {cfg.f_crit:g} "
                   "(the data look like noise or a field without dynamics)")
    return out


def _refine(job: "JointJob", s: dict[str, np.ndarray], cfg: JointConfig, equation: Equation, history: list,
            say: Callable[[str], None]):
    """Output-error refinement and check of ``equation`` (:func:`~pdelearn.problems.joint_refine.refine_support`).

    Starts from the network's ``u(x, t0)``; the noise level is the network's residual RMS at the samples; the
    alternative is the first selection's support.
    """
    from .joint_refine import refine_support

    p = next(job.model.parameters())

    def initial(x: np.ndarray, t0: float) -> np.ndarray:
        with torch.no_grad():
            xs = torch.as_tensor(x, dtype=p.dtype, device=p.device)
            return job.model(xs, torch.full_like(xs, t0)).double().cpu().numpy()

    first = history[0]
    return refine_support(s, equation.coefficients, network_sigma=math.sqrt(job.data_loss() * job.var_d),
                          u0=initial, alternatives=[("first selection", first["coefficients"])], period=cfg.period,
                          ic_modes=cfg.refine_ic_modes, dt=cfg.refine_dt, alpha=cfg.refine_alpha, f_crit=cfg.f_crit,
                          say=say, budget=cfg.refine_budget)


def _ensemble_member(job: "JointJob", s: dict[str, np.ndarray], lib: TermLibrary, cfg: JointConfig, k: int,
                     support: np.ndarray, device) -> np.ndarray:
    """Member ``k``: a network trained on a bootstrap resample of the samples with the support fixed.

    ``ensemble_init="warm"`` starts from the trained network and equation (``ensemble_steps`` steps);
    ``"fresh"`` starts from new weights (seed ``seed + 1000 (k + 1)``: ``warmup`` data-only steps, then
    ``ensemble_steps``). Returns the least-squares coefficients on ``support`` of the member's network.
    """
    import copy
    rng = np.random.default_rng([cfg.seed, 7919, k])
    rows = rng.integers(0, s["u"].size, s["u"].size)
    sk = {key: v[rows] for key, v in s.items()}
    mcfg = replace(cfg, seed=cfg.seed + 1000 * (k + 1))
    member = JointJob(sk, lib, mcfg, device)
    warmup = 0
    if cfg.ensemble_init == "warm":
        member.model = copy.deepcopy(job.model)
    else:
        warmup = cfg.warmup
    _train_with_support(member, cfg, support, cfg.ensemble_steps, warmup)
    G, b = member.regression_system()
    return lstsq_on(G, b, support)


def _relative_change(previous, info) -> float:
    if previous is None:
        return float("inf")
    a0, a1 = previous["coefficients"], info["coefficients"]
    idx = np.flatnonzero(info["support"] | previous["support"])
    if not idx.size:
        return 0.0
    return float(np.max(np.abs(a1[idx] - a0[idx]) / np.maximum(np.abs(a1[idx]), np.abs(a0[idx]))))


def _format(coefs: Mapping[str, float], lib: TermLibrary) -> str:
    eq = Equation("u_t" if lib.fields == ("u",) else f"{lib.fields[0]}_t", coefs, lib.fields, lib.coords)
    return str(eq)
