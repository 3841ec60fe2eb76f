"""SCRAM-SHA-256 server (RFC 5802, RFC 7677): the RFC vector, a client round trip, refusals."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from posteingang.auth.sasl import Challenge, Failure, NeedCredentials, ScramSha256, Success
from posteingang.auth.scram import derive_scram_sha256, salted_password

# RFC 7677 §3.
RFC_SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
RFC_RECORD = derive_scram_sha256("pencil", iterations=4096, salt=RFC_SALT)
RFC_SERVER_NONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
RFC_CLIENT_FIRST = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
RFC_SERVER_FIRST = (
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
)
RFC_CLIENT_FINAL = (
    b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
)
RFC_SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def test_rfc7677_vector() -> None:
    mech = ScramSha256(server_nonce=RFC_SERVER_NONCE)
    assert mech.start(RFC_CLIENT_FIRST) == NeedCredentials("user")
    assert mech.provide_credentials(RFC_RECORD) == Challenge(RFC_SERVER_FIRST)
    assert mech.step(RFC_CLIENT_FINAL) == Success(
        authcid="user", authzid=None, password=None, final_data=RFC_SERVER_FINAL
    )
    assert isinstance(mech.step(b""), Failure)


def test_rfc7677_vector_without_initial_response() -> None:
    mech = ScramSha256(server_nonce=RFC_SERVER_NONCE)
    assert mech.start(None) == Challenge(b"")
    assert mech.step(RFC_CLIENT_FIRST) == NeedCredentials("user")
    assert mech.provide_credentials(RFC_RECORD) == Challenge(RFC_SERVER_FIRST)
    assert isinstance(mech.step(RFC_CLIENT_FINAL), Success)


def test_wrong_password_fails_at_proof() -> None:
    mech = ScramSha256(server_nonce=RFC_SERVER_NONCE)
    mech.start(RFC_CLIENT_FIRST)
    mech.provide_credentials(derive_scram_sha256("pencil2", salt=RFC_SALT))
    assert isinstance(mech.step(RFC_CLIENT_FINAL), Failure)


class _Client:
    """A minimal SCRAM-SHA-256 client, for round trips."""

    def __init__(self, user: str, password: str, gs2: str = "n,,") -> None:
        self.user, self.password, self.gs2 = user, password, gs2
        self.nonce = "fyko+d2lbbFgONRv9qkxdawL"
        self.bare = f"n={user.replace('=', '=3D').replace(',', '=2C')},r={self.nonce}"

    def first(self) -> bytes:
        return (self.gs2 + self.bare).encode()

    def final(self, server_first: bytes) -> tuple[bytes, bytes]:
        attrs = dict(a.split("=", 1) for a in server_first.decode().split(","))
        salted = salted_password(self.password, base64.b64decode(attrs["s"]), int(attrs["i"]))
        client_key = hmac.digest(salted, b"Client Key", "sha256")
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = f"c={base64.b64encode(self.gs2.encode()).decode()},r={attrs['r']}"
        auth_message = f"{self.bare},{server_first.decode()},{without_proof}".encode()
        signature = hmac.digest(stored_key, auth_message, "sha256")
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        server_key = hmac.digest(salted, b"Server Key", "sha256")
        expected_v = b"v=" + base64.b64encode(hmac.digest(server_key, auth_message, "sha256"))
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode(), expected_v


@pytest.mark.parametrize(
    ("user", "gs2"),
    [
        ("tim@example.org", "n,,"),
        ("tim@example.org", "y,,"),  # client can bind but thinks we cannot: fine
        ("tim@example.org", "n,a=tim@example.org,"),  # authzid == authcid
        ("a,b=c", "n,,"),  # saslname escaping
        ("jürgen", "n,,"),
    ],
)
def test_client_round_trip(user: str, gs2: str) -> None:
    client = _Client(user, "correct horse", gs2)
    mech = ScramSha256()
    assert mech.start(client.first()) == NeedCredentials(user)
    server_first = mech.provide_credentials(derive_scram_sha256("correct horse"))
    assert isinstance(server_first, Challenge)
    assert server_first.data.startswith(f"r={client.nonce}".encode())
    final, expected_v = client.final(server_first.data)
    result = mech.step(final)
    assert result == Success(user, None, None, expected_v)


def test_unknown_user_looks_like_wrong_password() -> None:
    def server_first_for(record: str | None) -> bytes:
        mech = ScramSha256(server_nonce="fixed")
        mech.start(b"n,,n=ghost,r=abc")
        step = mech.provide_credentials(record)
        assert isinstance(step, Challenge)
        client = _Client("ghost", "pw")
        client.bare = "n=ghost,r=abc"
        final, _ = client.final(step.data)
        assert isinstance(mech.step(final), Failure)
        return step.data

    # Same salt and iteration count on every attempt: nothing changes between tries.
    first = server_first_for(None)
    assert first == server_first_for(None)
    assert b",i=4096" in first
    # A record we cannot parse (e.g. the account has only an argon2 hash) behaves the same.
    assert server_first_for("{ARGON2ID}$argon2id$...") == first


@pytest.mark.parametrize(
    "client_first",
    [
        b"p=tls-unique,,n=user,r=abc",  # channel binding: refused
        b"x,,n=user,r=abc",
        b"n,,m=ext,n=user,r=abc",  # mandatory extension
        b"n,,n=user",
        b"n,,r=abc,n=user",
        b"n,,n=,r=abc",
        b"n,,n=us=er,r=abc",  # bad saslname escape
        b"n,,n=user,r=",
        b"n,,n=user,r=a,b",  # "b" is not an attr-val extension
        b"n,a=other,n=user,r=abc",  # authzid differs
        b"n,z=other,n=user,r=abc",
        b"n,,n=us\xffer,r=abc",
        b"n,,n=\x07,r=abc",  # fails SASLprep
        b"n",
        b"",
    ],
)
def test_client_first_refusals(client_first: bytes) -> None:
    assert isinstance(ScramSha256().start(client_first), Failure)


def test_unknown_extension_is_ignored() -> None:
    assert ScramSha256().start(b"n,,n=user,r=abc,x=whatever") == NeedCredentials("user")


def _after_first() -> ScramSha256:
    mech = ScramSha256(server_nonce=RFC_SERVER_NONCE)
    mech.start(RFC_CLIENT_FIRST)
    mech.provide_credentials(RFC_RECORD)
    return mech


@pytest.mark.parametrize(
    "client_final",
    [
        RFC_CLIENT_FINAL.replace(b"c=biws", b"c=eSws"),  # gs2 header "y,," does not match
        RFC_CLIENT_FINAL.replace(b"r=rOpr", b"r=XOpr"),  # nonce mismatch
        RFC_CLIENT_FINAL.replace(b"p=dHzb", b"p=dHza"),  # proof altered
        RFC_CLIENT_FINAL.rsplit(b",", 1)[0],  # no proof
        RFC_CLIENT_FINAL.replace(b"p=", b"p=AAAA"),  # proof wrong length / base64
        b"c=biws,p=AAAA",
        b"",
    ],
)
def test_client_final_refusals(client_final: bytes) -> None:
    assert isinstance(_after_first().step(client_final), Failure)


def test_out_of_order_calls_fail() -> None:
    mech = ScramSha256()
    assert isinstance(mech.provide_credentials(RFC_RECORD), Failure)
    mech = ScramSha256()
    mech.start(RFC_CLIENT_FIRST)
    assert isinstance(mech.step(RFC_CLIENT_FINAL), Failure)  # credentials still pending


def test_nonces_are_fresh() -> None:
    firsts = set()
    for _ in range(3):
        mech = ScramSha256()
        mech.start(b"n,,n=user,r=abc")
        step = mech.provide_credentials(RFC_RECORD)
        assert isinstance(step, Challenge)
        firsts.add(step.data)
    assert len(firsts) == 3


def test_bad_test_nonce_is_refused() -> None:
    with pytest.raises(ValueError):
        ScramSha256(server_nonce="a,b")
