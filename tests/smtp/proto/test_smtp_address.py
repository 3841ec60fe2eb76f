"""Envelope address syntax (RFC 5321 §4.1.2, RFC 6531) and ESMTP parameter syntax."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posteingang.smtp.proto.address import AddressError, Mailbox, parse_params, parse_path

VALID = [
    ("<user@example.com>", "user", "example.com"),
    ("<first.last@sub.example.com>", "first.last", "sub.example.com"),
    ("<a+tag@x-y.example>", "a+tag", "x-y.example"),
    ("<!#$%&'*+-/=?^_`{|}~@example.com>", "!#$%&'*+-/=?^_`{|}~", "example.com"),
    ('<"john doe"@example.com>', "john doe", "example.com"),
    ('<"a\\"b\\\\c"@example.com>', 'a"b\\c', "example.com"),
    ('<"john"@example.com>', "john", "example.com"),  # same mailbox as <john@...>
    ('<""@example.com>', "", "example.com"),
    ("<user@[192.0.2.1]>", "user", "[192.0.2.1]"),
    ("<user@[IPv6:2001:db8::1]>", "user", "[IPv6:2001:db8::1]"),
    ("<user@[x-tag:something]>", "user", "[x-tag:something]"),
    ("<@relay.example:user@example.com>", "user", "example.com"),  # source route dropped
    ("<@a.example,@b.example:user@example.com>", "user", "example.com"),
    ("<jörg@bücher.example>", "jörg", "bücher.example"),  # syntax ok; SMTPUTF8 decides
    ("<user@localhost>", "user", "localhost"),
    ("<user@123.example>", "user", "123.example"),
]


@pytest.mark.parametrize(("text", "local", "domain"), VALID)
def test_valid_paths(text: str, local: str, domain: str) -> None:
    mailbox, rest = parse_path(text, allow_null=False, allow_postmaster=False)
    assert mailbox == Mailbox(local, domain)
    assert rest == ""


INVALID = [
    "user@example.com",  # no angle brackets
    "<user@example.com",
    "<user>",  # no domain
    "<@example.com>",
    "<user@>",
    "<user@@example.com>",
    "<.user@example.com>",
    "<user.@example.com>",
    "<us..er@example.com>",
    "<user@-example.com>",
    "<user@example-.com>",
    "<user@example..com>",
    "<user@.example.com>",
    "<us er@example.com>",
    '<"unterminated@example.com>',
    "<user@[300.0.0.1]>",
    "<user@[IPv6:not-an-address]>",
    "<user@[IPv6:fe80::1%eth0]>",
    "<user@[1.2.3]>",
    "<user@example.com>>",
    "<user@exa_mple.com>",
    "<" + "a" * 65 + "@example.com>",  # local part > 64 octets
    "<a@" + ("b" * 63 + ".") * 4 + "com>",  # domain > 255 octets
    "<@relay:user>",
    "<user@example.com",
    "",
]


@pytest.mark.parametrize("text", INVALID)
def test_invalid_paths(text: str) -> None:
    with pytest.raises(AddressError):
        _, rest = parse_path(text, allow_null=True, allow_postmaster=True)
        parse_params(rest)


def test_null_path_only_where_allowed() -> None:
    assert parse_path("<>", allow_null=True, allow_postmaster=False) == (None, "")
    with pytest.raises(AddressError):
        parse_path("<>", allow_null=False, allow_postmaster=True)


@pytest.mark.parametrize("text", ["<Postmaster>", "<postmaster>", "<POSTMASTER>"])
def test_postmaster_without_domain(text: str) -> None:
    mailbox, _ = parse_path(text, allow_null=False, allow_postmaster=True)
    assert mailbox is not None and mailbox.is_postmaster and str(mailbox) == text[1:-1]
    with pytest.raises(AddressError):
        parse_path(text, allow_null=True, allow_postmaster=False)


def test_parameters_are_returned_as_rest() -> None:
    _, rest = parse_path(
        "<a@b.example> SIZE=10 BODY=8BITMIME", allow_null=True, allow_postmaster=False
    )
    assert rest == " SIZE=10 BODY=8BITMIME"
    assert parse_params(rest) == [("SIZE", "10"), ("BODY", "8BITMIME")]


@pytest.mark.parametrize(
    ("text", "params"),
    [
        ("", []),
        (" SMTPUTF8", [("SMTPUTF8", None)]),
        (" size=10  body=7bit", [("SIZE", "10"), ("BODY", "7bit")]),
        (" X-FOO=bar ", [("X-FOO", "bar")]),
    ],
)
def test_params(text: str, params: list[tuple[str, str | None]]) -> None:
    assert parse_params(text) == params


@pytest.mark.parametrize("text", ["SIZE=1", " -X=1", " SIZE=", " A=b=c", " A=\x01", " A\tB"])
def test_bad_params(text: str) -> None:
    with pytest.raises(AddressError):
        parse_params(text)


@pytest.mark.parametrize(
    ("mailbox", "text"),
    [
        (Mailbox("user", "example.com"), "user@example.com"),
        (Mailbox("john doe", "example.com"), '"john doe"@example.com'),
        (Mailbox('a"b\\', "x.example"), '"a\\"b\\\\"@x.example'),
        (Mailbox("", "x.example"), '""@x.example'),
        (Mailbox("Postmaster", ""), "Postmaster"),
    ],
)
def test_str_requotes(mailbox: Mailbox, text: str) -> None:
    assert str(mailbox) == text
    if mailbox.domain:
        assert parse_path(f"<{text}>", allow_null=False, allow_postmaster=False)[0] == mailbox


def test_is_ascii() -> None:
    assert Mailbox("a", "b").is_ascii
    assert not Mailbox("jörg", "b").is_ascii
    assert not Mailbox("a", "bücher.example").is_ascii


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=80))
def test_arbitrary_text_parses_or_raises_address_error(text: str) -> None:
    try:
        mailbox, rest = parse_path(text, allow_null=True, allow_postmaster=True)
        parse_params(rest)
    except AddressError:
        return
    if mailbox is not None and mailbox.domain:
        # Whatever parsed must round-trip through str().
        again, _ = parse_path(f"<{mailbox}>", allow_null=False, allow_postmaster=False)
        assert again == mailbox


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40))
def test_any_printable_local_part_roundtrips_when_quoted(local: str) -> None:
    mailbox = Mailbox(local, "example.com")
    if len(mailbox.quoted_local_part().encode()) > 64:
        return
    assert parse_path(f"<{mailbox}>", allow_null=False, allow_postmaster=False)[0] == mailbox
