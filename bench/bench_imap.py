"""IMAP: a command mix, logins, bulk FETCH, IDLE latency and memory, beside Dovecot.

Measured against Debian's Dovecot (skipped when not installed) with the same
messages, the same password hash (argon2id with our parameters, which Dovecot
verifies natively) and the same client code, over loopback:

* commands/s of a weighted mix (LIST, STATUS, SELECT, FETCH flags / envelope /
  bodystructure / a body, STORE, APPEND, EXPUNGE) on `CLIENTS` connections that
  stay logged in, and with LOGIN / SELECT / FETCH / LOGOUT per round;
* bulk ``FETCH 1:* BODY.PEEK[]`` of `COUNT` messages in MB/s;
* IDLE: `IDLERS` sessions idle on one mailbox; another connection APPENDs; the
  time from sending the APPEND to each idler's EXISTS, p50 and p99;
* RSS per idle authenticated connection (ours: the server process's VmRSS growth
  over `RSS_CONNECTIONS` logged-in connections, divided by their number).

Each server runs in its own process (ours in a child Python process, so the
client never competes with it for the GIL). Environment: BENCH_IMAP_COUNT,
BENCH_IMAP_IDLERS (the issue's 1,000), BENCH_IMAP_RSS_CONNECTIONS (10,000),
BENCH_IMAP_SECONDS.

Run: ``python -m bench.bench_imap``; `main()` returns the rows for `python -m bench`.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import pwd
import random
import re
import resource
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
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
IDLERS = int(os.environ.get("BENCH_IMAP_IDLERS", "200"))
RSS_CONNECTIONS = int(os.environ.get("BENCH_IMAP_RSS_CONNECTIONS", "2000"))
USER = "bench@example.test"
PASSWORD = "bench password 1"
CORPUS = Path("/work/shared/corpus/bench.mbox")
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


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# -- a small IMAP client ------------------------------------------------------------------


class Client:
    """Just enough IMAP for the benchmark: tagged commands, literals, IDLE."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.n = 0
        self.received = 0

    @classmethod
    async def connect(cls, port: int) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        c = cls(reader, writer)
        await c.reader.readline()
        return c

    async def response(self) -> bytes:
        """One response, literals included (their octets are counted, not kept)."""
        line = await self.reader.readline()
        if not line:
            raise EOFError
        self.received += len(line)
        while (m := _LITERAL.search(line)) is not None:
            size = int(m[1])
            while size:
                chunk = await self.reader.read(min(size, 1 << 20))
                if not chunk:
                    raise EOFError
                size -= len(chunk)
                self.received += len(chunk)
            line = await self.reader.readline()
            self.received += len(line)
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
    best = 0.0
    octets = 0
    for _ in range(3):
        c.received = 0
        start = time.perf_counter()
        await c.cmd("FETCH 1:* BODY.PEEK[]")
        seconds = time.perf_counter() - start
        octets = c.received
        best = max(best, octets / 1e6 / seconds)
    await c.close()
    return best, octets


async def idle_latency(port: int, idlers: int, rounds: int = 5) -> tuple[float, float]:
    """(p50, p99) in ms from sending an APPEND to each idler's EXISTS."""
    sessions = []
    for _ in range(idlers):
        c = await Client.connect(port)
        await c.login()
        await c.cmd("SELECT Idle")
        sessions.append(c)
    writer = await Client.connect(port)
    await writer.login()
    latencies: list[float] = []
    for r in range(rounds):
        for c in sessions:
            c.writer.write(b"i IDLE\r\n")
        for c in sessions:
            while not (await c.response()).startswith(b"+"):
                pass
        await asyncio.sleep(0.2)
        sent = time.perf_counter()

        waiters = [asyncio.ensure_future(_wait_exists(c, sent)) for c in sessions]
        await writer.cmd("APPEND Idle", b"Subject: idle %d\r\n\r\nhello\r\n" % r)
        latencies.extend(await asyncio.gather(*waiters))
        for c in sessions:
            c.writer.write(b"DONE\r\n")
        for c in sessions:
            while not (await c.response()).startswith(b"i "):
                pass
    for c in [*sessions, writer]:
        await c.close()
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    return p50, p99


async def _wait_exists(c: Client, sent: float) -> float:
    while not (await c.response()).endswith(b"EXISTS\r\n"):
        pass
    return time.perf_counter() - sent


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
        for name, count in (("INBOX", COUNT), ("Load", LOAD_COUNT)):
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
            account_limits=AccountLimits(1_000_000),
        )  # fmt: skip
        queue.put((server.ports[0], os.getpid()))
        await asyncio.to_thread(stop.wait)  # type: ignore[attr-defined]
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
def posteingang_server() -> Iterator[tuple[int, int]]:
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

_DOVECOT_CONF = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
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
    binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
    root = Path(tempfile.mkdtemp(prefix="dovecot-imap-"))
    mail = Path(tempfile.mkdtemp(prefix="dovecot-imap-mail-"))
    for sub in ("run", "state"):
        (root / sub).mkdir()
    uid, gid = os.getuid(), os.getgid()
    if uid == 0:  # Dovecot refuses to access mail as root
        nobody = pwd.getpwnam("nobody")
        uid, gid = nobody.pw_uid, nobody.pw_gid
    base = mail / USER
    for folder, count in (("", COUNT), (".Load", LOAD_COUNT), (".Idle", 0)):
        box = base / folder if folder else base
        for sub in ("cur", "new", "tmp"):
            (box / sub).mkdir(parents=True)
        for i, raw in enumerate(corpus(count)):
            (box / "cur" / f"{1_700_000_000 + i}.M{i}P1.bench:2,").write_bytes(raw)
    (mail / "passwd").write_text(f"{USER}:{password_hash}\n")
    for path in [mail, *mail.rglob("*")]:
        os.chown(path, uid, gid)
    os.chmod(mail, 0o755)
    port = common.free_port()
    conf = root / "dovecot.conf"
    conf.write_text(_DOVECOT_CONF.format(root=root, mail=mail, port=port, uid=uid, gid=gid))
    proc = subprocess.Popen([binary, "-F", "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    if s.recv(100).startswith(b"* OK"):
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("dovecot did not start")
            time.sleep(0.05)
        yield port, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(mail, ignore_errors=True)


# -- the runner ---------------------------------------------------------------------------


async def _measure(port: int, pid: int | None, messages: list[bytes]) -> dict[str, float]:
    warm = await Client.connect(port)  # Dovecot builds its indexes, we warm caches
    await warm.login()
    for box in ("INBOX", "Load", "Idle"):
        await warm.cmd(f"SELECT {box}")
        await warm.cmd("FETCH 1:* (FLAGS ENVELOPE BODYSTRUCTURE)") if box != "Idle" else None
    await warm.close()
    out: dict[str, float] = {}
    out["steady"], out["login"] = await command_rates(port, messages)
    out["mb_s"], octets = await bulk_fetch(port)
    out["mb"] = octets / 1e6
    out["p50"], out["p99"] = await idle_latency(port, IDLERS)
    if pid is not None:
        out["rss"] = await rss_per_connection(port, pid, RSS_CONNECTIONS)
    return out


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b else "n/a"


def main() -> list[tuple[str, str, str]]:
    _raise_fd_limit()
    messages = corpus(50)
    with posteingang_server() as (port, pid):
        ours = asyncio.run(_measure(port, pid, messages))
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

    return [
        (f"IMAP command mix, {CLIENTS} clients logged in, cmd/s", vs("steady", ""),
         "≥ 1.0× Dovecot"),
        (
            f"IMAP LOGIN+SELECT+FETCH+LOGOUT rounds, {CLIENTS} clients (argon2id), cmd/s",
            vs("login", ""),
            "≥ 1.5× Dovecot",
        ),
        (f"FETCH 1:* BODY.PEEK[] of {COUNT:,} messages ({ours['mb']:.0f} MB)", vs("mb_s", " MB/s"),
         "≥ 0.8× Dovecot (~270 MB/s)"),
        (f"IDLE {IDLERS} sessions, APPEND → EXISTS p50", vs("p50", " ms", "{:.1f}"), "—"),
        (f"IDLE {IDLERS} sessions, APPEND → EXISTS p99", vs("p99", " ms", "{:.1f}"), "≤ 50 ms"),
        (f"RSS per idle logged-in connection ({RSS_CONNECTIONS:,} connections)",
         f"{ours['rss']:.1f} KiB", "≤ 30 KiB"),
    ]  # fmt: skip


if __name__ == "__main__":
    for row in main():
        print(" | ".join(row))
