"""benchmarks/prnet_mnist.py on a tiny MNIST-format data set: rows, ratios, JSON, the time cap."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torchvision")
pytest.importorskip("torchdiffeq")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
bench = pytest.importorskip("prnet_mnist")

from pdelearn.vision import install_mnist  # noqa: E402


def _mnist_folder(root: Path) -> Path:
    """Write a 64/32-image MNIST-format data set (two classes, bright top vs bright bottom) to root/MNIST/raw."""
    import struct

    rng = np.random.default_rng(0)
    src = root / "src"
    src.mkdir()
    for split, n in (("train", 64), ("t10k", 32)):
        y = rng.integers(0, 2, n)
        x = rng.integers(0, 40, (n, 28, 28))
        for i, label in enumerate(y):
            x[i, :14] += 200 * (label == 0)
            x[i, 14:] += 200 * (label == 1)
        (src / f"{split}-images-idx3-ubyte").write_bytes(struct.pack(">iiii", 2051, n, 28, 28) + x.astype(np.uint8).tobytes())
        (src / f"{split}-labels-idx1-ubyte").write_bytes(struct.pack(">ii", 2049, n) + y.astype(np.uint8).tobytes())
    install_mnist(root / "data", src)
    return root / "data"


def test_benchmark_rows_ratios_and_json(tmp_path, capsys):
    data = _mnist_folder(tmp_path)
    out = tmp_path / "res.json"
    result = bench.main(["--data", str(data), "--models", "odenet", "resnet", "--epochs", "2", "--batch-size", "8",
                         "--images-per-epoch", "12", "--inference-images", "8", "--eval-batch", "8",
                         "--test-images", "16", "--repeats", "1", "--in-process", "--out", str(out)])
    rows = {r["model"]: r for r in result["rows"]}
    assert rows["odenet"]["status"] == rows["resnet"]["status"] == "ok"
    assert rows["odenet"]["parameters"] == 208_266 and rows["resnet"]["parameters"] == 576_778
    assert rows["resnet"]["steps"] == 4  # 2 epochs x ceil(12 / 8) batches
    assert rows["odenet"]["speedup_vs_odenet"] == 1.0
    assert rows["resnet"]["speedup_vs_odenet"] == pytest.approx(
        rows["odenet"]["inference_s_per_1000"] / rows["resnet"]["inference_s_per_1000"])
    assert rows["resnet"]["n_test"] == 16 and 0.0 <= rows["resnet"]["test_top1"] <= 1.0
    assert json.loads(out.read_text())["rows"][0]["model"] == "odenet"
    table = capsys.readouterr().out
    assert "odenet" in table and "resnet" in table and "1.00x" in table


def test_benchmark_time_cap_and_missing_data(tmp_path):
    data = _mnist_folder(tmp_path)
    result = bench.main(["--data", str(data), "--models", "resnet", "--epochs", "50", "--batch-size", "16",
                         "--inference-images", "16", "--eval-batch", "16", "--repeats", "1", "--in-process",
                         "--max-minutes", "1e-6"])
    row = result["rows"][0]
    assert row["steps"] == 1 and "time cap" in row["stopped"]
    with pytest.raises(SystemExit, match="get_mnist"):
        bench.main(["--data", str(tmp_path / "nothing")])
