"""Charset decoding that never raises.

Mail declares charsets that Python does not know, misspells them, or lies
about them.  `decode_bytes` always returns text: the declared charset when
it decodes cleanly, else UTF-8, else Windows-1252 (a superset of the
ISO-8859-1 that most mislabelled mail really is).  All-ASCII data is taken as
ASCII without a decoder, except in the 7-bit stateful charsets (ISO-2022-JP,
UTF-7 ...), whose text is all ASCII octets.
"""

from __future__ import annotations

import codecs
from functools import lru_cache

_ALIASES = {
    "unknown-8bit": "cp1252",
    "x-unknown": "cp1252",
    "iso-8859-8-i": "iso-8859-8",
    "ks_c_5601-1987": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-user-defined": "cp1252",
    "ansi_x3.4-1968": "ascii",
    "us-ascii": "ascii",
    "utf8": "utf-8",
    "iso-8859-1": "cp1252",  # WHATWG: browsers treat Latin-1 as Windows-1252
    "latin1": "cp1252",
}


# Charsets whose text is all 7-bit octets but not ASCII text: escape sequences
# (ISO-2022, RFC 1468/1557/1922; HZ, RFC 1843) or base64 runs (UTF-7, RFC 2152)
# switch character sets.  All-ASCII data in one of these must still be decoded.
_SEVEN_BIT_STATEFUL = frozenset(
    ("iso2022_jp", "iso2022_jp_1", "iso2022_jp_2", "iso2022_jp_2004", "iso2022_jp_3",
     "iso2022_jp_ext", "iso2022_kr", "hz", "utf-7")
)  # fmt: skip


@lru_cache(maxsize=256)
def codec_name(charset: str) -> str | None:
    """The Python codec for a MIME charset name, or None if unknown."""
    cs = charset.strip().strip('"').lower()
    cs = _ALIASES.get(cs, cs)
    try:
        info = codecs.lookup(cs)
    except (LookupError, ValueError, TypeError):
        return None
    # Refuse codecs that are not text encodings (e.g. "base64", "rot13").
    if not getattr(info, "_is_text_encoding", True):
        return None
    return info.name


def decode_bytes(data: bytes, charset: str | None, *, final: bool = True) -> str:
    """Decode ``data`` as ``charset`` with fallbacks; never raises.

    ``final=False`` means ``data`` is a prefix of the text: an incomplete
    multi-octet character at its end is left out rather than making the
    charset (or UTF-8) look wrong.
    """
    name = codec_name(charset) if charset else None
    if data.isascii() and name not in _SEVEN_BIT_STATEFUL:
        return data.decode("ascii")
    if name is not None and name != "ascii":
        try:
            return _decode(data, name, "strict", final)
        except (UnicodeDecodeError, LookupError, ValueError):
            pass
    try:
        return _decode(data, "utf-8", "strict", final)
    except UnicodeDecodeError:
        pass
    if name is not None and name not in ("ascii", "utf-8"):
        try:
            return _decode(data, name, "replace", final)
        except (LookupError, ValueError):
            pass
    return data.decode("cp1252", "replace")


def _decode(data: bytes, name: str, errors: str, final: bool) -> str:
    if final:
        return data.decode(name, errors)
    return codecs.getincrementaldecoder(name)(errors).decode(data, final=False)
