"""Protocol variants: each knob changes what the wire shows, and only that."""

from __future__ import annotations

from pathlib import Path

import pytest
import serial
from click.testing import CliRunner

from sqnflash.cli.main import cli
from sqnflash.protocol import stp
from sqnflash.protocol.crc import crc16
from sqnflash.sim.config import VARIANTS, SimConfig, SimConfigError
from sqnflash.sim.images import ImageKind
from tests.support import host
from tests.support.host import OpenPort

FAST = "reboot_s=0.2&apply_s=0.5&bootrom_apply_s=0.3&updater_load_s=0.3"


def load_updater(port_opener: OpenPort, settings: str = "") -> serial.SerialBase:
    """The field path into the updater: boot loader, AT+IPR=921600, AT+STP, updater.elf."""
    port = port_opener(f"mode=ffh&{FAST}&{settings}", baudrate=115200)
    assert host.command(port, "AT+IPR=921600", "\n") == b"OK\r\n"
    port.baudrate = 921600
    assert host.command(port, "AT+STP", "\n") == b"OK\r\n"
    assert host.upload(port, host.image(ImageKind.UPDATER, size=60_000)).done
    host.read_for(port, 1.0)  # the updater starts, silently
    return port


@pytest.mark.parametrize("smod", [1, 3, 4])
def test_updater_smod_is_what_the_loaded_updater_reports(open_port: OpenPort, smod: int) -> None:
    port = load_updater(open_port, f"updater_smod={smod}")
    assert host.command(port, "AT+SMOD?") == f"\r\n{smod}\r\nOK\r\n".encode()
    # Whatever number it reports, it is the updater: ON_THE_FLY works, the boot loader stays
    # selected, and the application comes back only when asked for.
    assert "FFH" in host.command(port, "AT+SMSWBOOT?").decode()
    assert host.command(port, 'AT+SMSTPU="ON_THE_FLY"') == b"\r\nOK\r\n"
    assert host.upload(port, host.image(ImageKind.FULL, size=host.SMALL)).done
    assert host.poll_upgrade(port)[-1] == "success"


@pytest.mark.parametrize("smod", [1, 3, 4])
def test_mode_updater_starts_where_the_field_path_leaves_the_modem(
        open_port: OpenPort, smod: int) -> None:
    port = open_port(f"mode=updater&updater_smod={smod}&{FAST}")
    assert host.command(port, "AT+SMOD?") == f"\r\n{smod}\r\nOK\r\n".encode()
    assert host.command(port, "AT+SMSWBOOT?") == b"\r\n+SMSWBOOT: FFH\r\n\r\nOK\r\n"
    assert host.command(port, "AT^RESET") == b"\r\nOK\r\n"
    host.read_for(port, 1.0)
    port.baudrate = 115200  # a reset drops the updater: the boot loader is back
    assert host.command(port, "AT+SMOD?") == b"0\r\nOK\r\n"


@pytest.mark.parametrize(("report", "words"), [("success", ["on-going", "success"]),
                                               ("no-report", ["No report"])])
def test_bootrom_report_after_a_bootrom_package_on_the_fly(
        open_port: OpenPort, report: str, words: list[str]) -> None:
    port = open_port(f"old_bootrom=1&bootrom_report={report}&{FAST}")
    assert host.command(port, 'AT+SMSTPU="ON_THE_FLY"') == b"\r\nOK\r\n"
    bootrom = host.packages(host.image(ImageKind.FULL, size=host.SMALL))[0]
    assert host.upload(port, bootrom).done
    seen = []
    for _ in range(8):
        reply = host.command(port, "AT+SMUPGRADE?").decode()
        seen.append(reply.split("+SMUPGRADE: ")[1].split("\r")[0])
        host.read_for(port, 0.2)
    assert [w for i, w in enumerate(seen) if i == 0 or seen[i - 1] != w] == words
    # Either way the bootrom was written: the boot loader can be selected now.
    assert host.command(port, "AT+SMSWBOOT=0,0") == b"\r\nOK\r\n"


def test_echo_per_mode(open_port: OpenPort) -> None:
    port = open_port(f"echo=recovery&{FAST}")
    assert host.command(port, "AT+SMOD?") == b"\r\n2\r\nOK\r\n"  # the application does not echo
    assert host.command(port, "AT+SMSWBOOT=3,1") == b"\r\nOK\r\n"
    host.read_for(port, 1.0)
    assert host.command(port, "AT+SMOD?") == b"AT+SMOD?\r\r\n4\r\nOK\r\n"  # recovery does
    assert host.command(port, "ATE0") == b"ATE0\r\r\nOK\r\n"
    assert host.command(port, "AT+SMOD?") == b"\r\n4\r\nOK\r\n"


def test_echo_on_still_means_the_application(open_port: OpenPort) -> None:
    port = open_port("echo=1")
    assert host.command(port, "AT") == b"AT\r\r\nOK\r\n"
    assert SimConfig.from_query("echo=all").echo == "app,recovery,updater,ffh"
    with pytest.raises(SimConfigError, match="echo"):
        SimConfig.from_query("echo=app,bootloader")


@pytest.mark.parametrize(("query", "store", "otf"), [
    ("", 8192, 8192), ("max_transfer=2048", 2048, 2048),
    ("store_max_transfer=2048", 2048, 8192), ("otf_max_transfer=2048", 8192, 2048)])
def test_max_transfer_per_kind_of_session(open_port: OpenPort, query: str, store: int,
                                          otf: int) -> None:
    for how, expected in (("AT+SMSTPU", store), ('AT+SMSTPU="ON_THE_FLY"', otf)):
        port = open_port(f"mode=recovery&{query}")
        assert host.command(port, how) == b"\r\nOK\r\n"
        sent = host.upload(port, host.image(ImageKind.DIFF, source=host.FROM, size=20_000))
        assert sent.session is not None and sent.session.max_transfer == expected


def test_ffh_max_transfer(open_port: OpenPort) -> None:
    port = open_port("mode=ffh&ffh_max_transfer=8192", baudrate=115200)
    assert host.command(port, "AT+STP", "\n") == b"OK\r\n"
    sent = host.upload(port, host.image(ImageKind.UPDATER, size=20_000))
    assert sent.session is not None and sent.session.max_transfer == 8192


@pytest.mark.parametrize("value", ["filled", "zero"])
def test_reply_hcrc(open_port: OpenPort, value: str) -> None:
    port = open_port(f"reply_hcrc={value}")
    assert host.command(port, "AT+SMSTPU") == b"\r\nOK\r\n"
    sent = host.upload(port, host.image(ImageKind.DIFF, source=host.FROM, size=20_000))
    assert sent.done and sent.frames
    for frame in sent.frames:
        header = stp.HEADER.pack(frame.magic, frame.op, frame.sid, len(frame.payload), frame.tid,
                                 0, frame.pcrc)
        assert frame.hcrc == (crc16(header) if value == "filled" else 0)


@pytest.mark.parametrize(("ending", "end"), [("crlf", b"\r\n"), ("lf", b"\n"), ("cr", b"\r")])
def test_line_ending_frames_replies_and_urcs(open_port: OpenPort, ending: str, end: bytes) -> None:
    port = open_port(f"line_ending={ending}&{FAST}")
    port.write(b"AT+SMOD?\r\n")
    assert host.read_for(port, 0.2) == end + b"2" + end + b"OK" + end
    port.write(b"AT+SMSWBOOT=0,1\r\n")
    shutdown = end + b"+SHUTDOWN" + end
    assert host.read_until(port, shutdown) == end + b"OK" + end + shutdown
    host.read_for(port, 1.0)
    port.baudrate = 115200
    assert host.command(port, "AT+SMOD?") == b"0\r\nOK\r\n"  # the boot loader keeps OK\r\n


def test_swboot_error_refuses_the_reboot_form_only(open_port: OpenPort) -> None:
    port = open_port(f"swboot_error=1&{FAST}")
    assert host.command(port, "AT+SMSWBOOT=3,1") == b"\r\nERROR\r\n"
    assert host.command(port, "AT+SMSWBOOT=3,0") == b"\r\nOK\r\n"
    assert host.command(port, "AT^RESET") == b"\r\nOK\r\n"
    host.read_for(port, 1.0)
    assert host.command(port, "AT+SMOD?") == b"\r\n4\r\nOK\r\n"


@pytest.mark.parametrize(("how", "ipr_reply"), [("ignore", b"OK\r\n"), ("error", b"ERROR\r\n")])
def test_ffh_only_115200(open_port: OpenPort, how: str, ipr_reply: bytes) -> None:
    port = open_port(f"mode=ffh&ffh_only_115200={how}", baudrate=115200)
    assert host.command(port, "AT+IPR=921600", "\n") == ipr_reply
    port.baudrate = 921600
    port.write(b"AT\n")
    assert host.read_for(port, 0.3) == b""  # nothing answers at the new rate
    port.baudrate = 115200
    assert host.command(port, "AT+SMOD?") == b"0\r\nOK\r\n"


def test_the_updater_keeps_the_boot_loaders_115200(open_port: OpenPort) -> None:
    port = open_port(f"mode=ffh&ffh_only_115200=ignore&{FAST}", baudrate=115200)
    assert host.command(port, "AT+IPR=921600", "\n") == b"OK\r\n"
    assert host.command(port, "AT+STP", "\n") == b"OK\r\n"
    assert host.upload(port, host.image(ImageKind.UPDATER, size=20_000)).done
    host.read_for(port, 1.0)
    assert host.command(port, "AT+SMOD?") == b"\r\n3\r\nOK\r\n"
    assert open_port("mode=updater&ffh_only_115200=1").sim.modem.wire.modem_baud == 115200


@pytest.mark.parametrize("self_reboot", [False, True])
def test_self_reboot_after_on_the_fly(open_port: OpenPort, self_reboot: bool) -> None:
    port = open_port(f"mode=recovery&self_reboot_after_otf={int(self_reboot)}&{FAST}")
    assert host.command(port, 'AT+SMSTPU="ON_THE_FLY"') == b"\r\nOK\r\n"
    assert host.upload(port, host.image(ImageKind.FULL, size=host.SMALL)).done
    after = host.read_for(port, 2.0).replace(b"\x00", b"")
    if self_reboot:
        assert after == b"\r\n+SHUTDOWN\r\n\r\n+SYSSTART\r\n"
        assert host.command(port, "AT+SMOD?") == b"\r\n2\r\nOK\r\n"
        assert host.command(port, "AT+SMUPGRADE?") == b"\r\n+SMUPGRADE: success\r\n\r\nOK\r\n"
    else:
        assert after == b""
        assert host.command(port, "AT+SMOD?") == b"\r\n4\r\nOK\r\n"
    assert port.sim.modem.flash.software == host.TO


def test_reply_shapes_of_smswboot_and_smod(open_port: OpenPort) -> None:
    port = open_port("smswboot_reply=bare&smod_reply=blank")
    assert host.command(port, "AT+SMSWBOOT?") == b"\r\nFFF\r\n\r\nOK\r\n"
    assert host.command(port, "AT+SMOD?") == b"\r\n2\r\n\r\nOK\r\n"


def test_a_variant_is_a_bundle_and_a_single_knob_wins() -> None:
    config = SimConfig.from_query("variant=smod4,lf")
    assert (config.updater_smod, config.line_ending, config.variant) == (4, "lf", "smod4,lf")
    assert SimConfig.from_query("variant=smod4&updater_smod=1").updater_smod == 1
    with pytest.raises(SimConfigError, match="unknown variant 'smod5'"):
        SimConfig.from_query("variant=smod5")
    with pytest.raises(SimConfigError, match="updater_smod"):
        SimConfig.from_query("updater_smod=2")
    for name, variant in VARIANTS.items():
        config = SimConfig.from_query(f"variant={name}")
        for knob, raw in variant.knobs.items():
            assert str(getattr(config, knob)).lower() in (raw.lower(), {"1": "true"}.get(raw, raw))


def test_the_variants_document_lists_every_bundle_with_its_knobs() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "protocol-variants.md"
    rows = {line.split("|")[1].strip(" `"): line for line in doc.read_text("utf-8").splitlines()
            if line.startswith("| `")}
    for name, variant in VARIANTS.items():
        assert name in rows, f"docs/protocol-variants.md does not list the variant {name}"
        assert all(f"`{k}={v}`" in rows[name] for k, v in variant.knobs.items()), name


def test_sim_variants_lists_every_bundle_with_its_knobs() -> None:
    out = CliRunner().invoke(cli, ["sim", "variants"]).output
    for name, variant in VARIANTS.items():
        line = next(line for line in out.splitlines() if line.startswith(f"{name} "))
        assert all(f"{k}={v}" in line for k, v in variant.knobs.items())



@pytest.mark.parametrize("sysffh", [False, True])
def test_sysffh_announces_the_boot_loader(open_port: OpenPort, sysffh: bool) -> None:
    port = open_port(f"sysffh={int(sysffh)}&{FAST}")
    assert host.command(port, "AT+SMSWBOOT=0,1") == b"\r\nOK\r\n"
    host.read_until(port, b"+SHUTDOWN\r\n")
    port.baudrate = 115200
    assert host.read_for(port, 1.0).replace(b"\x00", b"") == (b"+SYSFFH\r\n" if sysffh else b"")
    assert host.command(port, "AT+SMOD?") == b"0\r\nOK\r\n"


def test_recovery_baud(open_port: OpenPort) -> None:
    port = open_port(f"recovery_baud=115200&{FAST}")
    assert host.command(port, "AT+SMSWBOOT=3,1") == b"\r\nOK\r\n"
    host.read_until(port, b"+SHUTDOWN\r\n")
    host.read_for(port, 1.0)
    # Not at 921600 any more.
    assert host.heard_only_at(port, 115200, "AT+SMOD?", listen_s=0.3) == b"\r\n4\r\nOK\r\n"
    assert open_port("mode=recovery&recovery_baud=115200").sim.modem.wire.modem_baud == 115200


@pytest.mark.parametrize(("shape", "reply"), [("framed", b"\r\nOK\r\n"), ("bare", b"OK\r\n")])
def test_stpu_reply(open_port: OpenPort, shape: str, reply: bytes) -> None:
    port = open_port(f"mode=recovery&stpu_reply={shape}")
    assert host.command(port, 'AT+SMSTPU="ON_THE_FLY"') == reply
    assert host.upload(port, host.image(ImageKind.FULL, size=host.SMALL)).done
