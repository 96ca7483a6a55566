"""Send AT commands and collect their replies, with deadlines instead of sleeps.

Every wait here is "until this reply or this deadline": a command returns as soon as its final
result code arrives, a reboot is over as soon as the modem answers. Echo is recognised and dropped,
unsolicited lines (`+SYSSTART`, `+SHUTDOWN`, anything the modem volunteers) go to `urcs`, never
into a command's reply.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from sqnflash.errors import CommandFailed, CommandTimeout
from sqnflash.link import Link
from sqnflash.protocol import at
from sqnflash.timing import Deadline

COMMAND_TIMEOUT_S = 3.0  # a normal command; showver takes well under a second on a real modem
PROBE_TIMEOUT_S = 0.1  # one `AT` while probing: an awake modem answers in milliseconds
BOOT_URC = "+SYSSTART"  # a modem that just booted: a command sent before it was lost
URC_HISTORY = 64


class AtDriver:
    """The AT side of one link."""

    def __init__(self, link: Link, *, on_urc: Callable[[str], None] | None = None) -> None:
        self.link = link
        self.clock = link.clock
        self.on_urc = on_urc
        self.urcs: deque[str] = deque(maxlen=URC_HISTORY)
        self.noise_bytes = 0  # bytes that were neither a reply nor a URC (wrong baud, reboot)
        self.boots_seen = 0  # +SYSSTART lines received
        self._reader = at.AtReader()
        self._leftover = b""  # bytes that arrived after the last final result code

    # ------------------------------------------------------------------ commands
    def command(self, command: str, *, timeout_s: float = COMMAND_TIMEOUT_S,
                terminator: str = "\r\n", check: bool = True,
                resend_on_boot: bool = False) -> at.AtResponse:
        """Send `command` and return its reply; ERROR raises CommandFailed when `check`.

        With `resend_on_boot`, a `+SYSSTART` arriving while waiting means the modem booted after
        the command was sent and never saw it: the command is sent again at once.
        """
        self._absorb()
        self._reader.begin(command)
        encoded = at.encode_command(command, terminator)
        self.link.write(encoded)
        deadline = Deadline(self.clock, timeout_s)
        booted = self.boots_seen
        while True:
            data = self.link.read_some(deadline.remaining())
            if not data:
                if deadline.expired():
                    self._reader.cancel()
                    raise CommandTimeout(
                        f"no reply to {command} within {timeout_s:g} s",
                        details={"command": command, "baud": self.link.baud},
                    )
                continue
            response = self._feed(data)
            if resend_on_boot and response is None and self.boots_seen != booted:
                booted = self.boots_seen
                self._reader.begin(command)
                self.link.write(encoded)
                deadline = Deadline(self.clock, timeout_s)
                continue
            if response is not None:
                if check and not response.ok:
                    raise CommandFailed(
                        f"the modem answered {response.final_line} to {command}",
                        details={"command": command, "reply": list(response.lines)},
                    )
                return response

    def try_command(self, command: str, *, timeout_s: float = COMMAND_TIMEOUT_S,
                    terminator: str = "\r\n",
                    resend_on_boot: bool = False) -> at.AtResponse | None:
        """Like `command`, but a timeout returns None and ERROR is returned, not raised."""
        try:
            return self.command(command, timeout_s=timeout_s, terminator=terminator, check=False,
                                resend_on_boot=resend_on_boot)
        except CommandTimeout:
            return None

    def probe(self, timeout_s: float = PROBE_TIMEOUT_S, terminator: str = "\r\n") -> bool:
        """Does the modem answer `AT` (OK or even ERROR) at the link's current rate?"""
        return self.try_command("AT", timeout_s=timeout_s, terminator=terminator,
                                resend_on_boot=True) is not None

    def _feed(self, data: bytes) -> at.AtResponse | None:
        for event in self._reader.feed(data):
            if isinstance(event, at.Urc):
                self._urc(event.line)
            elif isinstance(event, at.Noise):
                self.noise_bytes += len(event.data)
            elif isinstance(event, at.Final):
                self._leftover = self._reader.take_rest()
                return event.response
        return None

    def _absorb(self) -> None:
        """Sort bytes left over from earlier replies into URCs and noise before a new command.
        A line still without its end stays in the reader, to be completed by the next bytes."""
        data, self._leftover = self._leftover, b""
        if data:
            self._reader.cancel()
            self._feed(data)

    def _urc(self, line: str) -> None:
        self.urcs.append(line)
        if line.upper().startswith(BOOT_URC):
            self.boots_seen += 1
        if self.on_urc is not None:
            self.on_urc(line)

    # ------------------------------------------------------------------ waiting
    def wait_urc(self, prefix: str, timeout_s: float) -> bool:
        """Wait for an unsolicited line starting with `prefix` (seen before counts too)."""
        if self._take_urc(prefix):
            return True
        self._absorb()
        if self._take_urc(prefix):
            return True
        deadline = Deadline(self.clock, timeout_s)
        while not deadline.expired():
            data = self.link.read_some(deadline.remaining())
            if data:
                self._reader.cancel()
                self._feed(data)
                if self._take_urc(prefix):
                    return True
        return False

    def _take_urc(self, prefix: str) -> bool:
        for i, line in enumerate(self.urcs):
            if line.upper().startswith(prefix.upper()):
                del self.urcs[i]
                return True
        return False

    def forget_urcs(self) -> None:
        self.urcs.clear()

    def take_leftover(self) -> bytes:
        """Bytes received after the last final result code (the start of an STP reply, say)."""
        data, self._leftover = self._leftover, b""
        return data

    def unterminated(self) -> bytes:
        """Bytes of a line that has not ended yet (an `OK` sent without its line end)."""
        return self._reader.buffered

    def discard_input(self) -> None:
        self._leftover = b""
        self._reader = at.AtReader()
        self.link.discard_input()
