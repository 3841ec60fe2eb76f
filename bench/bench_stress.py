"""IMAP stress on many accounts (the imaptest mix), posteingang beside Dovecot, checked.

A provider's load is many accounts with a few clients each, not eight clients on one
mailbox (`bench_imap.py`'s mix, which is the workload where Dovecot is slowest). This
benchmark reproduces the stress mix of Dovecot's own load generator, imaptest, with
its defaults: `CLIENTS` connections, each logged into one of `ACCOUNTS` accounts
(chosen at random per connection), each running imaptest's state sequence with its
default probabilities:

    LIST "" * (50 %), STATUS INBOX (MESSAGES UNSEEN RECENT) (50 %), SELECT INBOX (once
    per connection), FETCH of up to 100 random messages with 1-4 random items of UID,
    FLAGS, ENVELOPE, INTERNALDATE, BODY, BODYSTRUCTURE, RFC822.SIZE and
    BODY.PEEK[HEADER.FIELDS (1-4 of From To Cc Subject References In-Reply-To
    Message-ID Delivered-To)] (100 %), FETCH of one message's UID and one of
    BODY.PEEK[HEADER], RFC822.HEADER, BODY.PEEK[], BODY.PEEK[1], BODY.PEEK[TEXT]
    (100 %, again 30 %), STORE of flags (50 %), STORE +FLAGS \\Deleted (100 %),
    EXPUNGE (100 %), APPEND of a corpus message while the mailbox has fewer than
    30 messages (100 %, again 5 %), LOGOUT (100 % or, "staying logged in", 0 %).

The mailboxes start with `SEEDED` messages each from the shared corpus
(/work/shared/corpus/bench.mbox), appended over IMAP by this program on both servers.
Differences from imaptest: no pipelining (one command at a time per connection), STORE
uses +FLAGS/-FLAGS (never a replacing FLAGS, so that clients sharing an account cannot
clear each other's flags), and every connection has its own two keywords.

Every response is checked; a wrong answer is an error, not a result:

* every tagged reply is OK (a FETCH or STORE may say NO only for a message another
  session expunged; those are counted apart and not as commands);
* the session's view (EXISTS, EXPUNGE) stays coherent: sequence numbers in range, a
  sequence number keeps its UID until an EXPUNGE, UIDs ascend with sequence numbers;
* every requested message gets every requested item;
* BODY[], RFC822.SIZE, BODY[HEADER], RFC822.HEADER, BODY[TEXT] and
  BODY[HEADER.FIELDS (...)] equal what was appended (the UID of each append is
  known from APPENDUID); ENVELOPE, BODYSTRUCTURE, BODY and BODY[1] are the same
  every time for the same message, INTERNALDATE for the same UID;
* a STORE's FETCH shows the change; a connection's own keywords read back as that
  connection left them; after the connection's EXPUNGE no message it marked
  \\Deleted is left (each of these three may also mean that another session expunged
  the message: then it must be reported expunged by the end of the next EXPUNGE
  command, and it is counted as a race, otherwise as an error);
* APPENDUID never repeats a UID; SELECT keeps UIDVALIDITY and reports a UIDNEXT above
  every UID appended before it; STATUS counts are coherent; LIST shows INBOX.
* after the timed run, with every client quiet, each open session sends NOOP and then
  FETCH 1:* (UID FLAGS): the flags of every message must be what the server told that
  session before (its own silent STOREs applied), as a client's cache would hold them;
  a session that was never told of another session's change fails this.

Also measured: Dovecot's LOGIN/LOGOUT run once more with its passwords stored as
{PLAIN}, because posteingang remembers a successful argon2id check (its login cache,
on by default) and Dovecot's auth cache does not spare the argon2id verification.

Measured per server: commands/s (tagged OK replies, LOGIN and LOGOUT included, as
imaptest counts), server CPU per command (utime+stime from /proc/<pid>/stat of the
server process and every descendant, reaped children included: Dovecot's imap and
auth processes, posteingang's workers), and the errors.

With ``IMAPTEST=/path/to/imaptest`` the same two runs are also made with imaptest as
the load generator (its own checks; its error lines are counted).

Environment: BENCH_STRESS_SECONDS (10 per run), BENCH_STRESS_CLIENTS (10),
BENCH_STRESS_ACCOUNTS (20), BENCH_STRESS_ONLY (``posteingang`` or ``dovecot``),
BENCH_STRESS_PROCESSES (posteingang's ``[imap] processes``; unset: its default),
BENCH_STRESS_TRACE (a file: each error with the session's last 40 commands and
responses), BENCH_STRESS_PROFILE (a directory: after the measured runs, both runs again
on posteingang under py-spy, see `profiled`), IMAPTEST.

Run: ``python -m bench.bench_stress``; ``python -m bench stress`` records the rows.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

try:
    from bench import common
    from bench.stress_client import (
        ACCOUNTS,
        CLIENTS,
        DOMAIN,
        PASSWORD,
        THRESHOLD,
        Account,
        Run,
        address,
        seed,
        worker,
    )
    from bench.stress_proto import CORPUS, Expected, Wrong, load_corpus
except ImportError:  # run as a script: python bench/bench_x.py
    import common  # type: ignore[no-redef]
    from stress_client import (  # type: ignore[no-redef]
        ACCOUNTS,
        CLIENTS,
        DOMAIN,
        PASSWORD,
        THRESHOLD,
        Account,
        Run,
        address,
        seed,
        worker,
    )
    from stress_proto import CORPUS, Expected, Wrong, load_corpus  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
SECONDS = float(os.environ.get("BENCH_STRESS_SECONDS", "10"))
PROCESSES = os.environ.get("BENCH_STRESS_PROCESSES", "")
ONLY = os.environ.get("BENCH_STRESS_ONLY", "")


@dataclass
class Result:
    commands: int
    seconds: float
    cpu: float
    errors: int
    samples: list[str]
    races: int = 0
    verified: int = 0
    client_cpu: float = 0.0  # the load generator's own CPU seconds

    @property
    def rate(self) -> float:
        return self.commands / self.seconds

    @property
    def cpu_per_command_us(self) -> float:
        return self.cpu / max(1, self.commands) * 1e6


async def stress(run: Run, port: int, pid: int, logout: bool) -> Result:
    """One timed run; then, with every client quiet, each open session's final check."""
    before = (run.commands, run.errors, run.expunged_races, run.verified)
    cpu = common.tree_cpu_seconds(pid)
    client = time.process_time()
    start = time.perf_counter()
    deadline = start + SECONDS
    sessions = await asyncio.gather(
        *(worker(run, port, k, deadline, logout) for k in range(CLIENTS))
    )
    seconds = time.perf_counter() - start
    cpu = common.tree_cpu_seconds(pid) - cpu
    client = time.process_time() - client
    commands, verified = run.commands - before[0], run.verified - before[3]
    for s in sessions:
        if s is not None:
            try:
                await s.final_check()
            except (Wrong, EOFError, OSError) as e:
                run.error(f"final check: {e}")
            s.conn.close()
    samples, run.samples = run.samples, []
    return Result(commands, seconds, cpu, run.errors - before[1], samples,
                  run.expunged_races - before[2], verified, client)  # fmt: skip


def measure(
    port: int, pid: int, corpus: list[Expected], passwd: Path | None = None
) -> dict[str, Result]:
    """Seed, then the runs staying logged in and with LOGIN/LOGOUT; with `passwd` (Dovecot's
    passwd-file) the LOGIN/LOGOUT run once more with the password stored as {PLAIN}."""
    run = Run(corpus, {a: Account() for a in range(1, ACCOUNTS + 1)})
    asyncio.run(seed(run, port))
    out = {}
    for name, logout in (("steady", False), ("logout", True)):
        out[name] = asyncio.run(stress(run, port, pid, logout))
        print(f"  {name}: {out[name]}", file=sys.stderr, flush=True)
    out.update(imaptest_runs("dovecot" if passwd else "posteingang", port, pid))
    if passwd is None and PROFILE:
        for name, logout in (("steady", False), ("logout", True)):
            with profiled(pid, name):
                res = asyncio.run(stress(run, port, pid, logout))
            print(f"  {name}, profiled: {res}", file=sys.stderr, flush=True)
    if passwd is not None:
        argon2 = passwd.read_text()
        passwd.write_text(
            "".join(f"{address(n)}:{{PLAIN}}{PASSWORD}\n" for n in range(1, ACCOUNTS + 1))
        )
        time.sleep(1.1)  # Dovecot re-reads a passwd-file whose mtime changed
        out["logout plain"] = asyncio.run(stress(run, port, pid, True))
        print(f"  logout plain: {out['logout plain']}", file=sys.stderr, flush=True)
        passwd.write_text(argon2)
    return out


# -- imaptest as the load generator -----------------------------------------------------


def imaptest_binary() -> str | None:
    path = os.environ.get("IMAPTEST", "")
    return path if path and os.access(path, os.X_OK) else None


def imaptest_runs(label: str, port: int, pid: int) -> dict[str, Result]:
    """The same two runs with imaptest (IMAPTEST=path), when it is there; its output is
    kept in the temp dir for reading its error messages."""
    binary = imaptest_binary()
    if binary is None:
        return {}
    out = {}
    for name, logout in (("imaptest steady", "0"), ("imaptest logout", "100")):
        cpu = common.tree_cpu_seconds(pid)
        start = time.perf_counter()
        proc = subprocess.run(
            [binary, "host=127.0.0.1", f"port={port}", f"user=stress%d@{DOMAIN}",
             f"pass={PASSWORD}", f"users={ACCOUNTS}", f"clients={CLIENTS}",
             f"secs={int(SECONDS)}", f"mbox={CORPUS}", f"msgs={THRESHOLD}", f"logout={logout}"],
            capture_output=True, encoding="utf-8", errors="replace", timeout=SECONDS + 60,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        used = common.tree_cpu_seconds(pid) - cpu
        log = Path(tempfile.gettempdir()) / f"bench-stress-{label}-{name.replace(' ', '-')}.txt"
        log.write_text(proc.stdout + proc.stderr)
        print(f"  imaptest's output: {log}", file=sys.stderr)
        commands, errors, samples = parse_imaptest(proc.stdout + proc.stderr)
        out[name] = Result(commands, min(seconds, SECONDS), used, errors, samples)
        print(f"  {name}: {out[name]}", file=sys.stderr, flush=True)
    return out


def parse_imaptest(text: str) -> tuple[int, int, list[str]]:
    """(commands, errors, error samples) from imaptest's output: the first all-numbers
    line after ``Totals:`` holds the counts per state (OK replies)."""
    lines = text.splitlines()
    commands = 0
    if "Totals:" in lines:
        for line in lines[lines.index("Totals:") + 1 :]:
            if line.split() and all(x.isdigit() for x in line.split()):
                commands = sum(int(x) for x in line.split())
                break
    errors = [ln for ln in lines if "Error:" in ln or "error:" in ln or "Panic:" in ln]
    return commands, len(errors), errors[:8]


# -- the servers ------------------------------------------------------------------------

_CONFIG = """\
[server]
hostname = "bench.example.test"
data_dir = "{data}"
[log]
level = "warning"
[[listener]]
protocol = "IMAP"
host = "127.0.0.1"
port = {port}
"""


def _prepare(data_dir: Path) -> None:
    """(A subprocess.) The store with the domain and the accounts (argon2id)."""
    from posteingang.auth.passwords import hash_password
    from posteingang.store.blobs.fs import FsBlobStore
    from posteingang.store.sqlite.store import SqliteStore

    async def main() -> None:
        store = await SqliteStore.open(data_dir / "store.sqlite3", FsBlobStore(data_dir / "blobs"))
        await store.add_domain(DOMAIN)
        hashed = hash_password(PASSWORD)
        for n in range(1, ACCOUNTS + 1):
            await store.create_account(address(n), hashed)
        await store.close()

    asyncio.run(main())


@contextmanager
def posteingang_server() -> Iterator[tuple[int, int]]:
    """``posteingang serve`` as a user runs it, with defaults: (port, pid)."""
    with tempfile.TemporaryDirectory(prefix="bench-stress-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        subprocess.run([sys.executable, __file__, "--prepare", str(data)], check=True, cwd=ROOT)
        port = common.free_port()
        config = data / "posteingang.toml"
        text = _CONFIG.format(data=data, port=port)
        if PROCESSES:
            text += f"[imap]\nprocesses = {int(PROCESSES)}\n"
        config.write_text(text)
        with open(data / "posteingang.log", "ab") as log_file:
            proc = subprocess.Popen(
                [sys.executable, "-m", "posteingang", "--config", str(config), "serve"],
                stdout=subprocess.PIPE, stderr=log_file, text=True, cwd=ROOT,
            )  # fmt: skip
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.strip() == "ready":
                    break
            else:
                raise RuntimeError("posteingang did not start")
            yield port, proc.pid
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


_DOVECOT_CONF = """\
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_cache_size = 10M
auth_cache_ttl = 1 hour
first_valid_uid = 0
first_valid_gid = 0
mail_location = maildir:{mail}/%u
default_client_limit = 2000
passdb {{
  driver = passwd-file
  args = username_format=%u {mail}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={mail}/home/%u
}}
protocol imap {{
  mail_max_userip_connections = 1000
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


@contextmanager
def dovecot_server() -> Iterator[tuple[int, int, Path]]:
    """A private Dovecot (maildir, the same argon2id hash, auth cache on): (port, pid, passwd)."""
    from posteingang.auth.passwords import hash_password

    hashed = "{ARGON2ID}" + hash_password(PASSWORD).split("}", 1)[1]

    def populate(mail: Path) -> None:
        lines = [f"{address(n)}:{hashed}\n" for n in range(1, ACCOUNTS + 1)]
        (mail / "passwd").write_text("".join(lines))

    with common.dovecot("imap", _DOVECOT_CONF, b"* OK", populate) as server:
        yield server.port, server.pid, server.mail / "passwd"


# -- the runner -------------------------------------------------------------------------


PROFILE = os.environ.get("BENCH_STRESS_PROFILE", "")
#: py-spy's views: on-CPU Python stacks, stacks holding the GIL, and every thread (idle too)
_VIEWS = {"cpu": [], "gil": ["--gil"], "idle": ["--idle"]}


def _thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds per thread (native id) of process `pid`, from /proc/<pid>/task/*/stat."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        out[int(task.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def _thread_names(py_spy: str, pid: int) -> dict[int, str]:
    """Native thread id -> Python thread name and innermost frame, from ``py-spy dump``."""
    dump = subprocess.run([py_spy, "dump", "--pid", str(pid), "--nonblocking"],
                          capture_output=True, text=True, timeout=60).stdout  # fmt: skip
    names: dict[int, str] = {}
    current = None
    for line in dump.splitlines():
        if line.startswith("Thread "):
            m = re.match(r"Thread (\S+) \(([^)]*)\): \"([^\"]*)\"", line)
            tid = re.search(r"\(tid (\d+)\)|^Thread (\d+)", line)
            if m is None:
                continue
            ident = m[1]
            current = int(ident, 16) if ident.startswith("0x") else int(ident)
            if tid is not None:
                current = int(tid[1] or tid[2])
            names[current] = m[3]
        elif current is not None and line.startswith("    ") and " (" in line:
            names[current] += " @ " + line.strip().split(" (")[0]
            current = None
    return names


@contextmanager
def profiled(pid: int, name: str) -> Iterator[None]:
    """With BENCH_STRESS_PROFILE=DIR: py-spy (raw stacks per thread, three views) and the
    CPU per thread of our server while the block runs; the rates measured meanwhile are
    lowered by the sampling and only printed."""
    if not PROFILE:
        yield
        return
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out = Path(PROFILE)
    out.mkdir(parents=True, exist_ok=True)
    procs = [
        subprocess.Popen(
            [
                py_spy,
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(int(SECONDS)),
                "--rate",
                "100",
                "--nonblocking",
                "--threads",
                "--format",
                "raw",
                *flags,
                "-o",
                str(out / f"{name}-{view}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for view, flags in _VIEWS.items()
    ]
    before = _thread_cpu(pid)
    time.sleep(0.5)
    names = _thread_names(py_spy, pid)
    try:
        yield
    finally:
        after = _thread_cpu(pid)
        for proc in procs:
            proc.wait(SECONDS + 60)
        lines = [f"{after[t] - before.get(t, 0):8.2f} s  {t}  {names.get(t, '?')}"
                 for t in sorted(after, key=lambda t: before.get(t, 0) - after[t])]  # fmt: skip
        (out / f"{name}-threads.txt").write_text("\n".join(lines) + "\n")


def main() -> list[tuple[str, str, str]]:
    corpus = load_corpus()
    results: dict[str, dict[str, Result]] = {}
    if ONLY in ("", "posteingang"):
        with posteingang_server() as (port, pid):
            print(f"posteingang (pid {pid}) ...", file=sys.stderr, flush=True)
            results["posteingang"] = measure(port, pid, corpus)
    if ONLY in ("", "dovecot") and common.dovecot_available("imap"):
        with dovecot_server() as (port, pid, passwd):
            print(f"Dovecot (pid {pid}) ...", file=sys.stderr, flush=True)
            results["Dovecot"] = measure(port, pid, corpus, passwd)
    return rows(results)


_NAMES = {
    "steady": "staying logged in",
    "logout": "LOGIN/LOGOUT per round (both argon2id)",
    "logout plain": "LOGIN/LOGOUT per round, Dovecot's passwords {PLAIN}",
    "imaptest steady": "staying logged in, imaptest as load generator",
    "imaptest logout": "LOGIN/LOGOUT per round, imaptest as load generator",
}
_TARGETS = {"steady": "≥ 1.0× Dovecot", "logout": "≥ 1.5× Dovecot"}


def _describe(name: str, key: str, res: Result) -> str:
    print(f"{name} {key}: {res.commands} commands in {res.seconds:.1f} s, server CPU "
          f"{res.cpu:.2f} s, load generator CPU {res.client_cpu:.2f} s, "
          f"{res.verified} items verified, {res.races} expunge races, "
          f"{res.errors} errors", file=sys.stderr)  # fmt: skip
    for sample in res.samples:
        print(f"  {name} {key} error: {sample}", file=sys.stderr)
    return (f"{name} {res.rate:,.0f} cmd/s ({res.cpu_per_command_us:,.0f} µs server CPU/cmd, "
            f"{res.errors} errors)")  # fmt: skip


def rows(results: dict[str, dict[str, Result]]) -> list[tuple[str, str, str]]:
    """One row per workload: each server's rate, CPU per command and errors, and the ratios."""
    out = []
    ours, theirs = results.get("posteingang", {}), results.get("Dovecot", {})
    for key, label in _NAMES.items():
        a = ours.get(key) or (ours.get("logout") if key == "logout plain" else None)
        b = theirs.get(key)
        parts = [_describe(n, key, r) for n, r in (("posteingang", a), ("Dovecot", b)) if r]
        if not parts:
            continue
        text = " vs ".join(parts)
        if a and b and b.rate and a.commands:
            cpu_ratio = b.cpu_per_command_us / a.cpu_per_command_us
            text += f": **{a.rate / b.rate:.2f}×** (CPU per command {cpu_ratio:.2f}×)"
        what = f"IMAP stress, {ACCOUNTS} accounts, {CLIENTS} clients, {label}, {SECONDS:.0f} s"
        if PROCESSES:
            what += f", posteingang `[imap] processes = {int(PROCESSES)}`"
        out.append((what, text, _TARGETS.get(key.removeprefix("imaptest "), "—")))
    return out


if __name__ == "__main__":
    if sys.argv[1:2] == ["--prepare"]:
        _prepare(Path(sys.argv[2]))
    else:
        for row in main():
            print(" | ".join(row))
