"""The LOGIN mechanism, server side (draft-murchison-sasl-login, never an RFC).

What it is for: old clients (Outlook, some phones and printers) that only speak LOGIN.
The server asks "Username:" then "Password:"; the answers come back as they are.
Some clients send the user name as an initial response (``AUTH LOGIN <base64 user>``).

What it must never do: be offered without TLS (unless configured to), or verify the
password itself (``Success.password`` goes to the caller).
"""

from __future__ import annotations

from enum import Enum, auto
from typing import ClassVar, Final

from posteingang.auth.sasl.steps import (
    MAX_RESPONSE_BYTES,
    Challenge,
    Failure,
    Mechanism,
    Step,
    Success,
)

__all__ = ["Login"]

# The de-facto challenge strings; clients ignore them, but some log or match them.
USERNAME_CHALLENGE: Final = b"Username:"
PASSWORD_CHALLENGE: Final = b"Password:"


class _State(Enum):
    NEW = auto()
    WANT_USERNAME = auto()
    WANT_PASSWORD = auto()
    DONE = auto()


def _text(data: bytes) -> str | None:
    if len(data) > MAX_RESPONSE_BYTES or b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


class Login(Mechanism):
    """LOGIN: username, then password."""

    name: ClassVar[str] = "LOGIN"
    plaintext: ClassVar[bool] = True

    def __init__(self) -> None:
        self._state = _State.NEW
        self._username = ""

    def start(self, initial_response: bytes | None) -> Step:
        if self._state is not _State.NEW:
            return self._fail("LOGIN already started")
        self._state = _State.WANT_USERNAME
        if initial_response is None:
            return Challenge(USERNAME_CHALLENGE)
        return self._take_username(initial_response)

    def step(self, client_response: bytes) -> Step:
        if self._state is _State.WANT_USERNAME:
            return self._take_username(client_response)
        if self._state is _State.WANT_PASSWORD:
            password = _text(client_response)
            if not password:
                return self._fail("LOGIN password empty or not UTF-8")
            self._state = _State.DONE
            return Success(authcid=self._username, authzid=None, password=password)
        return self._fail("LOGIN step out of order")

    def _take_username(self, data: bytes) -> Step:
        username = _text(data)
        if not username:
            return self._fail("LOGIN username empty or not UTF-8")
        self._username = username
        self._state = _State.WANT_PASSWORD
        return Challenge(PASSWORD_CHALLENGE)

    def _fail(self, reason: str) -> Failure:
        self._state = _State.DONE
        return Failure(reason)
