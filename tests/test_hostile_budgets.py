"""Issue 27, out-of-sample hostile inputs: the sparse selection is bounded in work (MAX_SELECTION_WORK) and in
time (discover's budget, exit 3 naming the stage); compare reads many conditions in one pass; a distributed run
without torchrun's MASTER_ADDR/MASTER_PORT is refused, and one whose peer never comes ends at a timeout."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from pdelearn import discovery_stages
from pdelearn.budget import Budget, BudgetExceeded, larger_budget, seconds_from_env
from pdelearn.cli import main
from pdelearn.discovery import discover
from pdelearn.errors import ConfigError, LibraryError
from pdelearn.evaluation import compare_runs
from pdelearn.limits import MAX_SELECTION_WORK
from pdelearn.sparse import SparseRegression

ROOT = Path(__file__).resolve().parents[1]


class Expiring(Budget):
    """A budget that expires at its ``after``-th check (deterministic: no clock)."""

    def __init__(self, after: int = 0, what: str = "the term selection"):
        super().__init__(60.0, what)
        self.after, self.checks = after, 0

    def expired(self) -> bool:
        self.checks += 1
        return self.checks > self.after


def problem(n: int = 200, K: int = 12, seed: int = 0):
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((n, K))
    return G, G[:, [1, 4]] @ [2.0, -0.5] + 1e-3 * rng.standard_normal(n)


def heat():
    x = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    t = np.linspace(0, 1, 101)
    u = np.exp(-0.5 * t) * np.sin(x)[:, None] + np.exp(-2 * t) * np.sin(2 * x)[:, None]
    return {"u": u}, {"x": x, "t": t}


def one_error_line(result, code: int = 2) -> str:
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    return lines[0]


# -- the work of the selection ------------------------------------------------------------------------------------
def test_selection_work_grows_as_the_fourth_power_of_the_terms():
    r = SparseRegression()
    assert r.work(None, 999) / r.work(None, 500) == pytest.approx(16, rel=0.05)
    assert r.work(None, 999) > MAX_SELECTION_WORK.value  # 999 terms: minutes of backward elimination
    assert r.work(2000, 290) < MAX_SELECTION_WORK.value / 10  # the largest reference library: far inside
    assert r.work(1000, 999) > r.work(216, 999) > r.work(None, 999)  # rows add to it; None is a lower bound


def test_fit_refuses_a_selection_above_the_work_limit_before_any_work(monkeypatch):
    G, b = problem()
    monkeypatch.setenv("PDELEARN_MAX_SELECTION_WORK", "1e4")
    with pytest.raises(LibraryError, match=r"of 12 candidate terms on 200 rows is .* above the limit "
                                           r"MAX_SELECTION_WORK = 10000 .*PDELEARN_MAX_SELECTION_WORK"):
        SparseRegression().fit(G, b)
    monkeypatch.setenv("PDELEARN_MAX_SELECTION_WORK", "1e9")
    assert np.flatnonzero(SparseRegression().fit(G, b).support).tolist() == [1, 4]


def test_discover_refuses_a_large_library_before_building_the_regression(monkeypatch):
    fields, coords = heat()

    def never(*a, **k):
        raise AssertionError("the regression was built")

    monkeypatch.setattr(discovery_stages, "weak_system", never)
    monkeypatch.setenv("PDELEARN_MAX_SELECTION_WORK", "1000")
    with pytest.raises(LibraryError, match="MAX_SELECTION_WORK"):
        discover(fields, coords, max_power=2, max_order=2)


def test_cli_work_limit_is_one_error_line_and_writes_nothing(tmp_path, monkeypatch):
    fields, coords = heat()
    np.savez(tmp_path / "d.npz", **fields, **coords)
    monkeypatch.setenv("PDELEARN_MAX_SELECTION_WORK", "1000")
    res = CliRunner().invoke(main, ["discover", str(tmp_path / "d.npz"), "--out", str(tmp_path / "run")])
    line = one_error_line(res)
    assert line.startswith("Error: the estimated work of the sparse selection") and "MAX_SELECTION_WORK" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npz"]


# -- the time budget of the selection -----------------------------------------------------------------------------
@pytest.mark.parametrize("method, after, stage", [
    ("backward", 0, "the backward elimination, after 0 of 11 steps"),
    ("backward", 5, "the backward elimination, after 5 of 11 steps"),
    ("backward", 11, "the swaps of the supports of 1 terms"),  # the path done, then the swaps check it
    ("stlsq", 0, "the thresholded least squares, at threshold 1 of 61"),
])
def test_fit_stops_at_its_budget_naming_the_stage(method, after, stage):
    G, b = problem()
    with pytest.raises(BudgetExceeded, match="the term selection ran past its time budget of 60 s in " + stage):
        SparseRegression(method=method).fit(G, b, budget=Expiring(after))


def test_cross_validation_checks_the_budget():
    G, b = problem(n=400)
    budget = Expiring(10 ** 6)
    SparseRegression(cv_blocks=4).fit(G, b, budget=budget)
    checks = budget.checks
    with pytest.raises(BudgetExceeded, match="the cross-validation of the supports, after 0 of 12 sizes"):
        SparseRegression(cv_blocks=4).fit(G, b, budget=Expiring(checks - 12))


def test_a_budget_that_does_not_run_out_changes_nothing():
    G, b = problem(K=30, seed=3)
    for method in ("backward", "stlsq"):
        plain = SparseRegression(method=method).fit(G, b)
        timed = SparseRegression(method=method).fit(G, b, budget=Budget(3600.0))
        assert np.array_equal(plain.support, timed.support)
        assert np.array_equal(plain.coefficients, timed.coefficients)


def expiring_after(checks: int):
    """A stand-in for discovery_stages.Budget: a budget with a limit expires at its ``checks``-th check."""
    return lambda seconds, what: Budget(None, what) if seconds is None else Expiring(checks, what)


def test_a_quick_selection_is_not_held_to_the_budget(monkeypatch):
    fields, coords = heat()
    monkeypatch.setattr(discovery_stages, "Budget", expiring_after(0))
    d = discover(fields, coords, max_power=2, max_order=2, budget=300, refine="none")  # a few terms: no clock
    assert [t.name for t in d.equation.terms] == ["u_xx"]


def test_discover_past_the_selection_budget_says_how_to_continue(monkeypatch):
    fields, coords = heat()
    monkeypatch.setattr(discovery_stages, "Budget", expiring_after(3))
    monkeypatch.setattr(discovery_stages, "QUICK_WORK", 0.0)  # as if the selection were long
    with pytest.raises(BudgetExceeded) as e:
        discover(fields, coords, max_power=2, max_order=2, budget=300)
    msg = str(e.value)
    assert msg.startswith("the term selection of u_t (")
    assert "in the backward elimination, after 3 of" in msg
    assert f"pdelearn discover --budget {larger_budget(60.0)}" in msg


def test_cli_selection_past_its_budget_exits_3_and_writes_nothing(tmp_path, monkeypatch):
    fields, coords = heat()
    np.savez(tmp_path / "d.npz", **fields, **coords)
    monkeypatch.setattr(discovery_stages, "Budget", expiring_after(0))
    monkeypatch.setattr(discovery_stages, "QUICK_WORK", 0.0)
    res = CliRunner().invoke(main, ["discover", str(tmp_path / "d.npz"), "--out", str(tmp_path / "run"),
                                    "--max-power", "2", "--max-order", "2"])
    line = one_error_line(res, 3)
    assert line.startswith("Stopped: the term selection of u_t") and "--budget" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npz"]


def test_larger_budget():
    assert larger_budget(300.0) == "1500" and larger_budget(5.0) == "60"


# -- compare ------------------------------------------------------------------------------------------------------
def _evaluation(folder: Path, conditions) -> Path:
    folder.mkdir()
    (folder / "evaluation.json").write_text(json.dumps({"model": "prnet", "dataset": "digits",
                                                        "conditions": conditions}))
    return folder


def test_compare_many_conditions(tmp_path):
    n = 3000
    a = _evaluation(tmp_path / "a", [{"name": "clean", "top1": 0.9}, {"name": "c7", "top1": 0.1}])
    b = _evaluation(tmp_path / "b", [{"name": f"c{i}", "top1": (i % 100) / 100} for i in range(n)]
                    + [{"name": "skip", "skipped": "needs colour images"}])
    header, rule, row = compare_runs([a, b]).splitlines()[:3]
    cols = [c.strip() for c in header.strip("|").split("|")]
    assert cols[:4] == ["model", "clean", "c7", "c0"] and len(cols) == 1 + 1 + n + 3 and "skip" not in cols
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "90.00"  # one run
    assert cells[2] == "8.50 +- 2.12"  # c7 in both runs: 10 % and 7 %
    assert cells[cols.index("c1234")] == "34.00"


class Counting(dict):
    """A condition record that counts the reads of its fields."""

    reads = 0

    def __getitem__(self, key):
        Counting.reads += 1
        return super().__getitem__(key)

    def get(self, key, default=None):
        Counting.reads += 1
        return super().get(key, default)


@pytest.mark.parametrize("n", [100, 2000])
def test_compare_reads_each_condition_a_bounded_number_of_times(n, tmp_path, monkeypatch):
    from pdelearn.evaluation import report

    evs = {"a": {"model": "m", "dataset": "d", "conditions": [Counting(name=f"c{i}", top1=0.5) for i in range(n)]},
           "b": {"model": "m", "dataset": "d", "conditions": [Counting(name=f"c{i}", top1=0.7) for i in range(n)]}}
    monkeypatch.setattr(report, "load_evaluation", lambda p: evs[Path(p).name])
    Counting.reads = 0
    table = report.compare_runs([tmp_path / "a", tmp_path / "b"])
    assert "| m (d) | 60.00 +- 14.14 |" in table
    assert Counting.reads <= 4 * 2 * n  # a few reads per record, not one per record and column


# -- distributed runs ---------------------------------------------------------------------------------------------
def test_master_variables_are_checked():
    from pdelearn.distributed import master_env

    with pytest.raises(ConfigError, match="WORLD_SIZE=2, RANK=0 asks for a distributed run, but MASTER_ADDR and "
                                          "MASTER_PORT are not set; torchrun sets them"):
        master_env({"WORLD_SIZE": "2", "RANK": "0"})
    with pytest.raises(ConfigError, match="MASTER_PORT is not set"):
        master_env({"WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": " "})
    for port in ("http", "0", "70000", "²"):
        with pytest.raises(ConfigError, match="MASTER_PORT must be a port number"):
            master_env({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port})
    assert master_env({"MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500"}) == ("10.0.0.1", 29500)


def test_rendezvous_timeout_from_the_environment():
    assert seconds_from_env("PDELEARN_RENDEZVOUS_TIMEOUT", 30.0, {}) == 30.0
    assert seconds_from_env("PDELEARN_RENDEZVOUS_TIMEOUT", 30.0, {"PDELEARN_RENDEZVOUS_TIMEOUT": "2.5"}) == 2.5
    for bad in ("0", "-1", "inf", "nan", "soon"):
        with pytest.raises(ConfigError, match="PDELEARN_RENDEZVOUS_TIMEOUT must be a number of seconds > 0"):
            seconds_from_env("PDELEARN_RENDEZVOUS_TIMEOUT", 30.0, {"PDELEARN_RENDEZVOUS_TIMEOUT": bad})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_rank_whose_peer_never_comes_ends_with_an_error(monkeypatch):
    from pdelearn.distributed import process_group

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(_free_port()))
    monkeypatch.setenv("PDELEARN_RENDEZVOUS_TIMEOUT", "1")
    with pytest.raises(ConfigError, match=r"the 2 processes of the distributed run did not meet at 127\.0\.0\.1:\d+ "
                                          r"within 1 s \(this is rank 0;.*PDELEARN_RENDEZVOUS_TIMEOUT"):
        with process_group(2, "gloo"):
            pass
    import torch

    assert not torch.distributed.is_initialized()


def test_cli_fit_with_torchrun_variables_but_no_master_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    monkeypatch.delenv("MASTER_PORT", raising=False)
    res = CliRunner().invoke(main, ["fit", str(ROOT / "recipes" / "burgers_forward.yaml"), "--out",
                                    str(tmp_path / "run")])
    line = one_error_line(res)
    assert "MASTER_ADDR and MASTER_PORT are not set; torchrun sets them" in line
    assert not (tmp_path / "run").exists()
