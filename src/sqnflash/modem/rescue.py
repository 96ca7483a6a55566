"""Pick up a modem where an interrupted run left it: inside an STP session, or busy applying.

- `held_session`: a process that died mid-transfer leaves the modem holding the STP session
  (it gives up only after a long silence). The journaled checkpoint's pending request is sent
  again; an answer means the session is still there and the upload carries on from the
  confirmed offset, with at most one block sent twice.
- `end_orphan_session`: a modem that answers no AT command at any rate may be sitting in such a
  session with nobody's checkpoint at hand (the journal was lost, another computer ran the
  upgrade). An OPEN request tells: only a modem in STP answers it, and answering it changes
  nothing the data already written. The session is then closed with RESET; the modem judges the
  partial image (an incomplete file fails its check harmlessly) and returns to AT commands.
  A session the journal says an interrupted upgrade can still continue (`SessionToKeep`) is
  left open instead: ending it would make that upgrade send its image again from the start.
- `close_session` and `wait_not_applying`: leave a session on purpose (to change the baud rate)
  and wait until the modem takes commands again.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqnflash.errors import ModemInTransfer, NoResponse
from sqnflash.firmware.source import BlockSource
from sqnflash.modem.line import CLOSE_TIMEOUT_S, PROBE_TIMEOUT_S
from sqnflash.modem.modem import Modem
from sqnflash.modem.transfer import DEFAULT_RETRIES, StpUpload
from sqnflash.protocol import at, stp
from sqnflash.protocol.modes import Mode
from sqnflash.timing import Deadline

SESSION_ATTEMPTS = 3  # an OPEN probe on a noisy line may need more than one try
CLOSE_ATTEMPTS = 8  # the closing RESET is sent until answered: an open session blocks AT
ORPHAN_SETTLE_S = 30.0  # a closed session: the modem takes commands again well within this
APPLY_SETTLE_S = 120.0  # a modem judging a partial image: how long until it takes commands again
SETTLE_POLL_S = 0.5


def held_session(modem: Modem, checkpoint: stp.Checkpoint, source: BlockSource, *, baud: int,
                 block_cap: int = stp.PYCOM_BLOCK_CAP,
                 retries: int = DEFAULT_RETRIES) -> StpUpload | None:
    """An upload that carries on with the session the modem still holds, once the modem has
    answered the checkpoint's pending request; None when it does not hold it any more (nothing
    was changed then). `baud` is the rate the session ran at. The caller sets the callbacks and
    runs it."""
    if not checkpoint.in_session or checkpoint.total != source.size:
        return None
    link = modem.link
    link.set_baud(baud)
    modem.at.discard_input()
    upload = StpUpload(link, source, block_cap=block_cap, retries=retries,
                       checkpoint=checkpoint)
    if upload.probe():
        return upload
    modem.at.discard_input()
    return None


def _stp_reply(modem: Modem, request: bytes, op: stp.Op, timeout_s: float,
               attempts: int = SESSION_ATTEMPTS) -> stp.Frame | None:
    """Send one STP request (again, on a noisy line) until the modem answers it with `op`."""
    link = modem.link
    for _ in range(attempts):
        link.discard_input()
        link.write(request)
        decoder = stp.FrameDecoder(stp.REPLY_MAGIC, accept_zero_hcrc=True, max_payload=64)
        deadline = Deadline(link.clock, timeout_s)
        while not deadline.expired():
            data = link.read_some(deadline.remaining())
            if not data:
                break
            decoder.feed(data)
            for item in decoder.frames():
                if isinstance(item, stp.Frame) and item.op & ~(stp.ACK | stp.NACK) == op:
                    return item
    return None


def end_orphan_session(modem: Modem, keep: SessionToKeep | None = None) -> bool:
    """Find the modem inside an abandoned STP session and close it; True when one was found
    (the modem then takes AT commands again). A session an interrupted upgrade can still go on
    with (`keep`) is left open: ModemInTransfer says how to continue it."""
    if keep is not None:
        # Not even probed: an OPEN would start the session afresh, and the transfer with it.
        raise ModemInTransfer(
            f"the modem on {modem.link.name} answers no AT command, and the journal holds an "
            f"interrupted upgrade whose transfer session it is most likely still in "
            f"({keep.what})", advice=keep.advice,
            modem_state="inside that transfer session, left open so that the upgrade can "
                        "continue from its last confirmed byte")
    open_request = stp.encode_request(stp.Op.OPEN, stp.SESSION_SID, stp.OPEN_TID)
    for baud in modem.candidate_rates():
        modem.link.set_baud(baud)
        if _stp_reply(modem, open_request, stp.Op.OPEN, PROBE_TIMEOUT_S) is None:
            continue
        modem.note(f"the modem was inside a transfer session an interrupted run left open "
                    f"(at {baud} baud); ending it", "warning")
        close_session(modem)
        try:
            wait_not_applying(modem, ORPHAN_SETTLE_S)
        except NoResponse as exc:
            raise ModemInTransfer(
                f"the modem on {modem.link.name} answers STP at {baud} baud but did not leave "
                "the session when asked to", modem_state="inside an STP transfer session") \
                from exc
        return True
    modem.at.discard_input()
    return False


def close_session(modem: Modem, *, attempts: int = CLOSE_ATTEMPTS) -> bool:
    """End the STP session the modem is in (its closing RESET); the modem then processes what it
    received and goes back to AT commands. True when the modem answered the RESET."""
    answered = _stp_reply(modem, stp.encode_request(stp.Op.RESET, 0, 0), stp.Op.RESET,
                          CLOSE_TIMEOUT_S, attempts=attempts) is not None
    modem.at.discard_input()
    return answered


def wait_not_applying(modem: Modem, timeout_s: float = APPLY_SETTLE_S) -> Mode:
    """Wait until the modem answers and is not busy applying an image (it refuses
    `AT+SMSTPU` meanwhile); returns its mode."""
    deadline = Deadline(modem.link.clock, timeout_s)
    mode = modem.wait_ready(None, timeout_s)
    while mode != Mode.FFH and not deadline.expired():
        report = modem.upgrade_report()
        if report.state != at.UpgradeState.ONGOING:
            break
        modem.at.wait_urc("+SYSSTART", SETTLE_POLL_S)
    return mode


@dataclass(frozen=True)
class SessionToKeep:
    """A transfer session an interrupted upgrade may continue (the journal knows it)."""

    what: str  # the upgrade, in words
    advice: str  # how to continue it, or end it


def wake_or_end_session(modem: Modem, keep: SessionToKeep | None = None) -> int:
    """`Modem.wake`, and when nothing answers AT, look for an abandoned STP session first
    (one to `keep` is left open: ModemInTransfer)."""
    try:
        return modem.wake()
    except NoResponse as silent:
        if not end_orphan_session(modem, keep):
            raise
        try:
            return modem.wake()
        except NoResponse:
            raise silent from None


def read_cfun(modem: Modem) -> int | None:
    """The radio's functionality level (`AT+CFUN?`: 1 on, 4 off), when the mode knows it."""
    reply = modem.at.try_command("AT+CFUN?")
    if reply is None or not reply.ok:
        return None
    for line in reply.lines:
        name, _, value = line.partition(":")
        first = value.strip().split(",")[0]
        if name.strip().upper() == "+CFUN" and first.isdigit():
            return int(first)
    return None
