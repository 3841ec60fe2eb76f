"""LMTP delivery rate against Dovecot's LMTP, and peak memory for one 50 MB message.

Targets (issue 4): with 10 concurrent senders delivering the shared corpus
(/work/shared/corpus/bench.mbox, 3,000 messages) over LMTP, messages/s at
least Dovecot's (``dovecot-lmtpd``) in the same run on the same machine; peak
RSS while receiving one 50 MB message at most 30 MB above idle.

Both servers run as separate processes on loopback and are driven by the
same asyncio client (this process): 10 connections, each delivering its share
of the corpus one transaction after another (MAIL, RCPT and DATA pipelined),
every message to one of 10 accounts.  Both servers fsync what they store
(posteingang: blob files and SQLite commits; Dovecot: ``mail_fsync =
optimized``, its default).  Messages are converted to CRLF and dot-stuffed.

Beside our own generator, Postfix's C load generator ``smtp-source`` (Debian's
``postfix`` package) delivers to the same running servers, as the issue ran it:
``smtp-source -L -s 10 -m 3000 -l 5000`` (LMTP, 10 sessions, 3,000 messages of
5,000 octets, all to one account).  Afterwards each server's store is counted; a
delivery acknowledged but not stored fails the benchmark.

    python -m bench lmtp            # rows for docs/benchmarks.md
    python bench/bench_lmtp.py      # the same, printed
    BENCH_LMTP_PROCESSES=1 python -m bench lmtp   # [smtp] processes = 1 (default 0)
    BENCH_LMTP_SEARCH_INDEX=0 python -m bench lmtp   # [store] search_index = false

The search index is on by default, as in a default install; it costs about 40 %
of our server CPU per message here (the FTS5 insert runs after the 250, in the
background indexer, but it is CPU all the same), and Dovecot without an FTS
plugin indexes nothing. With it off the rows say so. So that the index's work
after the 250s is not left out, each of our runs ends when the index has caught
up (its cursor in ``meta``), its rate and CPU are taken until then, and the
ratio's headline compares that with Dovecot's time to the last 250; the ratio
until our last 250 is given beside it.
    python bench/bench_lmtp.py --prepare DATA_DIR   # (internal) create the store
"""

from __future__ import annotations

import argparse
import asyncio
import mailbox
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

try:
    from bench import common
except ImportError:  # run as a script: python bench/bench_x.py
    import common  # type: ignore[no-redef]

CORPUS = Path("/work/shared/corpus/bench.mbox")
ROOT = Path(__file__).resolve().parent.parent
SENDERS = 10
ACCOUNTS = [f"user{i}@example.test" for i in range(10)]
#: Postfix's C load generator (Debian's postfix package), the issue's invocation
SMTP_SOURCE = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
SOURCE_MESSAGES = 3000
SOURCE_LENGTH = 5000
BIG = 50 * 1000 * 1000  # octets of the big message (under the 50 MiB default limit)
#: ``[smtp] processes`` of the server measured (BENCH_LMTP_PROCESSES; 0, the default
#: setting: one per core, at most 4)
PROCESSES = int(os.environ.get("BENCH_LMTP_PROCESSES", "0"))
#: ``[store] search_index`` of the server measured (BENCH_LMTP_SEARCH_INDEX; on by default)
SEARCH_INDEX = os.environ.get("BENCH_LMTP_SEARCH_INDEX", "1") != "0"


# ----------------------------------------------------------------------- corpus


def load_corpus(path: Path = CORPUS) -> list[bytes]:
    """The corpus messages with CRLF line ends, dot-stuffed for DATA."""
    out = []
    for msg in mailbox.mbox(str(path), create=False):
        raw = msg.as_bytes()
        raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        if not raw.endswith(b"\r\n"):
            raw += b"\r\n"
        if raw.startswith(b"."):
            raw = b"." + raw
        out.append(raw.replace(b"\r\n.", b"\r\n.."))
    return out


# ----------------------------------------------------------------------- client


async def _expect(reader: asyncio.StreamReader, count: int) -> list[bytes]:
    """Read ``count`` complete (possibly multiline) replies; return their last lines."""
    finals = []
    while len(finals) < count:
        line = await reader.readline()
        if not line:
            raise ConnectionError("server closed the connection")
        if line[3:4] != b"-":
            finals.append(line)
    return finals


async def _sender(port: int, messages: list[tuple[str, bytes]]) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await _expect(reader, 1)
    writer.write(b"LHLO bench.example\r\n")
    await _expect(reader, 1)
    delivered = 0
    for rcpt, raw in messages:
        writer.write(f"MAIL FROM:<bench@example.org>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n".encode())
        replies = await _expect(reader, 3)
        if not replies[2].startswith(b"354"):
            raise RuntimeError(f"DATA refused: {replies}")
        writer.write(raw)
        writer.write(b".\r\n")
        (final,) = await _expect(reader, 1)
        if not final.startswith(b"250"):
            raise RuntimeError(f"delivery failed: {final!r}")
        delivered += 1
    writer.write(b"QUIT\r\n")
    await writer.drain()
    writer.close()
    return delivered


async def deliver_corpus(port: int, corpus: list[bytes], senders: int = SENDERS) -> float:
    """Deliver every message once with ``senders`` connections; return the seconds taken."""
    shares: list[list[tuple[str, bytes]]] = [[] for _ in range(senders)]
    for i, raw in enumerate(corpus):
        shares[i % senders].append((ACCOUNTS[i % len(ACCOUNTS)], raw))
    start = time.perf_counter()
    counts = await asyncio.gather(*(_sender(port, share) for share in shares))
    elapsed = time.perf_counter() - start
    assert sum(counts) == len(corpus)
    return elapsed


# ------------------------------------------------------------------ our server


_CONFIG = """\
[server]
hostname = "bench.example.test"
data_dir = "{data}"
[store]
search_index = {search_index}
[log]
level = "info"
[smtp]
processes = {processes}
[[listener]]
protocol = "LMTP"
host = "127.0.0.1"
port = {port}
"""


def _prepare(data_dir: Path) -> None:
    """(Runs in a subprocess.) Create the store with the domain and the accounts."""
    sys.path.insert(0, str(ROOT / "src"))
    from posteingang.store.blobs.fs import FsBlobStore
    from posteingang.store.sqlite.store import SqliteStore

    async def main() -> None:
        store = await SqliteStore.open(data_dir / "store.sqlite3", FsBlobStore(data_dir / "blobs"))
        await store.add_domain("example.test")
        for address in ACCOUNTS:
            await store.create_account(address, "{PLAIN}x")
        await store.close()

    asyncio.run(main())


def start_ours(data_dir: Path, processes: int = 0) -> tuple[subprocess.Popen[str], int]:
    """``posteingang serve`` as a user runs it (``[smtp] processes``: 0 = one per core)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, __file__, "--prepare", str(data_dir)], check=True, cwd=ROOT)
    port = common.free_port()
    config = data_dir / "posteingang.toml"
    config.write_text(
        _CONFIG.format(
            data=data_dir,
            port=port,
            processes=processes,
            search_index="true" if SEARCH_INDEX else "false",
        )
    )
    # Logs at the default level go to a file, as Dovecot's do (one line per delivery).
    with open(data_dir / "posteingang.log", "ab") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "posteingang", "--config", str(config), "serve"],
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
            cwd=ROOT,
        )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == "ready":
            return proc, port
    proc.kill()
    raise RuntimeError("server did not start")


# -------------------------------------------------------------------- Dovecot


# The protocol-specific part of dovecot.conf (common.dovecot writes the directories,
# `protocols` and `listen` lines before it).
_DOVECOT_CONF = """\
ssl = no
first_valid_uid = 0
mail_location = maildir:{mail}/%n
passdb {{
  driver = static
  args = nopassword=y
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={mail}/home/%n allow_all_users=yes
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {port}
  }}
  unix_listener lmtp {{
    mode = 0600
  }}
}}
service anvil {{
  chroot =
}}
"""


def dovecot_available() -> bool:
    return common.dovecot_available("lmtp")


# ---------------------------------------------------------------- measurements


@dataclass(frozen=True)
class Timing:
    """One delivery run: seconds until the last message was acknowledged, seconds until
    the server had also finished the work it does after the 250 (our search index;
    the same as `seconds` for Dovecot, which indexes nothing), and the server's CPU
    seconds until then."""

    seconds: float
    settled: float
    cpu: float


def _settle(data_dir: Path | None, start: float) -> float:
    """Seconds from `start` until our store's search index has caught up (the indexer's
    cursor in ``meta`` is -1: sqlite/fulltext.py), so the CPU it spends after the 250s
    is counted; `start`'s offset at once for Dovecot (``data_dir`` None) or without the
    index."""
    if data_dir is not None and SEARCH_INDEX:
        deadline = time.monotonic() + 300
        uri = f"file:{data_dir / 'store.sqlite3'}?mode=ro"
        while time.monotonic() < deadline:
            with closing(sqlite3.connect(uri, uri=True)) as db:
                row = db.execute(
                    "SELECT value FROM meta WHERE key = 'fulltext_backfill'"
                ).fetchone()
            if row is not None and int(row[0]) == -1:
                break
            time.sleep(0.02)
        else:
            raise RuntimeError("the search index did not catch up within 300 s")
    return time.perf_counter() - start


def _timed(pid: int, port: int, corpus: list[bytes], data_dir: Path | None) -> Timing:
    """Deliver the corpus to the server at ``port`` (see `Timing`)."""
    cpu = common.tree_cpu_seconds(pid)
    start = time.perf_counter()
    seconds = asyncio.run(deliver_corpus(port, corpus))
    settled = _settle(data_dir, start)
    return Timing(seconds, settled, common.tree_cpu_seconds(pid) - cpu)


def smtp_source_available() -> bool:
    return os.access(SMTP_SOURCE, os.X_OK)


def _smtp_source(pid: int, port: int, data_dir: Path | None) -> Timing:
    """(seconds, server CPU seconds) for Postfix's smtp-source to deliver `SOURCE_MESSAGES`
    messages of `SOURCE_LENGTH` octets over LMTP with `SENDERS` sessions to ACCOUNTS[0]."""
    cpu = common.tree_cpu_seconds(pid)
    start = time.perf_counter()
    proc = subprocess.run(
        [SMTP_SOURCE, "-L", "-s", str(SENDERS), "-m", str(SOURCE_MESSAGES),
         "-l", str(SOURCE_LENGTH), "-f", "bench@example.org", "-t", ACCOUNTS[0],
         f"127.0.0.1:{port}"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    if proc.returncode != 0 or proc.stderr.strip():
        raise RuntimeError(f"smtp-source failed ({proc.returncode}): {proc.stderr[-500:]}")
    settled = _settle(data_dir, start)
    return Timing(seconds, settled, common.tree_cpu_seconds(pid) - cpu)


def _stored_ours(data_dir: Path) -> int:
    """Messages in our store (read-only: the server is running)."""
    with closing(sqlite3.connect(f"file:{data_dir / 'store.sqlite3'}?mode=ro", uri=True)) as db:
        return int(db.execute("SELECT count(*) FROM messages").fetchone()[0])


def _stored_dovecot(mail: Path) -> int:
    """Messages in Dovecot's maildirs (files in new/ and cur/)."""
    return sum(1 for p in mail.rglob("*") if p.is_file() and p.parent.name in ("new", "cur"))


def measure_rate(corpus: list[bytes]) -> dict[str, Timing]:
    """The `Timing` of delivering the corpus, keyed by server, and the same for
    smtp-source keyed ``"<server> smtp-source"``: ours, and Dovecot's when installed. Each
    server's store is counted afterwards: a delivery that was acknowledged and not stored
    fails the benchmark."""
    results: dict[str, Timing] = {}
    expected = len(corpus) + (SOURCE_MESSAGES if smtp_source_available() else 0)
    with tempfile.TemporaryDirectory(prefix="bench-lmtp-") as tmp:
        proc, port = start_ours(Path(tmp) / "data", processes=PROCESSES)
        try:
            data = Path(tmp) / "data"
            results["posteingang"] = _timed(proc.pid, port, corpus, data)
            if smtp_source_available():
                results["posteingang smtp-source"] = _smtp_source(proc.pid, port, data)
            if (stored := _stored_ours(Path(tmp) / "data")) != expected:
                raise RuntimeError(f"posteingang stored {stored} of {expected} messages")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    if dovecot_available():
        # A private Dovecot with only LMTP (as tests/dovecot_fixture.py).
        with common.dovecot("lmtp", _DOVECOT_CONF, b"220", timeout=15) as dc:
            results["dovecot"] = _timed(dc.pid, dc.port, corpus, None)
            if smtp_source_available():
                results["dovecot smtp-source"] = _smtp_source(dc.pid, dc.port, None)
            if (stored := _stored_dovecot(dc.mail)) != expected:
                raise RuntimeError(f"Dovecot stored {stored} of {expected} messages")
    return results


def _index_note(name: str) -> str:
    """What the row's server did besides delivering: ours without the search index
    says so (Dovecot, without an FTS plugin, never indexes)."""
    return " (search index off)" if name.startswith("posteingang") and not SEARCH_INDEX else ""


def _ratios(ours: Timing, dovecot: Timing) -> str:
    """Dovecot's time over ours: until our index had caught up too (the headline: the
    work after the 250 is capacity all the same), then until the last 250."""
    return (f"**{dovecot.settled / ours.settled:.2f}×** until indexed, "
            f"{dovecot.seconds / ours.seconds:.2f}× until the last 250")  # fmt: skip


def _settled_note(name: str, t: Timing) -> str:
    if name.startswith("posteingang") and SEARCH_INDEX:
        return f", indexed after {t.settled:.1f} s"
    return ""


def _source_row(times: dict[str, Timing]) -> tuple[str, str, str]:
    """The smtp-source row: seconds, msg/s and server CPU per message of each server."""
    parts = []
    for name in ("posteingang", "dovecot"):
        if (t := times.get(f"{name} smtp-source")) is not None:
            parts.append(f"{name}{_index_note(name)} {SOURCE_MESSAGES:,} in {t.seconds:.1f} s"
                         f"{_settled_note(name, t)} ({SOURCE_MESSAGES / t.settled:,.0f} msg/s,"
                         f" server CPU {t.cpu / SOURCE_MESSAGES * 1e6:,.0f} µs/msg)")  # fmt: skip
    text = " vs ".join(parts)
    if "dovecot smtp-source" in times:
        text += ": " + _ratios(times["posteingang smtp-source"], times["dovecot smtp-source"])
    what = (f"LMTP delivery with Postfix's smtp-source -L -s {SENDERS} -m {SOURCE_MESSAGES} "
            f"-l {SOURCE_LENGTH}")  # fmt: skip
    return what, text, "≥ 1.0× Dovecot"


def measure_big_message_rss() -> tuple[int, int]:
    """(idle RSS, peak RSS) in KiB of our server receiving one 50 MB message."""
    line = b"x" * 76 + b"\r\n"
    header = b"From: big@example.org\r\nSubject: big\r\n\r\n"
    body = header + line * ((BIG - len(header)) // len(line))
    with tempfile.TemporaryDirectory(prefix="bench-lmtp-rss-") as tmp:
        proc, port = start_ours(Path(tmp) / "data", processes=1)  # the one process receiving
        try:
            # one small delivery first, so the idle figure includes warm code paths
            asyncio.run(deliver_corpus(port, [header + b"warm up\r\n"], senders=1))
            time.sleep(0.5)
            idle = common.proc_status_kib(proc.pid)
            asyncio.run(deliver_corpus(port, [body], senders=1))
            peak = common.proc_status_kib(proc.pid, "VmHWM")
        finally:
            proc.kill()
            proc.wait()
    return idle, peak


def main() -> list[tuple[str, str, str]]:
    corpus = load_corpus()
    megabytes = sum(len(m) for m in corpus) / 1e6
    times = measure_rate(corpus)
    rows = []
    for name, t in times.items():
        if name.endswith("smtp-source"):
            continue
        rows.append(
            (
                f"LMTP delivery, {name}{_index_note(name)}, {SENDERS} senders, {len(corpus)} msgs",
                f"{len(corpus) / t.settled:,.0f} msg/s, {megabytes / t.settled:.1f} MB/s"
                f" (last 250 after {t.seconds:.1f} s{_settled_note(name, t)};"
                f" server CPU {t.cpu / len(corpus) * 1e6:,.0f} µs/msg)",
                "≥ 1.0× Dovecot" if name == "posteingang" else "reference",
            )
        )
    if "dovecot" in times:
        ratio = _ratios(times["posteingang"], times["dovecot"])
        rows.append(("LMTP delivery rate, posteingang / Dovecot", ratio, "≥ 1.0×"))
    if "posteingang smtp-source" in times:
        rows.append(_source_row(times))
    idle, peak = measure_big_message_rss()
    above, idle_mb, peak_mb = (peak - idle) / 1024, idle / 1024, peak / 1024
    rows.append(
        (
            "Peak RSS receiving one 50 MB message over LMTP",
            f"+{above:.0f} MB (idle {idle_mb:.0f} MB, peak {peak_mb:.0f} MB)",
            "≤ +30 MB",
        )
    )
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prepare", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare is not None:
        _prepare(args.prepare)
    else:
        for row in main():
            print(" | ".join(row))
