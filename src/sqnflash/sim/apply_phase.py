"""The simulated modem's apply phase: an uploaded image checked, installed (or refused) and
reported through `AT+SMUPGRADE?`."""

from __future__ import annotations

from typing import Any

from sqnflash.sim.images import (
    Family,
    ImageKind,
    ImageMeta,
    Received,
    lr_version,
    needs_raster_upgrade,
)
from sqnflash.sim.modem_core import ModemCore, Rebooter
from sqnflash.sim.modes import Boot, Smod


class ApplyPhase:
    """An image checked and installed; the modem restarted (by the `Rebooter` it is given) where
    the method says so."""

    def __init__(self, core: ModemCore, rebooter: Rebooter) -> None:
        self.core = core
        self.rebooter = rebooter
        self._apply: tuple[Received, str] | None = None  # the image being applied, and how

    def start_apply(self, verdict: Received, *, via: str) -> None:
        self.core.applying = True
        self.core.idle.busy()
        self._apply = (verdict, via)
        kind = verdict.meta.kind if verdict.meta else None
        self.core.flash.report = "No report" if self._unreported(kind, via) else "on-going"
        shape = self.core.profile.bootrom_report
        self.core.report_withheld = (shape if kind == ImageKind.BOOTROM and via == "on-the-fly"
                                     and shape in ("none", "error") else "")
        config = self.core.config
        duration = config.bootrom_apply_s if kind == ImageKind.BOOTROM else config.apply_s
        self.core.note(f"applying {kind.value if kind else 'unknown'} image ({via}), "
                       f"{duration:g} s")
        if self.core.faults.power_loss_phase("apply"):
            self.core.later(duration / 2, self.rebooter.power_cycle)
            return
        self.core.later(duration, lambda: self._finish_apply(verdict, via))

    def _record(self, verdict: Received, via: str, problem: str | None) -> dict[str, Any]:
        meta = verdict.meta
        record: dict[str, Any] = {
            "via": via,
            "kind": meta.kind.value if meta else None,
            "from": self.core.flash.software,
            "to": meta.version if meta else None,
            "result": "fail" if problem else "success",
        }
        if problem:
            record["reason"] = problem
        return record

    def interrupt_apply(self, why: str) -> None:
        """An apply cut short: nothing is applying any more, so the report says `fail`."""
        if not self.core.applying or self._apply is None:
            return
        verdict, via = self._apply
        self._apply = None
        self.core.applying = False
        self.core.flash.report = "fail"
        self.core.flash.history.append(self._record(verdict, via, why))
        self.core.note(f"upgrade failed: {why}")

    def _finish_apply(self, verdict: Received, via: str) -> None:
        self.core.applying = False
        self.core.idle.ready(self.core.engine.time)
        self._apply = None
        problem = self._apply_problem(verdict, via)
        if problem is None and self.core.faults.apply_fails():
            problem = "fault: apply reports fail"
        meta = verdict.meta
        record = self._record(verdict, via, problem)
        if problem:
            self.core.flash.report = "fail"
            self.core.note(f"upgrade failed: {problem}")
        else:
            assert meta is not None
            if meta.kind == ImageKind.BOOTROM:
                self._install_bootrom(meta.version, via)
            else:
                self._install(meta, via)
            self.core.flash.report = "success"
            self.core.note(f"upgrade applied: now {meta.kind.value} {meta.version}")
        if self._unreported(meta.kind if meta else None, via):
            self.core.flash.report = "No report"
        self.core.flash.history.append(record)
        if via == "store":
            if not problem:
                self.core.flash.boot = Boot.FFF  # the FFF method brings the modem back by itself
            self.rebooter.reboot("upgrade finished", announce=True)
        elif (not problem and self.core.profile.self_reboot_after_otf and meta is not None
              and meta.kind != ImageKind.BOOTROM):
            self.core.flash.boot = Boot.FFF
            if self.core.profile.self_reboot_report == "no-report":
                self.core.flash.report = "No report"
            self.rebooter.reboot("image written: back to the application by itself",
                                 announce=True)

    def _unreported(self, kind: ImageKind | None, via: str) -> bool:
        """`bootrom_report=no-report`: a bootrom package sent ON_THE_FLY leaves no report."""
        return (kind == ImageKind.BOOTROM and via == "on-the-fly"
                and self.core.profile.bootrom_report == "no-report")

    def _install_bootrom(self, build: int, via: str) -> None:
        # `bootloader0_after_otf=kept`: showver lags behind until a store apply rewrites it.
        self.core.flash.install_bootrom(
            build, showver_lags=via == "on-the-fly" and self.core.profile.bootloader0_kept)

    def _install(self, meta: ImageMeta, via: str) -> None:
        family = meta.family if meta.family is not None else self.core.flash.family
        self.core.flash.install(meta.version, meta.lr or lr_version(family, meta.version),
                                meta.family, on_the_fly=via == "on-the-fly")

    def _apply_problem(self, verdict: Received, via: str) -> str | None:
        if not verdict.ok:
            return verdict.problem
        meta = verdict.meta
        if verdict.is_elf or meta is None:
            return "an ELF file is not an upgrade package"
        if meta.kind == ImageKind.UPDATER:
            return "an updater is not an upgrade package"
        if via == "on-the-fly" and self.core.mode == Smod.FFF and meta.kind != ImageKind.BOOTROM:
            return "only a bootrom package can be flashed ON_THE_FLY from the application"
        if meta.kind == ImageKind.DIFF:
            if via != "store":
                return "a differential image must be stored with AT+SMSTPU, not ON_THE_FLY"
            if meta.source is not None and meta.source != self.core.flash.software:
                return (f"differential image for build {meta.source} cannot patch build "
                        f"{self.core.flash.software}")
        if meta.family is None and meta.kind != ImageKind.BOOTROM:
            return f"LR {meta.lr or '?'} image: not a Monarch 1 (SQN3330) build"
        profile, software = self.core.profile, self.core.flash.software
        if meta.family is not None and meta.family not in profile.image_families:
            return f"LR {meta.lr or '?'} image: not a {profile.name} build"
        if profile.raster_gate and meta.kind == ImageKind.FULL and needs_raster_upgrade(software):
            return (f"raster upgrade required: LR{lr_version(Family.MONARCH2, software)}"
                    " is below 8.0.4.0")
        # A full image installs whichever family it is (Pycom documents the switch); a diff
        # can only patch the family the modem runs.
        if meta.kind == ImageKind.DIFF and meta.family != self.core.flash.family:
            return (f"{meta.family.value if meta.family else '?'} differential image on a "
                    f"{self.core.flash.family.value} modem")
        return None
