"""Property tests: arbitrary command sequences in every state never crash the session.

Every command gets exactly one tagged response (OK, NO or BAD, never SERVERBUG), the
session survives, and the selected view stays consistent with the store.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posteingang.imap.state import LoggedOut, Selected
from tests.imap.harness import (
    Client,
    add_account,
    deliver_many,
    make_services,
    open_client,
    open_store,
)

WORDS = [
    "NOOP",
    "CAPABILITY",
    "SELECT INBOX",
    "EXAMINE INBOX",
    "SELECT Trash",
    "SELECT nothere",
    "CLOSE",
    "UNSELECT",
    "CHECK",
    "EXPUNGE",
    "UID EXPUNGE 1:*",
    "FETCH 1:* (FLAGS UID)",
    "FETCH * (ENVELOPE BODYSTRUCTURE)",
    "FETCH 1 BODY[]",
    "UID FETCH 1:* (RFC822.SIZE)",
    "STORE 1 +FLAGS (\\Deleted)",
    "STORE 1:* -FLAGS.SILENT (\\Seen)",
    "UID STORE 2 FLAGS (kw \\Answered)",
    "COPY 1 Trash",
    "MOVE 1 Archive",
    "UID MOVE 1:* Trash",
    "SEARCH ALL",
    "SEARCH RETURN (SAVE) DELETED",
    "FETCH $ FLAGS",
    "UID SEARCH RETURN (MIN MAX COUNT) ALL",
    "CREATE a/b",
    "DELETE a",
    "DELETE a/b",
    "RENAME a z",
    "RENAME INBOX Old",
    'LIST "" *',
    'LIST (SUBSCRIBED RECURSIVEMATCH) "" % RETURN (STATUS (MESSAGES))',
    'LSUB "" %',
    "STATUS INBOX (MESSAGES UIDNEXT UNSEEN DELETED SIZE)",
    "SUBSCRIBE Trash",
    "UNSUBSCRIBE Trash",
    "ENABLE IMAP4rev2",
    "ENABLE UTF8=ACCEPT",
    "NAMESPACE",
    'ID ("name" "x")',
    "APPEND INBOX (\\Seen) {12+}\r\nSubject: x\r\n\r\n",
    "APPEND Trash {5+}\r\nhello",
    'LOGIN alice@example.test "correct horse"',
    'LOGIN alice@example.test "wrong"',
    "STARTTLS",
    "AUTHENTICATE X",
    "AUTHENTICATE PLAIN",
    "IDLE",
    "FROB",
    "FETCH",
    "FETCH 0 FLAGS",
    "STORE 99 FLAGS ()",
    "SEARCH (OR",
]

junk = st.binary(max_size=40).filter(lambda b: b"\n" not in b and b"{" not in b)
command = st.one_of(st.sampled_from(WORDS), junk.map(lambda b: b.decode("latin-1")))


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.sampled_from(["none", "auth", "selected"]), st.lists(command, min_size=1, max_size=25))
def test_arbitrary_command_sequences(start: str, commands: list[str]) -> None:
    asyncio.run(_run(start, commands))


async def _until_tagged(c: Client, tag: str, text: str) -> list[str]:
    """The lines up to ``tag``'s reply, answering a continuation request on the way: a
    command that waits for the client (IDLE for DONE, AUTHENTICATE for a response) would
    otherwise never get its tagged reply. "*" cancels an AUTHENTICATE (RFC 9051 §6.2.2)."""
    out: list[str] = []
    while True:
        line = await c.line()
        out.append(line)
        if line.startswith("+"):
            c.send("DONE\r\n" if text.upper().startswith("IDLE") else "*\r\n")
        elif line.startswith(tag + " "):
            return out


async def _run(start: str, commands: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = await open_store(Path(tmp))
        try:
            await add_account(store)
            await deliver_many(store, 3)
            services = make_services(store)
            async with open_client(services) as c:
                if start != "none":
                    await c.login()
                if start == "selected":
                    await c.ok("SELECT INBOX")
                for i, text in enumerate(commands):
                    tag = f"p{i}"
                    c.send(f"{tag} {text}\r\n")
                    lines = await _until_tagged(c, tag, text)  # the tag is always readable
                    last = lines[-1]
                    assert "SERVERBUG" not in last, (text, lines)
                    state = c.session.state
                    if isinstance(state, LoggedOut) or c.task.done():
                        break
                    if isinstance(state, Selected):
                        view = state.view
                        assert view.uids == sorted(set(view.uids))
                        assert set(view.flags) == set(view.uids)
                if not c.task.done():
                    await c.ok("NOOP")
        finally:
            await store.close()
