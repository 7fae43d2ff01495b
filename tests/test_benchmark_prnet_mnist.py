"""benchmarks/prnet_mnist.py on a tiny MNIST-format data set: rows, ratios, JSON, the time cap."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

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


def test_benchmark_tables_interleaved_timings_readout_and_json(tmp_path, capsys):
    data = _mnist_folder(tmp_path)
    out = tmp_path / "res.json"
    argv = ["--data", str(data), "--models", "prnet", "odenet", "resnet", "--optimizer", "both", "--epochs", "1",
            "--batch-size", "8", "--images-per-epoch", "16", "--inference-images", "10", "--test-images", "16",
            "--repeats", "1", "--train-timing", "1", "--readout-images", "8", "--in-process", "--out", str(out),
            "--prnet-set", "model.width=8", "--prnet-set", "training.lg_samples=4"]
    result = bench.main(argv)
    assert set(result["tables"]) == {"adam", "sgd"}
    for opt, table in result["tables"].items():
        rows = {r["model"]: r for r in table["rows"]}
        assert all(r["status"] == "ok" for r in rows.values()), rows
        assert rows["odenet"]["parameters"] == 208_266 and rows["resnet"]["parameters"] == 576_778
        assert rows["resnet"]["steps"] == 2 and rows["prnet"]["steps"] == 2  # ceil(16 / 8) batches
        assert rows["resnet"]["optimizer"].startswith(opt) and f"groups {opt}" in rows["prnet"]["optimizer"]
        for r in rows.values():
            assert set(r["inference_s_per_1000"]) == {"100", "500"}
            assert r["train_s_per_iteration_interleaved"]["best"] > 0
        assert rows["odenet"]["speedup_vs_odenet"] == {"100": 1.0, "500": 1.0}
        pr = rows["prnet"]
        # PR-Net from the recipe file as shipped, only the benchmark's own settings replaced
        assert "training.keep_best=false" in pr["recipe_overrides"] and pr["lg_samples"] == 4
        assert f"training.optimizer={opt}" in pr["recipe_overrides"]
        assert "L1 2e-05" in pr["optimizer"]  # recipes/prnet_mnist.yaml's, not the schema default 1e-5
        assert "readout" in pr and ("readout_r2" in pr or "skipped" in pr["readout"])
    saved = json.loads(out.read_text())
    assert saved["command"].startswith("python ") and "--optimizer both" in saved["command"]
    m = saved["machine"]
    assert m["torch"] == torch.__version__ and m["threads"] == 1 and m["cpu_model"] and len(m["load_avg_before"]) == 3
    table = capsys.readouterr().out
    assert "inf@100" in table and "1.00x" in table and "readout R2" in table


def test_benchmark_time_cap(tmp_path):
    data = _mnist_folder(tmp_path)
    result = bench.main(["--data", str(data), "--models", "resnet", "--optimizer", "sgd", "--epochs", "50",
                         "--batch-size", "16", "--inference-images", "16", "--repeats", "1", "--train-timing", "0",
                         "--in-process", "--max-minutes", "1e-6"])
    row = result["tables"]["sgd"]["rows"][0]
    assert row["steps"] == 1 and "time cap" in row["stopped"]


def test_benchmark_without_data_exits_2_with_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "res.json"
    for argv in (["--out", str(out)], ["--data", str(tmp_path / "nothing"), "--out", str(out)]):
        proc = subprocess.run([sys.executable, str(Path(bench.__file__)), *argv], capture_output=True, text=True)
        assert proc.returncode == 2 and proc.stdout == ""
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and "get_mnist" in lines[0]
    assert not out.exists()
    with pytest.raises(SystemExit, match="get_mnist"):
        bench.main(["--data", str(tmp_path / "nothing")])
