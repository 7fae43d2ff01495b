"""The sparse readout of a learned equation: the discovery engine run on samples of a trained network.

A PR-Net trains its equation's coefficients with an L1 penalty (Algorithm 1): a regulariser of the
block, which leaves every coefficient nonzero. The readout asks the question ``discover`` answers:
which few terms explain ``h_t``? It samples ``(h_t, Theta)`` from the trained block at its query
points ``H`` on held-out images, then runs the engine of :func:`pdelearn.discovery.discover` on them:

* selection: :class:`~pdelearn.sparse.SparseRegression` (backward elimination, the F-test with the
  images as independent samples, blocked cross-validation over contiguous groups of images, and a
  tolerance of :data:`R2_TOLERANCE` of ``var(h_t)``: a term must explain at least that share);
* refit: least squares on the selected support (:func:`~pdelearn.sparse.lstsq_on`; the GLS refit of
  :mod:`pdelearn.gls` is for weak-form rows, and these rows are pointwise values);
* intervals: 95 % bootstrap intervals resampling whole images (:func:`~pdelearn.intervals.bootstrap_intervals`
  with ``groups``), and the checks of :mod:`pdelearn.reliability` (:func:`~pdelearn.reliability.explained`,
  :func:`~pdelearn.reliability.term_warnings`).

The images are split in two, in their given order: the selection and refit use the first part, and
the R^2 reported (of the sparse equation and of the dense L1 one) is measured on the second.
A readout whose held-out R^2 is below :data:`MIN_READOUT_R2` explains little: :attr:`Readout.reliable`
is False and its printout says so.

Entry points: :func:`readout` (a PR-Net-like module and images), :func:`readout_arrays`
(``(h_t, Theta)`` from any network: a forward or joint run's too), :func:`sample_block`;
:func:`pdelearn.run_readout.readout_run` for a run folder. (Neither module is called ``readout``
or ``readout_run``: those names are the functions ``pdelearn.readout`` and ``pdelearn.readout_run``.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .equation import Equation
from .errors import ConfigError, DataError, ShapeError
from .intervals import bootstrap_draws, check_bootstrap
from .reliability import explained, term_shares, term_warnings
from .sparse import SparseRegression
from .terms import TermLibrary

__all__ = ["MIN_READOUT_R2", "R2_TOLERANCE", "DEFAULT_IMAGES", "MAX_ROWS", "Readout", "readout", "readout_arrays",
           "sample_block", "has_pde_block"]

MIN_READOUT_R2 = 0.5  #: below this held-out R^2 the learned equation "explains little" (unreliable as an equation)
R2_TOLERANCE = 0.005  #: a term enters the readout only if it explains at least this share of var(h_t)
DEFAULT_IMAGES = 200  #: images sampled by default (half select, half measure the held-out R^2)
MAX_ROWS = 200_000  #: rows (image x channel x position) kept at most; more are subsampled evenly per image
CV_BLOCKS = 5  #: blocks of contiguous images for the selection's cross-validation


@dataclass
class Readout:
    """A sparse equation read out of samples ``(h_t, Theta)``, with the dense equation's score beside it."""

    equation: Equation  #: the sparse equation, with 95 % intervals
    r2_held_out: float  #: of the sparse equation, on the held-out images
    r2_selection: float  #: of the sparse equation, on the images it was selected on
    sample: dict  #: what was sampled: images (selection / held-out), channels, positions, rows
    dense_r2_held_out: float | None = None  #: of the dense (L1) equation on the held-out images
    dense_terms: int | None = None  #: nonzero coefficients of the dense equation
    warnings: list = field(default_factory=list)
    level: float = MIN_READOUT_R2

    @property
    def terms(self) -> list[str]:
        return [t.name for t in self.equation.terms]

    @property
    def reliable(self) -> bool:
        """Whether the readout explains at least :data:`MIN_READOUT_R2` of ``h_t`` on held-out images."""
        return bool(np.isfinite(self.r2_held_out) and self.r2_held_out >= self.level)

    @property
    def message(self) -> str | None:
        """``None`` when reliable, else the "explains little" line."""
        if self.reliable:
            return None
        return (f"the learned equation explains little: held-out R^2 {self.r2_held_out:.3f} of h_t is below "
                f"{self.level:g}; read it as a regulariser of the block, not as the law of its features")

    def lines(self) -> list[str]:
        """The printout: the sparse equation, its R^2 beside the dense one's, intervals, the sample, warnings."""
        s = self.sample
        dense = ("" if self.dense_r2_held_out is None else
                 f"; dense L1 equation ({self.dense_terms} terms) {self.dense_r2_held_out:.3f}")
        out = [f"sparse readout ({len(self.terms)} terms; held-out R^2 {self.r2_held_out:.3f}{dense}):",
               f"  {self.equation}"]
        for t, c in self.equation.terms.items():
            lo, hi = self.equation.intervals.get(t.key, (np.nan, np.nan))
            out.append(f"    {t.name}: {c:.4g}  [{lo:.4g}, {hi:.4g}] (95 %, images resampled)")
        out.append(f"  sample: {s['description']}")
        out += [f"  warning: {w}" for w in self.warnings]
        if not self.reliable:
            out.append(f"  {self.message}")
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: terms, coefficients, intervals, both R^2, the sample, warnings, the verdict."""
        eq = self.equation
        return {"equation": str(eq), "terms": self.terms, "coefficients": [float(c) for c in eq.terms.values()],
                "intervals": [list(eq.intervals.get(t.key, (None, None))) for t in eq.terms],
                "r2_held_out": float(self.r2_held_out), "r2_selection": float(self.r2_selection),
                "dense_r2_held_out": None if self.dense_r2_held_out is None else float(self.dense_r2_held_out),
                "dense_terms": self.dense_terms, "sample": dict(self.sample), "warnings": list(self.warnings),
                "min_r2": self.level, "reliable": self.reliable}


def _r2(G: np.ndarray, b: np.ndarray, w: np.ndarray) -> float:
    sst = float(((b - b.mean()) ** 2).sum())
    r = b - G @ w
    return 1.0 - float(r @ r) / sst if sst > 0 else float("nan")


def readout_arrays(h_t, theta, library: TermLibrary | Sequence[str], *, groups=None, held_out: float = 0.5,
                   dense=None, regression: SparseRegression | None = None, bootstrap: int = 200, seed: int = 0,
                   lhs: str = "h_t", level: float = MIN_READOUT_R2, sample: dict | None = None) -> Readout:
    """The sparse readout of ``h_t ~ Theta a``.

    Parameters
    ----------
    h_t, theta
        ``(n,)`` left-hand side and ``(n, K)`` library columns, one row per sample point.
    library
        The ``K`` terms (a :class:`~pdelearn.terms.TermLibrary`; names build one over ``h`` and ``d1, d2``).
    groups
        One label per row (e.g. the image it came from); rows of a group are resampled together and never
        split between selection and held-out parts. Default: every row its own group.
    held_out
        Fraction of the groups, the last ones in the given order, kept out of the selection to measure R^2.
    dense
        ``(K,)`` coefficients of the dense (trained) equation, scored on the same held-out rows.
    regression
        The selection's settings; default ``SparseRegression(tol=..., cv_blocks=5)`` with the tolerance
        of :data:`R2_TOLERANCE` of ``var(h_t)``.
    bootstrap
        Resamples of the groups for the 95 % intervals (0: none).
    level
        Held-out R^2 below which the readout is not :attr:`~Readout.reliable`.
    """
    if not isinstance(library, TermLibrary):
        library = TermLibrary(list(library), ["h"], ["d1", "d2"])  # PR-Net's names (pdelearn.models.prnet.COORDS)
    b = np.asarray(h_t, dtype=np.float64).reshape(-1)
    G = np.asarray(theta, dtype=np.float64)
    if G.ndim != 2 or G.shape != (b.size, len(library)):
        raise ShapeError(f"theta must have shape (n, {len(library)}) for h_t of {b.size} rows and a library of "
                         f"{len(library)} terms, received {G.shape}")
    if not (np.isfinite(G).all() and np.isfinite(b).all()):
        raise DataError("h_t or theta holds NaN or inf; the network's derivatives are not finite")
    bootstrap = check_bootstrap(bootstrap, "bootstrap (resamples of the readout)")
    by_row = groups is None  # rows are independent: the bootstrap resamples rows
    groups = np.arange(b.size) if by_row else np.asarray(groups).reshape(-1)
    if groups.size != b.size:
        raise ShapeError(f"groups must hold one label per row ({b.size}), received {groups.size}")
    order = list(dict.fromkeys(groups.tolist()))
    if not (isinstance(held_out, (int, float)) and 0 < held_out < 1):
        raise ConfigError(f"held_out must be a fraction in (0, 1), received {held_out!r}")
    n_hold = min(max(int(round(held_out * len(order))), 1), len(order) - 1)
    if len(order) < 2 or n_hold < 1:
        raise DataError(f"a readout needs at least 2 groups (images) to select on some and score on others; "
                        f"received {len(order)}")
    hold = np.isin(groups, order[len(order) - n_hold:])
    Gs, bs, gs, Gh, bh = G[~hold], b[~hold], groups[~hold], G[hold], b[hold]
    n_fit = len(order) - n_hold
    if regression is None:
        sst, bn2 = float(((bs - bs.mean()) ** 2).sum()), float(bs @ bs)
        tol = float(np.sqrt(R2_TOLERANCE * sst / bn2)) if bn2 > 0 else 0.0
        regression = SparseRegression(tol=tol, cv_blocks=CV_BLOCKS if n_fit >= CV_BLOCKS else 0)
    fit = regression.fit(Gs, bs, n_eff=float(n_fit))  # rows of one image are not independent: images count
    support = np.flatnonzero(fit.support)
    coef = fit.coefficients[support]
    w = fit.coefficients
    names = [library[i].name for i in support]
    warns = [x for x in [explained(lhs, fit.relative_residual, support.size)] if x]
    intervals, std = None, None
    if bootstrap and support.size:
        draws = bootstrap_draws(Gs[:, support], bs, bootstrap, seed, None if by_row else gs)
        lo, hi = np.percentile(draws, [2.5, 97.5], axis=0)
        intervals, std = np.stack([lo, hi], axis=-1), draws.std(axis=0, ddof=1)
    if support.size:
        warns += term_warnings(lhs, names, term_shares(Gs, bs, support, coef), coef, std)
    eq = Equation(lhs, {library[i]: float(c) for i, c in zip(support, coef)}, library.fields, library.coords,
                  intervals=None if intervals is None else {library[i].key: iv for i, iv in zip(support, intervals)})
    dense_r2 = dense_n = None
    if dense is not None:
        d = np.asarray(dense, dtype=np.float64).reshape(-1)
        if d.size != len(library):
            raise ShapeError(f"dense must hold {len(library)} coefficients, received {d.size}")
        dense_r2, dense_n = _r2(Gh, bh, d), int(np.count_nonzero(d))
    info = dict(sample or {})
    info.update(selection_groups=n_fit, held_out_groups=n_hold, selection_rows=int(bs.size), held_out_rows=int(bh.size))
    info["description"] = (info.get("description", f"{b.size} rows in {len(order)} groups")
                           + f"; the first {n_fit} groups (images) select and refit, the last {n_hold} score")
    return Readout(eq, _r2(Gh, bh, w), _r2(Gs, bs, w), info, dense_r2, dense_n, warns, level)


# -- sampling a trained block ------------------------------------------------------------------------
def has_pde_block(model: Any) -> bool:
    """Whether ``model`` is a PR-Net-like network: ``features``, ``derivatives`` and an ``equation`` with a library."""
    return all(callable(getattr(model, a, None)) for a in ("features", "derivatives")) and hasattr(
        getattr(model, "equation", None), "library")


def sample_block(model: Any, images, *, max_rows: int = MAX_ROWS, seed: int = 0, batch_size: int = 100):
    """``(h_t, Theta, groups, sample)`` of a PR-Net-like ``model`` at its query points ``H`` on ``images``.

    ``images``: a tensor ``(N, C, S, S)``. Every channel and position of each image is a row (the block's
    channels are samples of one field, Appendix J); beyond ``max_rows`` in all, the same number of rows is
    drawn at random (``seed``) from every image. ``groups`` holds each row's image index.
    """
    import torch

    if not has_pde_block(model):
        raise ConfigError(f"{type(model).__name__} has no PDE block (a PR-Net's features, derivatives and equation); "
                          "a readout needs a network whose block learns an equation, or pass (h_t, Theta) to "
                          "readout_arrays")
    n = int(images.shape[0])
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
        raise ConfigError(f"max_rows must be an integer >= 1, received {max_rows!r}")
    eq = model.equation
    lhs = eq.lhs[0]
    rng = np.random.default_rng(seed)
    bs, Gs, gs = [], [], []
    was = model.training
    model.eval()
    try:
        for start in range(0, n, batch_size):
            x = images[start:start + batch_size]
            with torch.no_grad():
                h0 = model.features(x)
            d = {k: v.detach() for k, v in model.derivatives(h0).items()}
            per = int(d[lhs][0].numel())
            keep = min(per, max(max_rows // n, 1))
            with torch.no_grad():
                theta = eq.features({k: v.reshape(v.shape[0], -1) for k, v in d.items()}).double().cpu().numpy()
            ht = d[lhs].reshape(x.shape[0], -1).double().cpu().numpy()
            for i in range(x.shape[0]):
                rows = np.sort(rng.choice(per, keep, replace=False)) if keep < per else slice(None)
                bs.append(ht[i, rows])
                Gs.append(theta[i, rows])
                gs.append(np.full(keep, start + i))
    finally:
        model.train(was)
    C, S = int(h0.shape[1]), int(h0.shape[-1])
    sample = {"images": n, "channels": C, "positions": S * S, "rows_per_image": keep, "rows": n * keep,
              "at": "the query points H"}
    return np.concatenate(bs), np.concatenate(Gs), np.concatenate(gs), sample


def _images_of(dataset, n: int):
    import torch

    return torch.stack([dataset[i][0] for i in range(n)])


def readout(model: Any, images, *, n_images: int | None = None, held_out: float = 0.5, max_rows: int = MAX_ROWS,
            bootstrap: int = 200, seed: int = 0, level: float = MIN_READOUT_R2, where: str = "the images given") -> Readout:
    """The sparse readout of a trained PR-Net-like network's equation (a run folder: :func:`pdelearn.run_readout.readout_run`).

    Parameters
    ----------
    model
        A network with a PDE block (:func:`has_pde_block`: :class:`~pdelearn.models.prnet.PRNet`, the
        MobileNet PR-Net); anything else raises ConfigError.
    images
        Images ``(N, C, S, S)`` or a dataset of ``(image, label)``, held out from training (e.g. the
        test set); the first ``n_images`` are used.
    n_images
        How many images to sample: at least 2 and at most the data's (default :data:`DEFAULT_IMAGES`,
        or all when fewer). The first ``1 - held_out`` of them select, the rest score.
    max_rows, bootstrap, seed, level
        Rows kept at most (:func:`sample_block`), resamples of the intervals, the seed of both, and the
        held-out R^2 below which the readout explains little.
    where
        Words for the images in the sample's description (e.g. "the test images of digits").

    Returns
    -------
    Readout
        Its ``lines()`` print the equation, R^2 beside the dense equation's, intervals and the sample.
    """
    if not has_pde_block(model):
        sample_block(model, None)  # raises the no-PDE-block error
    if images is None:
        raise ConfigError("pass the images to sample (held out from training), e.g. the test set")
    total = int(images.shape[0]) if hasattr(images, "shape") else len(images)
    n = min(DEFAULT_IMAGES, total) if n_images is None else n_images
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 2 <= n <= total:
        raise ConfigError(f"the readout samples from 2 to the {total} images available; received n_images={n_images!r}")
    n = int(n)
    x = images[:n] if hasattr(images, "shape") else _images_of(images, n)
    b, G, groups, sample = sample_block(model, x, max_rows=max_rows, seed=seed)
    dense = model.equation.coefficients.detach().cpu().double().reshape(-1).numpy()
    per = sample["channels"] * sample["positions"]
    sample.update(source=where, description=(
        f"the first {n} of {where} at H, {sample['channels']} channels x {sample['positions']} positions = {per} rows "
        "per image" + ("" if sample["rows_per_image"] == per
                       else f", {sample['rows_per_image']} of them drawn at random per image (seed {seed})")
        + f" ({sample['rows']} rows)"))
    return readout_arrays(b, G, model.equation.library, groups=groups, held_out=held_out, dense=dense,
                          bootstrap=bootstrap, seed=seed, lhs=model.equation.lhs[0], level=level, sample=sample)

def add_to_run(model: Any, images, seed: int, summary: dict, lines: list, extra: dict, dense: Equation,
               where: str = "the test images"):
    """The readout in a classification run's results: ``summary["readout"]``, ``summary["equation_explains_little"]``,
    its printout after the dense equation's ``lines``, the dense equation in ``extra``. Returns the equation to write
    (the sparse readout; the dense one when the readout could not run or selected nothing)."""
    from .errors import PdelearnError

    extra["dense_equation"] = {"equation": str(dense), "terms": dense.to_dict().get("terms"),
                               "r2_test": summary.get("equation_fit_r2")}
    try:
        r = readout(model, images, seed=seed, where=where)
    except PdelearnError as exc:
        summary["readout"], summary["equation_explains_little"] = {"skipped": str(exc)}, None
        lines.insert(2, f"no sparse readout: {exc}")
        return dense
    summary["readout"], summary["equation_explains_little"] = r.to_dict(), not r.reliable
    extra["readout"] = r.to_dict()
    lines[2:2] = r.lines()
    return r.equation if r.terms else dense
