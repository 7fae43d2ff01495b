"""The sparse readout (issue 29 item 1): the discovery engine on samples (h_t, Theta) of a trained network."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import pdelearn
from pdelearn.errors import ConfigError, ShapeError
from pdelearn.models.prnet import PRNet, default_library
from pdelearn.sparse_readout import MIN_READOUT_R2, readout, readout_arrays, sample_block

ROOT = Path(__file__).resolve().parents[1]
TRUE = {"h_d1": 0.3, "h*h_d2": -0.8, "h_d1d1": 0.15}  # each term explains more than R2_TOLERANCE of var(h_t)


def _synthetic(n_images=60, rows=200, noise=0.05, seed=0):
    """``Theta`` of the 28-term PR-Net library on random derivative values with an image effect (rows of one
    image share a random offset), ``h_t`` from :data:`TRUE` plus white noise; one group per image."""
    lib = default_library()
    rng = np.random.default_rng(seed)
    n = n_images * rows
    offset = np.repeat(rng.standard_normal((n_images, 1)), rows, axis=0)
    names = [d.name for d in lib.derivatives]
    values = {k: rng.standard_normal(n) + 0.5 * offset[:, 0] for k in names}
    G = pdelearn.CompiledLibrary(lib).numpy(values)
    w = np.zeros(len(lib))
    for k, c in TRUE.items():
        w[lib.index(k)] = c
    b = G @ w + noise * rng.standard_normal(n)
    return b, G, lib, np.repeat(np.arange(n_images), rows), w


def test_readout_recovers_a_known_sparse_law_with_intervals_holding_the_truth():
    b, G, lib, groups, w = _synthetic()
    dense = w + 1e-4  # a dense equation, as the L1 step leaves it
    r = readout_arrays(b, G, lib, groups=groups, dense=dense, bootstrap=200, seed=1)
    assert sorted(r.equation.coefficients) == sorted(lib[lib.index(k)].key for k in TRUE)
    for t, c in r.equation.terms.items():
        lo, hi = r.equation.intervals[t.key]
        truth = TRUE[next(k for k in TRUE if lib[lib.index(k)].key == t.key)]
        assert lo <= truth <= hi and lo <= c <= hi, (t.name, lo, truth, hi)
    assert r.reliable and r.r2_held_out > 0.99 and abs(r.r2_held_out - r.dense_r2_held_out) < 0.01
    assert r.dense_terms == 28 and r.sample["selection_groups"] == 30 and r.sample["held_out_groups"] == 30
    text = "\n".join(r.lines())
    assert "sparse readout (3 terms" in text and "explains little" not in text
    d = r.to_dict()
    json.dumps(d)
    assert d["terms"] == r.terms and len(d["intervals"]) == 3 and d["reliable"] is True


def test_a_readout_of_noise_says_the_equation_explains_little():
    b, G, lib, groups, _ = _synthetic(n_images=20, rows=100)
    noise = np.random.default_rng(3).standard_normal(b.size)
    r = readout_arrays(noise, G, lib, groups=groups, bootstrap=0)
    assert not r.reliable and r.r2_held_out < MIN_READOUT_R2
    assert "the learned equation explains little" in "\n".join(r.lines()) and r.to_dict()["reliable"] is False


def _tiny_trained_prnet(steps=40):
    """A tiny PR-Net whose block and coefficients are trained a few steps on L_I + L_G (+ L1) on digits-like noise."""
    torch.manual_seed(0)
    net = PRNet(1, 8, 10, width=4, n_down=0, max_order=3)
    x = torch.rand(48, 1, 8, 8)
    opt = torch.optim.Adam([*net.block.parameters(), *net.equation.parameters()], lr=1e-2)
    for _ in range(steps):
        with torch.no_grad():
            h0 = net.features(x[:16])
        d = net.derivatives(h0)
        loss = (net.residual(d).pow(2).mean() + torch.nn.functional.mse_loss(net.initial(h0), h0)
                + 1e-5 * net.equation.l1())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net, x


def test_readout_of_a_tiny_trained_block_is_short():
    net, x = _tiny_trained_prnet()
    r = pdelearn.readout(net, x[16:], n_images=32, bootstrap=50)
    assert 1 <= len(r.terms) <= 6 and r.dense_terms == 28
    assert np.isfinite(r.r2_held_out) and np.isfinite(r.dense_r2_held_out)
    s = r.sample
    assert (s["images"], s["channels"], s["positions"], s["rows"]) == (32, 4, 36, 32 * 4 * 36)
    assert "the first 32 of the images given at H" in s["description"]
    # the arrays of the same sample give the same readout (one engine behind both entry points)
    b, G, groups, _ = sample_block(net, x[16:])
    again = readout_arrays(b, G, net.equation.library, groups=groups, bootstrap=50,
                           dense=net.equation.coefficients.detach().numpy().reshape(-1))
    assert again.terms == r.terms and np.allclose(list(again.equation.coefficients.values()),
                                                  list(r.equation.coefficients.values()))


# -- bad input ---------------------------------------------------------------------------------------
def test_a_network_without_a_pde_block_has_no_readout():
    cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten(), torch.nn.Linear(144, 10))
    with pytest.raises(ConfigError, match="has no PDE block"):
        readout(cnn, torch.rand(8, 1, 8, 8))


@pytest.mark.parametrize("n", [0, 1, 9, -3, 2.5, True])
def test_sample_sizes_outside_2_to_the_data_are_refused(n):
    net = PRNet(1, 8, 10, width=4, n_down=0, max_order=1)
    with pytest.raises(ConfigError, match="from 2 to the 8 images"):
        readout(net, torch.rand(8, 1, 8, 8), n_images=n)


def test_arrays_of_the_wrong_shape_are_refused():
    b, G, lib, groups, _ = _synthetic(n_images=4, rows=10)
    with pytest.raises(ShapeError, match="theta must have shape"):
        readout_arrays(b, G[:, :5], lib)
    with pytest.raises(pdelearn.DataError, match="at least 2 groups"):
        readout_arrays(b, G, lib, groups=np.zeros(b.size))


def _run_folder(tmp_path, kind: str) -> Path:
    """A classification run folder trained for one tiny epoch (``kind``: prnet or resnet)."""
    from click.testing import CliRunner

    from pdelearn.cli import main

    out = tmp_path / kind
    recipe = tmp_path / f"{kind}.yaml"
    recipe.write_text("problem: classification\ndata: {dataset: digits, image_size: 16, batch_size: 64, max_batches: 2}\n"
                      f"model: {{kind: {kind}, width: 8}}\ntraining: {{epochs: 1}}\n")
    res = CliRunner().invoke(main, ["fit", str(recipe), "--out", str(out)])
    assert res.exit_code in (0, 3), res.output
    return out


def test_readout_of_run_folders_and_the_command_line(tmp_path):
    pytest.importorskip("pdelearn.vision")
    from click.testing import CliRunner

    from pdelearn.cli import main

    pr = _run_folder(tmp_path, "prnet")
    summary = json.loads((pr / "summary.json").read_text())
    eq = json.loads((pr / "equation.json").read_text())
    assert "readout" in summary and "dense_equation" in eq and "readout" in eq
    r = pdelearn.readout_run(pr, n_images=40, bootstrap=20)
    assert r.sample["images"] == 40 and "test images of digits" in r.sample["description"]
    before = sorted(p.name for p in pr.iterdir())
    res = CliRunner().invoke(main, ["readout", str(pr), "--images", "40"])
    assert res.exit_code in (0, 3) and "sparse readout" in res.output
    for bad, why in ((["--images", "0"], "from 2 to the"), (["--images", "100000"], "from 2 to the")):
        res = CliRunner().invoke(main, ["readout", str(pr), *bad])
        assert res.exit_code == 2 and why in res.output and res.output.count("Error:") == 1
    res = CliRunner().invoke(main, ["readout", str(_run_folder(tmp_path, "resnet"))])
    assert res.exit_code == 2 and "has no PDE block" in res.output
    assert sorted(p.name for p in pr.iterdir()) == before  # nothing written


def test_benchmark_without_data_is_one_error_line_and_exit_2(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "prnet_mnist.py"), "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("Error:") == 1 and "--data" in proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()
