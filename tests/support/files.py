"""Files in states a user can leave them in."""

from __future__ import annotations

import os
import pathlib
from pathlib import Path
from typing import Any

import pytest


def make_unreadable(path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`path`, made unreadable for this test: its mode, or, for root (who reads anything),
    opening this one path fails as it would for a user."""
    if os.geteuid() != 0:
        path.chmod(0)
        return path
    real_open = pathlib.Path.open

    def denied(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "open", denied)
    return path
