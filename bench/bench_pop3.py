"""POP3: bulk download of a 5,000-message maildrop with pipelined RETR, and logins/s.

Both measured side by side against Debian's Dovecot POP3 (skipped when
`dovecot` or its pop3 binary is missing), with the same messages and the same
password hash (argon2id with our parameters, which Dovecot verifies natively),
from the same client code, over loopback. Target: >= 1.0x Dovecot (issue 12),
in MB/s and in server CPU per message (utime+stime from /proc, which a loaded
machine disturbs far less than the wall clock).

Each server runs in its own process (our server in a child Python process, so
the client's parsing never competes with it for the GIL). Before timing, one
login per server warms caches (Dovecot indexes the Maildir, we compute the
POP3 sizes): the measurement is the steady state a client meets.

Run: ``python -m bench pop3`` (or ``python -m bench.bench_pop3``).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

try:
    from bench import common
except ImportError:  # run as a script: python bench/bench_x.py
    import common  # type: ignore[no-redef]

COUNT = int(os.environ.get("BENCH_POP3_COUNT", "5000"))
USER = "bench@example.test"
PASSWORD = "bench password 1"
CORPUS_GEN = Path("/work/shared/corpus/gen_corpus.py")
LOGIN_SECONDS = 4.0
LOGIN_CLIENTS = 4
# One account per login client: two sessions of one maildrop would get [IN-USE].
LOGIN_USERS = [f"login{k}@example.test" for k in range(LOGIN_CLIENTS)]


# -- the corpus ---------------------------------------------------------------------------


def corpus(count: int) -> list[bytes]:
    """`count` realistic messages (generated once, cached in the temp directory)."""
    cache = Path(tempfile.gettempdir()) / f"posteingang-bench-pop3-{count}"
    if not cache.exists() or len(list(cache.iterdir())) < count:
        if CORPUS_GEN.exists():
            tmp = Path(tempfile.mkdtemp(prefix="pop3corpus-"))
            subprocess.run(
                [sys.executable, str(CORPUS_GEN), "--count", str(count), "--seed", "5",
                 "--eml-dir", str(tmp)],
                check=True, capture_output=True,
            )  # fmt: skip
            shutil.rmtree(cache, ignore_errors=True)
            tmp.rename(cache)
        else:  # a plain fallback so the benchmark runs anywhere
            cache.mkdir(exist_ok=True)
            for i in range(count):
                body = "".join(f"line {j} of message {i}\n" for j in range(200))
                text = f"From: a{i}@example.org\nSubject: m{i}\n\n{body}"
                (cache / f"{i:05d}.eml").write_text(text)
    files = sorted(cache.iterdir())[:count]
    return [f.read_bytes() for f in files]


# -- the client (same code for both servers) ------------------------------------------------


def _read_status(f: socket.SocketIO | object) -> bytes:
    line: bytes = f.readline()  # type: ignore[attr-defined]
    if not line.startswith(b"+OK"):
        raise RuntimeError(f"unexpected reply {line!r}")
    return line


def _login(port: int, user: str = USER) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = sock.makefile("rb")
    _read_status(f)
    sock.sendall(f"USER {user}\r\nPASS {PASSWORD}\r\n".encode())
    _read_status(f)
    _read_status(f)
    f.close()
    return sock


def download_all(port: int, count: int) -> tuple[int, float]:
    """Pipelined RETR 1..count; returns (octets received, seconds)."""
    sock = _login(port)
    commands = b"".join(f"RETR {i}\r\n".encode() for i in range(1, count + 1))

    def send() -> None:
        sock.sendall(commands)

    start = time.perf_counter()
    sender = threading.Thread(target=send)
    sender.start()
    received = 0
    seen = 0
    tail = b""
    terminator = b"\r\n.\r\n"
    while seen < count:
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise RuntimeError("server closed early")
        received += len(chunk)
        data = tail + chunk
        seen += data.count(terminator)
        tail = data[-4:]
    elapsed = time.perf_counter() - start
    sender.join()
    sock.sendall(b"QUIT\r\n")
    sock.close()
    return received, elapsed


def logins_per_second(port: int, seconds: float = LOGIN_SECONDS) -> float:
    """USER/PASS/QUIT as fast as `LOGIN_CLIENTS` parallel clients can."""
    stop = time.perf_counter() + seconds

    def worker(user: str) -> int:
        done = 0
        while time.perf_counter() < stop:
            sock = _login(port, user)
            f = sock.makefile("rb")
            sock.sendall(b"QUIT\r\n")
            f.readline()
            f.close()
            sock.close()
            done += 1
        return done

    start = time.perf_counter()
    with ThreadPoolExecutor(LOGIN_CLIENTS) as pool:
        total = sum(pool.map(worker, LOGIN_USERS))
    return total / (time.perf_counter() - start)


def warm_up(port: int) -> None:
    """One login per account: sizes / index / SCRAM derivation happen here, not in timing."""
    for user in [USER, *LOGIN_USERS]:
        s = _login(port, user)
        s.sendall(b"STAT\r\nQUIT\r\n")
        s.recv(100)
        s.close()


def best_of(
    rounds: int, servers: dict[str, tuple[int, int]], count: int
) -> dict[str, dict[str, float]]:
    """Alternate between the servers (name: (port, pid)) `rounds` times; keep each one's best.

    The machine is shared (other test runs, other benchmarks): alternating and
    keeping the best is the fairest comparison a noisy host allows. Beside the
    wall-clock rate, the server's own CPU time per downloaded message (utime +
    stime of the server process and its children, from /proc) is kept: it does
    not depend on how busy the rest of the machine is.
    """
    best: dict[str, dict[str, float]] = {
        name: {"mb_s": 0.0, "logins_s": 0.0, "cpu_us": float("inf")} for name in servers
    }
    for port, _ in servers.values():
        warm_up(port)
    for _ in range(rounds):
        for name, (port, pid) in servers.items():
            cpu = common.tree_cpu_seconds(pid)
            octets, elapsed = download_all(port, count)
            time.sleep(0.2)  # Dovecot's pop3 process ends after QUIT: count it reaped
            used = common.tree_cpu_seconds(pid) - cpu
            best[name]["mb_s"] = max(best[name]["mb_s"], octets / elapsed / 1e6)
            best[name]["cpu_us"] = min(best[name]["cpu_us"], used / count * 1e6)
            best[name]["logins_s"] = max(best[name]["logins_s"], logins_per_second(port))
    return best


# -- posteingang, in a child process ---------------------------------------------------------


def _serve_posteingang(root: str, port_queue: multiprocessing.Queue, stop_event: object) -> None:
    from posteingang.auth.passwords import hash_password
    from posteingang.delivery.ingest import prepare_message
    from posteingang.log import configure_logging
    from posteingang.net.settings import ListenerSettings, TlsMode
    from posteingang.pop3.policy import Pop3Settings
    from posteingang.pop3.server import start_server
    from posteingang.pop3.services import Pop3Services
    from posteingang.store.blobs.fs import FsBlobStore
    from posteingang.store.sqlite.store import SqliteStore

    try:
        configure_logging(level="error")
    except Exception:
        pass

    async def main() -> None:
        data = Path(root)
        store = await SqliteStore.open(data / "s.sqlite3", FsBlobStore(data / "blobs", fsync=False))
        await store.add_domain("example.test")
        account = await store.create_account(USER, hash_password(PASSWORD))
        inbox = await store.get_mailbox(account.id, "INBOX")
        assert inbox is not None
        for user in LOGIN_USERS:
            await store.create_account(user, account.password_hash)
        batch = []
        for raw in corpus(COUNT):
            batch.append(await prepare_message(store, raw))
            if len(batch) == 500:
                await store.append_many(inbox.id, batch)
                batch = []
        if batch:
            await store.append_many(inbox.id, batch)
        listener = ListenerSettings(protocol="POP3", host="127.0.0.1", port=0, tls=TlsMode.NONE,
                                    max_connections_per_ip=1000)  # fmt: skip
        services = Pop3Services(store, Pop3Settings(hostname="localhost"))
        server = await start_server(services, tls=None, listeners=[listener],
                                    retention_interval=None)  # fmt: skip
        port_queue.put(server.ports[0])
        # A multiprocessing Event cannot be awaited: wait for it in a thread.
        await asyncio.to_thread(stop_event.wait)  # type: ignore[attr-defined]
        await server.stop(1)
        await store.close()

    asyncio.run(main())


@contextmanager
def posteingang_server() -> Iterator[tuple[int, int]]:
    """(port, pid) of our POP3 server in a child process."""
    ctx = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue = ctx.Queue()
    stop = ctx.Event()
    with tempfile.TemporaryDirectory() as root:
        proc = ctx.Process(target=_serve_posteingang, args=(root, queue, stop))
        proc.start()
        try:
            port = queue.get(timeout=600)
            assert proc.pid is not None
            yield port, proc.pid
        finally:
            stop.set()
            proc.join(30)
            if proc.is_alive():
                proc.kill()


# -- Dovecot -----------------------------------------------------------------------------------

# The protocol-specific part of dovecot.conf (common.dovecot writes the directories,
# `protocols` and `listen` lines before it).
_DOVECOT_CONF = """\
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
first_valid_uid = 0
first_valid_gid = 0
mail_location = maildir:{mail}/%u
mail_fsync = never
pop3_uidl_format = %08Xu%08Xv
passdb {{
  driver = passwd-file
  args = username_format=%u {mail}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={mail}/home/%u
}}
service pop3-login {{
  chroot =
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
service submission-login {{
  chroot =
}}
"""


def dovecot_available() -> bool:
    return common.dovecot_available("pop3")


@contextmanager
def dovecot_server(messages: list[bytes], password_hash: str) -> Iterator[tuple[int, int]]:
    """(port, pid of the dovecot master) of a private Dovecot serving `messages`."""

    def populate(mail: Path) -> None:
        maildir = mail / USER
        for sub in ("cur", "new", "tmp"):
            (maildir / sub).mkdir(parents=True)
        for i, raw in enumerate(messages):
            (maildir / "cur" / f"{1_700_000_000 + i}.M{i}P1.bench:2,").write_bytes(raw)
        passwd = "".join(f"{u}:{password_hash}\n" for u in [USER, *LOGIN_USERS])
        (mail / "passwd").write_text(passwd)

    with common.dovecot("pop3", _DOVECOT_CONF, b"+OK", populate) as server:
        yield server.port, server.pid


# -- the runner -------------------------------------------------------------------------------


def main() -> list[tuple[str, str, str]]:
    messages = corpus(COUNT)
    size_mb = sum(len(m) for m in messages) / 1e6
    rounds = int(os.environ.get("BENCH_POP3_ROUNDS", "3"))
    target = "≥ 1.0× Dovecot (issue 12)"
    label = f"POP3 pipelined RETR of {COUNT} messages ({size_mb:.0f} MB), best of {rounds}"
    cpu_label = f"POP3 RETR, server CPU per message (best of {rounds})"
    logins = f"POP3 USER/PASS/QUIT logins/s, {LOGIN_CLIENTS} clients (argon2id)"
    with posteingang_server() as server:
        if not dovecot_available():
            ours = best_of(rounds, {"ours": server}, COUNT)["ours"]
            return [
                (label, f"{ours['mb_s']:.0f} MB/s (Dovecot not installed)", target),
                (cpu_label, f"{ours['cpu_us']:.0f} µs (Dovecot not installed)", target),
                (logins, f"{ours['logins_s']:.0f} (Dovecot not installed)", target),
            ]
        from posteingang.auth.passwords import hash_password

        # Dovecot's own spelling of our argon2id hash: the same parameters, the same cost.
        dovecot_hash = "{ARGON2ID}" + hash_password(PASSWORD).split("}", 1)[1]
        with dovecot_server(messages, dovecot_hash) as dserver:
            best = best_of(rounds, {"ours": server, "dovecot": dserver}, COUNT)
    ours, theirs = best["ours"], best["dovecot"]
    return [
        (
            label,
            f"{ours['mb_s']:.0f} MB/s vs Dovecot {theirs['mb_s']:.0f} MB/s "
            f"({ours['mb_s'] / theirs['mb_s']:.2f}×)",
            target,
        ),
        (
            cpu_label,
            f"{ours['cpu_us']:.0f} µs vs Dovecot {theirs['cpu_us']:.0f} µs "
            f"({theirs['cpu_us'] / ours['cpu_us']:.2f}×)",
            target,
        ),
        (
            logins,
            f"{ours['logins_s']:.0f} vs Dovecot {theirs['logins_s']:.0f} "
            f"({ours['logins_s'] / theirs['logins_s']:.2f}×)",
            target,
        ),
    ]


if __name__ == "__main__":
    for row in main():
        print(" | ".join(row))
