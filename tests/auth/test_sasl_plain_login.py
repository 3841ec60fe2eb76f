"""PLAIN (RFC 4616) and LOGIN server steps: vector tables."""

from __future__ import annotations

import pytest

from posteingang.auth.sasl import Challenge, Failure, Login, Plain, Success
from posteingang.auth.sasl.plain import parse_plain_message

# RFC 4616 §4 examples, and the authzid rule we apply.
PLAIN_VECTORS: list[tuple[bytes, Success | None]] = [
    # RFC 4616 §4: "Tim" with password "tanstaaftanstaaf", no authzid.
    (b"\x00tim\x00tanstaaftanstaaf", Success("tim", None, "tanstaaftanstaaf")),
    # RFC 4616 §4: authzid "Ursel", authcid "Kurt": acting as another user is refused.
    (b"Ursel\x00Kurt\x00xipj3plmq", None),
    # authzid equal to authcid is the same as none.
    (b"kurt\x00kurt\x00xipj3plmq", Success("kurt", None, "xipj3plmq")),
    (
        b"\x00j\xc3\xbcrgen@example.org\x00p\xc3\xa4ss w\xc3\xb6rd",
        Success("jürgen@example.org", None, "päss wörd"),
    ),
    (b"", None),
    (b"\x00\x00", None),
    (b"\x00user\x00", None),  # empty password
    (b"\x00\x00password", None),  # empty authcid
    (b"user\x00password", None),  # one NUL
    (b"\x00user\x00pass\x00word", None),  # three NULs
    (b"\x00us\xffer\x00password", None),  # not UTF-8
    (b"\x00user\x00" + b"p" * 5000, None),  # over the size limit
]


@pytest.mark.parametrize(("message", "expected"), PLAIN_VECTORS)
def test_plain_message(message: bytes, expected: Success | None) -> None:
    result = parse_plain_message(message)
    if expected is None:
        assert isinstance(result, Failure)
    else:
        assert result == expected


def test_plain_accepts_255_octet_fields() -> None:
    # RFC 4616 §2: the server MUST accept authcid and passwd of up to 255 octets.
    result = parse_plain_message(b"\x00" + b"u" * 255 + b"\x00" + b"p" * 255)
    assert result == Success("u" * 255, None, "p" * 255)


def test_plain_with_initial_response() -> None:
    assert Plain().start(b"\x00tim\x00tanstaaftanstaaf") == Success("tim", None, "tanstaaftanstaaf")


def test_plain_without_initial_response_sends_empty_challenge() -> None:
    mech = Plain()
    assert mech.start(None) == Challenge(b"")
    assert mech.step(b"\x00tim\x00secret") == Success("tim", None, "secret")
    # The exchange is over; anything further fails.
    assert isinstance(mech.step(b"\x00tim\x00secret"), Failure)


def test_plain_empty_initial_response_fails() -> None:
    assert isinstance(Plain().start(b""), Failure)


def test_plain_step_before_start_fails() -> None:
    assert isinstance(Plain().step(b"\x00tim\x00secret"), Failure)


def test_plain_never_asks_for_credentials() -> None:
    mech = Plain()
    mech.start(None)
    assert isinstance(mech.provide_credentials(None), Failure)


def test_login_conversation() -> None:
    mech = Login()
    assert mech.start(None) == Challenge(b"Username:")
    assert mech.step(b"tim@example.org") == Challenge(b"Password:")
    assert mech.step(b"s3cret") == Success("tim@example.org", None, "s3cret")
    assert isinstance(mech.step(b"again"), Failure)


def test_login_with_username_as_initial_response() -> None:
    mech = Login()
    assert mech.start(b"tim") == Challenge(b"Password:")
    assert mech.step(b"s3cret") == Success("tim", None, "s3cret")


@pytest.mark.parametrize(
    ("username", "password"),
    [(b"", b"pw"), (b"tim", b""), (b"t\xffm", b"pw"), (b"tim", b"p\x00w"), (b"u" * 5000, b"pw")],
)
def test_login_rejects_bad_fields(username: bytes, password: bytes) -> None:
    mech = Login()
    mech.start(None)
    result = mech.step(username)
    if isinstance(result, Challenge):
        result = mech.step(password)
    assert isinstance(result, Failure)


def test_login_start_twice_fails() -> None:
    mech = Login()
    mech.start(None)
    assert isinstance(mech.start(None), Failure)
