"""Modified UTF-7 mailbox names (RFC 3501 §5.1.3): the codec.

IMAP4rev1 clients that have not enabled UTF8=ACCEPT see and send mailbox names
in modified UTF-7: printable US-ASCII stands for itself except "&", which is
written "&-"; everything else is UTF-16 in a modified base64 ("," instead of
"/", no padding) between "&" and "-".

The decoder is strict: it rejects every form that a conforming encoder would
never produce (non-printable octets, 8-bit octets, unterminated shifts, empty
shifts "&-" used for anything but "&", base64 that encodes printable ASCII,
bad padding bits, lone surrogates, two adjacent shifts).  A mailbox name that
does not survive ``decode(encode(x)) == x`` is not a name we store.

It lives in mime (the mail text encodings) rather than in the IMAP core
because Maildir folder names use it too (Dovecot writes them in modified UTF-7,
`transfer/maildir.py`). Pure text conversion, like the rest of mime.
"""

from __future__ import annotations

import binascii

__all__ = [
    "MUTF7Error",
    "decode",
    "encode",
]


class MUTF7Error(ValueError):
    """The bytes are not valid modified UTF-7."""


def _is_direct(ch: str) -> bool:
    # RFC 3501 §5.1.3: "printable US-ASCII characters, except for '&',
    # represent themselves" — 0x20..0x7E.
    return 0x20 <= ord(ch) <= 0x7E and ch != "&"


def _b64_encode(chunk: str) -> bytes:
    raw = chunk.encode("utf-16-be", "surrogatepass")
    return binascii.b2a_base64(raw, newline=False).rstrip(b"=").replace(b"/", b",")


def encode(name: str) -> bytes:
    """Encode a Unicode mailbox name as modified UTF-7 bytes."""
    out = bytearray()
    pending: list[str] = []
    for ch in name:
        if _is_direct(ch):
            if pending:
                out += b"&" + _b64_encode("".join(pending)) + b"-"
                pending.clear()
            out.append(ord(ch))
        elif ch == "&":
            if pending:
                out += b"&" + _b64_encode("".join(pending)) + b"-"
                pending.clear()
            out += b"&-"
        else:
            pending.append(ch)
    if pending:
        out += b"&" + _b64_encode("".join(pending)) + b"-"
    return bytes(out)


_B64_VALUES = {
    c: i for i, c in enumerate(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,")
}


def _decode_shift(b64: bytes) -> str:
    if not b64:
        raise MUTF7Error("empty base64 shift")
    units: list[int] = []
    acc = 0
    nbits = 0
    for c in b64:
        v = _B64_VALUES.get(c)
        if v is None:
            raise MUTF7Error("invalid character in base64 shift")
        acc = (acc << 6) | v
        nbits += 6
        if nbits >= 16:
            nbits -= 16
            units.append((acc >> nbits) & 0xFFFF)
            acc &= (1 << nbits) - 1
    # What is left must be fewer than 6 zero bits: more would mean a
    # needless extra sextet, nonzero bits are not a canonical encoding.
    if nbits >= 6 or acc != 0:
        raise MUTF7Error("base64 shift does not end cleanly on a UTF-16 unit")
    raw = b"".join(u.to_bytes(2, "big") for u in units)
    try:
        text = raw.decode("utf-16-be")  # strict: rejects lone surrogates
    except UnicodeDecodeError as exc:
        raise MUTF7Error("invalid UTF-16 in base64 shift") from exc
    for ch in text:
        if 0x20 <= ord(ch) <= 0x7E:
            # RFC 3501 §5.1.3: printable ASCII MUST represent itself.
            raise MUTF7Error("base64 shift encodes printable US-ASCII")
    return text


def decode(data: bytes) -> str:
    """Decode modified UTF-7 bytes strictly; raise :class:`MUTF7Error` if invalid."""
    out: list[str] = []
    i = 0
    n = len(data)
    last_was_shift = False
    while i < n:
        c = data[i]
        if c == 0x26:  # "&"
            end = data.find(b"-", i + 1)
            if end < 0:
                raise MUTF7Error("unterminated base64 shift")
            if end == i + 1:
                out.append("&")
                last_was_shift = False
            else:
                if last_was_shift:
                    # Two adjacent shifts would have been one shift.
                    raise MUTF7Error("adjacent base64 shifts")
                out.append(_decode_shift(data[i + 1 : end]))
                last_was_shift = True
            i = end + 1
            continue
        if not 0x20 <= c <= 0x7E:
            raise MUTF7Error(f"octet 0x{c:02x} not allowed in modified UTF-7")
        out.append(chr(c))
        last_was_shift = False
        i += 1
    return "".join(out)
