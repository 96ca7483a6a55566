"""The upgrade workflow: plan the steps from what the modem and the files are, then run them."""

from __future__ import annotations

from sqnflash.errors import NothingToDo
from sqnflash.events import EventSink, discard
from sqnflash.firmware import FirmwareFile
from sqnflash.modem import Modem, ModemInfo
from sqnflash.upgrade.plan import Flow, Method, Plan, Step, make_plan
from sqnflash.upgrade.runner import Runner, Settings, UpgradeResult

__all__ = ["Flow", "Method", "Plan", "Runner", "Settings", "Step", "UpgradeResult", "make_plan",
           "plan_upgrade", "upgrade"]


def plan_upgrade(modem: Modem, image: FirmwareFile, *, updater: FirmwareFile | None = None,
                 bootrom: FirmwareFile | None = None, method: Method | None = None,
                 force: bool = False) -> tuple[ModemInfo, Plan]:
    """Wake the modem, read its state and plan; nothing on the modem is changed."""
    modem.wake()
    info = modem.info()
    if (not force and info.in_application and image.build is not None
            and info.software_build == image.build):
        raise NothingToDo(f"the modem already runs build {image.build}",
                          modem_state="unchanged")
    return info, make_plan(info, image, updater=updater, bootrom=bootrom, method=method)


def upgrade(modem: Modem, image: FirmwareFile, *, updater: FirmwareFile | None = None,
            bootrom: FirmwareFile | None = None, method: Method | None = None,
            settings: Settings | None = None, force: bool = False,
            emit: EventSink = discard) -> UpgradeResult:
    """Take the modem from whatever state it is in to `image`."""
    modem.emit = emit  # the driver's own notes (fallbacks, baud changes) go to the same place
    info, plan = plan_upgrade(modem, image, updater=updater, bootrom=bootrom, method=method,
                              force=force)
    return Runner(modem, plan, info, emit=emit, settings=settings).run()
