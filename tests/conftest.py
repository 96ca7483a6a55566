"""Fixtures shared by every test module."""

from __future__ import annotations

import sqnflash  # noqa: F401  (registers the sim:// URL handler with pyserial)
