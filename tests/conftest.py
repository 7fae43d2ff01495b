"""Shared fixtures and hooks of the test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# the benchmark data sets beside the clone (../shared/data), or where PDELEARN_SHARED_DATA points (e.g. from a worktree)
SHARED_DATA = Path(os.environ.get("PDELEARN_SHARED_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder of the reference data sets (``../shared/data``); skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder {SHARED_DATA} not found")
    return SHARED_DATA


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return bool(torch.cuda.is_available())


@pytest.fixture(autouse=True)
def _skip_gpu_tests_without_cuda(request):
    """Skip tests marked ``gpu`` when CUDA is not available (torch is imported only for those)."""
    if request.node.get_closest_marker("gpu") is not None and not _cuda_available():
        pytest.skip("needs CUDA (torch.cuda.is_available() is False)")
