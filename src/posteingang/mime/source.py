"""Random access to a message's octets without holding them: `FileSource`.

The splitter (`structure`) asks a handful of questions of the raw message:
``find`` a short pattern from an offset, ``startswith`` at an offset,
``count`` line feeds in a range, one octet at an offset, or a short slice.
`ByteSource` names exactly those operations; ``bytes`` answers them
natively, and `FileSource` answers them from a seekable binary file through
one fixed-size read window, so a 50 MB message costs a 50 MB *scan* but only
a window of memory.

Theory of operation
-------------------
The window is a single ``bytes`` object holding the file's octets
``[base, base + len(window))``.  A question that falls inside it is answered
from it; otherwise the window is refilled starting at the asked offset (the
splitter moves forwards, and its look-backs are a byte or two, which a
refill keeps by starting a little before the offset).  ``find`` scans window
after window, re-reading ``len(pattern) - 1`` octets at each seam so that a
match straddling two windows is still found; ``count`` streams fresh chunks
through without touching the window.  Slices longer than a window (decoded
text, capped by the caller) are read directly.  Every read costs O(octets
read): nothing ever rescans what it has already scanned within one call.

What this module must never do: keep more than one window (plus the one
slice being returned) in memory, or write to the file.
"""

from __future__ import annotations

from typing import BinaryIO, Protocol, SupportsIndex, overload

#: Octets per read window (and per chunk of a ``count`` scan).
DEFAULT_WINDOW = 256 * 1024

# A refill starts this many octets before the asked offset, so that the
# splitter's one-octet look-backs (``raw[p - 1]``) stay inside the window.
_LOOK_BACK = 64


class ByteSource(Protocol):
    """The read-only operations the splitter uses; ``bytes`` is one."""

    def __len__(self) -> int: ...

    @overload
    def __getitem__(self, key: SupportsIndex, /) -> int: ...

    @overload
    def __getitem__(self, key: slice, /) -> bytes: ...

    def find(self, sub: bytes, start: SupportsIndex = ..., end: SupportsIndex = ..., /) -> int: ...

    def startswith(self, prefix: bytes, start: SupportsIndex = ..., /) -> bool: ...

    def count(self, sub: bytes, start: SupportsIndex = ..., end: SupportsIndex = ..., /) -> int: ...


class FileSource:
    """The octets ``[0, size)`` of a message stored in a seekable binary file
    from its current position on, read through one window of ``window``
    octets.  Offsets are relative to where the message starts."""

    __slots__ = ("_base", "_buf", "_f", "_origin", "_size", "_window")

    def __init__(self, f: BinaryIO, size: int, *, window: int = DEFAULT_WINDOW) -> None:
        if window < 2 * _LOOK_BACK:
            raise ValueError(f"window must be at least {2 * _LOOK_BACK} octets")
        self._f = f
        self._origin = f.tell()
        self._size = size
        self._window = window
        self._base = 0
        self._buf = b""

    def __len__(self) -> int:
        return self._size

    def _read(self, pos: int, n: int) -> bytes:
        """Exactly the octets ``[pos, pos + n)`` clipped to the message."""
        n = min(n, self._size - pos)
        if n <= 0:
            return b""
        f = self._f
        f.seek(self._origin + pos)
        data = f.read(n)
        if len(data) < n:  # a raw (unbuffered) file may return short reads
            parts = [data]
            got = len(data)
            while got < n:
                more = f.read(n - got)
                if not more:
                    break
                parts.append(more)
                got += len(more)
            data = b"".join(parts)
        return data

    def _fill(self, pos: int) -> None:
        """Refill the window so that it covers ``pos`` (and what follows)."""
        base = max(0, pos - _LOOK_BACK)
        self._buf = self._read(base, self._window)
        self._base = base

    @overload
    def __getitem__(self, key: SupportsIndex, /) -> int: ...

    @overload
    def __getitem__(self, key: slice, /) -> bytes: ...

    def __getitem__(self, key: SupportsIndex | slice, /) -> int | bytes:
        if isinstance(key, slice):
            start, stop, step = key.indices(self._size)
            if step != 1:
                raise ValueError("FileSource slices must be contiguous")
            if stop <= start:
                return b""
            rel = start - self._base
            if rel >= 0 and stop - self._base <= len(self._buf):
                return self._buf[rel : stop - self._base]
            if stop - start > self._window - _LOOK_BACK:
                return self._read(start, stop - start)
            self._fill(start)
            return self._buf[start - self._base : stop - self._base]
        i = key.__index__()
        if not 0 <= i < self._size:
            raise IndexError("FileSource index out of range")
        rel = i - self._base
        if not 0 <= rel < len(self._buf):
            self._fill(i)
            rel = i - self._base
        return self._buf[rel]

    def _range(self, start: SupportsIndex, end: SupportsIndex | None) -> tuple[int, int]:
        """Clip ``start``/``end`` like ``bytes`` methods do (no negatives here)."""
        s = start.__index__()
        e = self._size if end is None else min(end.__index__(), self._size)
        if s < 0 or e < 0:
            raise ValueError("FileSource offsets must not be negative")
        return s, e

    def find(
        self, sub: bytes, start: SupportsIndex = 0, end: SupportsIndex | None = None, /
    ) -> int:
        s, e = self._range(start, end)
        m = len(sub)
        if m == 0:
            return s if s <= e else -1
        if m > self._window // 2:
            return self._find_long(sub, s, e)
        pos = s
        while pos + m <= e:
            rel = pos - self._base
            if rel < 0 or pos + m > self._base + len(self._buf):
                self._fill(pos)
                rel = pos - self._base
            buf_end = self._base + len(self._buf)
            i = self._buf.find(sub, rel, min(e, buf_end) - self._base)
            if i >= 0:
                return self._base + i
            if buf_end >= e:
                return -1
            # A match may straddle the seam: the next window re-reads its head.
            pos = buf_end - m + 1
            self._fill(pos)
        return -1

    def _find_long(self, sub: bytes, s: int, e: int) -> int:
        """`find` for a pattern too long for the window (a huge boundary):
        chunks of four pattern lengths, read past the window."""
        m = len(sub)
        pos = s
        while pos + m <= e:
            chunk = self._read(pos, min(4 * m, e - pos))
            i = chunk.find(sub)
            if i >= 0:
                return pos + i
            if pos + len(chunk) >= e:
                return -1
            pos += len(chunk) - m + 1
        return -1

    def startswith(self, prefix: bytes, start: SupportsIndex = 0, /) -> bool:
        s = start.__index__()
        n = len(prefix)
        if s < 0:
            raise ValueError("FileSource offsets must not be negative")
        if s + n > self._size:
            return False
        rel = s - self._base
        if rel >= 0 and s + n <= self._base + len(self._buf):
            return self._buf.startswith(prefix, rel)
        return self[s : s + n] == prefix

    def count(
        self, sub: bytes, start: SupportsIndex = 0, end: SupportsIndex | None = None, /
    ) -> int:
        """Occurrences of a one-octet ``sub`` (line feeds) in ``[start, end)``."""
        if len(sub) != 1:
            raise ValueError("FileSource.count counts single octets")
        s, e = self._range(start, end)
        rel = s - self._base
        if rel >= 0 and e <= self._base + len(self._buf):
            return self._buf.count(sub, rel, e - self._base)
        total = 0
        pos = s
        while pos < e:
            chunk = self._read(pos, min(self._window, e - pos))
            if not chunk:
                break
            total += chunk.count(sub)
            pos += len(chunk)
        return total
