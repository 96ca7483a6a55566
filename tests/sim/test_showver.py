"""showver's boot loader lines follow the flash (docs/protocol.md §4): Bootloader0 is the
bootrom and changes only when a bootrom package is flashed; an upgrade writes the boot loader
slot (1 or 2) that is not active and moves the `*` to it."""

from __future__ import annotations

import pytest

from sqnflash.sim.images import Family, ImageKind
from tests.support import host
from tests.support.host import OpenPort

FAST = "reboot_s=0.5&apply_s=2&updater_load_s=0.5"


def bootloaders(rows: dict[str, str]) -> list[str]:
    return [f"{name}: {value}" for name, value in rows.items() if name.startswith("Bootloader")]


def test_a_modem_on_36417_still_shows_the_factory_bootrom(open_port: OpenPort) -> None:
    port = open_port("version=36417")
    assert bootloaders(host.showver(port)) == ["Bootloader0: 5.1.1.0 [33080]",
                                               "Bootloader1*: 5.1.1.0 [36417]",
                                               "Bootloader2: 5.1.1.0 [36417]"]
    assert host.command(port, "AT+SMSWBOOT=0,0") == b"\r\nERROR\r\n"  # the factory bootrom's limit


def test_an_upgrade_writes_the_other_slot_and_keeps_bootloader0(open_port: OpenPort) -> None:
    port = open_port(f"version=36417&{FAST}")
    assert host.store_and_apply(port, host.image(ImageKind.FULL, size=host.SMALL))[-1] == "success"
    host.read_until(port, b"+SYSSTART\r\n")
    rows = host.showver(port)
    assert bootloaders(rows) == ["Bootloader0: 5.1.1.0 [33080]",
                                 "Bootloader1: 5.1.1.0 [36417]",
                                 f"Bootloader2*: 5.1.1.0 [{host.TO}]"]
    assert rows["Software"].startswith(f"5.1.1.0 [{host.TO}] by robot-soft")


def test_a_family_switch_shows_each_slot_with_its_own_version(open_port: OpenPort) -> None:
    # As observed after NB1-41019 over CAT-M1 41065: Bootloader1 6.0.0.0 [41019] (*),
    # Bootloader2 5.1.1.0 [41065].
    port = open_port(f"version={host.FROM}&{FAST}")
    nb1 = host.image(ImageKind.FULL, Family.NB1, size=host.SMALL)
    assert host.store_and_apply(port, nb1)[-1] == "success"
    host.read_until(port, b"+SYSSTART\r\n")
    rows = host.showver(port)
    assert bootloaders(rows) == [f"Bootloader0: 5.1.1.0 [{host.FROM}]",
                                 f"Bootloader1: 5.1.1.0 [{host.FROM}]",
                                 f"Bootloader2*: 6.0.0.0 [{host.TO}]"]
    assert rows["UE"] == "6.0.0.0"


@pytest.mark.parametrize(("where", "active"), [("app", "Bootloader1*"),
                                               ("recovery", "Bootloader2*")])
def test_the_first_upgrade_of_a_factory_modem_writes_both_slots(
        open_port: OpenPort, where: str, active: str) -> None:
    # Observed after CATM1-38638: the normal method starts slot 1, the recovery method slot 2;
    # Bootloader0 stays 33080 unless a bootrom package was flashed.
    port = open_port(f"old_bootrom=1&mode={where}&{FAST}")
    full = host.image(ImageKind.FULL, size=host.SMALL)
    if where == "app":
        assert host.store_and_apply(port, full)[-1] == "success"
    else:
        assert host.command(port, 'AT+SMSTPU="ON_THE_FLY"') == b"\r\nOK\r\n"
        assert host.upload(port, full).done
        assert host.poll_upgrade(port)[-1] == "success"
        assert host.command(port, "AT+SMSWBOOT=1,1") == b"\r\nOK\r\n"
    host.read_until(port, b"+SYSSTART\r\n")
    rows = host.showver(port)
    assert rows["Bootloader0"] == "5.1.1.0 [33080]"
    assert rows[active] == f"5.1.1.0 [{host.TO}]"
    other = "Bootloader2" if active == "Bootloader1*" else "Bootloader1"
    assert rows[other] == f"5.1.1.0 [{host.TO}]"
