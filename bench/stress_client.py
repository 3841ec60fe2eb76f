"""The load generator of the stress benchmark: imaptest's client loop, every answer checked.

See `bench_stress` for the workload and the checks. `worker` is one client connection
running imaptest's state sequence; `Session` keeps its view of the selected mailbox
(UID and own keywords per sequence number) and raises `Wrong` for an answer that
contradicts it; `Run` is what one server's run shares between its clients.
"""

from __future__ import annotations

import asyncio
import collections
import os
import random
import re
import time
from dataclasses import dataclass, field

try:
    from bench.stress_proto import NIL, Conn, Expected, Value, Wrong, freeze, parse_list
except ImportError:  # run as a script: python bench/bench_x.py
    from stress_proto import NIL, Conn, Expected, Value, Wrong, freeze, parse_list  # type: ignore[no-redef]

CLIENTS = int(os.environ.get("BENCH_STRESS_CLIENTS", "10"))
ACCOUNTS = int(os.environ.get("BENCH_STRESS_ACCOUNTS", "20"))
TRACE = os.environ.get("BENCH_STRESS_TRACE", "")  # a file: each error's last 40 commands
SEEDED = 33  # messages per INBOX at the start
THRESHOLD = 30  # imaptest's msgs=30: APPEND below it, delete more above it + 5
PASSWORD = "stress password 1"
DOMAIN = "example.test"


def address(n: int) -> str:
    """Account n (1-based, as imaptest's ``user=stress%d@...`` numbers them)."""
    return f"stress{n}@{DOMAIN}"


# -- the shared state of one server's run -----------------------------------------------


@dataclass
class Account:
    uids: dict[int, int] = field(default_factory=dict)  # uid -> corpus index
    uidvalidity: int | None = None
    max_appended: int = 0  # highest UID whose APPEND completed
    internaldate: dict[int, bytes] = field(default_factory=dict)


@dataclass
class Run:
    corpus: list[Expected]
    accounts: dict[int, Account]
    stable: dict[tuple[int, bytes], Value] = field(default_factory=dict)  # (msg, item)
    commands: int = 0
    errors: int = 0
    expunged_races: int = 0
    verified: int = 0
    samples: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.samples) < 8:
            self.samples.append(what[:300])


# -- the imaptest state sequence, checked ------------------------------------------------

FETCH_ITEMS = [b"UID", b"FLAGS", b"ENVELOPE", b"INTERNALDATE", b"BODY", b"BODYSTRUCTURE",
               b"RFC822.SIZE"]  # fmt: skip
HEADER_NAMES = [b"From", b"To", b"Cc", b"Subject", b"References", b"In-Reply-To",
                b"Message-ID", b"Delivered-To"]  # fmt: skip
FETCH2_ITEMS = [b"BODY.PEEK[HEADER]", b"RFC822.HEADER", b"BODY.PEEK[]", b"BODY.PEEK[1]",
                b"BODY.PEEK[TEXT]"]  # fmt: skip
_RECENT = frozenset([b"\\Recent"])  # per session; not compared
SYSTEM_FLAGS = [b"\\Seen", b"\\Flagged", b"\\Answered", b"\\Draft"]
_EXPUNGE_NO = re.compile(rb"expunge|no longer exist", re.I)
_FETCH = re.compile(rb"\* (\d+) FETCH ")
_NUMBERED = re.compile(rb"\* (\d+) (EXISTS|EXPUNGE|RECENT)\r\n$")


class Session:
    """One logged-in connection of worker `k` on account `acct`, with its view."""

    def __init__(self, run: Run, conn: Conn, k: int, acct: int, rng: random.Random) -> None:
        self.run, self.conn, self.k, self.acct, self.rng = run, conn, k, acct, rng
        self.account = run.accounts[acct]
        self.view: list[int | None] | None = None  # UID per sequence number, when selected
        self.kw: list[frozenset[bytes] | None] = []  # own keywords per sequence number, if known
        # All flags (\Recent aside) per sequence number as the server last told this
        # session, with its own silent changes applied: what a client caches.
        self.flags: list[frozenset[bytes] | None] = []
        # Per sequence number, an answer that is right only if another session expunged
        # the message (a STORE answered OK without its effect, a FETCH without its data,
        # a message left after EXPUNGE) and the EXPUNGE count when it was seen: the
        # message must be reported expunged by the end of the next EXPUNGE command.
        self.doubt: list[tuple[str, int] | None] = []
        self.expunges = 0
        self.deleted: set[int] = set()  # UIDs this session marked \Deleted
        self.deleted_seqs: set[int] = set()  # ... and seqs of those whose UID is unknown
        self.history: collections.deque[bytes] = collections.deque(maxlen=40)
        self.own = (b"$c%da" % k, b"$c%db" % k)

    # -- sending and the checks common to every response --

    current = b""

    async def do(
        self, state: str, text: bytes, literal: bytes | None = None
    ) -> tuple[list[bytes], bytes]:
        self.current = text
        untagged, tagged = await self.conn.command(text, literal)
        if TRACE:
            self.history.append(b"C: " + text + b"\r\n" + b"".join(
                b"S: " + (r if len(r) < 300 else r[:300] + b"...\r\n") for r in untagged
            ) + b"S: " + tagged)  # fmt: skip
        fetches: dict[int, dict[bytes, Value]] = {}
        for r in untagged:
            self._untagged(r, fetches)
        self.last_fetches = fetches
        if tagged.startswith(b"OK"):
            self.run.commands += 1
            self.run.counts[state] = self.run.counts.get(state, 0) + 1
        elif tagged.startswith(b"NO") and state in ("FETCH", "FETCH2", "STORE", "DELETE") \
                and _EXPUNGE_NO.search(tagged):  # fmt: skip
            self.run.expunged_races += 1
        else:
            self.run.error(f"{state} {text[:60]!r}: {tagged[:120]!r}")
        return untagged, tagged

    def _untagged(self, r: bytes, fetches: dict[int, dict[bytes, Value]]) -> None:
        m = _NUMBERED.match(r)
        if m is not None and self.view is not None:
            n, kind = int(m[1]), m[2]
            if kind == b"EXISTS":
                if n < len(self.view):
                    raise Wrong(f"EXISTS {n} below {len(self.view)} without EXPUNGE")
                self.kw.extend([None] * (n - len(self.view)))
                self.flags.extend([None] * (n - len(self.view)))
                self.doubt.extend([None] * (n - len(self.view)))
                self.view.extend([None] * (n - len(self.view)))
            elif kind == b"EXPUNGE":
                if not 1 <= n <= len(self.view):
                    raise Wrong(f"EXPUNGE {n} of {len(self.view)}")
                uid = self.view.pop(n - 1)
                self.kw.pop(n - 1)
                self.flags.pop(n - 1)
                if self.doubt.pop(n - 1) is not None:
                    self.run.expunged_races += 1
                self.deleted.discard(uid or 0)
                self.deleted_seqs = {s - 1 if s > n else s for s in self.deleted_seqs if s != n}
            return
        m = _FETCH.match(r)
        if m is not None:
            if self.view is None:
                raise Wrong(f"FETCH outside a selected mailbox: {r[:80]!r}")
            seq = int(m[1])
            if not 1 <= seq <= len(self.view):
                raise Wrong(f"FETCH {seq} of {len(self.view)} messages")
            items, _ = parse_list(r, m.end())
            got = fetches.setdefault(seq, {})
            for i in range(0, len(items) - 1, 2):
                got[items[i].upper()] = items[i + 1]
            self._check_items(seq, items)

    def _check_items(self, seq: int, items: list[Value]) -> None:
        assert self.view is not None
        pairs = {items[i].upper(): items[i + 1] for i in range(0, len(items) - 1, 2)}
        uid = self.view[seq - 1]
        if b"UID" in pairs:
            got = int(pairs[b"UID"])
            if uid is not None and got != uid:
                raise Wrong(f"seq {seq} was UID {uid}, now UID {got}")
            self.view[seq - 1] = got
            lower = next((u for u in reversed(self.view[: seq - 1]) if u is not None), 0)
            higher = next((u for u in self.view[seq:] if u is not None), None)
            if got <= lower or (higher is not None and got >= higher):
                raise Wrong(f"UID {got} at seq {seq} out of order ({lower}, {higher})")
            uid = got
        if b"FLAGS" in pairs:
            self.flags[seq - 1] = frozenset(pairs[b"FLAGS"]) - _RECENT
        if b"FLAGS" in pairs and not self._in_store:
            mine: frozenset[bytes] | None = frozenset(f for f in pairs[b"FLAGS"] if f in self.own)
            want = self.kw[seq - 1]
            if want is not None and mine != want:
                self.suspect(seq, f"seq {seq}: own keywords {sorted(mine or ())}, stored "
                                  f"{sorted(want)} (FETCH during {self.current!r})")  # fmt: skip
                mine = None
            self.kw[seq - 1] = mine
        if uid is None:
            return
        index = self.account.uids.get(uid)
        for key, value in pairs.items():
            if key == b"INTERNALDATE":
                first = self.account.internaldate.setdefault(uid, value)
                if first != value:
                    raise Wrong(f"UID {uid}: INTERNALDATE {value!r} was {first!r}")
            elif value in (NIL, b"", b"0") and key != b"BODY":
                # Dovecot's answers for a message another session expunged: NIL, "", 0
                self.suspect(seq, f"UID {uid}: {key.decode()} {value!r}")
            elif index is not None:
                self._check_content(uid, index, key, value)

    _in_store = False

    def _check_content(self, uid: int, index: int, key: bytes, value: Value) -> None:
        exp = self.run.corpus[index]
        want: bytes | None = None
        if key == b"BODY[]":
            want = exp.raw
        elif key in (b"BODY[HEADER]", b"RFC822.HEADER"):
            want = exp.header
        elif key == b"BODY[TEXT]":
            want = exp.text
        elif key == b"RFC822.SIZE":
            if int(value) != len(exp.raw):
                raise Wrong(f"UID {uid}: RFC822.SIZE {int(value)} != {len(exp.raw)}")
            self.run.verified += 1
            return
        elif key.startswith(b"BODY[HEADER.FIELDS ("):
            names = key[len(b"BODY[HEADER.FIELDS (") :].rstrip(b")]").split()
            want = exp.header_fields(names)
        if want is not None:
            if value != want:
                raise Wrong(f"UID {uid} (msg {index}): {key.decode()} differs "
                            f"({len(value) if isinstance(value, bytes) else value!r} "
                            f"vs {len(want)} octets)")  # fmt: skip
            self.run.verified += 1
        elif key in (b"ENVELOPE", b"BODYSTRUCTURE", b"BODY", b"BODY[1]"):
            frozen = freeze(value)
            first = self.run.stable.setdefault((index, key), frozen)
            if first != frozen:
                raise Wrong(f"UID {uid} (msg {index}): {key.decode()} changed")
            self.run.verified += 1

    def _want_all(self, seqs: list[int], wanted: list[bytes], tagged: bytes) -> None:
        """Every requested message got every requested item (NO for an expunge race aside)."""
        if not tagged.startswith(b"OK"):
            return
        for seq in seqs:
            got = self.last_fetches.get(seq, {})
            for w in wanted:
                if not any(k == w or k.startswith(w + b"<") for k in got):
                    self.suspect(seq, f"FETCH {seq}: OK without {w.decode()} ({sorted(got)})")
                    break

    # -- the states --

    def msgs(self) -> int:
        return len(self.view) if self.view is not None else 0

    def random_seqs(self, count: int) -> list[int]:
        n = self.msgs()
        return sorted({self.rng.randrange(n) + 1 for _ in range(count)}) if n else []

    async def list_(self) -> None:
        untagged, tagged = await self.do("LIST", b'LIST "" *')
        if tagged.startswith(b"OK") and not any(b"INBOX" in r.upper() for r in untagged):
            raise Wrong("LIST without INBOX")

    async def status(self) -> None:
        untagged, tagged = await self.do("STATUS", b"STATUS INBOX (MESSAGES UNSEEN RECENT)")
        for r in untagged:
            if r.startswith(b"* STATUS"):
                items, _ = parse_list(r, r.index(b"("))
                got = {items[i].upper(): int(items[i + 1]) for i in range(0, len(items), 2)}
                if not got[b"UNSEEN"] <= got[b"MESSAGES"] >= got[b"RECENT"]:
                    raise Wrong(f"STATUS counts {got}")
                return
        if tagged.startswith(b"OK"):
            raise Wrong("STATUS without * STATUS")

    async def select(self) -> None:
        appended = self.account.max_appended
        self.view, self.kw, self.doubt, self.flags = [], [], [], []
        self.deleted, self.deleted_seqs = set(), set()
        untagged, _ = await self.do("SELECT", b"SELECT INBOX")
        for r in untagged:
            if m := re.search(rb"\[UIDVALIDITY (\d+)\]", r):
                v = int(m[1])
                if self.account.uidvalidity is None:
                    self.account.uidvalidity = v
                elif v != self.account.uidvalidity:
                    raise Wrong(f"UIDVALIDITY {v} was {self.account.uidvalidity}")
            if (m := re.search(rb"\[UIDNEXT (\d+)\]", r)) and int(m[1]) <= appended:
                raise Wrong(f"UIDNEXT {int(m[1])} not above appended UID {appended}")

    async def fetch(self) -> None:
        seqs = self.random_seqs(min(self.msgs(), 100))
        if not seqs:
            return
        items, wanted = [], []
        for _ in range(self.rng.randrange(4) + 1):
            if self.rng.randrange(4):
                item = self.rng.choice(FETCH_ITEMS)
                items.append(item)
                wanted.append(item)
            else:
                names = b" ".join(
                    self.rng.choice(HEADER_NAMES) for _ in range(self.rng.randrange(4) + 1)
                )
                items.append(b"BODY.PEEK[HEADER.FIELDS (" + names + b")]")
        _, tagged = await self.do("FETCH", b"FETCH " + _set(seqs) + b" (" + b" ".join(items) + b")")
        self._want_all(seqs, wanted, tagged)

    async def fetch2(self) -> None:
        if not self.msgs():
            return
        seq = self.rng.randrange(self.msgs()) + 1
        item = self.rng.choice(FETCH2_ITEMS)
        _, tagged = await self.do("FETCH2", b"FETCH %d (UID %s)" % (seq, item))
        self._want_all([seq], [b"UID", item.replace(b".PEEK", b"")], tagged)

    async def store(self) -> None:
        n = self.msgs()
        count = self.rng.randrange(n if n < 10 else min(n // 5, 50)) if n else 0
        seqs = self.random_seqs(count)
        if not seqs:
            return
        flags = [f for f in [*SYSTEM_FLAGS, *self.own] if self.rng.randrange(3) == 0] or [
            self.own[0]
        ]
        sign = self.rng.choice(b"+-")
        silent = self.rng.randrange(2) == 0
        text = b"STORE %s %cFLAGS%s (%s)" % (_set(seqs), sign, b".SILENT" if silent else b"",
                                            b" ".join(flags))  # fmt: skip
        self._in_store = True
        try:
            _, tagged = await self.do("STORE", text)
        finally:
            self._in_store = False
        if not tagged.startswith(b"OK"):
            return
        assert self.view is not None
        self._stored(seqs, sign, flags)
        mine = frozenset(f for f in flags if f in self.own)
        for seq in seqs:
            got = self.last_fetches.get(seq, {}).get(b"FLAGS")
            old = self.kw[seq - 1]
            if not silent and got is None:
                # Dovecot sends no FETCH when nothing changed: fine if that is so for the
                # keywords we know, and unknowable otherwise (system flags are shared).
                noop = old is not None and (mine <= old if sign == ord("+") else not old & mine)
                if old is not None and not noop:
                    self.suspect(seq, f"STORE {sign:c}FLAGS {flags} on {seq}: no FETCH")
                self.kw[seq - 1] = old if noop else None
            elif not silent:
                have = set(
                    got or ()
                )  # own keywords only: system flags may race with other sessions
                if (sign == ord("+") and not mine <= have) or (sign == ord("-") and have & mine):
                    self.suspect(seq, f"STORE {sign:c}FLAGS {flags} on {seq}: FLAGS {got}")
                    self.kw[seq - 1] = None
                    continue
                self.kw[seq - 1] = frozenset(f for f in got or () if f in self.own)
            elif old is not None:
                self.kw[seq - 1] = old | mine if sign == ord("+") else old - mine

    def _stored(self, seqs: list[int], sign: int, flags: list[bytes]) -> None:
        """A client's cache after its STORE: what the server sent, else the change applied."""
        for seq in seqs:
            known = self.flags[seq - 1]
            if b"FLAGS" not in self.last_fetches.get(seq, {}) and known is not None:
                self.flags[seq - 1] = known | set(flags) if sign == ord("+") else known - set(flags)

    async def final_check(self) -> None:
        """Once no session changes anything: after a NOOP (the pending news), the flags
        this session was told must be the flags the server has."""
        if self.view is None:
            return
        await self.do("NOOP", b"NOOP")
        if not self.view:
            return
        untagged, _ = await self.conn.command(b"FETCH 1:* (UID FLAGS)")
        for r in untagged:
            m = _FETCH.match(r)
            if m is None:
                continue
            seq = int(m[1])
            items, _ = parse_list(r, m.end())
            pairs = {items[i].upper(): items[i + 1] for i in range(0, len(items) - 1, 2)}
            told = self.flags[seq - 1] if seq <= len(self.flags) else None
            has = frozenset(pairs.get(b"FLAGS", ())) - _RECENT
            if told is not None and told != has:
                self.run.error(
                    f"after the load, UID {int(pairs.get(b'UID', 0))} (seq {seq}): the session "
                    f"was told {sorted(told)}, the server has {sorted(has)}"
                )

    async def delete(self) -> None:
        n = self.msgs()
        count = self.rng.randrange(n - THRESHOLD) if n > THRESHOLD + 5 else self.rng.randrange(5)
        assert self.view is not None
        seqs = [s for s in self.random_seqs(count) if self.doubt[s - 1] is None]
        if not seqs:
            return
        silent = self.rng.randrange(2) == 0
        text = b"STORE %s +FLAGS%s (\\Deleted)" % (_set(seqs), b".SILENT" if silent else b"")
        _, tagged = await self.do("DELETE", text)
        if tagged.startswith(b"OK"):
            assert self.view is not None
            self._stored(seqs, ord("+"), [b"\\Deleted"])
            for seq in seqs:
                uid = self.view[seq - 1]
                if uid is None:
                    self.deleted_seqs.add(seq)
                else:
                    self.deleted.add(uid)

    def suspect(self, seq: int, what: str) -> None:
        """An answer right only if the message was expunged: decided by the next EXPUNGE."""
        if self.doubt[seq - 1] is None:
            self.doubt[seq - 1] = (what, self.expunges)

    async def expunge(self) -> None:
        self.expunges += 1
        _, tagged = await self.do("EXPUNGE", b"EXPUNGE")
        if tagged.startswith(b"OK"):
            assert self.view is not None
            for i, doubt in enumerate(self.doubt):
                if doubt is not None and doubt[1] < self.expunges:
                    self.doubt[i] = None
                    self.run.error(f"{doubt[0]}; not expunged by the end of the next EXPUNGE")
            for i, uid in enumerate(self.view):
                if uid in self.deleted or i + 1 in self.deleted_seqs:
                    self.suspect(i + 1, f"EXPUNGE left \\Deleted message {i + 1} (UID {uid})")

    async def append(self) -> None:
        if self.msgs() >= THRESHOLD:
            return
        index = self.rng.randrange(len(self.run.corpus))
        _, tagged = await self.do("APPEND", b"APPEND INBOX", self.run.corpus[index].raw)
        if tagged.startswith(b"OK"):
            self.appended(tagged, index)

    def appended(self, tagged: bytes, index: int) -> None:
        m = re.search(rb"\[APPENDUID (\d+) (\d+)\]", tagged)
        if m is None:
            raise Wrong(f"APPEND without APPENDUID: {tagged!r}")
        validity, uid = int(m[1]), int(m[2])
        if self.account.uidvalidity is None:
            self.account.uidvalidity = validity
        if validity != self.account.uidvalidity or uid in self.account.uids:
            raise Wrong(f"APPENDUID {validity} {uid} repeats or changes UIDVALIDITY")
        self.account.uids[uid] = index
        self.account.max_appended = max(self.account.max_appended, uid)

    async def logout(self) -> None:
        untagged, _ = await self.do("LOGOUT", b"LOGOUT")
        if not any(r.startswith(b"* BYE") for r in untagged):
            raise Wrong("LOGOUT without BYE")


def _set(seqs: list[int]) -> bytes:
    """A sequence set for sorted `seqs`, with ranges."""
    out: list[bytes] = []
    start = prev = seqs[0]
    for s in [*seqs[1:], -1]:
        if s != prev + 1:
            out.append(b"%d" % start if start == prev else b"%d:%d" % (start, prev))
            start = s
        prev = s
    return b",".join(out)


def _trace(what: str, history: collections.deque[bytes]) -> None:
    """Append an error and the session's last commands and responses to the TRACE file."""
    with open(TRACE, "a") as f:
        f.write(what + "\n" + b"\n".join(history).decode(errors="replace") + "\n")


async def _login(run: Run, port: int, k: int, acct: int, rng: random.Random) -> Session:
    conn = await Conn.open(port)
    s = Session(run, conn, k, acct, rng)
    await s.do("LOGIN", b'LOGIN "%s" "%s"' % (address(acct).encode(), PASSWORD.encode()))
    return s


async def worker(run: Run, port: int, k: int, deadline: float, logout: bool) -> Session | None:
    """imaptest's client loop: the states in order, each with its probability. Returns
    the session still open at the deadline (for `Session.final_check`)."""
    rng = random.Random(1000 + k)
    session: Session | None = None
    while time.perf_counter() < deadline:
        try:
            if session is None:
                session = await _login(run, port, k, rng.randrange(ACCOUNTS) + 1, rng)
            s = session
            if rng.randrange(2) == 0:
                await s.list_()
            if rng.randrange(2) == 0:
                await s.status()
            if s.view is None:
                await s.select()
            await s.fetch()
            await s.fetch2()
            while rng.randrange(100) < 30:
                await s.fetch2()
            if rng.randrange(2) == 0:
                await s.store()
            await s.delete()
            await s.expunge()
            await s.append()
            while rng.randrange(100) < 5:
                await s.append()
            if logout:
                await s.logout()
                s.conn.close()
                session = None
        except Wrong as e:
            run.error(str(e))
            if TRACE and session is not None:
                _trace(f"== client {k}, account {session.acct}: {e}", session.history)
            if session is not None:
                session.conn.close()
            session = None
        except (EOFError, OSError) as e:
            run.error(f"connection: {e}")
            session = None
    return session


async def seed(run: Run, port: int, accounts: int = ACCOUNTS, count: int = SEEDED) -> None:
    """`count` corpus messages into the INBOX of accounts 1..`accounts`, over IMAP
    (APPENDUID noted)."""
    rng = random.Random(7)

    async def one(acct: int) -> None:
        s = await _login(run, port, -1, acct, rng)
        for i in range(count):
            index = ((acct - 1) * count + i) % len(run.corpus)
            _, tagged = await s.do("APPEND", b"APPEND INBOX", run.corpus[index].raw)
            if not tagged.startswith(b"OK"):
                raise RuntimeError(f"seeding failed: {tagged!r}")
            s.appended(tagged, index)
        await s.do("LOGOUT", b"LOGOUT")
        s.conn.close()

    for start in range(1, accounts + 1, 5):
        await asyncio.gather(*(one(a) for a in range(start, min(start + 5, accounts + 1))))
