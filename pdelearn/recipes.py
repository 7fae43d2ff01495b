"""Recipes: YAML files validated into typed configuration, for every problem type.

One loader serves all problem types: the YAML mapping (after ``--set key=value`` overrides) is
validated against the **discriminated union** of the registered recipe models on the key
``problem`` (:mod:`pdelearn.problems.registry`; a missing ``problem`` means ``forward``). Unknown keys
are errors with a "did you mean", wrong types name the dotted key and the expected type, and each
model's ``check()`` runs semantic rules (e.g. parsing the equation). The resolved recipe (every
default filled in) is what a run saves as ``recipe.yaml``. The schema reference is ``docs/recipes.md``.

Examples
--------
>>> r = resolve({"equation": "u_t = 0.1*u_xx", "domain": {"x": [0, 1], "t": [0, 1]},
...              "initial_condition": "sin(pi*x)", "boundary": {"type": "dirichlet"}})
>>> r.problem, r.training.steps
('forward', 5000)
>>> resolve({"equation": "u_t = u_xx", "domain": {"x": [0, 1], "t": [0, 1]}, "intial_condition": "0"})
Traceback (most recent call last):
...
pdelearn.errors.ConfigError: 2 problems in recipe:
  unknown key 'intial_condition'; did you mean 'initial_condition'?
  missing required key 'initial_condition'
>>> resolve({"problem": "joint_discovery", "data": {"system": "burgers", "nosie": 0.5}})
Traceback (most recent call last):
...
pdelearn.errors.ConfigError: unknown key 'data.nosie'; did you mean 'data.noise'?
>>> resolve({"problem": "joint-discovery"})
Traceback (most recent call last):
...
pdelearn.errors.ConfigError: recipe: problem: unknown problem type 'joint-discovery'; did you mean 'joint_discovery'?
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from .errors import ConfigError, PdelearnError, did_you_mean
from .limits import MAX_YAML_BYTES, MAX_YAML_DEPTH, check_recipe_sizes
from .problems.base import RecipeBase
from .problems.forward_recipe import LOSS_NAMES, Recipe
from .problems.registry import PROBLEMS, problem_class, recipe_models
from .yamlio import parse_yaml, to_yaml

__all__ = [
    "Recipe",
    "RecipeBase",
    "load_recipe",
    "resolve",
    "apply_overrides",
    "parse_yaml",
    "to_yaml",
    "format_errors",
    "LOSS_NAMES",
]


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
        parts = key.split(".")
        MAX_YAML_DEPTH.check(len(parts), f"--set {key[:60]}: the nesting of the dotted key")
        parsed = parse_yaml(value, source=f"--set {key}") if value.strip() else ""
        node = out
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


def _union() -> TypeAdapter:
    return _union_of(tuple(PROBLEMS.items()))


@functools.lru_cache(maxsize=8)
def _union_of(entries: tuple) -> TypeAdapter:
    models = tuple(dict.fromkeys(recipe_models().values()))
    if len(models) == 1:
        return TypeAdapter(models[0])
    return TypeAdapter(Annotated[Union[models], Field(discriminator="problem")])


def resolve(data: Any, overrides: Sequence[str] = (), source: str = "recipe") -> RecipeBase:
    """Validate raw recipe data (after ``overrides``) into the recipe model of its ``problem``.

    Raises
    ------
    ConfigError
        An unknown problem type, unknown keys (with a "did you mean"), wrong types (naming the
        dotted key and the expected type), missing required keys, values out of range and
        inconsistent settings.
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: a recipe must be a YAML mapping of keys to values, received {type(data).__name__}")
    data = apply_overrides(data, overrides)
    data.setdefault("problem", "forward")
    name = data["problem"]
    if not isinstance(name, str) or name not in PROBLEMS:
        raise ConfigError(f"{source}: problem: " + did_you_mean(str(name), PROBLEMS, what="problem type"))
    model = problem_class(name).Recipe
    try:
        recipe = _union().validate_python(data)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, source, model, tag=name)) from None
    try:
        check_recipe_sizes(recipe.to_dict())  # before any work: sizes that would exhaust memory or time
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    try:
        recipe.check()
    except ConfigError:
        raise
    except PdelearnError as exc:
        raise ConfigError(str(exc)) from None
    return recipe


def load_recipe(path: str | Path, overrides: Sequence[str] = ()) -> RecipeBase:
    """Read, override and validate a recipe file; relative file names are resolved against its folder."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"recipe {str(path)!r} does not exist; pass the path of a .yaml recipe, e.g. recipes/allen_cahn.yaml")
    try:
        MAX_YAML_BYTES.check(path.stat().st_size, f"recipe {str(path)!r}")  # before reading it
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read recipe {str(path)!r}: {exc}") from None
    recipe = resolve(parse_yaml(text, source=str(path)), overrides, source=str(path))
    recipe.resolve_paths(path.parent)
    return recipe


def format_errors(exc: ValidationError, source: str, root: Any = None, tag: str | None = None) -> str:
    """One readable message for a recipe's validation errors.

    ``root`` is the recipe model the locations start from (default: the forward :class:`Recipe`);
    ``tag`` the ``problem`` value a discriminated union puts in front of every location.
    """
    lines = []
    for err in sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden"):
        loc = [p for p in err["loc"] if isinstance(p, (str, int))]
        if tag is not None and loc and loc[0] == tag:
            loc = loc[1:]
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
    prefix = ".".join(str(p) for p in loc[:-1])
    known = list(model.model_fields) if model is not None else []
    return did_you_mean((prefix + "." if prefix else "") + str(loc[-1]),
                        [(prefix + "." if prefix else "") + k for k in known])
