"""Reply formatting: single and multiline replies, enhanced status codes, refusals of bad text."""

from __future__ import annotations

import pytest

from posteingang.smtp.proto import LocalProtocolError, Reply


@pytest.mark.parametrize(
    ("reply", "wire"),
    [
        (Reply(250, "2.0.0", "OK"), b"250 2.0.0 OK\r\n"),
        (Reply(354, None, "Go ahead"), b"354 Go ahead\r\n"),
        (Reply(550, "5.1.1", "No such user"), b"550 5.1.1 No such user\r\n"),
        (
            Reply(250, None, ("mx", "PIPELINING", "SIZE 10")),
            b"250-mx\r\n250-PIPELINING\r\n250 SIZE 10\r\n",
        ),
        (
            Reply(452, "4.5.3", ("Too many", "recipients")),
            b"452-4.5.3 Too many\r\n452 4.5.3 recipients\r\n",
        ),
        (Reply(250, None, ""), b"250\r\n"),
        (Reply(250, None, ()), b"250\r\n"),
        (Reply(221, "2.0.0", "Bye"), b"221 2.0.0 Bye\r\n"),
        (
            Reply(550, "5.1.1", "<jörg@example.com> unknown"),
            "550 5.1.1 <jörg@example.com> unknown\r\n".encode(),
        ),
    ],
)
def test_wire_format(reply: Reply, wire: bytes) -> None:
    assert reply.to_bytes() == wire


@pytest.mark.parametrize(
    ("code", "enhanced", "text"),
    [
        (250, "2.0.0", "line\r\n250 forged"),  # reply injection
        (250, "2.0.0", "a\nb"),
        (250, None, "nul\x00"),
        (199, None, "x"),
        (600, None, "x"),
        (250, "5.0.0", "class does not match"),
        (550, "2.0.0", "class does not match"),
        (250, "2.0", "too short"),
        (250, "2.0.0.0", "too long"),
        (250, "3.0.0", "3 is not a class"),
    ],
)
def test_invalid_replies_are_our_bug(code: int, enhanced: str | None, text: str) -> None:
    with pytest.raises(LocalProtocolError):
        Reply(code, enhanced, text)


def test_properties() -> None:
    assert Reply(250, "2.0.0", "x").is_positive
    assert Reply(354, None, "x").is_positive
    assert Reply(451, "4.3.0", "x").is_transient
    assert not Reply(550, "5.0.0", "x").is_transient
    assert Reply(250, None, ("a", "b")).text == "a\nb"
    assert str(Reply(250, None, ("a", "b"))) == "250-a\r\n250 b"
