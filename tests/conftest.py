"""Shared test fixtures: where the real data lives, and a fixture that skips without it.

Other test files can use the folder itself: `from conftest import SHARED`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Real public datasets beside the repository (see shared/data/README.md); never committed.
# The environment variable DCGAN_SHARED_DATA points the tests at another copy.
SHARED = Path(
    os.environ.get("DCGAN_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
).expanduser()


@pytest.fixture
def shared() -> Path:
    """The shared data folder; the test is skipped when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"real data folder {SHARED} is absent")
    return SHARED
