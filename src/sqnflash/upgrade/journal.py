"""The upgrade journal: what every upgrade did, so that an interrupted one continues where it
stopped and `sqnflash history` can list them.

One SQLite file (the standard library's sqlite3): `--journal PATH`, else `$SQNFLASH_JOURNAL`, else
`$XDG_STATE_HOME/sqnflash/journal.db` (`~/.local/state/sqnflash/journal.db`). One row per upgrade:
the modem (`imei:<IMEI>` where readable, else `port:<port>`), the image's SHA-256, the plan, the
steps completed, the transfer checkpoint (the confirmed byte offset and the STP request to send
next), the outcome, timestamps and the id of the process that runs it.

Every way a run ends writes its outcome (the runner journals errors, Ctrl-C and SIGTERM as
`failed` or `interrupted`); only a process killed outright (SIGKILL, a power cut) leaves `running`
behind, and a record whose process no longer exists is reported as `interrupted`.

It is written after every step and every STP exchange, each write its own transaction in WAL mode:
a process killed at any moment leaves a consistent journal behind, at most one exchange old, which
is exactly what continuing a transfer needs (see modem/transfer.py).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqnflash.errors import JournalError
from sqnflash.link.lock import pid_alive, state_dir
from sqnflash.protocol.stp import Checkpoint

ENV_VAR = "SQNFLASH_JOURNAL"
SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 5.0  # two sqnflash processes on two modems share one journal
# Outcomes: running (in progress, or the process was killed), completed, failed, interrupted
# (Ctrl-C, SIGTERM, the port went away), superseded (a later upgrade of the same modem started over
# instead of continuing).
UNFINISHED = ("running", "failed", "interrupted")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS upgrades (
    id INTEGER PRIMARY KEY,
    modem TEXT NOT NULL,
    imei TEXT,
    port TEXT NOT NULL,
    image_name TEXT NOT NULL,
    image_sha256 TEXT NOT NULL,
    image_size INTEGER NOT NULL,
    updater_sha256 TEXT,
    flow TEXT NOT NULL,
    method TEXT NOT NULL,
    steps TEXT NOT NULL,
    plan TEXT NOT NULL,
    before TEXT NOT NULL,
    after TEXT,
    completed TEXT NOT NULL DEFAULT '[]',
    current_step TEXT,
    transfer_step TEXT,
    transfer TEXT,
    transfer_baud INTEGER,
    confirmed_offset INTEGER,
    outcome TEXT NOT NULL DEFAULT 'running',
    error_code TEXT,
    error TEXT,
    modem_state TEXT,
    resumes INTEGER NOT NULL DEFAULT 0,
    started_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    finished_at REAL,
    pid INTEGER
);
CREATE INDEX IF NOT EXISTS upgrades_by_modem ON upgrades (modem, outcome);
CREATE INDEX IF NOT EXISTS upgrades_by_port ON upgrades (port, outcome);
"""


def default_path() -> Path:
    """`$SQNFLASH_JOURNAL`, else the XDG state directory."""
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        return Path(explicit).expanduser()
    return state_dir() / "journal.db"


def modem_key(imei: str | None, port: str) -> str:
    return f"imei:{imei}" if imei else f"port:{port}"


@dataclass
class UpgradeRecord:
    """One row of the journal, decoded."""

    id: int
    modem: str
    imei: str | None
    port: str
    image_name: str
    image_sha256: str
    image_size: int
    updater_sha256: str | None
    flow: str
    method: str
    steps: list[str]
    plan: dict[str, Any]
    before: dict[str, Any]
    after: dict[str, Any] | None
    completed: list[str]
    current_step: str | None
    transfer_step: str | None
    transfer: Checkpoint | None
    transfer_baud: int | None
    confirmed_offset: int | None
    outcome: str
    error_code: str | None
    error: str | None
    modem_state: str | None
    resumes: int
    started_at: float
    updated_at: float
    finished_at: float | None
    pid: int | None = None  # the process that runs (or ran) it
    journal: Journal | None = field(default=None, repr=False, compare=False)

    @property
    def unfinished(self) -> bool:
        return self.outcome in UNFINISHED

    @property
    def process_gone(self) -> bool:
        """Journaled as running, but its process no longer exists: it was killed (SIGKILL, a
        power cut) before it could write its outcome."""
        return self.outcome == "running" and self.pid is not None and not pid_alive(self.pid)

    @property
    def outcome_now(self) -> str:
        """The outcome as it stands: a run whose process is gone is `interrupted`."""
        return "interrupted" if self.process_gone else self.outcome

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "modem": self.modem, "imei": self.imei, "port": self.port,
            "image": self.image_name, "image_sha256": self.image_sha256,
            "image_size": self.image_size, "flow": self.flow, "method": self.method,
            "steps": self.steps, "completed": self.completed, "current_step": self.current_step,
            "confirmed_offset": self.confirmed_offset, "outcome": self.outcome_now,
            "error_code": self.error_code, "error": self.error, "modem_state": self.modem_state,
            "resumes": self.resumes, "started_at": _iso(self.started_at),
            "updated_at": _iso(self.updated_at),
            "finished_at": _iso(self.finished_at) if self.finished_at else None,
            "before_build": self.before.get("software_build"),
            "after_build": (self.after or {}).get("software_build"),
            "pid": self.pid,
            **({"stopped": f"process {self.pid} ended without recording an outcome (killed)"}
               if self.process_gone else {}),
        }

    # ------------------------------------------------------------------ progress
    def _update(self, **values: Any) -> None:
        if self.journal is not None:
            self.journal.update(self.id, **values)

    def step_started(self, step: str) -> None:
        self.current_step = step
        self._update(current_step=step)

    def step_done(self, step: str) -> None:
        if step not in self.completed:
            self.completed.append(step)
        if self.transfer_step == step:
            self.transfer, self.transfer_step = None, None
            self._update(completed=json.dumps(self.completed), transfer=None, transfer_step=None)
        else:
            self._update(completed=json.dumps(self.completed))

    def step_undone(self, step: str) -> None:
        """A step to be run again (the modem lost what it did)."""
        if step in self.completed:
            self.completed.remove(step)
            self._update(completed=json.dumps(self.completed))

    def checkpoint(self, step: str, point: Checkpoint, baud: int) -> None:
        self.transfer_step, self.transfer, self.transfer_baud = step, point, baud
        self.confirmed_offset = point.offset
        self._update(transfer_step=step, transfer=json.dumps(point.to_dict()),
                     transfer_baud=baud, confirmed_offset=point.offset)

    def forget_transfer(self) -> None:
        self.transfer, self.transfer_step = None, None
        self._update(transfer=None, transfer_step=None)

    def finish(self, outcome: str, *, error: Any = None, after: dict[str, Any] | None = None
               ) -> None:
        self.outcome = outcome
        values: dict[str, Any] = {"outcome": outcome, "finished_at": time.time()}
        if after is not None:
            self.after = after
            values["after"] = json.dumps(after)
        if error is not None:
            self.error_code, self.error = error.code, error.cause
            self.modem_state = error.modem_state
            values.update(error_code=error.code, error=error.cause,
                          modem_state=error.modem_state)
        self._update(**values)


def _iso(stamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(stamp))


def _row_to_record(row: sqlite3.Row, journal: Journal) -> UpgradeRecord:
    transfer = json.loads(row["transfer"]) if row["transfer"] else None
    return UpgradeRecord(
        id=row["id"], modem=row["modem"], imei=row["imei"], port=row["port"],
        image_name=row["image_name"], image_sha256=row["image_sha256"],
        image_size=row["image_size"], updater_sha256=row["updater_sha256"], flow=row["flow"],
        method=row["method"], steps=json.loads(row["steps"]), plan=json.loads(row["plan"]),
        before=json.loads(row["before"]),
        after=json.loads(row["after"]) if row["after"] else None,
        completed=json.loads(row["completed"]), current_step=row["current_step"],
        transfer_step=row["transfer_step"],
        transfer=Checkpoint.from_dict(transfer) if transfer else None,
        transfer_baud=row["transfer_baud"], confirmed_offset=row["confirmed_offset"],
        outcome=row["outcome"], error_code=row["error_code"], error=row["error"],
        modem_state=row["modem_state"], resumes=row["resumes"], started_at=row["started_at"],
        updated_at=row["updated_at"], finished_at=row["finished_at"], pid=row["pid"],
        journal=journal)


class Journal:
    """An open journal file. `Journal.open(path)`; `close()` or use as a context manager."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    @classmethod
    def open(cls, path: Path | str | None = None) -> Journal:
        target = Path(path).expanduser() if path is not None else default_path()
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(target, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL: a killed process loses nothing
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                db.close()
                raise JournalError(
                    f"{target} was written by a newer sqnflash (journal version {version})",
                    advice="Upgrade sqnflash, or pass --journal with another file.")
            db.executescript(_SCHEMA)
            columns = {row[1] for row in db.execute("PRAGMA table_info(upgrades)")}
            if "pid" not in columns:  # a journal written before runs recorded their process
                try:
                    db.execute("ALTER TABLE upgrades ADD COLUMN pid INTEGER")
                except sqlite3.OperationalError as exc:
                    if "duplicate column" not in str(exc):  # another process just added it
                        raise
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except (sqlite3.Error, OSError) as exc:
            raise JournalError(f"cannot use the journal {target}: {exc}") from exc
        return cls(db, target)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _guard(self) -> Iterator[sqlite3.Connection]:
        try:
            yield self._db
        except sqlite3.Error as exc:
            raise JournalError(f"the journal {self.path} cannot be written: {exc}") from exc

    # ------------------------------------------------------------------ writing
    def begin(self, *, imei: str | None, port: str, image_name: str, image_sha256: str,
              image_size: int, updater_sha256: str | None, flow: str, method: str,
              steps: list[str], plan: dict[str, Any], before: dict[str, Any]) -> UpgradeRecord:
        """A new upgrade; earlier unfinished ones of the same modem are marked superseded."""
        now = time.time()
        key = modem_key(imei, port)
        with self._guard() as db:
            db.execute("UPDATE upgrades SET outcome='superseded', updated_at=? "
                       "WHERE (modem=? OR port=?) AND outcome IN ('running','failed',"
                       "'interrupted')", (now, key, port))
            cursor = db.execute(
                "INSERT INTO upgrades (modem, imei, port, image_name, image_sha256, image_size, "
                "updater_sha256, flow, method, steps, plan, before, started_at, updated_at, pid) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (key, imei, port, image_name, image_sha256, image_size, updater_sha256, flow,
                 method, json.dumps(steps), json.dumps(plan, default=str),
                 json.dumps(before), now, now, os.getpid()))
            row_id = cursor.lastrowid
        assert row_id is not None
        record = self.get(row_id)
        assert record is not None
        return record

    def resume(self, record: UpgradeRecord, *, port: str, imei: str | None) -> UpgradeRecord:
        """Continue `record`: it is running again (from this port)."""
        key = modem_key(imei or record.imei, port)
        with self._guard() as db:
            db.execute("UPDATE upgrades SET outcome='running', resumes=resumes+1, port=?, "
                       "modem=?, imei=COALESCE(?, imei), finished_at=NULL, updated_at=?, pid=? "
                       "WHERE id=?", (port, key, imei, time.time(), os.getpid(), record.id))
        fresh = self.get(record.id)
        assert fresh is not None
        return fresh

    def update(self, row_id: int, **values: Any) -> None:
        names = ", ".join(f"{name}=?" for name in values)
        with self._guard() as db:
            db.execute(f"UPDATE upgrades SET {names}, updated_at=? WHERE id=?",
                       (*values.values(), time.time(), row_id))

    # ------------------------------------------------------------------ reading
    def get(self, row_id: int) -> UpgradeRecord | None:
        with self._guard() as db:
            row = db.execute("SELECT * FROM upgrades WHERE id=?", (row_id,)).fetchone()
        return _row_to_record(row, self) if row else None

    def unfinished(self, *, image_sha256: str, port: str,
                   imei: str | None = None) -> UpgradeRecord | None:
        """The latest unfinished upgrade to this image of this modem (by IMEI when known, else
        by port), if any."""
        clauses, args = ["image_sha256=?", "outcome IN ('running','failed','interrupted')"], \
            [image_sha256]
        if imei:
            clauses.append("(imei=? OR (imei IS NULL AND port=?))")
            args += [imei, port]
        else:
            clauses.append("port=?")
            args.append(port)
        with self._guard() as db:
            row = db.execute(f"SELECT * FROM upgrades WHERE {' AND '.join(clauses)} "
                             "ORDER BY updated_at DESC, id DESC LIMIT 1", args).fetchone()
        return _row_to_record(row, self) if row else None

    def history(self, *, imei: str | None = None, limit: int = 100) -> list[UpgradeRecord]:
        """Upgrades, newest first; only those of one modem with `imei`."""
        query, args = "SELECT * FROM upgrades", []
        if imei:
            query += " WHERE imei=?"
            args.append(imei)
        query += " ORDER BY started_at DESC, id DESC LIMIT ?"
        args.append(str(limit))
        with self._guard() as db:
            rows = db.execute(query, args).fetchall()
        return [_row_to_record(row, self) for row in rows]
