"""Equation discovery from gridded data: build ``b ~ G a`` and solve it sparsely.

Two ways to build the regression problem from the same term library:

* ``method="weak"`` (default, noise-robust): integrate against test functions
  (:mod:`pdelearn.weak`), so the data are never differentiated for the terms that matter;
* ``method="strong"``: pointwise derivatives (finite differences, smoothed differences or
  spectral, :mod:`pdelearn.grid`), as PDE-FIND does.
"""

from __future__ import annotations

import json
import time as _time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from .budget import REFINE_BUDGET, Budget, BudgetExceeded, check_budget, larger_budget
from .data import GridData, from_arrays
from .equation import Equation, EquationSystem
from .errors import ConfigError, DataError, TrainingError
from .gls import GLSFit, left_out_scores, refit as gls_refit
from .grid import METHODS, differentiate
from .refine import (REFINE_CHOICES, MAX_WORK, Refinement, applicable, no_space_derivative, refine as oe_refine,
                     uncertain)
from .reliability import (REFIT_AGREEMENT, WIDE_SCALE, explained as _explained, interchangeable_warnings,
                          refit_agrees, refit_check, scale_drops, stability_warnings, static_field, term_shares,
                          term_warnings, wide_rows)
from .runfiles import write_equation, write_json, write_npz, write_text
from .sparse import QUICK_WORK, SparseRegression, SparseResult, lstsq_on
from .terms import Derivative, Term, TermLibrary, polynomial_library
from .weak import WeakForm, weak_system

__all__ = ["discover", "Discovery", "split_terms"]


GLS_ALPHA = 0.01  #: level of the score test of left-out terms on the GLS rows (Bonferroni over the library)


def split_terms(terms) -> list[str]:
    """``"u*u_x, sin(u)"`` or a sequence of strings -> a list of term strings (split at top-level commas)."""
    if terms is None:
        return []
    if not isinstance(terms, str):
        return [t for item in terms for t in split_terms(item)]
    out, depth, start = [], 0, 0
    for i, ch in enumerate(terms):
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            out.append(terms[start:i])
            start = i + 1
    out.append(terms[start:])
    return [t.strip() for t in out if t.strip()]


@dataclass
class Discovery:
    """Result of :func:`discover`: the equation and how it was found."""

    equation: Union[Equation, EquationSystem]
    library: TermLibrary
    options: dict[str, Any]
    fits: list[SparseResult] = field(repr=False, default_factory=list)
    wall_time_s: float = 0.0
    refits: list[Optional[GLSFit]] = field(repr=False, default_factory=list)  #: GLS refit per equation
    #: why no equation explains the data (one reason per failing equation); empty when explained
    unexplained: list[str] = field(default_factory=list)
    #: doubts about parts of the equation (negligible terms, rejected refits); see pdelearn.reliability
    warnings: list[str] = field(default_factory=list)

    data: Optional[GridData] = field(repr=False, default=None)  #: the data the equation was found on
    #: output-error refinement per equation (None where it did not run); see pdelearn.refine
    refinements: list[Optional[Refinement]] = field(repr=False, default_factory=list)
    #: what the user should know that does not make the result unreliable (e.g. a refinement changed the support)
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return str(self.equation)

    def save(self, folder, source=None, picture: bool = True, load: Mapping | None = None,
             command: str | None = None, cli: Mapping | None = None) -> Path:
        """Write the run folder of ``pdelearn discover``: equation.json/.tex, options.json, summary.json.

        ``load``: the keyword arguments that read ``source`` (:func:`pdelearn.data.load_grid_data`),
        recorded so that ``simulate`` reads the file the same way. With ``picture``, also ``discovery.png`` (:func:`pdelearn.discovery_plot.plot_discovery`).

        ``options.json`` records what reproduces the run: the options, the library (``library``: every
        term's key, parsable by :meth:`Term.parse`, and name), the custom terms beyond the default
        polynomial library (``terms``) and whether that library was used (``default_library``), the
        versions of Python and the packages, and, from the CLI, the command line (``command``, run in
        ``cwd``) and every option (``cli``).

        ``source`` is the data file to record; without it the data are stored in the folder as
        ``data.npz``, so that ``pdelearn simulate FOLDER`` and ``pdelearn export FOLDER`` work on a
        discovery made in Python. The folder is created (with its parents); existing files are replaced.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        grid = self.data
        if source is None:
            if grid is None:
                raise ConfigError("this Discovery holds no data; pass source=<the data file>")
            write_npz(folder / "data.npz", dict(**grid.fields, **grid.coords))
            source = "data.npz"
        else:
            source = str(Path(source).resolve())
        verdict = {"reliable": self.reliable, "unexplained": self.unexplained, "warnings": self.warnings}
        write_equation(folder, self.equation, None if self.reliable else verdict)
        options = {"data": source, **({"fields": list(grid.fields), "coords": list(grid.coords),
                                       "time": grid.time, "shape": list(grid.shape)} if grid is not None else {}), **self.options}
        if load is not None:
            options["load"] = dict(load)
        options.update(self._provenance(command, cli))
        write_json(folder / "options.json", options, default=str)
        summary = {"wall_time_s": self.wall_time_s, "relative_residual": self.relative_residual,
                   "equation": str(self.equation), **verdict, "notes": self.notes,
                   "refinement": [None if r is None else r.summary() for r in self.refinements],
                   "gls_refit": [None if g is None else {"standard_errors": g.standard_errors, "rows": g.rows,
                                                         "radius": g.radius} for g in self.refits]}
        write_text(folder / "summary.json", json.dumps(summary, indent=2) + "\n")
        if grid is not None and picture:
            from .discovery_plot import plot_discovery

            plot_discovery(folder / "discovery.png", self)
        return folder

    def _provenance(self, command: str | None, cli: Mapping | None) -> dict[str, Any]:
        """The library, the custom terms, the versions and (from the CLI) the command line and its options."""
        import os

        from .provenance import versions

        lib, opts = self.library, self.options
        out: dict[str, Any] = {"library": {"keys": lib.keys, "names": lib.names}}
        if "max_power" in opts and "max_order" in opts:
            try:
                base = polynomial_library(lib.fields, lib.coords, opts["max_power"], opts["max_order"])
            except Exception:  # noqa: BLE001 - a library that no default could have made: every term is custom
                base = None
            keys = set(base.keys) if base is not None else set()
            out["default_library"] = default = bool(keys) and keys <= set(lib.keys)
            out["terms"] = [k for k in lib.keys if not default or k not in keys]
        out["versions"] = versions()
        if command is not None:
            out["command"], out["cwd"] = command, os.getcwd()
        if cli is not None:
            out["cli"] = dict(cli)
        return out

    @property
    def reliable(self) -> bool:
        """True when every equation explains its data and nothing was flagged."""
        return not (self.unexplained or self.warnings)

    @property
    def relative_residual(self) -> list[float]:
        """``||b - G a|| / ||b||`` per equation."""
        return [f.relative_residual for f in self.fits]


def _library_for(data: GridData, library, max_power: int, max_order: int, terms=None,
                 default_library: bool = True) -> TermLibrary:
    if library is None:
        fields, space = tuple(data.fields), data.space
        extra = [Term.parse(t, fields, space, max_order=max(max_order, 6)) for t in split_terms(terms)]
        if not default_library:
            if not extra:
                raise ConfigError("without the default library, give the candidate terms (--terms 'u_xx, u*u_x')")
            return TermLibrary(extra, fields, space)
        base = polynomial_library(fields, space, max_power, max_order)
        new = [t for t in extra if t.key not in base.keys]
        return TermLibrary(list(base) + new, fields, space) if new else base
    if terms:
        raise ConfigError("give either library= or terms=, not both (add the terms to the TermLibrary instead)")
    if not isinstance(library, TermLibrary):
        raise ConfigError(f"library must be a TermLibrary, received {type(library).__name__}")
    missing = [f for f in library.fields if f not in data.fields]
    if missing or tuple(library.coords) != tuple(data.space):
        raise DataError(
            f"the library uses fields {list(library.fields)} and coordinates {list(library.coords)}, but the "
            f"data has fields {list(data.fields)} and space coordinates {list(data.space)}; build the library "
            "with the data's names"
        )
    return library


_SPACE_SYMBOLS = ("x", "y", "z")


def _library_names(data: GridData) -> tuple[GridData, dict[str, str]]:
    """Rename coordinates to the library's symbols: time to ``t``, space to ``x, y, z`` unless they are single letters.

    Derivative names join coordinate names (``u_xx``), so ``ts`` or ``pos`` cannot be used as they are.
    Returns the data (renamed when needed) and ``{old: new}`` for the names that changed.
    """
    space = list(data.space)
    keep = all(len(c) == 1 and c.isalpha() and c != "t" for c in space) and len(space) <= 3
    new_space = space if keep else list(_SPACE_SYMBOLS[: len(space)])
    if len(new_space) < len(space):
        raise DataError(f"discover handles at most {len(_SPACE_SYMBOLS)} space coordinates, the data has {space}")
    mapping = {**dict(zip(space, new_space)), data.time: "t"}
    renamed = {k: v for k, v in mapping.items() if k != v}
    if not renamed:
        return data, {}
    clash = [v for v in renamed.values() if v in data.fields]
    if clash:
        raise DataError(f"the coordinates {list(renamed)} are renamed to {list(renamed.values())} for the term "
                        f"library, but fields are already named {clash}; rename those fields (e.g. --field)")
    coords = {mapping[k]: v for k, v in data.coords.items()}
    return GridData(dict(data.fields), coords, time="t"), renamed


def _strong_system(data: GridData, library: TermLibrary, lhs, derivative: str, trim: float, max_rows: int, seed: int):
    axes = list(data.coords)
    spacing = data.spacing
    cache: dict[str, np.ndarray] = {}

    def deriv(fieldname: str, wrt: tuple[str, ...]) -> np.ndarray:
        key = Derivative(fieldname, wrt).name
        if key not in cache:
            out = data.fields[fieldname]
            for c in dict.fromkeys(wrt):
                # time is never periodic: spectral differences would wrap the last snapshot onto the first
                how = "fd" if (derivative == "spectral" and c == data.time) else derivative
                out = differentiate(out, spacing[c], wrt.count(c), axis=axes.index(c), method=how)
            cache[key] = out
        return cache[key]

    inputs = {d.name: deriv(d.field, d.wrt) if d.wrt else data.fields[d.field] for d in library.derivatives}
    mesh = np.meshgrid(*[data.coords[a] for a in axes], indexing="ij")
    inputs.update({c: mesh[axes.index(c)] for c in library.coords})
    lhs_vals = [deriv(l.rsplit("_", 1)[0], (data.time,)) for l in lhs]
    # trim the edges of every axis, where differences are one-sided
    sl = tuple(slice(int(trim * n), n - int(trim * n)) for n in data.shape)
    from .compile import CompiledLibrary

    theta = CompiledLibrary(library).numpy({k: v[sl] for k, v in inputs.items()})
    G = theta.reshape(-1, len(library))
    b = np.stack([v[sl].reshape(-1) for v in lhs_vals], axis=-1)
    if G.shape[0] > max_rows:
        idx = np.random.default_rng(seed).choice(G.shape[0], max_rows, replace=False)
        G, b = G[idx], b[idx]
    return G, b, float(G.shape[0])


def discover(
    data: Union[GridData, Mapping[str, np.ndarray]],
    coords: Mapping[str, np.ndarray] | None = None,
    *,
    library: TermLibrary | None = None,
    max_power: int = 3,
    max_order: int = 4,
    method: str = "weak",
    derivative: str = "fd",
    weak: WeakForm | None = None,
    regression: SparseRegression | None = None,
    trim: float = 0.05,
    max_rows: int = 100_000,
    seed: int = 0,
    bootstrap: int = 0,
    refit: str = "gls",
    refine: str = "auto",
    terms: Sequence[str] | str | None = None,
    default_library: bool = True,
    progress=None,
    budget: float | None = REFINE_BUDGET,
) -> Discovery:
    """Discover ``u_t = sum_k a_k term_k`` from data on a uniform grid.

    Parameters
    ----------
    data
        A :class:`~pdelearn.data.GridData`, or ``{field: array}`` with ``coords`` (space
        coordinates then ``t``; arrays laid out space x time).
    library
        Candidate terms; default: :func:`~pdelearn.terms.polynomial_library` of all fields with
        powers ``0..max_power`` and derivative orders ``0..max_order``.
    method
        ``"weak"`` (default, robust to noise) or ``"strong"`` (pointwise derivatives).
    derivative
        For ``method="strong"``: ``"fd"``, ``"smooth"`` or ``"spectral"`` space derivatives (``"spectral"``
        needs periodic space axes; the time derivative then uses finite differences).
    weak, regression
        Settings of the test functions and of the sparse regression; the defaults are meant to
        work across data sets without tuning.
    bootstrap
        Number of bootstrap resamples of the regression rows for 95 % coefficient intervals on
        the selected terms (``Equation.intervals``); 0 disables. Rows of the weak form overlap, so
        the spread is widened by ``sqrt(n_rows / n_eff)`` to account for their correlation.
        The intervals are centred on the reported coefficients.
    terms, default_library
        Extra candidate terms as strings such as ``"u*u_x, sin(u)"`` (read by the safe parser, in the
        library's names: fields, ``x, y, z`` and derivatives like ``u_xx``), added to the default
        library, or replacing it when ``default_library=False``. Ignored when ``library`` is given.
    progress
        Optional ``progress(message)`` called at each stage (building the system, selecting,
        refitting each equation), e.g. to tell a user what a slow run is doing.
    refit
        ``"gls"`` (default, weak form only): refit the coefficients of the selected terms by
        generalized least squares over several test-function sizes (:func:`pdelearn.gls.refit`:
        correlated rows weighted by their linearised noise covariance; sharp fronts resolved by
        narrow test functions). ``"none"``: keep the least-squares fit of the selection.
    refine
        ``"auto"`` (default): when the selection is uncertain (:func:`pdelearn.refine.uncertain`: close to
        its threshold, or no space derivative selected on a field that varies in space) and the data are
        one field on a periodic 1-D grid, settle it by output-error fits of the simulated equation
        (:func:`pdelearn.refine.refine`: dropped terms put back by score tests, kept terms taken out
        by Wald/F-tests); the refined coefficients and their intervals are reported and
        ``Discovery.notes`` says what changed. ``"output-error"``: always refine (an error when the
        data do not suit a simulation). ``"none"``: never.
    budget
        Seconds the term selection may take, and each output-error refinement (default
        :data:`~pdelearn.budget.REFINE_BUDGET`, 300 s; None: no limit). Past it the refinement stops with its best
        equation so far, which is reported with a warning (``Discovery.reliable`` is False; the command line exits 3
        and names a larger ``--budget``); a selection of more than about a second's work
        (:data:`~pdelearn.sparse.QUICK_WORK`) raises :class:`~pdelearn.budget.BudgetExceeded` (the command line
        exits 3, writing nothing). A selection whose estimated work is above
        :data:`~pdelearn.limits.MAX_SELECTION_WORK` is refused before the regression is built.

    Returns
    -------
    Discovery
        ``.equation`` prints as ``u_t = 0.1 u_xx - 1 u u_x``.

    Examples
    --------
    >>> x = np.linspace(0, 2 * np.pi, 128, endpoint=False)
    >>> t = np.linspace(0, 1, 101)
    >>> u = np.exp(-0.5 * t) * np.sin(x)[:, None] + np.exp(-2 * t) * np.sin(2 * x)[:, None]  # u_t = 0.5 u_xx
    >>> print(discover({"u": u}, {"x": x, "t": t}, max_power=2, max_order=2).equation)
    u_t = 0.5 u_xx
    """
    t0 = _time.perf_counter()
    if not isinstance(data, GridData):
        if coords is None:
            raise DataError("pass coords={'x': ..., 't': ...} with a mapping of field arrays, or a GridData")
        data = from_arrays(data, coords)
    original, renamed = data, {}
    if library is None:
        data, renamed = _library_names(data)
    lib = _library_for(data, library, max_power, max_order, terms, default_library)
    if method not in ("weak", "strong"):
        raise ConfigError(f"method must be 'weak' or 'strong', received {method!r}")
    if derivative not in METHODS:
        raise ConfigError(f"derivative must be one of {METHODS}, received {derivative!r}")
    from .intervals import check_bootstrap  # an integer in 0..MAX_BOOTSTRAP (pdelearn.limits)

    bootstrap = check_bootstrap(bootstrap)
    if not (isinstance(trim, (int, float)) and 0 <= trim < 0.5):
        raise ConfigError(f"trim must be a fraction in [0, 0.5) of each axis, received {trim!r}")
    if refit not in ("gls", "none"):
        raise ConfigError(f"refit must be 'gls' or 'none', received {refit!r}")
    if refine not in REFINE_CHOICES:
        raise ConfigError(f"refine must be one of {list(REFINE_CHOICES)}, received {refine!r}")
    if refine == "output-error":
        why = applicable(data, lib)
        if why:
            raise DataError(f"refine='output-error' cannot run: {why}; use refine='auto' or 'none'")
    budget = check_budget(budget, "budget (seconds of the term selection and of each output-error refinement)")
    if isinstance(max_rows, bool) or not isinstance(max_rows, (int, np.integer)) or max_rows < 1:
        raise ConfigError(f"max_rows must be an integer >= 1, received {max_rows!r}")
    weak = weak or WeakForm()
    regression = regression or SparseRegression()
    regression.check_work(None, len(lib))  # the selection's work that does not depend on the rows, before building them
    lhs = [f"{f}_{data.time}" for f in lib.fields]
    say = progress or (lambda message: None)
    say(f"building the {method}-form regression of {', '.join(lhs)} on {len(lib)} candidate terms")
    with np.errstate(all="ignore"):  # a custom term such as log(u) may be undefined on the data: named below
        if method == "weak":
            G, b, n_eff = weak_system(data.fields, data.coords, lib, lhs, weak, time=data.time)
        else:
            G, b, n_eff = _strong_system(data, lib, lhs, derivative, trim, max_rows, seed)
    bad = [lib[i].name for i in np.flatnonzero(~np.all(np.isfinite(G), axis=0))]
    if bad:
        raise DataError(f"the term(s) {', '.join(bad)} are NaN or inf on the data (e.g. log or sqrt of a negative "
                        "value, division by zero); remove them from the library or shift the data")
    say(f"selecting terms ({G.shape[0]} rows)")
    fits = _select_terms(regression, G, b, n_eff, lhs, budget)
    wide = wide_rows(data.fields, data.coords, lib, lhs, weak, data.time)  # for the scale check (weak form)
    eqs, refits, unexplained, warns, refinements, notes = [], [], [], [], [], []
    for j, (l, fit) in enumerate(zip(lhs, fits)):
        reason = static_field(lib.fields[j], data.fields[lib.fields[j]]) or _explained(l, fit.relative_residual,
                                                                                        int(fit.support.sum()))
        dropped = scale_drops(G, b[:, j], fit, regression, lambda: wide(j)) if method == "weak" and not reason else []
        if dropped:  # terms of one test-function scale only (discretisation error of the narrow rows)
            fit = fits[j] = _without(fit, G, b[:, j], [k for k, _, _ in dropped])
            gone = ", ".join(f"{lib[k].name} ({c:.4g}; {cw:.4g} on test functions {WIDE_SCALE:g} times as wide)"
                             for k, c, cw in dropped)
            notes.append(f"{l}: dropped {gone}: a term of the equation would not depend on the test functions' scale, "
                         "and the wider ones fit as well without it (least-squares coefficients, no GLS refit on the "
                         "narrow test functions)")
        support = np.flatnonzero(fit.support)
        coef = fit.coefficients[support]
        gls = None
        if reason:
            unexplained.append(reason)
        if method == "weak" and refit == "gls" and support.size and not reason and not dropped:
            say(f"GLS refit of {l} ({support.size} terms)")
            rejected: list = []
            allowed = max(regression.f_crit * fit.sigma2 * support.size, regression.tol**2 * fit.b_norm2)
            gls = gls_refit(data.fields, data.coords, lib.select([lib[i] for i in support]), l, weak, time=data.time,
                            accept=refit_check(G, b[:, j], support, fit.rss, allowed, rejected))
            if gls is not None:
                coef = gls.coefficients
            elif rejected and not regression.noise_limited(fit) and refit_agrees(coef, rejected):
                notes.append(_refit_warning(l, [lib[i].name for i in support], coef, rejected, agrees=True))
            elif rejected:
                warns.append(_refit_warning(l, [lib[i].name for i in support], coef, rejected))
        # doubts of the weak form (see pdelearn.reliability); an output-error refinement can settle them
        doubts = (stability_warnings(l, lib.names, G, b[:, j], fit, regression, lambda: wide(j),
                                     [k for k, _, _ in dropped])
                  if method == "weak" and not reason else [])
        if gls is not None and regression.noise_limited(fit):
            doubts += [_scale_conflict(l, lib, d) for d in gls.disagreements]
            doubts += _gls_misses(data, lib, l, gls)
        ref = None
        if refine != "none" and support.size and not reason:
            also = [f"{lib[k].name} was dropped as a term of one test-function scale" for k, _, _ in dropped]
            ref = _refine(data, lib, l, support, coef, fit, regression, refine, say, warns, notes, doubts, also,
                          budget)
        std = None if gls is None else gls.std
        if ref is not None:  # the output-error coefficients (maximum likelihood under white noise)
            support = np.array([lib.names.index(n) for n in ref.final])
            coef = np.array([ref.coefficients[n] for n in ref.final])
            std = np.array([ref.std_errors[n] for n in ref.final])
        refinements.append(ref)
        if not reason:
            names = [lib[i].name for i in support]
            warns += term_warnings(l, names, term_shares(G, b[:, j], support, coef), coef, std)
            if ref is None:  # the simulation settled the doubts when it ran
                warns += doubts
                local = no_space_derivative(names, lib, data) if regression.noise_limited(fit) else None
                if local:
                    warns.append(f"{l}: {local}; no output-error check settled it (refine={refine!r})")
            if support.size:  # no simulation settles this one: it is a property of the data
                warns += interchangeable_warnings(l, lib.names, G, b[:, j], support, fit, regression)
        refits.append(gls)
        intervals = _bootstrap_intervals(G, b[:, j], support, coef, bootstrap, n_eff, seed) if bootstrap else None
        if ref is not None:
            intervals = np.array([ref.equation.intervals[lib[i].key] for i in support])
        eqs.append(
            Equation(
                l,
                {lib[i]: float(c) for i, c in zip(support, coef)},
                lib.fields,
                lib.coords,
                intervals={lib[i].key: iv for i, iv in zip(support, intervals)} if intervals is not None else None,
            )
        )
    options = {
        "method": method,
        "derivative": derivative if method == "strong" else None,
        "max_power": max_power,
        "max_order": max_order,
        "library_size": len(lib),
        "rows": int(G.shape[0]),
        "weak": {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in asdict(weak).items()},
        "regression": asdict(regression),
        "bootstrap": bootstrap,
        "refit": refit if method == "weak" else "none",
        "refine": refine,
        "budget": budget,
        "renamed_coords": renamed,
    }
    equation = eqs[0] if len(eqs) == 1 else EquationSystem(eqs)
    return Discovery(equation, lib, options, fits, _time.perf_counter() - t0, refits, unexplained, warns, original,
                     refinements, notes)


def _select_terms(regression: SparseRegression, G, b, n_eff, lhs, budget: float | None) -> list[SparseResult]:
    """The sparse selection of every equation, within ``budget`` seconds together (None: no limit) when its work is
    above :data:`~pdelearn.sparse.QUICK_WORK` (below it, about a second or less, the work limit bounds it)."""
    quick = regression.work(G.shape[0], G.shape[1]) * b.shape[1] <= QUICK_WORK
    clock = Budget(None if quick else budget, "the term selection")
    fits: list[SparseResult] = []
    try:
        for j in range(b.shape[1]):
            clock.what = f"the term selection of {lhs[j]} ({G.shape[1]} candidate terms, {G.shape[0]} rows)"
            fits.append(regression.fit(G, b[:, j], n_eff=n_eff, budget=clock))
    except BudgetExceeded as exc:
        more = larger_budget(clock.seconds)
        raise BudgetExceeded(f"{exc}; no equation was selected: rerun with a larger budget (pdelearn discover --budget "
                             f"{more}, or discover(budget={more})), or with fewer candidate terms") from None
    return fits


def _refine(data, lib, lhs, support, coef, fit, regression, how, say, warns, notes, flagged,
            also=(), budget: float | None = REFINE_BUDGET) -> Optional[Refinement]:
    """Run the output-error refinement of one equation when ``how`` and the selection call for it.

    ``flagged``: warnings of the weak-form checks; they count as doubts the refinement can settle.
    ``also``: further reasons to run it that are not warnings (a term dropped by the scale rule).
    """
    doubts = ["requested"] if how == "output-error" else (
        uncertain(fit, regression, [lib[i].name for i in support], lib, data)
        + [w.split(": ", 1)[-1] for w in flagged] + list(also))
    if not doubts:
        return None
    why = applicable(data, lib)
    if why:
        notes.append(f"{lhs}: the selection is uncertain ({'; '.join(doubts)}), but no output-error check ran: {why}")
        return None
    try:
        ref = oe_refine(data, lib, lhs, support, coef, reasons=doubts, progress=say,
                        max_work=MAX_WORK if how == "auto" else None, budget=budget)
    except ConfigError as exc:
        notes.append(f"{lhs}: the selection is uncertain ({'; '.join(doubts)}), but no output-error check ran: {exc}")
        return None
    except TrainingError as exc:
        warns.append(f"{lhs}: the selection is uncertain ({'; '.join(doubts)}) and the output-error check failed "
                     f"({exc}); the weak-form equation is reported")
        return None
    notes.append(ref.note())
    warns += ref.unresolved_warnings()  # not settled: below what the simulation resolves, or past the time budget
    return ref


def _gls_misses(data: GridData, lib: TermLibrary, lhs: str, gls: GLSFit) -> list[str]:
    """The doubt of left-out terms that the GLS rows find significant (score test, Bonferroni over the library)."""
    from scipy.stats import chi2

    scores = left_out_scores(data.fields, data.coords, lib, lhs, gls, time=data.time)
    if not scores:
        return []
    crit = float(chi2.isf(GLS_ALPHA / len(scores), 1))
    hits = sorted(((f, k) for k, f in scores.items() if f > crit), reverse=True)
    if not hits:
        return []
    names = {t.key: t.name for t in lib}
    listed = ", ".join(f"{names[k]} (F = {f:.3g})" for f, k in hits[:3]) + (f" and {len(hits) - 3} more" if len(hits) > 3
                                                                           else "")
    return [f"{lhs}: on the GLS rows, left-out terms are significant: {listed}, above the {crit:.3g} of a "
            f"{100 * GLS_ALPHA:g} % level over {len(scores)} candidates; the support may lack a term"]


def _scale_conflict(lhs: str, lib: TermLibrary, d: dict) -> str:
    """The doubt of a GLS refit contradicted by the refit on the other test-function size (noisy data)."""
    name = next((t.name for t in lib if t.key == d["term"]), d["term"])
    radius = ", ".join(f"{a} {r:g}" for a, r in d["other_radius"].items())
    return (f"{lhs}: the GLS refits on two test-function sizes disagree on {name}: {d['coefficient']:.4g} +- {d['std']:.2g} "
            f"against {d['other']:.4g} +- {d['other_std']:.2g} (radius {radius}), {d['z']:.3g} combined standard "
            "errors apart; one of them carries an error its noise model does not describe")


def _without(fit: SparseResult, G: np.ndarray, b: np.ndarray, drop: Sequence[int]) -> SparseResult:
    """``fit`` with the columns ``drop`` taken out of its support (least squares on the rest)."""
    from dataclasses import replace

    support = fit.support.copy()
    support[list(drop)] = False
    w = lstsq_on(G, b, support)
    r = b - G @ w
    return replace(fit, coefficients=w, support=support, rss=float(r @ r))


def _refit_warning(lhs: str, names, coef, rejected, agrees: bool = False) -> str:
    """Say that the GLS refit disagreed with the selection, naming the term it moved most.

    ``agrees``: the data are not noise-limited and no coefficient moved by more than
    :data:`pdelearn.reliability.REFIT_AGREEMENT` of it (a note, not a warning).
    """
    fit, discrepancy = max(rejected, key=lambda r: r[1])
    k = int(np.argmax(np.abs(fit.coefficients - coef) / np.maximum(fit.std, 1e-300)))
    moved = (f"{names[k]} from {coef[k]:.4g} to {fit.coefficients[k]:.4g} +- {fit.std[k]:.2g}, {discrepancy:.3g} times "
             "the selection's tolerance")
    if agrees:
        return (f"{lhs}: the GLS refit was not used: the residual is discretisation error, not noise, and the refit "
                f"would change {moved}, every coefficient by at most {100 * REFIT_AGREEMENT:g} %; the least-squares "
                "coefficients are reported")
    return (f"{lhs}: the GLS refit disagrees with the selected fit beyond its noise level (it would change {moved}); "
            "the least-squares coefficients are reported")


def _bootstrap_intervals(G, b, support, centre, n_boot: int, n_eff: float, seed: int) -> np.ndarray:
    """95 % percentile intervals ``(len(support), 2)`` of the refitted coefficients, about ``centre``."""
    from .intervals import bootstrap_draws

    n = G.shape[0]
    A = G[:, support]
    est = np.linalg.lstsq(A, b, rcond=None)[0]
    draws = bootstrap_draws(A, b, n_boot, seed)
    widen = np.sqrt(max(n / max(n_eff, 1.0), 1.0))
    lo, hi = np.percentile(draws, [2.5, 97.5], axis=0)
    return np.stack([centre - widen * (est - lo), centre + widen * (hi - est)], axis=-1)
