"""Command line: ``pdelearn fit``, ``discover``, ``generate``, ``simulate``, ``export``, ``evaluate`` and ``compare``.

A leaf: it parses arguments and calls the library; nothing in ``pdelearn`` imports it. Errors about
user input (:class:`~pdelearn.errors.PdelearnError`) print one ``Error:`` line and exit with code 2,
without a traceback; a run whose result the problem marks unreliable exits with code 3. Output
folders are written to a temporary sibling and renamed into place at the end, so a failed run
leaves nothing half-written.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import warnings
from pathlib import Path

import click

from .budget import BudgetExceeded
from .errors import ConfigError, DataError, PdelearnError
from .runfiles import output_folder
from .threads import parse_threads, set_threads

__all__ = ["main"]


def _user_errors(fn):
    """One ``Error:`` line and no traceback: bad input and unusable paths exit 2, anything unexpected 1
    (``PDELEARN_DEBUG=1`` shows its traceback); a computation past its time budget, with nothing to report, one
    ``Stopped:`` line (what was done, how to continue) and exit 3."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except BudgetExceeded as exc:
            click.echo("Stopped: " + " ".join(str(exc).split()), err=True)
            sys.exit(3)
        except PdelearnError as exc:
            _error(str(exc), 2)
        except OSError as exc:  # a path the file system refuses (permissions, name length, a full disk, ...)
            from .cli_util import os_error_line

            _error(os_error_line(exc), 2)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:  # (fit says what it kept itself); the others write their files at the end
            click.echo("interrupted; nothing was written", err=True)
            sys.exit(130)
        except Exception as exc:
            if os.environ.get("PDELEARN_DEBUG"):
                raise
            _error(f"unexpected {type(exc).__name__}: {exc}; this is a bug in pdelearn: rerun with PDELEARN_DEBUG=1 "
                   "for the traceback and report it", 1)

    return wrapper


def _error(message: str, code: int) -> None:
    click.echo("Error: " + " ".join(part.strip() for part in message.splitlines() if part.strip()), err=True)
    sys.exit(code)


def _command_line() -> str | None:
    """The command line of this invocation (``pdelearn fit r.yaml --out run``), recorded in run folders."""
    from .provenance import command_line

    ctx = click.get_current_context(silent=True)
    return command_line(ctx.meta.get("pdelearn.argv")) if ctx is not None else None


class _Group(click.Group):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["pdelearn.argv"] = list(args)  # before click consumes them: recorded in run folders
        return super().parse_args(ctx, args)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pdelearn")
def main() -> None:
    """pdelearn: discover PDEs from data and train physics-informed networks."""
    # torch's first forward-mode call loads its decompositions through the deprecated torch.jit.script; that
    # FutureWarning is torch's own matter and nothing a user of these commands can act on
    warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=FutureWarning)


THREADS_HELP = ("CPU threads of torch: a number, or auto (the usable cores minus those other processes keep busy; "
                "OMP_NUM_THREADS wins when set).")


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
@click.option("--refine", type=click.Choice(["auto", "output-error", "none"]), default="auto", show_default=True,
              help="Settle an uncertain selection by output-error fits of the simulated equation (one field, "
                   "periodic 1-D grid); auto: only when the selection is uncertain.")
@click.option("--terms", default=None, metavar="LIST",
              help="Extra candidate terms, comma-separated, e.g. 'u*u_x, sin(u)' (names: fields, x/y/z, u_xx...).")
@click.option("--terms-only", is_flag=True, help="Use only the --terms, not the default polynomial library.")
@click.option("--budget", type=float, default=300.0, show_default=True, metavar="SECONDS",
              help="Time budget of the term selection and of the output-error refinement; past it the best "
                   "equation so far is reported as unreliable, or none (exit 3).")
@click.option("--threads", default="auto", show_default=True, metavar="N|auto",
              help=THREADS_HELP)
@click.option("--force", is_flag=True, help="Replace an existing output folder (only one pdelearn made).")
@_user_errors
def discover(data, out, fields, coords, time, layout, method, derivative, regression, threshold, max_power, max_order,
             radius, bootstrap, refit, refine, terms, terms_only, budget, threads, force):
    """Discover the governing equation of gridded DATA (.npz or .mat)."""
    from .cli_util import check_out_path
    from .data import load_grid_data
    from .discovery import discover as run_discover
    from .sparse import SparseRegression
    from .weak import WeakForm

    parse_threads(threads)  # checked now; set (importing torch) only once the input has passed its checks
    if max_power < 0 or max_order < 1:
        raise ConfigError(f"--max-power must be >= 0 and --max-order >= 1; received {max_power} and {max_order}")
    if not Path(data).exists():
        raise DataError(f"data file {data!r} does not exist; pass the path of a .npz or .mat file")
    check_out_path(out)
    options = dict(click.get_current_context().params)  # every option, recorded in options.json
    with output_folder(out, force=force, inputs=[data]) as folder:
        load = {"fields": list(fields) or None, "coords": list(coords) or None, "time": time, "layout": layout}
        grid = load_grid_data(data, **load)
        options["threads_used"] = set_threads(threads)
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
            refine=refine,
            terms=terms,
            default_library=not terms_only,
            progress=_progress(),
            budget=budget,
        )
        result.save(folder, source=data, load=load, command=_command_line(), cli=options)
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
    for note in result.notes:
        click.echo(f"Note: {note}", err=True)
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


def _system_choices() -> list[str]:
    from .solvers.systems import SYSTEMS

    return [s.name.replace("_", "-") for s in SYSTEMS]


@main.command()
@click.argument("system", type=click.Choice(_system_choices()))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Output .npz file.")
@click.option("--noise", type=float, default=0.0, show_default=True, help="Gaussian noise, fraction of the field's std.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--force", is_flag=True, help="Replace an existing file.")
@_user_errors
def generate(system, out, noise, seed, force):
    """Solve a reference SYSTEM with the spectral solver and save it as .npz (u, x, t, equation)."""
    import numpy as np

    from .cli_util import check_out_path
    from .runfiles import NPZ_MARKER, AtomicFile, created_parents, npz_made_by_pdelearn, replaceable_file, save_npz
    from .solvers.systems import solve_system

    if Path(out).suffix != ".npz":
        raise ConfigError(f"--out must end in .npz, received {out!r}")
    check_out_path(out)
    target = replaceable_file(out, force, npz_made_by_pdelearn)
    if not (noise >= 0 and np.isfinite(noise)):
        raise ConfigError(f"--noise must be a finite number >= 0, received {noise}")
    if seed < 0:
        raise ConfigError(f"--seed must be an integer >= 0, received {seed}")
    parent = target.parent if str(target.parent) else Path(".")
    with created_parents(target):
        try:  # before the work: a folder that cannot hold the file fails now
            written = AtomicFile(target)
        except OSError as exc:
            raise ConfigError(f"cannot write {out!r}: {exc.strerror or exc} in {str(parent)!r}; choose a writable "
                              "--out") from None
        with written as fh:
            result = solve_system(system)
            rng = np.random.default_rng(seed)
            arrays = {k: v for k, v in result.items() if isinstance(v, np.ndarray)}
            for name in ("u", "v"):
                if name in arrays and noise:
                    arrays[name] = arrays[name] + noise * arrays[name].std() * rng.standard_normal(arrays[name].shape)
            eq = result["equation"]
            arrays["equation"] = np.array(eq if isinstance(eq, str) else "; ".join(eq))
            save_npz(fh, arrays, comment=NPZ_MARKER)  # the comment marks the file as ours: --force may replace it
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
@click.argument("run", type=click.Path(file_okay=False))
@click.option("--images", "n_images", type=int, default=None,
              help="Test images to sample (default 200, or all when fewer); the first half selects, the rest scores.")
@click.option("--seed", type=int, default=0, show_default=True, help="Of the rows drawn and the bootstrap.")
@_user_errors
def readout(run, n_images, seed):
    """Print the sparse readout of the equation learned by the PR-Net of RUN (nothing is written); exit 3 when it
    explains little of h_t on held-out images."""
    from .run_readout import readout_run

    r = readout_run(run, n_images=n_images, seed=seed)
    click.echo("\n".join(r.lines()))
    if not r.reliable:
        sys.exit(3)


@main.command()
@click.argument("run", type=click.Path(file_okay=True))
@click.option("--latex", "fmt", flag_value="latex", default=True, help="Print LaTeX (default).")
@click.option("--json", "fmt", flag_value="json", help="Print the JSON form.")
@click.option("--text", "fmt", flag_value="text", help="Print the readable form.")
@_user_errors
def export(run, fmt):
    """Print a saved equation (RUN folder or its equation.json) as LaTeX, JSON or text."""
    from .simulate import read_equation

    eq = read_equation(run)
    click.echo(eq.latex() if fmt == "latex" else json.dumps(eq.to_dict(), indent=2) if fmt == "json" else str(eq))


@main.command()
@click.argument("run", type=click.Path(file_okay=False))
@click.option("--ood", "ood", multiple=True, help="Out-of-distribution condition: noise, crop, rotate, jitter "
              "(repeatable; default all).")
@click.option("--attack", "attacks", multiple=True, help="Attack: fgsm, pgd (repeatable; default both).")
@click.option("--eps", "eps", multiple=True, help="Attack budget, fraction of the pixel range, e.g. 1/255 "
              "(repeatable; default 0.5/255, 1/255, 3/255).")
@click.option("--no-ood", is_flag=True, help="No out-of-distribution conditions.")
@click.option("--no-attack", is_flag=True, help="No attacks.")
@click.option("--out", "out", default=None, type=click.Path(file_okay=False),
              help="Folder for evaluation.json (default: RUN).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random transforms.")
@click.option("--tsne", type=int, default=None, metavar="N", help="t-SNE of h_task on the first N test images.")
@click.option("--dataset", default=None, help="Evaluate on another data set (same image size and classes).")
@click.option("--image-size", type=int, default=None, help="Image size of --dataset.")
@click.option("--root", default=None, help="Data folder of --dataset.")
@click.option("--max-images", type=int, default=None, help="Evaluate the first N test images only.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="cpu", show_default=True)
@_user_errors
def evaluate(run, ood, attacks, eps, no_ood, no_attack, out, seed, tsne, dataset, image_size, root, max_images,
             device):
    """Accuracy of a trained classifier RUN under out-of-distribution shifts and adversarial attacks.

    Writes evaluation.json (top-1, top-5, per-class mean and std per condition, training overhead)
    and prints the table. Exit 0: done; 2: bad input; 3: the classifier is near chance.
    """
    from .evaluation import ATTACKS, DEFAULT_EPS, SHIFTS, evaluate_folder, format_table

    if (no_ood and ood) or (no_attack and (attacks or eps)):
        raise ConfigError("--no-ood / --no-attack cannot be combined with --ood / --attack / --eps")
    ev = evaluate_folder(run, ood=() if no_ood else (ood or SHIFTS), attacks=() if no_attack else (attacks or ATTACKS),
                         eps=eps or DEFAULT_EPS, out=out, seed=seed, tsne=tsne, dataset=dataset, image_size=image_size,
                         root=root, max_images=max_images, device=device, progress=sys.stderr.isatty())
    click.echo(format_table(ev))
    click.echo(f"wrote {ev['written']}", err=True)
    if not ev["reliable"]:
        click.echo(f"Unreliable result: {ev['message']}", err=True)
        sys.exit(3)


@main.command()
@click.argument("runs", nargs=-1, type=click.Path(file_okay=True))
@click.option("--latex", is_flag=True, help="Print a LaTeX tabular instead of Markdown.")
@_user_errors
def compare(runs, latex):
    """One robustness table (paper layout) from several evaluated RUNS (their evaluation.json)."""
    from .evaluation import compare_runs

    click.echo(compare_runs(list(runs), latex=latex))


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
@click.option("--threads", default="auto", show_default=True, metavar="N|auto", help=THREADS_HELP)
@click.option("--force", is_flag=True, help="Replace an existing output folder (only one pdelearn made).")
@_user_errors
def fit(recipe, out, overrides, device, seed, resume, threads, force):
    """Train the problem of a RECIPE (YAML) and write a run folder.

    Every problem type (``problem: forward``, ``extrapolation``, ``joint_discovery``, ...) runs
    through the same driver (docs/architecture.md). Exit 0: done; 2: bad input; 3: the run finished
    but its result is unreliable (the message says why; the folder is kept for inspection).
    """
    from .cli_util import check_out_path, existing_run_hint
    from .distributed import launch_env
    from .recipes import load_recipe
    from .runfiles import select_device
    from .runs import default_run_folder, load_run_recipe, new_run, run_recipe

    extra = list(overrides) + ([f"device={device}"] if device else []) + ([f"seed={seed}"] if seed is not None else [])
    echo = lambda m: click.echo(m, err=True)  # noqa: E731
    rank, world, local = launch_env()
    if world > 1:  # started by torchrun: one process per rank
        return _fit_distributed(recipe, out, extra, resume, force, rank, world, local)
    parse_threads(threads)
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
        run_device = select_device(resolved.device)
        set_threads(threads)
        folder = Path(resume)
        outcome = _run(run_recipe, resolved, folder, echo, resume=True, device=run_device, command=_command_line())
    else:
        if recipe is None:
            raise ConfigError("give a RECIPE (e.g. recipes/allen_cahn.yaml) or --resume DIR")
        resolved = load_recipe(recipe, extra)
        run_device = select_device(resolved.device)  # the run's one device choice: a bad one fails before the folder
        set_threads(threads)
        folder = Path(out) if out is not None else default_run_folder(recipe)
        check_out_path(folder)
        hint = None if force else existing_run_hint(folder)
        if hint:
            raise ConfigError(hint)
        with new_run(folder, resolved, force=force, inputs=[recipe]):
            outcome = _run(run_recipe, resolved, folder, echo, device=run_device, command=_command_line())
    _report(outcome, folder)


def _fit_distributed(recipe, out, extra, resume, force, rank: int, world: int, local: int) -> None:
    """``pdelearn fit`` on one rank of ``torchrun``: gloo on the CPU, nccl on CUDA; rank 0 makes and writes the
    run folder and prints, the other ranks train their share of each batch and write nothing."""
    import contextlib

    from .distributed import all_ok, process_group
    from .recipes import load_recipe
    from .runfiles import select_device
    from .runs import load_run_recipe, new_run, run_recipe

    main_rank = rank == 0
    echo = (lambda m: click.echo(m, err=True)) if main_rank else (lambda m: None)  # noqa: E731
    if resume is not None:
        resolved, folder = load_run_recipe(resume, extra), Path(resume)
    else:
        if recipe is None or out is None:
            raise ConfigError("distributed runs (torchrun) need a RECIPE and --out, so that every rank agrees on the "
                              "run folder; or --resume DIR")
        resolved, folder = load_recipe(recipe, extra), Path(out)
    device = select_device(resolved.device)
    if device.type == "cuda":
        import torch

        torch.cuda.set_device(local)  # this rank's GPU, before nccl's first collective
    with process_group(world, "nccl" if device.type == "cuda" else "gloo"), contextlib.ExitStack() as stack:
        error = None
        if main_rank and resume is None:
            try:
                stack.enter_context(new_run(folder, resolved, force=force, inputs=[recipe]))
            except PdelearnError as exc:
                error = exc
        if not all_ok(error is None):  # every rank stops together when rank 0 cannot make the folder
            if error is not None:
                raise error
            sys.exit(2)
        outcome = _run(run_recipe, resolved, folder, echo, resume=resume is not None, rank=rank, world_size=world,
                       local_rank=local, device=device, command=_command_line())
    if main_rank:
        _report(outcome, folder, processes=world)


def _report(outcome, folder: Path, processes: int = 1) -> None:
    """What ``pdelearn fit`` prints once a run is done (the problem's lines, then where it wrote what); exit 3 when
    the problem marked its result unreliable."""
    for line in outcome.lines:
        click.echo(line)
    s = outcome.summary
    ranks = f", {processes} processes" if processes > 1 else ""
    click.echo(f"wrote {folder} ({s['wall_time_s']:.1f} s, {s.get('steps', '?')} steps, {s['device']}{ranks})",
               err=True)
    if not outcome.reliable:
        click.echo(f"Unreliable result: {outcome.message}", err=True)
        sys.exit(3)


def _run(run_recipe, recipe, folder: Path, echo, resume: bool = False, **ranks):
    try:
        return run_recipe(recipe, folder, resume=resume, echo=echo, **ranks)
    except KeyboardInterrupt:
        hint = (f"continue with: pdelearn fit --resume {folder}" if (folder / "checkpoint.pt").exists()
                else "nothing was kept")
        click.echo(f"interrupted; {hint}", err=True)
        sys.exit(130)


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
