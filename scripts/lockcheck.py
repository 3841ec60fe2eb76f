"""Fingerprint of pyproject.toml's dependency declarations, and the check that the lock files match.

`scripts/lock` writes the fingerprint into the first line of each lock file; `scripts/test`,
`scripts/run` and `.ci/run` call `python3 scripts/lockcheck.py` before installing, so a change to
`dependencies`, the `dev` extra or `requires-python` that was not followed by `scripts/lock` fails
with a message instead of silently installing versions nobody resolved. Standard library only: it
runs before any virtualenv exists.

Usage: lockcheck.py            check both lock files, exit 1 with a message if stale
       lockcheck.py --print    print the fingerprint (used by scripts/lock)
"""

from __future__ import annotations

import hashlib
import json
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCKS = ("requirements.lock", "requirements-dev.lock")
PREFIX = "# pyproject-deps-sha256: "


def fingerprint() -> str:
    """A hash of what the resolver reads from pyproject.toml, insensitive to order and comments."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {
        "requires-python": project.get("requires-python", ""),
        "dependencies": sorted(project.get("dependencies", [])),
        "dev": sorted(project.get("optional-dependencies", {}).get("dev", [])),
    }
    return hashlib.sha256(json.dumps(declared, sort_keys=True).encode()).hexdigest()


def main() -> int:
    expected = fingerprint()
    if sys.argv[1:] == ["--print"]:
        print(expected)
        return 0
    for name in LOCKS:
        path = ROOT / name
        if not path.exists():
            print(f"{name} is missing: run scripts/lock", file=sys.stderr)
            return 1
        first = path.read_text().splitlines()[0] if path.stat().st_size else ""
        if first != PREFIX + expected:
            print(
                f"{name} is stale: the dependencies in pyproject.toml changed since it was "
                "generated. Run scripts/lock and commit the lock files.",
                file=sys.stderr,
            )
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
