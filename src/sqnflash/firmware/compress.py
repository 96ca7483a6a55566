"""A firmware file as the zlib stream Monarch 2 modems inflate (STP data type CABA + 1).

pysequans compresses the whole `.dup` with `zlib.compressobj(level=-1, DEFLATED, wbits=12)` (a
zlib-wrapped stream with a 4 KiB window) before it sends it (docs/protocol.md §5). Here the
stream is produced chunk by chunk and never held whole: a first pass counts its length (STP
needs the total before the first block), and blocks are then compressed again as they are asked
for. Compression is deterministic, so both passes give the same bytes. Only a small window of
compressed bytes is kept: a block sent again after a residue starts at or after the last block
asked for; asking for anything earlier starts the stream over.
"""

from __future__ import annotations

import bisect
import zlib

from sqnflash.firmware.source import BlockSource, FileSource

ZLIB_WBITS = 12
ZLIB_LEVEL = zlib.Z_DEFAULT_COMPRESSION
CHUNK = 64 * 1024


def _packer() -> zlib._Compress:
    return zlib.compressobj(ZLIB_LEVEL, zlib.DEFLATED, ZLIB_WBITS)


class ZlibSource:
    """`inner` as a zlib stream; `size` and `read_at` are in compressed (wire) bytes."""

    def __init__(self, inner: BlockSource, *, chunk: int = CHUNK) -> None:
        self.inner = inner
        self.chunk = chunk
        # (compressed bytes out, image bytes in) after each chunk: maps wire to image progress.
        self._marks: list[tuple[int, int]] = []
        packer = _packer()
        out = 0
        for start in range(0, inner.size, chunk):
            data = inner.read_at(start, min(chunk, inner.size - start))
            out += len(packer.compress(data))
            self._marks.append((out, start + len(data)))
        out += len(packer.flush())
        self._marks.append((out, inner.size))
        self._size = out
        self._restart()

    @property
    def size(self) -> int:
        return self._size

    @property
    def image_size(self) -> int:
        return self.inner.size

    def _restart(self) -> None:
        self._packer: zlib._Compress | None = _packer()
        self._read = 0  # image bytes fed to the compressor
        self._base = 0  # stream offset of self._window[0]
        self._window = bytearray()

    def _more(self) -> bool:
        if self._packer is None:
            return False
        if self._read < self.inner.size:
            data = self.inner.read_at(self._read, min(self.chunk, self.inner.size - self._read))
            self._read += len(data)
            self._window += self._packer.compress(data)
        else:
            self._window += self._packer.flush()
            self._packer = None
        return True

    def read_at(self, offset: int, length: int) -> bytes:
        if offset < self._base:
            self._restart()
        while self._base + len(self._window) < offset + length:
            if self._base + len(self._window) <= offset:  # all of it before the block
                self._base += len(self._window)
                self._window.clear()
            if not self._more():
                break
        drop = min(offset - self._base, len(self._window))
        del self._window[:drop]
        self._base += drop
        return bytes(self._window[:length]) if self._base == offset else b""

    def image_bytes_at(self, offset: int) -> int:
        """How much of the image the first `offset` stream bytes carry (to chunk precision)."""
        if offset >= self._size:
            return self.inner.size
        index = bisect.bisect_right([out for out, _ in self._marks], offset)
        return self._marks[index - 1][1] if index else 0

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()


def zipped_size(source: FileSource) -> int:
    """The bytes `source` takes on the wire once zipped. Measured by streaming the whole file
    through the compressor the transfer uses (64 KiB at a time, never the whole image in
    memory): the estimate is then exact, and it costs about 0.1 s for a 7 MB image."""
    try:
        return ZlibSource(source).size
    finally:
        source.close()
