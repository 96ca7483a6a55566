"""Settings of a simulated modem, from a `sim://` URL query or `sqnflash sim` options.

Protocol variants. Where the public record of the protocol is silent, or its sources disagree,
a real modem may behave in more than one plausible way. Each such point is a knob, and
`variant=NAME[,NAME...]` (`sqnflash sim --variant NAME`, repeatable) sets a named bundle of
knobs; a knob given on its own (`sim://?variant=smod4&echo=app`) wins over the bundle.
`sqnflash sim variants` lists the bundles. The simulated modem reads the knobs through its
`ModemProfile` (sim/profile.py). The knobs, their defaults and why each alternative is plausible:

- `updater_smod` = 1, 3, 4 [3]: `AT+SMOD?` once updater.elf runs (after `AT+STP` + ELF in the
  boot loader). The reference names no number: 3 is UPDATER, 1 is Walter's "FFH with the tool ELF
  present", 4 is RECOVERY, the image the updater also is.
- `bootrom_report` = success, no-report, none, error [success]: `AT+SMUPGRADE?` after a bootrom
  package sent ON_THE_FLY: the usual report, `No report`, an empty reply (`none`) or ERROR, until
  the next upgrade starts. Pycom never polls there, so nothing shows that the modem reports it at
  all.
- `echo` = off, on (the application), all, or a list of app, recovery, updater, ffh [off]: the
  modes that echo after their boot. Pycom's fixed-size reads show no echo where it sends no ATE0,
  but echo is the V.250 default, hence ATE0.
- `max_transfer` [8192]: the session size every `AT+SMSTPU` session reports; `store_max_transfer`
  (FFF store) and `otf_max_transfer` (ON_THE_FLY) override it per kind of session, and
  `ffh_max_transfer` [2048] is the boot loader's `AT+STP` session. Observed 8192 and 2048; a
  client must use what the session reports.
- `reply_hcrc` = zero, filled [zero]: every observed STP reply has header CRC 0 (reference 2.1);
  a modem that computes it fits the frame layout as well.
- `line_ending` = crlf, lf, cr [crlf]: how the application, updater and recovery frame AT
  replies and URCs (V.250's S3/S4). The boot loader keeps `OK\\r\\n`: Sequans' stp.py compares it
  byte for byte.
- `swboot_error` = 0, 1 [0]: `AT+SMSWBOOT=m,1` answers ERROR and `=m,0` works (Pycom 1.2.1
  added the `=m,0` + `AT^RESET` fallback because it happens). Same as `fault_smswboot_error=reboot`.
- `ffh_only_115200` = off, ignore, error [off]: a boot loader that stays at 115200: `AT+IPR`
  answers OK but the rate does not change (ignore), or answers ERROR (error). The updater it
  loads keeps that rate.
- `self_reboot_after_otf` = 0, 1 [0]: once a full image is written ON_THE_FLY (in RECOVERY or the
  updater) the modem reboots into the application by itself, without `AT+SMSWBOOT=1,1` (M2 tools
  reconnect after the transfer; Pycom 1.18.1 simply waited for `+SYSSTART`).
- `smswboot_reply` = named, bare [named]: `AT+SMSWBOOT?` as `+SMSWBOOT: FFF` or the bare `FFF`
  (format not published; Pycom only looks for the name).
- `smod_reply` = tight, blank [tight]: `AT+SMOD?` observed as `\\r\\n2\\r\\nOK\\r\\n`; the other
  multi-line replies have a blank line before OK.
- `recovery_baud` [921600]: the rate RECOVERY boots at. Pycom's C driver says a modem answering
  at 115200 "is in FFH or RECOVERY mode"; its Python updater keeps 921600 after
  `AT+SMSWBOOT=3,1`, and that worked. The sources disagree.
- `stpu_reply` = framed, bare, open [framed]: `AT+SMSTPU[="ON_THE_FLY"]` answers `\\r\\nOK\\r\\n`,
  `OK\\r\\n` or `\\r\\nOK` whose line end never comes (the line is STP's at once); Pycom's
  check accepts `OK\\r\\n`, `\\r\\nOK` and `\\nOK` as its first 4 bytes.
- `sysffh` = 0, 1 [0]: the boot loader announces itself with `+SYSFFH` after a reboot. Every
  bootrom image holds that string, but no published log shows it on the wire.
- `self_reboot_report` = success, no-report [success]: with `self_reboot_after_otf=1`, what
  `AT+SMUPGRADE?` says in the application the modem rebooted into by itself (Pycom 1.18.1 never
  asked it there).
- `bootloader0_after_otf` = new, kept [new]: showver's `Bootloader0` once a bootrom package is
  written ON_THE_FLY: the new build, or the one it showed before, until the package is applied
  once more from the application's store. Observed tables of modems upgraded by Pycom's recovery
  method keep `[33080]`, while Pycom's refresh step expects it to change (docs/protocol.md §4).
- `smupgrade_reply` = ok, none [ok]: `AT+SMUPGRADE` (apply the stored file) answers OK before the
  reboot, or the modem reboots into its updater at once (Pycom never reads that reply).
- `refuse` [none]: commands the application answers ERROR, by name, comma-separated (`ATE`,
  `AT+BIND`; a `+` may be written `%2B` or left out): pysequans says "ATE0 is not necessarily
  supported", and Pycom checks none of the preparation's replies.
- `refuse_once` [none]: commands RECOVERY and the updater answer ERROR the first time after each
  boot, then accept (a modem not quite ready: Pycom waits 1 s before `AT+SMSTPU`).
- `updater_report` = reported, no-report [reported]: `AT+SMUPGRADE?` in RECOVERY and the updater
  says what the apply did, or `No report` whatever it did (a modem that never reports: no client
  can tell success, so this is a failure to diagnose, not a variant to pass).
- `ipr_list` [all the rates `AT+IPR=` takes]: what `AT+IPR=?` lists (`+IPR: (),(...)`, the
  firmware's format string), comma-separated, or `none` for a firmware that answers it ERROR. The
  boot loader never answers it: its image holds only `AT`, `AT+SMOD`, `AT+IPR` and `AT+STP`.
- `adapter_max_baud` [0: none]: the host's USB-serial adapter carries nothing faster (the port says
  so to the client); set above it, the adapter runs at this rate and every byte is garbled.
- `garble_above` [0: never]: above this rate the line damages 5 % of the STP bytes (a cable or
  level shifter too slow for the rate the modem lists).
- `block_limit` [0: none]: the largest STP block the modem really takes, below the
  `max_transfer - 16` it reports ("31x0 mii limitation"); `block_refusal` = block, command
  [block]: a larger block frame is lost unanswered, or its block command is.
- `flow_control` = off, required, unwired, cts-low [off; required for a Monarch 2]: whether the
  modem's UART needs the host's RTS/CTS above 115200 while it writes flash (sim/flow.py). Both
  published Monarch 2 clients and Sequans' script use RTS/CTS; unwired is an adapter whose RTS/CTS
  lines are not connected, where bytes are lost above 115200 whatever the host sets; cts-low one
  whose unconnected CTS reads "not ready", so a host with RTS/CTS on sends nothing.
- A Monarch 2 lists 9600 to 921600 for `AT+IPR=?` unless `ipr_list` says otherwise: the
  reference gives no GM02S list (Sequans' script moves its line to 3686400 by default, the
  published clients stay at 115200); the variant `m2-3686400` lists up to 3686400.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from sqnflash.firmware.pycom_releases import Release, ReleaseError
from sqnflash.sim.flow import FLOW_CONTROLS
from sqnflash.sim.images import Family

OLD_BOOTROM_BUILD = 33080  # factory bootrom that cannot switch to FFH
FIRST_FLASHED_BOOTROM = 38638  # the first bootrom Pycom's upgrades flashed (its built-in v1)
DEFAULT_IMEI = "354346090000009"
APP_BAUD = 921600
FFH_BAUD = 115200
STORE_LIMIT = 4 * 1024 * 1024
MONARCH2_BUILD = 59577  # GM02RB6Q_LR8.0.5.13-59577, the build pysequansutils bundles
MODES = ("app", "recovery", "updater", "ffh")
UPDATER_SMODS = (1, 3, 4)
LINE_ENDINGS = {"crlf": b"\r\n", "lf": b"\n", "cr": b"\r"}
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("", "0", "false", "no", "off")
# The boards a simulated modem can sit behind (sim/board.py); the G01 runs the GPy's firmware.
BOARDS = {"fipy": "FiPy", "gpy": "GPy", "g01": "GPy"}
UPLOADS = ("", "script", "folder")  # a sqnsupgrade copy uploaded to /flash/lib


@dataclass(frozen=True)
class Variant:
    knobs: dict[str, str]
    why: str


# Named bundles of knob values: each one a modem that behaves differently where the reference is
# silent or its sources disagree. "reference" is the default simulator.
VARIANTS: dict[str, Variant] = {
    "reference": Variant({}, "the defaults: every observed reply shape, nothing else"),
    "smod1": Variant({"updater_smod": "1"},
                     "updater.elf reports SMOD 1 (Walter's 'FFH, tool ELF present')"),
    "smod4": Variant({"updater_smod": "4"},
                     "updater.elf reports SMOD 4 (it is the RECOVERY image, loaded into RAM)"),
    "no-bootrom-report": Variant({"bootrom_report": "no-report"},
                                 "AT+SMUPGRADE? says 'No report' after a bootrom package sent "
                                 "ON_THE_FLY (Pycom never polls there)"),
    "echo": Variant({"echo": "app,recovery,updater"},
                    "every AT mode but the boot loader echoes after its boot (V.250 default)"),
    "small-blocks": Variant({"max_transfer": "2048", "ffh_max_transfer": "2048"},
                            "every STP session reports max transfer 2048"),
    "big-blocks": Variant({"max_transfer": "8192", "ffh_max_transfer": "8192"},
                          "the boot loader's AT+STP session reports 8192 too"),
    "hcrc-filled": Variant({"reply_hcrc": "filled"},
                           "STP replies carry a computed header CRC (never observed: hcrc 0)"),
    "lf": Variant({"line_ending": "lf"}, "AT replies framed with bare LF"),
    "cr": Variant({"line_ending": "cr"}, "AT replies framed with bare CR (V.250 S4=0)"),
    "swboot-error": Variant({"swboot_error": "1"},
                            "AT+SMSWBOOT=m,1 answers ERROR; =m,0 then AT^RESET works (Pycom "
                            "1.2.1's fallback)"),
    "ffh-115200": Variant({"ffh_only_115200": "ignore"},
                          "the boot loader answers AT+IPR OK but stays at 115200"),
    "ffh-no-ipr": Variant({"ffh_only_115200": "error"},
                          "the boot loader answers AT+IPR with ERROR and stays at 115200"),
    "self-reboot": Variant({"self_reboot_after_otf": "1"},
                           "after a full image is written ON_THE_FLY the modem reboots into the "
                           "application by itself"),
    "bare-smswboot": Variant({"smswboot_reply": "bare"},
                             "AT+SMSWBOOT? answers the bare name (FFF) without a prefix"),
    "smod-blank": Variant({"smod_reply": "blank"},
                          "AT+SMOD? has a blank line before OK like other replies"),
    "recovery-115200": Variant({"recovery_baud": "115200"},
                               "RECOVERY boots at 115200 (Pycom's C driver), not 921600"),
    "bare-stpu-ok": Variant({"stpu_reply": "bare"},
                            "AT+SMSTPU answers OK\\r\\n without the leading line break"),
    "sysffh": Variant({"sysffh": "1"}, "the boot loader says +SYSFFH once it is up"),
    "bootrom-report-empty": Variant({"bootrom_report": "none"},
                                    "AT+SMUPGRADE? after a bootrom package sent ON_THE_FLY gets "
                                    "an empty reply"),
    "bootrom-report-error": Variant({"bootrom_report": "error"},
                                    "AT+SMUPGRADE? after a bootrom package sent ON_THE_FLY "
                                    "answers ERROR"),
    "self-reboot-no-report": Variant({"self_reboot_after_otf": "1",
                                      "self_reboot_report": "no-report"},
                                     "back in the application by itself after an image written "
                                     "ON_THE_FLY, AT+SMUPGRADE? says 'No report'"),
    "bootloader0-kept": Variant({"bootloader0_after_otf": "kept"},
                                "showver keeps the old Bootloader0 after a bootrom package "
                                "written ON_THE_FLY (observed on Pycom-upgraded modems)"),
    "stpu-ok-open": Variant({"stpu_reply": "open"},
                            "AT+SMSTPU answers \\r\\nOK and the line is STP's at once, without "
                            "the line end"),
    "echo-no-ate0": Variant({"echo": "app", "refuse": "ATE"},
                            "the application echoes and answers ATE0 with ERROR (pysequans: "
                            "'ATE0 is not necessarily supported')"),
    "smupgrade-no-ok": Variant({"smupgrade_reply": "none"},
                               "AT+SMUPGRADE gets no OK: the modem reboots into its updater at "
                               "once"),
    "stpu-refused-once": Variant({"refuse_once": "AT+SMSTPU"},
                                 "RECOVERY and the updater answer the first AT+SMSTPU after "
                                 "their boot with ERROR"),
    "slow-adapter": Variant({"adapter_max_baud": "921600"},
                            "the modem lists 3686400 but the USB adapter carries 921600 at most"),
    "garble-fast": Variant({"garble_above": "921600"},
                           "the modem lists 3686400 but the line damages frames above 921600"),
    "block-2016": Variant({"block_limit": "2016"},
                          "reports max transfer 8192 but loses every block above 2016 bytes"),
    "block-cmd-2016": Variant({"block_limit": "2016", "block_refusal": "command"},
                              "reports max transfer 8192 but leaves block commands above 2016 "
                              "bytes unanswered"),
    "no-ipr-list": Variant({"ipr_list": "none"}, "AT+IPR=? answers ERROR"),
    "legacy-line": Variant({"ipr_list": "115200,230400,460800,921600", "block_limit": "2016"},
                           "lists nothing above 921600 and takes no block above 2016 bytes"),
    "m2-3686400": Variant({"ipr_list": "115200,230400,460800,921600,1000000,2000000,3000000,"
                                       "3686400"},
                          "a Monarch 2 that lists up to 3686400 (Sequans' STP script's default "
                          "rate)"),
    "flow-unwired": Variant({"flow_control": "unwired"},
                            "RTS/CTS not connected: above 115200 the modem's UART overruns "
                            "while it writes flash, whatever the host sets"),
    "flow-cts-low": Variant({"flow_control": "cts-low"},
                            "the adapter's CTS is not connected and reads 'not ready': with "
                            "RTS/CTS on the host sends nothing, without it bytes are lost above "
                            "115200"),
    "flow-not-needed": Variant({"flow_control": "off"},
                               "the modem keeps up at every rate it lists, with or without "
                               "RTS/CTS"),
    "combined": Variant({"updater_smod": "4", "bootrom_report": "no-report",
                         "echo": "app,recovery,updater", "max_transfer": "2048",
                         "reply_hcrc": "filled", "line_ending": "lf", "swboot_error": "1",
                         "self_reboot_after_otf": "1", "smswboot_reply": "bare",
                         "smod_reply": "blank", "sysffh": "1", "stpu_reply": "bare",
                         "self_reboot_report": "no-report", "bootloader0_after_otf": "kept",
                         "smupgrade_reply": "none", "refuse": "ATE"},
                        "one alternative of most settings at once (not the baud rates, bare "
                        "CR, an empty or refused report, the OK without line end or the "
                        "refused AT+SMSTPU)"),
}


class SimConfigError(ValueError):
    """A simulator setting is unknown or has a bad value."""


@dataclass
class SimConfig:
    version: int = 38638
    family: Family = Family.CATM1
    mode: str = "app"  # the mode the modem is found in: app, recovery, updater, ffh
    old_bootrom: bool = False
    bootrom: int | None = None  # Bootloader0; default: 33080 when old or before 38638, else version
    broken_app: bool = False  # the application image was damaged by an interrupted upgrade
    imei: str = DEFAULT_IMEI
    # Knobs of the protocol variants (module docstring): strings, normalised in __post_init__.
    variant: str = ""  # the named bundles applied (from_query applies them), for the record
    echo: str = ""  # the modes that echo after their boot, comma-separated
    updater_smod: int = 3
    bootrom_report: str = "success"
    line_ending: str = "crlf"
    swboot_error: bool = False
    ffh_only_115200: str = ""
    self_reboot_after_otf: bool = False
    smswboot_reply: str = "named"
    smod_reply: str = "tight"
    sysffh: bool = False
    recovery_baud: int = APP_BAUD
    stpu_reply: str = "framed"
    self_reboot_report: str = "success"
    bootloader0_after_otf: str = "new"
    smupgrade_reply: str = "ok"
    refuse: str = ""  # command names the application answers ERROR (module docstring)
    refuse_once: str = ""  # command names RECOVERY and the updater refuse once after each boot
    updater_report: str = "reported"
    app_baud: int = APP_BAUD
    ffh_baud: int = FFH_BAUD
    host_baud: int = APP_BAUD  # the rate a freshly opened in-process port starts at
    clock: str = "real"  # real, virtual (tests) or charged (benchmarks: virtual + host time)
    paced: bool = True
    turnaround_s: float = 0.001
    reboot_s: float = 1.5
    apply_s: float = 5.0
    bootrom_apply_s: float = 1.0
    updater_load_s: float = 1.0
    flash_write_s_per_kib: float = 0.001
    reply_hcrc: str = "zero"
    store_limit: int = STORE_LIMIT
    stp_idle_timeout_s: float = 60.0
    partial_blocks: bool = False
    data_mode: bool = False
    max_transfer: int = 8192
    store_max_transfer: int | None = None  # AT+SMSTPU; default: max_transfer
    otf_max_transfer: int | None = None  # AT+SMSTPU="ON_THE_FLY"; default: max_transfer
    ffh_max_transfer: int = 2048
    seed: int = 0
    # A Pycom board in front of the modem (sim/board.py): fipy, gpy or g01; empty for none.
    board: str = ""
    release: str = "1.20.2.r4"  # the board's firmware release
    uploaded: str = ""  # a sqnsupgrade copy in /flash/lib: script or folder
    replay: str = ""  # a capture file: the modem plays its modem's side back (sim/replay.py)
    ipr_list: str = ""  # what AT+IPR=? lists: rates, or none (module docstring)
    adapter_max_baud: int = 0
    garble_above: int = 0
    block_limit: int = 0
    block_refusal: str = "block"
    flow_control: str = ""  # off, required, unwired; default per family (module docstring)
    faults: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.clock not in ("real", "virtual", "charged"):
            raise SimConfigError(f"clock must be real, virtual or charged, not {self.clock!r}")
        if self.mode not in MODES:
            raise SimConfigError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        self.family = Family(self.family)
        if self.family == Family.MONARCH2:
            self._monarch2_defaults()
        if not self.flow_control:
            self.flow_control = "off"
        if self.bootrom is None:
            # Only flashing a bootrom package changes Bootloader0, and Pycom's flows did that
            # from 38638 on: a modem upgraded to an earlier build (36417, NB1 37781) still shows
            # the factory 33080 (docs/protocol.md §4).
            old = self.old_bootrom or self.version < FIRST_FLASHED_BOOTROM
            self.bootrom = OLD_BOOTROM_BUILD if old else self.version
        if not (self.imei.isdigit() and len(self.imei) == 15):
            raise SimConfigError(f"imei must be 15 digits, not {self.imei!r}")
        if self.board:
            self._check_board()
        self._check_knobs()

    def _monarch2_defaults(self) -> None:
        # A GM02S ships with LR8.0.5.13-59577 and talks at 115200 in every mode (reference
        # §2.7); the Monarch 1 defaults left as they are stand for "not given".
        if self.version == 38638:
            self.version = MONARCH2_BUILD
        for name in ("app_baud", "recovery_baud", "host_baud"):
            if getattr(self, name) == APP_BAUD:
                setattr(self, name, FFH_BAUD)
        if self.bootrom is None:
            self.bootrom = self.version
        if not self.flow_control:
            self.flow_control = "required"

    def _check_knobs(self) -> None:
        self.echo = ",".join(echo_modes(self.echo))
        command_names(self.refuse)  # checked here, read by the profile
        command_names(self.refuse_once)
        hcrc = str(self.reply_hcrc).lower()
        self.reply_hcrc = ("filled" if hcrc in (*TRUE_WORDS, "filled") else
                           "zero" if hcrc in (*FALSE_WORDS, "zero") else hcrc)
        ffh = str(self.ffh_only_115200).lower()
        self.ffh_only_115200 = ("ignore" if ffh in TRUE_WORDS else "" if ffh in FALSE_WORDS
                                else ffh)
        choices: dict[str, tuple[Any, ...]] = {
            "updater_smod": UPDATER_SMODS,
            "bootrom_report": ("success", "no-report", "none", "error"),
            "reply_hcrc": ("zero", "filled"),
            "line_ending": tuple(LINE_ENDINGS),
            "ffh_only_115200": ("", "ignore", "error"),
            "smswboot_reply": ("named", "bare"),
            "smod_reply": ("tight", "blank"),
            "stpu_reply": ("framed", "bare", "open"),
            "self_reboot_report": ("success", "no-report"),
            "bootloader0_after_otf": ("new", "kept"),
            "smupgrade_reply": ("ok", "none"),
            "updater_report": ("reported", "no-report"),
            "block_refusal": ("block", "command"),
            "flow_control": FLOW_CONTROLS,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                shown = ", ".join(str(a) or "off" for a in allowed)
                raise SimConfigError(f"{name} must be one of {shown}, "
                                     f"not {getattr(self, name)!r}")
        for name in ("max_transfer", "store_max_transfer", "otf_max_transfer",
                     "ffh_max_transfer"):
            size = getattr(self, name)
            if size is not None and not 64 <= size <= 0xFFFF:
                raise SimConfigError(f"{name} must be 64 to 65535 bytes, not {size}")
        if self.ipr_list.lower() not in ("", "none") and not all(
                part.strip().isdigit() for part in self.ipr_list.split(",")):
            raise SimConfigError(f"ipr_list must be rates separated by commas or none, not "
                                 f"{self.ipr_list!r}")
        if self.garble_above:  # the line's damage is the noisy-line fault, above that rate
            self.faults.setdefault("noisy_above", str(self.garble_above))
            self.faults.setdefault("flip_rate", "0.05")
        for name in filter(None, self.variant.split(",")):
            if name not in VARIANTS:
                raise SimConfigError(f"unknown variant {name!r} (known: {', '.join(VARIANTS)})")

    @property
    def line_end(self) -> bytes:
        return LINE_ENDINGS[self.line_ending]

    def session_max_transfer(self, on_the_fly: bool) -> int:
        chosen = self.otf_max_transfer if on_the_fly else self.store_max_transfer
        return self.max_transfer if chosen is None else chosen

    def _check_board(self) -> None:
        self.board = self.board.lower()
        if self.board not in BOARDS:
            raise SimConfigError(f"board must be one of {', '.join(BOARDS)}, not {self.board!r}")
        if self.uploaded not in UPLOADS:
            raise SimConfigError(f"uploaded must be script or folder, not {self.uploaded!r}")
        try:
            Release.parse(self.release)
        except ReleaseError as exc:
            raise SimConfigError(str(exc)) from None
        # The LTE driver opens the modem's UART with RTS/CTS, wired on the board itself: no
        # adapter's wiring (flow_control=unwired, sim/flow.py) stands between them.
        if self.flow_control in ("unwired", "cts-low"):
            self.flow_control = "required"

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls) if f.name != "faults"]

    @classmethod
    def from_query(cls, query: str, **overrides: Any) -> SimConfig:
        """`version=38638&mode=app&old_bootrom=1`; unknown keys are an error, not ignored."""
        values: dict[str, Any] = {}
        faults: dict[str, str] = {}
        types = {f.name: f.type for f in dataclasses.fields(cls)}
        parsed = parse_qs(query, keep_blank_values=True)
        names = [n.strip() for item in parsed.pop("variant", []) for n in item.split(",")]
        names = [n for n in names if n]
        for name in names:
            if name not in VARIANTS:
                raise SimConfigError(f"unknown variant {name!r} (known: {', '.join(VARIANTS)})")
            for knob, raw in VARIANTS[name].knobs.items():
                values[knob] = convert(knob, str(types[knob]), raw)
        if names:
            values["variant"] = ",".join(names)
        for key, items in parsed.items():
            raw = items[-1]
            name = key.replace("-", "_")
            if name.startswith("fault_"):
                faults[name[len("fault_") :]] = raw
                continue
            if name == "old_bootrom" and raw == "":
                raw = "1"
            if name not in types or name == "faults":
                known = ", ".join(cls.field_names())
                raise SimConfigError(f"unknown simulator setting {key!r} (known: {known})")
            values[name] = convert(name, str(types[name]), raw)
        values.update(overrides)
        if faults:
            values["faults"] = faults
        if "version" not in values and values.get("old_bootrom"):
            values["version"] = OLD_BOOTROM_BUILD
        return cls(**values)


def echo_modes(value: str | bool) -> list[str]:
    """`echo` as the list of modes that echo: on (the application), off, all, or a list."""
    if isinstance(value, bool):
        return ["app"] if value else []
    text = value.strip().lower()
    if text in FALSE_WORDS:
        return []
    if text in TRUE_WORDS:
        return ["app"]
    if text == "all":
        return list(MODES)
    modes = [m.strip() for m in text.split(",") if m.strip()]
    for mode in modes:
        if mode not in MODES:
            raise SimConfigError(f"echo takes on, off, all or modes among {', '.join(MODES)}, "
                                 f"not {value!r}")
    return [m for m in MODES if m in modes]


def command_names(value: str) -> list[str]:
    """`ATE,AT+BIND` (or `E, +BIND`, or with the `+` lost in a URL query) as the names the
    command tables use without their `+` or `^`: `E`, `BIND`."""
    names = []
    for part in value.split(","):
        name = part.strip().upper()
        name = name[2:] if name.startswith("AT") else name
        name = name.lstrip("+^ ")
        if not part.strip():
            continue
        if not re.fullmatch(r"[A-Z0-9_!&]+", name):
            raise SimConfigError(f"refuse and refuse_once take AT command names such as ATE or "
                                 f"AT+SMSTPU, not {part.strip()!r}")
        names.append(name)
    return names


def convert(name: str, type_name: str, raw: str) -> Any:
    try:
        if "bool" in type_name:
            if raw.lower() in ("1", "true", "yes", "on", ""):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if "int" in type_name and "float" not in type_name:
            return None if raw.lower() == "none" else int(raw)
        if "float" in type_name:
            return float(raw)
        if "Family" in type_name:
            return Family(raw.lower())
        return raw
    except ValueError as exc:
        raise SimConfigError(f"bad value {raw!r} for simulator setting {name!r}") from exc
