"""Differential test over sockets: our IMAP server and Dovecot, same commands, same answers.

Like test_dovecot_diff_fetch.py, but both servers are spoken to over loopback
with the same byte strings: the messages go in by APPEND (flags and internal
dates included), and FETCH and UID SEARCH go out exactly as a client sends
them, so the session's sequence handling, literals and response streaming are
part of what is compared.  Skipped when Dovecot is not installed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from posteingang.mime import parse_message
from tests.dovecot_fixture import dovecot_available, running_dovecot

from .harness import ALICE, PASSWORD
from .server_fixture import running_server
from .test_dovecot_diff_fetch import (
    KNOWN_SEARCH_DIFFERENCES,
    SEARCH_KEYS,
    ImapClient,
    _append_all,
    _binary_comparable,
    _messages,
    _search_command,
    _sections,
)
from .test_fetch_support import parse_fetch_responses

pytestmark = pytest.mark.skipif(not dovecot_available(), reason="dovecot is not installed")

#: every n-th message of the corpus (the function-level test covers them all)
STEP = 3


@pytest.fixture(scope="module")
def clients(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[list[tuple[str, bytes]], ImapClient, ImapClient]]:
    msgs = _messages()[::STEP]
    with (
        running_dovecot(tmp_path_factory.mktemp("dovecot")) as dc,
        running_server(tmp_path_factory.mktemp("ours")) as ours,
    ):
        theirs = ImapClient(dc.host, dc.port)
        theirs.command(b'LOGIN "%s" "%s"' % (dc.user.encode(), dc.password.encode()))
        mine = ImapClient("127.0.0.1", ours.imap_port)
        _, status = mine.command(b'LOGIN "%s" "%s"' % (ALICE.encode(), PASSWORD.encode()))
        assert b" OK " in status, status
        _append_all(theirs, msgs)
        _append_all(mine, msgs)
        yield msgs, theirs, mine
        theirs.close()
        mine.close()


def test_fetch_over_sockets_matches_dovecot(
    clients: tuple[list[tuple[str, bytes]], ImapClient, ImapClient],
) -> None:
    msgs, theirs, mine = clients
    mismatches: dict[str, list[str]] = {}
    compared = 0
    for seq, (name, raw) in enumerate(msgs, 1):
        parsed = parse_message(raw)
        items = [b"ENVELOPE", b"BODYSTRUCTURE", b"BODY", b"INTERNALDATE", *_sections(parsed)]
        plain = [i for i in items if not i.startswith(b"BINARY")]
        binary = _binary_comparable([i for i in items if i.startswith(b"BINARY.PEEK")], parsed, raw)
        for group in (plain, binary):
            if not group:
                continue
            line = b"FETCH %d (%s)" % (seq, b" ".join(group))
            answers = []
            for client in (theirs, mine):
                data, status = client.command(line)
                assert b" OK " in status, (name, status)
                (values,) = [v for s, v in parse_fetch_responses(data) if s == seq]
                values.pop(b"UID", None)
                values.pop(b"FLAGS", None)
                answers.append(values)
            assert answers[0].keys() == answers[1].keys(), name
            for key, value in answers[0].items():
                compared += 1
                if answers[1][key] != value:
                    mismatches.setdefault(name, []).append(key.decode())
    report = {n: ks[:6] for n, ks in list(mismatches.items())[:20]}
    assert not mismatches, f"{len(mismatches)} messages differ: {report}"
    assert compared > 1000


def test_search_over_sockets_matches_dovecot(
    clients: tuple[list[tuple[str, bytes]], ImapClient, ImapClient],
) -> None:
    msgs, theirs, mine = clients
    differences = {}
    for key in SEARCH_KEYS:
        command = b"UID SEARCH " + _search_command(key)
        results = []
        for client in (theirs, mine):
            data, status = client.command(command)
            assert b" OK " in status, (key, status)
            (line,) = [x for x in data.split(b"\r\n") if x.startswith(b"* SEARCH")]
            results.append({int(x) for x in line.split()[2:]})
        allowed = {n for k, n in KNOWN_SEARCH_DIFFERENCES if k == key}
        if "*" in allowed:
            continue
        odd = {i for i in results[0] ^ results[1] if msgs[i - 1][0] not in allowed}
        if odd:
            differences[key] = sorted(msgs[i - 1][0] for i in odd)[:5]
    assert not differences, differences


def test_uids_line_up(clients: tuple[list[tuple[str, bytes]], ImapClient, ImapClient]) -> None:
    """Both servers numbered the appended messages 1..n (the comparison relies on it)."""
    msgs, theirs, mine = clients
    for client in (theirs, mine):
        data, _ = client.command(b"UID SEARCH ALL")
        (line,) = [x for x in data.split(b"\r\n") if x.startswith(b"* SEARCH")]
        assert [int(x) for x in line.split()[2:]] == list(range(1, len(msgs) + 1))
