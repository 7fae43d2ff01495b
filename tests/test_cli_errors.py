"""The CLI contract on hostile or mistaken input (issue 27): one ``Error:`` line, the right exit code, no traceback,
nothing half-written; and run folders that record what reproduces them."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

from pdelearn.cli import main

ROOT = Path(__file__).resolve().parents[1]
FORWARD = ROOT / "recipes" / "burgers_forward.yaml"
SMALL = ["training.steps=2", "training.lbfgs_steps=0", "training.time_windows=1", "reference.nx=64",
         "reference.nt=11", "reference.dt=1e-3", "reference.refine=2", "sampling.collocation=64",
         "sampling.initial=16", "sampling.boundary=8", "model.width=8", "model.depth=2", "device=cpu"]
LONG = "a" * 256


def sets(*items):
    return [arg for item in [*SMALL, *items] for arg in ("--set", item)]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_error(result, *needles, code=2):
    """``code``, exactly one ``Error:`` line naming ``needles``, no traceback."""
    assert result.exit_code == code, (result.exit_code, result.output)
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("Error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]


@pytest.fixture(scope="module")
def burgers(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "b.npz"
    assert invoke("generate", "burgers", "--out", path).exit_code == 0
    return path


@pytest.fixture
def here(tmp_path, monkeypatch) -> Path:
    """Work in an empty folder, so that "nothing on disk" can be checked by listing it."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


# -- unusable --out ---------------------------------------------------------------------------------
def _commands(burgers, out):
    return {"discover": ["discover", burgers, "--out", out],
            "generate": ["generate", "burgers", "--out", f"{out}.npz"],
            "fit": ["fit", FORWARD, "--out", out, *sets()]}


@pytest.mark.parametrize("command", ["discover", "generate", "fit"])
@pytest.mark.parametrize("out, needle", [
    (LONG, "limited to 255 characters"),
    (f"sub/{LONG}", "limited to 255 characters"),
    ("/proc/pdelearn-x", "choose"),
    ("/proc/pdelearn-x/y", "choose"),
    ("/sys/pdelearn-x", "choose"),
], ids=["long-name", "long-name-in-folder", "proc", "proc-sub", "sys"])
def test_an_unusable_out_is_one_line_exit_2_and_leaves_nothing(burgers, here, command, out, needle):
    if out.startswith(("/proc", "/sys")) and not Path("/" + out.split("/")[1]).is_dir():
        pytest.skip("no /proc or /sys here")
    one_error(invoke(*_commands(burgers, out)[command]), needle)
    assert list(here.iterdir()) == []


def test_an_os_error_anywhere_is_one_line(here, monkeypatch):
    import pdelearn.simulate as sim

    def fails(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(here / "run" / "simulation.json"))

    monkeypatch.setattr(sim, "simulate_run", fails)
    one_error(invoke("simulate", here), "Permission denied on", "choose a path you may write to")


def test_an_unexpected_exception_is_one_line_exit_1(here, monkeypatch):
    import pdelearn.simulate as sim

    def bug(*args, **kwargs):
        raise TypeError("unsupported operand\ntype(s)")

    monkeypatch.setattr(sim, "simulate_run", bug)
    one_error(invoke("simulate", here), "unexpected TypeError: unsupported operand type(s)", "PDELEARN_DEBUG=1", code=1)
    monkeypatch.setenv("PDELEARN_DEBUG", "1")
    assert isinstance(invoke("simulate", here).exception, TypeError)


# -- resume ---------------------------------------------------------------------------------------------
@pytest.fixture
def half_run(tmp_path) -> Path:
    out = tmp_path / "run"
    res = invoke("fit", FORWARD, "--out", out, *sets())
    assert res.exit_code == 0, res.output
    return out


def test_resume_after_editing_the_recipe_names_the_keys(half_run):
    text = (half_run / "recipe.yaml").read_text()
    data = yaml.safe_load(text)
    data["model"]["width"] = 16
    data["sampling"]["collocation"] = 32
    (half_run / "recipe.yaml").write_text(yaml.safe_dump(data))
    before = {p.name: p.stat().st_mtime_ns for p in half_run.iterdir()}
    one_error(invoke("fit", "--resume", half_run), "differs from the one its checkpoint was made with",
              "model.width (8 -> 16)", "sampling.collocation (64 -> 32)", "undo the change")
    assert {p.name: p.stat().st_mtime_ns for p in half_run.iterdir()} == before  # nothing touched
    (half_run / "recipe.yaml").write_text(text)
    one_error(invoke("fit", "--resume", half_run, "--set", "model.depth=3"), "model.depth (2 -> 3)")
    res = invoke("fit", "--resume", half_run, "--set", "training.steps=4")  # the run's length may change
    assert res.exit_code == 0, res.output
    assert json.loads((half_run / "summary.json").read_text())["steps"] == 4


def test_resume_of_a_checkpoint_without_a_recipe_that_does_not_fit_is_one_line(half_run):
    ckpt = torch.load(half_run / "checkpoint.pt", weights_only=True)
    ckpt.pop("meta")  # as written before checkpoints carried their recipe
    torch.save(ckpt, half_run / "checkpoint.pt")
    data = yaml.safe_load((half_run / "recipe.yaml").read_text())
    data["model"]["width"] = 16
    (half_run / "recipe.yaml").write_text(yaml.safe_dump(data))
    one_error(invoke("fit", "--resume", half_run), f"the checkpoint in {str(half_run)!r} does not fit",
              "size mismatch", "start a new run with --out")


# -- a run folder left by a killed fit ---------------------------------------------------------------
def _killed_run(folder: Path) -> None:
    """What `pdelearn fit` leaves when it is killed before its first checkpoint: the folder and its recipe."""
    from pdelearn.recipes import load_recipe
    from pdelearn.runs import new_run

    with new_run(folder, load_recipe(FORWARD, SMALL)):
        pass


def test_a_killed_run_folder_is_named_as_such_and_force_replaces_it(tmp_path):
    out = tmp_path / "run"
    _killed_run(out)
    assert (out / "recipe.yaml").is_file() and not (out / "checkpoint.pt").exists()
    one_error(invoke("fit", FORWARD, "--out", out, *sets()), "is a pdelearn run folder without a checkpoint",
              "pass --force to replace it")
    res = invoke("fit", FORWARD, "--out", out, *sets(), "--force")
    assert res.exit_code == 0, res.output
    one_error(invoke("fit", FORWARD, "--out", out, *sets()), "holds a pdelearn run with a checkpoint",
              f"pdelearn fit --resume {out}", "--force")


def test_a_markerless_folder_holding_only_a_recipe_is_explained(tmp_path):
    out = tmp_path / "old"
    out.mkdir()
    (out / "recipe.yaml").write_text(FORWARD.read_text())
    one_error(invoke("fit", FORWARD, "--out", out, *sets()), "holds only recipe.yaml", "delete it yourself")
    assert sorted(p.name for p in out.iterdir()) == ["recipe.yaml"]


# -- run folders record what reproduces them ------------------------------------------------------------
def test_fit_summary_records_versions_and_the_command(half_run):
    summary = json.loads((half_run / "summary.json").read_text())
    assert {"python", "pdelearn", "torch", "numpy", "sympy"} <= set(summary["versions"])
    assert summary["versions"]["torch"] == torch.__version__.split("+")[0] or summary["versions"]["torch"]
    words = shlex.split(summary["command"])
    assert words[:2] == ["pdelearn", "fit"] and str(half_run) in words and "model.width=8" in words
    assert summary["cwd"] == os.getcwd()
    ckpt = torch.load(half_run / "checkpoint.pt", weights_only=True)
    assert ckpt["meta"]["recipe"]["model"]["width"] == 8


def test_a_discover_run_with_custom_terms_is_reproduced_from_its_own_files(burgers, tmp_path):
    first = tmp_path / "first"
    res = invoke("discover", burgers, "--out", first, "--terms", "u*u_xx, sin(u)", "--max-power", "2",
                 "--max-order", "3", "--method", "strong", "--derivative", "spectral")
    assert res.exit_code == 0, res.output
    options = json.loads((first / "options.json").read_text())
    assert options["terms"] == ["sin(u)"]  # u*u_xx is already in the default library
    assert options["default_library"] is True and "sin(u)" in options["library"]["keys"]
    assert len(options["library"]["keys"]) == len(options["library"]["names"]) == options["library_size"]
    assert options["cli"]["terms"] == "u*u_xx, sin(u)" and options["cli"]["max_order"] == 3
    assert {"python", "pdelearn", "torch", "numpy", "sympy"} <= set(options["versions"])
    # re-run the recorded command (into another folder): the same equation
    words = shlex.split(options["command"])
    assert words[0] == "pdelearn"
    args = words[1:]
    args[args.index("--out") + 1] = str(tmp_path / "again")
    again = invoke(*args)
    assert again.exit_code == 0, again.output
    eq1 = json.loads((first / "equation.json").read_text())
    eq2 = json.loads((tmp_path / "again" / "equation.json").read_text())
    assert eq1 == eq2
    # and from the recorded options alone (no command line), through the Python API
    from pdelearn import discover
    from pdelearn.data import load_grid_data

    grid = load_grid_data(options["data"], **options["load"])
    cli = options["cli"]
    redo = discover(grid, max_power=cli["max_power"], max_order=cli["max_order"], method=cli["method"],
                    derivative=cli["derivative"], terms=options["terms"], default_library=options["default_library"])
    assert redo.library.keys == options["library"]["keys"]
    assert redo.equation.to_dict()["terms"] == eq1["terms"]


def test_terms_only_is_recorded(burgers, tmp_path):
    res = invoke("discover", burgers, "--out", tmp_path / "r", "--terms", "u*u_x, u_xx", "--terms-only")
    assert res.exit_code == 0, res.output
    options = json.loads((tmp_path / "r" / "options.json").read_text())
    assert options["default_library"] is False and options["terms"] == ["u*u_x", "u_xx"]
    assert options["cli"]["terms_only"] is True


@pytest.mark.parametrize("text, match", [
    ('{"equations": [1, 2]}', "is not an equation pdelearn can read (TypeError"),
    ('{"lhs": "u_t", "terms": {"u": 1}, "coords": [1]}', "is not an equation pdelearn can read"),
    ('{"lhs": "u_t", "terms": {"u": 1}, "intervals": {"u": [1]}}', "is not an equation pdelearn can read (IndexError"),
    ('{"lhs": "u_t", "terms": {"u**u": 1}}', "exponents must be numbers"),
])
def test_export_of_an_edited_equation_is_one_line(here, text, match):
    (here / "equation.json").write_text(text)
    one_error(invoke("export", here / "equation.json"), match, "equation.json")


@pytest.mark.parametrize("content, kind", [(b"garbage\n", "UnpicklingError"), (b"", "EOFError")])
def test_resume_of_a_damaged_checkpoint_is_one_short_line(half_run, content, kind):
    (half_run / "checkpoint.pt").write_bytes(content)
    line = one_error(invoke("fit", "--resume", half_run), f"({kind}); it is damaged or not a pdelearn checkpoint")
    assert "weights_only" not in line and len(line) < 300


@pytest.mark.parametrize("command, name, text, match", [
    ("export", "eq.json", "[" * 100000 + "]" * 100000, "RecursionError"),
    ("export", "eq.json", '{"lhs": "u_t", "terms": {"u_xx": 1' + "0" * 5000 + '}}', "digits"),
    ("compare", "a/evaluation.json", '{"conditions": ' + "[" * 100000 + "]" * 100000 + "}", "RecursionError"),
])
def test_json_python_cannot_parse_is_one_line(here, command, name, text, match):
    (here / name).parent.mkdir(exist_ok=True)
    (here / name).write_text(text)
    one_error(invoke(command, name.split("/")[0]), "is JSON pdelearn cannot read", match, name)


def test_generate_negative_seed_is_exit_2_before_any_work(here):
    one_error(invoke("generate", "burgers", "--out", "b.npz", "--seed", "-1"), "--seed must be an integer >= 0")
    assert list(here.iterdir()) == []


def test_an_interrupt_is_one_line_exit_130(here, monkeypatch):
    import pdelearn.simulate as sim

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sim, "simulate_run", interrupted)
    res = invoke("simulate", here)
    assert res.exit_code == 130 and res.output.strip() == "interrupted; nothing was written"
