"""The Sequans "CABA v3" package container of `.dup` files, without I/O.

Every element is an 18-byte little-endian header (`magic[4]`, `u16 version` = 3, `u16 flags`,
`u32 size`, `u16 check_kind`, `u16 check_size`, `u16 desc_len`), `desc_len` bytes of NUL-padded
description, `size` bytes of data and `check_size` bytes of check value (u32 LE) computed over the
header, description and data. `PACK` elements hold a back-to-back sequence of `UPGR` elements;
some files are such a sequence with no `PACK` around it. Check kind 1 is Sequans' Fletcher-32
(Monarch 1), kind 4 is zlib's CRC-32 (Monarch 2).

`ContainerReader` is fed the file's bytes in order and walks the tree while it checks every trailer,
so a 64 MB file is verified in one pass with constant memory.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from enum import IntEnum

from sqnflash.firmware.checksums import Fletcher32

HEADER = struct.Struct("<4sHHIHHH")
HEADER_SIZE = HEADER.size  # 18
CONTAINER_VERSION = 3
MAGIC_PACK = b"PACK"
MAGIC_UPGR = b"UPGR"
MAGICS = (MAGIC_PACK, MAGIC_UPGR)
HEAD_BYTES = 64  # how much of each element's data is kept for identification


class CheckKind(IntEnum):
    NONE = 0
    FLETCHER32 = 1  # called "CRC32" in Sequans' enum, but it is their Fletcher-32
    ECDSA_256 = 2
    RSA_SHA256 = 3
    CRC32 = 4


@dataclass(frozen=True)
class ElementHeader:
    magic: bytes
    version: int
    flags: int
    size: int
    check_kind: int
    check_size: int
    desc_len: int

    @classmethod
    def parse(cls, data: bytes) -> ElementHeader:
        return cls(*HEADER.unpack(data[:HEADER_SIZE]))

    def pack(self) -> bytes:
        return HEADER.pack(self.magic, self.version, self.flags, self.size, self.check_kind,
                           self.check_size, self.desc_len)

    @property
    def total(self) -> int:
        return HEADER_SIZE + self.desc_len + self.size + self.check_size


class _Check:
    """Incremental check value of one element; None digest for kinds that are not checksums."""

    def __init__(self, kind: int) -> None:
        self.kind = kind
        self._fletcher = Fletcher32() if kind == CheckKind.FLETCHER32 else None
        self._crc = 0

    def update(self, data: bytes) -> None:
        if self._fletcher is not None:
            self._fletcher.update(data)
        elif self.kind == CheckKind.CRC32:
            self._crc = zlib.crc32(data, self._crc)

    def digest(self) -> int | None:
        if self._fletcher is not None:
            return self._fletcher.digest()
        if self.kind == CheckKind.CRC32:
            return self._crc & 0xFFFFFFFF
        return None


def check_value(kind: int, data: bytes) -> int | None:
    check = _Check(kind)
    check.update(data)
    return check.digest()


# --------------------------------------------------------------------------- writing


def pad_description(text: bytes, extra: bytes = b"", *, align: int = 4) -> bytes:
    """Description bytes: text, NUL, optional extra bytes, NUL-padded to `align`."""
    raw = text + b"\0" + (extra + b"\0" if extra else b"")
    return raw + b"\0" * (-len(raw) % align)


class ElementWriter:
    """Builds one element while its data is produced in pieces."""

    def __init__(self, magic: bytes, description: bytes, size: int,
                 check_kind: int = CheckKind.FLETCHER32) -> None:
        self.header = ElementHeader(magic, CONTAINER_VERSION, 0, size, check_kind, 4,
                                    len(description))
        self._check = _Check(check_kind)
        self._written = 0
        self.head = self.header.pack() + description
        self._check.update(self.head)

    def data(self, chunk: bytes) -> bytes:
        self._written += len(chunk)
        if self._written > self.header.size:
            raise ValueError("more data than the header announces")
        self._check.update(chunk)
        return chunk

    def trailer(self) -> bytes:
        if self._written != self.header.size:
            raise ValueError(f"{self._written} of {self.header.size} data bytes written")
        value = self._check.digest()
        return struct.pack("<I", value if value is not None else 0)


def encode_element(magic: bytes, description: bytes, data: bytes,
                   check_kind: int = CheckKind.FLETCHER32) -> bytes:
    writer = ElementWriter(magic, description, len(data), check_kind)
    return writer.head + writer.data(data) + writer.trailer()


# --------------------------------------------------------------------------- reading


@dataclass
class Element:
    """One element found in a file, with what its trailer says."""

    offset: int
    depth: int
    header: ElementHeader
    description_raw: bytes = b""
    head: bytes = b""  # first HEAD_BYTES of the data
    stored_check: int | None = None
    computed_check: int | None = None
    children: list[Element] = field(default_factory=list)

    @property
    def magic(self) -> str:
        return self.header.magic.decode("latin-1")

    @property
    def description(self) -> str:
        """The description text up to its first NUL, as every reader of real files sees it."""
        return self.description_raw.split(b"\0", 1)[0].decode("latin-1")

    @property
    def description_extra(self) -> bytes:
        """Bytes after the first NUL of the description (empty in real files seen so far)."""
        parts = self.description_raw.split(b"\0", 1)
        return parts[1].strip(b"\0") if len(parts) > 1 else b""

    @property
    def size(self) -> int:
        return self.header.total

    @property
    def data_size(self) -> int:
        return self.header.size

    @property
    def part_type(self) -> bytes:
        return self.head[:4]

    @property
    def verified(self) -> bool | None:
        """True or False when the trailer could be checked, None when the kind is not a checksum."""
        if self.computed_check is None or self.stored_check is None:
            return None
        return self.computed_check == self.stored_check

    def walk(self) -> list[Element]:
        out = [self]
        for child in self.children:
            out.extend(child.walk())
        return out


@dataclass(frozen=True)
class ContainerProblem:
    offset: int
    message: str


@dataclass
class ContainerReport:
    elements: list[Element]
    size: int
    problems: list[ContainerProblem]

    @property
    def ok(self) -> bool:
        return not self.problems and all(e.verified is not False for e in self.all_elements())

    @property
    def is_container(self) -> bool:
        return bool(self.elements)

    def all_elements(self) -> list[Element]:
        out: list[Element] = []
        for element in self.elements:
            out.extend(element.walk())
        return out

    def failed_checks(self) -> list[Element]:
        return [e for e in self.all_elements() if e.verified is False]


class _Open:
    """An element being read: where it is and what remains of its current part."""

    def __init__(self, element: Element, check: _Check) -> None:
        self.element = element
        self.check = check
        self.part = "desc"
        self.remaining = element.header.desc_len
        self.desc = bytearray()


class ContainerReader:
    """Walks a container fed in order. `finish()` returns the tree and every problem found."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0  # file offset of the first byte in _buf
        self._stack: list[_Open] = []
        self._roots: list[Element] = []
        self._problems: list[ContainerProblem] = []
        self._stopped = False

    def feed(self, data: bytes) -> None:
        if self._stopped:
            self._pos += len(data)
            return
        self._buf += data
        self._run()

    def _take(self, n: int) -> bytes:
        chunk = bytes(self._buf[:n])
        del self._buf[:n]
        self._pos += n
        return chunk

    def _account(self, chunk: bytes, *, include_top: bool = True) -> None:
        opened = self._stack if include_top else self._stack[:-1]
        for item in opened:
            item.check.update(chunk)

    def _stop(self, message: str, offset: int | None = None) -> None:
        self._problems.append(ContainerProblem(self._pos if offset is None else offset, message))
        self._stopped = True
        self._pos += len(self._buf)
        self._buf.clear()

    def _run(self) -> None:
        while not self._stopped:
            if not self._stack or self._stack[-1].part == "children":
                if not self._start_element():
                    return
                continue
            top = self._stack[-1]
            if top.part == "trailer":
                if len(self._buf) < top.remaining:
                    return
                raw = self._take(top.remaining)
                self._account(raw, include_top=False)
                stored = int.from_bytes(raw[:4], "little") if len(raw) >= 4 else None
                top.element.stored_check = stored
                top.element.computed_check = top.check.digest()
                self._close_top(len(raw))
                continue
            if not self._buf:
                return
            n = min(len(self._buf), top.remaining)
            chunk = self._take(n)
            self._account(chunk)
            top.remaining -= n
            if top.part == "desc":
                top.desc += chunk
            elif len(top.element.head) < HEAD_BYTES:
                top.element.head += chunk[: HEAD_BYTES - len(top.element.head)]
            if top.remaining == 0:
                self._next_part(top)

    def _start_element(self) -> bool:
        parent = self._stack[-1] if self._stack else None
        if parent is not None and parent.remaining == 0:
            parent.part = "trailer"
            parent.remaining = parent.element.header.check_size
            return True
        if len(self._buf) < HEADER_SIZE:
            return False
        offset = self._pos
        header = ElementHeader.parse(bytes(self._buf[:HEADER_SIZE]))
        if header.magic not in MAGICS:
            where = f" inside {parent.element.magic} at {parent.element.offset}" if parent else ""
            what = _describe_foreign(bytes(self._buf[:4]))
            if parent is None and not self._roots:
                self._stop(f"not a Sequans package container: {what}", offset)
            else:
                self._stop(f"unexpected data{where} at offset {offset}: {what}", offset)
            return False
        if header.version != CONTAINER_VERSION:
            self._stop(f"{header.magic.decode()} element at offset {offset} has container version "
                       f"{header.version}, only version 3 is known", offset)
            return False
        if parent is not None and header.total > parent.remaining:
            self._stop(f"{header.magic.decode()} element at offset {offset} ({header.total} bytes) "
                       f"overruns its {parent.element.magic} by "
                       f"{header.total - parent.remaining} bytes", offset)
            return False
        raw = self._take(HEADER_SIZE)
        element = Element(offset, len(self._stack), header)
        if parent is not None:
            parent.element.children.append(element)
            parent.remaining -= header.total
        else:
            self._roots.append(element)
        item = _Open(element, _Check(header.check_kind))
        self._stack.append(item)
        self._account(raw)
        if item.remaining == 0:
            self._next_part(item)
        return True

    def _next_part(self, item: _Open) -> None:
        if item.part == "desc":
            item.element.description_raw = bytes(item.desc)
            if item.element.header.magic == MAGIC_PACK:
                item.part = "children"
                item.remaining = item.element.header.size
            else:
                item.part = "data"
                item.remaining = item.element.header.size
            if item.remaining == 0:
                item.part = "trailer"
                item.remaining = item.element.header.check_size
        elif item.part == "data":
            item.part = "trailer"
            item.remaining = item.element.header.check_size

    def _close_top(self, _trailer_len: int) -> None:
        self._stack.pop()

    def finish(self) -> ContainerReport:
        if not self._stopped:
            if self._stack:
                top = self._stack[-1]
                missing = sum(_still_needed(o) for o in self._stack) - len(self._buf)
                self._problems.append(ContainerProblem(
                    self._pos + len(self._buf),
                    f"truncated: the {top.element.magic} element at offset {top.element.offset} "
                    f"('{top.element.description}') ends early; "
                    f"{max(missing, 1)} bytes are missing",
                ))
            elif self._buf:
                self._problems.append(self._leftover_problem())
            elif not self._roots:
                self._problems.append(ContainerProblem(0, "empty file"))
        return ContainerReport(self._roots, self._pos + len(self._buf), self._problems)

    def _leftover_problem(self) -> ContainerProblem:
        """Fewer than HEADER_SIZE bytes after the last complete top-level element (or none)."""
        # Fixed: these bytes were always "stray bytes after the last element", even when they
        # are the start of a header cut short by a truncated download, or when there is no
        # element at all (a tiny HTML error page or ELF stub got no "not a container" message).
        head = bytes(self._buf[:4])
        if any(magic.startswith(head) for magic in MAGICS):
            return ContainerProblem(
                self._pos,
                f"truncated: the file ends inside the header of an element at offset "
                f"{self._pos}; at least {HEADER_SIZE - len(self._buf)} bytes are missing",
            )
        if not self._roots:
            return ContainerProblem(
                self._pos, f"not a Sequans package container: {_describe_foreign(head)}")
        return ContainerProblem(self._pos, f"{len(self._buf)} stray bytes after the last element")


def _still_needed(item: _Open) -> int:
    header = item.element.header
    if item.part == "desc":
        return item.remaining + header.size + header.check_size
    if item.part in ("data", "children"):
        return item.remaining + header.check_size
    return item.remaining


def _describe_foreign(first: bytes) -> str:
    if first.startswith(b"\x7fELF"):
        return "it starts like an ELF file"
    if first.startswith(b"PK"):
        return "it starts like a ZIP archive (unpack it first)"
    if first[:1] in (b"<",) or first.lower().startswith(b"<!do"):
        return "it starts like an HTML page (a failed download?)"
    return f"it starts with bytes {first.hex(' ')}"


def read_container(data: bytes) -> ContainerReport:
    reader = ContainerReader()
    reader.feed(data)
    return reader.finish()
