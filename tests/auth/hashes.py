"""Oracles for what a login costs: the hashes it verified, and their parameters (the
reply time follows from that work, so tests assert the work, never the time)."""

from __future__ import annotations

import argon2
import pytest

from posteingang.auth import passwords


def record_hash_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every stored hash `passwords.verify_password` is called with from now on (the
    dummy hash of an unknown account included), in order; the real check still runs."""
    checked: list[str] = []
    real = passwords.verify_password

    def counting(stored: str, password: str) -> bool:
        checked.append(stored)
        return real(stored, password)

    monkeypatch.setattr(passwords, "verify_password", counting)
    return checked


def argon2_parameters(stored: str) -> argon2.Parameters:
    """The argon2 parameters of a stored ``{ARGON2ID}$argon2id$...`` hash."""
    assert stored.startswith("{ARGON2ID}"), stored
    return argon2.extract_parameters(stored.removeprefix("{ARGON2ID}"))
