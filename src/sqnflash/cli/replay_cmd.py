"""`sqnflash replay`: run a recorded command again, against its capture played back as the modem."""

from __future__ import annotations

import hashlib
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import click

from sqnflash.cli.common import check_input_paths
from sqnflash.cli.invoke import run
from sqnflash.cli.output import console, emit_json
from sqnflash.errors import CaptureUnreadable, ReplayDiverged, ReplayFileMissing
from sqnflash.link.record import Capture, load_capture
from sqnflash.link.trace import render_capture
from sqnflash.sim.images import Family, ImageKind, make_image
from sqnflash.sim.replay import ReplaySimulator
from sqnflash.sim.simulator import forget, named

REPLAYABLE = ("info", "upgrade", "recover", "plan")
# Options of the recorded command line that replaying replaces or must not repeat.
_DROPPED = ("--port", "--record", "--record-redact", "--record-payloads", "--trace",
            "--trace-file", "--json", "--journal")


@dataclass
class ReplayOutcome:
    exit_code: int
    recorded_exit: int | None
    summary: dict[str, Any]
    simulator: ReplaySimulator

    @property
    def ok(self) -> bool:
        return self.problem() is None

    def problem(self) -> str | None:
        """Why today's run does not match the capture (None: it does)."""
        peer = self.simulator.peer
        capture = self.simulator.capture
        divergence = peer.divergence
        if divergence is not None and not (divergence.at_end and not capture.complete):
            return divergence.message
        if not capture.complete:
            if peer.finished:
                return None  # followed an interrupted capture as far as it goes
            nxt = next(r for r in peer.records[peer.pos:] if r.kind == "tx")
            return (f"today's client stopped (exit {self.exit_code}) before record {nxt.index} "
                    f"(line {nxt.line}), where the recorded host sent '{nxt.describe()}'")
        if self.exit_code != self.recorded_exit:
            return (f"today's run ended with exit code {self.exit_code}, the recorded run with "
                    f"{self.recorded_exit}")
        if not peer.finished:
            nxt = next(r for r in peer.records[peer.pos:] if r.kind == "tx")
            return (f"today's client ended the session before record {nxt.index} (line "
                    f"{nxt.line}), where the recorded host went on to send '{nxt.describe()}'")
        return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _synthetic(identity: dict[str, Any], scratch: Path | None) -> Path | None:
    """A synthetic image (`sqnflash demo`'s) made again from its recipe, if it is the one."""
    recipe = identity.get("synthetic")
    if not isinstance(recipe, dict) or scratch is None:
        return None
    try:
        data = make_image(ImageKind(recipe["kind"]), Family.CATM1, int(recipe["version"]),
                          source=recipe.get("source"), size=recipe.get("size"))
    except (KeyError, ValueError):
        return None
    if hashlib.sha256(data).hexdigest() != identity.get("sha256"):
        return None
    path = scratch / str(identity.get("name", "image.dup"))
    path.write_bytes(data)
    return path


def find_file(identity: dict[str, Any], folders: list[Path], base: Path,
              scratch: Path | None = None) -> Path:
    """The file a capture names, by SHA-256: at its recorded path, else in `folders`, else made
    again in `scratch` when it is a synthetic image the capture has the recipe of."""
    want, size = str(identity.get("sha256", "")), identity.get("size")
    recorded = Path(str(identity.get("path", "")))
    candidates = [recorded, base / recorded]
    for folder in folders:
        candidates.append(folder / str(identity.get("name", "")))
        candidates.extend(sorted(p for p in folder.rglob("*") if p.is_file()))
    seen: set[Path] = set()
    for path in candidates:
        try:
            if path in seen or not path.is_file() or path.stat().st_size != size:
                continue
        except OSError:
            continue
        seen.add(path)
        if _sha256(path) == want:
            return path
    made = _synthetic(identity, scratch)
    if made is not None:
        return made
    where = ", ".join(str(f) for f in folders) or "no folder given"
    raise ReplayFileMissing(f"the recorded run used {identity.get('name')} ({size} bytes, "
                            f"SHA-256 {want[:16]}...), found neither at {recorded} nor in {where}")


def replay_argv(capture: Capture, group: click.Group, *, port: str, folders: list[Path],
                journal: Path | None, scratch: Path | None = None) -> list[str]:
    """The recorded command line, with its port, files and journal replaced; `group` is the
    command table that runs it."""
    command = capture.command
    if not command or command[0] not in REPLAYABLE:
        raise CaptureUnreadable(f"{capture.path} records `sqnflash {' '.join(command[:1])}`: "
                                f"only {', '.join(REPLAYABLE)} can be replayed")
    click_command = group.commands[command[0]]
    flags = {opt for param in click_command.params if isinstance(param, click.Option)
             and param.is_flag for opt in (*param.opts, *param.secondary_opts)}
    base = capture.path.parent
    paths = {str(f.get("path")): str(find_file(f, folders, base, scratch))
             for f in capture.files}
    out = [command[0]]
    tokens = command[1:]
    i = 0
    while i < len(tokens):
        token = tokens[i]
        name = token.split("=", 1)[0]
        takes_value = name.startswith("-") and name not in flags and "=" not in token
        if name in _DROPPED or (name == "-p"):
            i += 2 if takes_value else 1
            continue
        out.append(paths.get(token, token))
        if takes_value and i + 1 < len(tokens):
            out.append(paths.get(tokens[i + 1], tokens[i + 1]))
            i += 1
        i += 1
    out[1:1] = ["--port", port]
    if journal is not None and any("--journal" in p.opts for p in click_command.params
                                   if isinstance(p, click.Option)):
        out[1:1] = ["--journal", str(journal)]
    return out


def run_replay(capture: Capture, group: click.Group, *, folders: list[Path],
               real_time: bool = False, trace: bool = False,
               as_json: bool = False) -> ReplayOutcome:
    """Run the recorded command against the capture (in this process, with `group`, the
    sqnflash command table) and compare."""
    name = f"replay-{uuid.uuid4().hex[:12]}"
    query = urlencode({"replay": str(capture.path.resolve()),
                       "clock": "real" if real_time else "virtual"})
    with tempfile.TemporaryDirectory(prefix="sqnflash-replay-") as folder:
        argv = replay_argv(capture, group, port=f"sim://{name}?{query}", folders=folders,
                           journal=Path(folder) / "journal.db", scratch=Path(folder))
        if trace:
            argv.insert(1, "--trace")
        if as_json:
            argv.insert(1, "--json")
        try:
            code = run(group, argv)
            sim = named(name)
        finally:
            forget(name)
    if not isinstance(sim, ReplaySimulator):
        raise ReplayDiverged(f"`sqnflash {' '.join(argv)}` never opened the replayed port "
                             f"(exit {code})")
    end = capture.end
    recorded = int(end.raw.get("exit", 0)) if end is not None else None
    return ReplayOutcome(code, recorded, sim.summary(), sim)


@click.command("replay")
@click.argument("capture_path", metavar="CAPTURE", type=click.Path(path_type=Path),
                callback=check_input_paths)
@click.option("--files", "folders", multiple=True, type=click.Path(path_type=Path),
              help="A folder holding the firmware files the recorded run used (found by "
                   "SHA-256; repeatable). Default: the paths the capture names.")
@click.option("--real-time", is_flag=True,
              help="Replay on the real clock, with the recorded delays (default: virtual time, "
                   "done at once).")
@click.option("--trace", is_flag=True, help="Print the replayed exchange to stderr.")
@click.option("--show", is_flag=True,
              help="Only print the capture as a wire trace (as --trace shows a run); run nothing.")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines output.")
def replay_cmd(capture_path: Path, folders: tuple[Path, ...], real_time: bool, trace: bool,
               show: bool, as_json: bool) -> None:
    """Run the command a capture (--record FILE) recorded again, against the capture played back
    as the modem, and say whether today's sqnflash still does what the recorded run did.

    Fails with SQF-E131 at the first request the capture does not contain (naming the request
    and the record), when the outcome differs, or when the client stops before the capture
    does. A capture of a run that was killed replays up to where it stops."""
    capture = load_capture(capture_path)
    if show:
        click.echo(f"# {capture.path.name}: sqnflash {capture.header.get('sqnflash')}, "
                   f"`sqnflash {' '.join(capture.command)}`")
        render_capture(capture.records, sys.stdout)
        return
    root = click.get_current_context().find_root().command
    assert isinstance(root, click.Group)  # replay is one of the table's commands
    outcome = run_replay(capture, root, folders=list(folders), real_time=real_time, trace=trace,
                         as_json=as_json)
    problem = outcome.problem()
    if problem is not None:
        raise ReplayDiverged(problem, details=outcome.summary)
    summary = outcome.summary
    if as_json:
        emit_json({"type": "replay", "ok": True, "exit_code": outcome.exit_code, **summary})
        return
    how = ("followed the interrupted capture to its end" if not capture.complete else
           f"same outcome as recorded (exit {outcome.exit_code})")
    console.print(f"\n[bold green]Replay OK[/]: {summary['requests_matched']} requests matched "
                  f"({summary['repeats']} repeats), {how}.")
