"""`sqnflash check FILE...` and `sqnflash catalogue`: judge firmware files offline, no modem."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from sqnflash.cli.common import check_input_paths
from sqnflash.cli.output import console, emit_json
from sqnflash.errors import SqnflashError
from sqnflash.firmware import FileKind, FirmwareFile, identify
from sqnflash.firmware.catalogue import load_catalogue, markdown
from sqnflash.firmware.inspect import Section
from sqnflash.firmware.names import family_of_lr


def _size(value: int) -> str:
    return f"{value:,}".replace(",", " ")


def describe(file: FirmwareFile) -> list[str]:
    """What is known of a file that passed every check, one fact per line."""
    cat = load_catalogue()
    facts = []
    build = ""
    if file.build is not None:
        build = f"build {file.build}"
        if file.source_build is not None:
            build = f"build {file.source_build} -> {file.build}"
        if file.installs_build is not None:
            build += f" (the modem then reports {file.installs_build})"
    lr = f"LR{file.lr_version}" if file.lr_version and file.kind != FileKind.UPDATER else ""
    family = file.family or "family unknown"
    if file.kind == FileKind.UPDATER and file.family is None:
        # Its version string tells the chip, not the radio: one 2018 updater serves both.
        chip = family_of_lr(file.lr_version)
        if chip is not None:
            family = "Monarch 2" if chip == "Monarch 2" else "Monarch 1 (CAT-M1 or NB-IoT)"
    facts.append(" · ".join(x for x in (file.kind.value, family, build,
                                        lr, f"{_size(file.size)} bytes") if x))
    if file.known is not None:
        official = "size and SHA-256 match" if file.known.sha256 else "size matches"
        if file.known.size is None:
            official = "its size was never published, so only its check values were verified"
        facts.append(f"official release {file.known.name}: {official}")
    if file.elf is not None:
        facts.append(f"ELF 32-bit big-endian Andes NDS32 executable, entry {file.elf.entry:#x}"
                     + (f", version string '{file.elf.version_string}'"
                        if file.elf.version_string else ""))
        belongs = cat.updater_of_size(file.size)
        if belongs is not None:
            facts.append("the updater.elf of release "
                         + ", ".join(str(b) for b in belongs.releases))
    if file.kind == FileKind.BOOTROM:
        bootrom = cat.bootrom_of(file.size, file.md5)
        if bootrom is not None:
            facts.append(f"Pycom's built-in bootrom 5.1.1.0 [{bootrom.build}] (size and MD5 "
                         "match)")
    if file.container is not None:
        sections = file.sections
        checks = ", ".join(sorted({s.check for s in sections}))
        facts.append(f"{len(sections)} package(s), every check value verifies ({checks})")
        content = file.content_release
        if content is not None:
            facts.append(f"its packages carry the build string {content[0]} [{content[1]}]")
        if file.bootrom_package is not None and file.kind != FileKind.BOOTROM:
            # The factory bootrom 33080 and its separate step are Monarch 1 (Pycom) matters.
            facts.append("carries a bootrom package (sent with the rest of the image)"
                         if file.family == "Monarch 2" else
                         "carries a bootrom package (for modems with the factory bootrom)")
    facts.append(f"sha256 {file.sha256}")
    return facts


def section_tree(file: FirmwareFile) -> Tree:
    tree = Tree(f"[bold]{escape(file.name)}[/]")
    parents: dict[int, Tree] = {-1: tree}
    for section in file.sections:
        parent = parents.get(section.depth - 1, tree)
        parents[section.depth] = parent.add(_section_line(section))
    return tree


def _section_line(section: Section) -> str:
    verdict = {True: "[green]verifies[/]", False: "[red]does NOT verify[/]",
               None: "not a checksum"}[section.verified]
    part = f", part type {section.part_type}" if section.part_type else ""
    builds = f", carries {', '.join(section.builds)}" if section.builds else ""
    what = f"{section.name} ({section.magic} '{escape(section.description)}')"
    return (f"{what} at {section.offset}: {_size(section.size)} bytes, {section.check} "
            f"{verdict}{part}{builds}")


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path),
                callback=check_input_paths)
@click.option("--sections", is_flag=True, help="List the packages inside each file.")
@click.option("--force", is_flag=True,
              help="Accept a file that bears an official name but not the official size.")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object per file, then the result (or the first error).")
def check(files: tuple[Path, ...], sections: bool, force: bool, as_json: bool) -> None:
    """Check firmware files offline: kind, family, build, size, SHA-256 and a verdict for each.

    Every package's check value is verified, the size is compared with the catalogue of
    official releases, updater.elf is checked as an ELF. Exits 0 only if every file is usable;
    otherwise with the exit code of the first refused file's error.
    """
    first_error: SqnflashError | None = None
    usable = 0
    for path in files:
        try:
            file = identify(path, force=force)
        except SqnflashError as error:
            first_error = first_error or error
            _report_refused(path, error, as_json)
            continue
        usable += 1
        _report_usable(file, sections, as_json)
    if first_error is not None:
        if not as_json:
            console.print(f"{usable} of {len(files)} file(s) usable")
        raise first_error
    if as_json:
        emit_json({"type": "result", "ok": True, "usable": usable, "refused": 0})
    else:
        console.print(f"[green]{usable} of {len(files)} file(s) usable[/]")


def _report_usable(file: FirmwareFile, sections: bool, as_json: bool) -> None:
    if as_json:
        data: dict[str, Any] = {"type": "file", "verdict": "usable", **file.to_dict(),
                                **_judged(file), "facts": describe(file)}
        if sections:
            data["sections"] = [s.to_dict() for s in file.sections]
        emit_json(data)
        return
    console.print(f"[bold]{escape(file.name)}[/]: [green]usable[/]"
                  + (" [yellow](with warnings)[/]" if file.warnings else ""))
    for fact in describe(file):
        console.print(f"    {escape(fact)}")
    for warning in file.warnings:
        console.print(f"    [yellow]warning[/]: {escape(warning)}")
    if sections and file.container is not None:
        console.print(section_tree(file))


def _judged(file: FirmwareFile) -> dict[str, Any]:
    """What the text output's lines say, as values: every fact `check` prints is in its JSON."""
    known = file.known
    official = None
    if known is not None:
        official = ("size unpublished" if known.size is None else
                    "size and SHA-256 match" if known.sha256 else "size matches")
    content = file.content_release
    sections = file.sections
    return {
        "official": official,
        "packages": len(sections) if file.container is not None else None,
        "check_values": sorted({s.check for s in sections}),
        "content_release": ({"lr_version": content[0], "build": content[1]}
                            if content is not None else None),
        "bootrom_package": (file.bootrom_package is not None
                            and file.kind != FileKind.BOOTROM),
    }


def _report_refused(path: Path, error: SqnflashError, as_json: bool) -> None:
    if as_json:
        emit_json({"type": "file", "verdict": "refused", "path": str(path), "name": path.name,
                   "error": error.to_dict()})
        return
    console.print(f"[bold]{escape(path.name)}[/]: [red]refused[/] ({error.code}) "
                  f"{escape(error.cause)}")


@click.command("catalogue")
@click.option("--markdown", "as_markdown", is_flag=True,
              help="Print the README's 'Which file do I need?' section.")
@click.option("--json", "as_json", is_flag=True, help="Print the catalogue as JSON.")
def catalogue_cmd(as_markdown: bool, as_json: bool) -> None:
    """The official firmware files sqnflash knows: names, sizes, builds, path rules, sources."""
    cat = load_catalogue()
    if as_markdown:
        click.echo(markdown(cat), nl=False)
        return
    if as_json:
        text = json.dumps({"files": [asdict(f) for f in cat.files],
                           "releases": [asdict(r) for r in cat.releases],
                           "updaters": [asdict(u) for u in cat.updaters],
                           "bootroms": [asdict(b) for b in cat.bootroms],
                           "rules": [asdict(r) for r in cat.rules]})
        click.echo(text)
        return
    table = Table(title="Known official files", expand=False)
    for column in ("file", "kind", "family", "build", "size (bytes)"):
        table.add_column(column, no_wrap=True)
    table.add_column("source")
    for known in cat.files:
        size = _size(known.size) if known.size is not None else "not published"
        table.add_row(known.name, known.kind, known.family, str(known.reported_build), size,
                      known.source)
    console.print(table)
    for rule in cat.rules:
        console.print(f"- {escape(rule.text)} [dim]({escape(rule.source)})[/]")
