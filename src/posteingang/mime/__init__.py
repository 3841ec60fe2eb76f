"""posteingang.mime: parse a message once, answer every structural question later.

The store runs `parse_message` once per blob at delivery/append and keeps
`encode_parsed(...)`; IMAP (which renders ENVELOPE, BODYSTRUCTURE and
BODY[...] from it in `imap/proto`), SEARCH, POP3 TOP and the webmail read the
decoded record.  Pure: no I/O, no store, no asyncio, no protocol's rendering;
never raises on message content.  `parse_file` gives the same record for a
message in a (spooled) file while holding only a read window of it.
"""

from .model import (
    Address,
    Attachment,
    Envelope,
    HeaderField,
    ParsedMessage,
    Part,
    decode_parsed,
    encode_parsed,
)
from .parts import decode_part_body, find_section
from .structure import DEFAULT_TEXT_LIMIT, MAX_DEPTH, parse_file, parse_message

__all__ = [
    "DEFAULT_TEXT_LIMIT",
    "MAX_DEPTH",
    "Address",
    "Attachment",
    "Envelope",
    "HeaderField",
    "ParsedMessage",
    "Part",
    "decode_parsed",
    "decode_part_body",
    "encode_parsed",
    "find_section",
    "parse_file",
    "parse_message",
]
