"""What bounds the work one command can ask of the parsers (each a setting in ``[imap]``)."""

from __future__ import annotations

from dataclasses import dataclass

from .search import DEFAULT_MAX_SEARCH_KEYS

__all__ = ["DEFAULT_MAX_DEPTH", "DEFAULT_MAX_SEARCH_KEYS", "Limits"]

DEFAULT_MAX_DEPTH = 32


@dataclass(frozen=True, slots=True)
class Limits:
    """The bounds `parse.parse_command` applies to one command."""

    max_depth: int = DEFAULT_MAX_DEPTH  # nesting of lists and SEARCH keys
    max_search_keys: int = DEFAULT_MAX_SEARCH_KEYS  # keys in one SEARCH program
