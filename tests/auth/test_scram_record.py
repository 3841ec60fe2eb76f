"""SCRAM-SHA-256 stored records: derivation, Dovecot format, parsing."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posteingang.auth.scram import (
    ScramRecord,
    derive_scram_sha256,
    parse_scram_record,
    verify_scram_password,
)

# RFC 7677 §3: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, i=4096.
RFC7677_SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")

# From `doveadm pw -s SCRAM-SHA-256 -p pencil`.
DOVECOT_PENCIL = (
    "{SCRAM-SHA-256}4096,TL9ubHh69NFwrma7M3aO+Q==,"
    "y6gnESyD8nz+fCKAf26ejHNTXTEOwC/jnIvCe6V1lcQ=,9Z8Se+w4/xtRJudCv8Extn6W6p6xMa+x5xYt67vPO3Y="
)


def test_derive_is_deterministic_for_given_salt_and_matches_dovecot() -> None:
    dovecot = parse_scram_record(DOVECOT_PENCIL)
    assert dovecot is not None
    ours = derive_scram_sha256("pencil", iterations=4096, salt=dovecot.salt)
    assert ours == DOVECOT_PENCIL


def test_round_trip_and_random_salt() -> None:
    a = derive_scram_sha256("pencil", salt=RFC7677_SALT)
    record = parse_scram_record(a)
    assert record == parse_scram_record(a.removeprefix("{SCRAM-SHA-256}"))
    assert isinstance(record, ScramRecord)
    assert record.iterations == 4096
    assert record.salt == RFC7677_SALT
    assert record.to_string() == a
    assert derive_scram_sha256("pencil") != derive_scram_sha256("pencil")


def test_verify_plaintext_against_record() -> None:
    stored = derive_scram_sha256("pencil", iterations=4096)
    assert verify_scram_password(stored, "pencil")
    assert not verify_scram_password(stored, "pencil2")


def test_password_is_saslprepped() -> None:
    # RFC 5802 §2.2: a no-break space and a plain space derive the same keys.
    salt = b"0123456789abcdef"
    assert derive_scram_sha256("a\u00a0b", salt=salt) == derive_scram_sha256("a b", salt=salt)


def test_password_failing_saslprep_still_derives() -> None:
    stored = derive_scram_sha256("bell\u0007", iterations=4096)
    assert verify_scram_password(stored, "bell\u0007")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{SCRAM-SHA-1}4096,abc,def,ghi",
        "4096,W22ZaJ0SNY7soEsUEjb6gQ==,AAAA,AAAA",
        "x,W22ZaJ0SNY7soEsUEjb6gQ==,"
        + base64.b64encode(bytes(32)).decode()
        + ","
        + base64.b64encode(bytes(32)).decode(),
        "0,W22ZaJ0SNY7soEsUEjb6gQ==,"
        + base64.b64encode(bytes(32)).decode()
        + ","
        + base64.b64encode(bytes(32)).decode(),
        "99999999999,W22ZaJ0SNY7soEsUEjb6gQ==,"
        + base64.b64encode(bytes(32)).decode()
        + ","
        + base64.b64encode(bytes(32)).decode(),
        "4096,,"
        + base64.b64encode(bytes(32)).decode()
        + ","
        + base64.b64encode(bytes(32)).decode(),
        "4096,%%%,AAAA,AAAA",
        "4096,a,b,c,d",
    ],
)
def test_malformed_records_are_none(text: str) -> None:
    assert parse_scram_record(text) is None
    assert not verify_scram_password(text, "pencil")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_parse_never_raises(text: str) -> None:
    record = parse_scram_record(text)
    assert record is None or isinstance(record, ScramRecord)
