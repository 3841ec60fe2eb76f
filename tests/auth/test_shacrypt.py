"""SHA-crypt and MD5-crypt against published vectors, openssl and (where present) crypt(3)."""

from __future__ import annotations

import importlib
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posteingang.auth.md5crypt import md5_crypt, md5_crypt_verify
from posteingang.auth.shacrypt import sha_crypt, sha_crypt_verify

# Ulrich Drepper, "Unix crypt using SHA-256 and SHA-512", test vectors (setting, key, hash).
DREPPER_VECTORS = [
    (
        "$5$saltstring",
        "Hello world!",
        "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5",
    ),
    (
        "$5$rounds=10000$saltstringsaltstring",
        "Hello world!",
        "$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA",
    ),
    (
        "$5$rounds=5000$toolongsaltstring",
        "This is just a test",
        "$5$rounds=5000$toolongsaltstrin$Un/5jzAHMgOGZ5.mWJpuVolil07guHPvOW8mGRcvxa5",
    ),
    (
        "$5$rounds=1400$anotherlongsaltstring",
        "a very much longer text to encrypt.  This one even stretches over morethan one line.",
        "$5$rounds=1400$anotherlongsalts$Rx.j8H.h8HjEDGomFU8bDkXm3XIUnzyxf12oP84Bnq1",
    ),
    (
        "$5$rounds=10$roundstoolow",
        "the minimum number is still observed",
        "$5$rounds=1000$roundstoolow$yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC",
    ),
    (
        "$6$saltstring",
        "Hello world!",
        "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
    ),
    (
        "$6$rounds=10000$saltstringsaltstring",
        "Hello world!",
        "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.",
    ),
    (
        "$6$rounds=5000$toolongsaltstring",
        "This is just a test",
        "$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0",
    ),
    (
        "$6$rounds=1400$anotherlongsaltstring",
        "a very much longer text to encrypt.  This one even stretches over morethan one line.",
        "$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1",
    ),
    (
        "$6$rounds=10$roundstoolow",
        "the minimum number is still observed",
        "$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX.",
    ),
]

# Made with `openssl passwd -6 -salt saltsalt hunter2`, `-5 -salt abcdefgh 'pässwörd'`
# and `-1 -salt abc hunter2`.
OPENSSL_VECTORS = [
    (
        "hunter2",
        "$6$saltsalt$8iYtNHxjWRl.NF6oNZ5tF.iKFlQREaXBLlSmZKP6dy9l5z3vsooWNW0/GZ6Nej73/TFug6pIPSqbJoCT6dfnj.",
    ),
    ("pässwörd", "$5$abcdefgh$vl6a2mAodUYEe3Mhai26AyjORet86eVRC5bBAu6c/n9"),
]


@pytest.mark.parametrize(("setting", "key", "expected"), DREPPER_VECTORS)
def test_drepper_vectors(setting: str, key: str, expected: str) -> None:
    assert sha_crypt(key.encode(), setting) == expected
    assert sha_crypt_verify(expected, key.encode())
    assert not sha_crypt_verify(expected, key.encode() + b"x")


@pytest.mark.parametrize(("key", "stored"), OPENSSL_VECTORS)
def test_openssl_vectors(key: str, stored: str) -> None:
    assert sha_crypt_verify(stored, key.encode())
    assert not sha_crypt_verify(stored, key.upper().encode())


def test_md5_crypt_openssl_vector() -> None:
    assert md5_crypt(b"hunter2", "$1$abc") == "$1$abc$9dV135Rc3U8Xbm2DxadgF0"
    assert md5_crypt_verify("$1$abc$9dV135Rc3U8Xbm2DxadgF0", b"hunter2")
    assert not md5_crypt_verify("$1$abc$9dV135Rc3U8Xbm2DxadgF0", b"hunter3")


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "$6$",
        "$6$rounds=$salt$hash",
        "$6$rounds=abc$salt$hash",
        "$6$rounds=99999999999999$salt$hash",
        "$6$rounds=5000",
        "$7$salt$hash",
        "$6$sält$hash",
        "$6$salt$\udcff",
    ],
)
def test_malformed_never_verifies_or_raises(stored: str) -> None:
    assert not sha_crypt_verify(stored, b"hash")
    assert not md5_crypt_verify(stored, b"hash")


def _stdlib_crypt() -> object | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return importlib.import_module("crypt")
        except ImportError:
            return None


@pytest.mark.skipif(_stdlib_crypt() is None, reason="crypt module removed (Python >= 3.13)")
@settings(max_examples=25, deadline=None)
@given(
    key=st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=80),
    salt=st.text("./0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", max_size=20),
    ident=st.sampled_from(["$5$", "$6$", "$5$rounds=1000$", "$6$rounds=1001$", "$1$"]),
)
def test_matches_libc_crypt(key: str, salt: str, ident: str) -> None:
    crypt = _stdlib_crypt()
    assert crypt is not None
    expected = crypt.crypt(key, ident + salt)  # type: ignore[attr-defined]
    ours = md5_crypt if ident == "$1$" else sha_crypt
    assert ours(key.encode(), ident + salt) == expected
