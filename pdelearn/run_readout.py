"""The sparse readout of a ``pdelearn fit`` classification run folder (:func:`readout_run`).

Apart from :mod:`pdelearn.sparse_readout` because it loads the run with
:func:`pdelearn.evaluation.core.load_classifier`, which imports the classification problem, which in turn
calls the readout at the end of a run: one module would be an import cycle.
"""

from __future__ import annotations

from pathlib import Path

from .errors import ConfigError
from .sparse_readout import MAX_ROWS, MIN_READOUT_R2, Readout, has_pde_block, readout

__all__ = ["readout_run"]


def readout_run(folder: str | Path, *, n_images: int | None = None, held_out: float = 0.5, max_rows: int = MAX_ROWS,
                bootstrap: int = 200, seed: int = 0, level: float = MIN_READOUT_R2, device: str = "cpu") -> Readout:
    """:func:`~pdelearn.sparse_readout.readout` of the network of a classification run folder (its ``best.pt``, else
    ``checkpoint.pt``) on the first ``n_images`` of the recipe's test images.

    Raises
    ------
    ConfigError
        Not a classification run folder; a run whose network has no PDE block (a ResNet, ODE-Net, RK-Net
        run); ``n_images`` below 2 or above the test set's size.
    DataError
        No readable weights.
    """
    from .evaluation.core import load_classifier

    run = load_classifier(folder, device=device)
    if not has_pde_block(run.model):
        raise ConfigError(f"the run {str(folder)!r} trained a {run.recipe.model.kind!r} network, which has no PDE block; a "
                          "readout needs a PR-Net run (model.kind: prnet or a PR-Net MobileNet)")
    return readout(run.model, run.data.test, n_images=n_images, held_out=held_out, max_rows=max_rows,
                   bootstrap=bootstrap, seed=seed, level=level, where=f"the test images of {run.data.info.name}")
