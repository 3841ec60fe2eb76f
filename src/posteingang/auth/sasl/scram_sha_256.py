"""The SCRAM-SHA-256 mechanism, server side (RFC 5802, RFC 7677), without channel binding.

What it is for: password login where neither the password nor anything that lets an
eavesdropper or a thief of the account table log in crosses the wire: the client proves
knowledge of the password against the stored ``ScramRecord`` (``auth.scram``), and our
server-final-message proves to the client that we hold that record too.

What it must never do: reveal whether an account exists (an unknown user gets a
deterministic fake record, so the server-first-message looks the same on every try and
the exchange fails only at the proof, like a wrong password), accept a proof in variable
time, or claim channel binding: Python's ssl module offers only ``tls-unique`` (unsafe
with TLS 1.3), so we advertise no ``-PLUS`` variant and refuse the ``p=`` gs2 flag.

Exchange (RFC 5802 §3, §5)::

    C: n,,n=user,r=<c-nonce>                           client-first-message
    S: r=<c-nonce><s-nonce>,s=<salt>,i=<iterations>    server-first-message
    C: c=biws,r=<nonce>,p=<ClientProof>                client-final-message
    S: v=<ServerSignature>                             server-final-message

Between the first two the mechanism returns ``NeedCredentials(authcid)``; the shell looks
the user up and calls ``provide_credentials(record_or_None)``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from enum import Enum, auto
from typing import ClassVar, Final

from posteingang.auth.sasl.steps import (
    MAX_RESPONSE_BYTES,
    Challenge,
    Failure,
    Mechanism,
    NeedCredentials,
    Step,
    Success,
)
from posteingang.auth.saslprep import SASLprepError, saslprep
from posteingang.auth.scram import DEFAULT_ITERATIONS, SALT_BYTES, ScramRecord, parse_scram_record
from posteingang.auth.throttle import account_key

__all__ = ["ScramSha256", "fake_record", "use_fake_secret"]

_NONCE_BYTES: Final = 18
# Keys the fake records of unknown users, so an unknown user's salt is as stable as a
# real one's (a salt that changed on every try, or at every restart, would give it
# away).  The runtime sets it from the key on disk (auth/secret.py); until then -- in
# tests and one-off tools -- a per-process key.
_fake_secret: bytes = secrets.token_bytes(32)


def use_fake_secret(server_secret: bytes) -> None:
    """Derive the fake records from ``server_secret`` (``auth.secret.load_server_secret``)."""
    global _fake_secret
    _fake_secret = hmac.digest(server_secret, b"posteingang scram-sha-256 fake record", "sha256")


class _State(Enum):
    NEW = auto()
    WANT_CLIENT_FIRST = auto()
    WANT_CREDENTIALS = auto()
    WANT_CLIENT_FINAL = auto()
    DONE = auto()


def fake_record(authcid: str) -> ScramRecord:
    """A record for a user that does not exist: stable salt, keys no password matches.

    Keyed on the name as the account lookup normalises it, so that ``Nobody@X.test``
    and ``nobody@x.test.`` get one salt, as the two spellings of a real account do."""
    name = account_key(authcid)
    digest = hmac.digest(_fake_secret, name.encode("utf-8", "surrogatepass"), "sha512")
    return ScramRecord(
        iterations=DEFAULT_ITERATIONS,
        salt=digest[:SALT_BYTES],
        stored_key=digest[32:],
        server_key=secrets.token_bytes(32),
    )


def _decode_saslname(value: str) -> str | None:
    """RFC 5802 §5.1: in a saslname ``=2C`` is ``,`` and ``=3D`` is ``=``; any other
    ``=`` is an error (None)."""
    out: list[str] = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "=":
            escape = value[i : i + 3]
            if escape == "=2C":
                out.append(",")
            elif escape == "=3D":
                out.append("=")
            else:
                return None
            i += 3
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _is_printable_nonce(nonce: str) -> bool:
    # RFC 5802 §7: printable = %x21-2B / %x2D-7E (visible ASCII except ",").
    return bool(nonce) and all(0x21 <= ord(ch) <= 0x7E and ch != "," for ch in nonce)


def _is_attr_val(attr: str) -> bool:
    # RFC 5802 §7: attr-val = ALPHA "=" value
    return len(attr) >= 2 and attr[0].isascii() and attr[0].isalpha() and attr[1] == "="


class ScramSha256(Mechanism):
    """SCRAM-SHA-256 server.  ``server_nonce`` is for tests (RFC 7677 §3 vector) only."""

    name: ClassVar[str] = "SCRAM-SHA-256"
    plaintext: ClassVar[bool] = False

    def __init__(self, *, server_nonce: str | None = None) -> None:
        if server_nonce is not None and not _is_printable_nonce(server_nonce):
            raise ValueError("server nonce must be printable ASCII without ','")
        self._server_nonce = server_nonce or base64.b64encode(
            secrets.token_bytes(_NONCE_BYTES)
        ).decode("ascii")
        self._state = _State.NEW
        self._authcid = ""
        self._gs2_header = ""
        self._client_first_bare = ""
        self._nonce = ""
        self._server_first = ""
        self._record: ScramRecord | None = None

    # --- driving ------------------------------------------------------------------------

    def start(self, initial_response: bytes | None) -> Step:
        if self._state is not _State.NEW:
            return self._fail("SCRAM already started")
        self._state = _State.WANT_CLIENT_FIRST
        if initial_response is None:
            # RFC 4422 §5: the client sends the first message; ask with an empty challenge.
            return Challenge(b"")
        return self._client_first(initial_response)

    def step(self, client_response: bytes) -> Step:
        if self._state is _State.WANT_CLIENT_FIRST:
            return self._client_first(client_response)
        if self._state is _State.WANT_CLIENT_FINAL:
            return self._client_final(client_response)
        return self._fail(f"SCRAM step in state {self._state.name}")

    def provide_credentials(self, scram_record: str | None) -> Step:
        if self._state is not _State.WANT_CREDENTIALS:
            return self._fail("SCRAM credentials not asked for")
        record = parse_scram_record(scram_record) if scram_record is not None else None
        # Unknown user, or a user without a SCRAM record (only a password hash): carry on
        # with a fake record so that the reply is indistinguishable from a wrong password.
        self._record = record if record is not None else fake_record(self._authcid)
        self._server_first = (
            f"r={self._nonce},s={base64.b64encode(self._record.salt).decode('ascii')},"
            f"i={self._record.iterations}"
        )
        self._state = _State.WANT_CLIENT_FINAL
        return Challenge(self._server_first.encode("ascii"))

    # --- messages -----------------------------------------------------------------------

    # Complex on purpose: one check per client-first-message attribute (RFC 5802 §5.1), each with
    # its own failure.
    def _client_first(self, data: bytes) -> Step:  # noqa: C901 (see above)
        text = self._text(data)
        if text is None:
            return self._fail("client-first-message too long or not UTF-8")
        # gs2-header = gs2-cbind-flag "," [ authzid ] ","
        parts = text.split(",", 2)
        if len(parts) != 3:
            return self._fail("client-first-message has no gs2 header")
        cbind_flag, authzid_field, bare = parts
        if cbind_flag.startswith("p="):
            # RFC 5802 §6: we never advertised -PLUS, so a client that insists on channel
            # binding has been tampered with or misconfigured.
            return self._fail("channel binding requested but not supported")
        if cbind_flag not in ("n", "y"):
            # "y": the client could bind but thinks we cannot: true, so acceptable.
            return self._fail("bad gs2-cbind-flag")
        authzid: str | None = None
        if authzid_field:
            if not authzid_field.startswith("a="):
                return self._fail("bad authzid in gs2 header")
            authzid = _decode_saslname(authzid_field[2:])
            if authzid is None:
                return self._fail("bad saslname in authzid")
        # client-first-message-bare = [reserved-mext ","] username "," nonce ["," ext]
        attrs = bare.split(",")
        if attrs and attrs[0].startswith("m="):
            # RFC 5802 §5.1: a mandatory extension we do not know: MUST fail.
            return self._fail("mandatory extension not supported")
        if len(attrs) < 2 or not attrs[0].startswith("n=") or not attrs[1].startswith("r="):
            return self._fail("client-first-message-bare malformed")
        # extensions = attr-val *("," attr-val): unknown ones are ignored, junk is not.
        if not all(_is_attr_val(attr) for attr in attrs[2:]):
            return self._fail("malformed extension in client-first-message")
        username = _decode_saslname(attrs[0][2:])
        if username is None:
            return self._fail("bad saslname in username")
        try:
            # RFC 5802 §5.1: the server SHOULD SASLprep the user name (query variant).
            authcid = saslprep(username, allow_unassigned=True)
        except SASLprepError:
            return self._fail("username fails SASLprep")
        if not authcid:
            return self._fail("empty username")
        if authzid and authzid != authcid:
            return self._fail("authzid differs from authcid (proxy login not allowed)")
        client_nonce = attrs[1][2:]
        if not _is_printable_nonce(client_nonce):
            return self._fail("bad client nonce")
        self._authcid = authcid
        self._gs2_header = f"{cbind_flag},{authzid_field},"
        self._client_first_bare = bare
        self._nonce = client_nonce + self._server_nonce
        self._state = _State.WANT_CREDENTIALS
        return NeedCredentials(authcid)

    def _client_final(self, data: bytes) -> Step:
        text = self._text(data)
        if text is None:
            return self._fail("client-final-message too long or not UTF-8")
        # client-final-message = channel-binding "," nonce ["," extensions] "," proof
        without_proof, sep, proof_attr = text.rpartition(",")
        if not sep or not proof_attr.startswith("p="):
            return self._fail("client-final-message has no proof")
        attrs = without_proof.split(",")
        if len(attrs) < 2 or not attrs[0].startswith("c=") or not attrs[1].startswith("r="):
            return self._fail("client-final-message malformed")
        try:
            cbind = base64.b64decode(attrs[0][2:], validate=True)
            proof = base64.b64decode(proof_attr[2:], validate=True)
        except (binascii.Error, ValueError):
            return self._fail("bad base64 in client-final-message")
        # Without channel binding, c= is exactly the gs2 header of the first message.
        if cbind != self._gs2_header.encode("utf-8"):
            return self._fail("channel binding data does not match gs2 header")
        if attrs[1][2:] != self._nonce:
            return self._fail("nonce mismatch")
        record = self._record
        if record is None or len(proof) != hashlib.sha256().digest_size:
            return self._fail("bad proof length")
        auth_message = (f"{self._client_first_bare},{self._server_first},{without_proof}").encode()
        # RFC 5802 §3: ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage);
        # the client knows the password iff H(ClientKey) == StoredKey.
        client_signature = hmac.digest(record.stored_key, auth_message, "sha256")
        client_key = bytes(a ^ b for a, b in zip(proof, client_signature, strict=True))
        if not hmac.compare_digest(hashlib.sha256(client_key).digest(), record.stored_key):
            return self._fail("invalid-proof")
        server_signature = hmac.digest(record.server_key, auth_message, "sha256")
        self._state = _State.DONE
        return Success(
            authcid=self._authcid,
            authzid=None,
            password=None,
            final_data=b"v=" + base64.b64encode(server_signature),
        )

    # --- helpers ------------------------------------------------------------------------

    def _text(self, data: bytes) -> str | None:
        if len(data) > MAX_RESPONSE_BYTES:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def _fail(self, reason: str) -> Failure:
        self._state = _State.DONE
        self._record = None
        return Failure(reason)
