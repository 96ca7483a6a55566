"""Options shared by the commands that talk to a modem, and how they open it."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO, TypeVar
from urllib.parse import urlsplit

import click
from click.core import ParameterSource

from sqnflash.board import BoardInfo
from sqnflash.errors import (
    BadPortUrl,
    ConnectionRefused,
    FileUnreadable,
    FolderMissing,
    InternalError,
    Interrupted,
    NotASerialPort,
    OutputUnwritable,
    PathTooLong,
    PortBusy,
    PortNotFound,
    SqnflashError,
    UnsupportedBaud,
)
from sqnflash.events import EventSink
from sqnflash.link import WireTrace
from sqnflash.link.lock import state_dir
from sqnflash.link.record import (
    CaptureWriter,
    Recorder,
    file_identity,
    make_header,
    port_description,
)
from sqnflash.modem import APP_BAUD, Modem, ModemInfo
from sqnflash.timing import REAL_CLOCK
from sqnflash.upgrade.bridge import inspect_board, modem_session
from sqnflash.upgrade.plan import Method
from sqnflash.upgrade.runner import Settings

F = TypeVar("F", bound=Callable[..., Any])

# The rates a Monarch's UART takes with AT+IPR: the standard ones from 9600 to 921600 (Pycom
# boards run 921600, the boot loader starts at 115200) and the faster ones Sequans' own upgrade
# script negotiates (its default is 3 686 400). Anything else cannot reach a modem.
MODEM_BAUDS = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 1000000, 2000000,
               3000000, 3686400)
AUTO_BAUD = 0  # --baud auto: start at 921600, transfers at the fastest rate the line carries
NAME_MAX_DEFAULT = 255  # bytes per file name on ext4, NTFS, APFS


def given_as(ctx: click.Context, param: click.Parameter) -> str:
    """How the user gave an option: `--baud` or `$SQNFLASH_BAUD`, for the message."""
    name = param.name or ""
    if ctx.get_parameter_source(name) == ParameterSource.ENVIRONMENT and param.envvar:
        envvar = param.envvar if isinstance(param.envvar, str) else param.envvar[0]
        return f"${envvar}"
    opts = getattr(param, "opts", None) or [name]
    return str(max(opts, key=len))


def check_baud(ctx: click.Context, param: click.Parameter, value: str | int | None) -> int:
    """--baud: one of the rates a modem supports, refused before any port is opened."""
    if value is None:
        return APP_BAUD
    text = str(value).strip()
    if text.lower() == "auto":
        return AUTO_BAUD
    rates = ", ".join(str(rate) for rate in MODEM_BAUDS)
    try:
        baud = int(text)
    except ValueError:
        baud = -1
    if baud not in MODEM_BAUDS:
        raise UnsupportedBaud(f"{given_as(ctx, param)} {text!r} is not a baud rate the modem "
                              f"supports; the rates are auto, {rates}",
                              details={"supported": ["auto", *MODEM_BAUDS]})
    return baud


def check_max_baud(ctx: click.Context, param: click.Parameter,
                   value: str | int | None) -> int | None:
    """--max-baud: a rate a modem supports, or nothing."""
    if value is None:
        return None
    baud = check_baud(ctx, param, value)
    return None if baud == AUTO_BAUD else baud


def line_settings(baud: int, *, max_baud: int | None = None, **others: Any) -> Settings:
    """The runner's settings for --baud (a rate, or AUTO_BAUD) and --max-baud. A rate given
    exactly is where the boot loader is moved to, never below 115200; the other transfers run at
    the rate the modem answers at."""
    auto = baud == AUTO_BAUD
    return Settings(baud=max(APP_BAUD if auto else baud, 115200), auto_baud=auto,
                    max_baud=max_baud, **others)


def _too_long(path: Path, label: str) -> PathTooLong:
    longest = max(path.parts, key=lambda part: len(os.fsencode(part)), default="")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        limit = NAME_MAX_DEFAULT
    size = len(os.fsencode(longest))
    shown = longest if len(longest) <= 40 else f"{longest[:24]}...{longest[-12:]}"
    if size > limit:
        return PathTooLong(f"{label}: the file name {shown!r} has {size} bytes; the file "
                           f"system allows at most {limit}")
    return PathTooLong(f"{label}: the path {shown!r} is too long for the file system "
                       f"({len(os.fsencode(str(path)))} bytes)")


def input_path_error(path: Path, label: str) -> SqnflashError | None:
    """The error for an input path that cannot even be looked at (name too long, a folder on
    the way that may not be entered); missing files and the rest are for the firmware checks."""
    try:
        path.stat()
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            return _too_long(path, label)
        if exc.errno in (errno.EACCES, errno.EPERM):
            return FileUnreadable(f"{path}: permission denied (a folder on the way may not be "
                                  "entered)")
    return None


def check_input_paths(ctx: click.Context, param: click.Parameter,
                      value: Path | tuple[Path, ...] | None) -> Any:
    """Callback of the file arguments: refuse a path that cannot be looked at, with its code."""
    paths = value if isinstance(value, tuple) else (() if value is None else (value,))
    label = (given_as(ctx, param) if param.param_type_name == "option"
             else param.human_readable_name)
    for path in paths:
        error = input_path_error(path, label)
        if error is not None:
            raise error
    return value


def output_path_error(path: Path, label: str) -> SqnflashError | None:
    """Why a file cannot be written at `path` (checked before the modem is touched), or None."""
    try:
        if path.is_dir():
            return OutputUnwritable(f"{label} {path}: is a folder, not a file")
        folder = path.parent
        if not folder.exists():
            return FolderMissing(f"{label} {path}: the folder {folder} does not exist")
        if not folder.is_dir():
            return FolderMissing(f"{label} {path}: {folder} is not a folder")
        path.stat()
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            return _too_long(path, label)
        if exc.errno not in (errno.ENOENT,):
            return OutputUnwritable(f"{label} {path}: {exc.strerror or exc}")
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        return OutputUnwritable(f"{label} {path}: permission denied")
    return None


def check_output_path(ctx: click.Context, param: click.Parameter, value: Path | None
                      ) -> Path | None:
    if value is not None:
        error = output_path_error(value, given_as(ctx, param))
        if error is not None:
            raise error
    return value


def port_options(func: F) -> F:
    """--port, --baud, --rtscts, --trace, --trace-file, --json."""
    return _line_options(func, click.option(
        "--port", "-p", envvar="SQNFLASH_PORT", required=True,
        help="Serial port or pyserial URL (/dev/ttyUSB0, COM5, socket://host:port, "
             "rfc2217://host:port, sim://...). Default: $SQNFLASH_PORT."))


def repeatable_port_options(func: F) -> F:
    """`port_options` whose --port may be given more than once (`upgrade`, on several modems)."""
    return _line_options(func, click.option(
        "--port", "-p", envvar="SQNFLASH_PORT", required=True, multiple=True,
        help="Serial port or pyserial URL (/dev/ttyUSB0, COM5, socket://host:port, "
             "rfc2217://host:port, sim://...); repeat it to upgrade several modems at once; "
             "`auto` is the one modem found on the ports the --vid, --pid, --serial-number and "
             "--match filters select, `all` every one of them. Default: $SQNFLASH_PORT "
             "(several separated by spaces)."))


def _line_options(func: F, port: Callable[[Any], Any]) -> F:
    decorators: list[Callable[[Any], Any]] = [
        port,
        click.option("--baud", "-b", default="auto", show_default=True,
                     envvar="SQNFLASH_BAUD", callback=check_baud, metavar="RATE",
                     help="Baud rate: auto starts at 921600 and runs each transfer at the "
                          "fastest rate the modem lists (AT+IPR=?) and the port carries, "
                          "falling back one rate at a time; a number is used exactly (the "
                          "modem is also looked for at 921600 and 115200): "
                          + ", ".join(str(rate) for rate in MODEM_BAUDS) + "."),
        click.option("--rtscts/--no-rtscts", default=None,
                     help="RTS/CTS hardware flow control. Default: on as soon as the modem is "
                          "known to be a Monarch 2 (its published clients use it; only then "
                          "is its line sped up), off for a Monarch 1."),
        click.option("--trace", is_flag=True,
                     help="Print every AT line and STP frame with timestamps to stderr."),
        click.option("--trace-file", type=click.Path(path_type=Path),
                     callback=check_output_path,
                     help="Write the wire trace to this file instead of stderr."),
        click.option("--json", "as_json", is_flag=True,
                     help="Print one JSON object per line (events, then the result)."),
        *record_options(),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


BOARDS = ("pycom",)


def board_option(func: F) -> F:
    """--board: the modem sits behind a Pycom board, reached through its REPL and bridge."""
    return click.option(
        "--board", type=click.Choice(BOARDS), envvar="SQNFLASH_BOARD",
        help="The port is a Pycom GPy/FiPy/G01's USB port: sqnflash checks the board's firmware, "
             "then has the board bridge its modem (sqnsupgrade.uart) and talks to the modem "
             "through it. Default: $SQNFLASH_BOARD.")(func)


def upgrade_choice_options(func: F) -> F:
    """--method, --block-size, --max-baud, --allow-downgrade, --allow-family-change,
    --no-compress: what an upgrade is to do, the same for `upgrade` and for `plan`, which
    shows what that upgrade would do."""
    decorators = [
        click.option("--method", type=click.Choice([m.value for m in Method]),
                     help="Force the FFF (store, then apply) or ON_THE_FLY method [automatic]."),
        click.option("--block-size", type=click.IntRange(64, 65535), default=None,
                     help="Force this STP block payload [adaptive: from 2016 up to what the "
                          "modem takes, max transfer - 16]."),
        click.option("--max-baud", callback=check_max_baud, metavar="RATE",
                     help="With --baud auto: never move the line faster than this rate."),
        click.option("--allow-downgrade", is_flag=True,
                     help="Install an image older than the modem's."),
        click.option("--allow-family-change", is_flag=True,
                     help="Switch the modem between CAT-M1 and NB-IoT firmware."),
        click.option("--no-compress", is_flag=True,
                     help="Monarch 2: send the image raw instead of as a zlib stream (STP data "
                          "type CABA instead of CABA zipped)."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


RECORD_META = "sqnflash.record"  # click's ctx.meta: what --record* asked for


def _remember_record(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    ctx.meta.setdefault(RECORD_META, {})[param.name or ""] = value
    return value


def record_options() -> list[Callable[[F], F]]:
    """--record, --record-redact, --record-payloads: kept in ctx.meta for `wire_trace`, so that
    every command that opens a port records without taking them as arguments."""
    return [
        click.option("--record", "record", type=click.Path(path_type=Path), expose_value=False,
                     callback=lambda ctx, param, value: _remember_record(
                         ctx, param, check_output_path(ctx, param, value)),
                     help="Record everything that crosses the line to this capture file (JSON "
                          "Lines; firmware payloads summarised by length and CRC). `sqnflash "
                          "replay FILE` replays it; `sqnflash bundle` packs it for a report."),
        click.option("--record-redact", "record_redact", is_flag=True, expose_value=False,
                     callback=_remember_record,
                     help="Mask IMEIs and serial numbers in the capture."),
        click.option("--record-payloads", "record_payloads", is_flag=True, expose_value=False,
                     callback=_remember_record,
                     help="Keep firmware block payloads in the capture (large)."),
    ]


def _command_line(ctx: click.Context) -> list[str]:
    """The command as options and arguments, whatever way they were given (environment
    variables included): what `sqnflash replay` runs again."""
    out = [ctx.info_name or ""]
    args: list[str] = []
    for param in ctx.command.params:
        name = param.name or ""
        if not param.expose_value or name not in ctx.params:
            continue
        value = ctx.params[name]
        values = list(value) if isinstance(value, (tuple, list)) else [value]
        if isinstance(param, click.Argument):
            args.extend(str(v) for v in values if v is not None)
            continue
        if not isinstance(param, click.Option) or ctx.get_parameter_source(name) in (
                ParameterSource.DEFAULT, None):
            continue
        opt = max(param.opts, key=len)
        if param.is_flag and not param.count:
            if value:
                out.append(opt)
            elif param.secondary_opts:
                out.append(max(param.secondary_opts, key=len))
            continue
        for item in values:
            if item is not None:
                out.extend([opt, str(item)])
    return out + args


def _input_files(ctx: click.Context) -> list[dict[str, Any]]:
    files = []
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        if param.callback is not check_input_paths or value is None:
            continue
        for path in value if isinstance(value, tuple) else (value,):
            if isinstance(path, Path) and path.is_file():
                files.append(file_identity(path, param.name or ""))
    return files


def _capture(port: str, stack: contextlib.ExitStack) -> CaptureWriter | None:
    ctx = click.get_current_context(silent=True)
    wanted = ctx.meta.get(RECORD_META, {}) if ctx is not None else {}
    path = wanted.get("record")
    if ctx is None or path is None:
        return None
    redact = bool(wanted.get("record_redact"))
    header = make_header(command=wanted.get("command") or _command_line(ctx), port=port,
                         port_description=port_description(port),
                         files=wanted.get("files") or _input_files(ctx), redact=redact,
                         payloads=bool(wanted.get("record_payloads")))
    writer = CaptureWriter(path, header, payloads=bool(wanted.get("record_payloads")),
                           redact=redact)

    def closed() -> None:
        writer.close()
        if writer.failed:  # the run went on without it: say so, but do not fail the run
            click.echo(f"warning: --record {path} stopped early ({writer.failed}); the capture "
                       "holds the run up to there", err=True)

    stack.callback(closed)
    with contextlib.suppress(OSError):  # `sqnflash bundle` finds it; a courtesy only
        folder = state_dir()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "last-capture").write_text(str(path.resolve()) + "\n", encoding="utf-8")
    return writer


@contextlib.contextmanager
def wire_trace(trace: bool, trace_file: Path | None, port: str = ""
               ) -> Iterator[WireTrace | Recorder | None]:
    """The tracer --trace / --trace-file / --record ask for (None without them): one recording
    layer that writes the capture and renders the trace, closed at the end."""
    with contextlib.ExitStack() as stack:
        writer = _capture(port, stack)
        tracer = stack.enter_context(_trace_stream(trace, trace_file))
        if writer is None:
            yield Recorder(None, tracer) if tracer is not None else None
            return
        recorder = Recorder(writer, tracer)
        try:
            yield recorder
        except SqnflashError as exc:
            recorder.finish(exc.exit_code, exc.code)
            raise
        except KeyboardInterrupt:
            recorder.finish(Interrupted.exit_code, Interrupted.code)
            raise
        except BaseException as exc:
            recorder.finish(InternalError.exit_code, type(exc).__name__)
            raise
        recorder.finish(0)


@contextlib.contextmanager
def _trace_stream(trace: bool, trace_file: Path | None) -> Iterator[WireTrace | None]:
    with contextlib.ExitStack() as stack:
        stream: TextIO | None = None
        if trace_file is not None:
            try:
                stream = stack.enter_context(trace_file.open("w", encoding="utf-8"))
            except OSError as exc:
                error = output_path_error(trace_file, "--trace-file") or OutputUnwritable(
                    f"--trace-file {trace_file}: {exc.strerror or exc}")
                raise error from exc
        elif trace:
            stream = sys.stderr
        if stream is None:
            yield None
            return
        tracer = WireTrace(stream, REAL_CLOCK)
        stack.callback(tracer.close)
        yield tracer


@contextlib.contextmanager
def open_modem(port: str, baud: int, rtscts: bool | None, trace: bool, trace_file: Path | None,
               emit: EventSink, *, board: str | None = None,
               check: Callable[[ModemInfo], object] | None = None) -> Iterator[Modem]:
    """The modem on `port`; with `board`, the modem behind that board's bridge, after `check`
    accepted what the modem reported through the board (nothing is bridged if it raises)."""
    refuse_non_serial(port)
    with wire_trace(trace, trace_file, port) as tracer, port_diagnosed(port) as guard, \
            modem_session(port, baud=baud or APP_BAUD, rtscts=rtscts, tracer=tracer, emit=emit,
                          board=board, check=check) as modem:
        guard.port_opened()
        yield modem


def inspect_board_modem(port: str, trace: bool, trace_file: Path | None, emit: EventSink
                        ) -> tuple[BoardInfo | None, ModemInfo]:
    """A Pycom board and its modem, read through the board's REPL: no bridge is started (a board
    found bridging already is read through its bridge, and is None)."""
    refuse_non_serial(port)
    with wire_trace(trace, trace_file, port) as tracer, port_diagnosed(port):
        return inspect_board(port, tracer=tracer, emit=emit)


def _is_url(port: str) -> bool:
    return "://" in port


def refuse_non_serial(port: str) -> None:
    """A name that is a regular file, a folder, a pipe... is not opened at all: opening is not
    harmless for every file, and pyserial's message ("Inappropriate ioctl") would not help."""
    if _is_url(port):
        return
    try:
        mode = Path(port).stat().st_mode
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise _too_long(Path(port), "--port") from exc
        return  # missing, or COM5 on Windows: opening it says what is wrong
    if stat.S_ISCHR(mode):
        return  # a device: only opening it tells a serial port from /dev/null
    kind = ("a folder" if stat.S_ISDIR(mode) else "a regular file" if stat.S_ISREG(mode)
            else "a named pipe" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a block device" if stat.S_ISBLK(mode) else "not a device")
    raise NotASerialPort(f"{port} is {kind}, not a serial port")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _errno_of(exc: BaseException) -> int | None:
    number = getattr(exc, "errno", None)
    if isinstance(number, int):
        return number
    # termios.error and some of pyserial's exceptions carry it as their first argument
    if exc.args and isinstance(exc.args[0], int):
        return int(exc.args[0])
    return None


def diagnose_open_failure(port: str, exc: SqnflashError) -> SqnflashError | None:
    """A more precise error than 'does not exist' or 'bad URL' for a port that could not be
    opened, from the operating system's own reason; None when there is none to give."""
    numbers = {_errno_of(link) for link in _chain(exc)}
    refused = any(isinstance(link, ConnectionRefusedError) for link in _chain(exc))
    where = urlsplit(port).netloc or port
    if refused or errno.ECONNREFUSED in numbers:
        return ConnectionRefused(f"{port}: connection refused: nothing accepts connections at "
                                 f"{where}")
    if any(isinstance(link, socket.gaierror) for link in _chain(exc)):
        host = urlsplit(port).hostname or where
        return BadPortUrl(f"{port}: the host {host!r} is not known",
                          advice="Check the host name in the URL (or give its IP address).")
    if (any(isinstance(link, TimeoutError) for link in _chain(exc))
            or numbers & {errno.ETIMEDOUT, errno.EHOSTUNREACH, errno.ENETUNREACH}):
        return ConnectionRefused(f"{port}: no answer from {where} (the host cannot be reached "
                                 "or a firewall drops the connection)")
    if errno.ENOTTY in numbers:
        what = "the null device" if port == os.devnull else "a device"
        return NotASerialPort(f"{port} is {what}, not a serial port (it takes no serial line "
                              "settings)")
    if errno.EISDIR in numbers:
        return NotASerialPort(f"{port} is a folder, not a serial port")
    return None


class _OpenGuard:
    opened = False  # once the port is open, its errors are the run's, not the opening's

    def port_opened(self) -> None:
        self.opened = True


@contextlib.contextmanager
def port_diagnosed(port: str) -> Iterator[_OpenGuard]:
    guard = _OpenGuard()
    try:
        yield guard
    except (PortNotFound, BadPortUrl, PortBusy) as exc:
        better = None if guard.opened else diagnose_open_failure(port, exc)
        if better is None:
            raise
        raise better from exc
