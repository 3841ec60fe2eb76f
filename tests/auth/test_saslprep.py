"""SASLprep (RFC 4013) against the examples of RFC 4013 §3 and the rules of §2."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posteingang.auth.saslprep import SASLprepError, saslprep

# RFC 4013 §3 Examples.
RFC4013_EXAMPLES = [
    ("I\u00adX", "IX"),  # SOFT HYPHEN mapped to nothing
    ("user", "user"),  # no transformation
    ("USER", "USER"),  # case preserved, will not match #2
    ("\u00aa", "a"),  # output is NFKC, input in ISO 8859-1
    ("\u2168", "IX"),  # output is NFKC, will match #1
]


@pytest.mark.parametrize(("given_text", "expected"), RFC4013_EXAMPLES)
def test_rfc4013_examples(given_text: str, expected: str) -> None:
    assert saslprep(given_text) == expected


def test_rfc4013_prohibited_character() -> None:
    with pytest.raises(SASLprepError):
        saslprep("\u0007")  # BELL: prohibited (C.2.1)


def test_rfc4013_bidi_violation() -> None:
    with pytest.raises(SASLprepError):
        saslprep("\u0627\u0031")  # ARABIC LETTER ALEF then "1": must end with RandALCat


def test_non_ascii_space_maps_to_space() -> None:
    assert saslprep("pass\u00a0word") == "pass word"
    assert saslprep("a\u3000b") == "a b"


def test_zero_width_characters_are_removed() -> None:
    assert saslprep("pa\u200bss\ufeffword") == "password"


def test_right_to_left_string_is_accepted_whole() -> None:
    assert saslprep("\u0627\u0628") == "\u0627\u0628"


def test_mixed_direction_is_refused() -> None:
    with pytest.raises(SASLprepError):
        saslprep("\u0627a\u0628")


@pytest.mark.parametrize("text", ["\ue000", "\ufffe", "\ud800", "\u200e", "\U000e0001"])
def test_prohibited_tables(text: str) -> None:
    with pytest.raises(SASLprepError):
        saslprep("x" + text)


def test_unassigned_code_points_only_in_queries() -> None:
    unassigned = "\u0221"  # unassigned in Unicode 3.2
    with pytest.raises(SASLprepError):
        saslprep(unassigned)
    assert saslprep(unassigned, allow_unassigned=True) == unassigned


def test_empty_string() -> None:
    assert saslprep("") == ""
    assert saslprep("\u00ad") == ""


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_arbitrary_text_prepares_or_is_refused(text: str) -> None:
    try:
        out = saslprep(text, allow_unassigned=True)
    except SASLprepError:
        return
    # Idempotent: preparing prepared output changes nothing.
    assert saslprep(out, allow_unassigned=True) == out
