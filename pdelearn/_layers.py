"""The layer map: every module of ``pdelearn`` in exactly one layer, lowest first.

A module may import modules of its own layer and of the layers below it, never one above (imports inside
functions, ``importlib`` and ``"module:attr"`` strings included). ``tests/test_layers.py`` checks the code
against this map, and ``docs/architecture.md`` shows it as a table (``python -m pdelearn._layers`` prints it).
Entries are paths relative to ``pdelearn/``; ``name/`` is a subpackage with its modules, except those the map
names one by one.
"""

from __future__ import annotations

__all__ = ["LAYERS", "Layer", "table"]


class Layer:
    """One layer: its name, its modules and subpackages, third-party packages it must not import, its job."""

    def __init__(self, name: str, modules: tuple[str, ...], job: str, forbidden: tuple[str, ...] = ()):
        self.name, self.modules, self.job, self.forbidden = name, modules, job, forbidden


LAYERS: tuple[Layer, ...] = (
    Layer("base", ("errors.py", "limits.py", "_layers.py"),
          "the error hierarchy; every bound on untrusted input, named once (docs/limits.md); this map",
          forbidden=("torch",)),
    Layer("core", ("terms.py", "parsing.py", "equation.py"),
          "candidate terms, safe parsing, the readout (`Equation`: text, LaTeX, JSON); bridges plug in through "
          "`terms.register_bridge`, the core imports none", forbidden=("torch",)),
    Layer("files", ("runfiles.py", "plots.py", "yamlio.py", "provenance.py", "threads.py"),
          "the one file writer (`runfiles.AtomicFile`: temporary name + rename), run-folder rules (the `.pdelearn-run` "
          "marker, the one safe output folder, `--force`), the device choice; figures; safe YAML; what a run records "
          "(versions, command line, recipe changes on resume); the CPU thread choice"),
    Layer("compile", ("compile.py", "autodiff.py"),
          "feature matrices `Theta (n, K)` from a library; autograd derivatives, each computed once"),
    Layer("governing", ("governing.py",),
          "`GoverningEquation` (residual `u_t - Theta a`), `NormalizedGoverningEquation`"),
    Layer("solvers", ("solvers/", "output_error/policy.py"),
          "reference spectral solvers (ETDRK4, method of lines, torch ETDRK4), the built-in systems table "
          "(`solvers/systems.py`); the output-error policy (time step, test levels, noise floor), named once and "
          "shared with the solvers"),
    Layer("estimators", ("data.py", "grid.py", "weak.py", "sparse.py", "gls.py", "intervals.py", "reliability.py",
                         "stats.py", "sampling.py", "budget.py", "parametrized.py", "output_error/", "inverse.py",
                         "refine.py", "discovery.py", "discovery_stages.py", "discovery_plot.py", "sparse_readout.py"),
          "grid data, weak form, sparse selection and its checks, GLS refit, intervals, the output-error engine "
          "(`output_error/`) and its users (`inverse.py`, `refine.py`), `discover`, the sparse readout of a trained "
          "network (`pdelearn.readout`, `readout_arrays`); `budget.py`: the time budget of long computations "
          "(`Budget`, `BudgetExceeded`)"),
    Layer("bridges", ("pysindy.py",),
          "PySINDy both ways (`AutoSelect`, libraries, `Equation.from_pysindy`); plugged into the core by the "
          "package"),
    Layer("models, trainer", ("models/", "vision/", "train.py", "checkpoints.py", "distributed.py"),
          "networks (PR-Net's block holds a `GoverningEquation`), image data sets, the alternating `Trainer` (steps or "
          "epochs over a loader, parameter groups with own optimizers and periods, checkpoints, metrics, validation "
          "with keep-the-best), its files (`checkpoints.py`: `checkpoint.pt`, `best.pt`, `metrics.jsonl`, resume), "
          "distributed training"),
    Layer("problems", ("problems/",),
          "one `Problem` subclass per kind of run, its recipe model, its registry line (`problems/joint_prune.py`: "
          "joint discovery's data-fit F-tests and null test)"),
    Layer("runs, recipes", ("recipes.py", "runs.py"),
          "one recipe loader, one run driver (device chosen once, run folder, summary)"),
    Layer("run readouts", ("simulate.py", "evaluation/", "run_readout.py"),
          "what is read from finished run folders: the simulation of a discovered equation, robustness "
          "evaluation, the readout of a classification run (`readout_run`)"),
    Layer("package", ("__init__.py",),
          "the public API, re-exported (torch parts imported on first use); plugs the PySINDy bridge into the core"),
    Layer("CLI", ("cli.py", "cli_util.py"),
          "parses arguments, calls the library; a leaf: nothing imports it (`cli_util.py`: bad paths and unexpected "
          "failures as one line; imported by the CLI only)"),
)


def table() -> str:
    """The layer map as the Markdown table of ``docs/architecture.md``."""
    rows = ["| # | layer | modules | job |", "|---|---|---|---|"]
    for i, layer in enumerate(LAYERS):
        mods = ", ".join(f"`{m}`" for m in layer.modules)
        no = f" (no {', '.join(layer.forbidden)})" if layer.forbidden else ""
        rows.append(f"| {i} | {layer.name}{no} | {mods} | {layer.job} |")
    return "\n".join(rows)


if __name__ == "__main__":  # pragma: no cover
    print(table())
