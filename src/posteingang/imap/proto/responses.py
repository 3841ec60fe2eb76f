"""IMAP response serialisation (RFC 9051 §7, §9): values and responses to bytes.

Three layers:

* value encoders — :func:`astring`, :func:`string`, :func:`nstring`,
  :func:`mailbox`, :func:`literal_header`, and :func:`encode` for nested
  lists (ENVELOPE, BODYSTRUCTURE, ID) built from Python values;
* response codes — :class:`ResponseCode` and its constructors
  (RFC 9051 §7.1, RFC 4315, RFC 5530, RFC 7162 ...);
* responses — tagged/untagged status, continuation, and the data responses
  (CAPABILITY, LIST, STATUS, FETCH, ESEARCH, ...).

Every function returns complete ``bytes`` ending in CRLF, except the FETCH
streaming helpers, which let the server send ``* 5 FETCH (... BODY[] {n}\\r\\n``
then stream n octets from the blob, then the rest — a message body is never
built in memory.

Choosing a string form (RFC 9051 §4.3): an atom only where the grammar
allows one and the value is ASTRING-CHARs; otherwise a quoted string if it
has no CR, LF, NUL, no 8-bit octets (unless UTF-8 output is enabled) and is
short; otherwise a literal.  Content with NUL (BINARY fetches) uses
``~{n}`` literal8 (RFC 3516 §4.2).

Pure: never writes to a socket and never reads the store.
"""

from __future__ import annotations

import datetime as _dt
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal as _L

from . import mutf7
from .dates import format_datetime
from .sequence import SequenceSet
from .tokens import ASTRING_CHARS

_ASTRING_OCTETS = bytes(sorted(ASTRING_CHARS))

__all__ = [
    "Atom",
    "ResponseCode",
    "astring",
    "bye",
    "capability",
    "continuation",
    "enabled",
    "encode",
    "esearch",
    "exists",
    "expunge",
    "fetch",
    "fetch_body",
    "fetch_end",
    "fetch_flags",
    "fetch_internaldate",
    "fetch_modseq",
    "fetch_size",
    "fetch_start",
    "fetch_uid",
    "flags",
    "id_response",
    "list_response",
    "literal_header",
    "lsub_response",
    "mailbox",
    "namespace",
    "nstring",
    "nul_free",
    "quoted",
    "recent",
    "search",
    "status_response",
    "string",
    "tagged",
    "untagged",
    "vanished",
]

CRLF = b"\r\n"
#: Longer strings go out as literals (a quoted 1 MB string helps no one).
MAX_QUOTED = 1024

Status = _L["OK", "NO", "BAD", "PREAUTH", "BYE"]


@dataclass(frozen=True, slots=True)
class Atom:
    """Bytes sent verbatim (flags, keywords, NIL-free atoms) by :func:`encode`."""

    value: bytes


# -- values ----------------------------------------------------------------


def _as_bytes(value: bytes | str) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def literal_header(size: int, *, binary: bool = False) -> bytes:
    """``{n}\\r\\n`` (or ``~{n}\\r\\n``) — send the n octets right after it."""
    return (b"~{%d}\r\n" if binary else b"{%d}\r\n") % size


# RFC 9051 §4.3: a literal may hold any octet but NUL; only literal8 (BINARY,
# RFC 3516) may.  Like Dovecot, a NUL in anything sent in an ordinary literal
# (BODY[...], RFC822*, header values) goes out as 0x80: one octet for one, so
# every size already announced (RFC822.SIZE, BODYSTRUCTURE, partial offsets)
# stays true.  BINARY[...] sends the exact octets in a literal8.


def nul_free(data: bytes) -> bytes:
    """``data`` with each NUL octet mapped to 0x80 (same length), for ``{n}`` literals."""
    if b"\x00" in data:
        return data.replace(b"\x00", b"\x80")
    return data


def _quotable(data: bytes, utf8: bool) -> bool:
    if len(data) > MAX_QUOTED or b"\r" in data or b"\n" in data or b"\0" in data:
        return False
    if data.isascii():
        return True
    if not utf8:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def quoted(value: bytes | str) -> bytes:
    """A quoted string; the caller guarantees the content may be quoted."""
    data = _as_bytes(value)
    return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def string(value: bytes | str, *, utf8: bool = False) -> bytes:
    """``string``: quoted if possible, else a literal (literal8 if NUL)."""
    data = _as_bytes(value)
    if _quotable(data, utf8):
        return quoted(data)
    return literal_header(len(data), binary=b"\0" in data) + data


def nstring(value: bytes | str | None, *, utf8: bool = False) -> bytes:
    return b"NIL" if value is None else string(value, utf8=utf8)


def astring(value: bytes | str, *, utf8: bool = False) -> bytes:
    """``astring``: an atom if every octet is an ASTRING-CHAR, else :func:`string`.

    "NIL" is quoted so it is never mistaken for nil where nstring is parsed.
    """
    data = _as_bytes(value)
    # translate() drops every ASTRING-CHAR: nothing left means an atom will do.
    if data and not data.translate(None, _ASTRING_OCTETS) and data.upper() != b"NIL":
        return data
    return string(data, utf8=utf8)


@functools.lru_cache(maxsize=4096)
def mailbox(name: str, *, utf8: bool = False) -> bytes:
    """A mailbox name as sent to this client: UTF-8 after UTF8=ACCEPT, else mUTF-7.

    Kept per name (a pure function; every LIST and STATUS response encodes the
    account's few names again, and the mUTF-7 encoder is per character)."""
    raw = name.encode("utf-8") if utf8 else mutf7.encode(name)
    return astring(raw, utf8=utf8)


Value = None | int | bytes | str | Atom | Sequence["Value"]


def encode(value: Value, *, utf8: bool = False) -> bytes:
    """Serialise nested data: None→NIL, int→number, bytes/str→string,
    :class:`Atom`→verbatim, sequences→parenthesised lists."""
    if value is None:
        return b"NIL"
    if isinstance(value, bool):
        raise TypeError("bool is not an IMAP value")
    if isinstance(value, int):
        return b"%d" % value
    if isinstance(value, Atom):
        return value.value
    if isinstance(value, bytes | str):
        return string(value, utf8=utf8)
    return b"(" + b" ".join(encode(v, utf8=utf8) for v in value) + b")"


# -- response codes --------------------------------------------------------

#: RFC 9051 §7.1, RFC 5530, RFC 4315, RFC 7162, RFC 4469/7889 (TOOBIG), RFC 2221.
KNOWN_CODES = frozenset(
    (
        "ALERT",
        "BADCHARSET",
        "CAPABILITY",
        "PARSE",
        "PERMANENTFLAGS",
        "READ-ONLY",
        "READ-WRITE",
        "TRYCREATE",
        "UIDNEXT",
        "UIDVALIDITY",
        "UNSEEN",
        "APPENDUID",
        "COPYUID",
        "UIDNOTSTICKY",
        "AUTHENTICATIONFAILED",
        "AUTHORIZATIONFAILED",
        "EXPIRED",
        "PRIVACYREQUIRED",
        "CONTACTADMIN",
        "NOPERM",
        "INUSE",
        "EXPUNGEISSUED",
        "CORRUPTION",
        "SERVERBUG",
        "CLIENTBUG",
        "CANNOT",
        "LIMIT",
        "OVERQUOTA",
        "ALREADYEXISTS",
        "NONEXISTENT",
        "HASCHILDREN",
        "CLOSED",
        "UNKNOWN-CTE",
        "HIGHESTMODSEQ",
        "NOMODSEQ",
        "MODIFIED",
        "TOOBIG",
        "UNAVAILABLE",
        "NOTSAVED",
        "MAILBOXID",
        "REFERRAL",
        "COMPRESSIONACTIVE",
        "WEBALERT",
        "USEATTR",  # RFC 6154 §6
    )
)


@dataclass(frozen=True, slots=True)
class ResponseCode:
    """``[NAME data]`` in a status response; build with the helpers below."""

    name: str
    data: bytes | None = None

    def __post_init__(self) -> None:
        if self.name not in KNOWN_CODES:
            raise ValueError(f"unknown response code {self.name}")

    def to_bytes(self) -> bytes:
        inner = self.name.encode("ascii")
        if self.data is not None:
            inner += b" " + self.data
        return b"[" + inner + b"]"

    # Constructors for the codes that carry data.
    @classmethod
    def capability(cls, caps: Iterable[str]) -> ResponseCode:
        return cls("CAPABILITY", " ".join(caps).encode("ascii"))

    @classmethod
    def badcharset(cls, charsets: Iterable[str] = ()) -> ResponseCode:
        names = [astring(c) for c in charsets]
        return cls("BADCHARSET", b"(" + b" ".join(names) + b")" if names else None)

    @classmethod
    def permanentflags(cls, flag_names: Iterable[str]) -> ResponseCode:
        return cls("PERMANENTFLAGS", _flag_list(flag_names))

    @classmethod
    def uidnext(cls, n: int) -> ResponseCode:
        return cls("UIDNEXT", b"%d" % n)

    @classmethod
    def uidvalidity(cls, n: int) -> ResponseCode:
        return cls("UIDVALIDITY", b"%d" % n)

    @classmethod
    def unseen(cls, n: int) -> ResponseCode:
        return cls("UNSEEN", b"%d" % n)

    @classmethod
    def highestmodseq(cls, n: int) -> ResponseCode:
        return cls("HIGHESTMODSEQ", b"%d" % n)

    @classmethod
    def appenduid(cls, uidvalidity: int, uids: SequenceSet) -> ResponseCode:
        # RFC 4315 §3: APPENDUID uidvalidity uid-set
        return cls("APPENDUID", b"%d " % uidvalidity + uids.to_bytes())

    @classmethod
    def copyuid(cls, uidvalidity: int, source: SequenceSet, dest: SequenceSet) -> ResponseCode:
        # RFC 4315 §3: COPYUID uidvalidity source-uids dest-uids (same order).
        return cls("COPYUID", b"%d " % uidvalidity + source.to_bytes() + b" " + dest.to_bytes())


# -- status responses ------------------------------------------------------


def _text(text: str) -> bytes:
    # resp-text: TEXT-CHARs only; never let a CR/LF end the line early.
    if text.isprintable():  # no control character (CR, LF, DEL ...): as it is
        return text.encode("utf-8")
    clean = "".join(ch if ch >= " " and ch != "\x7f" else " " for ch in text)
    return clean.encode("utf-8")


def _status_line(head: bytes, status: Status, text: str, code: ResponseCode | None) -> bytes:
    out = head + b" " + status.encode("ascii") + b" "
    if code is not None:
        out += code.to_bytes() + b" "
    # RFC 9051 §9 resp-text requires text after a code; keep it non-empty.
    return out + _text(text or status) + CRLF


def tagged(
    tag: bytes, status: _L["OK", "NO", "BAD"], text: str, code: ResponseCode | None = None
) -> bytes:
    """``tag OK [CODE] text``."""
    return _status_line(tag, status, text, code)


def untagged(status: Status, text: str, code: ResponseCode | None = None) -> bytes:
    """``* OK [CODE] text`` (also PREAUTH and BYE greetings)."""
    return _status_line(b"*", status, text, code)


def bye(text: str, code: ResponseCode | None = None) -> bytes:
    return untagged("BYE", text, code)


def continuation(text: bytes | str = b"") -> bytes:
    """``+ text`` — for literals, IDLE, and AUTHENTICATE (pass base64 bytes)."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    if b"\r" in data or b"\n" in data:
        raise ValueError("continuation text must be one line")
    return b"+ " + data + CRLF if data else b"+ \r\n"


# -- data responses --------------------------------------------------------


def _flag_list(flag_names: Iterable[str]) -> bytes:
    return b"(" + b" ".join(f.encode("ascii") for f in flag_names) + b")"


def capability(caps: Iterable[str]) -> bytes:
    return b"* CAPABILITY " + " ".join(caps).encode("ascii") + CRLF


def enabled(caps: Iterable[str]) -> bytes:
    """RFC 5161 §3.2: ``* ENABLED`` with the newly enabled capabilities."""
    names = " ".join(caps).encode("ascii")
    return b"* ENABLED" + (b" " + names if names else b"") + CRLF


def exists(n: int) -> bytes:
    return b"* %d EXISTS\r\n" % n


def recent(n: int) -> bytes:
    return b"* %d RECENT\r\n" % n


def expunge(seq: int) -> bytes:
    return b"* %d EXPUNGE\r\n" % seq


def vanished(uids: SequenceSet, *, earlier: bool = False) -> bytes:
    """RFC 7162 §3.2.10: ``* VANISHED [(EARLIER)] uids``."""
    return b"* VANISHED " + (b"(EARLIER) " if earlier else b"") + uids.to_bytes() + CRLF


def flags(flag_names: Iterable[str]) -> bytes:
    return b"* FLAGS " + _flag_list(flag_names) + CRLF


def list_response(
    attributes: Iterable[str],
    delimiter: str | None,
    name: str,
    *,
    utf8: bool = False,
    child_info: Iterable[str] = (),
    old_name: str | None = None,
    kind: bytes = b"LIST",
) -> bytes:
    """``* LIST (\\HasNoChildren) "/" INBOX`` with RFC 5258 extended items.

    ``child_info`` produces ``("CHILDINFO" ("SUBSCRIBED"))`` (RFC 5258 §3.5),
    ``old_name`` an RFC 9051 §7.3.1 OLDNAME item.
    """
    out = b"* " + kind + b" " + _flag_list(attributes) + b" "
    out += b"NIL" if delimiter is None else quoted(delimiter)
    out += b" " + mailbox(name, utf8=utf8)
    ext: list[bytes] = []
    infos = list(child_info)
    if infos:
        ext.append(b'"CHILDINFO" (' + b" ".join(quoted(i) for i in infos) + b")")
    if old_name is not None:
        ext.append(b'"OLDNAME" (' + mailbox(old_name, utf8=utf8) + b")")
    if ext:
        out += b" (" + b" ".join(ext) + b")"
    return out + CRLF


def lsub_response(
    attributes: Iterable[str], delimiter: str | None, name: str, *, utf8: bool = False
) -> bytes:
    return list_response(attributes, delimiter, name, utf8=utf8, kind=b"LSUB")


def status_response(name: str, items: Sequence[tuple[str, int]], *, utf8: bool = False) -> bytes:
    """``* STATUS name (MESSAGES 3 UIDNEXT 9)``."""
    body = b" ".join(k.encode("ascii") + b" %d" % v for k, v in items)
    return b"* STATUS " + mailbox(name, utf8=utf8) + b" (" + body + b")" + CRLF


Namespace = Sequence[tuple[str, str | None]] | None


def namespace(
    personal: Namespace, other: Namespace = None, shared: Namespace = None, *, utf8: bool = False
) -> bytes:
    """RFC 9051 §7.3.3 / RFC 2342: three lists of (prefix, delimiter), or NIL."""

    def one(ns: Namespace) -> bytes:
        if not ns:
            return b"NIL"
        parts = []
        for prefix, delim in ns:
            raw = prefix.encode("utf-8") if utf8 else mutf7.encode(prefix)
            parts.append(
                b"("
                + string(raw, utf8=utf8)
                + b" "
                + (b"NIL" if delim is None else quoted(delim))
                + b")"
            )
        return b"(" + b"".join(parts) + b")"

    return b"* NAMESPACE " + one(personal) + b" " + one(other) + b" " + one(shared) + CRLF


def id_response(params: Sequence[tuple[str, str | None]] | None) -> bytes:
    """RFC 2971 §3.2: ``* ID ("name" "posteingang" ...)`` or ``* ID NIL``."""
    if not params:
        return b"* ID NIL\r\n"
    items = b" ".join(string(k) + b" " + nstring(v) for k, v in params)
    return b"* ID (" + items + b")" + CRLF


def search(numbers: Iterable[int], *, modseq: int | None = None) -> bytes:
    """``* SEARCH 2 3 5`` (RFC 7162 §3.1.5: ``(MODSEQ n)`` when asked for)."""
    out = b"* SEARCH"
    for n in numbers:
        out += b" %d" % n
    if modseq is not None:
        out += b" (MODSEQ %d)" % modseq
    return out + CRLF


def esearch(
    tag: bytes | None,
    *,
    uid: bool = False,
    min: int | None = None,
    max: int | None = None,
    all: SequenceSet | None = None,
    count: int | None = None,
    modseq: int | None = None,
) -> bytes:
    """RFC 4731 §3.1 / RFC 9051 §7.3.4: ``* ESEARCH (TAG "a") UID MIN 2 COUNT 3``.

    Items that are None are omitted; ALL is omitted when the set is empty.
    """
    out = b"* ESEARCH"
    if tag is not None:
        out += b" (TAG " + quoted(tag) + b")"
    if uid:
        out += b" UID"
    if min is not None:
        out += b" MIN %d" % min
    if max is not None:
        out += b" MAX %d" % max
    if all is not None and all.ranges:
        out += b" ALL " + all.to_bytes()
    if count is not None:
        out += b" COUNT %d" % count
    if modseq is not None:
        out += b" MODSEQ %d" % modseq
    return out + CRLF


# -- FETCH -------------------------------------------------------------------
# Build a FETCH response either whole with fetch(seq, items) or streamed:
#   fetch_start(seq) + item + b" " + item_with_literal_header ... + fetch_end()
# where a body item is  name + b" " + literal_header(n)  followed by n octets.


def fetch_start(seq: int) -> bytes:
    return b"* %d FETCH (" % seq


def fetch_end() -> bytes:
    return b")" + CRLF


def fetch(seq: int, items: Sequence[bytes]) -> bytes:
    """``* seq FETCH (items...)`` from already encoded ``name value`` items."""
    return fetch_start(seq) + b" ".join(items) + fetch_end()


def fetch_flags(flag_names: Iterable[str]) -> bytes:
    return b"FLAGS " + _flag_list(flag_names)


def fetch_uid(uid: int) -> bytes:
    return b"UID %d" % uid


def fetch_modseq(modseq: int) -> bytes:
    return b"MODSEQ (%d)" % modseq


def fetch_size(size: int) -> bytes:
    return b"RFC822.SIZE %d" % size


def fetch_internaldate(value: _dt.datetime) -> bytes:
    return b'INTERNALDATE "' + format_datetime(value) + b'"'


def fetch_body(name: bytes, data: bytes | None, *, binary: bool = False) -> bytes:
    """A small body item in full: ``BODY[1] {5}\\r\\nhello`` or ``BODY[1] NIL``.

    For large bodies send ``name + b" " + literal_header(n)`` and stream.
    BINARY content with NUL must use literal8 (RFC 3516 §4.2): pass
    ``binary=True`` and it is chosen when needed.
    """
    if data is None:
        return name + b" NIL"
    use8 = binary and b"\0" in data
    return name + b" " + literal_header(len(data), binary=use8) + data
