"""The hostile-input harness (benchmarks/hostile_inputs.py): a few cheap cases and the structure of its JSON.

The full run (every case, ~15 minutes on two cores) is marked slow.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "hostile_inputs.py"


def _run(tmp_path: Path, *args: str, timeout: float = 600) -> dict:
    out = tmp_path / "results.json"
    r = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), *args], cwd=tmp_path, capture_output=True,
                       text=True, timeout=timeout)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return json.loads(out.read_text())


def test_the_harness_lists_enough_cases_in_categories():
    r = subprocess.run([sys.executable, str(SCRIPT), "--list"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rows = [ln.split() for ln in r.stdout.splitlines()[:-1]]
    cats = [row[0] for row in rows]
    assert len(rows) >= 120
    assert sum(c.startswith("fresh:") for c in cats) >= 60
    assert sum(c.startswith("issue:") for c in cats) >= 40 and "control" in cats
    assert len({row[1] for row in rows}) == len(rows)  # names are unique


def test_a_few_cheap_cases_give_the_json_structure(tmp_path):
    res = _run(tmp_path, "--only", "out_dot", "--only", "out_dotdot", "--only", "missing_file",
               "--only", "export_malformed_json", "--timeout", "120")
    assert {c["case"] for c in res["cases"]} == {"out_dot", "out_dotdot", "missing_file", "export_malformed_json"}
    t = res["totals"]
    for key in ("cases", "handled_cleanly", "handled_cleanly_pct", "data_loss", "exit0_wrong_answers", "hangs",
                "memory_over", "tracebacks", "peak_mb_max", "per_category"):
        assert key in t, key
    assert t["cases"] == 4 and 0 <= t["handled_cleanly_pct"] <= 100
    assert t["harness_errors"] == 0
    for key in ("python", "numpy", "torch", "platform", "cpu_count"):
        assert key in res["versions"]
    assert res["command"] and res["settings"]["timeout_s"] == 120
    for row in res["cases"]:
        for key in ("case", "category", "expected", "got", "seconds", "peak_mb", "verdict", "reasons", "data_loss"):
            assert key in row, key
        assert row["verdict"] in ("clean", "FAIL")
        assert row["seconds"] < 120
    # the harness judges these itself: the refusals must be exit 2 (this pins the harness, not pdelearn's
    # current behaviour: a regression in pdelearn shows as verdict FAIL, which this test does not assert on)
    assert all(row["expected"] == [2] for row in res["cases"])


def test_the_judge_catches_data_loss_and_half_written_output(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import hostile_inputs as h
    finally:
        sys.path.pop(0)
    ctx = h.Ctx(tree=tmp_path, fixtures={})
    ctx.work.mkdir(parents=True)
    h.make_precious(ctx)
    before = h.snapshot(tmp_path)
    (ctx.work / "notes.md").unlink()
    (ctx.work / "run").mkdir()
    after = h.snapshot(tmp_path)
    c = h.Case("x", "test", (2,), [])
    r = h.Result(rc=2, stdout="", stderr="Error: no\n", seconds=0.1, peak_mb=10.0, timed_out=False)
    v = h.judge(c, ctx, r, before, after, 3000.0, "home/proj/work")
    assert v["verdict"] == "FAIL" and v["data_loss"]
    assert any(x.startswith("half-written") for x in v["reasons"])
    ok = h.judge(c, ctx, r, before, before, 3000.0, "home/proj/work")
    assert ok["verdict"] == "clean", ok["reasons"]
    tb = h.Result(rc=1, stdout="", stderr="Traceback (most recent call last):\nValueError: x\n", seconds=0.1,
                  peak_mb=10.0, timed_out=False)
    bad = h.judge(c, ctx, tb, before, before, 3000.0, "home/proj/work")
    assert bad["verdict"] == "FAIL" and any(x.startswith("traceback") for x in bad["reasons"])
    zero = h.Result(rc=0, stdout="u_t = 0", stderr="", seconds=0.1, peak_mb=10.0, timed_out=False)
    assert h.judge(c, ctx, zero, before, before, 3000.0, "home/proj/work")["wrong_answer"]


@pytest.mark.slow
def test_full_hostile_run(tmp_path):
    res = _run(tmp_path, timeout=3600)
    t = res["totals"]
    assert t["data_loss"] == 0 and t["code_executed"] == 0
    failed = [(c["case"], c["reasons"]) for c in res["cases"] if c["verdict"] != "clean"]
    assert t["handled_cleanly_pct"] >= 98.0, failed
