"""Equation discovery from gridded data: build ``b ~ G a`` and solve it sparsely.

Two ways to build the regression problem from the same term library:

* ``method="weak"`` (default, noise-robust): integrate against test functions
  (:mod:`pdelearn.weak`), so the data are never differentiated for the terms that matter;
* ``method="strong"``: pointwise derivatives (finite differences, smoothed differences or
  spectral, :mod:`pdelearn.grid`), as PDE-FIND does.

:func:`discover` composes the stages of :mod:`pdelearn.discovery_stages` (system, selector, checks, refit,
verifier, intervals); :func:`stages_from_options` maps its option strings to them.
"""

from __future__ import annotations

import json
import time as _time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from .budget import REFINE_BUDGET, check_budget
from .data import GridData, from_arrays
from .discovery_stages import (  # noqa: F401 - their former home, imported from here
    GLS_ALPHA,
    BootstrapIntervals,
    EquationReport,
    Findings,
    GLSRefit,
    LinearSystem,
    Stages,
    StrongFormSystem,
    WeakFormSystem,
    _refit_warning,
    _scale_conflict,
    build_system,
    report_equation,
    select_terms,
)
from .equation import Equation, EquationSystem
from .errors import ConfigError, DataError, TrainingError
from .gls import GLSFit
from .grid import METHODS, GridDerivative
from .refine import MAX_WORK, REFINE_CHOICES, Refinement, applicable, uncertain
from .refine import refine as oe_refine
from .reliability import simulation_misfit
from .runfiles import write_equation, write_json, write_npz, write_text
from .sparse import SparseRegression, SparseResult
from .terms import Term, TermLibrary, polynomial_library
from .weak import WeakForm

__all__ = ["discover", "Discovery", "split_terms", "stages_from_options", "OutputErrorCheck", "GLS_ALPHA"]


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
    #: one report per equation (support, coefficients, intervals, warnings, notes); see pdelearn.discovery_stages
    reports: list[EquationReport] = field(repr=False, default_factory=list)

    @classmethod
    def from_reports(cls, reports: Sequence[EquationReport], library: TermLibrary, options: dict[str, Any],
                     data: GridData, wall_time_s: float) -> "Discovery":
        """The discovery made of one report per equation (in the order of the library's fields)."""
        eqs = [r.equation(library) for r in reports]
        return cls(eqs[0] if len(eqs) == 1 else EquationSystem(eqs), library, options, [r.fit for r in reports],
                   wall_time_s, [r.refit for r in reports], [r.unexplained for r in reports if r.unexplained],
                   [w for r in reports for w in r.warnings], data, [r.refinement for r in reports],
                   [n for r in reports for n in r.notes], list(reports))

    def __str__(self) -> str:
        return str(self.equation)

    def save(self, folder, source=None, picture: bool = True, load: Mapping | None = None,
             command: str | None = None, cli: Mapping | None = None) -> Path:
        """Write the run folder of ``pdelearn discover``: equation.json/.tex, options.json, summary.json.

        ``load``: the keyword arguments that read ``source`` (:func:`pdelearn.data.load_grid_data`),
        recorded so that ``simulate`` reads the file the same way. With ``picture``, also ``discovery.png``
        (:func:`pdelearn.discovery_plot.plot_discovery`).

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
        ``"weak"`` (default, robust to noise) or ``"strong"`` (pointwise derivatives), or a system builder
        (:class:`~pdelearn.discovery_stages.WeakFormSystem`, :class:`~pdelearn.discovery_stages.StrongFormSystem`
        or your own; docs/discover.md, "Stages").
    derivative
        For ``method="strong"``: ``"fd"``, ``"smooth"`` or ``"spectral"`` space derivatives (``"spectral"``
        needs periodic space axes; the time derivative then uses finite differences), or a
        :class:`~pdelearn.grid.Differentiator` object.
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
        narrow test functions). ``"none"``: keep the least-squares fit of the selection. Or a refit stage.
    refine
        ``"auto"`` (default): when the selection is uncertain (:func:`pdelearn.refine.uncertain`: close to
        its threshold, or no space derivative selected on a field that varies in space) and the data are
        one field on a periodic 1-D grid, settle it by output-error fits of the simulated equation
        (:func:`pdelearn.refine.refine`: dropped terms put back by score tests, kept terms taken out
        by Wald/F-tests); the refined coefficients and their intervals are reported and
        ``Discovery.notes`` says what changed. ``"output-error"``: always refine (an error when the
        data do not suit a simulation). ``"none"``: never. Or a verifier stage
        (:class:`OutputErrorCheck` or your own).
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
    stages = stages_from_options(method=method, derivative=derivative, weak=weak, regression=regression, trim=trim,
                                 max_rows=max_rows, seed=seed, bootstrap=bootstrap, refit=refit, refine=refine,
                                 budget=budget)
    _check_stages(stages, data, lib, weak)
    lhs = [f"{f}_{data.time}" for f in lib.fields]
    say = progress or (lambda message: None)
    say(f"building the {stages.system.method}-form regression of {', '.join(lhs)} on {len(lib)} candidate terms")
    system = build_system(stages.system, data, lib, lhs)
    say(f"selecting terms ({system.G.shape[0]} rows)")
    fits = select_terms(stages.selector, system, stages.budget)
    reports = [report_equation(stages, system, j, fit, say) for j, fit in enumerate(fits)]
    options = _options(stages, system, weak, max_power=max_power, max_order=max_order, renamed=renamed)
    return Discovery.from_reports(reports, lib, options, original, _time.perf_counter() - t0)


def stages_from_options(*, method="weak", derivative="fd", weak: WeakForm | None = None,
                        regression: SparseRegression | None = None, trim: float = 0.05, max_rows: int = 100_000,
                        seed: int = 0, bootstrap: int = 0, refit="gls", refine="auto",
                        budget: float | None = REFINE_BUDGET) -> Stages:
    """The stages of :func:`discover` from its options (the one place where option strings become objects).

    ``method``: ``"weak"``, ``"strong"`` or a system builder; ``derivative``: one of :data:`pdelearn.grid.METHODS` or
    a :class:`~pdelearn.grid.Differentiator`; ``refit``: ``"gls"``, ``"none"`` or a refit stage; ``refine``: one
    of :data:`pdelearn.refine.REFINE_CHOICES` or a verifier stage (see :class:`~pdelearn.discovery_stages.Stages`).
    """
    if not (method in ("weak", "strong") if isinstance(method, str) else hasattr(method, "build")):
        raise ConfigError(f"method must be 'weak' or 'strong', received {method!r}")
    if not (derivative in METHODS if isinstance(derivative, str) else callable(derivative)):
        raise ConfigError(f"derivative must be one of {METHODS}, received {derivative!r}")
    from .intervals import check_bootstrap  # an integer in 0..MAX_BOOTSTRAP (pdelearn.limits)

    bootstrap = check_bootstrap(bootstrap)
    if not (isinstance(trim, (int, float)) and 0 <= trim < 0.5):
        raise ConfigError(f"trim must be a fraction in [0, 0.5) of each axis, received {trim!r}")
    if not (refit in ("gls", "none") if isinstance(refit, str) else hasattr(refit, "refit")):
        raise ConfigError(f"refit must be 'gls' or 'none', received {refit!r}")
    if not (refine in REFINE_CHOICES if isinstance(refine, str) else hasattr(refine, "verify")):
        raise ConfigError(f"refine must be one of {list(REFINE_CHOICES)}, received {refine!r}")
    budget = check_budget(budget, "budget (seconds of the term selection and of each output-error refinement)")
    if isinstance(max_rows, bool) or not isinstance(max_rows, (int, np.integer)) or max_rows < 1:
        raise ConfigError(f"max_rows must be an integer >= 1, received {max_rows!r}")
    if method == "weak":
        method = WeakFormSystem(weak)
    elif method == "strong":
        space = GridDerivative(derivative) if isinstance(derivative, str) else derivative
        method = StrongFormSystem(space, trim=trim, max_rows=max_rows, seed=seed)
    if isinstance(refit, str):
        refit = GLSRefit() if refit == "gls" else None
    if isinstance(refine, str):
        refine = OutputErrorCheck(refine, budget) if refine != "none" else None
    return Stages(method, regression or SparseRegression(), refit, refine,
                  BootstrapIntervals(bootstrap, seed) if bootstrap else None, budget=budget)


def _check_stages(stages: Stages, data: GridData, lib: TermLibrary, weak: WeakForm | None) -> None:
    """What the stages refuse before the system is built: a forced refinement that cannot run, a selection over its
    work limit, a bad weak form given beside a strong-form system."""
    if getattr(stages.verifier, "how", None) == "output-error":
        why = applicable(data, lib)
        if why:
            raise DataError(f"refine='output-error' cannot run: {why}; use refine='auto' or 'none'")
    stages.selector.check_work(None, len(lib))  # the selection's work that does not depend on the rows
    if weak is not None and stages.system.method != "weak":
        for axis in data.coords:
            weak.radius_of(axis)


def _name(stage, none: str = "none") -> str:
    return none if stage is None else getattr(stage, "name", type(stage).__name__)


def _options(stages: Stages, system: LinearSystem, weak: WeakForm | None, **given) -> dict[str, Any]:
    """``Discovery.options``: what reproduces the run."""
    weak_form = getattr(stages.system, "form", None) or weak or WeakForm()
    is_weak = stages.system.method == "weak"
    return {"method": stages.system.method, "derivative": getattr(stages.system, "derivative", None),
            "max_power": given["max_power"], "max_order": given["max_order"], "library_size": len(system.library),
            "rows": int(system.G.shape[0]),
            "weak": {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in asdict(weak_form).items()},
            "regression": asdict(stages.selector), "bootstrap": stages.intervals.resamples if stages.intervals else 0,
            "refit": _name(stages.refit) if is_weak or not isinstance(stages.refit, GLSRefit) else "none",
            "refine": _name(stages.verifier),
            "budget": stages.budget, "renamed_coords": given["renamed"]}


class OutputErrorCheck:
    """The verifier stage: the output-error refinement of one equation (:func:`pdelearn.refine.refine`), run when
    ``how`` (``"auto"``: the selection is uncertain; ``"output-error"``: always) calls for it, within ``budget``
    seconds. Returns the refinement (or None) and its findings."""

    def __init__(self, how: str = "auto", budget: float | None = REFINE_BUDGET):
        self.how, self.name, self.budget = how, how, budget

    def verify(self, system: LinearSystem, j: int, report: EquationReport, doubts, also, selector, say
               ) -> tuple[Optional[Refinement], Findings]:
        found = Findings()
        ref = _refine(system.data, system.library, report.lhs, report.support, report.coefficients, report.fit,
                      selector, self.how, say, found.warnings, found.notes, doubts, also, self.budget)
        return ref, found


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
    misfit = simulation_misfit(lhs, ref.rel_misfit, data.fields[lhs.rsplit("_", 1)[0]])
    warns += [misfit] if misfit else []
    return ref
