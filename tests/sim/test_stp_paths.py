"""STP uploads into the simulated modem, driven by the sans-I/O master: every upgrade path."""

from __future__ import annotations

import pytest

from sqnflash.protocol import stp
from sqnflash.sim.config import STORE_LIMIT
from sqnflash.sim.images import Family, ImageKind
from tests.support import host
from tests.support.host import OpenPort

FAST = "reboot_s=0.5&apply_s=2&updater_load_s=0.5"


def test_fff_method_stores_then_applies_through_the_updater(open_port: OpenPort) -> None:
    port = open_port(FAST)
    full = host.image(ImageKind.FULL, size=host.SMALL)
    assert host.command(port, "AT+SMSTPU") == b"\r\nOK\r\n"
    sent = host.upload(port, full)
    assert sent.done and sent.offset == len(full)
    assert sent.session == stp.SessionOpened(1, 8192, stp.PYCOM_BLOCK_CAP)
    assert set(sent.residues) == {0}
    assert host.command(port, "AT") == b"\r\nOK\r\n"  # back in AT mode after the closing RESET
    assert host.command(port, "AT+SMUPGRADE") == b"\r\nOK\r\n"
    assert host.read_until(port, b"+SHUTDOWN\r\n") == b"\r\n+SHUTDOWN\r\n"
    host.read_for(port, 0.7)  # the reboot into the updater
    assert host.command(port, "AT+SMOD?") == b"\r\n3\r\nOK\r\n"
    words = host.poll_upgrade(port)
    assert words[0] == "on-going" and words[-1] == "success"
    host.read_until(port, b"+SYSSTART\r\n")
    assert host.command(port, "AT+SMOD?") == b"\r\n2\r\nOK\r\n"
    assert host.software_build(port) == host.TO
    showver = host.command(port, 'AT!="showver"').decode()
    assert f"Software     : 5.1.1.0 [{host.TO}]" in showver
    assert f"Bootloader0  : 5.1.1.0 [{host.FROM}]" in showver  # a full image leaves Bootloader0
    assert port.sim.summary()["upgrades_applied"] == 1


def test_on_the_fly_in_recovery_then_back_to_the_application(open_port: OpenPort) -> None:
    port = open_port(FAST)
    assert host.command(port, "AT+SMSWBOOT=3,1") == b"\r\nOK\r\n"
    host.read_for(port, 1.0)
    assert host.command(port, 'AT+SMSTPU="ON_THE_FLY"') == b"\r\nOK\r\n"
    full = host.image(ImageKind.FULL, size=host.SMALL)
    sent = host.upload(port, full)
    assert sent.done and sent.session is not None and sent.session.max_transfer == 8192
    words = host.poll_upgrade(port)
    assert words[0] == "on-going" and words[-1] == "success"
    assert host.command(port, "AT+SMOD?") == b"\r\n4\r\nOK\r\n"  # no reboot on its own
    assert host.command(port, "AT+SMSWBOOT=1,1") == b"\r\nOK\r\n"
    host.read_until(port, b"+SYSSTART\r\n")
    assert host.software_build(port) == host.TO


def test_updater_elf_through_the_boot_loader(open_port: OpenPort) -> None:
    port = open_port(f"mode=ffh&{FAST}", baudrate=115200)
    assert host.command(port, "AT+IPR=921600", "\n") == b"OK\r\n"
    port.baudrate = 921600
    assert host.command(port, "AT+STP", "\n") == b"OK\r\n"
    elf = host.image(ImageKind.UPDATER, size=60_000)
    sent = host.upload(port, elf, block_cap=4096)
    assert sent.done
    # The boot loader's session is smaller: 2048 bytes with the header.
    assert sent.session == stp.SessionOpened(1, 2048, 2048 - stp.HEADER_SIZE)
    host.read_for(port, 1.0)  # the updater starts, silently
    assert host.command(port, "AT+SMOD?") == b"\r\n3\r\nOK\r\n"
    # Resume as Pycom does: the full image ON_THE_FLY in the updater, then boot FFF.
    assert host.command(port, 'AT+SMSTPU="ON_THE_FLY"') == b"\r\nOK\r\n"
    assert host.upload(port, host.image(ImageKind.FULL, size=host.SMALL)).done
    assert host.poll_upgrade(port)[-1] == "success"
    assert host.command(port, "AT+SMSWBOOT=1,1") == b"\r\nOK\r\n"
    host.read_until(port, b"+SYSSTART\r\n")
    assert host.command(port, "AT+SMOD?") == b"\r\n2\r\nOK\r\n"
    assert host.software_build(port) == host.TO


def test_boot_loader_ignores_a_block_larger_than_its_max_transfer(open_port: OpenPort) -> None:
    port = open_port("mode=ffh", baudrate=115200)
    assert host.command(port, "AT+STP", "\n") == b"OK\r\n"
    master = stp.StpMaster(5000, block_cap=4000)
    port.write(master.encode(master.request()))  # RESET
    assert master.feed(host.read_for(port, 0.2)) == [stp.Advanced(stp.MasterState.RESET)]
    port.write(master.encode(master.request()))  # OPEN
    (opened,) = master.feed(host.read_for(port, 0.2))
    assert opened == stp.SessionOpened(1, 2048, 2032)
    # A host that ignores the announced limit gets no answer.
    port.write(stp.encode_request(stp.Op.BLOCK_CMD, 1, 2, (4000).to_bytes(2, "big")))
    assert host.read_for(port, 0.5) == b""


def test_a_non_elf_sent_with_at_stp_is_refused(open_port: OpenPort) -> None:
    port = open_port("mode=ffh&updater_load_s=0.5", baudrate=115200)
    assert host.command(port, "AT+STP", "\n") == b"OK\r\n"
    assert host.upload(port, host.image(ImageKind.BOOTROM, version=host.TO)).done
    host.read_for(port, 1.0)
    assert host.command(port, "AT+SMOD?") == b"0\r\nOK\r\n"  # still the bare boot loader
    assert host.command(port, "AT+STP", "\n") == b"OK\r\n"  # and ready to try again


def corrupted(data: bytes, at: int) -> bytes:
    broken = bytearray(data)
    broken[at] ^= 0x5A
    return bytes(broken)


def test_corrupted_image_stored_fails_and_changes_nothing(open_port: OpenPort) -> None:
    port = open_port(FAST)
    full = host.image(ImageKind.FULL, size=host.SMALL)
    words = host.store_and_apply(port, corrupted(full, len(full) // 2))
    assert words[-1] == "fail"
    host.read_until(port, b"+SYSSTART\r\n")
    assert host.command(port, "AT+SMOD?") == b"\r\n2\r\nOK\r\n"
    assert host.software_build(port) == host.FROM


def test_corrupted_image_on_the_fly_leaves_the_modem_in_recovery(open_port: OpenPort) -> None:
    port = open_port(f"mode=recovery&{FAST}")
    full = host.image(ImageKind.FULL, size=host.SMALL)
    assert host.command(port, 'AT+SMSTPU="ON_THE_FLY"') == b"\r\nOK\r\n"
    assert host.upload(port, corrupted(full, len(full) - 100)).done
    assert host.poll_upgrade(port)[-1] == "fail"
    # The application was overwritten: asking for it brings back recovery.
    assert host.command(port, "AT+SMSWBOOT=1,1") == b"\r\nOK\r\n"
    assert host.read_for(port, 1.5).replace(b"\x00", b"") == b"\r\n+SHUTDOWN\r\n"
    assert host.command(port, "AT+SMOD?") == b"\r\n4\r\nOK\r\n"
    # A good image repairs it.
    assert host.command(port, 'AT+SMSTPU="ON_THE_FLY"') == b"\r\nOK\r\n"
    assert host.upload(port, full).done
    assert host.poll_upgrade(port)[-1] == "success"
    assert host.command(port, "AT+SMSWBOOT=1,1") == b"\r\nOK\r\n"
    assert b"+SYSSTART" in host.read_until(port, b"+SYSSTART\r\n")


def test_truncated_image_fails(open_port: OpenPort) -> None:
    port = open_port(FAST)
    full = host.image(ImageKind.FULL, size=host.SMALL)
    assert host.store_and_apply(port, full[:-1000])[-1] == "fail"


@pytest.mark.parametrize(("source", "result"), [(host.FROM, "success"), (37781, "fail")])
def test_differential_image_applies_only_to_its_source_build(
        open_port: OpenPort, source: int, result: str) -> None:
    port = open_port(FAST)
    diff = host.image(ImageKind.DIFF, source=source, size=50_000)
    assert host.store_and_apply(port, diff)[-1] == result
    host.read_until(port, b"+SYSSTART\r\n")
    assert host.software_build(port) == (host.TO if result == "success" else host.FROM)


def test_differential_image_on_the_fly_fails_without_harm(open_port: OpenPort) -> None:
    port = open_port(f"mode=recovery&{FAST}")
    assert host.command(port, 'AT+SMSTPU="ON_THE_FLY"') == b"\r\nOK\r\n"
    assert host.upload(port, host.image(ImageKind.DIFF, source=host.FROM, size=50_000)).done
    assert host.poll_upgrade(port)[-1] == "fail"
    assert host.command(port, "AT+SMSWBOOT=1,1") == b"\r\nOK\r\n"
    assert b"+SYSSTART" in host.read_until(port, b"+SYSSTART\r\n")
    assert host.software_build(port) == host.FROM


@pytest.mark.parametrize(("modem", "image_family"), [
    (Family.CATM1, Family.NB1),
    (Family.NB1, Family.CATM1),
    (Family.NB1, Family.NB1),
])
def test_a_full_image_installs_its_own_family(open_port: OpenPort, modem: Family,
                                             image_family: Family) -> None:
    # Full images switch a modem between CAT-M1 and NB-IoT (docs/protocol.md §7: Pycom documents
    # it); the radio the modem reports afterwards is the image's.
    port = open_port(f"family={modem.value}&{FAST}")
    full = host.image(ImageKind.FULL, image_family, size=host.SMALL)
    assert host.store_and_apply(port, full)[-1] == "success"
    host.read_until(port, b"+SYSSTART\r\n")
    lr = host.lines_of(host.command(port, "ATI1"))[1]
    assert lr == f"LR{'6.0.0.0' if image_family == Family.NB1 else '5.1.1.0'}-{host.TO}"


@pytest.mark.parametrize(("modem", "image_family"), [
    (Family.CATM1, Family.NB1),
    (Family.NB1, Family.CATM1),
])
def test_a_diff_for_the_other_radio_fails(open_port: OpenPort, modem: Family,
                                         image_family: Family) -> None:
    port = open_port(f"family={modem.value}&{FAST}")
    diff = host.image(ImageKind.DIFF, image_family, source=host.FROM, size=host.SMALL)
    assert host.store_and_apply(port, diff)[-1] == "fail"
    host.read_until(port, b"+SYSSTART\r\n")
    lr = host.lines_of(host.command(port, "ATI1"))[1]
    assert lr == f"LR{'6.0.0.0' if modem == Family.NB1 else '5.1.1.0'}-{host.FROM}"


def test_updater_elf_is_not_an_upgrade_package(open_port: OpenPort) -> None:
    port = open_port(f"mode=recovery&{FAST}")
    assert host.command(port, 'AT+SMSTPU="ON_THE_FLY"') == b"\r\nOK\r\n"
    assert host.upload(port, host.image(ImageKind.UPDATER, size=60_000)).done
    assert host.poll_upgrade(port)[-1] == "fail"


def test_store_holds_at_most_4_mib(open_port: OpenPort) -> None:
    port = open_port(FAST)
    big = host.image(ImageKind.FULL, size=STORE_LIMIT + 200_000)
    assert host.command(port, "AT+SMSTPU") == b"\r\nOK\r\n"
    sent = host.upload(port, big)
    assert sent.stalled and not sent.done
    assert sent.offset == STORE_LIMIT == 4 * 1024 * 1024
    # The block that crossed the limit came back partly as residue, then whole blocks did.
    crossing = next(r for r in sent.residues if r)
    assert 0 < crossing < stp.PYCOM_BLOCK_CAP
    assert sent.residues[-1] == stp.PYCOM_BLOCK_CAP
    # Closing the session leaves an incomplete file, which the updater refuses.
    master = sent.master
    master.state = stp.MasterState.CLOSE
    port.write(master.encode(master.request()))
    assert host.read_for(port, 0.2)
    assert host.command(port, "AT+SMUPGRADE") == b"\r\nOK\r\n"
    assert host.poll_upgrade(port)[-1] == "fail"


def test_an_abandoned_store_session_times_out_and_keeps_nothing(open_port: OpenPort) -> None:
    port = open_port("stp_idle_timeout_s=5")
    full = host.image(ImageKind.FULL, size=host.SMALL)
    assert host.command(port, "AT+SMSTPU") == b"\r\nOK\r\n"
    master = stp.StpMaster(len(full))
    port.write(master.encode(master.request()))
    master.feed(host.read_for(port, 0.2))
    port.write(b"AT\r\n")  # STP swallows it
    assert host.read_for(port, 1.0) == b""
    host.read_for(port, 5.0)
    assert host.command(port, "AT") == b"\r\nOK\r\n"
    assert host.command(port, "AT+SMUPGRADE") == b"\r\nERROR\r\n"  # nothing stored


def test_smupgrade_without_a_stored_file_is_an_error(open_port: OpenPort) -> None:
    port = open_port()
    assert host.command(port, "AT+SMUPGRADE") == b"\r\nERROR\r\n"
    assert host.command(port, "AT+SMUPGRADE?") == b"\r\n+SMUPGRADE: No report\r\n\r\nOK\r\n"


def test_partial_blocks_setting_returns_residues_the_host_resends(open_port: OpenPort) -> None:
    port = open_port(f"partial_blocks=1&{FAST}")
    full = host.image(ImageKind.FULL, size=host.SMALL)
    assert host.command(port, "AT+SMSTPU") == b"\r\nOK\r\n"
    sent = host.upload(port, full, block_cap=3000)
    assert sent.done and any(sent.residues)
    assert host.command(port, "AT+SMUPGRADE") == b"\r\nOK\r\n"
    assert host.poll_upgrade(port)[-1] == "success"


@pytest.mark.parametrize("noise", [b"\n", b"\r\n", b"AT\r\n", b"\xff\xfe\xfd\xfc\xfb"])
def test_stray_bytes_between_frames_do_not_break_the_session(
        open_port: OpenPort, noise: bytes) -> None:
    port = open_port(FAST)
    full = host.image(ImageKind.FULL, size=host.SMALL)
    port.write(b"AT+SMSTPU\r")
    assert host.read_reply(port) == b"\r\nOK\r\n"
    sent = host.upload(port, full, noise=noise)  # e.g. the "\n" of a split "\r\n" terminator
    assert sent.done and sent.resends == 0
    assert host.command(port, "AT+SMUPGRADE") == b"\r\nOK\r\n"
    assert host.poll_upgrade(port)[-1] == "success"


def test_stored_upgrade_from_recovery_comes_back_in_the_application(open_port: OpenPort) -> None:
    """Pycom's resume with a file <= 4 MiB: STORE in SMOD 4, AT+SMUPGRADE, no AT+SMSWBOOT=1,1."""
    port = open_port(f"mode=recovery&{FAST}")
    diff = host.image(ImageKind.DIFF, source=host.FROM, size=50_000)
    assert host.store_and_apply(port, diff)[-1] == "success"
    host.read_for(port, 1.0)
    assert host.command(port, "AT+SMOD?") == b"\r\n2\r\nOK\r\n"
    assert host.software_build(port) == host.TO


def test_failed_stored_upgrade_from_recovery_stays_in_recovery(open_port: OpenPort) -> None:
    port = open_port(f"mode=recovery&{FAST}")
    diff = host.image(ImageKind.DIFF, source=37781, size=50_000)
    assert host.store_and_apply(port, diff)[-1] == "fail"
    host.read_for(port, 1.0)
    assert host.command(port, "AT+SMOD?") == b"\r\n4\r\nOK\r\n"
