"""Structural invariants every parse record must satisfy (shared by tests)."""

from __future__ import annotations

from posteingang.mime import ParsedMessage, Part
from posteingang.mime.headers import param_value


def iter_parts(part: Part) -> list[Part]:
    out = [part]
    for c in part.children:
        out.extend(iter_parts(c))
    if part.message is not None:
        out.extend(iter_parts(part.message))
    return out


def check_offsets(raw: bytes, parsed: ParsedMessage) -> None:
    """Offsets are in bounds, nested properly, and the slices re-assemble."""
    n = len(raw)
    assert parsed.size == n
    root = parsed.root
    assert root.header_start == 0
    assert root.body_end == n
    # The whole message is header + body of the root entity.
    assert raw[: root.body_start] + raw[root.body_start : root.body_end] == raw
    _check_part(raw, root)
    # The header index slices fields of the top header, in order.
    prev = 0
    for h in parsed.headers:
        assert prev <= h.start < h.end <= root.body_start
        line = raw[h.start : h.end].split(b"\n", 1)[0]
        if h.name:
            name = line.split(b":", 1)[0].rstrip(b" \t")
            assert name.decode("latin-1").lower() == h.name
        else:
            assert line[:1] == b":" or b":" not in line
        prev = h.end


def _check_part(raw: bytes, p: Part) -> None:
    assert 0 <= p.header_start <= p.body_start <= p.body_end <= len(raw)
    assert p.size == p.body_end - p.body_start
    if p.type == "text" or p.message is not None:
        assert p.lines == raw.count(b"\n", p.body_start, p.body_end)
    prev_end = p.body_start
    boundary = None
    for name, value in p.params:
        if name.lower() == b"boundary":
            boundary = value
            break
    for c in p.children:
        assert p.body_start <= c.header_start and c.body_end <= p.body_end
        assert c.header_start >= prev_end
        # Between siblings (and before the first) there is a delimiter line.
        gap = raw[prev_end : c.header_start]
        assert boundary is not None and b"--" + boundary in gap
        prev_end = c.body_end
        _check_part(raw, c)
    if p.message is not None:
        m = p.message
        assert m.header_start == p.body_start
        assert m.body_end <= p.body_end
        _check_part(raw, m)
    if p.filename is not None:
        assert isinstance(p.filename, str)
    assert param_value(p.params, b"charset") in (None, p.charset) or p.charset
