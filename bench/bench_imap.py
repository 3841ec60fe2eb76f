"""IMAP: a command mix, logins, bulk FETCH, IDLE latency and memory, beside Dovecot.

Measured against Debian's Dovecot (skipped when not installed) with the same
messages, the same password hash (argon2id with our parameters, which Dovecot
verifies natively) and the same client code, over loopback:

* commands/s of a weighted mix (LIST, STATUS, SELECT, FETCH flags / envelope /
  bodystructure / a body, STORE, APPEND, EXPUNGE) on `CLIENTS` connections that
  stay logged in, and with LOGIN / SELECT / FETCH / LOGOUT per round;
* bulk ``FETCH 1:* BODY.PEEK[]`` of `COUNT` messages in MB/s;
* IDLE: `IDLERS` sessions idle on one mailbox; another connection APPENDs; the
  time from sending the APPEND to the kernel's receive timestamp (SO_TIMESTAMPNS)
  of each idler's EXISTS, p50 and p99, so that the load generator's own delay in
  reading 1,000 sockets is not counted (`idle_latency` says how);
* RSS per idle authenticated connection (ours: the server process's VmRSS growth
  over `RSS_CONNECTIONS` logged-in connections, divided by their number).

Each server runs in its own process (ours in a child Python process, so the
client never competes with it for the GIL). Environment: BENCH_IMAP_COUNT,
BENCH_IMAP_IDLERS (the issue's 1,000), BENCH_IMAP_RSS_CONNECTIONS (the issue's
10,000; about 20 s), BENCH_IMAP_SECONDS, BENCH_IMAP_PROFILE (a cProfile output
file for our server), and BENCH_IMAP_ONLY: a comma-separated choice of ``mix``,
``fetch``, ``idle``, ``rss`` (default all), e.g. ``BENCH_IMAP_ONLY=idle python -m
bench.bench_imap`` (or ``python -m bench imap``) measures only IDLE, on both
servers. At 1,000 idlers Dovecot runs out of inotify instances and polls every
30 s, so its IDLE part takes ~2.5 min.

Run: ``python -m bench.bench_imap``; `main()` returns the rows for `python -m bench`.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import re
import resource
import selectors
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    from bench import common
except ImportError:  # run as a script: python bench/bench_x.py
    import common  # type: ignore[no-redef]

COUNT = int(os.environ.get("BENCH_IMAP_COUNT", "5000"))
LOAD_COUNT = 300  # messages in the mailbox the command mix works on
CLIENTS = 8  # Dovecot allows 10 connections per user and address by default
SECONDS = float(os.environ.get("BENCH_IMAP_SECONDS", "5"))
IDLERS = int(os.environ.get("BENCH_IMAP_IDLERS", "1000"))
RSS_CONNECTIONS = int(os.environ.get("BENCH_IMAP_RSS_CONNECTIONS", "10000"))
#: The parts of the benchmark: the command mix, bulk FETCH, IDLE latency, RSS.
PARTS = ("mix", "fetch", "idle", "rss")
ONLY = frozenset(
    p.strip() for p in os.environ.get("BENCH_IMAP_ONLY", ",".join(PARTS)).split(",") if p.strip()
)
USER = "bench@example.test"
PASSWORD = "bench password 1"
CORPUS = Path("/work/shared/corpus/bench.mbox")
REPO = Path(__file__).resolve().parent.parent
_FROM_LINE = re.compile(rb"(?:\A|\n)From [^\n]*\n")
_LITERAL = re.compile(rb"\{(\d+)\}\r\n$")

MIX: list[tuple[int, str]] = [
    (10, 'LIST "" *'),
    (10, "STATUS INBOX (MESSAGES UNSEEN UIDNEXT)"),
    (5, "SELECT Load"),
    (20, "FETCH 1:50 (FLAGS)"),
    (10, "FETCH 1:20 (ENVELOPE)"),
    (10, "FETCH 1:20 (BODYSTRUCTURE)"),
    (10, "FETCH {n} BODY.PEEK[]"),
    (10, "STORE {n} {sign}FLAGS (\\Seen)"),
    (5, "APPEND"),
    (5, "EXPUNGE"),
]


def corpus(count: int) -> list[bytes]:
    if CORPUS.exists():
        msgs = [m for m in _FROM_LINE.split(CORPUS.read_bytes()) if m]
    else:
        msgs = [b"Subject: filler\r\nFrom: a@b.test\r\n\r\n" + b"text line\r\n" * 200]
    msgs = [re.sub(rb"\r?\n", b"\r\n", m) for m in msgs]
    return [msgs[i % len(msgs)] for i in range(count)]


def _seed() -> list[tuple[str, int]]:
    """Messages per mailbox: only what the parts in `ONLY` use (INBOX: bulk FETCH, Load: mix)."""
    inbox = COUNT if "fetch" in ONLY else 0
    return [("INBOX", inbox), ("Load", LOAD_COUNT if "mix" in ONLY else 0)]


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# -- a small IMAP client ------------------------------------------------------------------


class Client:
    """Just enough IMAP for the benchmark: tagged commands, literals, IDLE.

    Input is read in large chunks into the client's own buffer and parsed there
    (a line is one ``find``, a literal is skipped by arithmetic), so that the
    client costs a few µs per FETCH response and never limits a server's bulk
    FETCH rate.  Read the connection only through `response` (not `reader`).
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.n = 0
        self.received = 0
        self._buf = b""
        self._pos = 0

    @classmethod
    async def connect(cls, port: int) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        c = cls(reader, writer)
        await c._line()
        return c

    async def _more(self) -> None:
        data = await self.reader.read(1 << 20)
        if not data:
            raise EOFError
        self.received += len(data)
        rest = len(self._buf) - self._pos
        self._buf = self._buf[self._pos :] + data if rest else data
        self._pos = 0

    async def _line(self) -> bytes:
        while (end := self._buf.find(b"\n", self._pos)) < 0:
            await self._more()
        line = self._buf[self._pos : end + 1]
        self._pos = end + 1
        return line

    async def response(self) -> bytes:
        """One response, literals included (their octets are counted, not kept)."""
        line = await self._line()
        while line.endswith(b"}\r\n") and (m := _LITERAL.search(line)) is not None:
            size = int(m[1])
            while (avail := len(self._buf) - self._pos) < size:
                size -= avail
                self._buf, self._pos = b"", 0
                await self._more()
            self._pos += size
            line = await self._line()
        return line

    async def cmd(self, text: str, literal: bytes | None = None) -> list[bytes]:
        self.n += 1
        tag = b"b%d" % self.n
        if literal is None:
            self.writer.write(tag + b" " + text.encode() + b"\r\n")
        else:
            self.writer.write(
                tag + b" " + text.encode() + b" {%d+}\r\n" % len(literal) + literal + b"\r\n"
            )
        out = []
        while True:
            line = await self.response()
            out.append(line)
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise RuntimeError(f"{text!r}: {line!r}")
                return out

    async def login(self) -> None:
        await self.cmd(f'LOGIN {USER} "{PASSWORD}"')

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except OSError:
            pass


# -- measurements -------------------------------------------------------------------------


async def _mix_worker(port: int, deadline: float, seed: int, messages: list[bytes]) -> int:
    rng = random.Random(seed)
    weights = [w for w, _ in MIX]
    c = await Client.connect(port)
    await c.login()
    await c.cmd("SELECT Load")
    done = 0
    while time.perf_counter() < deadline:
        (_, template) = rng.choices(MIX, weights)[0]
        if template == "APPEND":
            # \Deleted, so EXPUNGE keeps the mailbox at its size.
            await c.cmd("APPEND Load (\\Deleted)", rng.choice(messages))
        else:
            n = rng.randint(1, LOAD_COUNT // 2)
            await c.cmd(template.format(n=n, sign=rng.choice("+-")))
        done += 1
    await c.cmd("LOGOUT")
    await c.close()
    return done


async def _login_worker(port: int, deadline: float) -> int:
    done = 0
    while time.perf_counter() < deadline:
        c = await Client.connect(port)
        await c.login()
        await c.cmd("SELECT Load")
        await c.cmd("FETCH 1:20 (FLAGS)")
        await c.cmd("LOGOUT")
        await c.close()
        done += 4
    return done


async def command_rates(port: int, messages: list[bytes]) -> tuple[float, float]:
    """(commands/s staying logged in, commands/s with a login per round)."""
    deadline = time.perf_counter() + SECONDS
    counts = await asyncio.gather(
        *(_mix_worker(port, deadline, k, messages) for k in range(CLIENTS))
    )
    steady = sum(counts) / SECONDS
    deadline = time.perf_counter() + SECONDS
    counts = await asyncio.gather(*(_login_worker(port, deadline) for _ in range(CLIENTS)))
    return steady, sum(counts) / SECONDS


async def bulk_fetch(port: int) -> tuple[float, int]:
    """Best of three: (MB/s, octets) of FETCH 1:* BODY.PEEK[] on INBOX."""
    c = await Client.connect(port)
    await c.login()
    await c.cmd("EXAMINE INBOX")
    result = await best_of_three_fetches(c)
    await c.close()
    return result


async def best_of_three_fetches(c: Client) -> tuple[float, int]:
    """(MB/s of the fastest, octets) of three FETCH 1:* BODY.PEEK[] on the selected mailbox."""
    best = 0.0
    octets = 0
    for _ in range(3):
        c.received = 0
        start = time.perf_counter()
        await c.cmd("FETCH 1:* BODY.PEEK[]")
        seconds = time.perf_counter() - start
        octets = c.received
        best = max(best, octets / 1e6 / seconds)
    return best, octets


# -- IDLE latency: raw sockets, kernel receive timestamps -------------------------------------

# Linux: SO_TIMESTAMPNS (and its control message SCM_TIMESTAMPNS) is 35; Python 3.11 does
# not name it.
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TIMESPEC = struct.Struct("@qq")
IDLE_WAIT = 120.0  # seconds one step of the IDLE measurement may take (Dovecot polls every 30)


class _RawConn:
    """A blocking IMAP connection for the IDLE measurement.

    Every read is a ``recvmsg`` whose SO_TIMESTAMPNS control message says when the
    kernel received the bytes (CLOCK_REALTIME, like `time.time`), so the time this
    process takes to get round to a socket is not part of the latency.
    """

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        self.buf = bytearray()
        self.stamp = 0.0  # kernel receive time of the bytes read last
        self.exists_at: tuple[float, float] | None = None  # (kernel, this process) times

    def fileno(self) -> int:
        return self.sock.fileno()

    def receive(self) -> None:
        data, ancillary, _, _ = self.sock.recvmsg(1 << 16, socket.CMSG_SPACE(_TIMESPEC.size))
        if not data:
            raise EOFError("the server closed an IDLE benchmark connection")
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS:
                sec, nsec = _TIMESPEC.unpack(payload[: _TIMESPEC.size])
                self.stamp = sec + nsec / 1e9
        self.buf += data
        if self.exists_at is None and b" EXISTS\r\n" in self.buf:
            self.exists_at = (self.stamp, time.time())

    def lines(self) -> list[bytes]:
        """The complete lines received so far (taken out of the buffer)."""
        end = self.buf.rfind(b"\n")
        if end < 0:
            return []
        out = bytes(self.buf[: end + 1]).splitlines()
        del self.buf[: end + 1]
        return out

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)


def _until(conns: list[_RawConn], done: Callable[[_RawConn], bool], what: str) -> None:
    """Read from every connection until `done` holds for each (one epoll loop)."""
    waiting = [c for c in conns if not done(c)]
    deadline = time.monotonic() + IDLE_WAIT
    with selectors.DefaultSelector() as sel:
        for c in waiting:
            sel.register(c, selectors.EVENT_READ, c)
        left = len(waiting)
        while left:
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                raise TimeoutError(f"{left} connections still waiting for {what}")
            for key, _ in sel.select(timeout):
                c = key.data
                c.receive()
                if done(c):
                    sel.unregister(c)
                    left -= 1


def _tagged(tag: bytes) -> Callable[[_RawConn], bool]:
    """`_until` condition: the tagged reply `tag` arrived (and is OK)."""

    def done(c: _RawConn) -> bool:
        for line in c.lines():
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise RuntimeError(f"{tag!r}: {line!r}")
                return True
        return False

    return done


def _has_line(prefix: bytes) -> Callable[[_RawConn], bool]:
    return lambda c: any(line.startswith(prefix) for line in c.lines())


def _command(conns: list[_RawConn], tag: bytes, text: bytes) -> None:
    for c in conns:
        c.send(tag + b" " + text + b"\r\n")
    _until(conns, _tagged(tag), text.decode())


def _raw_logins(port: int, count: int, select: str | None) -> list[_RawConn]:
    """`count` logged-in connections (100 at a time), with `select` selected."""
    conns: list[_RawConn] = []
    login = f'LOGIN {USER} "{PASSWORD}"'.encode()
    for start in range(0, count, 100):
        batch = [_RawConn(port) for _ in range(min(100, count - start))]
        _until(batch, _has_line(b"* OK"), "the greeting")
        _command(batch, b"l", login)
        if select is not None:
            _command(batch, b"s", f"SELECT {select}".encode())
        conns.extend(batch)
    return conns


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def idle_latency(
    port: int, idlers: int, rounds: int = 5, lmtp_port: int | None = None
) -> dict[str, float]:
    """IDLE: p50/p99 in ms from sending an APPEND to each idler's ``* n EXISTS``.

    With `lmtp_port` the new message is delivered over LMTP instead, by another
    process writing the same store (as a delivery worker does), and the start is
    just before the end of DATA is sent.

    How it is measured: `idlers` connections SELECT one mailbox and IDLE; another
    connection APPENDs to it (one round per message, `rounds` rounds). All are plain
    blocking sockets read in one epoll loop (`_until`), not asyncio streams. The start
    is `time.time()` just before the APPEND is written; the end is the kernel's
    receive timestamp (SO_TIMESTAMPNS, read with ``recvmsg``) of the bytes that
    completed the idler's EXISTS line (if a read took several segments, the last
    one's: never earlier than the EXISTS). So a client that needs 30 ms to get round
    to 1,000 sockets does not add those 30 ms: the figure is the server's commit,
    fan-out and write plus loopback delivery. When this process actually read each
    EXISTS is kept apart as ``read_p50`` / ``read_p99`` (printed, not tabled).
    """
    sessions = _raw_logins(port, idlers, "Idle")
    writer = _raw_logins(port, 1, None) if lmtp_port is None else []
    kernel: list[float] = []
    read: list[float] = []
    try:
        for r in range(rounds):
            for c in sessions:
                c.send(b"i IDLE\r\n")
            _until(sessions, _has_line(b"+"), "the IDLE continuation")
            for c in sessions:
                c.exists_at = None
            time.sleep(0.2)
            message = b"Subject: idle %d\r\n\r\nhello\r\n" % r
            if lmtp_port is None:
                sent = time.time()
                writer[0].send(b"w APPEND Idle {%d+}\r\n%s\r\n" % (len(message), message))
                _until(sessions, lambda c: c.exists_at is not None, "EXISTS")
                _until(writer, _tagged(b"w"), "APPEND")
            else:
                sent = _lmtp_deliver(lmtp_port, message, sessions)
            for c in sessions:
                assert c.exists_at is not None
                kernel.append(c.exists_at[0] - sent)
                read.append(c.exists_at[1] - sent)
            for c in sessions:
                c.send(b"DONE\r\n")
            _until(sessions, _tagged(b"i"), "the end of IDLE")
    finally:
        for c in [*sessions, *writer]:
            c.sock.close()
    return {
        "first": min(kernel) * 1000,  # commit and the start of the fan-out
        "p50": statistics.median(kernel) * 1000,
        "p99": _percentile(kernel, 0.99) * 1000,
        "read_p50": statistics.median(read) * 1000,
        "read_p99": _percentile(read, 0.99) * 1000,
    }


async def rss_per_connection(port: int, pid: int, count: int) -> float:
    """KiB of server RSS per idle, logged-in connection."""
    warm = [await Client.connect(port) for _ in range(20)]
    for c in warm:
        await c.login()
    before = common.proc_status_kib(pid)
    conns = []
    for start in range(0, count, 100):
        batch = [await Client.connect(port) for _ in range(min(100, count - start))]
        await asyncio.gather(*(c.login() for c in batch))
        conns.extend(batch)
    await asyncio.sleep(0.5)
    after = common.proc_status_kib(pid)
    for c in [*warm, *conns]:
        await c.close()
    return (after - before) / count


# -- our server, in a child process -------------------------------------------------------


def _lmtp_deliver(port: int, message: bytes, sessions: list[_RawConn]) -> float:
    """Deliver `message` into the Idle mailbox over LMTP (plus-address ``+Idle``), reading
    the idlers meanwhile; returns `time.time()` taken just before the end of DATA."""
    with socket.create_connection(("127.0.0.1", port)) as lmtp:
        reader = lmtp.makefile("rb")

        def replies(n: int) -> list[bytes]:
            out = []
            while len(out) < n:
                line = reader.readline()
                if line[3:4] != b"-":
                    out.append(line)
            return out

        replies(1)
        rcpt = USER.replace("@", "+Idle@").encode()
        lmtp.sendall(b"LHLO bench\r\nMAIL FROM:<bench@example.org>\r\n"
                     b"RCPT TO:<" + rcpt + b">\r\nDATA\r\n")  # fmt: skip
        if not replies(4)[-1].startswith(b"354"):
            raise RuntimeError("LMTP DATA refused")
        sent = time.time()
        lmtp.sendall(message + b".\r\n")
        _until(sessions, lambda c: c.exists_at is not None, "EXISTS")
        (final,) = replies(1)
        if not final.startswith(b"250"):
            raise RuntimeError(f"LMTP delivery failed: {final!r}")
        lmtp.sendall(b"QUIT\r\n")
    return sent


def _serve_lmtp_worker(root: str) -> None:
    """(``--lmtp-worker ROOT``, a subprocess.) LMTP on the benchmark's store, from a
    process of its own, as a delivery worker of `posteingang serve` runs; prints the port."""
    import msgspec

    from posteingang.log import configure_logging
    from posteingang.smtp.server import DEFAULT_LMTP
    from posteingang.smtp.server import start_server as start_lmtp
    from posteingang.store.blobs.fs import FsBlobStore
    from posteingang.store.sqlite.store import SqliteStore

    configure_logging(level="warning")

    async def main() -> None:
        data = Path(root)
        store = await SqliteStore.open(data / "s.sqlite3", FsBlobStore(data / "blobs"))
        server = await start_lmtp(
            store, hostname="bench.example.test", data_dir=data,
            listeners=[msgspec.structs.replace(DEFAULT_LMTP, port=0)],
        )  # fmt: skip
        print(server.ports[0], flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def _serve_posteingang(root: str, queue: multiprocessing.Queue, stop: object) -> None:  # type: ignore[type-arg]
    _raise_fd_limit()
    import msgspec

    from posteingang.auth.passwords import hash_password
    from posteingang.delivery.ingest import prepare_message
    from posteingang.imap.server import DEFAULT_IMAP, start_server
    from posteingang.imap.session import ImapServices
    from posteingang.log import configure_logging
    from posteingang.net.limits import AccountLimits
    from posteingang.net.settings import TlsMode
    from posteingang.store.blobs.fs import FsBlobStore
    from posteingang.store.sqlite.store import SqliteStore

    configure_logging(level="warning")

    async def main() -> None:
        data = Path(root)
        store = await SqliteStore.open(data / "s.sqlite3", FsBlobStore(data / "blobs", fsync=False))
        await store.add_domain("example.test")
        account = await store.create_account(USER, hash_password(PASSWORD))
        for name in ("Load", "Idle"):
            await store.create_mailbox(account.id, name)
        for name, count in _seed():
            box = await store.get_mailbox(account.id, name)
            assert box is not None
            batch = []
            for raw in corpus(count):
                batch.append(await prepare_message(store, raw))
                if len(batch) == 500:
                    await store.append_many(box.id, batch)
                    batch = []
            if batch:
                await store.append_many(box.id, batch)
        listener = msgspec.structs.replace(
            DEFAULT_IMAP, port=0, tls=TlsMode.NONE, max_connections=100_000,
            max_connections_per_ip=100_000,
        )  # fmt: skip
        server = await start_server(
            ImapServices(store), tls=None, listeners=[listener],
            account_limits=AccountLimits(1_000_000, 1_000_000),
        )  # fmt: skip
        await store.listen_external()  # commits of the LMTP process reach IDLE sessions
        worker = subprocess.Popen(  # noqa: ASYNC220 - once, at start-up
            [sys.executable, "-m", "bench.bench_imap", "--lmtp-worker", root],
            stdout=subprocess.PIPE, cwd=REPO,
        )  # fmt: skip
        assert worker.stdout is not None
        lmtp_port = int(worker.stdout.readline())
        queue.put((server.ports[0], os.getpid(), lmtp_port))
        await asyncio.to_thread(stop.wait)  # type: ignore[attr-defined]
        worker.kill()
        worker.wait()
        await server.stop(1)
        await store.close()

    profile = os.environ.get("BENCH_IMAP_PROFILE")
    if profile:
        import cProfile

        cProfile.runctx("asyncio.run(main())", globals(), {"main": main, "asyncio": asyncio},
                        profile)  # fmt: skip
    else:
        asyncio.run(main())


@contextmanager
def posteingang_server() -> Iterator[tuple[int, int, int]]:
    """(IMAP port, server pid, LMTP port of the separate delivery process)."""
    ctx = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    stop = ctx.Event()
    with tempfile.TemporaryDirectory() as root:
        proc = ctx.Process(target=_serve_posteingang, args=(root, queue, stop))
        proc.start()
        try:
            yield queue.get(timeout=900)
        finally:
            stop.set()
            proc.join(30)
            if proc.is_alive():
                proc.kill()


# -- Dovecot ------------------------------------------------------------------------------

# The protocol-specific part of dovecot.conf (common.dovecot writes the directories,
# `protocols` and `listen` lines before it).
_DOVECOT_CONF = """\
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 0
first_valid_gid = 0
mail_location = maildir:{mail}/%u
default_client_limit = 20000
default_process_limit = 20000
passdb {{
  driver = passwd-file
  args = username_format=%u {mail}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={mail}/home/%u
}}
protocol imap {{
  mail_max_userip_connections = 20000
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service pop3-login {{
  chroot =
}}
service submission-login {{
  chroot =
}}
"""


def dovecot_available() -> bool:
    return common.dovecot_available("imap")


@contextmanager
def dovecot_server(password_hash: str) -> Iterator[tuple[int, int]]:
    def populate(mail: Path) -> None:
        base = mail / USER
        for folder, count in (("", _seed()[0][1]), (".Load", _seed()[1][1]), (".Idle", 0)):
            box = base / folder if folder else base
            for sub in ("cur", "new", "tmp"):
                (box / sub).mkdir(parents=True)
            for i, raw in enumerate(corpus(count)):
                (box / "cur" / f"{1_700_000_000 + i}.M{i}P1.bench:2,").write_bytes(raw)
        (mail / "passwd").write_text(f"{USER}:{password_hash}\n")

    with common.dovecot("imap", _DOVECOT_CONF, b"* OK", populate) as server:
        yield server.port, server.pid


# -- the runner ---------------------------------------------------------------------------


async def _measure(
    port: int, pid: int | None, messages: list[bytes], lmtp_port: int | None = None
) -> dict[str, float]:
    """The parts named in `ONLY` (BENCH_IMAP_ONLY), on one server."""
    warm = await Client.connect(port)  # Dovecot builds its indexes, we warm caches
    await warm.login()
    seeded = dict(_seed())
    for box in ("INBOX", "Load", "Idle"):
        await warm.cmd(f"SELECT {box}")
        if seeded.get(box):  # FETCH 1:* of an empty mailbox is a BAD
            await warm.cmd("FETCH 1:* (FLAGS ENVELOPE BODYSTRUCTURE)")
    await warm.close()
    out: dict[str, float] = {}
    if "mix" in ONLY:
        out["steady"], out["login"] = await command_rates(port, messages)
    if "fetch" in ONLY:
        out["mb_s"], octets = await bulk_fetch(port)
        out["mb"] = octets / 1e6
    if "idle" in ONLY:
        out.update(await asyncio.to_thread(idle_latency, port, IDLERS))
        if lmtp_port is not None:
            lmtp = await asyncio.to_thread(idle_latency, port, IDLERS, 5, lmtp_port)
            out.update({f"lmtp_{k}": v for k, v in lmtp.items()})
    if "rss" in ONLY and pid is not None:
        out["rss"] = await rss_per_connection(port, pid, RSS_CONNECTIONS)
    return out


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b else "n/a"


def main() -> list[tuple[str, str, str]]:
    """Rows for `python -m bench`; BENCH_IMAP_ONLY=idle (or mix,fetch,idle,rss) limits the parts."""
    unknown = ONLY - set(PARTS)
    if unknown or not ONLY:
        raise SystemExit(f"BENCH_IMAP_ONLY: choose from {', '.join(PARTS)} (got {sorted(unknown)})")
    _raise_fd_limit()
    messages = corpus(50)
    with posteingang_server() as (port, pid, lmtp_port):
        ours = asyncio.run(_measure(port, pid, messages, lmtp_port))
    theirs: dict[str, float] | None = None
    if dovecot_available():
        from posteingang.auth.passwords import hash_password

        dovecot_hash = "{ARGON2ID}" + hash_password(PASSWORD).split("}", 1)[1]
        with dovecot_server(dovecot_hash) as (dport, _):
            theirs = asyncio.run(_measure(dport, None, messages))

    def vs(key: str, unit: str, fmt: str = "{:.0f}") -> str:
        text = fmt.format(ours[key]) + unit
        if theirs is None:
            return text + " (Dovecot not installed)"
        return (
            f"{text} vs Dovecot {fmt.format(theirs[key])}{unit} ({_ratio(ours[key], theirs[key])})"
        )

    rows: list[tuple[str, str, str]] = []
    if "mix" in ONLY:
        rows += [
            (f"IMAP command mix, {CLIENTS} clients logged in, cmd/s", vs("steady", ""),
             "≥ 1.0× Dovecot"),
            (f"IMAP LOGIN+SELECT+FETCH+LOGOUT rounds, {CLIENTS} clients (argon2id), cmd/s",
             vs("login", ""), "≥ 1.5× Dovecot"),
        ]  # fmt: skip
    if "fetch" in ONLY:
        rows.append(
            (f"FETCH 1:* BODY.PEEK[] of {COUNT:,} messages ({ours['mb']:.0f} MB)",
             vs("mb_s", " MB/s"), "≥ 0.8× Dovecot (~270 MB/s)")
        )  # fmt: skip
    if "idle" in ONLY:
        for name, result in (("posteingang", ours), ("Dovecot", theirs)):
            if result is not None:  # when the client read the EXISTS (not tabled)
                print(f"IDLE {IDLERS}, {name}: kernel receive first {result['first']:.1f} ms "
                      f"p50 {result['p50']:.1f} ms "
                      f"p99 {result['p99']:.1f} ms; client read p50 {result['read_p50']:.1f} ms "
                      f"p99 {result['read_p99']:.1f} ms", file=sys.stderr)  # fmt: skip
        rows += [
            (f"IDLE {IDLERS:,} sessions, APPEND → EXISTS p50", vs("p50", " ms", "{:.1f}"), "—"),
            (f"IDLE {IDLERS:,} sessions, APPEND → EXISTS p99", vs("p99", " ms", "{:.1f}"),
             "≤ 50 ms"),
            (f"IDLE {IDLERS:,} sessions, LMTP delivery by another process → EXISTS p50 / p99",
             f"{ours['lmtp_p50']:.1f} / {ours['lmtp_p99']:.1f} ms", "≤ 50 ms (p99)"),
        ]  # fmt: skip
    if "rss" in ONLY:
        rows.append(
            (f"RSS per idle logged-in connection ({RSS_CONNECTIONS:,} connections)",
             f"{ours['rss']:.1f} KiB", "≤ 30 KiB")
        )  # fmt: skip
    return rows


if __name__ == "__main__":
    if sys.argv[1:2] == ["--lmtp-worker"]:
        _serve_lmtp_worker(sys.argv[2])
    else:
        for row in main():
            print(" | ".join(row))
