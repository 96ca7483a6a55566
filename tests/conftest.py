"""Fixtures shared by every test module."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import sqnflash.link  # noqa: F401  (registers the sim:// URL handler with pyserial)

# Fixtures every layer uses (firmware files, pty simulators) live in tests/support.
pytest_plugins = ["tests.support.images", "tests.support.pty", "tests.support.named_sims"]


@pytest.fixture(autouse=True)
def _journal_in_tmp(tmp_path_factory: pytest.TempPathFactory,
                    monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test (and every subprocess it starts) journals into its own temporary folder: no test
    ever touches the user's ~/.local/state/sqnflash/journal.db."""
    path = tmp_path_factory.mktemp("journal") / "journal.db"
    monkeypatch.setenv("SQNFLASH_JOURNAL", str(path))
    monkeypatch.setenv("XDG_STATE_HOME", str(path.parent / "state"))
    return path


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL 16 server of this test session (the `pgserver` wheel), as a URL; skipped
    only where it cannot start (the package missing, a platform it has no build for)."""
    try:
        import pgserver
        import psycopg  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"PostgreSQL journal tests need pgserver and psycopg: {exc}")
    # Not under pytest's temporary folder: run as root, pgserver hands the data folder to an
    # unprivileged user, which must be able to reach it, and pytest makes its own base folder
    # private again whenever another worker (or run) creates a folder there.
    folder = Path(tempfile.mkdtemp(prefix="sqnflash-test-pg-"))
    try:
        try:
            server = pgserver.get_server(folder / "pg", cleanup_mode="stop")
        except Exception as exc:  # its own errors; what matters is that no server runs
            pytest.skip(f"the test PostgreSQL server cannot start here: {exc}")
        try:
            yield server.get_uri()
        finally:
            server.cleanup()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A fresh, empty database on the session's server, for one test."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    address, mark, query = postgres_server.partition("?")
    return f"{address.rpartition('/')[0]}/{name}{mark}{query}"
