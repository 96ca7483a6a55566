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
from sqnflash.sim.modem_core import ModemCore
from sqnflash.sim.modes import Boot, Smod


class ApplyPhase(ModemCore):
    def _start_apply(self, verdict: Received, *, via: str) -> None:
        self._applying = True
        self.idle.busy()
        self._apply = (verdict, via)
        kind = verdict.meta.kind if verdict.meta else None
        self.flash.report = "No report" if self._unreported(kind, via) else "on-going"
        shape = self.profile.bootrom_report
        self.report_withheld = (shape if kind == ImageKind.BOOTROM and via == "on-the-fly"
                                and shape in ("none", "error") else "")
        duration = self.config.bootrom_apply_s if kind == ImageKind.BOOTROM else self.config.apply_s
        self._note(f"applying {kind.value if kind else 'unknown'} image ({via}), {duration:g} s")
        if self.faults.power_loss_phase("apply"):
            self._later(duration / 2, self.power_cycle)
            return
        self._later(duration, lambda: self._finish_apply(verdict, via))

    def _record(self, verdict: Received, via: str, problem: str | None) -> dict[str, Any]:
        meta = verdict.meta
        record: dict[str, Any] = {
            "via": via,
            "kind": meta.kind.value if meta else None,
            "from": self.flash.software,
            "to": meta.version if meta else None,
            "result": "fail" if problem else "success",
        }
        if problem:
            record["reason"] = problem
        return record

    def _interrupt_apply(self, why: str) -> None:
        """An apply cut short: nothing is applying any more, so the report says `fail`."""
        if not self._applying or self._apply is None:
            return
        verdict, via = self._apply
        self._apply = None
        self._applying = False
        self.flash.report = "fail"
        self.flash.history.append(self._record(verdict, via, why))
        self._note(f"upgrade failed: {why}")

    def _finish_apply(self, verdict: Received, via: str) -> None:
        self._applying = False
        self.idle.ready(self.engine.time)
        self._apply = None
        problem = self._apply_problem(verdict, via)
        if problem is None and self.faults.apply_fails():
            problem = "fault: apply reports fail"
        meta = verdict.meta
        record = self._record(verdict, via, problem)
        if problem:
            self.flash.report = "fail"
            self._note(f"upgrade failed: {problem}")
        else:
            assert meta is not None
            if meta.kind == ImageKind.BOOTROM:
                self._install_bootrom(meta.version, via)
            else:
                self._install(meta, via)
            self.flash.report = "success"
            self._note(f"upgrade applied: now {meta.kind.value} {meta.version}")
        if self._unreported(meta.kind if meta else None, via):
            self.flash.report = "No report"
        self.flash.history.append(record)
        if via == "store":
            if not problem:
                self.flash.boot = Boot.FFF  # the FFF method brings the modem back by itself
            self.reboot("upgrade finished", announce=True)
        elif (not problem and self.profile.self_reboot_after_otf and meta is not None
              and meta.kind != ImageKind.BOOTROM):
            self.flash.boot = Boot.FFF
            if self.profile.self_reboot_report == "no-report":
                self.flash.report = "No report"
            self.reboot("image written: back to the application by itself", announce=True)

    def _unreported(self, kind: ImageKind | None, via: str) -> bool:
        """`bootrom_report=no-report`: a bootrom package sent ON_THE_FLY leaves no report."""
        return (kind == ImageKind.BOOTROM and via == "on-the-fly"
                and self.profile.bootrom_report == "no-report")

    def _install_bootrom(self, build: int, via: str) -> None:
        # `bootloader0_after_otf=kept`: showver lags behind until a store apply rewrites it.
        self.flash.install_bootrom(
            build, showver_lags=via == "on-the-fly" and self.profile.bootloader0_kept)

    def _install(self, meta: ImageMeta, via: str) -> None:
        family = meta.family if meta.family is not None else self.flash.family
        self.flash.install(meta.version, meta.lr or lr_version(family, meta.version),
                           meta.family, on_the_fly=via == "on-the-fly")

    def _apply_problem(self, verdict: Received, via: str) -> str | None:
        if not verdict.ok:
            return verdict.problem
        meta = verdict.meta
        if verdict.is_elf or meta is None:
            return "an ELF file is not an upgrade package"
        if meta.kind == ImageKind.UPDATER:
            return "an updater is not an upgrade package"
        if via == "on-the-fly" and self.mode == Smod.FFF and meta.kind != ImageKind.BOOTROM:
            return "only a bootrom package can be flashed ON_THE_FLY from the application"
        if meta.kind == ImageKind.DIFF:
            if via != "store":
                return "a differential image must be stored with AT+SMSTPU, not ON_THE_FLY"
            if meta.source is not None and meta.source != self.flash.software:
                return (f"differential image for build {meta.source} cannot patch build "
                        f"{self.flash.software}")
        if meta.family is None and meta.kind != ImageKind.BOOTROM:
            return f"LR {meta.lr or '?'} image: not a Monarch 1 (SQN3330) build"
        if meta.family is not None and (meta.family == Family.MONARCH2) != self.profile.monarch2:
            other = "Monarch 2 (GM02S)" if self.profile.monarch2 else "Monarch 1 (SQN3330)"
            return f"LR {meta.lr or '?'} image: not a {other} build"
        if (self.profile.monarch2 and meta.kind == ImageKind.FULL
                and needs_raster_upgrade(self.flash.software)):
            return (f"raster upgrade required: LR{lr_version(Family.MONARCH2, self.flash.software)}"
                    " is below 8.0.4.0")
        # A full image installs whichever family it is (Pycom documents the switch); a diff
        # can only patch the family the modem runs.
        if meta.kind == ImageKind.DIFF and meta.family != self.flash.family:
            return (f"{meta.family.value if meta.family else '?'} differential image on a "
                    f"{self.flash.family.value} modem")
        return None
