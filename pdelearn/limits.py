"""Every bound on untrusted input, named once (see ``docs/limits.md``).

Each limit is checked *before* the work it protects (decompression, expansion, allocation). Its error
message names the limit, its value and how to raise it. Limits a user could legitimately need to raise
read an environment variable ``PDELEARN_<NAME>`` (e.g. ``PDELEARN_MAX_GRID_POINTS=100000000``), looked up
at each check, so it also works for an already imported library; the others are numerical facts
(raising them would not give a meaningful result) and their messages say what to change instead.

>>> MAX_DERIVATIVE_ORDER.value
8
>>> MAX_DERIVATIVE_ORDER.check(12, "max_order")
Traceback (most recent call last):
...
pdelearn.errors.LibraryError: max_order is 12, above the limit MAX_DERIVATIVE_ORDER = 8; use a smaller max_order; ...
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import ConfigError, DataError, LibraryError, ParseError

__all__ = ["Limit", "LIMITS", "ENV_PREFIX"] + [
    "MAX_YAML_BYTES", "MAX_YAML_DEPTH", "MAX_YAML_ALIASES", "MAX_YAML_NODES",
    "MAX_EXPRESSION_CHARS", "MAX_EXPANDED_TERMS", "MAX_EXPANSION_WORK", "MAX_EXPONENT", "MAX_LITERAL",
    "MAX_LIBRARY_TERMS", "MAX_SELECTION_WORK", "MAX_DERIVATIVE_ORDER", "MAX_POLYNOMIAL_POWER", "MAX_BOOTSTRAP",
    "MAX_DATA_BYTES", "MAX_GRID_POINTS", "MIN_FIELD_SCALE", "MAX_FIELD_SCALE", "MAX_JSON_BYTES", "MAX_IDX_BYTES",
    "MAX_BATCH_POINTS", "MAX_NETWORK_WIDTH", "MAX_NETWORK_DEPTH", "MAX_GRID_SIDE", "MAX_TRAINING_STEPS",
    "RECIPE_SIZE_KEYS", "check_recipe_sizes",
]

ENV_PREFIX = "PDELEARN_"  #: prefix of the environment variables that raise an overridable limit


@dataclass(frozen=True)
class Limit:
    """One named bound: ``value`` (the default, or ``PDELEARN_<name>`` when set and overridable)."""

    name: str
    default: float
    unit: str
    bounds: str
    error: type = ConfigError
    overridable: bool = True
    fix: str = ""

    @property
    def env(self) -> str:
        """The environment variable that raises this limit (``PDELEARN_MAX_...``)."""
        return ENV_PREFIX + self.name

    @property
    def value(self):
        """The limit in force: the environment variable when set (overridable limits only), else the default."""
        raw = os.environ.get(self.env) if self.overridable else None
        if raw is None or not raw.strip():
            return self.default
        try:
            value = type(self.default)(float(raw)) if isinstance(self.default, int) else float(raw)
        except (ValueError, OverflowError):
            value = None
        if value is None or not value > 0:
            raise ConfigError(f"environment variable {self.env} must be a positive number, received {raw!r}; "
                              f"unset it to use the default {self.default}")
        return value

    def how_to_raise(self) -> str:
        """``"set PDELEARN_X=N to raise it"`` or, for a fixed limit, what to change instead."""
        if self.overridable:
            return f"{self.fix + '; ' if self.fix else ''}to raise the limit set the environment variable {self.env}"
        return self.fix or "this limit is fixed"

    def message(self, received, what: str, above: bool = True) -> str:
        """One line: what was received, the limit's name and value, and how to fix or raise it."""
        side = "above" if above else "below"
        unit = f" {self.unit}" if self.unit else ""
        return (f"{what} is {_fmt(received)}{unit}, {side} the limit {self.name} = {_fmt(self.value)}{unit}; "
                f"{self.how_to_raise()}")

    def check(self, received, what: str, error: type | None = None) -> None:
        """Raise (``error`` or the limit's own error class) when ``received`` exceeds the limit."""
        if received > self.value:
            raise (error or self.error)(self.message(received, what))


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else (f"{v:,}".replace(",", "_") if isinstance(v, int) and v >= 100_000
                                                  else str(v))


#: Size of a recipe file or a ``--set`` value, in bytes (a recipe is a few kB).
MAX_YAML_BYTES = Limit("MAX_YAML_BYTES", 1_000_000, "bytes", "size of a recipe file or --set value", ConfigError)
#: Nesting depth of YAML collections, aliases expanded (recipes nest 3 or 4 levels).
MAX_YAML_DEPTH = Limit("MAX_YAML_DEPTH", 64, "levels", "nesting of YAML mappings and lists", ConfigError)
#: Uses of aliases (``*name``) in one YAML document (recipes use none).
MAX_YAML_ALIASES = Limit("MAX_YAML_ALIASES", 1000, "aliases", "alias uses in one YAML document", ConfigError)
#: Nodes of a YAML document once every alias is expanded ("billion laughs"; a recipe has about 100).
MAX_YAML_NODES = Limit("MAX_YAML_NODES", 100_000, "nodes", "YAML nodes after alias expansion", ConfigError)

#: Characters of one expression or equation string.
MAX_EXPRESSION_CHARS = Limit("MAX_EXPRESSION_CHARS", 4000, "characters", "length of one expression or equation",
                             ParseError, fix="shorten it")
#: Summands an expression may expand into.
MAX_EXPANDED_TERMS = Limit("MAX_EXPANDED_TERMS", 2000, "terms", "summands of one expanded expression", ParseError,
                           fix="write it in expanded form or with smaller exponents")
#: Work of expanding one equation or one library: summands produced by the sums, products and powers of sums of
#: every expression, inside function arguments and denominators too (a polynomial library of monomials needs 0;
#: ``(u + u_x + u_xx + 1)**20`` needs 1775, about half a second).
MAX_EXPANSION_WORK = Limit("MAX_EXPANSION_WORK", 5000, "terms", "summands produced while expanding one equation "
                           "or library", ParseError, fix="use fewer or smaller terms, or smaller exponents")
#: Product of nested numeric exponents, e.g. ``((u + 1)**8)**8``.
MAX_EXPONENT = Limit("MAX_EXPONENT", 64, "", "product of nested exponents in an expression", ParseError,
                     fix="use smaller exponents")
#: Magnitude of a number literal or constant subexpression (double precision ends at 1.8e308).
MAX_LITERAL = Limit("MAX_LITERAL", 1e300, "", "magnitude of a number or constant", ParseError, overridable=False,
                    fix="write the number in other units")

#: Candidate terms of one library, or terms of one equation (a 2-field, 2-D, power-3, order-4 library has 290).
MAX_LIBRARY_TERMS = Limit("MAX_LIBRARY_TERMS", 1000, "terms", "terms of one library or equation", LibraryError,
                          fix="use a smaller max_power or max_order, or fewer terms")
#: Estimated multiply-adds of one sparse selection (``SparseRegression.work``): the backward path grows as the fourth
#: power of the candidate terms (290 terms on 2000 rows: 6.9e9, a few seconds; 999 terms: over 2.5e11, minutes).
MAX_SELECTION_WORK = Limit("MAX_SELECTION_WORK", 1e11, "multiply-adds", "estimated work of one sparse selection",
                           LibraryError, fix="use fewer candidate terms (the work grows as the fourth power of their "
                           "number): a smaller --max-power or --max-order, or fewer --terms")
#: Order of a space derivative (libraries use 4 to 6; finite differences of higher orders are noise).
MAX_DERIVATIVE_ORDER = Limit("MAX_DERIVATIVE_ORDER", 8, "", "order of a derivative", LibraryError,
                             fix="use a smaller max_order")
#: Highest power of the fields in a polynomial library.
MAX_POLYNOMIAL_POWER = Limit("MAX_POLYNOMIAL_POWER", 8, "", "max_power of a polynomial library", LibraryError,
                             fix="use a smaller max_power")
#: Bootstrap resamples for coefficient intervals (100 to 1000 are usual).
MAX_BOOTSTRAP = Limit("MAX_BOOTSTRAP", 10_000, "resamples", "bootstrap resamples", ConfigError,
                      fix="use fewer resamples")

#: Declared (uncompressed) size of all arrays of one .npz/.mat file, checked before decompressing.
MAX_DATA_BYTES = Limit("MAX_DATA_BYTES", 2**30, "bytes", "uncompressed arrays of one data file", DataError,
                       fix="crop or subsample the data")
#: Points of one field's grid (the largest reference data set has 413_696: 64 x 64 x 101).
MAX_GRID_POINTS = Limit("MAX_GRID_POINTS", 16_000_000, "points", "grid points of one field", DataError,
                        fix="crop or subsample the data")
#: Smallest max|field| (other than an all-zero field) and smallest grid step whose numerics are meaningful.
MIN_FIELD_SCALE = Limit("MIN_FIELD_SCALE", 1e-150, "", "max|field| and grid steps from below", DataError,
                        overridable=False, fix="rescale the data (multiply it by a power of 10, or use other units)")
#: Largest max|field| and coordinate magnitude: powers and products of larger values overflow.
MAX_FIELD_SCALE = Limit("MAX_FIELD_SCALE", 1e150, "", "max|field| and |coordinates| from above", DataError,
                        overridable=False, fix="rescale the data (divide it by a power of 10, or use other units)")
#: Size of a JSON file pdelearn reads back (equation.json, summary.json, evaluation.json: a few kB each).
MAX_JSON_BYTES = Limit("MAX_JSON_BYTES", 16 * 2**20, "bytes", "one JSON file read back", DataError,
                       fix="pass the file pdelearn wrote")
#: Size of one MNIST idx file, read from its header before decompressing (the largest real one has 47 MB).
MAX_IDX_BYTES = Limit("MAX_IDX_BYTES", 256 * 2**20, "bytes", "one decompressed MNIST idx file", DataError)

#: Points of one training batch a recipe may ask for (collocation, initial, boundary, samples, batch sizes).
MAX_BATCH_POINTS = Limit("MAX_BATCH_POINTS", 4_000_000, "points", "points or images of one batch or sample set in "
                         "a recipe", ConfigError, fix="use fewer points")
#: Width of a network layer a recipe may ask for (recipes use 8 to 256; MobileNet width multipliers are small).
MAX_NETWORK_WIDTH = Limit("MAX_NETWORK_WIDTH", 16_384, "units", "width of a network in a recipe", ConfigError,
                          fix="use a smaller model.width")
#: Layers of a network a recipe may ask for (recipes use 2 to 8).
MAX_NETWORK_DEPTH = Limit("MAX_NETWORK_DEPTH", 512, "layers", "depth of a network in a recipe", ConfigError,
                          fix="use a smaller model.depth")
#: Points along one axis of a grid a recipe asks for (reference solutions use 512 x 201).
MAX_GRID_SIDE = Limit("MAX_GRID_SIDE", 1_048_576, "points", "points along one axis of a recipe's grid", ConfigError,
                      fix="use a coarser grid")
#: Steps, iterations or epochs of one training phase a recipe asks for (recipes use up to 15,200 steps).
MAX_TRAINING_STEPS = Limit("MAX_TRAINING_STEPS", 100_000_000, "steps", "steps, iterations or epochs of one "
                           "training phase in a recipe", ConfigError, fix="use fewer steps")

#: Recipe keys (in any section) whose integer values each limit bounds.
RECIPE_SIZE_KEYS: dict[str, Limit] = {
    **dict.fromkeys(("collocation", "initial", "boundary", "reference_points", "samples", "extra_collocation",
                     "batch_size", "eval_batch_size"), MAX_BATCH_POINTS),
    "width": MAX_NETWORK_WIDTH, "depth": MAX_NETWORK_DEPTH,
    **dict.fromkeys(("nx", "nt"), MAX_GRID_SIDE),
    **dict.fromkeys(("steps", "max_steps", "adam_steps", "lbfgs_steps", "lbfgs_max_iter", "prune_steps",
                     "ensemble_steps", "final_steps", "warmup", "epochs", "max_iter"), MAX_TRAINING_STEPS),
}


def check_recipe_sizes(data, where: str = "") -> None:
    """Refuse integer values of :data:`RECIPE_SIZE_KEYS` above their limits, and a grid (a section with ``nx``
    and ``nt``) of more than :data:`MAX_GRID_POINTS` points, anywhere in the plain data of a recipe."""
    if not isinstance(data, dict):
        return
    for key, value in data.items():
        name = f"{where}{key}"
        if isinstance(value, dict):
            check_recipe_sizes(value, name + ".")
        elif isinstance(value, int) and not isinstance(value, bool) and key in RECIPE_SIZE_KEYS:
            RECIPE_SIZE_KEYS[key].check(value, name)
    nx, nt = data.get("nx"), data.get("nt")
    if isinstance(nx, int) and isinstance(nt, int):
        MAX_GRID_POINTS.check(nx * nt, f"{where}nx x {where}nt", ConfigError)


#: Every limit, by name (docs/limits.md has one row per entry).
LIMITS: dict[str, Limit] = {v.name: v for v in list(globals().values()) if isinstance(v, Limit)}

