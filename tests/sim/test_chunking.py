"""However the host's bytes are cut into deliveries (a pty hands them over in any chunks), the
modem hears the same commands and frames."""

from __future__ import annotations

import serial
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sqnflash.sim.images import ImageKind
from tests.support import host

CUTS = st.lists(st.integers(min_value=1, max_value=40), max_size=8)
EXAMPLES = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    out, pos = [], 0
    for cut in cuts:
        if pos + cut >= len(data):
            break
        out.append(data[pos : pos + cut])
        pos += cut
    out.append(data[pos:])
    return out


def fresh(query: str = "") -> serial.SerialBase:
    return serial.serial_for_url(f"sim://?clock=virtual&{query}", baudrate=921600, timeout=2.0)


@EXAMPLES
@given(cuts=CUTS, terminator=st.sampled_from(["\r", "\n", "\r\n"]))
def test_a_command_in_pieces_gets_the_same_reply(cuts: list[int], terminator: str) -> None:
    with fresh() as port:
        line = f'AT!="showver"{terminator}AT+SMOD?{terminator}'.encode()
        for piece in pieces(line, cuts):
            port.write(piece)
            port.sim.wait(0.001)
        assert host.read_reply(port).endswith(b"    ZSP1         : 1.0.99-12341\r\n\r\nOK\r\n")
        assert host.read_reply(port) == b"\r\n2\r\nOK\r\n"
        assert host.command(port, "AT") == b"\r\nOK\r\n"


@EXAMPLES
@given(cuts=CUTS)
def test_frames_in_pieces_upload_the_same_image(cuts: list[int]) -> None:
    data = host.image(ImageKind.DIFF, source=38638, size=8_000)
    with fresh("apply_s=0.5&reboot_s=0.2") as port:
        assert host.command(port, "AT+SMSTPU") == b"\r\nOK\r\n"
        sent = host.upload(port, data, block_cap=1000, split=lambda frame: pieces(frame, cuts))
        assert sent.done and sent.resends == 0
        assert host.command(port, "AT+SMUPGRADE") == b"\r\nOK\r\n"
        assert host.poll_upgrade(port)[-1] == "success"
