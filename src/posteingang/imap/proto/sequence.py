"""IMAP sequence sets (RFC 9051 §9 ``sequence-set``) and their ``*`` semantics.

A :class:`SequenceSet` is what a client wrote: ranges whose ends may be ``*``
("the largest number in use"), or ``$`` (RFC 5182 SEARCHRES: the saved
search result).  It is resolved against a concrete maximum only when a
command runs, because ``*`` means different things for message sequence
numbers and UIDs and changes as the mailbox changes.

RFC 9051 §9 ``seq-range``: "2:4" and "4:2" are equivalent, and "*:4" with a
largest number of 3 covers 3 — a range is the closed interval between its two
ends after ``*`` is replaced, intersected with ``1..max``.

This module must never consult the store or know about sessions; whether a
sequence number beyond EXISTS is an error is the session's decision (see
:attr:`SequenceSet.highest_explicit`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = ["MAX_NUMBER", "SequenceSet", "SequenceSetError"]

#: RFC 9051 §9: nz-number is a 32-bit unsigned value.
MAX_NUMBER = 4294967295

#: Default cap on ranges in one set; a client that needs more is hostile.
DEFAULT_MAX_RANGES = 10_000


class SequenceSetError(ValueError):
    """The text is not a valid sequence set."""


# A range end: a number, or None for "*".
_End = int | None


@dataclass(frozen=True, slots=True)
class SequenceSet:
    """A parsed ``sequence-set``: ``ranges`` or the saved result ``$``."""

    ranges: tuple[tuple[_End, _End], ...] = ()
    saved: bool = False  # RFC 5182 "$"

    # -- construction --------------------------------------------------

    @classmethod
    def parse(cls, text: bytes, *, max_ranges: int = DEFAULT_MAX_RANGES) -> SequenceSet:
        """Parse ``text`` (e.g. ``b"1,3:5,7:*"`` or ``b"$"``)."""
        if text == b"$":
            return cls(saved=True)
        if not text:
            raise SequenceSetError("empty sequence set")
        parts = text.split(b",")
        if len(parts) > max_ranges:
            raise SequenceSetError(f"sequence set has more than {max_ranges} ranges")
        ranges: list[tuple[_End, _End]] = []
        for part in parts:
            lo, sep, hi = part.partition(b":")
            a = _parse_end(lo)
            b = _parse_end(hi) if sep else a
            ranges.append((a, b))
        return cls(tuple(ranges))

    @classmethod
    def from_numbers(cls, numbers: Iterable[int]) -> SequenceSet:
        """Build the shortest set covering exactly ``numbers`` (any order)."""
        ranges: list[tuple[_End, _End]] = []
        for lo, hi in _merge((n, n) for n in numbers):
            ranges.append((lo, hi))
        return cls(tuple(ranges))

    # -- resolution against a mailbox ---------------------------------

    @property
    def has_star(self) -> bool:
        return any(a is None or b is None for a, b in self.ranges)

    @property
    def highest_explicit(self) -> int:
        """Largest number written explicitly (0 if none).

        A session checks this against EXISTS: RFC 9051 §6.4.5 says a message
        sequence number beyond the mailbox is an error (BAD), while UIDs
        beyond UIDNEXT are simply absent.
        """
        best = 0
        for a, b in self.ranges:
            for end in (a, b):
                if end is not None and end > best:
                    best = end
        return best

    def resolve(self, max_value: int) -> list[tuple[int, int]]:
        """Merged ascending ``(lo, hi)`` intervals within ``1..max_value``.

        ``*`` becomes ``max_value``; each range is normalised (ends sorted)
        and clipped.  With ``max_value == 0`` (empty mailbox) the result is
        empty.  Raises :class:`SequenceSetError` for ``$``: the caller must
        substitute the saved result first.
        """
        if self.saved:
            raise SequenceSetError("$ must be replaced by the saved search result")
        if max_value <= 0:
            return []
        spans: list[tuple[int, int]] = []
        for a, b in self.ranges:
            x = max_value if a is None else a
            y = max_value if b is None else b
            lo, hi = (x, y) if x <= y else (y, x)
            if lo > max_value:
                continue
            spans.append((lo, min(hi, max_value)))
        return _merge(spans)

    def iter_numbers(self, max_value: int) -> Iterator[int]:
        """Every number in the set against ``max_value``, ascending, once."""
        for lo, hi in self.resolve(max_value):
            yield from range(lo, hi + 1)

    def contains(self, number: int, max_value: int) -> bool:
        return any(lo <= number <= hi for lo, hi in self.resolve(max_value))

    # -- serialisation -------------------------------------------------

    def to_bytes(self) -> bytes:
        if self.saved:
            return b"$"
        out = []
        for a, b in self.ranges:
            if a == b:
                out.append(_end_bytes(a))
            else:
                out.append(_end_bytes(a) + b":" + _end_bytes(b))
        return b",".join(out)

    def __str__(self) -> str:
        return self.to_bytes().decode("ascii")


def _end_bytes(end: _End) -> bytes:
    return b"*" if end is None else str(end).encode("ascii")


def _parse_end(tok: bytes) -> _End:
    if tok == b"*":
        return None
    # RFC 9051 §9: nz-number = digit-nz *DIGIT — no leading zeros, no 0.
    if not tok or not tok.isdigit() or tok[0] == 0x30 or not tok.isascii():
        raise SequenceSetError(f"invalid sequence number {tok[:20]!r}")
    if len(tok) > 10:
        raise SequenceSetError("sequence number out of range")
    value = int(tok)
    if value > MAX_NUMBER:
        raise SequenceSetError("sequence number out of range")
    return value


def _merge(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1] + 1:
            if hi > merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return merged
