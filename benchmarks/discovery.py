"""Side-by-side benchmark: pdelearn's default ``discover`` against PySINDy's PDE-FIND and weak form.

Every method sees the same noisy copy of each data set (Gaussian noise with standard deviation
``noise * std(field)``, drawn from ``np.random.default_rng(seed)``) and the same candidate library
(powers 0..3 of the fields times one spatial derivative of order 0..4; for ``nls.mat``, two fields
and derivative order <= 2). Each method's answer is turned into a :class:`pdelearn.equation.Equation`
so that ``Equation.compare`` scores all methods with the same metric.

Methods
-------
``pdelearn``
    ``discover(grid)`` with its defaults (``discover(grid, max_order=2)`` for nls); no tuning.
``pysindy-fd``
    ``ps.PDELibrary`` (finite differences, the default) + ``ps.STLSQ(threshold=2, alpha=1e-5,
    normalize_columns=True)``: the setting of PySINDy's PDE-FIND example notebook
    (``examples/10_PDEFIND_examples``), used unchanged on every data set.
``pysindy-sfd``
    As ``pysindy-fd`` with ``ps.SmoothedFiniteDifference`` (Savitzky-Golay, window 11, polyorder 3:
    the class defaults) for the time derivative and, through ``PDELibrary(differentiation_method=
    ps.SmoothedFiniteDifference, diff_kwargs=...)``, for the space derivatives. PySINDy 2.1 hard-codes
    ``axis=0`` for its default smoother, which would smooth along x when differentiating in t, so the
    smoother is passed as ``functools.partial(savgol_filter, axis=<differentiation axis>)``.
``pysindy-weak``
    ``ps.WeakPDELibrary(K=500)`` (other arguments at their defaults: ``H_xt`` = domain / 20, ``p = 4``)
    with the same STLSQ setting as above.
``pysindy-weak-t0.1``
    Extra row, not part of the requested set: the weak form with ``threshold=0.1`` (everything else
    the same). With ``normalize_columns=True`` PySINDy compares ``|coef| * ||column||`` with the
    threshold, and the weak form's 500-row columns have norms of order 1, so threshold 2 removes every
    term on several data sets. 0.1 was picked once, on clean data, after seeing that; it is reported
    so that the weak form is not judged only by a setting made for the strong form.

``pysindy-weak-default``, ``pysindy-weak-aicc``, ``pysindy-weak-best`` (the default set with ``pdelearn``)
    The weak form with K = pdelearn's number of test functions on the data set, features built once per
    case; the threshold is STLSQ's default (0.1), the one of a 49-point sweep with the smallest AICc on
    the weak rows (a rule usable on real data: the headline peer, ``PEER``), or the sweep's threshold
    closest to the truth (an upper bound, not a method).

Seeds 0-9 by default; ``DEVELOPMENT_SEEDS`` (0-2) were used while developing pdelearn's defaults, the
summary reports the other seeds separately ("out of sample").
Noise-free cases are repeated for every seed too (same data; repeated timings, and the weak form draws
new subdomains); ``--clean-once`` runs them with seed 0 only.
Every method runs in a separate worker process; a method that raises or runs past ``--timeout``
seconds (default 120) is recorded as failed with the reason. Wall time is measured inside the worker
around the whole user-facing call (library construction, differentiation, regression); the worker
loads the data and runs one untimed warm-up of every method on a small crop of every data set first.

Usage::

    python benchmarks/discovery.py --data-dir ../shared/data --threads 1 --timeout 300   # the reported run
    python benchmarks/discovery.py --data-dir ../shared/data --quick          # 1 seed, noise 0 and 1 %
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import multiprocessing as mp
import os
import platform
import re
import statistics
import sys
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

# --------------------------------------------------------------------------------------------------
# Benchmark definition
# --------------------------------------------------------------------------------------------------

DATASETS = {
    "burgers": {"file": "burgers.mat", "truth": ["u_t = -u*u_x + 0.1*u_xx"], "max_order": 4,
                "noises": [0.0, 0.01, 0.10]},
    "kdv": {"file": "kdv.mat", "truth": ["u_t = -6*u*u_x - u_xxx"], "max_order": 4,
            "noises": [0.0, 0.01, 0.10]},
    "ks": {"file": "kuramoto_sivishinky.mat", "truth": ["u_t = -u*u_x - u_xx - u_xxxx"], "max_order": 4,
           "noises": [0.0, 0.01, 0.10]},
    "ac": {"file": "AC.mat", "truth": ["u_t = 0.0001*u_xx - 5*u**3 + 5*u"], "max_order": 4,
           "noises": [0.0, 0.01, 0.10]},
    "nls": {"file": "nls.mat",
            "truth": ["a_t = -0.5*b_xx - a**2*b - b**3", "b_t = 0.5*a_xx + a**3 + a*b**2"],
            "max_order": 2, "noises": [0.0, 0.01]},
}
ALIASES = {"burgers": "burgers", "kdv": "kdv", "ks": "ks", "kuramoto_sivishinky": "ks", "kuramoto": "ks",
           "ac": "ac", "allen_cahn": "ac", "nls": "nls"}
METHODS = ["pdelearn", "pysindy-fd", "pysindy-sfd", "pysindy-weak", "pysindy-weak-t0.1", "pysindy-weak-default",
           "pysindy-weak-aicc", "pysindy-weak-best"]
DEFAULT_METHODS = ["pdelearn", "pysindy-weak-default", "pysindy-weak-aicc", "pysindy-weak-best"]
PEER = "pysindy-weak-aicc"  #: the PySINDy row the time ratio and headline comparisons use
DEVELOPMENT_SEEDS = [0, 1, 2]  #: seeds looked at while developing pdelearn's defaults (not out of sample)
MAX_POWER = 3
STLSQ_KW = {"threshold": 2.0, "alpha": 1e-5, "normalize_columns": True}  # PySINDy PDE-FIND example
WEAK_K = 500
SAVGOL = {"window_length": 11, "polyorder": 3}  # SmoothedFiniteDifference's defaults
TARGETS = {"max_rel_error": {0.0: 0.01, 0.01: 0.01, 0.10: 0.05}}


# --------------------------------------------------------------------------------------------------
# Data and noise (run inside the worker)
# --------------------------------------------------------------------------------------------------

_CLEAN: dict = {}


def _clean(data_dir: str, key: str):
    if key not in _CLEAN:
        from pdelearn.data import load_grid_data

        _CLEAN[key] = load_grid_data(os.path.join(data_dir, DATASETS[key]["file"]))
    return _CLEAN[key]


def noisy_grid(data_dir: str, key: str, noise: float, seed: int):
    """The data set with Gaussian noise of ``noise * std(field)``, one generator per (case, seed)."""
    from pdelearn.data import from_arrays

    grid = _clean(data_dir, key)
    rng = np.random.default_rng(seed)
    fields = {}
    for name, u in grid.fields.items():  # fields in a fixed order: a then b for nls
        fields[name] = u + noise * float(np.std(u)) * rng.standard_normal(u.shape) if noise > 0 else u.copy()
    return from_arrays(fields, dict(grid.coords))


def _digest(grid) -> str:
    h = hashlib.sha1()
    for name, u in grid.fields.items():
        h.update(name.encode())
        h.update(np.ascontiguousarray(u).tobytes())
    return h.hexdigest()[:12]


# --------------------------------------------------------------------------------------------------
# PySINDy feature names -> pdelearn term keys
# --------------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"x(\d+)(?:_(1+))?(?:\^(\d+))?")


def sindy_term(name: str, fields: tuple[str, ...]) -> str:
    """``'x0^2x0_11'`` -> ``'u**2*u_xx'`` (as a sympy product, canonicalised by pdelearn later).

    PySINDy names a feature by concatenating the polynomial factor (``x0``, ``x0^2``, ``x0 x1^2``)
    and the derivative factor (``x0_1``, ``x1_11``: one ``1`` per derivative in spatial axis 1).
    """
    import sympy

    name = name.strip()
    if name == "1":
        return "1"
    expr = sympy.Integer(1)
    pos = 0
    compact = name.replace(" ", "")
    while pos < len(compact):
        m = _TOKEN.match(compact, pos)
        if not m:
            raise ValueError(f"cannot read PySINDy feature name {name!r} at {compact[pos:]!r}")
        field = fields[int(m.group(1))]
        sym = sympy.Symbol(f"{field}_{'x' * len(m.group(2))}" if m.group(2) else field)
        expr = expr * sym ** int(m.group(3) or 1)
        pos = m.end()
    return str(expr)


def _coef_equation(C, names, fields):
    """A pdelearn Equation (or EquationSystem) from PySINDy coefficients ``C`` (fields, features) and feature names."""
    from pdelearn.equation import Equation, EquationSystem

    eqs = []
    for i, field in enumerate(fields):
        terms: dict[str, float] = {}
        for n, c in zip(names, C[i]):
            if c != 0:
                key = sindy_term(n, fields)
                terms[key] = terms.get(key, 0.0) + float(c)
        eqs.append(Equation(f"{field}_t", terms, fields, ("x",)))
    return eqs[0] if len(eqs) == 1 else EquationSystem(eqs)


def sindy_equation(model, fields: tuple[str, ...]):
    """A pdelearn Equation (or EquationSystem) from a fitted PySINDy model's nonzero coefficients."""
    return _coef_equation(np.asarray(model.coefficients()), model.get_feature_names(), fields)


def library_keys_match() -> dict:
    """Check that PySINDy's libraries and pdelearn's default library hold the same terms."""
    import pysindy as ps

    from pdelearn.equation import Equation
    from pdelearn.terms import polynomial_library

    out = {}
    for fields, order in ((("u",), 4), (("a", "b"), 2)):
        x, t = np.linspace(0, 1, 16), np.linspace(0, 1, 12)
        U = np.random.default_rng(0).standard_normal((16, 12, len(fields)))
        lib = ps.PDELibrary(function_library=ps.PolynomialLibrary(degree=MAX_POWER, include_bias=False),
                            derivative_order=order, spatial_grid=x, include_bias=True)
        model = ps.SINDy(feature_library=lib, optimizer=ps.STLSQ(threshold=0.0))
        model.fit(U, t=t)
        sindy = {k for n in model.get_feature_names()
                 for k in Equation(f"{fields[0]}_t", {sindy_term(n, fields): 1.0}, fields, ("x",)).coefficients}
        mine = set(polynomial_library(fields, ("x",), MAX_POWER, order).keys)
        out["+".join(fields)] = {"pysindy_terms": len(model.get_feature_names()), "pdelearn_terms": len(mine),
                                 "same_terms": sindy == mine}
    return out


# --------------------------------------------------------------------------------------------------
# Methods (run inside the worker)
# --------------------------------------------------------------------------------------------------


def _sindy_inputs(grid):
    fields = tuple(grid.fields)
    U = np.stack([grid.fields[f] for f in fields], axis=-1)  # (nx, nt, n_fields)
    return fields, U, grid.coords["x"], grid.coords["t"]


def run_pdelearn(grid, max_order):
    from pdelearn.discovery import discover

    d = discover(grid) if max_order == 4 else discover(grid, max_order=max_order)
    return d.equation, {"internal_wall_time_s": d.wall_time_s, "reliable": d.reliable,
                        "flags": d.unexplained + d.warnings}


def run_pysindy_fd(grid, max_order):
    import pysindy as ps

    fields, U, x, t = _sindy_inputs(grid)
    lib = ps.PDELibrary(function_library=ps.PolynomialLibrary(degree=MAX_POWER, include_bias=False),
                        derivative_order=max_order, spatial_grid=x, include_bias=True)
    model = ps.SINDy(feature_library=lib, optimizer=ps.STLSQ(**STLSQ_KW))
    model.fit(U, t=t)
    return sindy_equation(model, fields), {}


def run_pysindy_sfd(grid, max_order):
    import functools

    import pysindy as ps
    from scipy.signal import savgol_filter

    fields, U, x, t = _sindy_inputs(grid)
    space = {"smoother": functools.partial(savgol_filter, axis=0), "smoother_kws": dict(SAVGOL)}
    lib = ps.PDELibrary(function_library=ps.PolynomialLibrary(degree=MAX_POWER, include_bias=False),
                        derivative_order=max_order, spatial_grid=x, include_bias=True,
                        differentiation_method=ps.SmoothedFiniteDifference, diff_kwargs=space)
    dt = ps.SmoothedFiniteDifference(axis=-2, smoother=functools.partial(savgol_filter, axis=-2),
                                     smoother_kws=dict(SAVGOL))
    model = ps.SINDy(feature_library=lib, optimizer=ps.STLSQ(**STLSQ_KW), differentiation_method=dt)
    model.fit(U, t=t)
    return sindy_equation(model, fields), {}


def _weak(grid, max_order, seed, threshold):
    import pysindy as ps

    fields, U, x, t = _sindy_inputs(grid)
    XT = np.stack(np.meshgrid(x, t, indexing="ij"), axis=-1)
    np.random.seed(seed)  # WeakPDELibrary draws its subdomains from the global generator
    lib = ps.WeakPDELibrary(function_library=ps.PolynomialLibrary(degree=MAX_POWER, include_bias=False),
                            derivative_order=max_order, spatiotemporal_grid=XT, include_bias=True, K=WEAK_K)
    model = ps.SINDy(feature_library=lib, optimizer=ps.STLSQ(**{**STLSQ_KW, "threshold": threshold}))
    model.fit(U, t=t)
    return sindy_equation(model, fields), {}


def run_pysindy_weak(grid, max_order, seed=0):
    return _weak(grid, max_order, seed, STLSQ_KW["threshold"])


def run_pysindy_weak_01(grid, max_order, seed=0):
    return _weak(grid, max_order, seed, 0.1)


# -- PySINDy's weak form with the threshold chosen by a rule (same K as pdelearn's rows) ------------------------

SWEEP = np.logspace(-4, 2, 49)  #: thresholds tried by the sweep (normalised columns)
_FEATURES: dict = {}  # worker-local cache: (data digest, seed) -> weak features, so the variants build them once
_ROWS: dict = {}  # worker-local cache: data set -> pdelearn's number of test functions on the clean data


def pdelearn_rows(data_dir: str, key: str) -> int:
    """Test functions of pdelearn's default weak form on this data set (the K given to PySINDy)."""
    if key not in _ROWS:
        from pdelearn.discovery import discover

        _ROWS[key] = int(discover(_clean(data_dir, key), max_order=DATASETS[key]["max_order"]).options["rows"])
    return _ROWS[key]


def _weak_features(grid, max_order, seed, K, form="weak"):
    """PySINDy's features ``X (rows, terms)``, targets ``Y (rows, fields)`` and feature names; and the build time.

    ``form="weak"``: ``WeakPDELibrary`` with ``K`` subdomains; ``form="fd"``: ``PDELibrary`` (finite
    differences, every grid point a row; ``K`` unused).
    """
    import pysindy as ps

    cache_key = (_digest(grid), seed, K, form)
    if cache_key not in _FEATURES:
        t0 = time.perf_counter()
        fields, U, x, t = _sindy_inputs(grid)
        poly = ps.PolynomialLibrary(degree=MAX_POWER, include_bias=False)
        if form == "fd":
            lib = ps.PDELibrary(function_library=poly, derivative_order=max_order, spatial_grid=x, include_bias=True)
        else:
            XT = np.stack(np.meshgrid(x, t, indexing="ij"), axis=-1)
            np.random.seed(seed)  # WeakPDELibrary draws its subdomains from the global generator
            lib = ps.WeakPDELibrary(function_library=poly, derivative_order=max_order, spatiotemporal_grid=XT,
                                    include_bias=True, K=K)
        opt = ps.STLSQ(threshold=0.0)
        seen = {}
        fit = opt.fit
        opt.fit = lambda X, Y, **kw: (seen.update(X=np.asarray(X), Y=np.asarray(Y)), fit(X, Y, **kw))[1]
        model = ps.SINDy(feature_library=lib, optimizer=opt)
        model.fit(U, t=t)
        _FEATURES.clear()  # one case at a time
        _FEATURES[cache_key] = (seen["X"], seen["Y"].reshape(len(seen["X"]), -1), model.get_feature_names(), fields,
                                time.perf_counter() - t0)
    return _FEATURES[cache_key]


def _stlsq(X, Y, threshold):
    """PySINDy's STLSQ (same alpha and column normalisation as the other rows) -> coefficients (fields, terms)."""
    import pysindy as ps

    opt = ps.STLSQ(**{**STLSQ_KW, "threshold": float(threshold)})
    opt.fit(X, Y)
    return np.atleast_2d(opt.coef_)


def _aicc(X, Y, C) -> float:
    """Corrected Akaike criterion summed over the equations: n ln(RSS/n) + 2k + 2k(k+1)/(n-k-1)."""
    n = X.shape[0]
    total = 0.0
    for j in range(Y.shape[1]):
        r = Y[:, j] - X @ C[j]
        k = int(np.count_nonzero(C[j]))
        total += n * np.log(max(float(r @ r) / n, 1e-300)) + 2 * k + 2 * k * (k + 1) / max(n - k - 1, 1)
    return total


def _weak_rule(grid, max_order, seed=0, K=WEAK_K, rule="default", truth=None, form="weak"):
    """One weak-form PySINDy row. ``rule``: "default" (STLSQ's own threshold 0.1), "aicc" (sweep scored by
    AICc, usable on real data) or "best" (the sweep's threshold closest to the truth: an upper bound).
    ``form="fd"`` uses PySINDy's finite-difference features instead (:func:`_weak_features`)."""
    X, Y, names, fields, build_s = _weak_features(grid, max_order, seed, K, form)
    t0 = time.perf_counter()
    if rule == "default":
        C, thr = _stlsq(X, Y, 0.1), 0.1
    else:
        fits = [(thr, _stlsq(X, Y, thr)) for thr in SWEEP]
        if rule == "aicc":
            thr, C = min(fits, key=lambda f: _aicc(X, Y, f[1]))
        else:
            def score(f):
                cmp = _coef_equation(f[1], names, fields).compare(truth)
                return (not cmp["exact_support"], len(cmp["missing"]) + len(cmp["extra"]), cmp["max_rel_error"])
            thr, C = min(fits, key=score)
    eq = _coef_equation(C, names, fields)
    return eq, {"threshold": float(thr), "K": int(X.shape[0]), "timed_s": build_s + time.perf_counter() - t0}


RUNNERS = {"pdelearn": run_pdelearn, "pysindy-fd": run_pysindy_fd, "pysindy-sfd": run_pysindy_sfd,
           "pysindy-weak": run_pysindy_weak, "pysindy-weak-t0.1": run_pysindy_weak_01}
RULES = {"pysindy-weak-default": "default", "pysindy-weak-aicc": "aicc", "pysindy-weak-best": "best"}


def run_case(data_dir: str, key: str, noise: float, seed: int, method: str) -> dict:
    """One (data set, noise, seed, method): fit, time and score."""
    from pdelearn.equation import parse_equation

    spec = DATASETS[key]
    row = {"dataset": key, "file": spec["file"], "noise": noise, "seed": seed, "method": method}
    grid = noisy_grid(data_dir, key, noise, seed)
    row["data_sha1"] = _digest(grid)
    truth = parse_equation(spec["truth"][0] if len(spec["truth"]) == 1 else spec["truth"])
    if method in RULES:
        runner = _weak_rule
        kwargs = {"seed": seed, "K": pdelearn_rows(data_dir, key), "rule": RULES[method], "truth": truth}
    else:
        runner = RUNNERS[method]
        kwargs = {"seed": seed} if method.startswith("pysindy-weak") else {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            eq, extra = runner(grid, spec["max_order"], **kwargs)
        except Exception as exc:  # a peer failing is a result, not a crash
            row.update(status="failed", reason=f"{type(exc).__name__}: {exc}"[:500],
                       traceback=traceback.format_exc(limit=4)[-1500:],
                       wall_time_s=time.perf_counter() - t0)
            return row
        row["wall_time_s"] = time.perf_counter() - t0
        row["cpu_time_s"] = time.process_time() - c0
    if "timed_s" in extra:  # weak-form rule rows share one feature build: each is timed as if run alone
        row["wall_time_s"] = row["cpu_time_s"] = extra.pop("timed_s")
    row.update(extra)
    msgs = sorted({str(w.message).strip()[:200] for w in caught})
    if msgs:
        row["warnings"] = msgs[:5]
    cmp = eq.compare(truth)
    row.update(status="ok", equation=eq.format(4), terms=eq.to_dict(), exact_support=bool(cmp["exact_support"]),
               missing=cmp["missing"], extra=cmp["extra"], max_rel_error=float(cmp["max_rel_error"]))
    return row


def _warm_up(data_dir: str, keys, methods):
    """Untimed first call of every method on a small crop of every data set.

    This takes imports, first-call set-up and per-library caches (pdelearn compiles each library once)
    out of the timings, for all methods alike.
    """
    from pdelearn.data import from_arrays

    for key in keys:
        grid = _clean(data_dir, key)
        crop = from_arrays({k: v[:128:2, :60:2] for k, v in grid.fields.items()},
                           {"x": grid.coords["x"][:128:2], "t": grid.coords["t"][:60:2]})
        for m in methods:
            kwargs = {"seed": 0} if m.startswith("pysindy-weak") else {}
            try:
                if m in RULES:
                    pdelearn_rows(data_dir, key)
                    _weak_rule(crop, DATASETS[key]["max_order"], seed=0, K=100, rule="default")
                else:
                    RUNNERS[m](crop, DATASETS[key]["max_order"], **kwargs)
            except Exception:
                pass


def _worker_main(conn, data_dir, keys, methods):
    warnings.simplefilter("ignore")
    _warm_up(data_dir, keys, methods)
    conn.send("ready")
    while True:
        task = conn.recv()
        if task is None:
            break
        try:
            conn.send(run_case(data_dir, *task))
        except Exception as exc:
            key, noise, seed, method = task
            conn.send({"dataset": key, "noise": noise, "seed": seed, "method": method, "status": "failed",
                       "reason": f"benchmark error {type(exc).__name__}: {exc}"[:500]})


class Worker:
    """A spawned process that runs cases one at a time and can be killed on a timeout."""

    def __init__(self, data_dir: str, keys, methods):
        self.data_dir, self.keys, self.methods = data_dir, keys, methods
        self._start()

    def _start(self):
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, self.data_dir, self.keys, self.methods), daemon=True)
        self.proc.start()
        if not self.conn.poll(600) or self.conn.recv() != "ready":
            raise RuntimeError("benchmark worker did not start")

    def run(self, task, timeout: float) -> dict:
        self.conn.send(task)
        t0 = time.perf_counter()
        if self.conn.poll(timeout):
            try:
                return self.conn.recv()
            except EOFError:
                reason = f"worker died (exit code {self.proc.exitcode})"
        else:
            reason = f"timeout: no result after {timeout:g} s"
        key, noise, seed, method = task
        self.proc.kill()
        self.proc.join()
        self._start()
        return {"dataset": key, "noise": noise, "seed": seed, "method": method, "status": "failed",
                "reason": reason, "wall_time_s": time.perf_counter() - t0}

    def close(self):
        try:
            self.conn.send(None)
            self.proc.join(10)
        finally:
            if self.proc.is_alive():
                self.proc.kill()


# --------------------------------------------------------------------------------------------------
# Summary and reporting
# --------------------------------------------------------------------------------------------------


def summarise(rows: list[dict], methods) -> list[dict]:
    cases = sorted({(r["dataset"], r["noise"]) for r in rows},
                   key=lambda c: (list(DATASETS).index(c[0]), c[1]))
    out = []
    for key, noise in cases:
        by_method = {}
        for m in methods:
            rs = [r for r in rows if r["dataset"] == key and r["noise"] == noise and r["method"] == m]
            if not rs:
                continue
            ok = [r for r in rs if r["status"] == "ok"]
            errs = [r["max_rel_error"] for r in ok]
            oos = [r for r in rs if r["seed"] not in DEVELOPMENT_SEEDS]
            oos_errs = [r["max_rel_error"] for r in oos if r["status"] == "ok"]
            times = [r["wall_time_s"] for r in ok]
            cpus = [r["cpu_time_s"] for r in ok if "cpu_time_s" in r]
            s = {
                "dataset": key, "noise": noise, "method": m, "seeds": len(rs), "failed": len(rs) - len(ok),
                "exact_support_count": sum(bool(r.get("exact_support")) for r in rs),
                "exact_support_fraction": sum(bool(r.get("exact_support")) for r in rs) / len(rs),
                "max_rel_error_median": statistics.median(errs) if errs else None,
                "max_rel_error_worst": max(errs) if errs else None,
                "wall_time_median_s": statistics.median(times) if times else None,
                "cpu_time_median_s": statistics.median(cpus) if cpus else None,
                "failure_reasons": sorted({r["reason"] for r in rs if r["status"] != "ok"}),
                "out_of_sample_seeds": len(oos),
                "out_of_sample_exact_support_count": sum(bool(r.get("exact_support")) for r in oos),
                "out_of_sample_max_rel_error_worst": max(oos_errs) if oos_errs else None,
                "flagged_unreliable": sum(r.get("reliable") is False for r in rs),
            }
            by_method[m] = s
            out.append(s)
        pl, wk = by_method.get("pdelearn"), by_method.get(PEER) or by_method.get("pysindy-weak")
        if pl and wk and pl["wall_time_median_s"] and wk["wall_time_median_s"]:
            pl["time_ratio_vs_pysindy_weak"] = pl["wall_time_median_s"] / wk["wall_time_median_s"]
            if pl["cpu_time_median_s"] and wk["cpu_time_median_s"]:
                pl["cpu_time_ratio_vs_pysindy_weak"] = pl["cpu_time_median_s"] / wk["cpu_time_median_s"]
    return out


def _pct(v):
    if v is None:
        return "—"
    return f"{100 * v:.3g} %"


def markdown_table(summary: list[dict]) -> str:
    head = ("| dataset | noise | method | exact support | max rel. coef. error (median) | (worst) "
            f"| wall time (median s) | CPU time (median s) | pdelearn / {PEER} wall time (CPU time) "
            "| out of sample: exact, worst error | flagged |")
    lines = [head, "|" + "---|" * 11]
    for s in summary:
        n = s["seeds"]
        k = s["exact_support_count"]
        exact = f"{'yes' if k == n else 'no'} ({k}/{n})"
        if s["failed"]:
            exact += f", {s['failed']} failed"
        t = "—" if s["wall_time_median_s"] is None else f"{s['wall_time_median_s']:.2f}"
        c = "—" if s.get("cpu_time_median_s") is None else f"{s['cpu_time_median_s']:.2f}"
        ratio = s.get("time_ratio_vs_pysindy_weak")
        cratio = s.get("cpu_time_ratio_vs_pysindy_weak")
        rtext = "" if ratio is None else f"{ratio:.2f}" + ("" if cratio is None else f" ({cratio:.2f})")
        oos = (f"{s['out_of_sample_exact_support_count']}/{s['out_of_sample_seeds']}, "
               f"{_pct(s['out_of_sample_max_rel_error_worst'])}") if s["out_of_sample_seeds"] else "—"
        flagged = str(s["flagged_unreliable"]) if s["method"] == "pdelearn" else ""
        lines.append(f"| {s['dataset']} | {100 * s['noise']:g} % | {s['method']} | {exact} | "
                     f"{_pct(s['max_rel_error_median'])} | {_pct(s['max_rel_error_worst'])} | {t} | {c} | {rtext} "
                     f"| {oos} | {flagged} |")
    return "\n".join(lines)


def targets_check(summary: list[dict]) -> dict:
    """pdelearn: exact support everywhere; error <= 1 % at noise <= 1 %, <= 5 % at 10 %; time <= weak."""
    pl = [s for s in summary if s["method"] == "pdelearn"]
    support = [s for s in pl if s["exact_support_count"] != s["seeds"]]
    err = []
    for s in pl:
        limit = 0.01 if s["noise"] <= 0.01 else 0.05
        if s["max_rel_error_worst"] is None or s["max_rel_error_worst"] > limit:
            err.append(s)
    slow = [s for s in pl if (s.get("time_ratio_vs_pysindy_weak") or 0) > 1]
    incomparable = [s for s in pl if s.get("time_ratio_vs_pysindy_weak") is None]
    fmt = lambda ss: [f"{s['dataset']}@{100 * s['noise']:g}%" for s in ss]  # noqa: E731
    return {
        "exact_support_everywhere": {"met": not support, "misses": fmt(support)},
        "max_rel_error_within_limits_worst_seed": {"met": not err, "misses": fmt(err)},
        f"wall_time_not_above_{PEER.replace('-', '_')}_median": {"met": not slow, "misses": fmt(slow),
                                                     "no_weak_timing": fmt(incomparable)},
    }


def machine_info() -> dict:
    import importlib.metadata as md

    def ver(p):
        try:
            return md.version(p)
        except Exception:
            return None

    info = {
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": sys.version.split()[0],
        "versions": {p: ver(p) for p in ("numpy", "scipy", "pysindy", "pdelearn", "sympy", "torch", "scikit-learn")},
    }
    try:
        import subprocess

        root = Path(__file__).resolve().parent.parent
        git = lambda *a: subprocess.run(["git", *a], cwd=root, capture_output=True, text=True, timeout=10).stdout.rstrip("\n")  # noqa: E731
        info["git_commit"] = git("rev-parse", "HEAD") or None
        info["pdelearn_uncommitted_changes"] = git("status", "--porcelain", "--", "pdelearn").splitlines()
    except Exception:
        pass
    try:
        with open("/proc/cpuinfo") as f:
            names = [l.split(":", 1)[1].strip() for l in f if l.startswith("model name")]
        if names:
            info["cpu_model"] = names[0]
    except OSError:
        pass
    return info


# --------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", required=True, help="folder with burgers.mat, kdv.mat, ... (e.g. ../shared/data)")
    p.add_argument("--seeds", type=int, default=10,
                   help="noise seeds per case, 0..N-1 (default 10; seeds 0-2 were used in development)")
    p.add_argument("--first-seed", type=int, default=0,
                   help="first noise seed (seeds first..first+N-1); e.g. 10 for seeds not used in development")
    p.add_argument("--noises", type=float, nargs="+", default=None,
                   help="only these noise levels (fractions, e.g. 0.1), of each data set's own list")
    p.add_argument("--out", default="benchmarks/results/discovery.json", help="JSON output path")
    p.add_argument("--datasets", nargs="+", default=None,
                   help=f"subset of {sorted(DATASETS)} (file stems such as kuramoto_sivishinky or AC also work)")
    p.add_argument("--methods", nargs="+", default=DEFAULT_METHODS, choices=METHODS,
                   help=f"methods (default {' '.join(DEFAULT_METHODS)})")
    p.add_argument("--quick", action="store_true", help="smoke run: 1 seed, noise 0 and 1 %% only")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per method and case (default 120)")
    p.add_argument("--clean-once", action="store_true",
                   help="run noise-free cases with seed 0 only (their data do not depend on the seed; by default "
                        "they are repeated for every seed, which gives repeated timings and weak-form subdomains)")
    p.add_argument("--threads", type=int, default=None,
                   help="limit BLAS/OpenMP/torch threads of the worker (default: library defaults)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    t_start = time.perf_counter()
    keys = list(DATASETS)
    if args.datasets:
        keys = []
        for d in args.datasets:
            k = ALIASES.get(Path(d).stem.lower())
            if k is None:
                sys.exit(f"unknown data set {d!r}; choose from {sorted(DATASETS)}")
            if k not in keys:
                keys.append(k)
    missing = [DATASETS[k]["file"] for k in keys if not os.path.isfile(os.path.join(args.data_dir, DATASETS[k]["file"]))]
    if missing:
        sys.exit(f"missing data files in {args.data_dir}: {missing}")
    seeds = list(range(args.first_seed, args.first_seed + (1 if args.quick else args.seeds)))
    methods = list(dict.fromkeys(["pdelearn"] + list(args.methods))) if "pdelearn" in args.methods else list(args.methods)

    tasks = []
    for k in keys:
        noises = [n for n in DATASETS[k]["noises"] if not (args.quick and n > 0.01)
                  and (args.noises is None or any(abs(n - m) < 1e-12 for m in args.noises))]
        for noise in noises:
            for seed in (seeds if noise > 0 or not args.clean_once else seeds[:1]):
                for m in methods:
                    tasks.append((k, noise, seed, m))

    if args.threads:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
            os.environ[var] = str(args.threads)  # inherited by the spawned worker before it imports numpy
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    git_before = {k: v for k, v in machine_info().items() if k.startswith(("git_", "pdelearn_"))}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lib_check = library_keys_match()
    print(f"library check (PySINDy vs pdelearn terms): {lib_check}", flush=True)
    print(f"{len(tasks)} runs: data sets {keys}, seeds {seeds}, methods {methods}", flush=True)
    worker = Worker(os.path.abspath(args.data_dir), keys, methods)
    rows = []
    try:
        for i, task in enumerate(tasks, 1):
            row = worker.run(task, args.timeout)
            rows.append(row)
            status = (f"exact={row['exact_support']!s:5} err={row['max_rel_error']:.2e}" if row["status"] == "ok"
                      else f"FAILED {row['reason'][:80]}")
            print(f"[{i:3}/{len(tasks)}] {task[0]:8} noise={task[1]:<5g} seed={task[2]} {task[3]:18} "
                  f"{row.get('wall_time_s', float('nan')):7.2f} s  {status}", flush=True)
    finally:
        worker.close()

    # sanity: within a (data set, noise, seed) every method saw the same data
    for k, noise, seed in {(r["dataset"], r["noise"], r["seed"]) for r in rows}:
        digests = {r.get("data_sha1") for r in rows if (r["dataset"], r["noise"], r["seed"]) == (k, noise, seed)}
        digests.discard(None)
        if len(digests) > 1:
            raise RuntimeError(f"methods saw different data for {k} noise={noise} seed={seed}")

    summary = summarise(rows, methods)
    table = markdown_table(summary)
    checks = targets_check(summary) if "pdelearn" in methods else {}
    total = time.perf_counter() - t_start
    load_after = os.getloadavg() if hasattr(os, "getloadavg") else None
    print()
    print(table)
    print()
    for name, c in checks.items():
        misses = f" (misses: {', '.join(c['misses'])})" if c["misses"] else ""
        print(f"target {name}: {'met' if c['met'] else 'NOT met'}" + misses)
    print(f"total run time: {total:.1f} s (load average before {load_before}, after {load_after})")

    out = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "settings": {
            "seeds": seeds, "development_seeds": DEVELOPMENT_SEEDS, "peer": PEER,
            "pysindy_sweep_thresholds": [float(v) for v in SWEEP], "clean_cases_once": args.clean_once,
            "datasets": keys, "methods": methods, "quick": args.quick, "timeout_s": args.timeout,
            "library": {"max_power": MAX_POWER, "max_order": {k: DATASETS[k]["max_order"] for k in keys}},
            "noise": "u + noise * std(u) * N(0, 1), np.random.default_rng(seed), fields in order",
            "stlsq": STLSQ_KW, "weak_K": WEAK_K, "savgol": SAVGOL,
            "truth": {k: DATASETS[k]["truth"] for k in keys},
            "library_check": lib_check,
        },
        "machine": {**machine_info(), "threads_limit": args.threads,
                    "load_average_before": load_before, "load_average_after": load_after,
                    "git_at_start": git_before},
        "total_run_time_s": total,
        "summary": summary,
        "targets": checks,
        "rows": rows,
        "markdown_table": table,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1, default=lambda o: None if isinstance(o, float) and not math.isfinite(o) else str(o))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
