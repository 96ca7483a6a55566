"""Version numbers as tuples, so that they compare the way their publishers number them.

One parser for every dotted version sqnflash reads: LR versions from the modem or the catalogue
(`8.0.4.0`, `5.0.0.0d`), the Pycom board's `sqnsupgrade.VERSION` (`1.2.6`). Pycom firmware
release names (`1.20.0.rc13`) have stages as well: `pycom_releases.Release` orders those.
"""

from __future__ import annotations


def version_tuple(version: str) -> tuple[int, ...]:
    """'8.0.4.0' -> (8, 0, 4, 0); each piece is cut at its first non-digit ('5.0.0.0d' ->
    (5, 0, 0, 0)), and a piece without leading digits counts as 0 ('' -> (0,))."""
    parts = []
    for piece in version.strip().split("."):
        digits = ""
        for char in piece:
            if not char.isdigit():
                break
            digits += char
        parts.append(int(digits) if digits else 0)
    return tuple(parts)
