"""Where each step can start, where the point of no return lies, and where to go back to.

A plan's steps are not all alike. Before the **point of no return** nothing the modem keeps has
changed (the radio is off and it may sit in RECOVERY, both undone in seconds), so a failure there
puts the modem back as it was. From the first step that writes to the modem's flash on (the
bootrom, a stored upgrade being applied, an image written ON_THE_FLY, the updater loaded into the
boot loader), a failure leaves the modem in a mode `sqnflash recover` and a re-run of the same
command both handle. Plans that start outside the application are past that point from the start.

`START_MODES` says in which modes each step can begin. It is how a run continues when the modem
rebooted under it (power loss, a spontaneous reset) and how an interrupted upgrade continues from
its journal: the modem's mode picks the step to go back to.
"""

from __future__ import annotations

from sqnflash.protocol.modes import Mode
from sqnflash.upgrade.plan import Flow, Plan
from sqnflash.upgrade.steps import StepId

# Every mode in which AT+SMSTPU="ON_THE_FLY" takes a package (which one a modem reports after
# AT+SMSWBOOT=3,1 or once updater.elf runs is not documented: see modem.UPGRADE_MODES).
_UPGRADE_MODES = frozenset({Mode.RECOVERY, Mode.UPDATER, Mode.FFH_TOOL})
START_MODES: dict[str, frozenset[Mode]] = {
    StepId.PREPARE: frozenset({Mode.APPLICATION}),
    StepId.SWITCH_RECOVERY: frozenset({Mode.APPLICATION}),
    StepId.SEND_BOOTROM: _UPGRADE_MODES,
    StepId.SWITCH_FFH: _UPGRADE_MODES,
    StepId.NEGOTIATE_BAUD: frozenset({Mode.FFH}),
    StepId.SEND_UPDATER: frozenset({Mode.FFH}),
    StepId.STORE_IMAGE: frozenset({Mode.APPLICATION}),
    StepId.APPLY_STORED: frozenset({Mode.APPLICATION}),
    StepId.SEND_IMAGE: _UPGRADE_MODES,
    StepId.APPLY: _UPGRADE_MODES,
    StepId.SWITCH_APPLICATION: _UPGRADE_MODES,
    StepId.VERIFY: frozenset({Mode.APPLICATION}),
}
# Steps that change what the modem keeps: the first of them is the point of no return.
IRREVERSIBLE = frozenset({StepId.SEND_BOOTROM, StepId.APPLY_STORED, StepId.SEND_IMAGE,
                          StepId.SEND_UPDATER})
# A step that failed in a way sending again can cure goes back to the step that sends.
RETRY_FROM = {StepId.APPLY: StepId.SEND_IMAGE, StepId.SEND_BOOTROM: StepId.SEND_BOOTROM,
              StepId.APPLY_STORED: StepId.STORE_IMAGE, StepId.SEND_UPDATER: StepId.NEGOTIATE_BAUD}
# A step that needs the one before it in the same mode (the updater upload needs the rate).
NEEDS_PREVIOUS = {StepId.SEND_UPDATER: StepId.NEGOTIATE_BAUD}


def point_of_no_return(plan: Plan) -> int:
    """Index of the first step after which the modem is no longer as it was found."""
    if plan.flow not in (Flow.APPLICATION, Flow.OLD_BOOTROM):
        return 0  # the modem was found outside its application: nothing to put back
    for index, step in enumerate(plan.steps):
        if step.id in IRREVERSIBLE:
            return index
    return len(plan.steps)


def restart_index(plan: Plan, mode: Mode, upto: int) -> int | None:
    """The step to go back to when the modem, during step `upto`, turned up in `mode`: the
    latest step at or before it that can start in that mode."""
    ids = [step.id for step in plan.steps]
    for index in range(min(upto, len(ids) - 1), -1, -1):
        if mode in START_MODES.get(ids[index], frozenset()):
            before = NEEDS_PREVIOUS.get(ids[index])
            if before is not None and index > 0 and ids[index - 1] == before:
                return index - 1
            return index
    return None


def retry_index(plan: Plan, failed: int) -> int | None:
    """Where to go back to after step `failed` failed in a way sending again can cure."""
    target = RETRY_FROM.get(plan.steps[failed].id)
    if target is None:
        return None
    ids = [step.id for step in plan.steps]
    for index in range(failed, -1, -1):
        if ids[index] == target:
            return index
    return None
