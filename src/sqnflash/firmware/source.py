"""Where the bytes of a transfer come from: a file read block by block, or bytes in memory.

A 64 MB image is sent without ever being held in memory: the transfer asks for each block by
offset, and a file source reads just that block.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, Protocol


class BlockSource(Protocol):
    @property
    def size(self) -> int: ...

    def read_at(self, offset: int, length: int) -> bytes: ...


class BytesSource:
    def __init__(self, data: bytes) -> None:
        self._data = data

    @property
    def size(self) -> int:
        return len(self._data)

    def read_at(self, offset: int, length: int) -> bytes:
        return self._data[offset : offset + length]


class FileSource:
    """Reads blocks of a file; the file is opened on first use and closed by `close()`."""

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self._size = size
        self._file: BinaryIO | None = None
        self._position = -1

    @property
    def size(self) -> int:
        return self._size

    def read_at(self, offset: int, length: int) -> bytes:
        if self._file is None:
            self._file = self.path.open("rb")
            self._position = 0
        if self._position != offset:
            self._file.seek(offset)
        data = self._file.read(length)
        self._position = offset + len(data)
        return data

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
