"""The lock files install what pyproject.toml declares, at versions its ranges admit.

`scripts/test`, `scripts/run` and `.ci/run` install from `requirements*.lock`, not from the ranges
in pyproject.toml, so that a fresh machine gets the versions CI tested. That only holds while the
lock files follow pyproject.toml: these tests fail when a dependency was added, removed or had its
range changed without `scripts/lock` being run.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)", re.MULTILINE)


def pins(lock: str) -> dict[str, str]:
    text = (ROOT / lock).read_text()
    return {canonicalize_name(name): version for name, version in PIN.findall(text)}


def names(requirements: list[Requirement]) -> set[str]:
    return {canonicalize_name(r.name) for r in requirements}


RUNTIME = [Requirement(r) for r in PROJECT["dependencies"]]
DEV = [Requirement(r) for r in PROJECT["optional-dependencies"]["dev"]]


@pytest.mark.parametrize(
    ("lock", "requirement"),
    [("requirements.lock", r) for r in RUNTIME]
    + [("requirements-dev.lock", r) for r in RUNTIME + DEV],
    ids=lambda v: str(v),
)
def test_every_declared_dependency_is_pinned_within_its_range(
    lock: str, requirement: Requirement
) -> None:
    locked = pins(lock)
    name = canonicalize_name(requirement.name)
    assert name in locked, f"{requirement.name} is not in {lock}: run scripts/lock"
    assert requirement.specifier.contains(locked[name], prereleases=True), (
        f"{lock} pins {name}=={locked[name]}, outside {requirement.specifier}: run scripts/lock"
    )


def test_runtime_lock_holds_no_dev_only_dependency() -> None:
    """The server's install (scripts/run) must not pull test tools in."""
    runtime = set(pins("requirements.lock"))
    dev_only = names(DEV) - names(RUNTIME)
    assert not dev_only & runtime, f"dev tools in requirements.lock: {sorted(dev_only & runtime)}"


def test_lock_fingerprint_matches_pyproject() -> None:
    """The same check scripts/test runs before installing: a stale lock is named, not installed."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "lockcheck.py")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
