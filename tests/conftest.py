"""Shared test fixtures: where the real data lives, and a fixture that skips without it."""

from __future__ import annotations

from pathlib import Path

import pytest

# Real public datasets beside the repository (see shared/data/README.md); never committed.
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def shared() -> Path:
    """The shared data folder; the test is skipped when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"real data folder {SHARED} is absent")
    return SHARED
