"""Every data command shown in README.md and docs/ runs, in order, in an empty folder (issue 13, item 4).

``pdelearn fit`` commands are left to the recipe tests (minutes each); a ``simulate``/``export`` of a run
made by ``fit`` is skipped with it. Placeholders (DIR, DATA, RUN, /path/to) are not commands.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from pdelearn.cli import main

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUNNABLE = ("generate", "discover", "export", "simulate")
SLOW = {"trust.md", "README.md"}  # 2-D reaction-diffusion: 15-40 s; README: two Allen-Cahn runs, ~30 s


def commands(doc: Path) -> list[list[str]]:
    out = []
    for line in doc.read_text().splitlines():
        line = line.strip().removeprefix("$ ")
        for part in line.split("&&"):
            part = part.split(" #")[0].strip()
            if not part.startswith("pdelearn ") or re.search(r"\bDIR\b|\bDATA\b|\bRUN\b|/path/to", part):
                continue
            argv = shlex.split(part)[1:]
            if argv and argv[0] in RUNNABLE and not (argv[0] in ("export", "simulate") and _made_by_fit(doc, argv[1])):
                out.append(argv)
    return out


def _made_by_fit(doc: Path, folder: str) -> bool:
    return bool(re.search(rf"pdelearn fit .*--out {re.escape(folder)}\b", doc.read_text()))


@pytest.mark.parametrize("doc", [pytest.param(d, marks=pytest.mark.slow) if d.name in SLOW else d
                                 for d in DOCS if commands(d)], ids=lambda d: d.name)
def test_documented_commands_run_in_an_empty_folder(doc, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for argv in commands(doc):
        result = CliRunner().invoke(main, argv, catch_exceptions=False)
        assert result.exit_code == 0, (doc.name, argv, result.output)
