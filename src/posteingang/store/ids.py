"""Ids every backend makes the same way (shared, so no backend imports another)."""

from __future__ import annotations

import secrets


def new_object_id(prefix: str) -> str:
    """A stable, unguessable id for OBJECTID (RFC 8474 §4: 1-255 of A-Za-z0-9_-)."""
    return prefix + secrets.token_hex(12)
