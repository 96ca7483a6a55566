"""The line a plan expects: the rate each transfer runs at and why, the blocks, and for a Monarch 2
image the compressed size that goes on the wire.

The rates come from the same pure choosers the run uses (line_rate.py, blocks.py), fed with what
was seen of the line before the plan (`LineSeen`: the modem's `AT+IPR=?` list if it was asked, the
adapter's top rate, a bridge's fixed rate) and what the journal remembers of this modem.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqnflash.firmware import FirmwareFile
from sqnflash.firmware.compress import ZLIB_WBITS
from sqnflash.modem import Modem, ModemInfo
from sqnflash.modem.info import MONARCH2
from sqnflash.protocol.modes import Mode
from sqnflash.upgrade.blocks import BlockChoice, choose_blocks
from sqnflash.upgrade.line_rate import (
    LineFacts,
    RateChoice,
    RatePolicy,
    boot_loader_rate,
    choose_rate,
    uncarried,
)


def is_monarch2(info_family: str | None, image_family: str | None) -> bool:
    # A modem found in RECOVERY or its boot loader does not say what it is; a Monarch 2 image
    # tells instead (a Monarch 1 would refuse the zipped stream's session before anything is
    # written).
    return (info_family or image_family) == MONARCH2


@dataclass(frozen=True)
class LineSeen:
    """What was seen of the line before the plan was made."""

    listed: tuple[int, ...] | None = None  # the modem's AT+IPR=? list
    asked: bool = False  # AT+IPR=? was asked (listed None: it was not answered)
    uncarried: frozenset[int] = frozenset()  # listed rates the port refuses
    adapter_max: int | None = None
    fixed: int | None = None  # a bridge's rate
    rtscts: bool = False  # RTS/CTS on, or to be switched on for a Monarch 2 (link.flow_control_for)


def see_line(modem: Modem, info: ModemInfo, policy: RatePolicy, monarch2: bool) -> LineSeen:
    """Read what the plan needs of the line; `AT+IPR=?` (which changes nothing) is asked only
    where the run would ask it too."""
    link = modem.link
    # A Monarch 2 found in RECOVERY gets RTS/CTS from its image's family when the run starts.
    rtscts = link.rtscts or (monarch2 and link.flow_control_auto and modem.fixed_baud is None)
    seen = LineSeen(adapter_max=link.max_baud, fixed=modem.fixed_baud, rtscts=rtscts)
    facts = _facts(seen, info.baud, frozenset(), monarch2, info.mode == Mode.FFH)
    if not choose_rate(policy, facts).needs_list:
        return seen
    listed = modem.listed_rates()
    return LineSeen(listed, True, uncarried(link, listed), seen.adapter_max, seen.fixed, rtscts)


def _facts(seen: LineSeen, current: int, failed: frozenset[int], monarch2: bool,
           in_boot_loader: bool) -> LineFacts:
    return LineFacts(current=current, listed=seen.listed, asked=seen.asked,
                     uncarried=seen.uncarried, adapter_max=seen.adapter_max, failed=failed,
                     fixed=seen.fixed, monarch2=monarch2, rtscts=seen.rtscts,
                     in_boot_loader=in_boot_loader)


@dataclass(frozen=True)
class LinePlan:
    policy: RatePolicy
    found_at: int  # the rate the modem answered at when the plan was made
    seen: LineSeen
    avoided: frozenset[int]  # rates that failed on this modem before (the journal)
    boot_loader: RateChoice | None  # flows through the boot loader: its rate
    transfer: RateChoice  # the first transfer outside the boot loader
    image: RateChoice  # the image's transfer
    blocks: BlockChoice
    compress: bool | None  # None: a Monarch 1 image, always sent raw
    image_bytes: int
    wire_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy.to_dict(),
            "found_at": self.found_at,
            "listed": list(self.seen.listed) if self.seen.listed is not None else None,
            "asked_list": self.seen.asked,
            "adapter_max_baud": self.seen.adapter_max,
            "bridge_baud": self.seen.fixed,
            "rtscts": self.seen.rtscts,
            "avoided_bauds": sorted(self.avoided),
            "boot_loader": self.boot_loader.to_dict() if self.boot_loader else None,
            "rate": self.image.rate,
            "why": self.image.why,
            "image_rate": self.image.to_dict(),
            "blocks": self.blocks.to_dict(),
            "compress": self.compress,
            "zlib_wbits": ZLIB_WBITS if self.compress else None,
            "image_bytes": self.image_bytes,
            "wire_bytes": self.wire_bytes,
        }

    def describe(self) -> list[str]:
        """The line, in a few sentences for the plan."""
        said = [f"{self.policy.label}; the modem answers at {self.found_at} baud"
                + ("; RTS/CTS on" if self.seen.rtscts else "")]
        if self.seen.asked:
            listed = self.seen.listed
            said.append("AT+IPR=? lists " + (", ".join(str(r) for r in listed) if listed
                                             else "nothing (not answered)"))
        if self.seen.adapter_max is not None:
            said.append(f"the port's adapter carries at most {self.seen.adapter_max} baud")
        if self.avoided:
            said.append(f"not tried again: {', '.join(str(b) for b in sorted(self.avoided))} "
                        "baud (failed on this modem before)")
        if self.boot_loader is not None:
            said.append(f"boot loader: {self.boot_loader.why}")
        said.append(f"image: {_rate_text(self.image)}")
        said.append(f"blocks: {self.blocks.why}")
        if self.compress is not None:
            ratio = self.wire_bytes / self.image_bytes if self.image_bytes else 1.0
            said.append(
                f"zlib (wbits {ZLIB_WBITS}): {self.image_bytes} image bytes go as "
                f"{self.wire_bytes} on the wire ({ratio:.2f})" if self.compress
                else "sent raw (--no-compress)")
        return said


def _rate_text(choice: RateChoice) -> str:
    if choice.tries and not choice.quiet:
        return f"{choice.rate} baud: {choice.why}"
    return choice.why


def plan_line(info: ModemInfo, image: FirmwareFile, *, policy: RatePolicy, seen: LineSeen,
              through_boot_loader: bool, forced_block: int | None, known_block: int | None,
              block_ceiling: bool, compress: bool, avoided: frozenset[int]) -> LinePlan:
    """The line the run is expected to use, from the same choosers it uses."""
    monarch2 = is_monarch2(info.family, image.family)
    here = _facts(seen, info.baud, avoided, monarch2, info.mode == Mode.FFH)
    transfer = choose_rate(policy, here)
    boot = image_rate = None
    if through_boot_loader:
        boot = boot_loader_rate(policy, here)
        # updater.elf lists its rates only once it runs, after the plan
        image_rate = choose_rate(policy, _facts(LineSeen(adapter_max=seen.adapter_max,
                                                         fixed=seen.fixed, rtscts=seen.rtscts),
                                                boot.rate, avoided, monarch2, False))
    blocks = choose_blocks(forced=forced_block, known=known_block, ceiling=block_ceiling,
                           monarch2=monarch2)
    zipped = compress if monarch2 else None
    return LinePlan(policy, info.baud, seen, avoided, boot, transfer, image_rate or transfer,
                    blocks, zipped, image.size,
                    image.zipped_size if zipped else image.size)
