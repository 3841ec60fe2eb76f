"""Trace headers added at final delivery: Return-Path, Delivered-To and Received.

RFC 5321 §4.4: the server that delivers a message prepends a ``Received``
line ("time stamp") when it accepts the message, and the final delivery
inserts ``Return-Path`` with the reverse-path of MAIL FROM.  ``Delivered-To``
(not in an RFC; Postfix, Dovecot and qmail write it) names the recipient and
lets later forwarders detect loops.  Order, top first: Return-Path,
Delivered-To, Received, then the message as it arrived.

Everything here is pure: the caller passes the time. A retried delivery gets
a new Received line; `delivery_key` is what lets the store recognise it.

What this module must never do: let client-supplied text (the HELO name, an
address) break out of its header line.  Only printable ASCII (or UTF-8 under
SMTPUTF8) without CR, LF or parentheses reaches the output.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime

__all__ = [
    "ClientInfo",
    "delivered_to",
    "protocol_keyword",
    "received",
    "return_path",
]

# RFC 5321 §4.1.2 Domain, ASCII only: what may stand after FROM unquoted.
_DOMAIN_RE = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*"
)
_LITERAL_RE = re.compile(r"\[[\x21-\x5a\x5e-\x7e]{1,253}\]")  # RFC 5321 §4.1.3 address-literal
_UNSAFE_RE = re.compile(r"[^\x21-\x27\x2a-\x5b\x5d-\x7e]")  # printable, minus ( ) \


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """What the Received line says about the connection.

    ``helo`` is the name from HELO/EHLO/LHLO as sent; ``ip`` the client
    address (after PROXY protocol), None on a local (UNIX) socket;
    ``tls_version`` and ``cipher`` are set when the session runs over TLS
    (``cipher`` in OpenSSL's spelling).
    """

    helo: str | None
    ip: str | None
    tls_version: str | None = None
    cipher: str | None = None


def protocol_keyword(*, lmtp: bool, esmtp: bool, tls: bool, smtputf8: bool) -> str:
    """The ``with`` keyword: RFC 3848 (ESMTP, ESMTPS, LMTP, LMTPS) and RFC 6531 §3.7.3 (UTF8…)."""
    if lmtp:
        base = "LMTP"
    elif esmtp:
        base = "ESMTP"
    else:
        base = "SMTP"
    if smtputf8:
        base = "UTF8" + base
    if tls and base != "SMTP":
        base += "S"  # RFC 3848 §2: "S" for STARTTLS-protected sessions
    return base


def _address_literal(ip: str) -> str:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return "[" + _UNSAFE_RE.sub("?", ip)[:64] + "]"
    if addr.version == 6:
        return f"[IPv6:{addr.compressed}]"  # RFC 5321 §4.1.3 IPv6-address-literal
    return f"[{addr}]"


def _safe(text: str, limit: int = 255) -> str:
    return _UNSAFE_RE.sub("?", text)[:limit]


@functools.lru_cache(maxsize=256)
def _from_clause(client: ClientInfo) -> str:
    # Cached: a connection delivers many messages with the same client facts.
    literal = _address_literal(client.ip) if client.ip else "local"
    helo = client.helo or ""
    # RFC 5321 §4.4: From-domain = Domain FWS "(" TCP-info ")".  A HELO that is
    # not a domain (or a literal) cannot stand there, so it goes in a comment.
    if (_DOMAIN_RE.fullmatch(helo) and len(helo) <= 255) or _LITERAL_RE.fullmatch(helo):
        return f"from {helo} ({literal})"
    if helo:
        return f"from {literal} ({literal} helo={_safe(helo)})"
    return f"from {literal} ({literal})"


def received(
    client: ClientInfo,
    *,
    by: str,
    protocol: str,
    id: str,
    recipient: str | None,
    at: datetime,
) -> bytes:
    """One ``Received:`` header (with CRLF), folded one clause per line.

    ``recipient`` is the ``for`` clause: the envelope address this copy is for
    (RFC 5321 §4.4 allows it; we give it because every copy is per recipient).
    ``at`` must be timezone-aware.
    """
    if at.tzinfo is None:
        raise ValueError("the time stamp needs a time zone")
    lines = [f"Received: {_from_clause(client)}", f"\tby {_safe(by)} (posteingang)"]
    if client.tls_version:
        cipher = f" with cipher {_safe(client.cipher)}" if client.cipher else ""
        lines[-1] += f" ({_safe(client.tls_version)}{cipher})"
    lines.append(f"\twith {protocol} id {_safe(id, 64)}")
    if recipient:
        lines.append(f"\tfor <{_clean(recipient)}>")
    lines[-1] += ";"
    lines.append("\t" + _date(at.replace(microsecond=0), at.utcoffset()))
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


@functools.lru_cache(maxsize=8)
def _date(at: datetime, offset: timedelta | None) -> str:
    # Every message delivered in the same second has the same date (hot path). The
    # offset is part of the key: equal instants in two zones are equal datetimes.
    return format_datetime(at)


def _clean(address: str) -> str:
    # Envelope addresses come from the core's grammar (no CR/LF/controls); this
    # is defence in depth against a future caller passing raw text.
    if address.isprintable() and "<" not in address and ">" not in address:
        return address  # the usual case: nothing to drop (no controls, no DEL)
    return "".join(ch for ch in address if ch >= " " and ch != "\x7f" and ch not in "<>")


def return_path(sender: str | None) -> bytes:
    """``Return-Path: <sender>`` (``<>`` for the null reverse-path), RFC 5321 §4.4."""
    return f"Return-Path: <{_clean(sender or '')}>\r\n".encode()


def delivered_to(recipient: str) -> bytes:
    """``Delivered-To: recipient``: the envelope recipient this copy was delivered for."""
    return f"Delivered-To: {_clean(recipient)}\r\n".encode()


def delivery_key(sender: str | None, recipient: str, body_sha256: str) -> str:
    """The identity of one delivery: reverse-path, recipient, SHA-256 of the received octets.

    Stored with the copy as `NewMessage.dedupe_key`: a retry of the same message
    (after a crash ate our 250) is recognised although its trace headers differ.
    """
    h = hashlib.sha256()
    h.update((sender or "").encode("utf-8", "surrogatepass"))
    h.update(b"\x00")
    h.update(recipient.encode("utf-8", "surrogatepass"))
    h.update(b"\x00")
    h.update(body_sha256.encode("ascii"))
    return h.hexdigest()
