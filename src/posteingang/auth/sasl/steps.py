"""The results of one SASL step, and the interface every server-side mechanism has.

What it is for: the vocabulary shared by the mechanisms (``plain``, ``login``,
``scram_sha_256``) and the protocol shells (IMAP AUTHENTICATE, SMTP AUTH, POP3 AUTH,
ManageSieve) that drive them.

Theory of operation: a protocol shell creates one mechanism object per authentication
attempt, calls ``start`` with the initial response (if the client sent one) and then
``step`` with each client response, until the result is ``Success`` or ``Failure``.
A ``Challenge`` is sent to the client; ``NeedCredentials`` asks the shell to look the
user up (asynchronously, in the store) and to call ``provide_credentials`` with the
user's SCRAM record, or None if there is no such user.

What a mechanism must never do: I/O of any kind, base64 (the shells decode the client's
base64 and encode our challenges, as every protocol frames them differently: RFC 9051
§6.2.2, RFC 4954 §4, RFC 5034 §4), verify a plaintext password (that is slow: PLAIN and
LOGIN hand it to the caller in ``Success.password`` for ``verify_password_async``),
or raise on anything a client sends: every input gives a Step.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Final

__all__ = [
    "MAX_RESPONSE_BYTES",
    "Challenge",
    "Failure",
    "Mechanism",
    "NeedCredentials",
    "Step",
    "Success",
]

# Longest client response any of our mechanisms accepts (after base64 decoding).
# RFC 4616 §2 requires accepting 255-octet authcid and passwd; this leaves ample room.
MAX_RESPONSE_BYTES: Final = 4096


@dataclass(frozen=True, slots=True)
class Challenge:
    """Send ``data`` (raw bytes; the shell base64-encodes it) and wait for a response."""

    data: bytes


@dataclass(frozen=True, slots=True)
class NeedCredentials:
    """Look up ``authcid``'s SCRAM record and pass it to ``provide_credentials``."""

    authcid: str


@dataclass(frozen=True, slots=True)
class Success:
    """The exchange completed.

    For PLAIN and LOGIN the identity is *claimed*, not proven: the caller must verify
    ``password`` against the stored hash before treating the user as logged in.
    For SCRAM the proof has been verified, ``password`` is None, and ``final_data``
    (the server-final-message, RFC 5802 §3) must be sent to the client as additional
    data with success, or as a last challenge where the protocol has no such field.
    ``authzid`` is None unless the client asked to act as a different identity (which
    our mechanisms refuse, so it is None in practice).
    """

    authcid: str
    authzid: str | None = None
    password: str | None = None
    final_data: bytes | None = None


@dataclass(frozen=True, slots=True)
class Failure:
    """The exchange failed; ``reason`` is for the log, never for the client (it could
    reveal whether an account exists)."""

    reason: str


Step = Challenge | NeedCredentials | Success | Failure


class Mechanism(ABC):
    """One server-side authentication exchange.  Not reusable: create one per attempt."""

    #: The mechanism name as advertised (RFC 4422 §3.1).
    name: ClassVar[str]
    #: True if the client sends the password itself; offered only over TLS.
    plaintext: ClassVar[bool]

    @abstractmethod
    def start(self, initial_response: bytes | None) -> Step:
        """Begin; ``initial_response`` is None if the client sent none, and ``b""`` for
        an empty one (sent as ``=`` in IMAP and SMTP)."""

    @abstractmethod
    def step(self, client_response: bytes) -> Step:
        """Continue with the client's (base64-decoded) response to our last Challenge."""

    def provide_credentials(self, scram_record: str | None) -> Step:
        """Continue after ``NeedCredentials``; mechanisms that never ask refuse."""
        return Failure("mechanism did not ask for credentials")
