"""Server-side SASL mechanisms (RFC 4422) as sans-I/O step objects, and their registry.

What it is for: one place where the protocol shells find a mechanism by the name the
client sent, and the list of names to advertise.  See ``steps`` for the driving contract.

What it must never do: offer a mechanism that sends the password in clear over an
unencrypted connection unless the administrator allowed plaintext logins.
"""

from __future__ import annotations

from typing import Final

from posteingang.auth.sasl.login import Login
from posteingang.auth.sasl.plain import Plain
from posteingang.auth.sasl.scram_sha_256 import ScramSha256
from posteingang.auth.sasl.steps import (
    Challenge,
    Failure,
    Mechanism,
    NeedCredentials,
    Step,
    Success,
)

__all__ = [
    "MECHANISMS",
    "Challenge",
    "Failure",
    "Login",
    "Mechanism",
    "NeedCredentials",
    "Plain",
    "ScramSha256",
    "Step",
    "Success",
    "create_mechanism",
    "mechanism_names",
]

#: Every mechanism we implement, by its advertised name, strongest first.
MECHANISMS: Final[dict[str, type[Mechanism]]] = {
    ScramSha256.name: ScramSha256,
    Plain.name: Plain,
    Login.name: Login,
}


def mechanism_names(tls: bool, allow_plaintext: bool) -> list[str]:
    """The mechanisms to advertise on a connection, strongest first.

    PLAIN and LOGIN reveal the password to anyone on the path, so they are offered only
    when the connection is encrypted or ``allow_plaintext`` is set (RFC 4616 §4,
    RFC 9051 §11.1 ``LOGINDISABLED``).
    """
    return [
        name for name, mech in MECHANISMS.items() if tls or allow_plaintext or not mech.plaintext
    ]


def create_mechanism(name: str, *, tls: bool, allow_plaintext: bool) -> Mechanism | None:
    """A fresh mechanism for the (case-insensitive) ``name`` the client chose, or None if
    it is unknown or not allowed on this connection."""
    upper = name.upper()
    if upper not in mechanism_names(tls, allow_plaintext):
        return None
    return MECHANISMS[upper]()
