"""The errors a store raises for a caller's mistake (every backend, every protocol)."""

from __future__ import annotations


class StoreError(Exception):
    """Base of the errors a Store raises for a caller's mistake (not for our bugs)."""


class NotFound(StoreError):
    pass


class AlreadyExists(StoreError):
    pass


class InvalidName(StoreError):
    pass


class QuotaExceeded(StoreError):
    pass


class Conflict(StoreError):
    """The operation is not allowed in the current state (e.g. deleting INBOX)."""
