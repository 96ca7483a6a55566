"""Everything that can be known to fail before the first byte is sent, checked against the modem.

Each check either passes (and says so: the plan lists the checks that passed), cannot be made
(a note says why, e.g. the boot loader does not report the running build), or refuses with the
specific error and advice. The order is the order a person would check by hand: the files, the
family, the build the diff patches, the direction of the upgrade, the catalogue's path rules,
the updater's release, the size for the method.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqnflash.errors import (
    BadOption,
    DiffSourceMismatch,
    Downgrade,
    FamilyMismatch,
    ImageTooLarge,
    IntermediateRequired,
    UpdaterMismatch,
)
from sqnflash.firmware import FFF_STORE_LIMIT, FileKind, FirmwareFile
from sqnflash.firmware.catalogue import Catalogue, load_catalogue
from sqnflash.firmware.names import MONARCH_1, chip_of, family_of_lr
from sqnflash.firmware.versions import version_tuple
from sqnflash.modem import ModemInfo
from sqnflash.protocol.modes import Mode

UNCHANGED = "unchanged: the modem still runs its old firmware"


@dataclass
class Preflight:
    checks: list[str] = field(default_factory=list)  # what was verified, in words
    notes: list[str] = field(default_factory=list)  # what could not be verified, and why
    required_method: str | None = None  # a path rule that fixes the method


def _size(value: int) -> str:
    return f"{value:,}".replace(",", " ")


def needs_updater(info: ModemInfo) -> bool:
    return info.mode == Mode.FFH or (info.mode == Mode.APPLICATION and info.old_bootrom)


def preflight(info: ModemInfo, image: FirmwareFile, *, updater: FirmwareFile | None = None,
              bootrom: FirmwareFile | None = None, method: str | None = None,
              allow_downgrade: bool = False, allow_family_change: bool = False,
              catalogue: Catalogue | None = None, force: bool = False) -> Preflight:
    """Run every check; raises the first refusal, returns what passed and what was not checked.
    `force` lets a modem below a minimum running version (Monarch 2: 8.0.4.0) take the image,
    as pysequans' --force does."""
    cat = catalogue or load_catalogue()
    result = Preflight()
    _files(result, image, updater, bootrom, cat)
    family_change = _family(result, info, image, allow_family_change)
    _monarch2_method(info, image, method)
    _diff_source(result, info, image, cat)
    _direction(result, info, image, allow_downgrade, family_change)
    _path_rules(result, info, image, method, cat, force)
    if updater is not None and needs_updater(info):
        _updater_release(result, image, updater, cat)
    if info.mode == Mode.APPLICATION and info.old_bootrom and bootrom is None:
        package = image.bootrom_package
        if package is not None:
            result.checks.append(f"bootrom: {image.name} carries a bootrom package "
                                 f"({_size(package.size)} bytes) to replace the factory "
                                 f"bootrom {info.bootrom_build}")
    _size_for_method(result, info, image, method or result.required_method)
    return result


def _files(result: Preflight, image: FirmwareFile, updater: FirmwareFile | None,
           bootrom: FirmwareFile | None, cat: Catalogue) -> None:
    for file in (image, updater, bootrom):
        if file is None:
            continue
        result.notes.extend(file.warnings)
        if file.container is not None:
            sections = file.sections
            checks = sorted({s.check for s in sections})
            result.checks.append(f"{file.name}: {len(sections)} package(s), every check value "
                                 f"verifies ({', '.join(checks)})")
        if file.known is not None and file.known.size is not None and not file.warnings:
            what = "size and SHA-256 match" if file.known.sha256 else "size matches"
            result.checks.append(f"{file.name}: {what} the official file "
                                 f"({_size(file.size)} bytes)")
        if file.elf is not None:
            version = f", version string '{file.elf.version_string}'" \
                if file.elf.version_string else ""
            result.checks.append(f"{file.name}: 32-bit big-endian Andes NDS32 executable, "
                                 f"{_size(file.size)} bytes, every section inside the file"
                                 f"{version}")
    if bootrom is not None:
        known = cat.bootrom_of(bootrom.size, bootrom.md5 or None)
        if known is not None:
            result.checks.append(f"{bootrom.name}: Pycom's built-in bootrom 5.1.1.0 "
                                 f"[{known.build}] (size and MD5 match)")


def _family(result: Preflight, info: ModemInfo, image: FirmwareFile,
            allow_family_change: bool) -> bool:
    """True when the upgrade switches the modem between CAT-M1 and NB-IoT (on purpose)."""
    if image.family is None:
        if image.kind == FileKind.DIFF:
            return False  # the diff-source check ties it to the modem's own build instead
        result.notes.append(f"{image.name}: its name does not say CAT-M1, NB-IoT or Monarch 2, "
                            "so the family was not checked")
        return False
    if info.family is None:
        result.notes.append(f"the modem's family cannot be read in {info.mode.label}: not "
                            f"checked against {image.name} ({image.family})")
        return False
    if image.family == info.family:
        result.checks.append(f"family: {image.family} image for a {info.family} modem")
        return False
    switch = image.family in MONARCH_1 and info.family in MONARCH_1
    # Only a full image can switch the radio: a diff patches one build of one family.
    if switch and allow_family_change and image.kind != FileKind.DIFF:
        result.notes.append(f"{image.name} switches the modem from {info.family} to "
                            f"{image.family} (--allow-family-change)")
        return True
    if image.kind == FileKind.DIFF:
        cause = (f"{image.name} is a differential image that switches the modem from "
                 f"{info.family} to {image.family}")
    else:
        cause = f"{image.name} is a {image.family} image; the modem is {info.family}"
    advice = None
    if switch and image.kind == FileKind.DIFF:
        advice = (f"A differential image cannot switch the family: to switch the modem to "
                  f"{image.family} on purpose, use the full {image.family} image with "
                  "--allow-family-change.")
    elif switch:
        advice = (f"Use the {info.family} image for this modem (see `sqnflash info`); to switch "
                  f"it to {image.family} on purpose, pass --allow-family-change.")
    raise FamilyMismatch(cause, advice=advice, modem_state=UNCHANGED)


def _monarch2_method(info: ModemInfo, image: FirmwareFile, method: str | None) -> None:
    """protocol-reference §3: every published Monarch 2 client (pysequans, Walter's library and
    its ESP-IDF example) writes the image ON_THE_FLY from RECOVERY; none stores it in the
    application, so nothing says a GM02S's application would apply it."""
    if method != "fff" or not (info.monarch2 or image.family == "Monarch 2"):
        return
    raise BadOption("--method fff is not used on a Monarch 2: every published Monarch 2 client "
                    "sends the image ON_THE_FLY from RECOVERY (AT+SMSWBOOT=3,1, then "
                    "AT+SMSTPU=\"ON_THE_FLY\"); none stores it in the application",
                    advice="Drop --method (or pass --method on-the-fly): sqnflash takes the "
                           "modem to RECOVERY and sends the image there.",
                    modem_state=UNCHANGED)


def _diff_advice(info: ModemInfo, cat: Catalogue) -> str:
    """What to use instead of a diff for another build, within the catalogue's path rules (a
    modem that needs updater.elf takes no diff at all)."""
    full = "NB1-<build>.dup" if info.family == "NB-IoT" else "CATM1-<build>.dup"
    if needs_updater(info):
        rules = cat.rules_of("diff-without-updater")
        why = f" ({rules[0].text})" if rules else ""
        return (f"This modem has the factory bootrom ({info.bootrom_build}): use the full image "
                f"({full}) with the updater.elf from the same package (zip).{why}")
    running = info.software_build
    known = [f.name for f in cat.files if f.kind == "diff" and f.source_build == running
             and (info.family is None or f.family == info.family)]
    if known:
        return (f"Use {' or '.join(known)} (official differential images that patch build "
                f"{running}), or the full image ({full}) of the release you want.")
    return (f"No official differential image patches build {running}: use the full image "
            f"({full}) of the release you want.")


def _diff_source(result: Preflight, info: ModemInfo, image: FirmwareFile,
                 cat: Catalogue) -> None:
    if image.kind != FileKind.DIFF:
        return
    if image.source_build is None:
        result.notes.append(f"{image.name}: the name does not say which build it patches; the "
                            "modem will refuse it if it is not its own")
        return
    if info.software_build is None:
        return  # only the application can take a diff; the planner refuses the other modes
    if image.source_build != info.software_build:
        raise DiffSourceMismatch(
            f"{image.name} patches build {image.source_build}; the modem runs "
            f"{info.software_build}",
            advice=_diff_advice(info, cat),
            modem_state=UNCHANGED)
    result.checks.append(f"diff source: {image.name} patches {image.source_build}, the build "
                         "the modem runs")


def _direction(result: Preflight, info: ModemInfo, image: FirmwareFile, allow_downgrade: bool,
               family_change: bool) -> None:
    target, running = image.build, info.software_build
    if target is None or running is None:
        if running is None:
            result.notes.append(f"the modem does not report its build in {info.mode.label}: "
                                "whether this is an upgrade or a downgrade was not checked")
        return
    if family_change:
        result.notes.append(f"builds {running} ({info.family}) and {target} ({image.family}) "
                            "belong to different firmware lines: not compared")
        return
    if target > running:
        result.checks.append(f"direction: {running} -> {target} is an upgrade")
    elif target < running:
        if not allow_downgrade:
            raise Downgrade(f"{image.name} installs build {target}, older than the {running} "
                            "the modem runs", modem_state=UNCHANGED)
        result.notes.append(f"downgrade from {running} to {target} (--allow-downgrade)")


def _path_rules(result: Preflight, info: ModemInfo, image: FirmwareFile, method: str | None,
                cat: Catalogue, force: bool = False) -> None:
    applied: list[str] = []
    overridden = False
    known = image.known
    for rule in cat.rules:
        if rule.kind == "requires-running" and known is not None and rule.file == known.name:
            if info.software_build is None:
                result.notes.append(f"rule '{rule.id}': {rule.text} The modem's build cannot "
                                    f"be read in {info.mode.label}, so this was not checked.")
            elif info.software_build != rule.requires_build:
                raise IntermediateRequired(
                    f"{image.name} applies only to a modem that runs {rule.requires_build}; "
                    f"this one runs {info.software_build}. Install {rule.intermediate} first",
                    advice=f"Run sqnflash upgrade with {rule.intermediate} first, then with "
                           f"{image.name}, without resetting the modem in between. ({rule.text})",
                    modem_state=UNCHANGED, details={"intermediate": rule.intermediate})
            else:
                applied.append(f"'{rule.id}' (the modem runs {rule.requires_build})")
        elif rule.kind == "method" and known is not None and rule.file == known.name:
            if method is not None and method != rule.method:
                raise BadOption(f"{image.name} must be sent {rule.method}, not by --method "
                                f"{method}", advice=f"Drop --method. ({rule.text})")
            result.required_method = rule.method
            applied.append(f"'{rule.id}' (sent {rule.method})")
            if known.step is not None:
                nxt = next((f for f in cat.files if f.build == known.build
                            and f.step == known.step + 1), None)
                if nxt is not None:
                    result.notes.append(f"{image.name} is step {known.step} of release "
                                        f"{known.build}: afterwards, do not reset the modem and "
                                        f"run the upgrade again with {nxt.name}")
        elif rule.kind == "min-running-lr" and info.family == rule.family and rule.min_lr:
            running = info.lr_version or info.ue_version
            if running is None:
                continue
            if version_tuple(running) < version_tuple(rule.min_lr) and force:
                result.notes.append(f"the modem runs LR {running}, below {rule.min_lr}: sent "
                                    f"anyway (--force). ({rule.text})")
                overridden = True
                continue
            if version_tuple(running) < version_tuple(rule.min_lr):
                raise IntermediateRequired(
                    f"the modem runs LR {running}; {image.name} needs at least {rule.min_lr}",
                    advice=f"Get {rule.intermediate} first; --force sends the image anyway, as "
                           f"pysequans' --force does. ({rule.text})",
                    modem_state=UNCHANGED, details={"intermediate": rule.intermediate})
            applied.append(f"'{rule.id}' (the modem runs LR {running}, at least "
                           f"{rule.min_lr})")
        elif rule.kind == "note-running" and info.software_build == rule.running_build:
            result.notes.append(rule.text)
    if applied:
        result.checks.append("path rules: " + "; ".join(applied))
    elif not overridden:  # else one is needed, and the note above says --force skipped it
        result.checks.append("path rules: no intermediate release is needed")


def check_updater_chip(image: FirmwareFile, updater: FirmwareFile) -> None:
    """An ELF built for the other chip must never be loaded into the boot loader's RAM. Only the
    chip is compared: the 2018 updater says 6.0.0.0 (NB-IoT) yet ships with CAT-M1 38638 too."""
    elf_family = family_of_lr(updater.lr_version)
    elf_chip, image_chip = chip_of(elf_family), chip_of(image.family)
    if elf_chip is None or image_chip is None or elf_chip == image_chip:
        return
    elf = "a Monarch 2 ELF" if elf_chip == "Monarch 2" else "a Monarch 1 updater"
    wanted = ("the mtools.elf of the Monarch 2 firmware package" if image_chip == "Monarch 2"
              else "the updater.elf from the same package (zip) as the image")
    raise UpdaterMismatch(
        f"{updater.name} is {elf} (version {updater.lr_version}, {elf_family}); "
        f"{image.name} is a {image.family} image",
        advice=f"Pass {wanted} with --updater.", modem_state=UNCHANGED,
        details={"updater_version": updater.lr_version, "updater_family": elf_family,
                 "image_family": image.family})


def _updater_release(result: Preflight, image: FirmwareFile, updater: FirmwareFile,
                     cat: Catalogue) -> None:
    check_updater_chip(image, updater)
    release = cat.release(image.build)
    belongs = cat.updater_of_size(updater.size)
    if release is not None and release.updater_sizes:
        if updater.size in release.updater_sizes:
            result.checks.append(f"{updater.name}: {_size(updater.size)} bytes, the updater of "
                                 f"release {release.build} like {image.name}")
            return
        expected = " or ".join(_size(s) for s in release.updater_sizes)
        other = (f", the size of the updater of release "
                 f"{', '.join(str(b) for b in belongs.releases)}") if belongs else ""
        raise UpdaterMismatch(
            f"{updater.name} has {_size(updater.size)} bytes{other}; the updater of "
            f"{image.name} (release {release.build}) has {expected}",
            modem_state=UNCHANGED,
            details={"updater_size": updater.size, "expected": list(release.updater_sizes)})
    if belongs is not None:
        result.notes.append(
            f"{updater.name} is the updater of release "
            f"{', '.join(str(b) for b in belongs.releases)}; the catalogue does not know which "
            f"updater belongs to {image.name}: make sure both come from the same zip")
    else:
        origin = ("the same release as" if image.family == "Monarch 2"  # not shipped as a zip
                  else "the same zip as")
        result.notes.append(f"{updater.name} ({_size(updater.size)} bytes) is not in the "
                            f"catalogue: make sure it comes from {origin} {image.name}")


def _size_for_method(result: Preflight, info: ModemInfo, image: FirmwareFile,
                     method: str | None) -> None:
    limit = f"{FFF_STORE_LIMIT // (1024 * 1024)} MiB"
    if image.kind == FileKind.DIFF:
        if not image.fits_store:
            raise ImageTooLarge(
                f"{image.name} has {_size(image.size)} bytes; a differential image is stored in "
                f"the modem's upgrade area first, which holds at most {limit}",
                advice="Use the full image of that release instead (it is written ON_THE_FLY).",
                modem_state=UNCHANGED)
        result.checks.append(f"size: {_size(image.size)} bytes fit the modem's {limit} upgrade "
                             "area (FFF method)")
        return
    if method == "fff" and not image.fits_store:
        raise ImageTooLarge(f"{image.name} has {_size(image.size)} bytes; the FFF method stores "
                            f"at most {limit}", modem_state=UNCHANGED)
    if (info.mode == Mode.APPLICATION and not info.old_bootrom and image.fits_store
            and method != "on-the-fly"):
        result.checks.append(f"size: {_size(image.size)} bytes fit the modem's {limit} upgrade "
                             "area (FFF method)")
    else:
        result.checks.append(f"size: {_size(image.size)} bytes, written to flash as they arrive "
                             "(ON_THE_FLY)")
