"""Command line: ``pdelearn discover`` and ``pdelearn export``.

Errors about user input (:class:`~pdelearn.errors.PdelearnError`) print one ``Error:`` line and
exit with code 2, without a traceback. Output folders are written to a temporary sibling and
renamed into place at the end, so a failed run leaves nothing half-written.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import click

from .equation import write_equation  # noqa: F401  (kept importable from here for runs.py and joint.py)
from .errors import ConfigError, DataError, PdelearnError

__all__ = ["main"]


def _user_errors(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except PdelearnError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(2)

    return wrapper


@contextlib.contextmanager
def output_folder(path: str | os.PathLike, force: bool = False):
    """Yield a temporary folder that replaces ``path`` only if the block succeeds."""
    target = Path(path)
    if target.exists() and (not target.is_dir() or any(target.iterdir())) and not force:
        raise ConfigError(f"output folder {str(target)!r} already exists and is not empty; pass --force or another --out")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.exists():
        raise ConfigError(f"the parent of --out {str(target)!r} does not exist; create {str(parent)!r} first")
    if not os.access(parent, os.W_OK):
        raise ConfigError(f"cannot write to {str(parent)!r}; choose a writable --out")
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=parent))
    tmp.chmod(0o777 & ~_umask())  # mkdtemp makes 0700; a run folder gets the usual permissions
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if target.exists():
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    tmp.rename(target)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pdelearn")
def main() -> None:
    """pdelearn: discover PDEs from data and train physics-informed networks."""


@main.command()
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Output folder (created).")
@click.option("--field", "fields", multiple=True, help="Name of a field array in DATA (repeat for several).")
@click.option("--coord", "coords", multiple=True, help="Name of a coordinate array in DATA (space ones, then time).")
@click.option("--time", "time", default=None, help="Name of the time array (default: t or tt).")
@click.option("--layout", default=None, help="Axis order of the field arrays, e.g. xt or tx.")
@click.option("--method", type=click.Choice(["weak", "strong"]), default="weak", show_default=True)
@click.option(
    "--derivative", type=click.Choice(["fd", "smooth", "spectral"]), default="fd", show_default=True,
    help="Derivatives for --method strong.",
)
@click.option("--regression", type=click.Choice(["backward", "stlsq"]), default="backward", show_default=True)
@click.option("--threshold", type=float, default=None, help="Fixed STLSQ threshold (default: automatic selection).")
@click.option("--max-power", type=int, default=3, show_default=True)
@click.option("--max-order", type=int, default=4, show_default=True)
@click.option("--radius", type=float, default=None, help="Weak-form test-function half-width, fraction of each axis.")
@click.option("--bootstrap", type=int, default=0, show_default=True,
              help="Bootstrap resamples for 95 % coefficient intervals (written to equation.json).")
@click.option("--refit", type=click.Choice(["gls", "none"]), default="gls", show_default=True,
              help="Refit the selected terms by generalized least squares (weak form).")
@click.option("--terms", default=None, metavar="LIST",
              help="Extra candidate terms, comma-separated, e.g. 'u*u_x, sin(u)' (names: fields, x/y/z, u_xx...).")
@click.option("--terms-only", is_flag=True, help="Use only the --terms, not the default polynomial library.")
@click.option("--force", is_flag=True, help="Replace an existing output folder.")
@_user_errors
def discover(data, out, fields, coords, time, layout, method, derivative, regression, threshold, max_power, max_order,
             radius, bootstrap, refit, terms, terms_only, force):
    """Discover the governing equation of gridded DATA (.npz or .mat)."""
    from .data import load_grid_data
    from .discovery import discover as run_discover
    from .paths import created_parents
    from .sparse import SparseRegression
    from .weak import WeakForm

    if max_power < 0 or max_order < 1:
        raise ConfigError(f"--max-power must be >= 0 and --max-order >= 1; received {max_power} and {max_order}")
    if not Path(data).exists():
        raise DataError(f"data file {data!r} does not exist; pass the path of a .npz or .mat file")
    with created_parents(out), output_folder(out, force=force) as folder:
        grid = load_grid_data(data, fields=list(fields) or None, coords=list(coords) or None, time=time, layout=layout)
        weak = WeakForm() if radius is None else WeakForm(radius=radius)
        result = run_discover(
            grid,
            max_power=max_power,
            max_order=max_order,
            method=method,
            derivative=derivative,
            weak=weak,
            regression=SparseRegression(method=regression, threshold=threshold),
            bootstrap=bootstrap,
            refit=refit,
            terms=terms,
            default_library=not terms_only,
            progress=_progress(),
        )
        result.save(folder, source=data)
    click.echo(grid.summary(), err=True)
    if result.options.get("renamed_coords"):
        click.echo("coordinates in the equation: " + ", ".join(f"{k} -> {v}" for k, v in
                                                                 result.options["renamed_coords"].items()), err=True)
    wrote = f"wrote {out}/equation.json, equation.tex, options.json, summary.json ({result.wall_time_s:.2f} s)"
    if result.unexplained:
        for reason in result.unexplained:
            click.echo(f"No equation found: {reason}.", err=True)
        click.echo(f"The best candidate, {result.equation!s}, is NOT an answer; it is kept in {out}/equation.json "
                   "marked \"reliable\": false.", err=True)
        click.echo(wrote, err=True)
        sys.exit(3)
    click.echo(str(result.equation))
    for warning in result.warnings:
        click.echo(f"Warning: {warning}", err=True)
    click.echo(wrote, err=True)
    if result.warnings:
        sys.exit(3)


def _progress(after_s: float = 2.0):
    """A ``progress(message)`` that echoes to stderr once the run has taken more than ``after_s`` seconds."""
    import time

    start = time.perf_counter()

    def echo(message: str) -> None:
        elapsed = time.perf_counter() - start
        if elapsed > after_s:
            click.echo(f"  [{elapsed:5.1f} s] {message}", err=True)

    return echo


_SYSTEMS = ("allen-cahn", "burgers", "kdv", "kuramoto-sivashinsky", "reaction-diffusion")


@main.command()
@click.argument("system", type=click.Choice(_SYSTEMS))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Output .npz file.")
@click.option("--noise", type=float, default=0.0, show_default=True, help="Gaussian noise, fraction of the field's std.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--force", is_flag=True, help="Replace an existing file.")
@_user_errors
def generate(system, out, noise, seed, force):
    """Solve a reference SYSTEM with the spectral solver and save it as .npz (u, x, t, equation)."""
    import numpy as np

    from .paths import created_parents

    target = Path(out)
    if target.suffix != ".npz":
        raise ConfigError(f"--out must end in .npz, received {out!r}")
    if target.exists() and not force:
        raise ConfigError(f"{out!r} already exists; pass --force or another --out")
    if not (noise >= 0 and np.isfinite(noise)):
        raise ConfigError(f"--noise must be a finite number >= 0, received {noise}")
    parent = target.parent if str(target.parent) else Path(".")
    with created_parents(target):
        _generate(system, target, parent, noise, seed)


def _generate(system, target, parent, noise, seed):
    import numpy as np

    from . import solvers

    out = str(target)
    result = getattr(solvers, system.replace("-", "_"))()
    rng = np.random.default_rng(seed)
    arrays = {k: v for k, v in result.items() if isinstance(v, np.ndarray)}
    for name in ("u", "v"):
        if name in arrays and noise:
            arrays[name] = arrays[name] + noise * arrays[name].std() * rng.standard_normal(arrays[name].shape)
    eq = result["equation"]
    arrays["equation"] = np.array(eq if isinstance(eq, str) else "; ".join(eq))
    fd, tmp = tempfile.mkstemp(suffix=".npz", dir=parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    click.echo(f"wrote {out}: {', '.join(f'{k}{tuple(v.shape)}' for k, v in arrays.items() if v.ndim)}; {arrays['equation']}")


@main.command()
@click.argument("run", type=click.Path(file_okay=False))
@click.option("--data", default=None, help="Data file (default: the one recorded in RUN/options.json).")
@_user_errors
def simulate(run, data):
    """Integrate the equation discovered in RUN from the data's initial condition and compare."""
    from .simulate import simulate_run

    summary = simulate_run(run, data)
    click.echo(f"{summary['equation']}\nrelative L2 difference to the data: {summary['rel_l2']:.3e}")
    click.echo(f"wrote {run}/simulation.json and simulation.png", err=True)


@main.command()
@click.argument("run", type=click.Path(file_okay=True))
@click.option("--latex", "fmt", flag_value="latex", default=True, help="Print LaTeX (default).")
@click.option("--json", "fmt", flag_value="json", help="Print the JSON form.")
@click.option("--text", "fmt", flag_value="text", help="Print the readable form.")
@_user_errors
def export(run, fmt):
    """Print a saved equation (RUN folder or its equation.json) as LaTeX, JSON or text."""
    from .equation import load_equation

    path = Path(run)
    if path.is_dir():
        path = path / "equation.json"
    if not path.exists():
        raise DataError(f"{str(path)!r} does not exist; pass a run folder holding equation.json")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{str(path)!r} is not valid JSON ({exc}); was it written by pdelearn?") from None
    eq = load_equation(data)
    click.echo(eq.latex() if fmt == "latex" else json.dumps(eq.to_dict(), indent=2) if fmt == "json" else str(eq))


@main.command()
@click.argument("recipe", required=False, type=click.Path(dir_okay=False))
@click.option("--out", "out", default=None, type=click.Path(file_okay=False),
              help="Run folder (created; default runs/<recipe>-<timestamp>).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a recipe key, e.g. --set training.steps=100 (repeatable).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=None, help="Overrides the recipe's device.")
@click.option("--seed", type=int, default=None, help="Overrides the recipe's seed.")
@click.option("--resume", "resume", default=None, type=click.Path(file_okay=False),
              help="Continue the interrupted run in this folder (RECIPE is then optional).")
@click.option("--force", is_flag=True, help="Replace an existing output folder.")
@_user_errors
def fit(recipe, out, overrides, device, seed, resume, force):
    """Train a physics-informed network from a RECIPE (YAML) and write a run folder.

    ``problem: joint_discovery`` recipes discover an equation from scattered samples instead
    (docs/joint_discovery.md).
    """

    from .recipes import load_recipe
    from .runs import RECIPE, fit as run_fit, load_run_recipe, prepare, select_device

    extra = list(overrides) + ([f"device={device}"] if device else []) + ([f"seed={seed}"] if seed is not None else [])
    if resume is not None:
        if out is not None and Path(out).resolve() != Path(resume).resolve():
            raise ConfigError("--resume continues in its own folder; drop --out (or pass the same folder)")
        resolved = load_run_recipe(resume, extra)
        if recipe is not None:
            given = load_recipe(recipe, extra)
            diff = _diff_keys(given.to_dict(), resolved.to_dict())
            if diff:
                raise ConfigError(f"{recipe} differs from the recipe of the run in {resume} at {', '.join(diff)}; "
                                  "resume without RECIPE, or start a new run")
    else:
        if recipe is None:
            raise ConfigError("give a RECIPE (e.g. recipes/allen_cahn.yaml) or --resume DIR")
        resolved = load_recipe(recipe, extra)
    if getattr(resolved, "problem", None) == "joint_discovery":
        if resume is not None:
            raise ConfigError("joint discovery runs cannot be resumed (they take minutes, see max_minutes); start a "
                              "new run with --out")
        _fit_joint(recipe, resolved, out, force)
        return
    select_device(resolved.device)
    if resume is not None:
        folder = Path(resume)
        prepared = prepare(resolved)
        (folder / RECIPE).write_text(resolved.to_yaml())
    else:
        folder = _new_run_folder(recipe, resolved, out, force)
        try:
            prepared = prepare(resolved)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    click.echo(f"enforcing  {prepared.conditions.equation}")
    if prepared.reference is not None:
        click.echo(f"reference  {prepared.reference.source} ({prepared.setup_s:.1f} s)", err=True)
    try:
        summary = run_fit(prepared, folder, resume=resume is not None, echo=lambda m: click.echo(m, err=True))
    except KeyboardInterrupt:
        click.echo(f"interrupted; continue with: pdelearn fit --resume {folder}", err=True)
        sys.exit(130)
    if summary.get("stopped"):
        click.echo(f"stopped early ({summary['stopped']}) at step {summary['steps']}; continue with "
                   f"pdelearn fit --resume {folder}", err=True)
    rel = summary.get("rel_l2")
    click.echo(f"rel. L2 error {rel:.3e} over the full reference grid" if rel is not None else "no reference: rel. L2 not measured")
    for key in sorted(k for k in summary if k.startswith("err_t")):
        click.echo(f"{key} {summary[key]:.3e}")
    click.echo(f"wrote {folder} ({summary['wall_time_s']:.1f} s, {summary['steps']} steps, {summary['device']})", err=True)


def _new_run_folder(recipe, resolved, out, force) -> Path:
    """Create the run folder (default ``runs/<recipe>-<time>``) holding the resolved recipe."""
    import time

    from .runs import RECIPE

    if out is None:
        Path("runs").mkdir(exist_ok=True)
        out = str(Path("runs") / f"{Path(recipe).stem}-{time.strftime('%Y%m%d-%H%M%S')}")
    with output_folder(out, force=force) as tmp:
        (tmp / RECIPE).write_text(resolved.to_yaml())
    return Path(out)


def _fit_joint(recipe, resolved, out, force) -> None:
    """``pdelearn fit`` for ``problem: joint_discovery``: a network and its equation from samples."""
    from .problems.joint import run_joint_recipe
    from .runs import select_device

    select_device(resolved.device)
    folder = _new_run_folder(recipe, resolved, out, force)
    try:
        summary = run_joint_recipe(resolved, folder, echo=lambda m: click.echo(m, err=True))
    except KeyboardInterrupt:
        click.echo(f"interrupted; the run folder {folder} holds the last checkpoint", err=True)
        sys.exit(130)
    except BaseException:
        if not (folder / "checkpoint.pt").exists():  # failed before training: leave no partial output
            shutil.rmtree(folder, ignore_errors=True)
        raise
    click.echo(f"discovered {summary['equation']}")
    for key, (lo, hi) in summary.get("intervals", {}).items():
        click.echo(f"  {key}: 95 % interval [{lo:.5g}, {hi:.5g}]")
    if "exact_support" in summary:
        click.echo(f"truth      {summary['truth']}  (exact support: {summary['exact_support']}, max coefficient "
                   f"error {100 * summary['max_rel_error']:.2f} %)")
    click.echo(f"wrote {folder} ({summary['wall_time_s']:.1f} s, {summary['steps']} steps, {summary['stopped']}); "
               f"next: pdelearn simulate {folder}", err=True)


def _diff_keys(a, b, prefix: str = "") -> list[str]:
    keys = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            keys += _diff_keys(va, vb, f"{prefix}{k}.")
        elif va != vb and not (k == "file" and prefix == "reference."):
            keys.append(prefix + k)
    return keys


if __name__ == "__main__":  # pragma: no cover
    main()
