"""The PLAIN mechanism, server side (RFC 4616).

What it is for: parsing ``[authzid] NUL authcid NUL passwd`` into a ``Success`` that
carries the claimed user and password; the caller verifies the password.

What it must never do: be offered without TLS (unless configured to), verify the password
itself, or let one user act as another: an authzid that is neither empty nor equal to
the authcid fails (we have no proxy-authorisation policy).
"""

from __future__ import annotations

from typing import ClassVar, Final

from posteingang.auth.sasl.steps import (
    MAX_RESPONSE_BYTES,
    Challenge,
    Failure,
    Mechanism,
    Step,
    Success,
)

__all__ = ["Plain", "parse_plain_message"]

_NUL: Final = b"\x00"


def parse_plain_message(message: bytes) -> Success | Failure:
    """Parse an RFC 4616 §2 message into a (not yet verified) ``Success`` or a ``Failure``."""
    if len(message) > MAX_RESPONSE_BYTES:
        return Failure("PLAIN message too long")
    parts = message.split(_NUL)
    # RFC 4616 §2: message = [authzid] UTF8NUL authcid UTF8NUL passwd; exactly two NULs.
    if len(parts) != 3:
        return Failure("PLAIN message does not have three NUL-separated fields")
    try:
        authzid, authcid, passwd = (part.decode("utf-8") for part in parts)
    except UnicodeDecodeError:
        return Failure("PLAIN message is not UTF-8")
    # authcid = 1*SAFE, passwd = 1*SAFE: both must be present.
    if not authcid or not passwd:
        return Failure("PLAIN message with empty authcid or password")
    if authzid and authzid != authcid:
        return Failure("PLAIN authzid differs from authcid (proxy login not allowed)")
    return Success(authcid=authcid, authzid=None, password=passwd)


class Plain(Mechanism):
    """PLAIN: one message from the client, with or without an initial response."""

    name: ClassVar[str] = "PLAIN"
    plaintext: ClassVar[bool] = True

    def __init__(self) -> None:
        self._done = False
        self._started = False

    def start(self, initial_response: bytes | None) -> Step:
        if self._started:
            return self._finish(Failure("PLAIN already started"))
        self._started = True
        if initial_response is None:
            # RFC 4616 §2: without an initial response the server sends an empty challenge.
            return Challenge(b"")
        return self._finish(parse_plain_message(initial_response))

    def step(self, client_response: bytes) -> Step:
        if self._done or not self._started:
            return self._finish(Failure("PLAIN step out of order"))
        return self._finish(parse_plain_message(client_response))

    def _finish(self, result: Success | Failure) -> Success | Failure:
        self._done = True
        return result
