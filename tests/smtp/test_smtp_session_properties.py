"""Hypothesis: any client input drives the delivery session to replies, never an exception,
and no message is stored that did not get its acknowledgement."""

from __future__ import annotations

import asyncio
import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from posteingang.smtp.proto import Limits
from posteingang.store.memory import MemoryStore
from tests.smtp.harness import DOMAIN, make_context, new_session, populate

_REPLY = re.compile(rb"[2-5][0-9]{2}[ -][^\r\n]*\r\n")

WORDS = [
    b"EHLO c.example\r\n", b"HELO c\r\n", b"LHLO c\r\n", b"MAIL FROM:<a@example.org>\r\n",
    b"MAIL FROM:<> SIZE=100\r\n", b"MAIL FROM:<a@example.org> SIZE=999999999\r\n",
    f"RCPT TO:<bob@{DOMAIN}>\r\n".encode(), f"RCPT TO:<team@{DOMAIN}>\r\n".encode(),
    f"RCPT TO:<alice@{DOMAIN}>\r\n".encode(), b"RCPT TO:<x@elsewhere.example>\r\n",
    b"RCPT TO:<Postmaster>\r\n", b"DATA\r\n", b"Subject: s\r\n\r\nbody\r\n", b".\r\n",
    b"..\r\n", b"\n.\n", b"\r\n.\r\n", b"BDAT 5\r\n", b"BDAT 3 LAST\r\n", b"abcde",
    b"RSET\r\n", b"NOOP\r\n", b"VRFY bob\r\n", b"STARTTLS\r\n", b"QUIT\r\n",
    b"\xff\xfe\x00", b"x" * 700, b"\r\n",
    # a whole transaction in one piece, so that deliveries happen often
    f"MAIL FROM:<a@example.org>\r\nRCPT TO:<bob@{DOMAIN}>\r\nDATA\r\nS: 1\r\n\r\nb\r\n.\r\n"
    .encode(),
]  # fmt: skip


async def _run(pieces: list[bytes], lmtp: bool, spool: Path) -> int:
    store = MemoryStore()
    await populate(store)
    context = make_context(store, spool, lmtp=lmtp, limits=Limits(max_message_size=2000))
    session = new_session(context)
    out = session.data_to_send()
    for piece in pieces:
        if session.closed:
            break
        await session.receive(piece)
        out += session.data_to_send()
        if session.tls_requested:
            break  # a real shell would now do the handshake
    session.close()
    assert _REPLY.sub(b"", out) == b"", out
    acknowledged = out.count(b" Message stored\r\n")
    stored = 0
    for who in ("alice", "bob", "carol", "postmaster"):
        account = await store.get_account(f"{who}@{DOMAIN}")
        assert account is not None
        inbox = await store.get_mailbox(account.id, "INBOX")
        assert inbox is not None
        stored += len((await store.get_index(inbox.id)).uids)
    if not lmtp:
        assert (stored > 0) <= (acknowledged > 0)
    assert stored <= acknowledged * 2  # team@ is two accounts
    return acknowledged


# Mostly protocol words (so deep states are reached), sometimes arbitrary octets.
_PIECE = st.one_of(*[st.sampled_from(WORDS)] * 4, st.binary(max_size=40))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pieces=st.lists(_PIECE, max_size=25),
    lmtp=st.booleans(),
    greet=st.sampled_from([True, True, False]),
)
def test_any_input_gives_replies_and_only_acknowledged_mail(
    pieces: list[bytes], lmtp: bool, greet: bool
) -> None:
    if greet:  # mostly start right, so that later states are reached
        pieces = [b"LHLO c\r\n" if lmtp else b"EHLO c\r\n", *pieces]
    spool = Path(tempfile.mkdtemp(prefix="smtp-prop-"))
    acknowledged = asyncio.run(_run(pieces, lmtp, spool))
    event("delivered" if acknowledged else "nothing delivered")
    assert list(spool.iterdir()) == []  # no spool file outlives its transaction
    spool.rmdir()
