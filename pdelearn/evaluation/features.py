"""Feature analysis: t-SNE of ``h_task`` (the hidden block's output) and its silhouette score.

``h_task`` is PR-Net's ``f(h(0), H)`` (:meth:`~pdelearn.models.prnet.PRNet.task`) or a baseline's
middle block output (ODE block, residual blocks): ``(B, C, s, s)``, flattened per image. The
silhouette score (scikit-learn, labels as clusters, in ``[-1, 1]``, higher: classes better separated)
is reported on the 2-D t-SNE embedding (what the plot shows) and on the features themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError

__all__ = ["hidden_features", "tsne_analysis", "plot_tsne"]


@torch.no_grad()
def hidden_features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``h_task`` of normalised images ``x`` ``(B, C_in, S, S)``, flattened: ``(B, C * s * s)``."""
    h0 = model.features(x) if hasattr(model, "features") else None
    if h0 is not None and hasattr(model, "task"):
        h = model.task(h0)
    elif h0 is not None and hasattr(model, "middle"):
        h = model.middle(h0)
    else:
        raise ConfigError(f"{type(model).__name__} has no hidden block (features + task/middle), so there is no h_task "
                          "to analyse; drop --tsne")
    return h.reshape(len(x), -1)


def tsne_analysis(model: nn.Module, dataset: Any, n: int, seed: int = 0) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """t-SNE (2-D, PCA initialisation, ``random_state=seed``) of ``h_task`` on the first ``n`` test images.

    Returns
    -------
    (record, embedding (n, 2), labels (n,))
        ``record``: ``n``, ``perplexity``, ``silhouette_tsne``, ``silhouette_features``.
    """
    from sklearn.manifold import TSNE
    from sklearn.metrics import silhouette_score

    n = min(int(n), len(dataset))
    if n < 10:
        raise ConfigError(f"--tsne needs at least 10 test images, received {n}")
    device = next(model.parameters()).device
    was = model.training
    model.eval()
    feats, labels = [], []
    try:
        for start in range(0, n, 256):
            items = [dataset[i] for i in range(start, min(n, start + 256))]
            x = torch.stack([a for a, _ in items]).to(device)
            feats.append(hidden_features(model, x).double().cpu())
            labels += [int(b) for _, b in items]
    finally:
        model.train(was)
    f = torch.cat(feats).numpy()
    y = np.asarray(labels)
    if len(np.unique(y)) < 2:
        raise ConfigError(f"the first {n} test images hold one class only; a silhouette score needs two: raise --tsne")
    perplexity = float(min(30.0, (n - 1) / 3))
    emb = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(f)
    record = {"n": n, "perplexity": perplexity, "silhouette_tsne": float(silhouette_score(emb, y)),
              "silhouette_features": float(silhouette_score(f, y)), "seed": seed}
    return record, emb, y


def plot_tsne(emb: np.ndarray, labels: np.ndarray, path: str | Path, title: str) -> None:
    """Scatter plot of the embedding ``(n, 2)`` coloured by class ``(n,)``, saved to ``path`` atomically."""
    from ..plots import new_figure, save_figure

    fig = new_figure(5.5, 5)
    ax = fig.subplots()
    for c in np.unique(labels):
        sel = labels == c
        ax.scatter(emb[sel, 0], emb[sel, 1], s=6, label=str(c))
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    if len(np.unique(labels)) <= 20:
        ax.legend(markerscale=2, fontsize=7, loc="best")
    save_figure(fig, path)
