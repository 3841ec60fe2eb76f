"""Turn one POP3 command line into a typed command event, or say precisely what is wrong.

Grammar (RFC 2449 §3, loosening RFC 1939 §3 only where real clients need it)::

    command  = keyword *(SP param) CRLF      ; keyword case-insensitive
    param    = 1*VCHAR                        ; PASS: the rest of the line

Deliberate leniencies: a bare LF ends a line as well as CRLF (the reader strips
either), runs of spaces between parameters and trailing spaces are accepted,
and message numbers may carry leading zeros. Everything else is strict: a
message number is ASCII digits only, 1 <= msg <= 2**31-1 (RFC 1939 §5: messages
are numbered from 1), TOP's line count is >= 0, and every command gets exactly
the parameters its RFC gives it.

Which commands are allowed in which state is not decided here but in
`connection` (the transition table). This module must never import sockets,
asyncio or the store, and never raise anything but `CommandSyntaxError`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable

from .events import (
    Apop,
    Auth,
    AuthResponse,
    Capa,
    Command,
    Dele,
    Lang,
    List,
    Noop,
    Pass,
    Quit,
    Retr,
    Rset,
    Stat,
    Stls,
    Top,
    Uidl,
    User,
    Utf8,
)

MAX_MSG = 2**31 - 1
# RFC 2449 §4: a parameter is at most 40 characters; we apply it to numbers only
# (a 40-digit line count is harmless, an e-mail address may well be longer).
_MAX_DIGITS = 40
# RFC 4422 §3.1: sasl-mech = 1*20(UPPER-ALPHA / DIGIT / "-" / "_"); we accept lower case.
_SASL_MECH = re.compile(r"[A-Z0-9_-]{1,20}")
# RFC 5646 language tag, loosely, or "*" for "server's choice" (RFC 6856 §3).
_LANG_TAG = re.compile(r"\*|[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")
_APOP_DIGEST = re.compile(r"[0-9a-f]{32}")


class CommandSyntaxError(Exception):
    """The line is not a valid command; `reason` becomes the ``-ERR`` text."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def split_keyword(line: bytes) -> tuple[str, bytes]:
    """Split a line (without its line end) into an upper-case keyword and the raw rest.

    The rest is everything after the first space; it is ``b""`` when there is no space.
    A keyword that is not printable ASCII comes back as ``""`` (an unknown command).
    """
    keyword, _, rest = line.partition(b" ")
    if not keyword or not all(0x21 <= b <= 0x7E for b in keyword) or len(keyword) > _MAX_DIGITS:
        return "", rest
    return keyword.decode("ascii").upper(), rest


def _params(keyword: str, rest: bytes, minimum: int, maximum: int) -> list[bytes]:
    params = [p for p in rest.split(b" ") if p]
    if len(params) < minimum:
        raise CommandSyntaxError(f"{keyword}: missing argument")
    if len(params) > maximum:
        raise CommandSyntaxError(f"{keyword}: too many arguments")
    return params


def _text(keyword: str, raw: bytes) -> str:
    # RFC 6856 §2: names and passwords may be UTF-8; we take nothing else above
    # ASCII, so the auth layer never sees bytes in an unknown charset.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandSyntaxError(f"{keyword}: argument is not valid UTF-8") from None


def _number(keyword: str, raw: bytes, *, minimum: int, maximum: int | None) -> int:
    if not raw.isdigit() or len(raw) > _MAX_DIGITS:  # bytes.isdigit() is ASCII-only
        raise CommandSyntaxError(f"{keyword}: argument must be a non-negative number")
    value = int(raw)
    if value < minimum or (maximum is not None and value > maximum):
        raise CommandSyntaxError(f"{keyword}: number out of range")
    return value


def _msg(keyword: str, raw: bytes) -> int:
    return _number(keyword, raw, minimum=1, maximum=MAX_MSG)


def _no_params(keyword: str, factory: Callable[[], Command]) -> Callable[[bytes], Command]:
    def parse(rest: bytes) -> Command:
        _params(keyword, rest, 0, 0)
        return factory()

    return parse


def _parse_user(rest: bytes) -> Command:
    (name,) = _params("USER", rest, 1, 1)
    return User(_text("USER", name))


def _parse_pass(rest: bytes) -> Command:
    # RFC 1939 §7: "the server may treat spaces in the argument as part of the
    # password, instead of as argument separators" -- we do.
    if not rest:
        raise CommandSyntaxError("PASS: missing argument")
    return Pass(_text("PASS", rest))


def _parse_apop(rest: bytes) -> Command:
    name, digest = _params("APOP", rest, 2, 2)
    # RFC 1939 §7: the digest is lower-case hex; we also accept upper case.
    hex_digest = digest.decode("ascii", "replace").lower()
    if not _APOP_DIGEST.fullmatch(hex_digest):
        raise CommandSyntaxError("APOP: digest must be 32 hexadecimal digits")
    return Apop(_text("APOP", name), hex_digest)


def decode_sasl(keyword: str, raw: bytes) -> bytes:
    """Strict base64 (RFC 5034 §4: a response that does not decode ends the exchange)."""
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise CommandSyntaxError(f"{keyword}: invalid base64") from None


def _parse_auth(rest: bytes) -> Command:
    params = _params("AUTH", rest, 1, 2)
    mechanism = params[0].decode("ascii", "replace").upper()
    if not _SASL_MECH.fullmatch(mechanism):
        raise CommandSyntaxError("AUTH: malformed SASL mechanism name")
    if len(params) == 1:
        return Auth(mechanism)
    # RFC 5034 §4: "=" is an initial response of zero length.
    initial = b"" if params[1] == b"=" else decode_sasl("AUTH", params[1])
    return Auth(mechanism, initial)


def parse_auth_response(line: bytes) -> AuthResponse:
    """A client line inside a SASL exchange: ``*`` cancels, anything else is base64."""
    stripped = line.rstrip(b" ")
    if stripped == b"*":
        return AuthResponse(None)
    return AuthResponse(decode_sasl("AUTH", stripped))


def _parse_lang(rest: bytes) -> Command:
    params = _params("LANG", rest, 0, 1)
    if not params:
        return Lang(None)
    tag = params[0].decode("ascii", "replace")
    if not _LANG_TAG.fullmatch(tag):
        raise CommandSyntaxError("LANG: malformed language tag")
    return Lang(tag)


def _parse_list(rest: bytes) -> Command:
    params = _params("LIST", rest, 0, 1)
    return List(_msg("LIST", params[0]) if params else None)


def _parse_uidl(rest: bytes) -> Command:
    params = _params("UIDL", rest, 0, 1)
    return Uidl(_msg("UIDL", params[0]) if params else None)


def _parse_retr(rest: bytes) -> Command:
    (msg,) = _params("RETR", rest, 1, 1)
    return Retr(_msg("RETR", msg))


def _parse_dele(rest: bytes) -> Command:
    (msg,) = _params("DELE", rest, 1, 1)
    return Dele(_msg("DELE", msg))


def _parse_top(rest: bytes) -> Command:
    msg, lines = _params("TOP", rest, 2, 2)
    return Top(_msg("TOP", msg), _number("TOP", lines, minimum=0, maximum=None))


# keyword -> parser of the rest of the line. The keys are every command we know.
PARSERS: dict[str, Callable[[bytes], Command]] = {
    "USER": _parse_user,
    "PASS": _parse_pass,
    "APOP": _parse_apop,
    "AUTH": _parse_auth,
    "STLS": _no_params("STLS", Stls),
    "UTF8": _no_params("UTF8", Utf8),
    "CAPA": _no_params("CAPA", Capa),
    "LANG": _parse_lang,
    "QUIT": _no_params("QUIT", Quit),
    "STAT": _no_params("STAT", Stat),
    "LIST": _parse_list,
    "RETR": _parse_retr,
    "DELE": _parse_dele,
    "NOOP": _no_params("NOOP", Noop),
    "RSET": _no_params("RSET", Rset),
    "TOP": _parse_top,
    "UIDL": _parse_uidl,
}


# keyword -> the event type it becomes, so the state check can run before argument parsing.
COMMAND_TYPES: dict[str, type[Command]] = {
    "USER": User,
    "PASS": Pass,
    "APOP": Apop,
    "AUTH": Auth,
    "STLS": Stls,
    "UTF8": Utf8,
    "CAPA": Capa,
    "LANG": Lang,
    "QUIT": Quit,
    "STAT": Stat,
    "LIST": List,
    "RETR": Retr,
    "DELE": Dele,
    "NOOP": Noop,
    "RSET": Rset,
    "TOP": Top,
    "UIDL": Uidl,
}


def parse_arguments(keyword: str, rest: bytes) -> Command:
    """Parse the parameters of a known `keyword`; raise `CommandSyntaxError` if they are bad."""
    if keyword != "PASS":
        # Only PASS keeps trailing spaces: they may be part of the password.
        rest = rest.rstrip(b" ")
    return PARSERS[keyword](rest)
