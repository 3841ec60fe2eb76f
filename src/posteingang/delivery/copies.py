"""One parse for every copy: the record of "trace headers + message" from the message's.

Each recipient's copy starts with its own trace headers (`trace.py`), so the
copies differ in their first few hundred octets and nowhere else.  Parsing
each copy again (what LMTP with ten recipients did ten times) is wasted: the
trace fields are plain header fields that change no structure, so the
record of ``prefix + message`` is the message's record with every offset
moved by ``len(prefix)`` and the prefix's fields put in front of the header
index.  `prefixed` builds it; `tests/delivery/test_copies.py` holds it equal
to a full parse for the test corpus and for generated messages.

Where the shortcut would not give exactly what a full parse gives, `prefixed`
returns None and the caller parses the copy in full: a message starting with
SP or HTAB (its first line would continue our last trace field, RFC 5322
§2.2.3), one starting with CR or LF (no header fields of its own: where its
empty line ends depends on the octets before it, `mime.headers.header_end`),
and a header at the parser's caps (`MAX_HEADER_OCTETS`, `MAX_HEADER_FIELDS`),
where the prefix would move the cut.

What this module must never do: guess.  Any doubt returns None.
"""

from __future__ import annotations

from msgspec.structs import replace

from posteingang.mime.headers import split_fields
from posteingang.mime.model import HeaderField, ParsedMessage, Part
from posteingang.mime.structure import MAX_HEADER_FIELDS, MAX_HEADER_OCTETS

__all__ = ["prefixed"]


def prefixed(record: ParsedMessage, prefix: bytes, first: bytes) -> ParsedMessage | None:
    """The record of ``prefix + message``, given the ``record`` of the message, or None.

    ``prefix`` must be complete header fields (each ending in CRLF) and
    ``first`` the message's first octet (``b""`` for an empty message).
    """
    if not prefix:
        return record
    if first in (b" ", b"\t", b"\r", b"\n") or not prefix.endswith(b"\r\n"):
        return None
    n = len(prefix)
    fields = split_fields(prefix, 0, n)
    if (
        record.root.body_start + n > MAX_HEADER_OCTETS
        or len(record.headers) + len(fields) > MAX_HEADER_FIELDS
        or sum(e - s for _, s, _, e in fields) != n  # not whole fields: no shortcut
    ):
        return None
    root = record.root
    return replace(
        record,
        size=record.size + n,
        root=replace(
            root,
            body_start=root.body_start + n,
            body_end=root.body_end + n,
            children=tuple(_moved(c, n) for c in root.children),
            message=_moved(root.message, n) if root.message is not None else None,
        ),
        headers=(
            *(HeaderField(name, s, e) for name, s, _v, e in fields),
            *(HeaderField(h.name, h.start + n, h.end + n) for h in record.headers),
        ),
    )


def _moved(part: Part, n: int) -> Part:
    """``part`` with every offset, its descendants' included, moved by ``n``."""
    return replace(
        part,
        header_start=part.header_start + n,
        body_start=part.body_start + n,
        body_end=part.body_end + n,
        children=tuple(_moved(c, n) for c in part.children),
        message=_moved(part.message, n) if part.message is not None else None,
    )
