"""Where the time of an upgrade goes, seen from the modem: host idle versus everything else.

"Host idle" is time during which the modem was ready for the host (its last reply had arrived,
it was not rebooting, applying or writing flash) and the host had not yet sent anything: time a
perfect host would not have spent. A fixed sleep or a slow poll shows up here directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class IdleMeter:
    # None at first: time before the host's first command (a pty nobody has opened yet) is not
    # the host dawdling.
    ready_since: float | None = None
    idle_s: float = 0.0
    longest_s: float = 0.0
    gaps: int = 0
    _longest_at: float = field(default=0.0, repr=False)

    def ready(self, when: float) -> None:
        """The modem can take input from `when` on (it keeps the earliest such moment)."""
        if self.ready_since is None:
            self.ready_since = when

    def busy(self) -> None:
        """The modem stopped listening (reboot, apply, flash write): waiting is not idling."""
        self.ready_since = None

    def host_wrote(self, now: float) -> None:
        if self.ready_since is not None and now > self.ready_since:
            gap = now - self.ready_since
            self.idle_s += gap
            self.gaps += 1
            if gap > self.longest_s:
                self.longest_s, self._longest_at = gap, self.ready_since
        self.ready_since = None

    def to_dict(self) -> dict[str, float]:
        return {"host_idle_s": self.idle_s, "longest_idle_s": self.longest_s,
                "longest_idle_at_s": self._longest_at, "idle_gaps": self.gaps}
