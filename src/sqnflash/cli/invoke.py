"""Running the command table: exceptions become one printed error and a documented exit code.

Kept apart from the table itself (`sqnflash.cli.main`) so that a command can run the CLI again
in-process (`sqnflash replay` re-runs a recorded command) without importing the module that
imports it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from types import FrameType

import click

from sqnflash.cli.output import print_error
from sqnflash.errors import (
    FileUnreadable,
    InternalError,
    Interrupted,
    PathTooLong,
    SqnflashError,
    UsageError,
)


def run(group: click.Group, argv: Sequence[str] | None = None) -> int:
    """Run `group` (the sqnflash command table) on `argv` and return its exit code: every
    failure printed once, as text or JSON, and mapped to its documented exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in args
    failure: SqnflashError | None = None
    try:
        with _terminate_as_interrupt():
            group.main(args=args, prog_name="sqnflash", standalone_mode=False)
    except click.exceptions.Abort:
        failure = Interrupted()
    except KeyboardInterrupt as stop:
        failure = Interrupted.by(stop)
    except click.exceptions.NoArgsIsHelpError as exc:  # `sqnflash` alone: the help
        exc.show()
        return exc.exit_code
    except click.ClickException as exc:
        failure = _usage(exc, as_json=as_json)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except SqnflashError as exc:
        failure = exc
    except BrokenPipeError:
        return 1
    except OSError as exc:
        failure = _os_error(exc)
    except Exception as exc:  # a bug: still one clean message and a documented exit code
        if os.environ.get("SQNFLASH_DEBUG"):
            traceback.print_exc()
        failure = _internal(exc)
    if failure is None:
        return 0
    print_error(failure, as_json=as_json)
    return int(failure.exit_code)


# Sent by `kill`, systemd, a closing terminal: handled like Ctrl-C, so that the step under way
# says where it leaves the modem, puts it back where it still can and journals the run.
_TERMINATING = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP")
                     if hasattr(signal, name))


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP raise KeyboardInterrupt while the command runs (the main thread only:
    Python delivers signals there; a command that installs its own handlers, like `sim --pty`,
    still may)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for sig in _TERMINATING:
        if signal.getsignal(sig) is not signal.SIG_IGN:  # nohup: a hangup stays ignored
            previous[sig] = signal.signal(sig, _raise_interrupt)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _internal(exc: BaseException) -> InternalError:
    return InternalError(f"{type(exc).__name__}: {exc}")


def _usage(exc: click.ClickException, *, as_json: bool) -> SqnflashError:
    """Click's refusals become SQF-E128 (or E103 for a file click could not open), so that
    scripts get the same JSON object and a documented exit code for every bad command line."""
    if isinstance(exc, click.FileError):
        return FileUnreadable(f"{exc.ui_filename}: {exc.message}")
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "sqnflash"
    if ctx is not None and not as_json:
        click.echo(ctx.get_usage(), err=True)
    return UsageError(exc.format_message(),
                      advice=f"See `{command} --help` for the arguments and options it takes.")


def _os_error(exc: OSError) -> SqnflashError:
    """A file the checks did not see coming; a name too long or a permission is the user's to
    fix, anything else is a bug."""
    name = str(exc.filename) if exc.filename is not None else "a file"
    if exc.errno == errno.ENAMETOOLONG:
        return PathTooLong(f"{name[:60]}...: the name is too long for the file system"
                           if len(name) > 60 else f"{name}: the name is too long for the "
                           "file system")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return FileUnreadable(f"{name}: permission denied")
    if os.environ.get("SQNFLASH_DEBUG"):
        traceback.print_exc()
    return _internal(exc)
