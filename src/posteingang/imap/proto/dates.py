"""IMAP ``date`` and ``date-time`` values (RFC 9051 §9).

``date`` (SEARCH BEFORE/ON/SINCE...) is ``d-Mon-yyyy``, optionally quoted;
``date-time`` (APPEND, INTERNALDATE) is always quoted:
``"dd-Mon-yyyy hh:mm:ss +zzzz"`` with the day either two digits or a space and
one digit.  Month names are case-insensitive on input (RFC 9051 §9 note:
"case-insensitive"), always ``Jan``…``Dec`` on output.

Pure value conversion: never reads a clock, never touches the store.
"""

from __future__ import annotations

import datetime as _dt
import re

__all__ = [
    "DateError",
    "format_date",
    "format_datetime",
    "parse_date",
    "parse_datetime",
]

MONTHS = (b"jan", b"feb", b"mar", b"apr", b"may", b"jun",
          b"jul", b"aug", b"sep", b"oct", b"nov", b"dec")  # fmt: skip
_MONTH_OUT = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")  # fmt: skip


class DateError(ValueError):
    """Not a valid IMAP date or date-time."""


_DATE = re.compile(rb"([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4})\Z")
_DATETIME = re.compile(
    rb"( [0-9]|[0-9]{2})-([A-Za-z]{3})-([0-9]{4}) "
    rb"([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})\Z"
)


def _month(name: bytes) -> int:
    try:
        return MONTHS.index(name.lower()) + 1
    except ValueError:
        raise DateError(f"unknown month {name.decode('ascii', 'replace')}") from None


def parse_date(text: bytes) -> _dt.date:
    """Parse a SEARCH ``date`` (quotes already removed)."""
    m = _DATE.match(text)
    if m is None:
        raise DateError("date must look like 1-Feb-2024")
    try:
        return _dt.date(int(m[3]), _month(m[2]), int(m[1]))
    except ValueError as exc:
        raise DateError(f"invalid date: {exc}") from None


def parse_datetime(text: bytes) -> _dt.datetime:
    """Parse a ``date-time`` (quotes already removed) to an aware datetime."""
    m = _DATETIME.match(text)
    if m is None:
        raise DateError('date-time must look like "01-Feb-2024 13:45:00 +0100"')
    hh, mm = int(m[8]), int(m[9])
    if mm > 59:
        raise DateError("invalid time zone offset")
    offset = _dt.timedelta(hours=hh, minutes=mm)
    if m[7] == b"-":
        offset = -offset
    try:
        tz = _dt.timezone(offset)
        return _dt.datetime(
            int(m[3]),
            _month(m[2]),
            int(m[1].strip()),
            int(m[4]),
            int(m[5]),
            int(m[6]),
            tzinfo=tz,
        )
    except ValueError as exc:
        raise DateError(f"invalid date-time: {exc}") from None


def format_date(value: _dt.date) -> bytes:
    return f"{value.day}-{_MONTH_OUT[value.month - 1]}-{value.year:04d}".encode("ascii")


def format_datetime(value: _dt.datetime) -> bytes:
    """``dd-Mon-yyyy hh:mm:ss +zzzz`` (without quotes); naive means UTC."""
    off = value.utcoffset() or _dt.timedelta(0)
    minutes = int(off.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return (
        f"{value.day:02d}-{_MONTH_OUT[value.month - 1]}-{value.year:04d} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d} "
        f"{sign}{minutes // 60:02d}{minutes % 60:02d}"
    ).encode("ascii")
