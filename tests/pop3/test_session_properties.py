"""Hypothesis: arbitrary command sequences against a real session never raise.

Whatever a client sends (valid commands in any order, junk, over-long lines,
split anywhere), the session answers and ends cleanly at EOF, and nothing is
deleted unless a QUIT arrived after login (RFC 1939 §6).
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posteingang.net.session import serve_session
from posteingang.pop3.policy import Pop3Settings
from posteingang.pop3.session import Pop3Session
from posteingang.store.model import DeletionPolicy
from tests.pop3.harness import (
    ALICE,
    PASSWORD,
    MemoryTransport,
    add_account,
    deliver_many,
    make_services,
    open_store,
)

NUMBERS = st.sampled_from(["0", "1", "2", "3", "4", "99999999999", "-1", "x", ""])
COMMANDS = st.one_of(
    st.sampled_from(
        [
            f"USER {ALICE}",
            f"PASS {PASSWORD}",
            "PASS wrong",
            "STAT",
            "LIST",
            "UIDL",
            "NOOP",
            "RSET",
            "CAPA",
            "LANG",
            "LANG *",
            "UTF8",
            "STLS",
            "AUTH PLAIN",
            "AUTH SCRAM-SHA-256",
            "AUTH",
            "*",
            "=",
            "APOP a b",
            "QUIT",
        ]
    ),
    st.builds(lambda c, n: f"{c} {n}", st.sampled_from(["LIST", "UIDL", "RETR", "DELE"]), NUMBERS),
    st.builds(lambda n, m: f"TOP {n} {m}", NUMBERS, NUMBERS),
    st.text(max_size=40).map(lambda t: t.replace("\r", "").replace("\n", "")),
    st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
)


async def scenario(root: Path, lines: list[str], cuts: list[int], policy: DeletionPolicy) -> None:
    store = await open_store(root)
    try:
        await add_account(store)
        await deliver_many(store, 3)
        services = make_services(store, Pop3Settings(deletion_policy=policy, apop=True))
        transport = MemoryTransport()
        session = Pop3Session(services, transport, address="127.0.0.1", tls_available=True)
        data = "".join(line + "\r\n" for line in lines).encode("utf-8", "surrogateescape")
        start = 0
        for cut in sorted(c % (len(data) + 1) for c in cuts):
            transport.incoming.put_nowait(data[start:cut])
            start = cut
        transport.incoming.put_nowait(data[start:])
        transport.incoming.put_nowait(b"")
        async with asyncio.timeout(30):
            await serve_session(session, transport)
        out = bytes(transport.output)
        assert out.startswith(b"+OK")
        assert out.endswith(b"\r\n")
        assert not services.locks._held  # always released
        inbox = await store.get_mailbox(1, "INBOX")
        assert inbox is not None
        remaining = len((await store.get_index(inbox.id)).uids)
        if "QUIT" not in lines or policy is DeletionPolicy.HIDE:
            assert remaining == 3
    finally:
        await store.close()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    lines=st.lists(COMMANDS, max_size=25),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=4),
    policy=st.sampled_from(list(DeletionPolicy)),
    login_first=st.booleans(),
)
def test_arbitrary_sequences_never_raise(
    lines: list[str], cuts: list[int], policy: DeletionPolicy, login_first: bool
) -> None:
    if login_first:
        lines = [f"USER {ALICE}", f"PASS {PASSWORD}", *lines]
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(scenario(Path(tmp), lines, cuts, policy))
