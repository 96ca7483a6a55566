"""The fault matrix: every fault the simulator can inject, against every upgrade flow.

Each case is one simulated modem (virtual clock) with one fault class, a seed and a flow; the
seed picks the flow and the fault's details (which block, which byte, which command, how long).
sqnflash runs the same `upgrade` a user runs, with a journal; a case ends in one of four ways:

- completed: the modem runs the new build;
- stopped: sqnflash stopped with a typed error (code, cause, advice) and left the modem working
  in its application, as it was;
- recovered: sqnflash stopped with a typed error, the modem was left outside its application, and
  `sqnflash recover` (with the full image and updater.elf) brought it back, run at most twice as
  its errors advise (a modem that refuses an image is not sent it again within one run, so a
  refusal that goes away needs the user's second `recover`);
- unrecoverable: anything else (an untyped exception, a modem `recover` could not bring back).

`bench/faults.py` runs every class with 20 seeds or more and prints the table; the tests run one
seed per class.
"""

from __future__ import annotations

import random
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import serial

from sqnflash.errors import SqnflashError
from sqnflash.firmware import FirmwareFile, load_image, load_updater
from sqnflash.modem import Modem
from sqnflash.sim.images import Family, ImageKind, default_name, make_image
from sqnflash.sim.simulator import Simulator
from sqnflash.upgrade import Method, Settings, upgrade
from sqnflash.upgrade.journal import Journal
from sqnflash.upgrade.recover import recover

FROM = 38638
TO = 41019
FULL_SIZE = 300_000  # a real PACK container (bootrom, updater, fff, fs packages), quick to send
DIFF_SIZE = 100_000
UPDATER_SIZE = 60_000
# flow: (simulator settings, image, updater needed, method)
FLOWS: dict[str, tuple[str, str, bool, Method | None]] = {
    "diff": ("", "diff", False, None),
    "on-the-fly": ("", "full", False, Method.ON_THE_FLY),
    "old-bootrom": ("old_bootrom=1", "full", True, None),
    "boot-loader": ("mode=ffh", "full", True, None),
    "recovery": ("mode=recovery", "full", False, None),
}
APPLICATION_FLOWS = ("diff", "on-the-fly", "old-bootrom")  # the modem is found in its application
OUTCOMES = ("completed", "stopped", "recovered", "unrecoverable")
RECOVER_RUNS = 2  # how often a user runs `sqnflash recover` when its error says to
# The commands each flow sends, after any of which the power may go or the modem reset itself.
STEP_COMMANDS = {
    "diff": ("ATE0", "AT+CFUN=4", "AT+SMSTPU", "AT+SMUPGRADE"),
    "on-the-fly": ("ATE0", "AT+CFUN=4", "AT+SMSWBOOT=3", "AT+SMSTPU", "AT+SMSWBOOT=1"),
    "old-bootrom": ("AT+SMSWBOOT=3", "AT+SMSTPU", "AT+SMSWBOOT=0", "AT+IPR", "AT+STP",
                    "AT+SMSWBOOT=1"),
    "boot-loader": ("AT+IPR", "AT+STP", "AT+SMSTPU", "AT+SMSWBOOT=1"),
    "recovery": ("AT+SMSTPU", "AT+SMSWBOOT=1"),
}
ALL_FLOWS = tuple(FLOWS)
WITH_UPDATER = ("old-bootrom", "boot-loader")


@dataclass(frozen=True)
class Case:
    fault: str
    seed: int
    flow: str
    query: str  # the fault's sim:// settings


@dataclass(frozen=True)
class CaseResult:
    case: Case
    outcome: str
    code: str = ""  # the error sqnflash stopped with
    detail: str = ""
    elapsed_s: float = 0.0
    hit: bool = False  # the fault did happen (a block number past the end would not)


@dataclass(frozen=True)
class FaultClass:
    description: str
    settings: Callable[[random.Random, str], str]  # (rng, flow) -> sim:// fault settings
    flows: tuple[str, ...] = ALL_FLOWS  # the flows where the fault can happen at all


def _offset(rng: random.Random, flow: str) -> int:
    size = DIFF_SIZE if FLOWS[flow][1] == "diff" else FULL_SIZE
    return rng.randrange(1, size)


def _command(rng: random.Random, flow: str) -> str:
    return quote(rng.choice(STEP_COMMANDS[flow]))  # "+" would arrive as a space


FAULT_CLASSES: dict[str, FaultClass] = {
    "flip-1%": FaultClass("1 % of inbound STP bytes get a bit flipped",
                          lambda rng, flow: "fault_flip_rate=0.01"),
    "drop-bytes": FaultClass("0.2 % of inbound STP bytes are lost",
                             lambda rng, flow: "fault_drop_rate=0.002"),
    "no-reply": FaultClass("no reply to one block",
                           lambda rng, flow: f"fault_no_reply_block={rng.randrange(1, 40)}"),
    "power-loss-byte": FaultClass("power cut at a byte offset of a transfer",
                                  lambda rng, flow: f"fault_power_loss_at={_offset(rng, flow)}"),
    "power-loss-step": FaultClass("power cut right after a command",
                                  lambda rng, flow: "fault_power_loss_after="
                                  + _command(rng, flow)),
    "power-loss-phase": FaultClass(
        "power cut while applying or loading the updater",
        lambda rng, flow: "fault_power_loss_during=" + rng.choice(
            ("apply", "updater-load") if flow in WITH_UPDATER else ("apply",))),
    "reset-byte": FaultClass("the modem resets itself at a byte offset",
                             lambda rng, flow: f"fault_reboot_at={_offset(rng, flow)}"),
    "reset-step": FaultClass("the modem resets itself right after a command",
                             lambda rng, flow: f"fault_reboot_after={_command(rng, flow)}"),
    # ERROR to =m,0 alone never shows (sqnflash sends it only when =m,1 failed). Refused both
    # ways, a modem found in RECOVERY could never be switched to its application by any known
    # command: "both" is drawn only for the flows that start in the application.
    "smswboot-error": FaultClass(
        "ERROR to AT+SMSWBOOT=m,1, or to =m,1 and =m,0",
        lambda rng, flow: "fault_smswboot_error=" + rng.choice(
            ("reboot", "both") if flow in APPLICATION_FLOWS else ("reboot",)),
        ("on-the-fly", "old-bootrom", "boot-loader", "recovery")),
    "silence": FaultClass("silence after every reset",
                          lambda rng, flow: f"fault_silence_s={rng.uniform(1, 40):.1f}"),
    "wrong-baud": FaultClass(
        "the next boot comes up at another rate",
        lambda rng, flow: f"fault_boot_baud={rng.choice((115200, 460800, 57600))}"),
    "apply-fail": FaultClass("applying reports fail",
                             lambda rng, flow: f"fault_apply_fail={rng.choice((1, 2))}"),
    "hcrc-zero": FaultClass("STP replies with hcrc 0", lambda rng, flow: "fault_reply_hcrc=0"),
    "spurious-urc": FaultClass(
        "unsolicited lines inside AT replies",
        lambda rng, flow: f"fault_urc_rate={rng.uniform(0.05, 0.5):.2f}"),
    "boots-recovery": FaultClass(
        "the modem comes back in RECOVERY instead of the application",
        lambda rng, flow: f"fault_boot_recovery={rng.choice((1, 2, 3))}"),
    "noisy-fast-line": FaultClass(
        "5 % of inbound STP bytes damaged above 460800 baud",
        lambda rng, flow: "fault_flip_rate=0.05&fault_noisy_above=460800"),
}


def cases(seeds: Iterable[int], classes: Iterable[str] | None = None) -> list[Case]:
    """Seed n of a class runs its flow number n (round robin) with details drawn from n."""
    out = []
    for name in classes or FAULT_CLASSES:
        fault = FAULT_CLASSES[name]
        for seed in seeds:
            rng = random.Random(f"{name}/{seed}")
            flow = fault.flows[seed % len(fault.flows)]
            out.append(Case(name, seed, flow, fault.settings(rng, flow)))
    return out


class Files:
    """The synthetic firmware every case uses, written once into `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.full = self._write(ImageKind.FULL, FULL_SIZE)
        self.diff = self._write(ImageKind.DIFF, DIFF_SIZE, source=FROM)
        self.updater = self._write(ImageKind.UPDATER, UPDATER_SIZE)

    def _write(self, kind: ImageKind, size: int, source: int | None = None) -> Path:
        path = self.folder / default_name(kind, Family.CATM1, TO, source)
        if not path.exists():
            path.write_bytes(make_image(kind, Family.CATM1, TO, source=source, size=size))
        return path

    def load(self, flow: str) -> tuple[FirmwareFile, FirmwareFile | None, Method | None]:
        _, image, needs_updater, method = FLOWS[flow]
        return (load_image(self.full if image == "full" else self.diff),
                load_updater(self.updater) if needs_updater else None, method)


def _working(sim: Simulator) -> bool:
    state = sim.summary()
    return bool(state["mode"] == "FFF" and state["app_ok"])


def run_case(case: Case, files: Files, journal_path: Path | None = None) -> CaseResult:
    """One upgrade against one faulty modem, then `recover` if the modem was left broken."""
    flow_settings = FLOWS[case.flow][0]
    query = "&".join(p for p in ("clock=virtual", f"version={FROM}", flow_settings,
                                 f"seed={case.seed}", case.query) if p)
    started = time.perf_counter()
    port = serial.serial_for_url(f"sim://?{query}", baudrate=921600)
    sim: Simulator = port.sim
    with tempfile.TemporaryDirectory(prefix="sqnflash-matrix-") as folder:
        try:
            with Journal.open(journal_path or Path(folder) / "journal.db") as journal:
                outcome, code, detail = _upgrade_then_recover(case, port, files, journal)
        except Exception as exc:  # the point of the matrix: anything untyped is a finding
            outcome, code = "unrecoverable", type(exc).__name__
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        finally:
            port.close()
    hit = bool(sim.modem.faults.injected)
    return CaseResult(case, outcome, code, detail, time.perf_counter() - started, hit)


def _upgrade_then_recover(case: Case, port: serial.SerialBase, files: Files,
                          journal: Journal) -> tuple[str, str, str]:
    sim: Simulator = port.sim
    image, updater, method = files.load(case.flow)
    try:
        upgrade(Modem.open(port), image, updater=updater, method=method, settings=Settings(),
                journal=journal)
    except SqnflashError as error:
        if _working(sim):
            return "stopped", error.code, error.cause
        for attempt in range(RECOVER_RUNS):
            try:
                recover(Modem.open(port), load_image(files.full),
                        updater=load_updater(files.updater), journal=journal)
                break
            except SqnflashError as again:
                if attempt == RECOVER_RUNS - 1:
                    return ("unrecoverable", error.code,
                            f"{error.cause}; recover: {again.code} {again.cause}")
        return ("recovered" if _working(sim) else "unrecoverable"), error.code, error.cause
    state = sim.summary()
    outcome = "completed" if state["version"] == TO and _working(sim) else "unrecoverable"
    return outcome, "", f"modem: {state['mode']} {state['version']}"


def table(results: Iterable[CaseResult]) -> list[tuple[str, ...]]:
    """Per fault class: runs, how many ended each way, and in how many the fault happened."""
    rows: dict[str, list[int]] = {}
    for result in results:
        counts = rows.setdefault(result.case.fault, [0] * (len(OUTCOMES) + 2))
        counts[0] += 1
        counts[1 + OUTCOMES.index(result.outcome)] += 1
        counts[-1] += result.hit
    return [(name, *(str(n) for n in counts)) for name, counts in rows.items()]
