"""Start the real `posteingang serve` for a test and wait for its table's last line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def start_serve(config: Path, log: Path | None = None) -> tuple[subprocess.Popen[str], list[str]]:
    """`serve` with `config`, once it printed ``ready``: the process and the lines of
    its table (stdout). Its stderr (the log) goes to `log`, or nowhere."""
    with open(log if log is not None else os.devnull, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "posteingang", "--config", str(config), "serve"],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if line.strip() == "ready":
            return proc, lines
    proc.kill()
    told = log.read_text() if log is not None else ""
    raise AssertionError("serve did not start:\n" + "\n".join(lines) + told)
