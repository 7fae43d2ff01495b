"""benchmarks/gpu_check.sh: bash -n clean; --dry-run prints every step's command and writes nothing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.sh"
pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _run(*args, env=None):
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=60, env=env)


def test_script_parses():
    assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True).returncode == 0


def test_dry_run_prints_the_steps_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    proc = _run("--dry-run", "--data", str(tmp_path / "mnist"), str(out))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    steps = [line.split("]")[0][1:] for line in lines]
    assert steps == ["gpu_tests", "amp_fit", "fit_cuda", "discover", "mnist_small", "mnist_epoch"]
    text = proc.stdout
    assert "pytest -q -p no:cacheprovider -m gpu tests" in text
    assert "--set training.amp=true" in text and text.count("--device cuda") >= 4
    assert f"prnet_mnist.py --data '{tmp_path / 'mnist'}'" in text and f"'{out}/prnet_mnist_small_cuda.json'" in text
    limits = [int(line.split("timeout ")[1].split()[0]) for line in lines]
    assert sum(limits) <= 600  # at most 10 minutes on the GPU machine
    assert not out.exists()


def test_dry_run_without_data_skips_mnist_and_out_from_the_environment(tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if k != "MNIST_DATA"}
    env["OUT"] = str(tmp_path / "from_env")
    proc = _run("--dry-run", env=env)
    assert proc.returncode == 0
    assert f"'{tmp_path / 'from_env'}/amp_fit'" in proc.stdout
    if not (SCRIPT.parents[1] / "data" / "MNIST" / "raw").is_dir():
        assert "[mnist_small] skipped" in proc.stdout
    assert not (tmp_path / "from_env").exists()


def test_unknown_option_exits_2():
    proc = _run("--bogus")
    assert proc.returncode == 2 and proc.stderr.startswith("Error: unknown option --bogus")
