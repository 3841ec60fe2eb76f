"""Roundcube + Dovecot on the same 100,000-message INBOX as `bench_web`: the mail
page's first load (gzip) and the time of the message list and of opening a message.

Debian's Roundcube (``apt-get install roundcube-core roundcube-sqlite3 php-cli
php-sqlite3``, not a dependency of posteingang and not part of CI) runs under
PHP's built-in web server on 127.0.0.1 with a private configuration (SQLite
database, no plugins, the Elastic skin, no IMAP cache, as installed) against
a private Dovecot (bench/common.py) whose Maildir INBOX holds the same 200
corpus messages as `bench_web`, repeated to `BENCH_WEB_COUNT` (hard links).
With ``BENCH_ROUNDCUBE_POSTEINGANG=1`` it also runs against posteingang's own
IMAP server (the runtime in a child process, on a store filled as `bench_web`
fills it).

Measured over loopback with a plain HTTP client, like a browser:

* first load: the mail page's HTML, every script and style sheet it names, and
  the list request that fills it (Roundcube loads the list after the page);
  each compressed with gzip as `bench_web` does;
* the list of the first 50 messages (``_action=list``, the request a browser
  makes after the page; its JSON is the list) and opening a message
  (``_action=preview``, what a click loads into the preview pane; the first
  time marks it read), p50/p95 of wall time over `BENCH_ROUNDCUBE_REQUESTS`,
  and the CPU of PHP and the IMAP server (every process of each) per request,
  which the load of other processes does not change.

Environment: ``BENCH_WEB_COUNT`` (default 100000), ``BENCH_ROUNDCUBE_REQUESTS``
(default 100), ``BENCH_ROUNDCUBE_DIR`` (Roundcube's public root, default
/var/lib/roundcube/public_html), ``BENCH_ROUNDCUBE_POSTEINGANG=1``.
Without php, Roundcube or Dovecot the benchmark returns one row saying it was
skipped.
"""

from __future__ import annotations

import gzip
import os
import random
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urljoin

import httpx

from bench import common
from bench.bench_web import _templates

COUNT = int(os.environ.get("BENCH_WEB_COUNT", "100000"))
REQUESTS = int(os.environ.get("BENCH_ROUNDCUBE_REQUESTS", "100"))
PUBLIC = Path(os.environ.get("BENCH_ROUNDCUBE_DIR", "/var/lib/roundcube/public_html"))
SQL = Path("/usr/share/roundcube/SQL/sqlite.initial.sql")
DEFAULTS = Path("/etc/roundcube/defaults.inc.php")
USER, PASSWORD = "bench@example.test", "bench password"

_DOVECOT_CONF = """\
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 0
first_valid_gid = 0
mail_location = maildir:{mail}/%u
# Dovecot alone changes this Maildir: without this, the rename that sets the seen flag
# makes the next session read all 100,000 names of cur/ again (~8 s here).
maildir_very_dirty_syncs = yes
passdb {{
  driver = passwd-file
  args = username_format=%u {mail}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={mail}/home/%u
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

_CONFIG = """<?php
$config = [];
$config['db_dsnw'] = 'sqlite:///{root}/rc.db?mode=0646';
$config['imap_host'] = '127.0.0.1:{port}';
$config['smtp_host'] = '';
$config['support_url'] = '';
$config['des_key'] = 'bench-24-byte-des-key-xx';
$config['plugins'] = [];
$config['skin'] = 'elastic';
$config['temp_dir'] = '{root}/temp/';
$config['log_dir'] = '{root}/logs/';
$config['enable_spellcheck'] = false;
$config['session_lifetime'] = 60;
"""


def missing() -> str | None:
    """Why the benchmark cannot run here, or None."""
    if shutil.which("php") is None:
        return "php not installed"
    if not (PUBLIC / "index.php").exists() or not SQL.exists() or not DEFAULTS.exists():
        return "Roundcube not installed (Debian roundcube-core)"
    if not common.dovecot_available("imap"):
        return "Dovecot IMAP not installed"
    return None


def _populate(mail: Path) -> None:
    box = mail / USER
    for sub in ("cur", "new", "tmp"):
        (box / sub).mkdir(parents=True)
    originals = mail / "originals"
    originals.mkdir()
    paths = []
    for i, raw in enumerate(_templates(200)):
        path = originals / f"{i}.eml"
        path.write_bytes(raw.replace(b"\r\n", b"\n"))  # Maildir holds LF lines
        paths.append(path)
    for i in range(COUNT):
        os.link(paths[i % len(paths)], box / "cur" / f"{1_700_000_000 + i}.M{i}P1.bench:2,")
    (mail / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")


def _warm_imap(port: int) -> None:
    """Let the server index the folder before the first timed request (Dovecot reads
    every file name, and the cache fields the list asks for, on first use)."""
    with socket.create_connection(("127.0.0.1", port), timeout=600) as s:
        f = s.makefile("rwb")

        def cmd(line: str) -> None:
            tag = line.split()[0].encode()
            f.write(line.encode() + b"\r\n")
            f.flush()
            while not (got := f.readline()).startswith(tag + b" ") and got:
                pass

        f.readline()
        cmd(f'a LOGIN "{USER}" "{PASSWORD}"')
        cmd("b SELECT INBOX")
        cmd("c FETCH 1:* (UID FLAGS)")
        cmd("d LOGOUT")


@contextmanager
def _roundcube(imap_port: int) -> Iterator[tuple[str, int]]:
    """Roundcube under `php -S` on a free port: its base URL and the php pid."""
    root = Path(tempfile.mkdtemp(prefix="roundcube-"))
    proc = None
    try:
        conf = root / "config"
        for sub in ("config", "temp", "logs"):
            (root / sub).mkdir()
        shutil.copy(DEFAULTS, conf / "defaults.inc.php")
        mimetypes = DEFAULTS.parent / "mimetypes.php"
        if mimetypes.exists():
            shutil.copy(mimetypes, conf / "mimetypes.php")
        (conf / "config.inc.php").write_text(_CONFIG.format(root=root, port=imap_port))
        with sqlite3.connect(root / "rc.db") as db:
            db.executescript(SQL.read_text())
        port = common.free_port()
        proc = subprocess.Popen(
            ["php", "-S", f"127.0.0.1:{port}", "-t", str(PUBLIC)],
            env={**os.environ, "ROUNDCUBE_CONFIG_DIR": str(conf)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("php -S did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        logs = root / "logs" / "errors.log"
        if logs.exists() and logs.stat().st_size:
            print(logs.read_text(errors="replace")[-2000:], file=sys.stderr)
        shutil.rmtree(root, ignore_errors=True)


def _login(client: httpx.Client) -> str:
    """Log in; the request token the page's scripts send with every AJAX request."""
    form = client.get("/")
    token = re.search(r'name="_token" value="([^"]+)"', form.text)
    assert token is not None, form.text[:500]
    done = client.post(
        "/?_task=login",
        data={
            "_token": token.group(1),
            "_task": "login",
            "_action": "login",
            "_timezone": "UTC",
            "_url": "",
            "_user": USER,
            "_pass": PASSWORD,
        },
    )
    assert done.status_code == 302, (done.status_code, done.text[:500])
    page = client.get("/?_task=mail&_mbox=INBOX")
    found = re.search(r'"request_token":"([^"]+)"', page.text)
    assert found is not None, page.text[:500]
    return found.group(1)


def _list(client: httpx.Client, token: str) -> httpx.Response:
    response = client.get(
        "/?_task=mail&_action=list&_mbox=INBOX&_page=1&_remote=1",
        headers={"x-roundcube-request": token},
    )
    assert response.status_code == 200, response.status_code
    assert "add_message_row" in response.text, response.text[:500]
    return response


def _preview(client: httpx.Client, uid: int) -> httpx.Response:
    response = client.get(f"/?_task=mail&_uid={uid}&_mbox=INBOX&_framed=1&_action=preview")
    assert response.status_code == 200, response.status_code
    return response


def _first_load(client: httpx.Client, token: str) -> tuple[int, int]:
    """gzip bytes of the mail page with its scripts and style sheets and the list;
    and how many files that is."""
    page = client.get("/?_task=mail&_mbox=INBOX")
    total, files = len(gzip.compress(page.content)), 1
    seen = set()
    for ref in re.findall(r'(?:href|src)="([^"]+\.(?:js|css)(?:\?[^"]*)?)"', page.text):
        url = urljoin(str(page.url), ref.replace("&amp;", "&"))
        if url in seen:
            continue
        seen.add(url)
        asset = client.get(url)
        assert asset.status_code == 200, (url, asset.status_code)
        total += len(gzip.compress(asset.content))
        files += 1
    total += len(gzip.compress(_list(client, token).content))
    return total, files + 1


def _cpu(pids: list[int]) -> float:
    return sum(common.tree_cpu_seconds(p) for p in pids)


def _timed(pids: list[int], call: Iterator[object]) -> tuple[list[float], float]:
    """Wall ms of each request the iterator makes, and CPU ms per request of `pids`."""
    times: list[float] = []
    cpu = _cpu(pids)
    started = time.perf_counter()
    for _ in call:
        now = time.perf_counter()
        times.append((now - started) * 1000)
        started = now
    return times, (_cpu(pids) - cpu) / max(1, len(times)) * 1000


def _p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def _measure(imap_port: int, imap_pid: int) -> dict[str, object]:
    _warm_imap(imap_port)
    with _roundcube(imap_port) as (base, php), httpx.Client(base_url=base, timeout=600) as client:
        token = _login(client)
        for _ in range(5):
            _list(client, token)  # warm up: Roundcube's and the server's caches
        weight, files = _first_load(client, token)
        pids = [php, imap_pid]
        listed, list_cpu = _timed(pids, (_list(client, token) for _ in range(REQUESTS)))
        uids = random.Random(1).sample(range(1, COUNT + 1), REQUESTS)
        opened, open_cpu = _timed(pids, (_preview(client, u) for u in uids))
        again, again_cpu = _timed(pids, (_preview(client, u) for u in uids))
    return {
        "weight": weight,
        "files": files,
        "list": listed,
        "list_cpu": list_cpu,
        "open": opened,
        "open_cpu": open_cpu,
        "again": again,
        "again_cpu": again_cpu,
    }


@contextmanager
def _posteingang_imap() -> Iterator[tuple[int, int]]:
    """posteingang's IMAP in a child process on a store filled as `bench_web` fills it."""
    code = (
        "import asyncio, sys\n"
        "from bench.bench_roundcube import _serve_posteingang\n"
        "asyncio.run(_serve_posteingang())\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        assert proc.stdout is not None
        while (line := proc.stdout.readline()) and not line.startswith("port "):
            pass  # the runtime's log lines
        assert line.startswith("port "), "the IMAP server did not start"
        yield int(line.split()[1]), proc.pid
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(60)


async def _serve_posteingang() -> None:
    """Child process: the runtime with IMAP, until stdin closes."""
    import asyncio

    from tests.serving import running

    from bench.bench_web import _fill, _web_config
    from posteingang.imap.server import IMAP

    with tempfile.TemporaryDirectory() as tmp:
        async with running(_web_config(Path(tmp), "IMAP", 20), [IMAP]) as rt:
            await _fill(rt, USER, PASSWORD)
            print("port", rt.listeners[0].port, flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def _rows(name: str, r: dict[str, object]) -> list[tuple[str, str, str]]:
    def stat(key: str) -> str:
        values = r[key]
        assert isinstance(values, list)
        cpu = r[key + "_cpu"]
        assert isinstance(cpu, float)
        return (
            f"{statistics.median(values):.1f} / {_p(values, 0.95):.1f} ms "
            f"(CPU {cpu:.1f} ms per request)"
        )

    n = f"{COUNT:,}"
    return [
        (
            f"Roundcube + {name}: first load of the mail page (HTML, JS, CSS, list; gzip)",
            f"{int(r['weight']) / 1024:.1f} KB in {r['files']} files",  # type: ignore[call-overload]
            "posteingang ≤ 100 KB",
        ),
        (f"Roundcube + {name}: list, first 50 of {n} messages (p50 / p95)", stat("list"), "-"),
        (f"Roundcube + {name}: open a message, first time (p50 / p95)", stat("open"), "-"),
        (f"Roundcube + {name}: open a message again (p50 / p95)", stat("again"), "-"),
    ]


def main() -> list[tuple[str, str, str]]:
    reason = missing()
    if reason is not None:
        return [("Roundcube comparison", f"skipped: {reason}", "-")]
    with common.dovecot("imap", _DOVECOT_CONF, b"* OK", _populate, timeout=60) as server:
        rows = _rows("Dovecot", _measure(server.port, server.pid))
    if os.environ.get("BENCH_ROUNDCUBE_POSTEINGANG") == "1":
        with _posteingang_imap() as (port, pid):
            rows += _rows("posteingang IMAP", _measure(port, pid))
    return rows


if __name__ == "__main__":
    for row in main():
        print(" | ".join(row))
