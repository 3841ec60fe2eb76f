"""Command-line parsing: one SMTP/LMTP command line in, one typed command out.

Each command's syntax is RFC 5321 §4.1.1 (plus RFC 2033 LHLO, RFC 3030
BDAT, RFC 3207 STARTTLS).  The parser knows nothing about state or
capabilities: ``MAIL`` before ``EHLO`` parses fine here and is refused by
the connection.  A line that does not parse raises :class:`CommandError`
carrying the reply to send.

This module must never accept a line it cannot represent exactly: every
verb and argument either maps to a command object or to a 500/501/502 reply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .address import AddressError, Mailbox, parse_params, parse_path
from .replies import Reply

__all__ = [
    "BdatCommand",
    "Command",
    "CommandError",
    "DataCommand",
    "HeloCommand",
    "HelpCommand",
    "MailCommand",
    "NoopCommand",
    "QuitCommand",
    "RcptCommand",
    "RsetCommand",
    "StartTLSCommand",
    "UnimplementedCommand",
    "VrfyCommand",
    "parse_command",
]


class CommandError(Exception):
    """The command line is malformed; ``reply`` says so to the client."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(str(reply))
        self.reply = reply


@dataclass(frozen=True, slots=True)
class HeloCommand:
    verb: str  # "HELO", "EHLO" or "LHLO"
    domain: str


@dataclass(frozen=True, slots=True)
class MailCommand:
    address: Mailbox | None
    params: tuple[tuple[str, str | None], ...]


@dataclass(frozen=True, slots=True)
class RcptCommand:
    address: Mailbox
    params: tuple[tuple[str, str | None], ...]


@dataclass(frozen=True, slots=True)
class DataCommand:
    pass


@dataclass(frozen=True, slots=True)
class BdatCommand:
    size: int
    last: bool


@dataclass(frozen=True, slots=True)
class RsetCommand:
    pass


@dataclass(frozen=True, slots=True)
class NoopCommand:
    pass


@dataclass(frozen=True, slots=True)
class QuitCommand:
    pass


@dataclass(frozen=True, slots=True)
class VrfyCommand:
    argument: str


@dataclass(frozen=True, slots=True)
class HelpCommand:
    pass


@dataclass(frozen=True, slots=True)
class StartTLSCommand:
    pass


@dataclass(frozen=True, slots=True)
class UnimplementedCommand:
    """A verb RFC 5321 or a common extension defines that we do not offer (EXPN, AUTH, …)."""

    verb: str


Command = (
    HeloCommand
    | MailCommand
    | RcptCommand
    | DataCommand
    | BdatCommand
    | RsetCommand
    | NoopCommand
    | QuitCommand
    | VrfyCommand
    | HelpCommand
    | StartTLSCommand
    | UnimplementedCommand
)

UNKNOWN_COMMAND = Reply(500, "5.5.2", "Command not recognized")
_BAD_CHARACTERS = Reply(501, "5.5.4", "Invalid characters in command")
NOT_IMPLEMENTED = Reply(502, "5.5.1", "Command not implemented")

# Verbs RFC 5321 and widely deployed extensions define but we do not offer:
# answer 502 (RFC 5321 §4.2.4), not 500, so clients know we understood.
_UNIMPLEMENTED = frozenset(
    {"EXPN", "SEND", "SOML", "SAML", "TURN", "ETRN", "ATRN", "AUTH", "XCLIENT", "XFORWARD"}
)

# Printable, no controls: C0 controls and DEL never belong in a command line.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_FROM_RE = re.compile(r"FROM:", re.IGNORECASE)
_TO_RE = re.compile(r"TO:", re.IGNORECASE)
# RFC 3030 §2: chunk-size = 1*DIGIT.
_BDAT_RE = re.compile(r"([0-9]+)(?: +(LAST))? *", re.IGNORECASE)
# A chunk size must fit in 63 bits (Dovecot: "Invalid chunk size parameter").
_MAX_CHUNK_DIGITS = 19
_MAX_CHUNK = 2**63 - 1
_BAD_CHUNK_SIZE = Reply(501, "5.5.4", "Invalid chunk size parameter")


def _syntax(text: str) -> CommandError:
    return CommandError(Reply(501, "5.5.4", f"Syntax: {text}"))


def _no_args(verb: str, rest: str) -> None:
    if rest.strip(" "):
        raise _syntax(f"{verb} takes no arguments")


# Complex on purpose: one branch per SMTP verb (RFC 5321 §4.1.1).
def parse_command(line: bytes) -> Command:  # noqa: C901 (see above)
    """Parse one command line (without its CRLF)."""
    verb_bytes, _, rest_bytes = line.partition(b" ")
    verb = verb_bytes.decode("ascii", "replace").upper()
    try:
        rest = rest_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CommandError(_BAD_CHARACTERS) from exc
    if _CONTROL_RE.search(rest):
        raise CommandError(_BAD_CHARACTERS)
    if verb in ("HELO", "EHLO", "LHLO"):
        domain = rest.strip(" ")
        # RFC 5321 §4.1.1.1: one Domain or address-literal.  We take any one
        # word: clients send underscores and bare hostnames, and refusing
        # them loses mail without stopping anyone.
        if not domain or " " in domain:
            raise _syntax(f"{verb} hostname")
        return HeloCommand(verb, domain)
    if verb == "MAIL":
        return MailCommand(*_parse_path_command(rest, _FROM_RE, "MAIL FROM:<address>", True))
    if verb == "RCPT":
        address, params = _parse_path_command(rest, _TO_RE, "RCPT TO:<address>", False)
        assert address is not None  # the null path is refused for RCPT
        return RcptCommand(address, params)
    if verb == "DATA":
        _no_args(verb, rest)
        return DataCommand()
    if verb == "BDAT":
        m = _BDAT_RE.fullmatch(rest)
        if not m:
            raise _syntax("BDAT size [LAST]")
        digits = m.group(1).lstrip("0") or "0"
        if len(digits) > _MAX_CHUNK_DIGITS or int(digits) > _MAX_CHUNK:
            raise CommandError(_BAD_CHUNK_SIZE)
        return BdatCommand(int(digits), m.group(2) is not None)
    if verb == "RSET":
        _no_args(verb, rest)
        return RsetCommand()
    if verb == "NOOP":
        return NoopCommand()  # RFC 5321 §4.1.1.9: an argument is allowed and ignored
    if verb == "QUIT":
        _no_args(verb, rest)
        return QuitCommand()
    if verb == "VRFY":
        if not rest.strip(" "):
            raise _syntax("VRFY address")
        return VrfyCommand(rest.strip(" "))
    if verb == "HELP":
        return HelpCommand()
    if verb == "STARTTLS":
        _no_args(verb, rest)  # RFC 3207 §4: "STARTTLS" with no parameters
        return StartTLSCommand()
    if verb in _UNIMPLEMENTED:
        return UnimplementedCommand(verb)
    raise CommandError(UNKNOWN_COMMAND)


def _parse_path_command(
    rest: str, prefix: re.Pattern[str], usage: str, is_mail: bool
) -> tuple[Mailbox | None, tuple[tuple[str, str | None], ...]]:
    m = prefix.match(rest)
    if not m:
        raise _syntax(usage)
    # RFC 5321 has no space after the colon; many clients send one anyway
    # and every major MTA tolerates it.
    arg = rest[m.end() :].lstrip(" ")
    # RFC 3463: X.1.7 bad sender address syntax, X.1.3 bad destination.
    enhanced = "5.1.7" if is_mail else "5.1.3"
    try:
        address, tail = parse_path(arg, allow_null=is_mail, allow_postmaster=not is_mail)
    except AddressError as exc:
        raise CommandError(Reply(501, enhanced, f"Bad address syntax: {exc}")) from exc
    try:
        params = parse_params(tail)
    except AddressError as exc:
        raise CommandError(Reply(501, "5.5.4", f"Bad parameters: {exc}")) from exc
    return address, tuple(params)
