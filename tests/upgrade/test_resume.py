"""Running the same upgrade again after an interruption continues from the journal."""

from __future__ import annotations

from pathlib import Path

import pytest

from sqnflash.errors import ApplyFailed, BadOption, Interrupted
from sqnflash.events import Event, StepStarted, TransferFinished, TransferProgress, Waiting
from sqnflash.firmware import FirmwareFile
from sqnflash.protocol.modes import Mode
from sqnflash.upgrade import Method, upgrade
from sqnflash.upgrade.journal import Journal
from tests.support.images import TO, Firmware
from tests.support.modems import SimModem


def interrupt(sim: SimModem, image: FirmwareFile, journal: Journal,
              when: type[Event], step: str, after: int = 0, **kwargs: object) -> None:
    """Ctrl-C at the first `when` event of `step` past `after` bytes (or seconds)."""
    def emit(event: Event) -> None:
        sim.events.append(event)
        if isinstance(event, when) and getattr(event, "step", "") == step and (
                getattr(event, "done", 0) >= after):
            raise KeyboardInterrupt

    with pytest.raises(Interrupted):
        upgrade(sim.modem, image, emit=emit, journal=journal, **kwargs)  # type: ignore[arg-type]
    sim.events.clear()


def again(sim: SimModem, image: FirmwareFile, journal: Journal, **kwargs: object) -> None:
    upgrade(sim.modem, image, emit=sim.events.append, journal=journal, **kwargs)  # type: ignore[arg-type]


def test_interrupted_transfer_continues_in_the_session_the_modem_holds(
        firmware: Firmware, tmp_path: Path) -> None:
    sim = SimModem("mode=recovery")
    with Journal.open(tmp_path / "j.db") as journal:
        interrupt(sim, firmware.full, journal, TransferProgress, "send-image", 150_000)
        (record,) = journal.history()
        assert record.outcome == "interrupted" and record.transfer is not None
        confirmed = record.transfer.offset
        again(sim, firmware.full, journal)
        assert sim.said(f"goes on from byte {confirmed} of 300000")
        (finished,) = [e for e in sim.events if isinstance(e, TransferFinished)]
        assert sim.state["version"] == TO and sim.state["stp_sessions"] == 1
        assert sim.state["stp_repeats"] <= 1
        (done,) = journal.history()
        assert done.outcome == "completed" and done.resumes == 1 and finished.total == 300000


def test_a_session_the_modem_gave_up_is_restarted_cleanly_and_says_so(
        firmware: Firmware, tmp_path: Path) -> None:
    sim = SimModem("mode=recovery")
    with Journal.open(tmp_path / "j.db") as journal:
        interrupt(sim, firmware.full, journal, TransferProgress, "send-image", 150_000)
        sim.sim.wait(sim.sim.config.stp_idle_timeout_s + 1)  # the modem abandons the session
        again(sim, firmware.full, journal)
        assert sim.said("no longer holds the transfer session")
        assert sim.said("restarts cleanly from the start")
        assert sim.said("continuing the interrupted upgrade to CATM1-41019.dup from step 1")
        assert sim.state["version"] == TO and sim.state["stp_sessions"] == 2


def test_an_image_sent_completely_is_not_sent_again(firmware: Firmware, tmp_path: Path) -> None:
    sim = SimModem()
    with Journal.open(tmp_path / "j.db") as journal:
        interrupt(sim, firmware.full, journal, Waiting, "apply", method=Method.ON_THE_FLY)
        again(sim, firmware.full, journal, method=Method.ON_THE_FLY)
        assert sim.steps() == ["apply", "switch-application", "verify"]
        assert sim.said("from step 4 of 6, 'Wait for the modem to finish the upgrade'")
        assert sim.state["stp_sessions"] == 1 and sim.state["version"] == TO


def test_a_stored_image_being_applied_is_waited_for_not_asked_again(
        firmware: Firmware, tmp_path: Path) -> None:
    sim = SimModem("apply_s=30")
    with Journal.open(tmp_path / "j.db") as journal:
        interrupt(sim, firmware.diff, journal, Waiting, "apply-stored")
        again(sim, firmware.diff, journal)
        assert sim.steps() == ["apply-stored", "verify"]
        assert sim.sim.modem.received_commands.count("AT+SMUPGRADE") == 1
        assert sim.state["version"] == TO


def test_the_old_bootrom_flow_continues_with_its_bootrom_step(
        firmware: Firmware, tmp_path: Path) -> None:
    """In RECOVERY with the factory bootrom, a fresh plan would send the image directly;
    the journal knows the bootrom and the updater come first."""
    sim = SimModem("old_bootrom=1")
    with Journal.open(tmp_path / "j.db") as journal:
        interrupt(sim, firmware.full, journal, StepStarted, "send-bootrom",
                  updater=firmware.updater)
        assert sim.state["mode"] == "RECOVERY" and sim.state["bootrom"] == 33080
        again(sim, firmware.full, journal, updater=firmware.updater)
        assert sim.steps()[0] == "send-bootrom"
        assert sim.state["version"] == TO and sim.state["bootrom"] != 33080


def test_another_image_starts_afresh_and_supersedes_the_unfinished_upgrade(
        firmware: Firmware, tmp_path: Path) -> None:
    sim = SimModem()
    with Journal.open(tmp_path / "j.db") as journal:
        interrupt(sim, firmware.full, journal, TransferProgress, "send-image", 50_000,
                  method=Method.ON_THE_FLY)
        sim.sim.wait(sim.sim.config.stp_idle_timeout_s + 1)
        # The modem is in RECOVERY now, so only a full image fits; the diff is another upgrade.
        again(sim, firmware.full, journal, method=Method.ON_THE_FLY)
        outcomes = [r.outcome for r in journal.history()]
        assert outcomes == ["completed"]
        assert not sim.said("an interrupted upgrade to")


def test_a_modem_found_back_at_an_earlier_stage_continues_from_there(
        firmware: Firmware, tmp_path: Path) -> None:
    sim = SimModem()
    with Journal.open(tmp_path / "j.db") as journal:
        interrupt(sim, firmware.full, journal, StepStarted, "send-image",
                  method=Method.ON_THE_FLY)
        # Someone switched it back to the application meanwhile: the journaled plan's next
        # step (sending ON_THE_FLY from RECOVERY) no longer fits; its first step does.
        sim.modem.wake()
        sim.modem.reboot_into(Mode.APPLICATION)
        again(sim, firmware.full, journal, method=Method.ON_THE_FLY)
        assert sim.said("from step 2 of 6, 'Reboot into RECOVERY'")
        assert sim.steps()[0] == "switch-recovery"
        assert sim.state["version"] == TO


def test_a_modem_the_journaled_plan_cannot_continue_is_planned_afresh(
        firmware: Firmware, tmp_path: Path) -> None:
    """Power lost while the updater applied a stored diff: the application is damaged, the modem
    boots RECOVERY, where a diff cannot be applied. The re-run says why it does not continue."""
    sim = SimModem("fault_power_loss_during=apply")
    with Journal.open(tmp_path / "j.db") as journal:
        with pytest.raises(ApplyFailed):
            again(sim, firmware.diff, journal)
        assert sim.state["mode"] == "RECOVERY"
        with pytest.raises(BadOption, match="only a full image"):
            again(sim, firmware.diff, journal)
        assert sim.said("is in recovery (upgrade mode), not where it stopped: planning again")
