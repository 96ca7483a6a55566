"""Fixtures shared by every test module."""

from __future__ import annotations

from pathlib import Path

import pytest

import sqnflash  # noqa: F401  (registers the sim:// URL handler with pyserial)

# Fixtures every layer uses (firmware files, pty simulators) live in tests/support.
pytest_plugins = ["tests.support.images", "tests.support.pty"]


@pytest.fixture(autouse=True)
def _journal_in_tmp(tmp_path_factory: pytest.TempPathFactory,
                    monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test (and every subprocess it starts) journals into its own temporary folder: no test
    ever touches the user's ~/.local/state/sqnflash/journal.db."""
    path = tmp_path_factory.mktemp("journal") / "journal.db"
    monkeypatch.setenv("SQNFLASH_JOURNAL", str(path))
    monkeypatch.setenv("XDG_STATE_HOME", str(path.parent / "state"))
    return path
