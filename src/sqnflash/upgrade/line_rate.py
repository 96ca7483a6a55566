"""The rate a transfer runs at, and why.

`choose_rate` is the one place that decides it, from facts only (what the modem lists for
`AT+IPR=?`, the adapter's top rate, rates that failed before, a bridge's fixed rate, the user's
`--baud` / `--max-baud`), so the plan can say beforehand what the run then does. `LineRate` is the
run's side: it asks the modem for its list, negotiates the rate chosen, falls back one rate at a
time when a rate fails and remembers what failed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sqnflash.errors import BaudNegotiationFailed, LineRateLost
from sqnflash.link import Link
from sqnflash.modem import APP_BAUD, BOOT_BAUD, Modem
from sqnflash.modem.flow import held_at_rate
from sqnflash.protocol.modes import Mode

FALLBACK_BAUDS = (921600, 460800, 230400, 115200)  # a noisy line is tried at these rates
NO_CAP = 1 << 30


@dataclass(frozen=True)
class RatePolicy:
    """What the user asked for: `--baud auto` (the fastest rate both ends take) or an exact
    rate (where the boot loader is moved to), and `--max-baud`."""

    auto: bool = False
    baud: int = APP_BAUD
    max_baud: int | None = None
    min_baud: int = BOOT_BAUD

    @property
    def label(self) -> str:
        said = "--baud auto" if self.auto else f"--baud {self.baud}"
        return said + (f" --max-baud {self.max_baud}" if self.max_baud else "")

    def to_dict(self) -> dict[str, Any]:
        return {"auto": self.auto, "baud": self.baud, "max_baud": self.max_baud}


@dataclass(frozen=True)
class LineFacts:
    """What is known about the line when a transfer is about to start."""

    current: int  # the rate the modem answers at
    listed: tuple[int, ...] | None = None  # what AT+IPR=? listed (None: no list)
    asked: bool = False  # whether AT+IPR=? was asked (listed None and asked: not answered)
    uncarried: frozenset[int] = frozenset()  # listed rates the port refuses to be set to
    adapter_max: int | None = None  # the port's adapter's top rate, where known
    failed: frozenset[int] = frozenset()  # rates this modem did not carry before
    fallback: int | None = None  # a noisy line made the transfers this slow
    fixed: int | None = None  # a bridge runs the line at this rate and no other
    monarch2: bool = False
    rtscts: bool = False  # RTS/CTS is (or will be, for a Monarch 2) on for the transfer
    in_boot_loader: bool = False  # the boot loader lists no rates


@dataclass(frozen=True)
class RateChoice:
    rate: int  # the rate the transfer is expected to run at
    why: str  # a sentence for the user
    tries: tuple[int, ...] = ()  # rates to move to, the first that works wins
    quiet: bool = True  # already said elsewhere (or nothing to say) when the run makes it
    needs_list: bool = False  # depends on AT+IPR=?, not asked yet

    def to_dict(self) -> dict[str, Any]:
        return {"rate": self.rate, "why": self.why, "tries": list(self.tries),
                "depends_on_list": self.needs_list}


def uncarried(link: Link, listed: tuple[int, ...] | None) -> frozenset[int]:
    """The rates in `listed` above the line's own that its port refuses to be set to."""
    return frozenset(r for r in listed or () if r > link.baud and not link.carries(r))


def rate_cap(policy: RatePolicy, facts: LineFacts) -> tuple[int, str]:
    """The fastest rate allowed, and what limits it."""
    limits = [(policy.max_baud, "--max-baud {}"),
              (facts.adapter_max, "the port's adapter carries at most {} baud"),
              (facts.fallback, "faster rates lost too many frames on this line")]
    known = [(rate, why.format(rate)) for rate, why in limits if rate]
    return min(known) if known else (NO_CAP, "")


def monarch2_held(facts: LineFacts) -> str | None:
    """Why a Monarch 2 line stays at its rate (modem/flow.py: only RTS/CTS lets it go faster);
    None when it may be moved."""
    return held_at_rate(facts.current, facts.rtscts, facts.monarch2)


def choose_rate(policy: RatePolicy, facts: LineFacts) -> RateChoice:
    """The rate the next transfer runs at, and why. With `--baud auto` it is the fastest rate
    the modem lists, the port carries, the caps allow and that did not fail before."""
    current = facts.current
    if facts.fixed is not None:
        return RateChoice(facts.fixed, f"the line runs through a bridge fixed at {facts.fixed} "
                                       "baud")
    if facts.fallback is not None and current > facts.fallback:
        return RateChoice(facts.fallback, f"{facts.fallback} baud: faster rates lost too many "
                          "frames on this line", (facts.fallback,))
    if not policy.auto:
        return RateChoice(current, f"{current} baud, the rate the modem answers at "
                          f"({policy.label}: transfers are not moved to another rate)")
    held = monarch2_held(facts)
    if held is not None:
        return RateChoice(current, held, quiet=False)
    if facts.in_boot_loader:
        return RateChoice(current, f"{current} baud: the boot loader lists no rates")
    if facts.listed is None:
        if facts.asked:
            return RateChoice(current, f"the modem does not answer AT+IPR=?: the transfer runs "
                              f"at {current} baud", quiet=False)
        cap, limit = rate_cap(policy, facts)
        within = f" (within {limit})" if cap < NO_CAP else ""
        return RateChoice(current, f"{current} baud or faster: the fastest rate the modem "
                          f"lists for AT+IPR=?{within}, asked before the transfer (the estimate "
                          f"assumes {current})", needs_list=True)
    return _fastest_listed(policy, facts, facts.listed)


def _fastest_listed(policy: RatePolicy, facts: LineFacts, listed: tuple[int, ...]
                    ) -> RateChoice:
    current = facts.current
    cap, limit = rate_cap(policy, facts)
    top = max(listed)
    rates = tuple(r for r in sorted(listed, reverse=True)
                  if current < r <= cap and r not in facts.failed and r not in facts.uncarried)
    if not rates:
        reason = limit if cap < top else "the modem lists nothing faster"
        return RateChoice(current, f"the transfer runs at {current} baud: {reason}", quiet=False)
    why = f"the fastest the modem lists (AT+IPR=? up to {top})"
    if cap < top:
        why += f", within {limit}"
    return RateChoice(rates[0], why, rates, quiet=False)


def boot_loader_rate(policy: RatePolicy, facts: LineFacts) -> RateChoice:
    """The rate the boot loader is moved to before updater.elf (or mtools.elf) is loaded."""
    if facts.monarch2:
        # Walter and the AVR-IoT bridge load mtools.elf at 115200 and never send AT+IPR.
        return RateChoice(facts.current,
                          f"Monarch 2: the boot loader stays at {facts.current} baud")
    target = min(policy.baud, facts.fallback or policy.baud)
    if facts.fixed is not None:
        return RateChoice(facts.fixed, f"the line runs through a bridge fixed at {facts.fixed} "
                                       "baud", (target,))
    return RateChoice(target, f"{target} baud: the boot loader is moved to the rate --baud "
                      "names (auto: 921600, as the field-proven flow does)", (target,))


def lower_rate(policy: RatePolicy, facts: LineFacts) -> int | None:
    """The next lower rate for a noisy line, if there is one (not behind a bridge that runs at
    one fixed rate)."""
    if facts.fixed is not None:
        return None
    cap = rate_cap(policy, facts)[0]
    for baud in sorted({*FALLBACK_BAUDS, *(facts.listed or ())}, reverse=True):
        if facts.current > baud >= policy.min_baud and baud <= cap and baud not in facts.failed:
            return baud
    return None


@dataclass
class LineRate:
    """The run's line rate: asks, negotiates, falls back, and says each decision once."""

    modem: Modem
    policy: RatePolicy
    monarch2: bool
    memory: Callable[[dict[str, Any]], None] | None = None  # the journal's line memory
    failed: set[int] = field(default_factory=set)  # rates this modem did not carry
    fallback: int | None = None  # a noisy line made the transfers slower
    listed: tuple[int, ...] = ()  # what AT+IPR=? listed
    _said: str = field(default="", init=False)

    def facts(self) -> LineFacts:
        return LineFacts(current=self.modem.link.baud, listed=self.listed or None,
                         adapter_max=self.modem.link.max_baud, failed=frozenset(self.failed),
                         fallback=self.fallback, fixed=self.modem.fixed_baud,
                         monarch2=self.monarch2, rtscts=self.modem.link.rtscts,
                         in_boot_loader=self.modem.mode_seen == Mode.FFH)

    def say(self, text: str, level: str = "info") -> None:
        if text != self._said:
            self._said = text
            self.modem.note(text, level)

    def before_transfer(self) -> None:
        """Move the line to the rate `choose_rate` picks for the next transfer."""
        facts = replace(self.facts(), listed=None)
        choice = choose_rate(self.policy, facts)
        if choice.needs_list:
            listed = self.modem.listed_rates()
            if listed is not None:
                self.listed = listed
                facts = replace(facts, listed=listed,
                                uncarried=uncarried(self.modem.link, listed))
            choice = choose_rate(self.policy, replace(facts, asked=True))
        if not choice.tries:
            if not choice.quiet:
                self.say(choice.why)
        elif choice.quiet:  # back to the rate a noisy line allows
            self.modem.negotiate_baud(choice.rate)
        else:
            self._climb(choice.tries, choice.why)

    def _climb(self, rates: tuple[int, ...], why: str) -> None:
        """Negotiate the first of `rates` (fastest first) the modem is heard at."""
        old = self.modem.link.baud
        for rate in rates:
            try:
                self.modem.negotiate_baud(rate)
            except BaudNegotiationFailed as error:
                self.failed.add(rate)
                self.remember()
                if not self.modem.step_back(old, rate):
                    raise LineRateLost(
                        f"{error.cause}, nor at {old} baud again",
                        modem_state=f"at {rate} baud or on its way back to {old}: it answers "
                                    "at neither", details={"rate": rate, "from": old}) from error
                self.modem.note(f"{error.cause}: back at {old} baud; trying a lower rate",
                                "warning")
                continue
            self.say(f"transfers run at {rate} baud: {why}")
            return
        self.say(f"the transfer runs at {old} baud: no faster rate worked "
                 f"({', '.join(str(r) for r in rates)} failed)", "warning")

    def remember(self, blocks: dict[str, Any] | None = None) -> None:
        """Tell the journal's line memory what this modem's line did (and `blocks`, what the
        transfer driver learnt of its block sizes)."""
        if self.memory is None:
            return
        self.memory({"failed_bauds": sorted(self.failed), "baud": self.modem.link.baud,
                     "rtscts": self.modem.link.rtscts, **(blocks or {})})

    def boot_loader(self) -> None:
        """Move the boot loader to its transfer rate; one that stays at its own rate still loads
        the updater, only slower (Pycom 1.2.0-1.2.2 ran the whole FFH stage at 115200)."""
        choice = boot_loader_rate(self.policy, self.facts())
        if not choice.tries:
            self.modem.note(choice.why)
            return
        old = self.modem.link.baud
        try:
            self.modem.negotiate_baud(choice.tries[0])
        except BaudNegotiationFailed as error:
            if self.modem.fixed_baud is not None or not self.modem.answers_at(old):
                raise
            self.modem.note(f"{error.cause}: the boot loader stays at {old} baud; "
                            f"updater.elf is loaded at that rate", "warning")

    def lower(self) -> int | None:
        """After a line too noisy at the current rate: the lower rate to send again at, or None
        when there is none."""
        return lower_rate(self.policy, replace(self.facts(), listed=self.listed))

    def move_down(self, lower: int) -> None:
        """The current rate failed: move to `lower` and keep the transfers there."""
        self.failed.add(self.modem.link.baud)
        self.modem.negotiate_baud(lower)
        self.fallback = lower
