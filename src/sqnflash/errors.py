"""The catalogue of everything that can go wrong, with what to do about it.

Every error a user can see is a subclass of `SqnflashError` with a stable code (`SQF-Ennn`), a
one-line cause, advice on what to do next, and its own process exit code. The CLI prints them the
same way in text and JSON.

Code ranges: E1xx files and input, E2xx ports and links, E3xx talking to the modem, E4xx STP
transfers, E5xx the upgrade itself, E6xx Pycom boards, E9xx interruptions and internal errors.
"""

from __future__ import annotations

from typing import Any, ClassVar

CATALOGUE: dict[str, type[SqnflashError]] = {}


class SqnflashError(Exception):
    code: ClassVar[str] = "SQF-E999"
    exit_code: ClassVar[int] = 1
    summary: ClassVar[str] = "Something went wrong."
    advice: ClassVar[str] = "Run again with --trace and report the output."
    # The modem's state when the raiser does not know better: errors that can only happen
    # before anything reached the modem say so, so that every error has a state line.
    default_state: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "code" in cls.__dict__:
            if cls.code in CATALOGUE:
                raise TypeError(f"error code {cls.code} used twice")
            used = {c.exit_code for c in CATALOGUE.values()}
            if cls.exit_code in used:
                raise TypeError(f"exit code {cls.exit_code} of {cls.code} used twice")
            CATALOGUE[cls.code] = cls

    def __init__(self, cause: str | None = None, *, advice: str | None = None,
                 modem_state: str | None = None, details: dict[str, Any] | None = None) -> None:
        self.cause = cause or self.summary
        self.hint = advice or self.advice
        self.modem_state = modem_state or self.default_state
        self.details = details or {}
        super().__init__(self.cause)

    def __str__(self) -> str:
        return f"{self.code}: {self.cause}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "error": type(self).__name__,
            "cause": self.cause,
            "advice": self.hint,
            "exit_code": self.exit_code,
        }
        if self.modem_state:
            out["modem_state"] = self.modem_state
        if self.details:
            out["details"] = self.details
        return out


# --------------------------------------------------------------------------- E1xx files, input


class InputError(SqnflashError):
    """A file or an option is not usable; the modem was not touched."""

    default_state = "unchanged: sqnflash stopped before sending it anything that changes it"


class FileMissing(InputError):
    code = "SQF-E101"
    exit_code = 10
    summary = "The file does not exist."
    advice = "Check the path; download the firmware package again if it was moved or deleted."


class NotAFile(InputError):
    code = "SQF-E102"
    exit_code = 11
    summary = "The path is a directory, not a file."
    advice = "Give the path of the .dup or updater.elf file inside it."


class FileUnreadable(InputError):
    code = "SQF-E103"
    exit_code = 12
    summary = "The file cannot be read."
    advice = "Check its permissions (or run as a user who may read it)."


class FileEmpty(InputError):
    code = "SQF-E104"
    exit_code = 13
    summary = "The file is empty."
    advice = "The download or copy failed: download the firmware package again."


class FileTooSmall(InputError):
    code = "SQF-E105"
    exit_code = 14
    summary = "The file is too small to be firmware (under 128 bytes)."
    advice = "It is probably an error page or a truncated copy: download the package again."


class FileTruncated(InputError):
    code = "SQF-E106"
    exit_code = 15
    summary = "The file is shorter than the official release of that name."
    advice = ("Download the package again and compare its size with the catalogue "
              "(`sqnflash check`); use --force only if you know the file is good.")


class ContainerCorrupt(InputError):
    code = "SQF-E107"
    exit_code = 16
    summary = "The firmware package is corrupted: a check value does not verify."
    advice = "Download the package again; do not send a corrupted image to the modem."


class WrongFileKind(InputError):
    code = "SQF-E108"
    exit_code = 17
    summary = "The file is not the kind of file expected here."
    advice = "Pass the firmware image (.dup) as IMAGE and the updater with --updater."


class DiffSourceMismatch(InputError):
    code = "SQF-E109"
    exit_code = 18
    summary = "The differential image does not apply to the build the modem runs."
    advice = "Use the differential image whose name starts with the modem's build, or a full image."


class FamilyMismatch(InputError):
    code = "SQF-E110"
    exit_code = 19
    summary = "The image is for another modem family (CAT-M1 / NB-IoT)."
    advice = "Use the image for the modem's family (see `sqnflash info`)."


class TooManyImages(InputError):
    code = "SQF-E111"
    exit_code = 20
    summary = "More than one firmware image was given."
    advice = "Upgrade with one image at a time; pass the updater with --updater."


class ImageTooLarge(InputError):
    code = "SQF-E112"
    exit_code = 21
    summary = "The image is larger than the modem can take by the chosen method."
    advice = "Use --method on-the-fly (or let sqnflash choose the method)."


class UpdaterRequired(InputError):
    code = "SQF-E113"
    exit_code = 22
    summary = "This modem needs updater.elf for this upgrade and none was given."
    advice = ("Pass --updater updater.elf from the same firmware package (zip) as the image.")


class UpdaterMismatch(InputError):
    code = "SQF-E114"
    exit_code = 23
    summary = "The updater.elf belongs to another firmware release than the image."
    advice = "Use the updater.elf from the same package (zip) as the image."


class Downgrade(InputError):
    code = "SQF-E115"
    exit_code = 24
    summary = "The image is older than the firmware the modem runs."
    advice = "Pass --allow-downgrade if you really mean to go back to an older release."


class IntermediateRequired(InputError):
    code = "SQF-E116"
    exit_code = 25
    summary = "The modem must first be upgraded to an intermediate release."
    advice = "Upgrade to the release named above first, then to this one."


class BootromRequired(InputError):
    code = "SQF-E117"
    exit_code = 26
    summary = "The modem has the factory bootrom and no bootrom image is available."
    advice = ("Pass a full image (it carries the bootrom package) or --bootrom FILE with the "
              "bootrom package.")


class BadOption(InputError):
    code = "SQF-E118"
    exit_code = 27
    summary = "An option has a value sqnflash cannot use."
    advice = "See `sqnflash COMMAND --help`."


class NotAnElf(InputError):
    code = "SQF-E119"
    exit_code = 28
    summary = "The updater file is not a valid ELF executable for the modem."
    advice = "Use updater.elf exactly as it came in the firmware package (zip)."


class KnownFileMismatch(InputError):
    code = "SQF-E120"
    exit_code = 100
    summary = "The file bears the name of an official release but not its size or content."
    advice = ("Download the package again and compare it with `sqnflash check`; pass --force "
              "only if you know this file is good (a re-packaged or renamed release).")


class NoImage(InputError):
    code = "SQF-E121"
    exit_code = 101
    summary = "No firmware image (.dup) was given."
    advice = ("Give the full image (CATM1-<build>.dup, NB1-<build>.dup, for a Monarch 2 "
              "GM02RB6Q_LR<version>-<build>.dup) or the differential image "
              "(upgdiff_<from>-to-<to>.dup) to install; updater.elf alone installs nothing.")


class UnsupportedBaud(InputError):
    code = "SQF-E125"
    exit_code = 105
    summary = "The baud rate is not one the modem's UART supports."
    advice = ("Pass one of the supported rates the message lists (921600 on Pycom boards), or "
              "leave --baud out: sqnflash tries 921600 and 115200 on its own.")


class PathTooLong(InputError):
    code = "SQF-E126"
    exit_code = 106
    summary = "A file name or path is longer than the file system allows."
    advice = ("Rename the file or move it to a folder with a shorter path (a file name may have "
              "at most 255 bytes on most file systems).")


class FolderMissing(InputError):
    code = "SQF-E127"
    exit_code = 107
    summary = "The folder a file is to be written in does not exist."
    advice = "Check the path for a typo, or create the folder first."


class UsageError(InputError):
    code = "SQF-E128"
    exit_code = 108
    summary = "The command line is not valid."
    advice = "See `sqnflash COMMAND --help` for the arguments and options the command takes."


class OutputUnwritable(InputError):
    code = "SQF-E129"
    exit_code = 109
    summary = "A file sqnflash is asked to write cannot be written."
    advice = ("Check the folder's permissions and free space, and that the path names a file, "
              "not a folder.")


class JournalDriverMissing(InputError):
    code = "SQF-E133"
    exit_code = 113
    summary = "A PostgreSQL journal is asked for, but the PostgreSQL driver is not installed."
    advice = ("Install it with `pip install 'sqnflash[postgres]'` (psycopg 3), or pass --journal "
              "with a file to keep the journal in SQLite.")


class NoModemFound(InputError):
    code = "SQF-E134"
    exit_code = 114
    summary = "No serial port matching the selection answers as a Sequans modem."
    advice = ("Run `sqnflash ports --probe` to see every port and what answers on it; check the "
              "--vid, --pid, --serial-number and --match filters, the cables and the power.")


class CaptureUnreadable(InputError):
    code = "SQF-E130"
    exit_code = 110
    summary = "The file is not a sqnflash capture this version can read."
    advice = ("Give a file written by `--record` (JSON Lines whose first line is the "
              "sqnflash-capture header); docs/capture-format.md describes the format.")


class ReplayDiverged(InputError):
    code = "SQF-E131"
    exit_code = 111
    summary = "Replayed against a capture, the client did something the recorded run did not."
    advice = ("The client's requests or outcome changed since the capture was made: compare the "
              "named request with the record (`sqnflash replay FILE --trace` shows the "
              "exchange). If the change is intended, record the capture again.")


class ReplayFileMissing(InputError):
    code = "SQF-E132"
    exit_code = 112
    summary = "A firmware file the recorded run used cannot be found."
    advice = ("A capture keeps only the name, size and SHA-256 of each file: pass the folder "
              "that holds the same file with --files DIR (it is found by its SHA-256).")


# --------------------------------------------------------------------------- E2xx ports, links


class LinkError(SqnflashError):
    """The serial line itself failed."""


_NOT_OPENED = "unchanged: the port could not be opened, so nothing reached the modem"


class PortNotFound(LinkError):
    code = "SQF-E201"
    exit_code = 30
    summary = "The serial port does not exist."
    advice = ("Check the cable and the port name (`sqnflash ports` lists them); on Linux add your "
              "user to the dialout group.")
    default_state = _NOT_OPENED


class PortBusy(LinkError):
    code = "SQF-E202"
    exit_code = 31
    summary = "The serial port is in use or cannot be opened."
    advice = "Close other terminals (screen, minicom, Pymakr, mpremote) that hold the port."
    default_state = _NOT_OPENED


class PortLost(LinkError):
    code = "SQF-E203"
    exit_code = 32
    summary = "The serial port went away (device unplugged or reset)."
    advice = "Reconnect the device and run the same command again: sqnflash resumes."


class BadPortUrl(LinkError):
    code = "SQF-E204"
    exit_code = 33
    summary = "The port URL is not valid."
    advice = "Use a device name (/dev/ttyUSB0, COM5) or a pyserial URL (socket://host:port, sim://)."
    default_state = _NOT_OPENED


class ModemBusy(LinkError):
    code = "SQF-E205"
    exit_code = 34
    summary = "The modem is in use by another sqnflash run, through another port."
    advice = ("Wait for that run to finish, or stop it (Ctrl-C in its terminal): two programs on "
              "one modem ruin each other's transfers.")


class LockFailed(LinkError):
    code = "SQF-E206"
    exit_code = 35
    summary = "The port's lock file cannot be written."
    advice = ("sqnflash keeps a lock file per port beside its journal, so that no two runs share "
              "a modem: make that folder writable, or set SQNFLASH_JOURNAL to a file in a "
              "writable folder.")
    default_state = _NOT_OPENED


class NotASerialPort(LinkError):
    code = "SQF-E208"
    exit_code = 37
    summary = "The port names a file or device that is not a serial port."
    advice = ("Give the modem's serial device (/dev/ttyUSB0, /dev/ttyACM0, COM5) or a pyserial URL "
              "(socket://host:port); `ls /dev/tty*` shows the serial devices on Linux.")
    default_state = _NOT_OPENED


class ConnectionRefused(LinkError):
    code = "SQF-E209"
    exit_code = 38
    summary = "Nothing accepts connections at the network address of the port URL."
    advice = ("Check the host and port number, and that the serial server (ser2net, a simulator "
              "started with `sqnflash sim --pty`, an RFC 2217 server) is running there.")
    default_state = _NOT_OPENED


class PortAmbiguous(LinkError):
    code = "SQF-E211"
    exit_code = 115
    summary = "--port auto found more than one modem."
    advice = ("Name the port (--port DEVICE), narrow the selection with --vid, --pid, "
              "--serial-number or --match, or upgrade them all with --port all.")


class RecordFailed(LinkError):
    code = "SQF-E210"
    exit_code = 39
    summary = "The capture file asked for with --record cannot be written."
    advice = ("Check the folder's permissions and free space, or record elsewhere; nothing was "
              "sent to the modem.")


# --------------------------------------------------------------------------- E3xx the modem


class ModemError(SqnflashError):
    """The modem did not behave as an upgrade needs."""


class NoResponse(ModemError):
    code = "SQF-E301"
    exit_code = 40
    summary = "The modem does not answer AT at any baud rate."
    advice = ("Power-cycle the board (the reset button does not reset the modem), check that "
              "nothing else uses the port, and try again.")


class CommandFailed(ModemError):
    code = "SQF-E302"
    exit_code = 41
    summary = "The modem answered ERROR to a command the upgrade needs."
    advice = "Run again with --trace to see the exchange; power-cycle the modem and retry."


class CommandTimeout(ModemError):
    code = "SQF-E303"
    exit_code = 42
    summary = "The modem stopped answering in the middle of the upgrade."
    advice = "Power-cycle the modem and run the same command again: sqnflash resumes."


class UnexpectedReply(ModemError):
    code = "SQF-E304"
    exit_code = 43
    summary = "The modem sent a reply sqnflash does not understand."
    advice = "Run again with --trace and report the output."


class UnknownMode(ModemError):
    code = "SQF-E305"
    exit_code = 44
    summary = "The modem is in a mode sqnflash cannot handle."
    advice = "Power-cycle the modem; if it stays in this mode, run `sqnflash recover`."


class ModeSwitchFailed(ModemError):
    code = "SQF-E306"
    exit_code = 45
    summary = "The modem did not switch to the requested boot mode."
    advice = "Power-cycle the modem and run `sqnflash recover`."


class BaudNegotiationFailed(ModemError):
    code = "SQF-E307"
    exit_code = 46
    summary = "The baud rate negotiation with the boot loader failed."
    advice = "Power-cycle the modem and retry; try --baud 115200."


class LineRateLost(ModemError):
    code = "SQF-E313"
    exit_code = 125  # not 126 or 127: a shell reports "not executable" and "not found" with them
    summary = ("The modem accepted a faster baud rate, then answered neither at it nor at the "
               "rate it came from.")
    advice = ("Power-cycle the modem (it starts again at its usual rate), then run the same "
              "command with --max-baud 921600.")


class UpdaterDidNotStart(ModemError):
    code = "SQF-E308"
    exit_code = 47
    summary = "The updater was sent but did not start."
    advice = "Check that updater.elf matches the image's release; power-cycle and retry."


# --------------------------------------------------------------------------- E4xx transfers


class TransferError(SqnflashError):
    """An STP transfer could not be completed."""


class TransferFailed(TransferError):
    code = "SQF-E401"
    exit_code = 60
    summary = "The transfer failed after every retry."
    advice = ("Check the cable, try a lower --baud or --block-size, then run the same command "
              "again: sqnflash resumes.")


class TransferRefused(TransferError):
    code = "SQF-E402"
    exit_code = 61
    summary = "The modem refused the STP session."
    advice = "Power-cycle the modem and retry."


class TransferStalled(TransferError):
    code = "SQF-E403"
    exit_code = 62
    summary = "The modem stopped accepting data (its storage may be full)."
    advice = "Use --method on-the-fly, which does not store the image first."


class StpProtocolViolation(TransferError):
    code = "SQF-E404"
    exit_code = 63
    summary = "The modem's STP replies do not make sense."
    advice = "Run again with --trace and report the output."


class SessionLost(TransferError):
    code = "SQF-E405"
    exit_code = 64
    summary = "The modem left the transfer session (it rebooted or lost power) again and again."
    advice = ("Check the modem's power supply (a laptop USB port may be too weak; use a powered "
              "hub), then run the same command again: sqnflash continues from where it stopped.")


class LineTooNoisy(TransferError):
    code = "SQF-E406"
    exit_code = 65
    summary = "The line damages too many frames, even with small blocks at the lowest baud rate."
    advice = ("Use a shorter USB cable and another port, keep the board away from motors and "
              "chargers, try --rtscts, then run the same command again.")


class TransferSilent(TransferFailed):
    code = "SQF-E407"
    exit_code = 66
    summary = "The modem stopped answering in the middle of a transfer and did not come back."
    advice = ("Power-cycle the modem (unplug the board: its reset button does not reset the "
              "modem), then run the same command again: sqnflash continues from the mode it "
              "finds the modem in.")


# --------------------------------------------------------------------------- E5xx upgrades


class UpgradeError(SqnflashError):
    """The upgrade itself did not succeed."""


class ApplyFailed(UpgradeError):
    code = "SQF-E501"
    exit_code = 70
    summary = "The modem reported that applying the image failed."
    advice = ("Check that the image is for this modem (`sqnflash check`), then run "
              "`sqnflash recover` with a full image to bring the modem back.")


class ApplyTimeout(UpgradeError):
    code = "SQF-E502"
    exit_code = 71
    summary = "The modem did not finish applying the image in time."
    advice = "Leave the modem powered a few minutes more, then run `sqnflash info` or `recover`."


class VersionMismatch(UpgradeError):
    code = "SQF-E503"
    exit_code = 72
    summary = "After the upgrade the modem does not report the expected version."
    advice = "Run `sqnflash info`; if the old version is still there, run the upgrade again."


class ModemNotRecoverable(UpgradeError):
    code = "SQF-E504"
    exit_code = 73
    summary = "The modem could not be brought back to a working application."
    advice = ("Power-cycle the modem and run `sqnflash recover --updater updater.elf IMAGE` with a "
              "full image and its updater.")


class NothingToDo(UpgradeError):
    code = "SQF-E505"
    exit_code = 74
    summary = "The modem already runs this firmware."
    advice = "Nothing to do; pass --force to flash it again anyway."


class JournalError(UpgradeError):
    code = "SQF-E506"
    exit_code = 75
    summary = "The upgrade journal cannot be used."
    advice = "Pass --journal with a writable path, or fix the permissions of the journal file."


class ApplyInterrupted(UpgradeError):
    code = "SQF-E507"
    exit_code = 76
    summary = "The modem restarted while it was applying the image, more than once."
    advice = ("Check the modem's power supply, then run `sqnflash recover --port P IMAGE` with "
              "the full image: the application has to be written again.")


class RecoverNeedsImage(UpgradeError):
    code = "SQF-E508"
    exit_code = 77
    summary = "The modem's application is gone and no full image was given to write it again."
    advice = ("Run `sqnflash recover --port P CATM1-<build>.dup` (or NB1-<build>.dup; for a "
              "Monarch 2 GM02S, GM02RB6Q_LR<version>-<build>.dup) with the full image the modem "
              "had, or a newer one; add --updater updater.elf (mtools.elf for a Monarch 2) from "
              "the same package if the modem is in the boot loader.")


class ModemInTransfer(UpgradeError):
    code = "SQF-E509"
    exit_code = 78
    summary = "The modem is stuck inside a transfer session an interrupted run left open."
    advice = ("Power-cycle the modem (unplug the board: its reset button does not reset the "
              "modem), then run the same command again.")


class ApplyNotReported(UpgradeError):
    code = "SQF-E510"
    exit_code = 79
    summary = "The modem gives no report of the upgrade it should be applying."
    advice = ("Run `sqnflash info`: if it shows the new build in the application, the upgrade "
              "went through. Otherwise run the same command again; if the modem keeps answering "
              "'No report', check that the image is for this modem (`sqnflash check`).")


class StationIncomplete(UpgradeError):
    code = "SQF-E512"
    exit_code = 116
    summary = "Not every modem of a multi-port upgrade was upgraded."
    advice = ("The table (and --report) says, per port, the error code, the modem's state and "
              "what to do; run the same command again: modems already done are skipped, "
              "interrupted ones continue where they stopped.")


class JournalUnreachable(UpgradeError):
    code = "SQF-E513"
    exit_code = 117
    summary = "The PostgreSQL server of the shared journal cannot be reached."
    advice = ("Check the URL (host, port, database, user, password), that the server runs and "
              "accepts connections from this station (pg_hba.conf), and the network; nothing "
              "was sent to any modem.")


# --------------------------------------------------------------------------- E6xx Pycom boards


class BoardError(SqnflashError):
    """The Pycom board in front of the modem is not ready for the upgrade."""


class BoardNoRepl(BoardError):
    code = "SQF-E601"
    exit_code = 50
    summary = "No MicroPython REPL answers on the port."
    advice = ("Check that the port is the board's USB serial port, close every other program that "
              "holds it (Pymakr, screen, mpremote), press the board's reset button and try again.")


class BoardWithoutModem(BoardError):
    code = "SQF-E602"
    exit_code = 51
    summary = "The board has no LTE modem."
    advice = "Only the GPy, FiPy and G01 carry the Sequans modem: connect one of those."


class BoardFirmwareTooOld(BoardError):
    code = "SQF-E603"
    exit_code = 52
    summary = "The board's firmware cannot bridge its modem to the USB port."
    advice = ("Update the board's firmware with Pycom's Firmware Updater (pycom-fwtool) to the "
              "latest release, then run the same command again; delete any sqnsupgrade copy "
              "uploaded to /flash/lib.")


class BoardRemoteError(BoardError):
    code = "SQF-E604"
    exit_code = 53
    summary = "A statement sqnflash ran on the board raised an exception."
    advice = "Press the board's reset button and run again with --trace; report the output."


class BoardModemSilent(BoardError):
    code = "SQF-E605"
    exit_code = 54
    summary = "The board cannot talk to its modem."
    advice = ("Unplug the board (the reset button does not reset the modem), plug it in again "
              "and run the same command; if main.py uses LTE, start in safe boot mode.")


class BridgeFailed(BoardError):
    code = "SQF-E606"
    exit_code = 55
    summary = "The board did not start its UART bridge to the modem."
    advice = ("Unplug the board, plug it in again and run the same command: sqnflash continues "
              "from the state the modem is in.")


class BridgeSilent(BoardError):
    code = "SQF-E607"
    exit_code = 56
    summary = "The bridge started but the modem does not answer through it."
    advice = ("Unplug the board, plug it in again and run the same command; if this repeats, "
              "check with `sqnflash info --board pycom`.")


class ReplNotModem(BoardError):
    code = "SQF-E608"
    exit_code = 57
    summary = "The port answers as a MicroPython REPL: it is a Pycom board's, not the modem's."
    advice = ("Run the same command with --board pycom: the modem sits behind the board's ESP32, "
              "and sqnflash reaches it through the board's REPL (and, to upgrade it, through the "
              "bridge the board makes).")


class BoardUnreachable(BoardError):
    code = "SQF-E609"
    exit_code = 58
    summary = "Neither the board's REPL nor a modem through its bridge answers."
    advice = ("If an upgrade through this board was cut short during a transfer, the board still "
              "bridges a modem that waits inside that transfer: run the same `sqnflash upgrade "
              "--board pycom` command again (it continues the transfer) or `sqnflash recover "
              "--board pycom` (it ends the transfer and brings the modem back). Otherwise check "
              "the port, unplug the board, plug it in again and retry.")


# --------------------------------------------------------------------------- E9xx


class Interrupted(SqnflashError):
    code = "SQF-E901"
    exit_code = 130
    summary = "Interrupted by the user."
    advice = "Run the same command again to resume; `sqnflash info` shows the modem's state."

    @classmethod
    def by(cls, stop: KeyboardInterrupt, during: str | None = None, *,
           modem_state: str | None = None) -> Interrupted:
        """Ctrl-C, or a signal the CLI turned into KeyboardInterrupt (with the signal's name,
        such as SIGTERM, as its argument), while doing `during`."""
        name = str(stop.args[0]) if stop.args else ""
        how = f"stopped by {name}" if name.startswith("SIG") else "interrupted"
        if during is not None:
            how += f" during '{during}'"
        return cls(how if during is not None or name.startswith("SIG") else None,
                   modem_state=modem_state)


class InternalError(SqnflashError):
    code = "SQF-E999"
    exit_code = 99
    summary = "sqnflash hit a bug."
    advice = "Run again with --trace and report the output."
