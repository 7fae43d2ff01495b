"""Recipes: YAML files validated into typed configuration.

A recipe states a physics-informed problem (equation, domain, initial and boundary conditions,
reference solution, network, sampling, training schedule and loss weights). :func:`load_recipe`
reads a file, applies ``--set key=value`` overrides and validates it; unknown keys are errors with a
"did you mean", wrong types name the dotted key and the expected type. The resolved recipe (every
default filled in) is what a run saves as ``recipe.yaml``. The schema reference is
``docs/recipes.md``.

Examples
--------
>>> r = resolve({"equation": "u_t = 0.1*u_xx", "domain": {"x": [0, 1], "t": [0, 1]},
...              "initial_condition": "sin(pi*x)", "boundary": {"type": "dirichlet"}})
>>> r.training.steps, r.model.type, r.space_coord
(5000, 'mlp', 'x')
>>> resolve({"equation": "u_t = u_xx", "domain": {"x": [0, 1], "t": [0, 1]}, "intial_condition": "0"})
Traceback (most recent call last):
...
pdelearn.errors.ConfigError: 2 problems in recipe:
  unknown key 'intial_condition'; did you mean 'initial_condition'?
  missing required key 'initial_condition'

"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import ConfigError, PdelearnError

__all__ = [
    "Recipe",
    "load_recipe",
    "resolve",
    "apply_overrides",
    "parse_yaml",
    "to_yaml",
    "LOSS_NAMES",
]

#: The loss terms a forward problem knows, by name.
LOSS_NAMES = ("L_I", "L_B", "L_G", "L_R")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, validate_default=True)


class Boundary(_Strict):
    """Boundary conditions in the space coordinate."""

    type: Literal["periodic", "dirichlet"] = "periodic"
    left: Union[str, float] = "0"
    right: Union[str, float] = "0"
    enforce: Literal["loss", "exact"] = "loss"


class Reference(_Strict):
    """The reference solution the trained network is measured against (and L_R fits)."""

    solver: Literal["spectral", "finite_difference", "none"] = "spectral"
    file: Optional[str] = None
    nx: int = Field(512, ge=4)
    nt: int = Field(201, ge=2)
    dt: float = Field(1e-4, gt=0)
    refine: int = Field(8, ge=1)


class FourierFeatures(_Strict):
    n: int = Field(64, ge=1)
    scale: float = Field(1.0, gt=0)


class ModelSpec(_Strict):
    type: Literal["mlp", "modified_mlp"] = "mlp"
    width: int = Field(64, ge=1)
    depth: int = Field(4, ge=1)
    activation: Literal["tanh", "sin", "softplus", "gelu"] = "tanh"
    periodic_harmonics: int = Field(1, ge=0)
    fourier_features: Optional[FourierFeatures] = None


class Sampling(_Strict):
    collocation: int = Field(2048, ge=1)
    initial: int = Field(256, ge=1)
    boundary: int = Field(128, ge=1)
    resample_every: int = Field(1, ge=0)


class LrDecay(_Strict):
    rate: float = Field(0.9, gt=0, le=1)
    every: int = Field(1000, ge=1)


class Causal(_Strict):
    eps: float = Field(1.0, ge=0)
    chunks: int = Field(16, ge=1)


class Training(_Strict):
    steps: int = Field(5000, ge=0)
    lr: float = Field(1e-3, gt=0)
    lr_decay: Optional[LrDecay] = LrDecay()
    optimizer: Literal["adam"] = "adam"
    lbfgs_steps: int = Field(0, ge=0)
    lbfgs_max_iter: int = Field(10, ge=1)
    lbfgs_lr: float = Field(1.0, gt=0)
    causal: Optional[Causal] = None
    balance: Literal["none", "gradnorm"] = "none"
    balance_every: int = Field(100, ge=1)
    time_windows: int = Field(1, ge=1)
    window_init: Literal["copy", "fresh"] = "copy"
    hard_ic: bool = False
    dtype: Literal["float32", "float64"] = "float32"
    log_every: int = Field(100, ge=1)
    checkpoint_every: int = Field(1000, ge=1)
    eval_every: int = Field(0, ge=0)
    max_minutes: Optional[float] = Field(None, gt=0)


class LossWeights(_Strict):
    L_I: float = Field(1.0, ge=0)
    L_B: float = Field(1.0, ge=0)
    L_G: float = Field(1.0, ge=0)
    L_R: float = Field(0.0, ge=0)


class Losses(_Strict):
    weights: LossWeights = LossWeights()
    reference_points: int = Field(2048, ge=1)


class Extrapolation(_Strict):
    t_train: float = 0.8
    times: list[float] = [0.815, 0.995]
    aware: LossWeights = LossWeights(L_I=1.0, L_B=1.0, L_G=1.0, L_R=0.0)
    ignorant: LossWeights = LossWeights(L_I=1.0, L_B=1.0, L_G=0.0, L_R=1.0)


class Recipe(_Strict):
    """A validated recipe; see ``docs/recipes.md`` for every key."""

    problem: Literal["forward", "extrapolation"] = "forward"
    description: str = ""
    equation: str
    domain: dict[str, list[float]]
    initial_condition: Union[str, float]
    boundary: Boundary = Boundary()
    reference: Reference = Reference()
    model: ModelSpec = ModelSpec()
    sampling: Sampling = Sampling()
    training: Training = Training()
    losses: Losses = Losses()
    extrapolation: Optional[Extrapolation] = None
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"

    @model_validator(mode="after")
    def _check(self) -> "Recipe":
        _check_domain(self.domain)
        if self.boundary.type == "periodic" and self.model.periodic_harmonics < 1:
            raise ValueError("boundary.type periodic needs model.periodic_harmonics >= 1 (the exact periodic "
                             "embedding cos(k w x), sin(k w x)); set it to 1 or more")
        if self.problem == "extrapolation":
            if self.extrapolation is None:
                self.extrapolation = Extrapolation()
            lo, hi = self.domain["t"]
            ex = self.extrapolation
            if not lo < ex.t_train <= hi:
                raise ValueError(f"extrapolation.t_train must lie in the time domain ({lo}, {hi}], received {ex.t_train}")
            bad = [t for t in ex.times if not lo <= t <= hi]
            if bad or not ex.times:
                raise ValueError(f"extrapolation.times must be a non-empty list of times in [{lo}, {hi}], received {ex.times}")
        elif self.extrapolation is not None:
            raise ValueError("the key 'extrapolation' is only used with problem: extrapolation; remove it or set "
                             "problem: extrapolation")
        uses_data = self.losses.weights.L_R > 0 or (
            self.problem == "extrapolation" and self.extrapolation is not None
            and (self.extrapolation.aware.L_R > 0 or self.extrapolation.ignorant.L_R > 0))
        if uses_data and self.reference.solver == "none" and self.reference.file is None:
            raise ValueError("the loss L_R fits the reference solution, but reference.solver is none and no "
                             "reference.file is given; set reference.solver or reference.file, or L_R: 0")
        return self

    # -- convenience views ---------------------------------------------------------------------
    @property
    def space_coord(self) -> str:
        """The name of the space coordinate (``"x"``)."""
        return next(k for k in self.domain if k != "t")

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON/YAML-ready), every default filled in."""
        return self.model_dump(mode="json")

    def to_yaml(self) -> str:
        """The resolved recipe as YAML text (what a run saves as ``recipe.yaml``)."""
        return to_yaml(self.to_dict())


def _check_domain(domain: Mapping[str, list[float]]) -> None:
    if "t" not in domain:
        raise ValueError(f"domain needs a time interval 't: [t0, t1]', received keys {list(domain)}")
    space = [k for k in domain if k != "t"]
    if len(space) != 1:
        raise ValueError(f"forward problems support exactly one space coordinate, e.g. domain: {{x: [-1, 1], t: [0, 1]}}; "
                         f"received {list(domain)}")
    for k, v in domain.items():
        if len(v) != 2 or not v[0] < v[1]:
            raise ValueError(f"domain.{k} must be [low, high] with low < high, received {v}")


# -- YAML ------------------------------------------------------------------------------------------
class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-3`` (no dot) as a float, as YAML 1.2 does."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                   |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                   |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                   |[-+]?\.(?:inf|Inf|INF)
                   |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."),
)


def parse_yaml(text: str, source: str = "recipe") -> Any:
    """Parse YAML text safely; errors become :class:`ConfigError` with the line number."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{source}: malformed YAML{where}: {problem}") from None


def to_yaml(data: Mapping[str, Any]) -> str:
    """Dump plain data as block YAML, keys in insertion order."""
    return yaml.safe_dump(dict(data), sort_keys=False, default_flow_style=None, width=100)


# -- overrides -------------------------------------------------------------------------------------
def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides; values are parsed as YAML scalars (``1e-3``, ``null``, ``[0, 1]``).

    >>> apply_overrides({"training": {"steps": 10}}, ["training.steps=2", "model.width=8"])
    {'training': {'steps': 2}, 'model': {'width': 8}}
    """
    out = _deepcopy(data)
    for item in overrides:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not p for p in key.split(".")):
            raise ConfigError(f"--set expects KEY=VALUE with a dotted key such as training.steps=100, received {item!r}")
        parsed = parse_yaml(value, source=f"--set {key}") if value.strip() else ""
        node = out
        parts = key.split(".")
        for i, p in enumerate(parts[:-1]):
            child = node.get(p)
            if child is None:
                child = node[p] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"--set {key}: {'.'.join(parts[:i + 1])} is {child!r}, not a mapping; "
                                  f"set {'.'.join(parts[:i + 1])} itself instead")
            node = child
        node[parts[-1]] = parsed
    return out


def _deepcopy(data: Any) -> Any:
    if isinstance(data, Mapping):
        return {k: _deepcopy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deepcopy(v) for v in data]
    return data


# -- validation ------------------------------------------------------------------------------------
_EXPECTED = {
    "int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
    "float_type": "a number", "float_parsing": "a number", "finite_number": "a finite number",
    "bool_type": "true or false", "bool_parsing": "true or false",
    "string_type": "a string (quote it)", "list_type": "a list", "dict_type": "a mapping",
    "model_type": "a mapping", "model_attributes_type": "a mapping", "none_required": "null",
}


def resolve(data: Any, overrides: Sequence[str] = (), source: str = "recipe") -> Recipe:
    """Validate raw recipe data (after ``overrides``) into a :class:`Recipe` with all defaults.

    ``problem: joint_discovery`` recipes are validated by their own schema
    (:class:`pdelearn.problems.joint_recipe.JointRecipe`) and returned as such.

    Raises
    ------
    ConfigError
        Unknown keys (with a "did you mean"), wrong types (naming the dotted key and the
        expected type), missing required keys, values out of range and inconsistent settings.
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: a recipe must be a YAML mapping of keys to values, received {type(data).__name__}")
    data = apply_overrides(data, overrides)
    if data.get("problem") == "joint_discovery":
        from .problems.joint_recipe import resolve_joint

        return resolve_joint(data, source=source)
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, source)) from None
    _check_semantics(recipe)
    return recipe


def load_recipe(path: str | Path, overrides: Sequence[str] = ()) -> Recipe:
    """Read, override and validate a recipe file.

    Relative ``reference.file`` paths are resolved against the recipe's folder.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"recipe {str(path)!r} does not exist; pass the path of a .yaml recipe, e.g. recipes/allen_cahn.yaml")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read recipe {str(path)!r}: {exc}") from None
    recipe = resolve(parse_yaml(text, source=str(path)), overrides, source=str(path))
    if getattr(recipe, "problem", None) == "joint_discovery":
        if recipe.data.file is not None and not Path(recipe.data.file).is_absolute():
            recipe.data.file = str((path.parent / recipe.data.file).resolve())
        return recipe
    if recipe.reference.file is not None and not Path(recipe.reference.file).is_absolute():
        recipe.reference.file = str((path.parent / recipe.reference.file).resolve())
    return recipe


def format_errors(exc: ValidationError, source: str, root: Any = None) -> str:
    """One readable message for a recipe's validation errors (``root``: the model, default :class:`Recipe`)."""
    lines = []
    for err in sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden"):
        loc = [p for p in err["loc"] if isinstance(p, (str, int))]
        key = ".".join(str(p) for p in loc)
        kind = err["type"]
        if kind == "extra_forbidden":
            lines.append(unknown_key(loc, root))
        elif kind == "missing":
            lines.append(f"missing required key {key!r}")
        elif kind == "literal_error":
            lines.append(f"{key}: expected {err['msg'].removeprefix('Input should be ')}, received {err['input']!r}")
        elif kind in _EXPECTED:
            lines.append(f"{key}: expected {_EXPECTED[kind]}, received {err['input']!r} ({type(err['input']).__name__})")
        elif kind == "value_error":
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"{key}: {msg}" if key else msg)
        else:
            lines.append(f"{key}: {err['msg'].replace('Input should be', 'expected')}, received {err['input']!r}")
    lines = list(dict.fromkeys(lines))
    head = lines[0] if len(lines) == 1 else f"{len(lines)} problems in {source}:\n  " + "\n  ".join(lines)
    return head


def unknown_key(loc: Sequence[Any], root: Any = None) -> str:
    """``unknown key 'a.b'; did you mean 'a.c'?`` for a pydantic ``extra_forbidden`` error at ``loc``.

    ``root`` is the recipe model the location starts from (default :class:`Recipe`).
    """
    model: Any = Recipe if root is None else root
    for p in loc[:-1]:
        field = model.model_fields.get(p) if isinstance(p, str) and hasattr(model, "model_fields") else None
        if field is None:
            model = None
            break
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        model = next((a for a in (ann, *args) if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if model is None:
            break
    key = ".".join(str(p) for p in loc)
    known = list(model.model_fields) if model is not None else []
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    prefix = ".".join(str(p) for p in loc[:-1])
    if close:
        return f"unknown key {key!r}; did you mean {(prefix + '.' if prefix else '') + close[0]!r}?"
    return f"unknown key {key!r}; known keys here: {', '.join(known)}"


def _check_semantics(recipe: Recipe) -> None:
    """Parse the equation and condition strings now, so a bad recipe fails before any run starts."""
    from .problems.conditions import parse_conditions

    try:
        parse_conditions(recipe)
    except ConfigError:
        raise
    except PdelearnError as exc:
        raise ConfigError(str(exc)) from None
