"""Recipes: every shipped recipe parses; every validation rule raises a clear ConfigError."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pdelearn.errors import ConfigError
from pdelearn.recipes import apply_overrides, load_recipe, parse_yaml, resolve

# recipes of the forward problems (other problem kinds, e.g. joint_discovery, have their own tests)
RECIPES = [p for p in sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.yaml"))
           if (yaml.safe_load(p.read_text()) or {}).get("problem", "forward") in ("forward", "extrapolation")]
BASE = {"equation": "u_t = 0.0001*u_xx - 5*u**3 + 5*u", "domain": {"x": [-1, 1], "t": [0, 1]},
        "initial_condition": "x**2*cos(pi*x)"}


def test_recipes_exist():
    names = {p.stem for p in RECIPES}
    assert {"allen_cahn", "allen_cahn_accurate", "allen_cahn_extrapolation", "burgers_forward"} <= names


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_every_recipe_parses_and_round_trips(path):
    recipe = load_recipe(path)
    again = resolve(parse_yaml(recipe.to_yaml()))
    assert again == recipe


def test_defaults_are_filled_in():
    r = resolve(BASE)
    d = r.to_dict()
    assert d["training"]["steps"] == 5000 and d["model"]["periodic_harmonics"] == 1
    assert d["losses"]["weights"] == {"L_I": 1.0, "L_B": 1.0, "L_G": 1.0, "L_R": 0.0}
    assert r.space_coord == "x"


def test_yaml_reads_exponent_floats_without_a_dot():
    r = resolve(parse_yaml("equation: 'u_t = u_xx'\ndomain: {x: [0, 1], t: [0, 1]}\ninitial_condition: '0'\n"
                           "training: {lr: 1e-3}\nboundary: {type: dirichlet}\n"))
    assert r.training.lr == 1e-3


@pytest.mark.parametrize("data, message", [
    ({**BASE, "trainig": {}}, "unknown key 'trainig'; did you mean 'training'?"),
    ({**BASE, "training": {"stpes": 3}}, "unknown key 'training.stpes'; did you mean 'training.steps'?"),
    ({**BASE, "losses": {"weights": {"L_X": 1}}}, "unknown key 'losses.weights.L_X'"),
    ({**BASE, "model": {"fourier_features": {"scal": 1}}}, "did you mean 'model.fourier_features.scale'"),
    ({**BASE, "training": {"steps": "many"}}, "training.steps: expected an integer, received 'many'"),
    ({**BASE, "training": {"steps": 1.5}}, "training.steps: expected an integer"),
    ({**BASE, "training": {"hard_ic": "yes please"}}, "training.hard_ic: expected true or false"),
    ({**BASE, "training": {"lr": "fast"}}, "training.lr: expected a number"),
    ({**BASE, "training": {"lr": -1.0}}, "training.lr"),
    ({**BASE, "model": {"activation": "relu"}}, "model.activation: expected 'tanh', 'sin', 'softplus' or 'gelu'"),
    ({**BASE, "model": "big"}, "model: expected a mapping"),
    ({k: v for k, v in BASE.items() if k != "equation"}, "missing required key 'equation'"),
    ({**BASE, "domain": {"x": [1, -1], "t": [0, 1]}}, "domain.x must be [low, high] with low < high"),
    ({**BASE, "domain": {"x": [0, 1]}}, "domain needs a time interval"),
    ({**BASE, "domain": {"x": [0, 1], "y": [0, 1], "t": [0, 1]}}, "exactly one space coordinate"),
    ({**BASE, "model": {"periodic_harmonics": 0}}, "periodic_harmonics >= 1"),
    ({**BASE, "reference": {"solver": "none"}, "losses": {"weights": {"L_R": 1.0}}}, "L_R fits the reference"),
    ({**BASE, "extrapolation": {"t_train": 0.5}}, "only used with problem: extrapolation"),
    ({**BASE, "problem": "extrapolation", "extrapolation": {"t_train": 2.0}}, "extrapolation.t_train must lie"),
    ({**BASE, "equation": "u_t = 0.1*u_xx + w"}, "equation: "),
    ({**BASE, "equation": "u_t = 0.1*u_yy"}, "unknown name 'u_yy'"),
    ({**BASE, "equation": "u_t = 0.1*u_xx + u_t"}, "equation"),
    ({**BASE, "equation": "u_t = 0"}, "has no right-hand side terms"),
    ({**BASE, "initial_condition": "x**2*cos(pi*"}, "initial_condition"),
    ({**BASE, "initial_condition": "y + 1"}, "initial_condition"),
    ({**BASE, "initial_condition": "log(x)"}, "initial_condition 'log(x)' is not finite"),
    ({**BASE, "boundary": {"type": "dirichlet", "left": "sin(t)", "enforce": "exact"}}, "constant boundary values"),
    ({**BASE, "boundary": {"type": "dirichlet", "left": "x + 1"}}, "boundary.left"),
])
def test_validation_rules(data, message):
    with pytest.raises(ConfigError) as info:
        resolve(data)
    assert message in str(info.value)


@pytest.mark.parametrize("text", ["__import__('os').system('touch /tmp/pdelearn_pwned')",
                                  "u_t = __import__('os').system('touch /tmp/pdelearn_pwned')",
                                  "u_t = u.__class__", "u_t = [u for u in ()]", "u_t = lambda: 1"])
def test_code_in_the_equation_is_rejected_never_run(text, tmp_path):
    marker = Path("/tmp/pdelearn_pwned")
    marker.unlink(missing_ok=True)
    with pytest.raises(ConfigError, match="equation"):
        resolve({**BASE, "equation": text})
    assert not marker.exists()


def test_code_in_the_initial_condition_is_rejected():
    with pytest.raises(ConfigError, match="initial_condition"):
        resolve({**BASE, "initial_condition": "__import__('os').getcwd()"})


def test_several_problems_are_listed_unknown_keys_first():
    with pytest.raises(ConfigError) as info:
        resolve({**BASE, "modle": {}, "training": {"steps": "x"}})
    text = str(info.value)
    assert text.startswith("2 problems") and text.index("modle") < text.index("training.steps")


def test_overrides():
    data = apply_overrides(BASE, ["training.steps=7", "model.fourier_features.n=4", "training.causal=null",
                                  "domain.t=[0, 0.5]", "training.lr=2e-3"])
    r = resolve(data)
    assert r.training.steps == 7 and r.model.fourier_features.n == 4 and r.training.causal is None
    assert r.domain["t"] == [0.0, 0.5] and r.training.lr == 2e-3
    assert "steps" not in BASE.get("training", {})  # the input is not modified


@pytest.mark.parametrize("item, message", [
    ("training.steps", "--set expects KEY=VALUE"),
    ("=3", "--set expects KEY=VALUE"),
    ("training..steps=3", "--set expects KEY=VALUE"),
    ("equation.steps=3", "not a mapping"),
    ("training.steps=[1, 2", "malformed YAML"),
    ("training.stesp=3", "did you mean 'training.steps'"),
])
def test_bad_overrides(item, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(".", r"\.")):
        resolve(BASE, [item])


def test_malformed_yaml_names_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("equation: 'u_t = u_xx'\ndomain: {x: [0, 1], t: [0, 1]\ninitial_condition: '0'\n")
    with pytest.raises(ConfigError, match=r"malformed YAML at line \d+"):
        load_recipe(path)


def test_not_a_mapping_and_missing_file(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must be a YAML mapping"):
        load_recipe(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_recipe(tmp_path / "missing.yaml")


def test_reference_file_is_relative_to_the_recipe(tmp_path):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "r.yaml"
    path.write_text("equation: 'u_t = u_xx'\ndomain: {x: [0, 1], t: [0, 1]}\ninitial_condition: '0'\n"
                    "boundary: {type: dirichlet}\nreference: {file: ../data.mat}\n")
    assert load_recipe(path).reference.file == str((tmp_path / "data.mat").resolve())


def _keys(model, prefix=""):
    from pydantic import BaseModel

    for name, field in model.model_fields.items():
        yield prefix + name
        for arg in (field.annotation, *getattr(field.annotation, "__args__", ())):
            if isinstance(arg, type) and issubclass(arg, BaseModel) and arg.__name__ != "LossWeights":
                yield from _keys(arg, prefix + name + ".")


def test_every_key_is_documented():
    from pdelearn.recipes import Recipe

    text = (Path(__file__).resolve().parents[1] / "docs" / "recipes.md").read_text()
    missing = [k for k in _keys(Recipe) if f"`{k}`" not in text]
    assert not missing, f"docs/recipes.md does not document {missing}"
