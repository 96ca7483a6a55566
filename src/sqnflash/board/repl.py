"""Run MicroPython statements on a board through its raw REPL, over a `Link`.

The framing is `sqnflash.protocol.repl`; this module adds the waiting (deadlines on the link's
clock, so it runs on the simulator's virtual time too) and turns silence and tracebacks into
sqnflash's errors.

Why not mpremote's `SerialTransport`: it opens ports by device name only (no `sim://`, `socket://`
or an already-open port, no wire trace), waits by polling `in_waiting` with `time.sleep(0.01)`
instead of deadlines on an injected clock, first tries the raw-paste mode that Pycom's MicroPython
lacks, and soft-resets the board when entering raw REPL, which reruns a Pycom board's boot.py and
main.py (and with them whatever holds the modem). The plain raw REPL is a dozen lines of framing.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

from sqnflash.errors import BoardNoRepl, BoardRemoteError
from sqnflash.link import Link
from sqnflash.protocol import repl
from sqnflash.timing import Deadline

ENTER_TIMEOUT_S = 3.0  # a board at its prompt answers Ctrl-A within milliseconds
SETTLE_S = 0.2  # after Ctrl-C: let the interrupted program print its traceback
RUN_TIMEOUT_S = 10.0  # one of sqnflash's statements; the slow ones pass their own
HEARD_LIMIT = 80  # bytes of unexpected output quoted in an error message

OutputCallback = Callable[[str], None]


# What a MicroPython board prints when something else than its own tools talks to it: the
# friendly prompt, a traceback for `AT` typed as Python, its banner, the raw REPL's greeting.
_REPL_MARKS = (repl.FRIENDLY_PROMPT.strip(), b"Traceback (most recent call last)",
               b"MicroPython", repl.RAW_BANNER.strip(), b"isn't defined")


def looks_like_repl(data: bytes) -> bool:
    """Whether `data`, heard on a port, came from a MicroPython REPL rather than a modem."""
    return any(mark in data for mark in _REPL_MARKS)


def readable_lines(data: bytes, count: int = 3) -> str:
    """The last `count` lines of text in `data`, without the garbage other baud rates made of
    the rest: what to quote to a user from a port that answered with text."""
    lines = []
    for raw in data.replace(b"\r", b"\n").split(b"\n"):
        text = raw.strip()
        if text and all(0x20 <= b < 0x7F for b in text):
            lines.append(text.decode("ascii"))
    return " | ".join(lines[-count:])


def literal(line: str) -> Any:
    """A value the board printed with `repr()`, None for a line that is no Python literal."""
    try:
        return ast.literal_eval(line.strip())
    except (ValueError, SyntaxError):
        return None


def printable(data: bytes, limit: int = HEARD_LIMIT) -> str:
    text = "".join(chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}" for b in data[:limit])
    return text + ("..." if len(data) > limit else "")


class RawRepl:
    """The raw REPL of the board on `link` (opened at the REPL's baud rate)."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self.clock = link.clock
        self.client = repl.RawReplClient()
        self.active = False
        self._events: list[repl.ClientEvent] = []  # arrived with the OK, not yet handled

    def enter(self, timeout_s: float = ENTER_TIMEOUT_S) -> None:
        """Interrupt whatever runs and enter raw REPL; BoardNoRepl if no board answers."""
        heard = bytearray()
        for _attempt in range(2):
            self.link.write(repl.INTERRUPT)
            heard += self.link.read(4096, SETTLE_S)
            self.link.discard_input()
            self.client.entering()
            self.link.write(repl.ENTER_RAW)
            deadline = Deadline(self.clock, timeout_s)
            while not deadline.expired():
                data = self.link.read_some(deadline.remaining())
                if not data:
                    continue
                heard += data
                if any(isinstance(e, repl.RawReady) for e in self.client.feed(data)):
                    self.active = True
                    return
        what = f"heard {len(heard)} bytes: {printable(bytes(heard))!r}" if heard else "silence"
        raise BoardNoRepl(f"no MicroPython raw REPL on {self.link.name} at {self.link.baud} baud "
                          f"({what})", details={"heard": printable(bytes(heard), 400)})

    def submit(self, code: str, timeout_s: float = ENTER_TIMEOUT_S) -> None:
        """Send `code` and wait until the board accepts it (`OK`); its output is read after."""
        self.client.submitted()
        self.link.write(repl.encode_exec(code))
        deadline = Deadline(self.clock, timeout_s)
        while not deadline.expired():
            data = self.link.read_some(deadline.remaining())
            events = self.client.feed(data)
            for index, event in enumerate(events):
                if isinstance(event, repl.ExecAccepted):
                    # A quiet run's end can come in the same read as its OK.
                    self._events = events[index + 1 :]
                    return
                if isinstance(event, repl.Unexpected):
                    raise BoardNoRepl(f"the board on {self.link.name} did not take the code "
                                      f"(answered {printable(event.data)!r})")
        raise BoardNoRepl(f"the board on {self.link.name} did not acknowledge code within "
                          f"{timeout_s:g} s")

    def follow(self, timeout_s: float | None, *, idle_s: float | None = None,
               on_output: OutputCallback | None = None,
               stop: Callable[[str], bool] | None = None) -> repl.ExecDone | None:
        """Read the running code's output until it ends (returns ExecDone), `stop(stdout so far)`
        is true (returns None: the code still runs), or a deadline passes (BoardNoRepl).

        `idle_s` bounds the silence between two outputs, `timeout_s` the whole run."""
        total = Deadline(self.clock, timeout_s)
        out: list[str] = []
        while True:
            wait = total.earlier(idle_s)
            events, self._events = self._events, []
            data = b"" if events else self.link.read_some(wait.remaining())
            if not data and not events:
                if wait.expired():
                    so_far = "".join(out).strip().splitlines()
                    last = f" (last output: {so_far[-1]!r})" if so_far else ""
                    raise BoardNoRepl(
                        f"the board on {self.link.name} stopped answering while running "
                        f"sqnflash's statements{last}", details={"output": "".join(out)})
                continue
            for event in events or self.client.feed(data):
                if isinstance(event, repl.Output):
                    out.append(event.text)
                    if on_output is not None:
                        on_output(event.text)
                    if stop is not None and stop("".join(out)):
                        return None
                elif isinstance(event, repl.ExecDone):
                    return event

    def run(self, code: str, timeout_s: float = RUN_TIMEOUT_S) -> repl.ExecDone:
        self.submit(code)
        done = self.follow(timeout_s)
        assert done is not None
        return done

    def run_checked(self, code: str, timeout_s: float = RUN_TIMEOUT_S) -> str:
        """Run `code`; its standard output, or BoardRemoteError with the board's exception."""
        done = self.run(code, timeout_s)
        if done.exception is not None:
            raise BoardRemoteError(f"the board raised {done.exception} running: "
                                   f"{code.splitlines()[-1].strip()}",
                                   details={"traceback": done.stderr})
        return done.stdout

    def leave(self) -> None:
        """Back to the friendly `>>>` prompt, as a user would find the board."""
        if self.active:
            self.link.write(repl.LEAVE_RAW)
            self.link.read(4096, SETTLE_S)
            self.active = False

    def handed_over(self) -> None:
        """The board stopped its REPL to bridge the modem: nothing more may be sent to it as
        REPL input until it is reset."""
        self.active = False
