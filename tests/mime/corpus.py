"""Test messages: the stdlib email test data and the shared bench corpus."""

from __future__ import annotations

import functools
import re
from pathlib import Path

BENCH_MBOX = Path("/work/shared/corpus/bench.mbox")

_FROM_LINE = re.compile(rb"(?:\A|\n)From [^\n]*\n")
_MBOXO = re.compile(rb"^>(>*From )", re.MULTILINE)


def stdlib_email_dir() -> Path:
    import test.test_email  # the CPython test package ships these files

    return Path(test.test_email.__file__).parent / "data"


@functools.cache
def stdlib_messages() -> list[tuple[str, bytes]]:
    d = stdlib_email_dir()
    return [(p.name, p.read_bytes()) for p in sorted(d.glob("msg_*.txt"))]


@functools.cache
def bench_messages() -> list[bytes]:
    """The messages of bench.mbox (mboxo: split on "From " lines, unquote)."""
    if not BENCH_MBOX.exists():
        return []
    data = BENCH_MBOX.read_bytes()
    out = []
    for chunk in _FROM_LINE.split(data):
        if not chunk:
            continue
        out.append(_MBOXO.sub(rb"\1", chunk))
    return out


def crlf(raw: bytes) -> bytes:
    """Normalise line ends to CRLF, as a message arrives over SMTP/IMAP."""
    return re.sub(rb"\r?\n", b"\r\n", raw)
