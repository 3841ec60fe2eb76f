"""Literal values as the reader stores them (RFC 9051 §4.3, RFC 3516 literal8).

Small literals are ``bytes``; a literal above the reader's spool threshold is
written to a caller-supplied file and represented by :class:`SpooledLiteral`.
Pure data: never opens files itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

__all__ = ["Literal", "LiteralData", "SpooledLiteral"]


@dataclass(frozen=True, slots=True, eq=False)
class SpooledLiteral:
    """A literal the reader wrote to a caller-supplied sink.

    ``file`` is positioned at its end after the write; seek before reading.
    Equality is identity: two spools are never "the same bytes" cheaply.
    """

    file: BinaryIO
    size: int


#: A literal value: small ones in memory, large ones spooled.
LiteralData = bytes | SpooledLiteral


@dataclass(frozen=True, slots=True)
class Literal:
    """A literal as read off the wire, before a parser gives it meaning."""

    data: LiteralData
    binary: bool = False  # literal8 "~{n}"
    has_nul: bool = False
