"""The IMAP side of the stress benchmark: a connection, a response parser, the corpus.

`Conn` sends one command at a time and returns whole responses (literals inline);
`parse_list` reads a parenthesized IMAP list (FETCH items, STATUS, ENVELOPE, ...);
`Expected` holds one corpus message and the answers computable from its octets.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CORPUS = Path("/work/shared/corpus/bench.mbox")
# A "From " line starts each message; the blank line before it stays in the message
# before, as imaptest reads an mbox (so that both load generators append the same octets).
_FROM_LINE = re.compile(rb"(?:\A|(?<=\n))From [^\n]*\n")

# -- the corpus and what each message must read back as ----------------------------------


@dataclass
class Expected:
    """One corpus message and the answers that can be computed from its octets."""

    raw: bytes
    header: bytes = b""
    text: bytes = b""
    fields: list[tuple[bytes, bytes]] = field(default_factory=list)  # (lower name, lines)

    def __post_init__(self) -> None:
        end = self.raw.find(b"\r\n\r\n")
        cut = len(self.raw) if end < 0 else end + 4
        self.header, self.text = self.raw[:cut], self.raw[cut:]
        for line in self.header.split(b"\r\n")[:-2] if end >= 0 else []:
            if line[:1] in (b" ", b"\t") and self.fields:
                name, lines = self.fields[-1]
                self.fields[-1] = (name, lines + line + b"\r\n")
            elif b":" in line:
                self.fields.append((line.split(b":", 1)[0].strip().lower(), line + b"\r\n"))

    def header_fields(self, names: list[bytes]) -> bytes:
        """BODY[HEADER.FIELDS (names)]: the matching lines in message order and a blank line."""
        wanted = {n.lower() for n in names}
        return b"".join(lines for name, lines in self.fields if name in wanted) + b"\r\n"


def load_corpus() -> list[Expected]:
    if CORPUS.exists():
        msgs = [m for m in _FROM_LINE.split(CORPUS.read_bytes()) if m]
    else:
        msgs = [
            b"Subject: filler %d\nFrom: a@b.test\n\n" % i + b"text line\n" * 100 for i in range(99)
        ]
    out = []
    for m in msgs:
        raw = re.sub(rb"\r?\n", b"\r\n", m)
        out.append(Expected(raw if raw.endswith(b"\r\n") else raw + b"\r\n"))
    return out


# -- responses ------------------------------------------------------------------------------

_LITERAL = re.compile(rb"\{(\d+)\}\r\n$")
_SPECIAL = b' ()"{\r\n'


class Nil:
    """The NIL atom (distinct from the string "NIL")."""

    def __repr__(self) -> str:
        return "NIL"


NIL = Nil()
Value = Any  # bytes (string, literal or atom), int-like atom bytes, NIL, list of Value


def parse_list(data: bytes, pos: int) -> tuple[list[Value], int]:
    """Parse a parenthesized list starting at data[pos] == '('; return (items, end)."""
    assert data[pos : pos + 1] == b"("
    pos += 1
    out: list[Value] = []
    n = len(data)
    while pos < n:
        c = data[pos : pos + 1]
        if c == b" ":
            pos += 1
        elif c == b")":
            return out, pos + 1
        elif c == b"(":
            item, pos = parse_list(data, pos)
            out.append(item)
        elif c == b'"':
            buf = bytearray()
            pos += 1
            while data[pos : pos + 1] != b'"':
                if data[pos : pos + 1] == b"\\":
                    pos += 1
                buf += data[pos : pos + 1]
                pos += 1
            out.append(bytes(buf))
            pos += 1
        elif c == b"{":
            close = data.index(b"}", pos)
            size = int(data[pos + 1 : close].rstrip(b"+"))
            start = close + 3  # }\r\n
            out.append(data[start : start + size])
            pos = start + size
        else:
            start = pos
            depth = 0
            while pos < n:
                ch = data[pos : pos + 1]
                if ch == b"[":
                    depth += 1
                elif ch == b"]":
                    depth -= 1
                elif depth == 0 and ch in _SPECIAL:
                    break
                pos += 1
            atom = data[start:pos]
            out.append(NIL if atom.upper() == b"NIL" else atom)
    raise ValueError("unterminated list")


def freeze(v: Value) -> Value:
    """A hashable, comparable form of a parsed value (lists to tuples)."""
    return tuple(freeze(x) for x in v) if isinstance(v, list) else v


class Wrong(Exception):
    """A response that contradicts what the server said or stored before."""


# -- one connection ------------------------------------------------------------------------


class Conn:
    """One IMAP connection: commands one at a time, full responses with literals."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.buf = b""
        self.n = 0

    @classmethod
    async def open(cls, port: int) -> Conn:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
        c = cls(reader, writer)
        greeting = await c.response()
        if not greeting.startswith(b"* OK"):
            raise Wrong(f"greeting {greeting[:80]!r}")
        return c

    async def response(self) -> bytes:
        """One whole response: its lines and literals, as received."""
        start = 0
        while True:
            end = self.buf.find(b"\n", start)
            while end < 0:
                data = await self.reader.read(1 << 20)
                if not data:
                    raise EOFError("the server closed the connection")
                self.buf += data
                end = self.buf.find(b"\n", start)
            m = _LITERAL.search(self.buf, start, end + 1)
            if m is None:
                out, self.buf = self.buf[: end + 1], self.buf[end + 1 :]
                return out
            need = end + 1 + int(m[1])
            while len(self.buf) < need:
                data = await self.reader.read(max(1 << 20, need - len(self.buf)))
                if not data:
                    raise EOFError("the server closed the connection")
                self.buf += data
            start = need

    async def command(self, text: bytes, literal: bytes | None = None) -> tuple[list[bytes], bytes]:
        """(untagged responses, tagged reply) of one command."""
        self.n += 1
        tag = b"s%d" % self.n
        if literal is None:
            self.writer.write(tag + b" " + text + b"\r\n")
        else:
            self.writer.write(tag + b" " + text + b" {%d+}\r\n" % len(literal) + literal + b"\r\n")
        untagged: list[bytes] = []
        while True:
            r = await self.response()
            if r.startswith(tag + b" "):
                return untagged, r[len(tag) + 1 :].rstrip(b"\r\n")
            untagged.append(r)

    def close(self) -> None:
        self.writer.close()
