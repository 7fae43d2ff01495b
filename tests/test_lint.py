"""ruff (pyflakes, pycodestyle, import order) and mypy on the core and the public API, in the default test run.

Both are in the ``test`` extra; the configuration is in ``pyproject.toml`` (``[tool.ruff]``, ``[tool.mypy]``).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: the core (no torch) and the package's public API: what a user imports first
TYPED = ["pdelearn/errors.py", "pdelearn/limits.py", "pdelearn/terms.py", "pdelearn/parsing.py",
         "pdelearn/equation.py", "pdelearn/__init__.py"]


def _tool(name: str) -> list[str]:
    if shutil.which(name) is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]')")
    return [name]


def test_ruff_is_clean():
    proc = subprocess.run([*_tool("ruff"), "check", "--output-format", "concise", "pdelearn", "tests", "benchmarks"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_mypy_is_clean_on_the_core_and_the_public_api():
    proc = subprocess.run([*_tool("mypy"), *TYPED], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_the_package_says_it_is_typed():
    assert (ROOT / "pdelearn" / "py.typed").is_file()
    assert 'pdelearn = ["py.typed"]' in (ROOT / "pyproject.toml").read_text()


def test_ruff_would_catch_an_unused_import(tmp_path):
    """The check can fail: a module with an unused import and unsorted imports is refused."""
    bad = tmp_path / "bad.py"
    bad.write_text("import sys\nimport os\n\nprint(os.sep)\n")
    proc = subprocess.run([*_tool("ruff"), "check", "--config", str(ROOT / "pyproject.toml"), "--output-format",
                           "concise", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 1 and "F401" in proc.stdout and "I001" in proc.stdout, proc.stdout
