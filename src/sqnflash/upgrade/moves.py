"""Where the modem is and how it is taken to a mode: what every part of a run asks of it."""

from __future__ import annotations

from dataclasses import dataclass

from sqnflash.errors import ModeSwitchFailed, PortLost, SqnflashError
from sqnflash.events import EventSink, Note
from sqnflash.modem import Modem
from sqnflash.protocol.modes import Mode

SWITCH_ATTEMPTS = 3  # a modem that boots into the wrong mode is asked this many times
WHERE_LOOK_S = 20.0  # how long to look for the modem to say where it is in an error's state line


@dataclass(frozen=True)
class Moves:
    modem: Modem
    emit: EventSink
    reboot_s: float  # how long a reboot may take

    def mode_now(self, timeout_s: float | None = None) -> Mode | None:
        """The mode the modem answers in, once it answers (it may be rebooting)."""
        try:
            return self.modem.wait_ready(None, self.reboot_s if timeout_s is None else timeout_s)
        except PortLost:
            raise  # nothing more can be asked: the run ends with this
        except SqnflashError:
            return None

    def where(self) -> tuple[Mode | None, str]:
        """The modem's mode, and as a phrase for an error's state line (it may be rebooting: the
        FFF method's updater reboots once it has reported)."""
        mode = self.mode_now(WHERE_LOOK_S)
        return mode, f"in {mode.label}" if mode is not None else "not answering (rebooting?)"

    def in_application(self) -> bool:
        try:
            return self.modem.mode() == Mode.APPLICATION
        except SqnflashError:
            return False

    def switch(self, target: Mode) -> None:
        """Reboot into `target`; a modem that comes back elsewhere is asked again."""
        for attempt in range(SWITCH_ATTEMPTS):
            try:
                self.modem.reboot_into(target, self.reboot_s)
                return
            except ModeSwitchFailed as error:
                came = error.details.get("mode")
                if came is None or attempt == SWITCH_ATTEMPTS - 1:
                    raise  # refused outright: asking again gets the same answer
                self.emit(Note(f"the modem came back in {Mode[str(came).upper()].label}, not "
                               f"in {target.label}: asking again", "warning"))

    def back_to_application(self) -> None:
        """Wait for the application; a modem that boots elsewhere is switched to it."""
        try:
            self.modem.wait_ready(Mode.APPLICATION, self.reboot_s)
        except ModeSwitchFailed as error:
            self.emit(Note(f"{error.cause}: switching it to the application", "warning"))
            self.switch(Mode.APPLICATION)
