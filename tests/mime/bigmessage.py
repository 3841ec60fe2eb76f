"""A generated huge message and a peak-memory probe for `parse_file`.

`write_big_message` streams a multipart/mixed message (a short text/plain
part and a base64 attachment of about ``attachment_octets`` encoded octets)
to a file without building it in memory; `measure_parse` parses it in a
fresh interpreter and reports the parse's peak RSS above the interpreter's
idle peak after the imports.  The peak is the child's ``VmHWM``: on Linux
``ru_maxrss`` keeps the parent's high-water mark across fork + exec, so a
big pytest process would hide the child's growth (``ru_maxrss`` is the
fallback where /proc is missing).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

HEAD = (
    b"From: Sender <sender@example.com>\r\n"
    b"To: rcpt@example.org\r\n"
    b"Subject: a very large attachment\r\n"
    b"Date: Thu, 26 Nov 2026 10:00:00 +0000\r\n"
    b"Message-ID: <big@example.com>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="=_big"\r\n'
    b"\r\n"
    b"--=_big\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Here is the archive you asked for.\r\n"
    b"-- \r\nSender\r\n"
    b"--=_big\r\n"
    b'Content-Type: application/octet-stream; name="big.bin"\r\n'
    b"Content-Transfer-Encoding: base64\r\n"
    b'Content-Disposition: attachment; filename="big.bin"\r\n'
    b"\r\n"
)
TAIL = b"--=_big--\r\n"


def write_big_message(path: Path, attachment_octets: int = 50 * 1024 * 1024) -> int:
    """Write the message to ``path``; returns its size in octets."""
    line_raw = 57  # 76 base64 characters per line (RFC 2045 §6.8)
    lines_per_chunk = 2000
    size = 0
    with open(path, "wb") as f:
        size += f.write(HEAD)
        written = 0
        while written < attachment_octets:
            raw = os.urandom(line_raw * lines_per_chunk)
            enc = base64.encodebytes(raw).replace(b"\n", b"\r\n")
            size += f.write(enc)
            written += len(enc)
        size += f.write(TAIL)
    return size


_CHILD = """
import json, os, resource, sys, time

def peak_kib():
    # VmHWM belongs to this process image; ru_maxrss would carry over the
    # parent's high-water mark across fork + exec on Linux.
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

from posteingang.mime import parse_file, parse_message
path, mode = sys.argv[1], sys.argv[2]
idle = peak_kib()
t0 = time.perf_counter()
with open(path, "rb") as f:
    if mode == "file":
        p = parse_file(f, os.fstat(f.fileno()).st_size)
    else:
        p = parse_message(f.read())
seconds = time.perf_counter() - t0
peak = peak_kib()
att = [(a.filename, a.size) for a in p.attachments]
print(json.dumps({"idle_kib": idle, "peak_kib": peak, "seconds": seconds,
                  "size": p.size, "attachments": att, "text": p.search_text}))
"""


def measure_parse(path: Path, mode: str = "file") -> dict[str, object]:
    """Parse ``path`` in a fresh interpreter (``mode`` "file" = `parse_file`,
    "bytes" = read whole + `parse_message`); returns the child's report."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), mode],
        env=env,
        capture_output=True,
        check=True,
        timeout=300,
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result
