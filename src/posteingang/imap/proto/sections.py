"""BODY[section] of a parsed message (RFC 9051 §6.4.5): blob offsets or octets.

A section is `fetch.Section`, as the parser produced it. `section_range` gives
the blob offsets of a contiguous section, so the server streams ``BODY[...]``
straight from the blob file; `section_bytes` also builds HEADER.FIELDS[.NOT]
from the header's lines. Pure: never parses the message again, never does I/O.
"""

from __future__ import annotations

from posteingang.mime import ParsedMessage, Part, find_section
from posteingang.mime.headers import split_fields

from .fetch import Section

__all__ = ["section_bytes", "section_range"]


def _message_for(parsed: ParsedMessage, part_numbers: tuple[int, ...]) -> Part | None:
    """The message whose HEADER/TEXT a section names (top or message/rfc822)."""
    if not part_numbers:
        return parsed.root
    p = find_section(parsed, part_numbers)
    if p is None or p.message is None:
        return None
    return p.message


def section_range(parsed: ParsedMessage, section: Section) -> tuple[int, int] | None:
    """Blob offsets of a contiguous section (all but HEADER.FIELDS[.NOT]).

    None when the section does not exist.  Lets the server stream
    ``BODY[...]`` straight from the blob file.
    """
    t = section.text
    if t is None:
        if not section.part:
            return (0, parsed.size)
        p = find_section(parsed, section.part)
        return None if p is None else (p.body_start, p.body_end)
    if t == "MIME":
        if not section.part:
            return None
        p = find_section(parsed, section.part)
        return None if p is None else (p.header_start, p.body_start)
    m = _message_for(parsed, section.part)
    if m is None:
        return None
    if t == "HEADER":
        return (m.header_start, m.body_start)
    if t == "TEXT":
        return (m.body_start, m.body_end)
    return None


def section_bytes(raw: bytes | memoryview, parsed: ParsedMessage, section: Section) -> bytes | None:
    """The octets of a BODY[section]; None when the section does not exist."""
    rng = section_range(parsed, section)
    if rng is not None:
        return bytes(raw[rng[0] : rng[1]])
    if section.text not in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        return None
    m = _message_for(parsed, section.part)
    if m is None:
        return None
    wanted = {f.lower() for f in section.fields}
    keep = section.text == "HEADER.FIELDS"
    if m is parsed.root:
        spans = [(h.name, h.start, h.end) for h in parsed.headers]
    else:
        blob = bytes(raw[: m.body_start])
        spans = [(n, s, e) for n, s, _v, e in split_fields(blob, m.header_start, m.body_start)]
    out = [bytes(raw[s:e]) for name, s, e in spans if (name in wanted) == keep]
    # RFC 9051 §6.4.5: the subset still ends with the blank line of a header.
    # Like Dovecot, HEADER.FIELDS.NOT adds it only when the header had one.
    if keep or _ends_with_blank_line(bytes(raw[m.header_start : m.body_start])):
        out.append(b"\r\n")
    return b"".join(out)


def _ends_with_blank_line(block: bytes) -> bool:
    return block in (b"\n", b"\r\n") or block.endswith((b"\n\n", b"\n\r\n"))
