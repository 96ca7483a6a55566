"""MicroPython's raw REPL, both ends, without I/O.

A Pycom board's USB serial port carries MicroPython's REPL. Its raw mode is a small framing made
for programs: Ctrl-A enters it (the board answers `raw REPL; CTRL-B to exit` and a `>` prompt), the
host sends source text ended by Ctrl-D, the board answers `OK`, runs the code, and frames what it
printed as `<stdout> 0x04 <traceback> 0x04`, then a new `>`. Ctrl-B goes back to the friendly
`>>>` prompt, Ctrl-C interrupts whatever runs, and Ctrl-D on an empty line soft-resets the board.

This framing is older than MicroPython's "raw paste" extension (1.14, 2021), which Pycom's firmware
(MicroPython 1.8.6 to 1.11) does not have, so only the plain form is used here.

`RawReplClient` reads the board's side for the host; `RawReplServer` cuts the host's bytes into
what a board acts on (the simulated board uses it). Tracebacks are MicroPython's:
`Traceback (most recent call last):`, `  File "<stdin>", line 1, in <module>` frames, then
`Name: message`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

CTRL_A = b"\x01"  # enter raw REPL
CTRL_B = b"\x02"  # leave raw REPL (friendly REPL)
CTRL_C = b"\x03"  # interrupt
CTRL_D = b"\x04"  # end of code (raw) / soft reset (friendly, empty line)
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
RAW_PROMPT = b">"
RAW_READY = RAW_BANNER + RAW_PROMPT
EXEC_ACCEPTED = b"OK"
FRIENDLY_PROMPT = b">>> "
# Ctrl-C twice: a program that catches one KeyboardInterrupt still stops on the second.
INTERRUPT = b"\r" + CTRL_C + CTRL_C
ENTER_RAW = b"\r" + CTRL_A
LEAVE_RAW = b"\r" + CTRL_B
_CONTROL = re.compile(rb"[\x01-\x05]")


def encode_exec(code: str) -> bytes:
    """The bytes that make a board in raw REPL run `code`.

    Empty code is refused: Ctrl-D on an empty raw line soft-resets the board instead of running
    anything. Control characters Ctrl-A..Ctrl-E would be taken as framing.
    """
    data = code.encode("utf-8")
    if not data.strip():
        raise ValueError("no code to run (an empty raw REPL line soft-resets the board)")
    if _CONTROL.search(data):
        raise ValueError("code must not contain the control characters Ctrl-A..Ctrl-E")
    return data + CTRL_D


# --------------------------------------------------------------------------- host side


@dataclass(frozen=True)
class RawReady:
    """The board is in raw REPL and waits for code."""


@dataclass(frozen=True)
class ExecAccepted:
    """The board took the code (`OK`) and runs it."""


@dataclass(frozen=True)
class Output:
    """Text the running code printed so far (streamed; the full text is in ExecDone too)."""

    text: str


@dataclass(frozen=True)
class ExecDone:
    stdout: str
    stderr: str  # a traceback, or empty

    @property
    def ok(self) -> bool:
        return not self.stderr

    @property
    def exception(self) -> RemoteException | None:
        return parse_exception(self.stderr) if self.stderr else None


@dataclass(frozen=True)
class Unexpected:
    """Bytes that fit no frame where they came (a friendly prompt, a banner, line noise)."""

    data: bytes


ClientEvent = RawReady | ExecAccepted | Output | ExecDone | Unexpected


class ClientState(Enum):
    WAIT_READY = "wait-ready"  # after Ctrl-A: until the banner and its prompt
    READY = "ready"  # at the raw prompt
    WAIT_OK = "wait-ok"  # code sent: until OK
    STDOUT = "stdout"
    STDERR = "stderr"
    WAIT_PROMPT = "wait-prompt"  # after the second 0x04: until `>`, then ExecDone


class RawReplClient:
    """Host side of the raw REPL: feed the board's bytes, get events.

    Call `entering()` after sending `ENTER_RAW`, `submitted()` after sending `encode_exec(code)`.
    Before the banner, everything is skipped (a traceback of the interrupted program, a friendly
    prompt, an echo): the banner is the resynchronisation point, reported as `RawReady`.
    """

    def __init__(self) -> None:
        self.state = ClientState.WAIT_READY
        self._buf = bytearray()
        self._out = bytearray()
        self._err = bytearray()
        self._streamed = 0

    def entering(self) -> None:
        self.state = ClientState.WAIT_READY
        self._buf.clear()

    def submitted(self) -> None:
        if self.state != ClientState.READY:
            raise RuntimeError(f"code submitted while {self.state.value}")
        self.state = ClientState.WAIT_OK
        self._out.clear()
        self._err.clear()
        self._streamed = 0

    @property
    def skipped(self) -> bytes:
        """What arrived while waiting for the banner or OK and did not fit (for messages)."""
        return bytes(self._buf)

    def feed(self, data: bytes) -> list[ClientEvent]:
        self._buf += data
        events: list[ClientEvent] = []
        while True:
            event = self._step()
            if event is None:
                return events
            if event is not _MOVED:
                events.append(event)

    def _step(self) -> ClientEvent | None:
        """The next event; `_MOVED` when the state moved on without one; None: more bytes
        are needed."""
        state = self.state
        if state == ClientState.WAIT_READY:
            return self._after(RAW_READY, ClientState.READY, RawReady())
        if state == ClientState.READY:
            return self._take_all()
        if state == ClientState.WAIT_OK:
            if EXEC_ACCEPTED not in self._buf and RAW_READY in self._buf:
                # The board re-prompted: it did not take the code.
                self.state = ClientState.READY
                return self._take_all()
            return self._after(EXEC_ACCEPTED, ClientState.STDOUT, ExecAccepted())
        if state == ClientState.STDOUT:
            if not self._collect(self._out):
                return self._stream()
            self.state = ClientState.STDERR
            return self._stream() or _MOVED
        if state == ClientState.STDERR:
            if not self._collect(self._err):
                return None
            self.state = ClientState.WAIT_PROMPT
            return _MOVED
        # WAIT_PROMPT: the exchange is over once the board prompts for the next code
        if RAW_PROMPT not in self._buf:
            return None
        return self._after(RAW_PROMPT, ClientState.READY,
                           ExecDone(_text(self._out), _text(self._err)))

    def _after(self, mark: bytes, state: ClientState, event: ClientEvent) -> ClientEvent | None:
        """Once `mark` arrived: drop it and what preceded it, move to `state`, report `event`."""
        at = self._buf.find(mark)
        if at < 0:
            return None
        del self._buf[: at + len(mark)]
        self.state = state
        return event

    def _take_all(self) -> Unexpected | None:
        if not self._buf:
            return None
        data = bytes(self._buf)
        self._buf.clear()
        return Unexpected(data)

    def _collect(self, into: bytearray) -> bool:
        """Move the buffered output into `into` up to its end (Ctrl-D); True once it ended."""
        end = self._buf.find(CTRL_D)
        if end < 0:
            into += self._buf
            self._buf.clear()
            return False
        into += self._buf[:end]
        del self._buf[: end + 1]
        return True

    def _stream(self) -> Output | None:
        if len(self._out) == self._streamed:
            return None
        text = _text(self._out[self._streamed :])
        self._streamed = len(self._out)
        return Output(text)


_MOVED = Unexpected(b"")  # internal: a state change without an event


def _text(data: bytes | bytearray) -> str:
    return bytes(data).decode("utf-8", "replace").replace("\r\n", "\n")


@dataclass(frozen=True)
class RemoteException:
    """An exception raised on the board, from its traceback."""

    name: str  # AttributeError, ImportError, ...
    message: str
    traceback: str

    def __str__(self) -> str:
        return f"{self.name}: {self.message}" if self.message else self.name


_EXC_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*)(?::\s?(.*))?$")


def parse_exception(stderr: str) -> RemoteException:
    """The last `Name: message` line of a MicroPython traceback."""
    lines = [line.rstrip() for line in stderr.replace("\r\n", "\n").split("\n") if line.strip()]
    for line in reversed(lines):
        if line.startswith((" ", "Traceback")):
            continue
        match = _EXC_LINE.match(line)
        if match:
            return RemoteException(match.group(1), (match.group(2) or "").strip(), stderr)
    return RemoteException("Error", lines[-1] if lines else "", stderr)


def format_traceback(name: str, message: str, *, line: int = 1,
                     frames: tuple[tuple[str, int, str], ...] = ()) -> str:
    """A MicroPython traceback: `<stdin>` first, then the frames inside modules."""
    out = ["Traceback (most recent call last):", f'  File "<stdin>", line {line}, in <module>']
    out += [f'  File "{path}", line {number}, in {function}' for path, number, function in frames]
    out.append(f"{name}: {message}" if message else f"{name}: ")
    return "\r\n".join(out) + "\r\n"


# --------------------------------------------------------------------------- board side


@dataclass(frozen=True)
class EnterRaw:
    pass


@dataclass(frozen=True)
class ExitRaw:
    pass


@dataclass(frozen=True)
class Interrupt:
    pass


@dataclass(frozen=True)
class SoftReset:
    pass


@dataclass(frozen=True)
class Execute:
    """Raw REPL: code to run. The board answers `OK` first."""

    code: str


@dataclass(frozen=True)
class Typed:
    """Friendly REPL: printable text to echo."""

    text: str


@dataclass(frozen=True)
class Erase:
    """Friendly REPL: backspace over the last character."""


@dataclass(frozen=True)
class Line:
    """Friendly REPL: a line entered with Enter."""

    text: str


ServerEvent = EnterRaw | ExitRaw | Interrupt | SoftReset | Execute | Typed | Erase | Line
# Keys that end a run of typed text at the friendly prompt: each does something of its own.
_FRIENDLY_KEYS = (CTRL_A, CTRL_C, CTRL_D, b"\r", b"\n", b"\x08", b"\x7f")


@dataclass
class RawReplServer:
    """Board side: what the host's bytes ask for, in the mode the REPL is in."""

    raw: bool = False
    _line: bytearray = field(default_factory=bytearray)
    _skip_lf: bool = False
    _typed: bytearray = field(default_factory=bytearray)  # echoed once a control key ends it

    def reset(self) -> None:
        self.raw = False
        self._line.clear()

    def feed(self, data: bytes) -> list[ServerEvent]:
        events: list[ServerEvent] = []
        for byte in data:
            if self.raw:
                event = self._raw_byte(bytes((byte,)))
            else:
                event = self._friendly_byte(byte, events)
            if event is not None:
                events.append(event)
        self._flush_typed(events)
        return events

    def _raw_byte(self, char: bytes) -> ServerEvent | None:
        if char == CTRL_D:
            code = self._line.decode("utf-8", "replace")
            self._line.clear()
            return Execute(code) if code.strip() else SoftReset()
        if char not in (CTRL_A, CTRL_B, CTRL_C):
            self._line += char
            return None
        self._line.clear()
        if char == CTRL_B:
            self.raw = False
            return ExitRaw()
        return EnterRaw() if char == CTRL_A else Interrupt()

    def _friendly_byte(self, byte: int, events: list[ServerEvent]) -> ServerEvent | None:
        """One byte typed at the `>>>` prompt; printable text is echoed in runs (`Typed`), each
        run ended by the next control key."""
        char = bytes((byte,))
        if char == b"\n" and self._skip_lf:
            self._skip_lf = False
            return None
        self._skip_lf = False
        if char in _FRIENDLY_KEYS:
            self._flush_typed(events)
            return self._friendly_key(char)
        if byte >= 0x20 or char == b"\t":
            self._line += char
            self._typed += char
        # other control characters (escape sequences of arrow keys) are ignored
        return None

    def _friendly_key(self, char: bytes) -> ServerEvent | None:
        if char == CTRL_A:
            self._line.clear()
            self.raw = True
            return EnterRaw()
        if char == CTRL_C:
            self._line.clear()
            return Interrupt()
        if char == CTRL_D:
            return None if self._line else SoftReset()
        if char in (b"\r", b"\n"):
            self._skip_lf = char == b"\r"
            line = Line(self._line.decode("utf-8", "replace"))
            self._line.clear()
            return line
        if self._line:  # a backspace
            del self._line[-1]
            return Erase()
        return None

    def _flush_typed(self, events: list[ServerEvent]) -> None:
        if self._typed:
            events.append(Typed(self._typed.decode("utf-8", "replace")))
            self._typed.clear()
