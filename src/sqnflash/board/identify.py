"""Asking a Pycom board what it is: `os.uname()`, its `sqnsupgrade`, `LTE.modem_upgrade_mode`."""

from __future__ import annotations

from dataclasses import dataclass

from sqnflash.board.info import BoardInfo, parse_release
from sqnflash.board.releases import Release, UpgraderModule, module_by_version
from sqnflash.board.repl import RawRepl, literal
from sqnflash.errors import BoardRemoteError
from sqnflash.events import Narrator

# A module with uart() on a release the table does not know behaves like the first one.
_FIRST_UART_MODULE = "2018-08"


@dataclass(frozen=True)
class _ModuleFacts:
    """What `import sqnsupgrade` gave on the board."""

    imported: bool
    version: str | None = None
    file: str | None = None
    names: tuple[str, ...] = ()


def identify_board(repl: RawRepl, narrator: Narrator) -> BoardInfo:
    """The board's type, firmware and upgrade module, through its raw REPL (entered here when
    it is not yet); said in one note."""
    if not repl.active:
        repl.enter()
    lines = repl.run_checked(
        "import os\n_sqf_u = os.uname()\nprint(_sqf_u.sysname)\nprint(_sqf_u.release)\n"
        "print(_sqf_u.machine)\nprint(_sqf_u.version)\n").splitlines()
    sysname, release, machine, version = ([*lines, "", "", "", ""])[:4]
    facts = _module_facts(repl)
    upgrade_mode = repl.run(
        "from network import LTE\nprint(hasattr(LTE, 'modem_upgrade_mode'))\n")
    has_mode = upgrade_mode.ok and upgrade_mode.stdout.strip() == "True"
    module = _module(facts, parse_release(release))
    info = BoardInfo(repl.link.name, sysname.strip(), release.strip(), machine.strip(),
                     version.strip(), module, facts.file, facts.names, has_mode)
    if module is not None and info.has_uart:
        has = f"sqnsupgrade {module.version}"
    elif facts.imported:
        has = f"a sqnsupgrade without uart() ({facts.file or 'unknown file'})"
    else:
        has = "no sqnsupgrade"
    narrator.note(f"board: {info.machine or info.sysname}, firmware {info.release}, {has}")
    return info


def _module_facts(repl: RawRepl) -> _ModuleFacts:
    done = repl.run(
        "import sqnsupgrade\n"
        "print(repr(getattr(sqnsupgrade, 'VERSION', None)))\n"
        "print(repr(getattr(sqnsupgrade, '__file__', getattr(sqnsupgrade, '__path__', "
        "None))))\n"
        "print(repr(dir(sqnsupgrade)))\n")
    if done.exception is not None:
        if done.exception.name != "ImportError":
            raise BoardRemoteError(f"`import sqnsupgrade` on the board raised "
                                   f"{done.exception}", details={"traceback": done.stderr})
        return _ModuleFacts(imported=False)
    values = [literal(line) for line in done.stdout.splitlines()[:3]]
    values += [None] * (3 - len(values))
    return _ModuleFacts(
        imported=True,
        version=values[0] if isinstance(values[0], str) else None,
        file=values[1] if isinstance(values[1], str) else None,
        names=tuple(str(n) for n in values[2]) if isinstance(values[2], list) else ())


def _module(facts: _ModuleFacts, release: Release | None) -> UpgraderModule | None:
    if not facts.imported:
        return None
    if "uart" not in facts.names:
        return module_by_version(facts.version, None)
    module = module_by_version(facts.version, release)
    if module is None:
        module = module_by_version(_FIRST_UART_MODULE, None)
    return module
