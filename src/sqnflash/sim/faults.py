"""Faults the simulated modem can be told to have, deterministic for a given seed.

Each fault is a `fault_<name>=<value>` query parameter of a `sim://` URL (or `--fault name=value`
on `sqnflash sim`):

| name | value | effect |
|---|---|---|
| `flip_rate` | probability per byte | flip one bit of inbound STP bytes |
| `drop_rate` | probability per byte | lose inbound STP bytes |
| `no_reply_block` | block number (1-based) | the modem does not answer that block once |
| `power_loss_at` | byte offset | power is cut once an STP session has received that many bytes |
| `power_loss_during` | `apply` or `updater-load` | power is cut half-way through that phase |
| `reboot_at` | byte offset | the modem resets itself (with `+SHUTDOWN`) at that offset |
| `smswboot_error` | `reboot`, `no-reboot` or `both` | `AT+SMSWBOOT=m,1` / `=m,0` answer ERROR |
| `silence_s` | seconds | extra silence after every reset |
| `boot_baud` | baud | the next boot comes up at this rate instead of the usual one |
| `apply_fail` | count | the next that many applies report `fail` |
| `urc_rate` | probability per reply | a spurious `+CEREG: 2` line is slipped into AT replies |
| `boot_recovery` | count | the next that many boots into FFF come up in RECOVERY |
| `reply_hcrc` | 0 | STP replies carry hcrc 0 (as seen on hardware) |
| `noisy_above` | baud | `flip_rate` and `drop_rate` apply only while the line runs faster |
| `power_loss_after` | command text | power is cut right after the modem answers it |
| `reboot_after` | command text | the modem resets itself (with `+SHUTDOWN`) after answering it |

(For the last two, the first command that starts with the text, e.g. `AT+SMSWBOOT=1`; in a
`sim://` URL the `+` may be written `%2B` or left to become a space.)

Faults that happen "once" re-arm only when a new simulator is made.

Where a fault leaves the modem is where a real one would be: a reset or power loss boots the image
selected with `AT+SMSWBOOT` (the selection survives, as on hardware), at that image's baud rate; an
ON_THE_FLY write or an apply cut short leaves the application damaged, so FFF boots RECOVERY; an
updater loaded into RAM is gone, so the boot loader comes back. `noisy_above` models a marginal
line (a long cable, a weak ground): it corrupts at high rates and is clean at lower ones, which is
what makes falling back to a lower baud rate worth it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sqnflash.sim.config import SimConfig

FAULTS: dict[str, tuple[str, str]] = {  # name: (value, effect), for `sqnflash sim faults`
    "flip_rate": ("probability per byte", "flip one bit of inbound STP bytes"),
    "drop_rate": ("probability per byte", "lose inbound STP bytes"),
    "no_reply_block": ("block number (1-based)", "the modem does not answer that block once"),
    "power_loss_at": ("byte offset",
                      "power is cut once an STP session has received that many bytes"),
    "power_loss_during": ("apply or updater-load", "power is cut half-way through that phase"),
    "reboot_at": ("byte offset", "the modem resets itself (with +SHUTDOWN) at that offset"),
    "smswboot_error": ("reboot, no-reboot or both",
                       "AT+SMSWBOOT=m,1 / =m,0 answer ERROR"),
    "silence_s": ("seconds", "extra silence after every reset"),
    "boot_baud": ("baud", "the next boot comes up at this rate instead of the usual one"),
    "apply_fail": ("count", "the next that many applies report fail"),
    "urc_rate": ("probability per reply", "a spurious +CEREG: 2 line is slipped into AT replies"),
    "boot_recovery": ("count", "the next that many boots into FFF come up in RECOVERY"),
    "reply_hcrc": ("0", "STP replies carry hcrc 0 (as seen on hardware)"),
    "noisy_above": ("baud", "flip_rate and drop_rate apply only while the line runs faster"),
    "power_loss_after": ("command text", "power is cut right after the modem answers the first "
                         "command that starts with it"),
    "reboot_after": ("command text", "the modem resets itself (with +SHUTDOWN) right after "
                     "answering the first command that starts with it"),
}
FAULT_NAMES = tuple(FAULTS)
SPURIOUS_URC = b"\r\n+CEREG: 2\r\n"


class FaultError(ValueError):
    """A fault setting is unknown or has a bad value."""


class _ModemLike(Protocol):
    def power_cycle(self) -> None: ...

    def reboot(self, reason: str, *, announce: bool) -> None: ...

    @property
    def booting(self) -> bool: ...


@dataclass
class FaultPlan:
    seed: int = 0
    flip_rate: float = 0.0
    drop_rate: float = 0.0
    no_reply_block: int | None = None
    power_loss_at: int | None = None
    power_loss_during: str | None = None
    reboot_at: int | None = None
    smswboot_error: str | None = None
    silence_s: float = 0.0
    boot_baud_once: int | None = None
    apply_fail: int = 0
    urc_rate: float = 0.0
    boot_recovery: int = 0
    reply_hcrc_zero: bool = False
    noisy_above: int | None = None
    power_loss_after: str | None = None
    reboot_after: str | None = None

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self._blocks_seen = 0
        self.injected: list[str] = []

    @classmethod
    def from_config(cls, config: SimConfig) -> FaultPlan:
        plan = cls(seed=config.seed)
        for name, raw in config.faults.items():
            plan.set(name, raw)
        return plan

    def set(self, name: str, raw: str) -> None:
        name = name.replace("-", "_")
        try:
            if name in ("flip_rate", "drop_rate", "urc_rate"):
                setattr(self, name, float(raw))
            elif name in ("no_reply_block", "power_loss_at", "reboot_at"):
                setattr(self, name, int(raw))
            elif name == "power_loss_during":
                if raw not in ("apply", "updater-load"):
                    raise ValueError(raw)
                self.power_loss_during = raw
            elif name == "smswboot_error":
                if raw not in ("reboot", "no-reboot", "both"):
                    raise ValueError(raw)
                self.smswboot_error = raw
            elif name == "silence_s":
                self.silence_s = float(raw)
            elif name == "boot_baud":
                self.boot_baud_once = int(raw)
            elif name in ("apply_fail", "boot_recovery"):
                setattr(self, name, int(raw) if raw else 1)
            elif name == "reply_hcrc":
                self.reply_hcrc_zero = raw in ("0", "off", "false")
            elif name == "noisy_above":
                self.noisy_above = int(raw)
            elif name in ("power_loss_after", "reboot_after"):
                if not raw.strip().upper().startswith("AT"):
                    raise ValueError(raw)
                setattr(self, name, raw.strip())
            else:
                raise FaultError(f"unknown fault {name!r} (known: {', '.join(FAULT_NAMES)})")
        except ValueError as exc:
            if isinstance(exc, FaultError):
                raise
            raise FaultError(f"bad value {raw!r} for fault {name!r}") from exc

    @property
    def active(self) -> bool:
        return bool(self.flip_rate or self.drop_rate or self.no_reply_block or self.power_loss_at
                    is not None or self.power_loss_during or self.reboot_at is not None
                    or self.smswboot_error or self.silence_s or self.boot_baud_once
                    or self.apply_fail or self.urc_rate or self.boot_recovery
                    or self.reply_hcrc_zero or self.power_loss_after is not None
                    or self.reboot_after is not None)

    def _record(self, what: str) -> None:
        self.injected.append(what)

    # ------------------------------------------------------------------ hooks
    def inbound_stp(self, data: bytes, received: int, baud: int | None = None) -> bytes:
        if not (self.flip_rate or self.drop_rate):
            return data
        if self.noisy_above is not None and baud is not None and baud <= self.noisy_above:
            return data
        out = bytearray()
        for byte in data:
            if self.drop_rate and self.rng.random() < self.drop_rate:
                self._record("dropped byte")
                continue
            if self.flip_rate and self.rng.random() < self.flip_rate:
                byte ^= 1 << self.rng.randrange(8)
                self._record("flipped bit")
            out.append(byte)
        return bytes(out)

    def drop_reply(self, summary: str) -> bool:
        if self.no_reply_block is None or "BLOCK-ACK" not in summary or "repeat" in summary:
            return False
        self._blocks_seen += 1
        if self._blocks_seen == self.no_reply_block:
            self._record(f"no reply to block {self.no_reply_block}")
            return True
        return False

    def after_block(self, modem: _ModemLike, offset: int) -> None:
        if self.power_loss_at is not None and offset >= self.power_loss_at:
            self.power_loss_at = None
            self._record(f"power loss at byte {offset}")
            modem.power_cycle()
        elif self.reboot_at is not None and offset >= self.reboot_at:
            self.reboot_at = None
            self._record(f"reset at byte {offset}")
            modem.reboot("fault: spontaneous reset", announce=True)

    def after_command(self, modem: _ModemLike, command: str) -> None:
        """`power_loss_after` / `reboot_after`: the command was just answered."""
        # A URL query turns "+" into a space: either spelling of the command matches.
        upper = command.upper().replace("+", " ")

        def matches(prefix: str | None) -> bool:
            return prefix is not None and upper.startswith(prefix.upper().replace("+", " "))

        if matches(self.power_loss_after):
            self.power_loss_after = None
            self._record(f"power loss after {command}")
            modem.power_cycle()
        elif matches(self.reboot_after):
            self.reboot_after = None
            self._record(f"reset after {command}")
            if not modem.booting:
                modem.reboot("fault: spontaneous reset", announce=True)

    def power_loss_phase(self, phase: str) -> bool:
        if self.power_loss_during == phase:
            self.power_loss_during = None
            self._record(f"power loss during {phase}")
            return True
        return False

    def smswboot_error_for(self, mode: int, reboot: int) -> bool:
        kind = self.smswboot_error
        if kind is None:
            return False
        hit = kind == "both" or (kind == "reboot" and reboot == 1) or (
            kind == "no-reboot" and reboot == 0)
        if hit:
            self._record(f"ERROR to AT+SMSWBOOT={mode},{reboot}")
        return hit

    def boot_silence_s(self) -> float:
        if self.silence_s:
            self._record(f"silent for {self.silence_s:g} s after a reset")
        return self.silence_s

    def boot_baud(self, baud: int) -> int:
        if self.boot_baud_once is not None:
            wrong, self.boot_baud_once = self.boot_baud_once, None
            self._record(f"booted at {wrong} baud")
            return wrong
        return baud

    def _count_down(self, name: str, what: str) -> bool:
        """A fault that happens the next N times (`apply_fail`, `boot_recovery`): one of them."""
        left: int = getattr(self, name)
        if left <= 0:
            return False
        setattr(self, name, left - 1)
        self._record(what)
        return True

    def boot_into_recovery(self) -> bool:
        return self._count_down("boot_recovery", "came back in RECOVERY")

    def apply_fails(self) -> bool:
        return self._count_down("apply_fail", "apply reported fail")

    def reply_hcrc(self) -> bool:
        if self.reply_hcrc_zero:
            self._record("STP replies with hcrc 0")
        return not self.reply_hcrc_zero

    def at_reply(self, data: bytes) -> bytes:
        """Slip a spurious URC between two lines of an AT reply."""
        if not self.urc_rate or self.rng.random() >= self.urc_rate:
            return data
        cuts = [i for i in range(len(data) - 1) if data[i : i + 2] == b"\r\n"]
        if len(cuts) < 2:
            return data
        cut = cuts[self.rng.randrange(1, len(cuts))]
        self._record("spurious URC in a reply")
        return data[:cut] + SPURIOUS_URC.rstrip(b"\r\n") + data[cut:]
