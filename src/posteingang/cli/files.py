"""File modes of a data directory: only the server's own user may read it.

The store holds every message and every password hash (argon2id, SCRAM keys);
the config may hold secrets. So the data directory is 0700 and every file in it
0600, whatever the umask of the shell that ran `init`. Commands that write set
`PRIVATE_UMASK` for their run (see `cli/__init__.py`), and `posteingang check`
reports a file or directory that others can read (`--repair` corrects it).

What this module must never do: change a mode without `--repair`, or look at
files outside the data directory (a certificate key under /etc is managed by
whoever put it there).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from posteingang.config import Config

PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600
# Written by the auth settings (SCRAM salts for unknown users); checked if present.
AUTH_SECRET = "auth-secret.key"


@dataclass(frozen=True, slots=True)
class ModeProblem:
    path: Path
    mode: int  # the permission bits found
    wanted: int

    def __str__(self) -> str:
        return (
            f"{self.path} is mode {self.mode:04o}, readable by others; "
            f"should be {self.wanted:04o} (chmod {self.wanted:o} {self.path})"
        )


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def private_paths(config: Config) -> list[tuple[Path, int]]:
    """The data directory's sensitive paths with the mode each should have."""
    data = Path(config.server.data_dir)
    out: list[tuple[Path, int]] = [(data, DIR_MODE)]
    files = [data / AUTH_SECRET, config.tls.key]
    if config.path is not None:
        files.append(Path(config.path))
    if config.store.backend == "sqlite":
        db = Path(config.store.sqlite_path)
        files += [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
        out.append((Path(config.store.blob_dir), DIR_MODE))
    out += [(f, FILE_MODE) for f in files]
    return [(p, mode) for p, mode in out if _inside(p, data)]


def mode_problems(config: Config) -> list[ModeProblem]:
    """Every private path (that exists) whose group or others have any access."""
    problems = []
    for path, wanted in private_paths(config):
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(st.st_mode):
            continue
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            problems.append(ModeProblem(path, mode, wanted))
    return problems


def repair_modes(problems: list[ModeProblem]) -> list[str]:
    """Take group and other access away; returns what was done, one line each."""
    done = []
    for p in problems:
        os.chmod(p.path, p.mode & ~0o077)
        done.append(f"mode of {p.path} set to {p.mode & ~0o077:04o}")
    return done
