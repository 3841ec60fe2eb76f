"""THREADID over a real socket (RFC 8474 §5.2): a reply APPENDed to Sent carries the
THREADID of the message it answers in INBOX; COPY keeps it; SEARCH THREADID finds it."""

from __future__ import annotations

import imaplib
import re
from pathlib import Path

from tests.imap.harness import ALICE, PASSWORD
from tests.imap.server_fixture import running_server

PARENT = b"Message-ID: <p@example.test>\r\nSubject: plan\r\n\r\nshall we?\r\n"
REPLY = (
    b"Message-ID: <r@example.test>\r\nIn-Reply-To: <p@example.test>\r\n"
    b"References: <p@example.test>\r\nSubject: Re: plan\r\n\r\nyes\r\n"
)
OTHER = b"Message-ID: <o@example.test>\r\nSubject: other\r\n\r\nhm\r\n"


def _threadids(client: imaplib.IMAP4, uids: bytes) -> list[str]:
    typ, data = client.uid("FETCH", uids, "(THREADID)")
    assert typ == "OK"
    found = [re.search(rb"THREADID \(([A-Za-z0-9_-]+)\)", d) for d in data if d]
    return [m.group(1).decode() for m in found if m]


def test_threadid_joins_inbox_and_sent(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        client = imaplib.IMAP4("127.0.0.1", server.imap_port, timeout=10)
        try:
            client.login(ALICE, PASSWORD)
            for box, raw in (("INBOX", PARENT), ("Sent", REPLY), ("INBOX", OTHER)):
                assert client.append(box, "", None, raw)[0] == "OK"
            client.select("Sent")
            (reply,) = _threadids(client, b"1")
            client.select("INBOX")
            parent, other = _threadids(client, b"1:2")
            assert reply == parent != other
            assert client.uid("COPY", "1", "Archive")[0] == "OK"
            typ, data = client.uid("SEARCH", "THREADID", parent)
            assert typ == "OK" and data[0].split() == [b"1"]
            client.select("Archive")
            assert _threadids(client, b"1") == [parent]
        finally:
            client.logout()
