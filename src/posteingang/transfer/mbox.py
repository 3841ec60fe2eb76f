"""mbox files: split a stream into messages, and write messages back (mboxrd).

Theory of operation. An mbox is messages separated by "From_" lines: a line
that starts with ``From `` (RFC 4155 §2). Writers add an empty line after each
message and escape body lines that could be mistaken for a separator:

* mboxo prefixes ``From `` lines with ``>``; a line that already read ``>From ``
  stays as is, so reading cannot tell the two apart (lossy);
* mboxrd prefixes every ``>*From `` line with one more ``>``, and a reader removes
  exactly one, which restores the bytes exactly.

`MboxSplitter` is sans-I/O: `feed(chunk)` returns the messages completed so
far, `end()` the last one. A line is a separator only when it starts with
``From `` and follows an empty line (or starts the file); that is stricter
than RFC 4155's "any From_ line" and keeps an unescaped paragraph that begins
"From ..." right after a header-less line inside a message. The empty line
before a separator (LF or CRLF) belongs to the mbox, not to the message, and
is removed. Memory stays at one message plus one read chunk: consumed bytes
are dropped from the front of the buffer, and the separator search resumes
where it stopped, so a chunk costs O(chunk), never O(buffer).

This module must never change message bytes other than the documented
mboxrd un-escaping, and never read a whole file into memory.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import BinaryIO

from posteingang.transfer.errors import TransferError

FROM_ = b"From "
READ_CHUNK = 1 << 20

_MBOXRD_UNESCAPE = re.compile(rb"(?m)^>(>*From )")
_MBOXRD_ESCAPE = re.compile(rb"(?m)^(>*From )")
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    )
}
# "From sender Sat Jan  3 01:05:34 1996", optionally "... 1996 +0100" or a zone name
# before the year (ctime(3) with %Z, as some writers emit it).
_FROM_DATE = re.compile(
    rb"[A-Za-z]{3},?\s+([A-Za-z]{3})\s+(\d{1,2})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?"
    rb"(?:\s+[A-Za-z]{1,5})?\s+(\d{4})(?:\s+([+-])(\d{2})(\d{2}))?"
)


class MboxFormat(enum.StrEnum):
    """How body lines were escaped (see the module docstring)."""

    MBOXO = "mboxo"
    MBOXRD = "mboxrd"


class MboxError(TransferError):
    """The input is not an mbox, or it ends in the middle of a message."""


@dataclass(frozen=True, slots=True)
class MboxMessage:
    index: int  # 1-based position in the file
    offset: int  # octet offset of the From_ line in the file
    from_line: bytes  # without its line ending
    raw: bytes  # the message, separator line and trailing empty line removed


def unescape_mboxrd(raw: bytes) -> bytes:
    """mboxrd: drop one ``>`` from every ``>+From `` line."""
    if b"From " not in raw:
        return raw
    return _MBOXRD_UNESCAPE.sub(rb"\1", raw)


def escape_mboxrd(raw: bytes) -> bytes:
    """mboxrd: add one ``>`` to every ``>*From `` line (inverse of `unescape_mboxrd`)."""
    if b"From " not in raw:
        return raw
    return _MBOXRD_ESCAPE.sub(rb">\1", raw)


def _strip_separator_blank(raw: bytes) -> bytes:
    # The writer's empty line after the message: "\n" or "\r\n", preceded by the
    # message's own last line ending.
    if raw.endswith(b"\n\r\n"):
        return raw[:-2]
    if raw.endswith(b"\n\n") or raw == b"\n":
        return raw[:-1]
    if raw == b"\r\n":
        return b""
    return raw


class MboxSplitter:
    """Bytes in, `MboxMessage`s out. Feed chunks in file order, then call `end()`."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._base = 0  # file offset of _buf[0]
        self._from_line: bytes | None = None
        self._from_offset = 0
        self._body = 0  # index in _buf where the current message's bytes start
        self._search = 0  # where the next separator search resumes
        self._count = 0
        self._checked_start = False

    def feed(self, data: bytes) -> list[MboxMessage]:
        self._buf += data
        if not self._checked_start:
            if len(self._buf) < len(FROM_):
                return []
            if not self._buf.startswith(FROM_):
                raise MboxError("not an mbox file: it does not start with a 'From ' line")
            self._checked_start = True
        return self._drain()

    def end(self) -> list[MboxMessage]:
        out = self._drain()
        if not self._buf:
            return out  # an empty file is an empty mbox
        if not self._checked_start or self._from_line is None:
            raise MboxError("truncated mbox: the last 'From ' line is cut off")
        raw = bytes(self._buf[self._body :])
        if raw and not raw.endswith(b"\n"):
            raise MboxError(
                f"truncated mbox: message {self._count + 1} is cut off"
                " (the file does not end with a line ending)"
            )
        out.append(self._message(_strip_separator_blank(raw)))
        self._buf.clear()
        self._from_line = None
        return out

    def _message(self, raw: bytes) -> MboxMessage:
        assert self._from_line is not None
        self._count += 1
        return MboxMessage(self._count, self._from_offset, self._from_line, raw)

    def _drain(self) -> list[MboxMessage]:
        out: list[MboxMessage] = []
        buf = self._buf
        while True:
            if self._from_line is None:
                end = buf.find(b"\n")
                if end < 0:
                    return out
                line = bytes(buf[:end])
                self._from_line = line[:-1] if line.endswith(b"\r") else line
                self._from_offset = self._base
                self._body = end + 1
                self._search = end
            j = buf.find(b"\nFrom ", self._search)
            if j < 0:
                # Keep the last few bytes searchable: "\nFrom" may straddle chunks.
                self._search = max(self._search, len(buf) - len(FROM_))
                return out
            if buf[j - 1] == 0x0A or (buf[j - 1] == 0x0D and buf[j - 2] == 0x0A):
                raw = bytes(buf[self._body : j + 1])
                out.append(self._message(_strip_separator_blank(raw)))
                del buf[: j + 1]
                self._base += j + 1
                self._from_line = None
            else:
                self._search = j + 1


def iter_mbox(f: BinaryIO, chunk_size: int = READ_CHUNK) -> Iterator[MboxMessage]:
    """Messages of an open mbox file, read `chunk_size` octets at a time."""
    splitter = MboxSplitter()
    while chunk := f.read(chunk_size):
        yield from splitter.feed(chunk)
    yield from splitter.end()


# -- From_ line dates ----------------------------------------------------------------


def from_line_date(from_line: bytes) -> datetime | None:
    """The date of a From_ line (asctime, UTC unless a numeric zone follows), or None."""
    m = _FROM_DATE.search(from_line, len(FROM_))
    if m is None:
        return None
    month = _MONTHS.get(m.group(1).decode("ascii").lower())
    if month is None:
        return None
    tz: timezone = UTC
    if m.group(7):
        minutes = int(m.group(8)) * 60 + int(m.group(9))
        if minutes >= 24 * 60:
            return None
        tz = timezone(timedelta(minutes=minutes if m.group(7) == b"+" else -minutes))
    try:
        return datetime(
            int(m.group(6)),
            month,
            int(m.group(2)),
            int(m.group(3)),
            int(m.group(4)),
            int(m.group(5) or 0),
            tzinfo=tz,
        )
    except ValueError:
        return None


def format_from_line(internal_date: datetime, sender: str = "MAILER-DAEMON") -> bytes:
    """``From sender Www Mmm dd hh:mm:ss yyyy`` in UTC (RFC 4155 §2: asctime, UTC)."""
    d = internal_date.astimezone(UTC)
    return f"From {sender} {d:%a %b} {d.day:2d} {d:%H:%M:%S %Y}".encode("ascii")


def format_message(raw: bytes, internal_date: datetime) -> bytes:
    """One message as an mboxrd entry: From_ line, escaped bytes, final empty line.

    A message that does not end with a line ending gets one; the sidecar's size
    tells the reader to drop it again (see `posteingang.transfer.sidecar`).
    """
    body = escape_mboxrd(raw)
    parts = [format_from_line(internal_date), b"\n", body]
    if body and not body.endswith(b"\n"):
        parts.append(b"\n")
    parts.append(b"\n")
    return b"".join(parts)
