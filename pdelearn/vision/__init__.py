"""Image classification data: ``load_dataset`` and the offline MNIST layout (``python -m pdelearn.vision.get_mnist``).

torchvision and scikit-learn (the ``vision`` extra) are imported only when a data set is loaded. The MNIST
helpers are imported on first use, so that ``python -m pdelearn.vision.get_mnist`` runs the module once.
"""

from importlib import import_module
from typing import Any

from .datasets import DATASETS, DatasetInfo, VisionData, load_dataset

__all__ = ["DATASETS", "DatasetInfo", "MNIST_FILES", "VisionData", "find_mnist_source", "install_mnist",
           "load_dataset"]
_LAZY = {"MNIST_FILES": "get_mnist", "find_mnist_source": "get_mnist", "install_mnist": "get_mnist"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
