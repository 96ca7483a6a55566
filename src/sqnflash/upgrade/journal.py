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

A production line shares one journal between its stations: `postgresql://user@host/db` (as
`--journal` or `$SQNFLASH_JOURNAL`) keeps the same table in PostgreSQL, through psycopg 3 (the
`postgres` extra). Both back ends get the same schema and the same migrations on first use; each
row says which station (`--station`, default: the host name) ran the upgrade. Every write is one
transaction on the row of its own upgrade, so stations writing at once never lose or interleave
a record.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqnflash.errors import (
    JournalDriverMissing,
    JournalError,
    JournalUnreachable,
    SqnflashError,
)
from sqnflash.link.lock import pid_alive, state_dir
from sqnflash.protocol.stp import Checkpoint

ENV_VAR = "SQNFLASH_JOURNAL"
STATION_ENV_VAR = "SQNFLASH_STATION"
URL_SCHEMES = ("postgresql://", "postgres://")
SCHEMA_VERSION = 3  # 2: the station column; 3: the line column
BUSY_TIMEOUT_S = 5.0  # two sqnflash processes on two modems share one journal
OPEN_RETRY_S = 0.05  # a journal another connection is setting up is tried again this soon
_OPENING = threading.Lock()  # a station's device threads set a journal up one at a time
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
    pid INTEGER,
    station TEXT,
    line TEXT
);
CREATE INDEX IF NOT EXISTS upgrades_by_modem ON upgrades (modem, outcome);
CREATE INDEX IF NOT EXISTS upgrades_by_port ON upgrades (port, outcome);
"""
# Columns added after the first release, each by one migration: (column, SQL type).
_ADDED_COLUMNS = (("pid", "INTEGER"), ("station", "TEXT"), ("line", "TEXT"))
_PG_LOCK = 0x5351_4E46  # 'SQNF': one station at a time creates or migrates the schema


def _pg_schema() -> str:
    """The same table in PostgreSQL's words: 64-bit ids and times as double precision."""
    return (_SCHEMA.replace("id INTEGER PRIMARY KEY", "id BIGSERIAL PRIMARY KEY")
            .replace(" REAL", " DOUBLE PRECISION"))


def is_url(target: object) -> bool:
    """A PostgreSQL journal (`postgresql://...`) rather than an SQLite file."""
    return isinstance(target, str) and target.strip().lower().startswith(URL_SCHEMES)


def default_station() -> str:
    """`$SQNFLASH_STATION`, else this computer's host name."""
    return os.environ.get(STATION_ENV_VAR, "").strip() or socket.gethostname() or "unknown"


def shown(target: Path | str) -> str:
    """A journal's name for messages: a URL without its password."""
    text = str(target)
    if not is_url(text):
        return text
    scheme, _, rest = text.partition("://")
    creds, at, host = rest.rpartition("@")
    if at and ":" in creds:
        creds = creds.split(":", 1)[0] + ":***"
    return f"{scheme}://{creds}{at}{host}"


def default_path() -> Path:
    """`$SQNFLASH_JOURNAL` (a file), else the XDG state directory."""
    explicit = os.environ.get(ENV_VAR)
    if explicit and not is_url(explicit):
        return Path(explicit).expanduser()
    return state_dir() / "journal.db"


def default_target() -> Path | str:
    """`$SQNFLASH_JOURNAL` (a file or a postgresql:// URL), else the XDG state directory."""
    explicit = os.environ.get(ENV_VAR, "").strip()
    return explicit if is_url(explicit) else default_path()


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
    station: str | None = None  # the computer (or name given with --station) that runs it
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
            "pid": self.pid, "station": self.station,
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

    def remember_line(self, facts: dict[str, Any]) -> None:
        """What the line to this modem carried (rates that failed, the block size it took), for
        the next run on the same modem (`Journal.line_memory`)."""
        self._update(line=json.dumps(facts))

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


def _row_to_record(row: Mapping[str, Any], journal: Journal) -> UpgradeRecord:
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
        station=row["station"], journal=journal)


class _Database:
    """One connection, SQLite or PostgreSQL, behind the few calls the journal makes: statements
    are written once with `?` placeholders, rows come back as mappings."""

    def __init__(self, connection: Any, *, postgres: bool, errors: tuple[type[BaseException], ...]
                 ) -> None:
        self.connection = connection
        self.postgres = postgres
        self.errors = errors
        # A station's device threads share one journal: one connection is one transaction at a
        # time, so each statement, and each transaction whole, has it to itself.
        self._turn = threading.RLock()

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.postgres else sql

    def execute(self, sql: str, args: Sequence[Any] = ()) -> list[Mapping[str, Any]]:
        with self._turn:
            cursor = self.connection.execute(self._sql(sql), tuple(args))
            if cursor.description is None:
                return []
            return list(cursor.fetchall())

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Statements that stand or fall together (a new upgrade and what it supersedes)."""
        with self._turn:
            if self.postgres:
                with self.connection.transaction():
                    yield
                return
            self.connection.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.connection.execute("ROLLBACK")
                raise
            self.connection.execute("COMMIT")

    def close(self) -> None:
        self.connection.close()


def _open_sqlite(target: Path) -> _Database:
    target.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(target, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                         check_same_thread=False)
    db.row_factory = sqlite3.Row
    # Setting a journal up writes to it (WAL mode, schema, migrations). SQLite answers "database
    # is locked" at once, without waiting, to some of these when another connection does the
    # same (a station's device threads, two stations starting together): the threads of one
    # process take turns, and other processes are waited for.
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    try:
        with _OPENING:
            while True:
                try:
                    _set_up(db, target)
                    break
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or time.monotonic() > deadline:
                        raise
                    time.sleep(OPEN_RETRY_S)
    except BaseException:
        db.close()
        raise
    return _Database(db, postgres=False, errors=(sqlite3.Error,))


def _set_up(db: sqlite3.Connection, target: Path) -> None:
    """WAL mode, then the schema and its migrations unless the journal has them already."""
    if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")  # WAL: a killed process loses nothing
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise JournalError(
            f"{target} was written by a newer sqnflash (journal version {version})",
            advice="Upgrade sqnflash, or pass --journal with another file.")
    columns = {row[1] for row in db.execute("PRAGMA table_info(upgrades)")}
    if version == SCHEMA_VERSION and {name for name, _ in _ADDED_COLUMNS} <= columns:
        return  # set up already: nothing to write
    db.executescript(_SCHEMA)
    columns = {row[1] for row in db.execute("PRAGMA table_info(upgrades)")}
    for name, kind in _ADDED_COLUMNS:
        if name in columns:
            continue
        try:  # a journal written before this column existed
            db.execute(f"ALTER TABLE upgrades ADD COLUMN {name} {kind}")
        except sqlite3.OperationalError as exc:
            if "duplicate column" not in str(exc):  # another process just added it
                raise
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")


def _open_postgres(url: str) -> _Database:
    try:
        import psycopg
        from psycopg.rows import dict_row
    except ImportError as exc:
        raise JournalDriverMissing(
            f"--journal {shown(url)}: the PostgreSQL driver (psycopg 3) is not installed") from exc
    try:
        connection = psycopg.connect(url, autocommit=True, row_factory=dict_row,
                                     connect_timeout=10)
    except psycopg.Error as exc:
        raise JournalUnreachable(f"cannot connect to the journal {shown(url)}: "
                                 f"{str(exc).strip().splitlines()[0] if str(exc) else exc}"
                                 ) from exc
    db = _Database(connection, postgres=True, errors=(psycopg.Error,))
    try:
        with db.transaction():
            # Stations starting at once: one creates or migrates, the others wait and find it.
            db.execute("SELECT pg_advisory_xact_lock(?)", (_PG_LOCK,))
            db.execute("CREATE TABLE IF NOT EXISTS sqnflash_schema (version INTEGER NOT NULL)")
            rows = db.execute("SELECT version FROM sqnflash_schema")
            version = int(rows[0]["version"]) if rows else 0
            if version > SCHEMA_VERSION:
                raise JournalError(
                    f"{shown(url)} was written by a newer sqnflash (journal version {version})",
                    advice="Upgrade sqnflash on this station.")
            for statement in _pg_schema().split(";"):
                if statement.strip():
                    db.execute(statement)
            for name, kind in _ADDED_COLUMNS:
                db.execute(f"ALTER TABLE upgrades ADD COLUMN IF NOT EXISTS {name} {kind}")
            if not rows:
                db.execute("INSERT INTO sqnflash_schema (version) VALUES (?)", (SCHEMA_VERSION,))
            elif version < SCHEMA_VERSION:
                db.execute("UPDATE sqnflash_schema SET version=?", (SCHEMA_VERSION,))
    except BaseException:
        db.close()
        raise
    return db


class Journal:
    """An open journal: `Journal.open(path or URL)`; `close()` or use as a context manager."""

    def __init__(self, database: _Database, path: Path | str, *,
                 station: str | None = None) -> None:
        self._db = database
        self.path = path
        self.station = station or default_station()

    @property
    def where(self) -> str:
        """The journal's name for messages (a URL without its password)."""
        return shown(self.path)

    @classmethod
    def open(cls, path: Path | str | None = None, *, station: str | None = None) -> Journal:
        if is_url(path):
            url = str(path).strip()
            try:
                return cls(_open_postgres(url), url, station=station)
            except SqnflashError:
                raise
            except Exception as exc:  # psycopg's errors, without importing it here
                raise JournalError(f"cannot use the journal {shown(url)}: {exc}") from exc
        if path is None and is_url(os.environ.get(ENV_VAR, "").strip()):
            return cls.open(default_target(), station=station)
        target = Path(path).expanduser() if path is not None else default_path()
        try:
            database = _open_sqlite(target)
        except (sqlite3.Error, OSError) as exc:
            raise JournalError(f"cannot use the journal {target}: {exc}") from exc
        return cls(database, target, station=station)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _guard(self) -> Iterator[_Database]:
        try:
            yield self._db
        except self._db.errors as exc:
            raise JournalError(f"the journal {self.where} cannot be written: {exc}") from exc

    # ------------------------------------------------------------------ writing
    def begin(self, *, imei: str | None, port: str, image_name: str, image_sha256: str,
              image_size: int, updater_sha256: str | None, flow: str, method: str,
              steps: list[str], plan: dict[str, Any], before: dict[str, Any]) -> UpgradeRecord:
        """A new upgrade; earlier unfinished ones of the same modem are marked superseded."""
        now = time.time()
        key = modem_key(imei, port)
        with self._guard() as db, db.transaction():
            # The port alone identifies a modem only at this station: another station's
            # /dev/ttyUSB0 is another modem.
            here = "(port=? AND (station IS NULL OR station=?))"
            which, args = ((f"(modem=? OR {here})", (key, port, self.station)) if imei
                           else (here, (port, self.station)))
            db.execute(f"UPDATE upgrades SET outcome='superseded', updated_at=? WHERE {which} "
                       "AND outcome IN ('running','failed','interrupted')", (now, *args))
            rows = db.execute(
                "INSERT INTO upgrades (modem, imei, port, image_name, image_sha256, image_size, "
                "updater_sha256, flow, method, steps, plan, before, started_at, updated_at, pid, "
                "station) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
                (key, imei, port, image_name, image_sha256, image_size, updater_sha256, flow,
                 method, json.dumps(steps), json.dumps(plan, default=str),
                 json.dumps(before), now, now, os.getpid(), self.station))
            row_id = int(rows[0]["id"])
        record = self.get(row_id)
        assert record is not None
        return record

    def resume(self, record: UpgradeRecord, *, port: str, imei: str | None) -> UpgradeRecord:
        """Continue `record`: it is running again (from this port)."""
        key = modem_key(imei or record.imei, port)
        with self._guard() as db:
            db.execute("UPDATE upgrades SET outcome='running', resumes=resumes+1, port=?, "
                       "modem=?, imei=COALESCE(?, imei), finished_at=NULL, updated_at=?, pid=?, "
                       "station=? WHERE id=?",
                       (port, key, imei, time.time(), os.getpid(), self.station, record.id))
        fresh = self.get(record.id)
        assert fresh is not None
        return fresh

    def update(self, row_id: int, **values: Any) -> None:
        names = ", ".join(f"{name}=?" for name in values)
        with self._guard() as db:
            db.execute(f"UPDATE upgrades SET {names}, updated_at=? WHERE id=?",
                       (*values.values(), time.time(), row_id))

    # ------------------------------------------------------------------ reading
    def line_memory(self, imei: str | None, port: str) -> dict[str, Any]:
        """The line facts the last run on this modem (by IMEI; without one, by port) recorded
        ({} if none)."""
        with self._guard() as db:
            rows = db.execute("SELECT line FROM upgrades WHERE modem=? AND line IS NOT NULL "
                              "ORDER BY id DESC LIMIT 1", (modem_key(imei, port),))
        if not rows:
            return {}
        try:
            facts = json.loads(rows[0]["line"])
        except (TypeError, ValueError):
            return {}
        return facts if isinstance(facts, dict) else {}

    def get(self, row_id: int) -> UpgradeRecord | None:
        with self._guard() as db:
            rows = db.execute("SELECT * FROM upgrades WHERE id=?", (row_id,))
        return _row_to_record(rows[0], self) if rows else None

    def unfinished(self, *, image_sha256: str, port: str,
                   imei: str | None = None) -> UpgradeRecord | None:
        """The latest unfinished upgrade to this image of this modem (by IMEI when known, else
        by port), if any."""
        clauses, args = ["image_sha256=?", "outcome IN ('running','failed','interrupted')"], \
            [image_sha256]
        # A port names a modem at one station only (records from before stations: any).
        here = "(station IS NULL OR station=?)"
        if imei:
            clauses.append(f"(imei=? OR (imei IS NULL AND port=? AND {here}))")
            args += [imei, port, self.station]
        else:
            clauses.append(f"port=? AND {here}")
            args += [port, self.station]
        with self._guard() as db:
            rows = db.execute(f"SELECT * FROM upgrades WHERE {' AND '.join(clauses)} "
                              "ORDER BY updated_at DESC, id DESC LIMIT 1", args)
        return _row_to_record(rows[0], self) if rows else None

    def held_session(self, port: str) -> UpgradeRecord | None:
        """The latest unfinished upgrade on `port` (at this station) whose transfer the modem
        may still hold open: continuing it needs that session left as it is."""
        with self._guard() as db:
            rows = db.execute(
                "SELECT * FROM upgrades WHERE outcome IN ('running','failed','interrupted') "
                "AND port=? AND (station IS NULL OR station=?) AND transfer IS NOT NULL "
                "ORDER BY updated_at DESC, id DESC LIMIT 1", (port, self.station))
        record = _row_to_record(rows[0], self) if rows else None
        if record is None or record.transfer is None or not record.transfer.in_session:
            return None
        return record

    def history(self, *, imei: str | None = None, limit: int | None = 100,
                since: float | None = None, outcome: str | None = None,
                station: str | None = None) -> list[UpgradeRecord]:
        """Upgrades, newest first: only those of the modem with `imei`, started at or after
        `since` (a Unix time), with that `outcome` (as it stands: a killed run is
        `interrupted`), run at `station`."""
        clauses: list[str] = []
        args: list[Any] = []
        for clause, value in (("imei=?", imei), ("started_at>=?", since),
                              ("station=?", station)):
            if value is not None:
                clauses.append(clause)
                args.append(value)
        if outcome in ("running", "interrupted"):  # both may be a run whose process is gone
            clauses.append("outcome IN ('running','interrupted')")
        elif outcome is not None:
            clauses.append("outcome=?")
            args.append(outcome)
        query = "SELECT * FROM upgrades"
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        query += " ORDER BY started_at DESC, id DESC"
        with self._guard() as db:
            rows = db.execute(query, args)
        records = [_row_to_record(row, self) for row in rows]
        if outcome is not None:
            records = [r for r in records if r.outcome_now == outcome]
        return records if limit is None else records[:limit]

    def builds(self, *, station: str | None = None) -> list[tuple[str, int]]:
        """How many modems run which build, as far as the journal knows: each modem (by IMEI)
        counts once, with the build its latest completed upgrade installed; most common
        first."""
        query, args = ("SELECT imei, image_name, after, finished_at FROM upgrades "
                       "WHERE outcome='completed' AND imei IS NOT NULL", [])
        if station is not None:
            query += " AND station=?"
            args.append(station)
        with self._guard() as db:
            rows = db.execute(query + " ORDER BY finished_at, id", args)
        latest: dict[str, str] = {}
        for row in rows:
            after = json.loads(row["after"]) if row["after"] else {}
            build = after.get("software_build")
            latest[row["imei"]] = str(build) if build is not None else f"? ({row['image_name']})"
        counts: dict[str, int] = {}
        for build in latest.values():
            counts[build] = counts.get(build, 0) + 1
        return sorted(counts.items(), key=lambda item: (-item[1], item[0]))
