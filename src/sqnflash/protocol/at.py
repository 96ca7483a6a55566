"""AT commands of Sequans Monarch modems, without I/O.

The reader copes with what real modems send: echo on or off, `\\r\\n`, bare `\\n` or bare `\\r` line
ends, replies with or without the leading blank line, final result codes (`OK`, `ERROR`,
`+CME ERROR: n`, `+CMS ERROR: n`, `NO CARRIER`), information lines, unsolicited result codes
(`+SYSSTART`, `+SHUTDOWN`, any unknown `+X:` line) arriving between or during commands, NUL bytes
and line noise after a reboot. It stops at the final result code of the pending command and keeps
whatever follows (the first STP frame, say) for the caller.

Replies are matched to the pending command by name: a `+NAME...` line belongs to the command only
when NAME is the command's own name; any other `+`/`^` line is unsolicited. The module also holds
the parsers of the replies an upgrader needs and the encoders the simulator uses to produce them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

LINE_ENDS = b"\r\n"
FINAL_OK = "OK"
FINAL_ERROR = "ERROR"
_FINAL_PREFIXES = ("+CME ERROR", "+CMS ERROR")
_FINAL_WORDS = {"OK", "ERROR", "NO CARRIER", "ABORTED"}


def encode_command(command: str, terminator: str = "\r\n") -> bytes:
    """The bytes of one command line. Boot loaders want a bare "\\n" after AT+STP and AT+IPR."""
    return (command + terminator).encode("ascii")


def command_name(command: str) -> str:
    """`AT+SMOD?` -> `+SMOD`, `AT^RESET` -> `^RESET`, `ATI1` -> `I`, `AT!="showver"` -> `!`."""
    body = command.strip()
    if body[:2].upper() == "AT":
        body = body[2:]
    if not body:
        return ""
    if body[0] in "+^":
        match = re.match(r"[+^][A-Za-z0-9_]+", body)
        return match.group(0).upper() if match else body[0]
    if body[0] == "!":
        return "!"
    return body[0].upper()


def line_name(line: str) -> str | None:
    """The `+NAME` of a `+NAME: ...` line, or None for a line that does not start with + or ^."""
    if not line or line[0] not in "+^":
        return None
    match = re.match(r"[+^][A-Za-z0-9_]+", line)
    return match.group(0).upper() if match else line[0]


# --------------------------------------------------------------------------- reading replies


class Result(Enum):
    OK = "OK"
    ERROR = "ERROR"
    CME_ERROR = "+CME ERROR"
    CMS_ERROR = "+CMS ERROR"
    NO_CARRIER = "NO CARRIER"
    ABORTED = "ABORTED"


@dataclass(frozen=True)
class AtResponse:
    """The solicited part of a reply: information lines and the final result code."""

    command: str
    lines: tuple[str, ...]
    result: Result
    error_text: str = ""  # the text after "+CME ERROR:", if any

    @property
    def ok(self) -> bool:
        return self.result == Result.OK

    @property
    def final_line(self) -> str:
        if self.result in (Result.CME_ERROR, Result.CMS_ERROR):
            return f"{self.result.value}: {self.error_text}"
        return str(self.result.value)


@dataclass(frozen=True)
class Echo:
    line: str


@dataclass(frozen=True)
class Info:
    line: str


@dataclass(frozen=True)
class Urc:
    line: str


@dataclass(frozen=True)
class Noise:
    """Bytes that are not a usable line: NULs, garbled bytes, a stray line nobody asked for."""

    data: bytes


@dataclass(frozen=True)
class Final:
    response: AtResponse


AtEvent = Echo | Info | Urc | Noise | Final


def _final_of(line: str) -> tuple[Result, str] | None:
    upper = line.upper()
    if upper in _FINAL_WORDS:
        return Result(upper), ""
    for prefix in _FINAL_PREFIXES:
        if upper.startswith(prefix):
            return Result(prefix), line[len(prefix) :].lstrip(": ").strip()
    return None


def clean_line(raw: bytes) -> tuple[str | None, bytes]:
    """Split a raw line into its usable text and the noise around it.

    NUL bytes are dropped; if non-printable bytes remain, the longest printable tail is kept (line
    noise after a reboot tends to come before the first real line). The noise is every byte of
    `raw` that is not part of the text, in order.
    """
    # Fixed: the noise used to be sliced from `raw` with the length of the tail found in the
    # NUL-free copy, so NULs inside the text shifted it (printable text reported as noise, garbled
    # bytes lost), and one NUL in a clean line made the Noise event carry the whole line. The tail
    # is now found by one backward scan: the former `[ -~]+$` regex search was quadratic, so one
    # long line without a line end (a binary crash dump, say) stalled the reader for minutes.
    data = raw.replace(b"\x00", b"")
    start = len(data)
    while start > 0 and 0x20 <= data[start - 1] < 0x7F:
        start -= 1
    tail = data[start:]
    if not tail:
        return None, raw
    # where the tail begins in `raw`: after the last non-NUL byte that is not part of it
    cut = len(raw)
    seen = 0
    while seen < len(tail):
        cut -= 1
        if raw[cut]:
            seen += 1
    noise = raw[:cut] + bytes(raw.count(0, cut))  # NULs inside the text are noise too
    text = tail.decode("ascii").strip()
    return (text or None), noise


class LineSplitter:
    """Cuts a byte stream into lines at CR, LF or CRLF; empty lines are dropped.

    A CRLF split across two reads is still one line end: after a line cut at a CR that was the
    last byte available, an LF arriving first in the next read is dropped.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        # Fixed: without this, "OK\r" + "\n<rest>" left the LF in front of the rest (take_rest
        # gave b"\n<rest>" instead of b"<rest>"), so the bytes handed over after a final result
        # depended on where the reads happened to cut the stream.
        self._after_cr = False  # the last line ended at a CR with nothing after it yet

    def feed(self, data: bytes) -> None:
        self._buf += data

    def _drop_lf_of_crlf(self) -> None:
        if self._after_cr and self._buf:
            if self._buf[0] == 0x0A:
                del self._buf[0]
            self._after_cr = False

    def next_line(self) -> bytes | None:
        buf = self._buf
        while True:
            self._drop_lf_of_crlf()
            positions = [p for p in (buf.find(b"\r"), buf.find(b"\n")) if p >= 0]
            if not positions:
                return None
            end = min(positions)
            line = bytes(buf[:end])
            # swallow CRLF as one terminator
            cut = end + 1
            if buf[end] == 0x0D:
                if end + 1 < len(buf):
                    if buf[end + 1] == 0x0A:
                        cut = end + 2
                else:
                    self._after_cr = True
            del buf[:cut]
            if line.replace(b"\x00", b""):
                return line
            if line:
                return line  # NULs only: report as noise

    def take_rest(self) -> bytes:
        self._drop_lf_of_crlf()
        rest = bytes(self._buf)
        self._buf.clear()
        return rest

    @property
    def pending(self) -> bytes:
        if self._after_cr and self._buf[:1] == b"\n":
            return bytes(self._buf[1:])
        return bytes(self._buf)


class AtReader:
    """Sorts the bytes coming back from a modem into echo, information, URCs, noise and finals.

    Call `begin(command)` when a command is sent; `feed()` returns events, ending with a `Final` for
    that command. After the final the reader stops cutting lines, so `take_rest()` returns exactly
    the bytes that followed the final result code.
    """

    def __init__(self) -> None:
        self._lines = LineSplitter()
        self._pending: str | None = None
        self._name = ""
        self._info: list[str] = []
        self._stopped = False

    @property
    def pending(self) -> str | None:
        return self._pending

    def begin(self, command: str) -> None:
        self._pending = command.strip()
        self._name = command_name(command)
        self._info = []
        self._stopped = False

    def cancel(self) -> None:
        """Stop waiting for the pending command's final result (it timed out)."""
        self._pending = None
        self._info = []

    def take_rest(self) -> bytes:
        self._stopped = False
        return self._lines.take_rest()

    @property
    def buffered(self) -> bytes:
        return self._lines.pending

    def feed(self, data: bytes) -> list[AtEvent]:
        self._lines.feed(data)
        events: list[AtEvent] = []
        while not self._stopped and (raw := self._lines.next_line()) is not None:
            text, noise = clean_line(raw)
            if noise:
                events.append(Noise(noise))
            if text is None:
                continue
            event = self._classify(text)
            events.append(event)
            if isinstance(event, Final):
                self._stopped = True
        return events

    def _classify(self, line: str) -> AtEvent:
        pending = self._pending
        if pending is not None:
            # Only a line that is the command is its echo: an information line that merely ends
            # with the command's text (`+SMLOG: LOG_AT` while `AT` is pending) is a reply.
            if line.upper() == pending.upper():
                return Echo(line)
            final = _final_of(line)
            if final is not None:
                result, text = final
                response = AtResponse(pending, tuple(self._info), result, text)
                self._pending = None
                self._info = []
                return Final(response)
            name = line_name(line)
            if name is not None and name != self._name:
                return Urc(line)
            self._info.append(line)
            return Info(line)
        if line_name(line) is not None:
            return Urc(line)
        return Noise(line.encode("ascii"))


# --------------------------------------------------------------------------- reply parsers


class ReplyFormatError(ValueError):
    """A reply did not have the shape the parser needs."""


_ASCII_DIGITS = re.compile(r"[0-9]+")


_SMOD_PREFIX = re.compile(r"^\+?SMOD\s*:\s*", re.IGNORECASE | re.ASCII)
_LEADING_NUMBER = re.compile(r"^([0-9]+)(?![0-9.])\s*(?:[,;(].*)?$", re.ASCII)


def parse_smod(lines: tuple[str, ...] | list[str]) -> int:
    """AT+SMOD?: the mode number (0 FFH, 1 FFH+tool, 2 FFF, 3 updater, 4 recovery).

    The reference shows a bare number; no firmware is known to add a `+SMOD:` prefix or a
    comment after the number, but clients read it loosely (Walter `strtol`s the whole reply,
    Pycom takes the first line that converts), so every such shape is read: `4`, `+SMOD: 4`,
    `SMOD:4`, `4,1`, `4 (RECOVERY)`. A line with other text before the number is not a mode.
    """
    for line in lines:
        candidate = line.strip()
        prefix = _SMOD_PREFIX.match(candidate)
        if prefix is not None:
            candidate = candidate[prefix.end():]
        match = _LEADING_NUMBER.match(candidate)
        if match is not None:
            return int(match.group(1))
    raise ReplyFormatError(f"no mode number in AT+SMOD? reply {list(lines)!r}")


# The rates V.250 names for DTE speeds, to read a range such as `(300-3686400)` as a list.
STANDARD_BAUDS = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 1000000, 2000000,
                  3000000, 3686400, 4000000)
_IPR_RANGE = re.compile(r"([0-9]+)\s*-\s*([0-9]+)", re.ASCII)


def parse_ipr_list(lines: tuple[str, ...] | list[str]) -> tuple[int, ...]:
    """AT+IPR=?: every rate the modem lists, ascending. The firmware's format is `+IPR: (),(...)`
    (V.250: the rates it detects by itself, then the fixed ones); either list may be empty, hold
    single rates or a range, which stands for the standard rates inside it."""
    rates: set[int] = set()
    for line in lines:
        text = line.strip()
        if not text.upper().startswith("+IPR"):
            continue
        text = text.split(":", 1)[-1]
        for low, high in _IPR_RANGE.findall(text):
            rates.update(r for r in STANDARD_BAUDS if int(low) <= r <= int(high))
            rates.update((int(low), int(high)))
        text = _IPR_RANGE.sub(" ", text)
        rates.update(int(number) for number in _ASCII_DIGITS.findall(text))
    rates.discard(0)
    if not rates:
        raise ReplyFormatError(f"no rates in AT+IPR=? reply {list(lines)!r}")
    return tuple(sorted(rates))


BOOT_NAMES = ("RECOVERY", "UPDATER", "FFH", "FFF", "UNKNOWN")
_BOOT_NUMBERS = {0: "FFH", 1: "FFF", 2: "UPDATER", 3: "RECOVERY"}  # AT+SMSWBOOT=<m> numbering


def parse_smswboot(lines: tuple[str, ...] | list[str]) -> str:
    """AT+SMSWBOOT?: the name of the image that boots next, matched by token (the line's format
    is not published): `+SMSWBOOT: RECOVERY`, `RECOVERY`, `+SMSWBOOT: 3 (RECOVERY)`; a line
    with only the number (`+SMSWBOOT: 3`) is read with the write command's numbering."""
    for line in lines:
        for token in re.split(r"[^A-Za-z]+", line.upper()):
            if token in BOOT_NAMES:
                return token
    for line in lines:
        value = line.split(":", 1)[1] if ":" in line else line
        first = value.strip().split(",")[0].strip()
        if _ASCII_DIGITS.fullmatch(first) and int(first) in _BOOT_NUMBERS:
            return _BOOT_NUMBERS[int(first)]
    raise ReplyFormatError(f"no boot image name in AT+SMSWBOOT? reply {list(lines)!r}")


class UpgradeState(Enum):
    NONE = "none"  # empty reply: the modem is still rebooting
    NO_REPORT = "No report"
    ONGOING = "on-going"
    SUCCESS = "success"
    FAIL = "fail"


_ONGOING_WORDS = ("on-going", "ongoing", "init", "downloading", "reboot to updater")


@dataclass(frozen=True)
class UpgradeReport:
    state: UpgradeState
    text: str


def parse_smupgrade(lines: tuple[str, ...] | list[str]) -> UpgradeReport:
    """AT+SMUPGRADE?: `+SMUPGRADE: <state>`; `fail` also covers `failure`."""
    for line in lines:
        text = line.split(":", 1)[1] if ":" in line else line
        # Fixed: str.strip() keeps NULs, so the "\x00" a rebooting modem sends was taken for a
        # report (NO_REPORT) instead of "still rebooting" (NONE).
        text = text.replace("\x00", "").strip()
        low = text.lower()
        if not low:
            continue
        if "success" in low:
            return UpgradeReport(UpgradeState.SUCCESS, text)
        if "fail" in low:
            return UpgradeReport(UpgradeState.FAIL, text)
        if "no report" in low:
            return UpgradeReport(UpgradeState.NO_REPORT, text)
        if any(word in low for word in _ONGOING_WORDS):
            return UpgradeReport(UpgradeState.ONGOING, text)
        return UpgradeReport(UpgradeState.NO_REPORT, text)
    return UpgradeReport(UpgradeState.NONE, "")


_BUILD = re.compile(r"\[(\d+)\]", re.ASCII)
_VERSION = re.compile(r"(\d+\.\d+\.\d+\.\d+)", re.ASCII)


@dataclass(frozen=True)
class VersionEntry:
    name: str
    value: str
    active: bool = False

    @property
    def build(self) -> int | None:
        match = _BUILD.search(self.value)
        return int(match.group(1)) if match else None

    @property
    def version(self) -> str | None:
        match = _VERSION.search(self.value)
        return match.group(1) if match else None


@dataclass(frozen=True)
class ShowVer:
    """The `AT!="showver"` table."""

    entries: tuple[VersionEntry, ...] = field(default_factory=tuple)

    def get(self, name: str) -> VersionEntry | None:
        for entry in self.entries:
            if entry.name.lower() == name.lower():
                return entry
        return None

    @property
    def software_build(self) -> int | None:
        entry = self.get("Software")
        return entry.build if entry else None

    @property
    def software_version(self) -> str | None:
        entry = self.get("Software")
        return entry.version if entry else None

    @property
    def bootrom_build(self) -> int | None:
        entry = self.get("Bootloader0")
        return entry.build if entry else None

    @property
    def ue(self) -> str | None:
        entry = self.get("UE")
        return entry.value if entry else None


_ENTRY = re.compile(r"^\s*([A-Za-z][A-Za-z0-9 ]*?)(\*?)\s*:\s*(.*?)\s*$")


def parse_showver(lines: tuple[str, ...] | list[str]) -> ShowVer:
    entries = []
    for line in lines:
        match = _ENTRY.match(line)
        if match:
            name, active, value = match.group(1).strip(), bool(match.group(2)), match.group(3)
            entries.append(VersionEntry(name, value, active))
    if not entries:
        raise ReplyFormatError("no 'Name : value' lines in the showver reply")
    return ShowVer(tuple(entries))


@dataclass(frozen=True)
class Ati1:
    ue: str | None  # e.g. "5.0.0.0d"
    lr: str | None  # e.g. "5.1.1.0"
    build: int | None  # e.g. 39529


def parse_ati_model(lines: tuple[str, ...] | list[str]) -> str:
    """The product line of `ATI` (`SEQUANS Communications` / `GM02S` / `UE8.0.5.11`): `VZM20Q`
    on a Monarch 1, `GM02S` on a Monarch 2."""
    for line in lines:
        text = line.strip()
        if text and not text.upper().startswith(("SEQUANS", "UE", "LR", "ATI")):
            return text
    raise ReplyFormatError(f"no product line in ATI reply {list(lines)!r}")


_LR = re.compile(r"^LR(\d+(?:\.\d+)*)(?:-(\d+))?", re.IGNORECASE | re.ASCII)


def parse_ati1(lines: tuple[str, ...] | list[str]) -> Ati1:
    ue = lr = None
    build = None
    for line in lines:
        text = line.strip()
        if text.upper().startswith("UE"):
            ue = text[2:]
        elif (match := _LR.match(text)) is not None:
            lr = match.group(1)
            build = int(match.group(2)) if match.group(2) else None
    if ue is None and lr is None:
        raise ReplyFormatError(f"no UE or LR line in ATI1 reply {list(lines)!r}")
    return Ati1(ue, lr, build)


def parse_cgsn(lines: tuple[str, ...] | list[str]) -> str:
    for line in lines:
        digits = line.split(":", 1)[1].strip() if ":" in line else line.strip()
        digits = digits.strip('"')
        # Fixed: str.isdigit() let full-width and other Unicode digits through as an IMEI.
        if _ASCII_DIGITS.fullmatch(digits) and 14 <= len(digits) <= 17:
            return digits
    raise ReplyFormatError(f"no IMEI in AT+CGSN reply {list(lines)!r}")


# --------------------------------------------------------------------------- modem side


def encode_reply(lines: list[str] | tuple[str, ...], final: str = FINAL_OK, *,
                 leading_crlf: bool = True) -> bytes:
    """A reply as an application modem sends it: `\r\n<line>\r\n<line>\r\n\r\nOK\r\n`
    (as observed for ATI on a Monarch 1).

    Boot loaders answer without the leading line break (`OK\r\n`): `leading_crlf=False`.
    """
    body = "".join(f"{line}\r\n" for line in lines)
    if leading_crlf:
        text = (f"\r\n{body}" if lines else "") + f"\r\n{final}\r\n"
    else:
        text = body + f"{final}\r\n"
    return text.encode("ascii")


def encode_urc(line: str) -> bytes:
    return f"\r\n{line}\r\n".encode("ascii")


class CommandSplitter:
    """Modem side: cuts the host's bytes into command lines at CR, LF or CRLF.

    Anything before the first `AT` that starts a printable tail of a line is noise (bytes garbled
    at a wrong baud rate, the tail of an earlier STP frame), so a line yields that command, or
    nothing.
    """

    def __init__(self, limit: int = 4096) -> None:
        self._lines = LineSplitter()
        self.limit = limit

    def feed(self, data: bytes) -> None:
        self._lines.feed(data)

    def take_rest(self) -> bytes:
        return self._lines.take_rest()

    def next_command(self) -> str | None:
        while (raw := self._lines.next_line()) is not None:
            upper = raw.upper()
            start = upper.find(b"AT")
            while start >= 0:
                body = raw[start:]
                if all(0x20 <= b < 0x7F for b in body):
                    return body.decode("ascii").strip()
                start = upper.find(b"AT", start + 1)
        if len(self._lines.pending) > self.limit:
            self._lines.take_rest()
        return None
