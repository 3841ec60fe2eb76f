"""Envelope addresses and ESMTP parameters: RFC 5321 §4.1.2 syntax, RFC 6531 extensions.

Parses the argument of ``MAIL FROM:`` and ``RCPT TO:`` into a
:class:`Mailbox` plus raw ``(KEYWORD, value)`` parameters.  The grammar is
the RFC 5321 one, widened by RFC 6531 §3.3 to admit UTF-8 in local parts and
domains; whether UTF-8 is *allowed* in this transaction is the caller's
decision (``Mailbox.is_ascii``).  Source routes (``<@a,@b:user@c>``) are
parsed and dropped, as RFC 5321 §4.1.1.3 and Appendix C tell servers to do.

This module must never guess: anything outside the grammar raises
:class:`AddressError`, never another exception, and nothing is normalised
except quoting (``"john"@x`` and ``john@x`` are the same mailbox).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from .limits import DOMAIN_MAX, LOCAL_PART_MAX, PATH_MAX

__all__ = ["AddressError", "Mailbox", "parse_params", "parse_path"]


class AddressError(ValueError):
    """The path or its parameters do not follow RFC 5321 §4.1.2."""


_NON_ASCII = "\u0080-\U0010ffff"
# RFC 5322 §3.2.3 atext, plus UTF8-non-ascii (RFC 6531 §3.3).
_ATEXT = rf"A-Za-z0-9!#$%&'*+\-/=?^_`{{|}}~{_NON_ASCII}"
_DOT_STRING = rf"[{_ATEXT}]+(?:\.[{_ATEXT}]+)*"
# RFC 5321 §4.1.2 qtextSMTP / quoted-pairSMTP, plus UTF8-non-ascii.
_QUOTED_STRING = rf'"(?:[\x20\x21\x23-\x5b\x5d-\x7e{_NON_ASCII}]|\\[\x20-\x7e])*"'
# sub-domain = Let-dig [Ldh-str]; RFC 6531 adds U-labels, which we admit by
# letting non-ASCII characters stand where letters may.
_LET_DIG = rf"A-Za-z0-9{_NON_ASCII}"
_SUB_DOMAIN = rf"[{_LET_DIG}](?:[{_LET_DIG}\-]*[{_LET_DIG}])?"
_DOMAIN = rf"{_SUB_DOMAIN}(?:\.{_SUB_DOMAIN})*"
_ADDRESS_LITERAL = r"\[[\x21-\x5a\x5e-\x7e]+\]"  # checked further below

_DOT_STRING_RE = re.compile(_DOT_STRING)
_DOMAIN_RE = re.compile(_DOMAIN)
_ADL_RE = re.compile(rf"@{_DOMAIN}(?:,@{_DOMAIN})*:")
_LOCAL_PART_RE = re.compile(rf"{_DOT_STRING}|{_QUOTED_STRING}")
_DOMAIN_OR_LITERAL_RE = re.compile(rf"{_DOMAIN}|{_ADDRESS_LITERAL}")
_QUOTED_PAIR_RE = re.compile(r"\\(.)")
_IPV4_RE = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")
_GENERAL_LITERAL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?:[\x21-\x5a\x5e-\x7e]+")
_KEYWORD_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-]*")
# esmtp-value = 1*(%d33-60 / %d62-126), RFC 6531 §3.3 adds UTF8-non-ascii.
_VALUE_RE = re.compile(rf"[\x21-\x3c\x3e-\x7e{_NON_ASCII}]+")


@dataclass(frozen=True, slots=True)
class Mailbox:
    """An envelope mailbox: ``local_part@domain``.

    ``local_part`` is the semantic value (quotes and backslash escapes
    removed); ``domain`` is as the client wrote it, with an address literal
    kept in its brackets (``[192.0.2.1]``).  ``domain`` is empty only for the
    special ``RCPT TO:<Postmaster>`` of RFC 5321 §4.1.1.3.
    """

    local_part: str
    domain: str

    @property
    def is_ascii(self) -> bool:
        """False when the address needs SMTPUTF8 (RFC 6531) to be carried."""
        return self.local_part.isascii() and self.domain.isascii()

    @property
    def is_postmaster(self) -> bool:
        """True for a domain-less ``<Postmaster>`` (any case)."""
        return not self.domain and self.local_part.lower() == "postmaster"

    def quoted_local_part(self) -> str:
        """The local part as it must be written in a path: quoted when not a dot-string."""
        if _DOT_STRING_RE.fullmatch(self.local_part):
            return self.local_part
        escaped = self.local_part.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'

    def __str__(self) -> str:
        local = self.quoted_local_part()
        return f"{local}@{self.domain}" if self.domain else local


def _check_address_literal(literal: str) -> None:
    inner = literal[1:-1]
    if _IPV4_RE.fullmatch(inner):
        try:
            ipaddress.IPv4Address(inner)
        except ValueError as exc:
            raise AddressError(f"invalid IPv4 address literal {literal}") from exc
        return
    if inner[:5].lower() == "ipv6:":
        value = inner[5:]
        try:
            # IPv6Address accepts "%zone" suffixes that RFC 5321 does not.
            if "%" in value:
                raise ValueError(value)
            ipaddress.IPv6Address(value)
        except ValueError as exc:
            raise AddressError(f"invalid IPv6 address literal {literal}") from exc
        return
    if not _GENERAL_LITERAL_RE.fullmatch(inner):
        raise AddressError(f"invalid address literal {literal}")


def _octets(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def parse_path(  # noqa: C901 - the Path grammar (RFC 5321 §4.1.2), one branch per alternative
    text: str, *, allow_null: bool, allow_postmaster: bool
) -> tuple[Mailbox | None, str]:
    """Parse a ``<path>`` at the start of ``text``; return the mailbox and the rest.

    ``<>`` yields ``None`` and is allowed only where ``allow_null`` (the
    reverse-path of MAIL FROM).  ``<Postmaster>`` without a domain is allowed
    only where ``allow_postmaster`` (RCPT TO, RFC 5321 §4.1.1.3).  The rest is
    returned unparsed (the ESMTP parameters, with its leading space).
    """
    if not text.startswith("<"):
        raise AddressError("path must be enclosed in angle brackets")
    if text.startswith("<>"):
        if not allow_null:
            raise AddressError("null path not allowed here")
        return None, text[2:]
    pos = 1
    adl = _ADL_RE.match(text, pos)
    if adl:
        pos = adl.end()  # RFC 5321 §4.1.1.3: source routes are ignored
    local = _LOCAL_PART_RE.match(text, pos)
    if not local:
        raise AddressError("invalid local part")
    pos = local.end()
    raw_local = local.group()
    if raw_local.startswith('"'):
        local_part = _QUOTED_PAIR_RE.sub(r"\1", raw_local[1:-1])
    else:
        local_part = raw_local
    if text.startswith(">", pos):
        if allow_postmaster and not adl and local_part.lower() == "postmaster":
            return Mailbox(local_part, ""), text[pos + 1 :]
        raise AddressError("mailbox without a domain")
    if not text.startswith("@", pos):
        raise AddressError("invalid local part")
    domain_match = _DOMAIN_OR_LITERAL_RE.match(text, pos + 1)
    if not domain_match:
        raise AddressError("invalid domain")
    domain = domain_match.group()
    pos = domain_match.end()
    if not text.startswith(">", pos):
        raise AddressError("invalid domain")
    if domain.startswith("["):
        _check_address_literal(domain)
    # RFC 5321 §4.5.3.1.1-3 size limits, in octets.
    if _octets(raw_local) > LOCAL_PART_MAX:
        raise AddressError("local part too long")
    if _octets(domain) > DOMAIN_MAX:
        raise AddressError("domain too long")
    if _octets(raw_local) + 1 + _octets(domain) > PATH_MAX:
        raise AddressError("path too long")
    return Mailbox(local_part, domain), text[pos + 1 :]


def parse_params(text: str) -> list[tuple[str, str | None]]:
    """Parse ``SP esmtp-param *(SP esmtp-param)`` into ``(KEYWORD, value)`` pairs.

    Keywords are upper-cased (they are case-insensitive, RFC 5321 §2.4);
    values are kept as written.  ``text`` is what :func:`parse_path` left.
    Several spaces between parameters are tolerated; text glued to the
    closing ``>`` is not.
    """
    if not text:
        return []
    if not text.startswith(" "):
        raise AddressError("garbage after path")
    params: list[tuple[str, str | None]] = []
    for word in text.split(" "):
        if not word:
            continue
        keyword, sep, value = word.partition("=")
        if not _KEYWORD_RE.fullmatch(keyword):
            raise AddressError(f"invalid parameter keyword {keyword!r}")
        if sep:
            if not _VALUE_RE.fullmatch(value):
                raise AddressError(f"invalid value for {keyword.upper()}")
            params.append((keyword.upper(), value))
        else:
            params.append((keyword.upper(), None))
    return params
