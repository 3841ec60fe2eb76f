"""BINARY[...] (RFC 3516): undoing Content-Transfer-Encodings of a message's parts.

`fetch_items` plans a BINARY item as a blob range plus what to decode; this module
turns the octets read into the decoded value: `decode_cte` for one part's body,
`binary_message` for ``BINARY[]`` of a whole message (each encoded body decoded, its
Content-Transfer-Encoding field replaced, as Dovecot answers). Pure: no store, no
asyncio; it must never parse a message (the part offsets come from the parse record).
"""

from __future__ import annotations

import binascii
import re

from posteingang.mime import ParsedMessage
from posteingang.mime.headers import split_fields
from posteingang.mime.text import IDENTITY_ENCODINGS, decode_transfer

__all__ = ["UnknownCte", "binary_message", "decode_cte", "encoded_entities"]


class UnknownCte(Exception):
    """BINARY of a part whose Content-Transfer-Encoding we cannot undo (RFC 3516 §4.3)."""


# RFC 2045 §6.7 rule 3: white space at the end of an encoded line was added in
# transport and is removed when decoding.
_QP_TRAILING_SPACE = re.compile(rb"[ \t]+(?=\r?\n|\Z)")


def decode_cte(data: bytes, encoding: bytes | None) -> bytes | None:
    """Undo a Content-Transfer-Encoding for BINARY; None when it is unknown.

    Quoted-printable keeps hard line breaks as they are (CRLF stays CRLF,
    RFC 2045 §6.7 rule 4): the client asked for the octets, not for text.
    Base64 is decoded leniently (characters outside the alphabet ignored,
    RFC 2045 §6.8).
    """
    if encoding is not None and encoding.lower() == b"quoted-printable":
        return binascii.a2b_qp(_QP_TRAILING_SPACE.sub(b"", data))
    return decode_transfer(data, encoding)


def encoded_entities(parsed: ParsedMessage) -> tuple[tuple[int, int, int, bytes], ...]:
    """The leaf entities of a message whose body has a transfer encoding to undo."""
    out: list[tuple[int, int, int, bytes]] = []
    stack = [parsed.root]
    while stack:
        part = stack.pop()
        if part.message is not None:
            stack.append(part.message)
        elif part.is_multipart:
            stack.extend(reversed(part.children))
        elif part.encoding is not None and part.encoding.lower() not in IDENTITY_ENCODINGS:
            out.append((part.header_start, part.body_start, part.body_end, part.encoding))
    return tuple(out)


_BINARY_CTE = b"Content-Transfer-Encoding: binary\r\n"


def binary_message(data: bytes, rewrite: tuple[tuple[int, int, int, bytes], ...]) -> bytes:
    """BINARY[]: each encoded body decoded, its Content-Transfer-Encoding field
    replaced by ``binary`` at the end of its header (RFC 3516 §4.2; Dovecot's form)."""
    if not rewrite:
        return data
    out: list[bytes] = []
    pos = 0
    for header_start, body_start, body_end, encoding in rewrite:
        body = decode_cte(data[body_start:body_end], encoding)
        if body is None:
            raise UnknownCte(encoding)
        header = data[header_start:body_start]
        if header.endswith(b"\n\r\n") or header == b"\r\n":
            cut = len(header) - 2
        elif header.endswith(b"\n\n") or header == b"\n":
            cut = len(header) - 1
        else:
            cut = len(header)
        out.append(data[pos:header_start])
        kept = 0
        for name, start, _v, end in split_fields(header, 0, cut):
            if name == "content-transfer-encoding":
                out.append(header[kept:start])
                kept = end
        out.append(header[kept:cut])
        out.append(_BINARY_CTE)
        out.append(header[cut:])
        out.append(body)
        pos = body_end
    out.append(data[pos:])
    return b"".join(out)
