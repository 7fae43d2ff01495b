"""The data-fit tests of joint discovery: which terms, and whether any equation at all, the samples need.

A term is judged by its effect on the *data* fit (output error): copies of the trained network and
equation are trained ``prune_steps`` more steps with and without it, and the extra-sum-of-squares
statistic of nested models compares their data losses (:func:`prune_terms`). :func:`null_test` applies
the same test to the whole equation against none (``u_t = 0``): samples whose fit does not need any
term (pure noise, a field that does not change) give no equation, however small the network's
residual against its own equation is.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ..output_error.search import best_trial
from ..stats import nested_f
from ..train import ParamGroup, Trainer

__all__ = ["prune_terms", "null_test", "equation_needed", "signal_share"]

JointJob = Any  #: :class:`pdelearn.problems.joint.JointJob` (that module imports this one)


def _trained_copy(job: "JointJob", cfg, support: np.ndarray) -> "JointJob":
    """A copy of ``job`` trained ``prune_steps`` more steps with ``support`` fixed and the L1 off."""
    member = copy.deepcopy(job)
    _train_with_support(member, cfg, support, cfg.prune_steps)
    return member


def _train_with_support(member: "JointJob", cfg, support: np.ndarray, steps: int, warmup: int = 0) -> None:
    """Train ``member``: ``warmup`` data-only steps, then ``steps`` with ``support`` fixed and the L1 off."""
    groups = _param_groups(member, cfg, warmup, l1=None)
    trainer = Trainer(list(groups.values()), member.losses, steps=warmup + steps, log_every=cfg.log_every,
                      checkpoint_every=warmup + steps, progress=False)
    if warmup:
        trainer.run(until=warmup)
    member.fix_support(support)
    trainer.run()


def prune_terms(job: "JointJob", cfg, say: Callable[[str], None] = lambda m: None) -> list[dict[str, Any]]:
    """Backward elimination of the selected terms by their effect on the *data* fit (output error).

    The sparse regression judges a term by how much of the network's ``u_t`` it explains, and a network
    trained against an equation comes to agree with it, so a term that entered early can stay although
    the data do not need it (Burgers at 50 % noise, seed 2: ``-0.04 u^2 u_xxx`` beside the true terms,
    kept by every later sparsification). Here each term ``k`` of the support ``S`` is tested on the data:
    copies of the trained network and equation are trained ``prune_steps`` more steps with the support
    ``S`` (the reference) and with ``S`` without ``k``, and the extra-sum-of-squares statistic of nested
    models ``F_k = (L_D(S - k) - L_D(S)) (n - |S|) / L_D(S)`` compares their data losses on the ``n``
    samples. The term of smallest ``F`` is dropped when ``F < f_crit`` and the test repeats on the smaller
    support; otherwise the reference is kept. ``job`` takes over the network and equation kept.
    Returns one record per round: support, ``F`` per term, data losses, the term dropped (or None).
    """
    keys = job.library.keys
    rounds: list[dict[str, Any]] = []
    support = job.eq.mask[:, 0].cpu().numpy().astype(bool)
    while True:
        ref = _trained_copy(job, cfg, support)
        base = ref.data_loss()
        trials, stats = {}, {}

        def without(i: int) -> int:
            reduced = support.copy()
            reduced[i] = False
            trials[i] = _trained_copy(job, cfg, reduced)
            stats[i] = nested_f(trials[i].data_loss(), base, job.n, int(support.sum()))
            return i

        # the last term is not tested; the weakest is dropped when its F is below f_crit
        weakest = best_trial(np.flatnonzero(support) if support.sum() > 1 else (), without, key=stats.get,
                             accept=lambda i: stats[i] < cfg.f_crit)
        drop = weakest is not None
        rounds.append({"support": [keys[i] for i in np.flatnonzero(support)], "data_loss": base,
                       "F": {keys[i]: float(f) for i, f in stats.items()},
                       "dropped": keys[weakest] if drop else None})
        say("pruning: F = " + ", ".join(f"{keys[i]} {f:.3g}" for i, f in stats.items())
            + (f"; {keys[weakest]} dropped (F < {cfg.f_crit:g})" if drop else "; all terms kept"))
        job.adopt(trials[weakest] if drop else ref)
        if not drop:
            return rounds
        support[weakest] = False
        if support.sum() == 1:
            return rounds


def _param_groups(job: "JointJob", cfg, start: int, l1: float | None) -> dict[str, ParamGroup]:
    """The alternating groups of Algorithm 1, by name.

    ``warmup`` (only when ``start`` > 0): the network on ``L_D`` for steps ``[0, start)``; then
    ``network``: ``L_D + weight_G L_G``, and ``coefficients``: ``L_G`` (plus ``l1 R_G`` unless ``l1``
    is None) every ``coef_every`` steps, each with its own Adam optimizer.
    """
    opt_net = torch.optim.Adam(job.model.parameters(), lr=cfg.lr_network)
    opt_coef = torch.optim.Adam([job.eq.coefficients], lr=cfg.lr_coefficients)
    groups = {}
    if start:
        groups["warmup"] = ParamGroup("warmup", opt_net, ["L_D"], stop=start)
    groups["network"] = ParamGroup("network", opt_net, ["L_D", "L_G"], weights={"L_G": cfg.weight_G}, start=start)
    coef_losses, coef_weights = (["L_G"], {}) if l1 is None else (["L_G", "R_G"], {"R_G": l1})
    groups["coefficients"] = ParamGroup("coefficients", opt_coef, coef_losses, weights=coef_weights,
                                        every=cfg.coef_every, start=start, fresh=False)
    return groups


def null_test(job: "JointJob", cfg, say: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    """The data-fit F-test of the selected equation against none (``u_t = 0``): does the fit need any term?

    Two copies of the trained network and equation are trained ``prune_steps`` more steps with the support
    fixed: the selected one ``S``, and the empty one (the network is pulled towards a field that does not
    change in time). ``F = ((L_D(empty) - L_D(S)) / |S|) / (L_D(S) / (n - |S|))`` over the ``n`` samples, the
    statistic :func:`prune_terms` uses for one term, here for all of them. ``job`` is not changed.

    Returns ``{"support", "F", "data_loss", "null_data_loss", "needed"}``; ``needed``: ``F >= f_crit``.
    """
    keys = job.library.keys
    support = job.eq.mask[:, 0].cpu().numpy().astype(bool)
    p = int(support.sum())
    full = _trained_copy(job, cfg, support).data_loss()
    empty = _trained_copy(job, cfg, np.zeros_like(support)).data_loss()
    f = nested_f(empty, full, job.n, p, q=max(p, 1)) if p else 0.0
    out = {"support": [keys[i] for i in np.flatnonzero(support)], "F": float(f), "data_loss": float(full),
           "null_data_loss": float(empty), "needed": bool(p and f >= cfg.f_crit)}
    say(f"the equation against none (u_t = 0) on the data fit: F = {f:.3g} "
        f"({'needed' if out['needed'] else f'below {cfg.f_crit:g}: the samples do not need it'})")
    return out


def equation_needed(job: "JointJob", cfg, pruning: list, say: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    """Whether the samples need the selected equation at all.

    When the last round of :func:`prune_terms` kept every term (each ``F >= f_crit`` against the support without
    it), the data need the equation and no more training is spent. Otherwise (one term left, which that test does
    not reach; no pruning) :func:`null_test` decides.
    """
    last = pruning[-1] if pruning else None
    if last is not None and last["dropped"] is None and last["F"] and min(last["F"].values()) >= cfg.f_crit:
        return {"support": last["support"], "F": float(min(last["F"].values())), "from": "pruning", "needed": True}
    return {**null_test(job, cfg, say), "from": "null test"}


def signal_share(s: dict) -> float | None:
    """``1 - s_local^2 / var(u)`` of samples ``{"x", "t", "u"}``: the share of their variance that leave-one-out
    local quadratic fits explain (:func:`~pdelearn.problems.joint_refine.local_noise_sigma` on coordinates scaled
    to a common range, no wrap-around); ``None`` with too few samples. For :func:`pdelearn.reliability.no_signal`.
    """
    from .joint_refine import local_noise_sigma

    u = np.asarray(s["u"], dtype=np.float64)
    var = float(np.var(u))
    if not var > 0:
        return 0.0
    span = 1000.0
    scaled = [(v - v.min()) / (np.ptp(v) or 1.0) * span for v in (np.asarray(s["x"], float), np.asarray(s["t"], float))]
    sigma = local_noise_sigma(scaled[0], scaled[1], u, nx=int(4 * span))
    return None if sigma is None else 1.0 - sigma**2 / var
