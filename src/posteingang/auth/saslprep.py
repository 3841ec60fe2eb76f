"""SASLprep (RFC 4013): the stringprep (RFC 3454) profile for user names and passwords.

What it is for: normalising the user name and password a SASL mechanism receives, so that
e.g. a password typed with a no-break space or a compatibility character compares equal
to the one that was stored.  SCRAM (RFC 5802 §2.2 "Normalize") requires it.

What it must never do: guess.  A string with a prohibited character or bad
bidirectional text raises ``SASLprepError``; the caller decides what that means
(for a SCRAM exchange: authentication fails).

Uses the stdlib ``stringprep`` tables, which are the Unicode 3.2 tables RFC 3454 names,
and so normalises with ``unicodedata.ucd_3_2_0`` rather than the current Unicode version.
"""

from __future__ import annotations

import stringprep
import unicodedata
from collections.abc import Callable
from typing import Final

__all__ = ["SASLprepError", "saslprep"]


class SASLprepError(ValueError):
    """The string cannot be prepared: it holds a prohibited or unassigned code point, or
    violates the bidirectional rule of RFC 3454 §6."""


# RFC 4013 §2.3: the prohibited output tables.
_PROHIBITED: Final[tuple[Callable[[str], bool], ...]] = (
    stringprep.in_table_c12,  # non-ASCII space
    stringprep.in_table_c21_c22,  # ASCII and non-ASCII control characters
    stringprep.in_table_c3,  # private use
    stringprep.in_table_c4,  # non-character code points
    stringprep.in_table_c5,  # surrogate codes
    stringprep.in_table_c6,  # inappropriate for plain text
    stringprep.in_table_c7,  # inappropriate for canonical representation
    stringprep.in_table_c8,  # change display properties / deprecated
    stringprep.in_table_c9,  # tagging characters
)


def saslprep(text: str, *, allow_unassigned: bool = False) -> str:
    """Prepare ``text`` per RFC 4013.

    ``allow_unassigned`` selects the "query" variant of RFC 3454 §7; stored strings
    (and so everything we compare against stored credentials) use the default,
    which treats unassigned code points as prohibited.
    """
    # RFC 4013 §2.1 Mapping: non-ASCII space to SPACE, "commonly mapped to nothing" removed.
    mapped = "".join(
        " " if stringprep.in_table_c12(ch) else ch for ch in text if not stringprep.in_table_b1(ch)
    )
    # RFC 4013 §2.2 Normalization: Unicode form KC (of the Unicode version stringprep uses).
    normalized = unicodedata.ucd_3_2_0.normalize("NFKC", mapped)
    if not normalized:
        return normalized
    for ch in normalized:
        # RFC 4013 §2.3 Prohibited Output.
        if any(table(ch) for table in _PROHIBITED):
            raise SASLprepError(f"prohibited character U+{ord(ch):04X}")
        # RFC 4013 §2.5 / RFC 3454 §7: unassigned code points.
        if not allow_unassigned and stringprep.in_table_a1(ch):
            raise SASLprepError(f"unassigned code point U+{ord(ch):04X}")
    # RFC 4013 §2.4 / RFC 3454 §6: bidirectional characters.
    if any(stringprep.in_table_d1(ch) for ch in normalized):
        if any(stringprep.in_table_d2(ch) for ch in normalized):
            raise SASLprepError("string mixes right-to-left and left-to-right characters")
        if not (stringprep.in_table_d1(normalized[0]) and stringprep.in_table_d1(normalized[-1])):
            raise SASLprepError("right-to-left string must start and end with RandALCat")
    return normalized
