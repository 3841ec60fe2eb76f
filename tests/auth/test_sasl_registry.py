"""Which mechanisms are offered, and creating them by the name a client sends."""

from __future__ import annotations

from posteingang.auth.sasl import (
    MECHANISMS,
    Login,
    Plain,
    ScramSha256,
    create_mechanism,
    mechanism_names,
)


def test_registry_has_our_mechanisms() -> None:
    assert {"SCRAM-SHA-256": ScramSha256, "PLAIN": Plain, "LOGIN": Login} == MECHANISMS


def test_plaintext_mechanisms_only_over_tls() -> None:
    assert mechanism_names(tls=False, allow_plaintext=False) == ["SCRAM-SHA-256"]
    assert mechanism_names(tls=True, allow_plaintext=False) == ["SCRAM-SHA-256", "PLAIN", "LOGIN"]
    assert mechanism_names(tls=False, allow_plaintext=True) == ["SCRAM-SHA-256", "PLAIN", "LOGIN"]


def test_never_offers_channel_binding_variant() -> None:
    assert all(not name.endswith("-PLUS") for name in mechanism_names(True, True))


def test_create_mechanism() -> None:
    assert isinstance(create_mechanism("plain", tls=True, allow_plaintext=False), Plain)
    assert isinstance(
        create_mechanism("SCRAM-SHA-256", tls=False, allow_plaintext=False), ScramSha256
    )
    assert create_mechanism("PLAIN", tls=False, allow_plaintext=False) is None
    assert create_mechanism("CRAM-MD5", tls=True, allow_plaintext=True) is None
    assert create_mechanism("SCRAM-SHA-256-PLUS", tls=True, allow_plaintext=True) is None
    # A fresh object each time: exchanges never share state.
    a = create_mechanism("LOGIN", tls=True, allow_plaintext=False)
    assert a is not create_mechanism("LOGIN", tls=True, allow_plaintext=False)
