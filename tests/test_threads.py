"""``--threads``: the thread count of torch is chosen once, deliberately (pdelearn.threads)."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from pdelearn.cli import main
from pdelearn.errors import ConfigError
from pdelearn.threads import auto_threads, parse_threads, set_threads, usable_cores


@pytest.fixture(autouse=True)
def keep_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("cores, busy, expected", [(2, 0.0, 2), (2, 0.4, 2), (2, 0.6, 1), (2, 1.0, 1), (2, 5.0, 1),
                                                   (16, 3.2, 13), (1, 0.0, 1)])
def test_auto_leaves_the_busy_cores_to_the_processes_that_hold_them(cores, busy, expected):
    assert auto_threads(cores=cores, busy=busy) == expected


def test_a_number_is_used_as_given_and_auto_honours_omp_num_threads(monkeypatch):
    assert set_threads("1") == 1 == torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert set_threads("auto") == 1
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert 1 <= set_threads("auto") <= usable_cores()


@pytest.mark.parametrize("bad", ["0", "-1", "two", "1.5", "", str(10_000)])
def test_bad_thread_counts_are_refused(bad):
    with pytest.raises(ConfigError, match="--threads"):
        parse_threads(bad)


@pytest.mark.parametrize("command", [["discover", "missing.npz", "--out", "o"], ["fit", "missing.yaml"]])
def test_the_cli_refuses_a_bad_thread_count_in_one_line(tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, [*command, "--threads", "0"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: --threads must be auto or a whole number"), lines
    assert list(tmp_path.iterdir()) == []
