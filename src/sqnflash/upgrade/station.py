"""Upgrading many modems at once, as a production line or a lab refreshes a batch of boards.

Each port gets its own thread with its own Modem, link and journal record, and runs exactly what
a single `sqnflash upgrade` runs (the same checks, plan, flows and resume); the threads share
nothing but the event callback. One device failing never stops the others. Ctrl-C (the main
thread's) is passed on to every device thread as the KeyboardInterrupt a single run would get,
so each one stops as a single run does: before its point of no return it rolls back, after it
the modem is left where `recover` (or the same command) takes over, and its journal record says
which.

The work is I/O-bound: the threads spend their time waiting for the lines, so N modems take about
as long as the slowest one (bench/station.py measures it).
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqnflash.errors import InternalError, Interrupted, NothingToDo, SqnflashError
from sqnflash.events import Event, PlanReady, StepStarted
from sqnflash.upgrade.runner import UpgradeResult

UPGRADED, ALREADY, FAILED, INTERRUPTED = "upgraded", "already-done", "failed", "interrupted"
JOIN_POLL_S = 0.2  # how often the main thread wakes to notice Ctrl-C while devices work


@dataclass
class Device:
    """One port of the run, as it stands; filled in by its thread."""

    port: str
    imei: str | None = None
    step: str | None = None
    status: str = "waiting"  # then running, then one of UPGRADED, ALREADY, FAILED, INTERRUPTED
    before_build: int | None = None
    after_build: int | None = None
    error: SqnflashError | None = None
    result: UpgradeResult | None = None
    elapsed_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """The modem runs the image now (upgraded by this run, or already before it)."""
        return self.status in (UPGRADED, ALREADY)

    def to_dict(self) -> dict[str, Any]:
        error = self.error
        return {
            "port": self.port, "imei": self.imei, "status": self.status, "ok": self.ok,
            "before_build": self.before_build, "after_build": self.after_build,
            "elapsed_s": round(self.elapsed_s, 3),
            "error_code": error.code if error is not None and not self.ok else None,
            "error": error.cause if error is not None else None,
            "modem_state": error.modem_state if error is not None else None,
            "advice": error.hint if error is not None and not self.ok else None,
            "exit_code": error.exit_code if error is not None and not self.ok else 0,
        }


# The work of one device: upgrade the modem on device.port, reporting through the sink; it may
# fill in device.imei and builds where the events do not tell them (a modem already done).
Work = Callable[[Device, Callable[[Event], None]], UpgradeResult]
Observer = Callable[[Device, Event], None]


def _ignore(device: Device, event: Event) -> None:
    """No observer."""


def _track(device: Device, event: Event) -> None:
    if isinstance(event, PlanReady):
        before = event.before
        device.imei = before.get("imei") or device.imei
        device.before_build = before.get("software_build", device.before_build)
    elif isinstance(event, StepStarted):
        device.step = event.title


class Station:
    """`Station(ports, work, observe).run()` upgrades every port at once and returns one Device
    per port, in the order given."""

    def __init__(self, ports: Sequence[str], work: Work, observe: Observer = _ignore) -> None:
        self.devices = [Device(port) for port in ports]
        self._work = work
        self._observe = observe
        self._threads: list[threading.Thread] = []
        self._finished: list[threading.Event] = []
        self._stopped: set[int] = set()
        self.interrupted = False

    def _run_one(self, device: Device) -> None:
        def sink(event: Event) -> None:
            _track(device, event)
            self._observe(device, event)

        device.status = "running"
        start = time.monotonic()
        try:
            result = self._work(device, sink)
        except NothingToDo as exc:
            device.status, device.error = ALREADY, exc
            device.after_build = device.after_build or device.before_build
        except Interrupted as exc:
            device.status, device.error = INTERRUPTED, exc
        except KeyboardInterrupt as stop:  # arrived outside the runner (opening the port)
            device.status, device.error = INTERRUPTED, Interrupted.by(
                stop, modem_state="unchanged: the upgrade had not started")
        except SqnflashError as exc:
            device.status, device.error = FAILED, exc
        except Exception as exc:  # a bug in one device's run must not take the others down
            device.status = FAILED
            device.error = InternalError(f"{type(exc).__name__}: {exc}")
        else:
            device.status, device.result = UPGRADED, result
            device.imei = result.before.imei or result.after.imei or device.imei
            device.before_build = result.before.software_build
            device.after_build = result.after.software_build
        finally:
            device.elapsed_s = time.monotonic() - start
            self._observe(device, _Done())

    def run(self) -> list[Device]:
        self._finished = [threading.Event() for _ in self.devices]
        self._threads = [threading.Thread(target=self._guarded, args=(device, finished),
                                          name=f"upgrade {device.port}", daemon=True)
                         for device, finished in zip(self.devices, self._finished, strict=True)]
        for thread in self._threads:
            thread.start()
        while True:
            try:
                self._wait()
                break
            except KeyboardInterrupt:
                # Every device is stopped once; a second Ctrl-C does not abandon a modem
                # half-way through its rollback: the wait goes on.
                self.stop()
        return self.devices

    def _guarded(self, device: Device, finished: threading.Event) -> None:
        try:
            self._run_one(device)
        except KeyboardInterrupt as stop:  # arrived just as the device's run ended
            if device.status == "running":
                device.status, device.error = INTERRUPTED, Interrupted.by(stop)
        finally:
            finished.set()

    def _wait(self) -> None:
        # Events rather than Thread.join: a signal landing inside join() must not leave a
        # thread looking finished while it still works.
        for finished in self._finished:
            while not finished.wait(JOIN_POLL_S):
                pass

    def stop(self) -> None:
        """Ctrl-C for every device still working, once each (also from another thread)."""
        self.interrupted = True
        for thread, finished in zip(self._threads, self._finished, strict=True):
            if finished.is_set() or thread.ident is None or thread.ident in self._stopped:
                continue
            self._stopped.add(thread.ident)
            _raise_in(thread.ident, KeyboardInterrupt)


class _Done(Event):
    """A device's run ended (its Device says how); for the observer only."""

    kind = "device-finished"


def _raise_in(thread_id: int, kind: type[BaseException]) -> None:
    """Raise `kind` in another thread at its next bytecode, as a signal does in the main one
    (a thread blocked in a read gets it when the read returns: within the port's timeout)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(kind))


def is_done(event: Event) -> bool:
    return isinstance(event, _Done)
