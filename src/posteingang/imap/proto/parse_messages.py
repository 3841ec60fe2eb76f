"""Parsers of the message commands of the selected state, which also have UID forms.

EXPUNGE (UID EXPUNGE, RFC 4315), SEARCH (RFC 9051 §6.4.4, RFC 4731 RETURN),
FETCH (with RFC 7162 modifiers), STORE (UNCHANGEDSINCE), COPY and MOVE
(RFC 6851): each a transcription of its ABNF, with ``uid`` telling whether the
command came after ``UID``. `parse.parse_command` dispatches to them
(`UID_COMMANDS` for the UID forms). Like every parser here: raises
`ParseError` with the reason for the BAD, never decides whether the command is
allowed in the session's state.
"""

from __future__ import annotations

from collections.abc import Callable

from . import commands as c
from .fetch import parse_fetch_items
from .limits import Limits
from .search import parse_search_program
from .tokens import Cursor, ParseError, show

__all__ = [
    "SEARCH_RETURN",
    "UID_COMMANDS",
    "parse_copy",
    "parse_expunge",
    "parse_fetch",
    "parse_move",
    "parse_search",
    "parse_store",
]

SEARCH_RETURN = frozenset(("MIN", "MAX", "ALL", "COUNT", "SAVE"))


def parse_expunge(cur: Cursor, tag: bytes, uid: bool, limits: Limits) -> c.Command:
    if not uid:
        return c.Expunge(tag)
    cur.sp()
    return c.Expunge(tag, cur.sequence_set())


def parse_search(cur: Cursor, tag: bytes, uid: bool, limits: Limits) -> c.Command:
    cur.sp()
    returns: tuple[str, ...] | None = None
    charset: str | None = None
    if cur.try_take(b"RETURN "):
        # RFC 4731 §3.1 / RFC 9051 §6.4.4 search-return-opts
        returns = tuple(o.decode("ascii") for o in cur.atom_list("a SEARCH return option"))
        for opt in returns:
            if opt not in SEARCH_RETURN:
                raise ParseError(f"unknown SEARCH return option {opt[:40]}")
        cur.sp()
    if cur.try_take(b"CHARSET "):
        charset = cur.astring("a charset name").decode("ascii", "replace").upper()
        cur.sp()
    criteria = parse_search_program(
        cur, max_depth=limits.max_depth, max_keys=limits.max_search_keys
    )
    return c.Search(tag, criteria, charset, returns, uid)


def parse_fetch(cur: Cursor, tag: bytes, uid: bool, limits: Limits) -> c.Command:
    cur.sp()
    seq = cur.sequence_set()
    cur.sp()
    items = parse_fetch_items(cur)
    changedsince: int | None = None
    vanished = False
    if cur.try_sp():
        # RFC 4466 fetch-modifiers; RFC 7162 §3.1.4.1 CHANGEDSINCE, §3.2.6 VANISHED
        cur.open_paren("'(' starting FETCH modifiers")
        while True:
            mod = cur.keyword("a FETCH modifier")
            if mod == b"CHANGEDSINCE":
                cur.sp()
                changedsince = cur.number64("a mod-sequence")
                if changedsince == 0:
                    raise ParseError("CHANGEDSINCE must not be zero")
            elif mod == b"VANISHED" and uid:
                vanished = True
            else:
                raise ParseError(f"unknown FETCH modifier {show(mod)}")
            if cur.close_paren():
                break
            cur.sp()
        if vanished and changedsince is None:
            # RFC 7162 §3.2.6: VANISHED requires CHANGEDSINCE.
            raise ParseError("VANISHED requires CHANGEDSINCE")
    return c.Fetch(tag, seq, items, uid, changedsince, vanished)


def parse_store(cur: Cursor, tag: bytes, uid: bool, limits: Limits) -> c.Command:
    cur.sp()
    seq = cur.sequence_set()
    cur.sp()
    unchangedsince: int | None = None
    if cur.peek() == 0x28:
        # RFC 7162 §3.1.3: STORE seq (UNCHANGEDSINCE n) ...
        cur.open_paren()
        cur.expect(b"UNCHANGEDSINCE", "UNCHANGEDSINCE")
        cur.sp()
        unchangedsince = cur.number64("a mod-sequence")
        if not cur.close_paren():
            raise ParseError("expected ')' after UNCHANGEDSINCE")
        cur.sp()
    name = cur.take_while(_STORE_ITEM_CHARS).upper()
    silent = name.endswith(b".SILENT")
    if silent:
        name = name[: -len(b".SILENT")]
    try:
        mode = c.StoreMode(name.decode("ascii"))
    except ValueError:
        raise ParseError("expected FLAGS, +FLAGS or -FLAGS") from None
    cur.sp()
    if cur.peek() == 0x28:
        flags = cur.flag_list()
    else:
        flag_items = [cur.flag()]
        while cur.try_sp():
            flag_items.append(cur.flag())
        flags = tuple(flag_items)
    return c.Store(tag, seq, mode, flags, silent, uid, unchangedsince)


_STORE_ITEM_CHARS = frozenset(b"+-.FLAGSILENTflagsilent")


def parse_copy(cur: Cursor, tag: bytes, uid: bool, limits: Limits) -> c.Command:
    cur.sp()
    seq = cur.sequence_set()
    cur.sp()
    return c.Copy(tag, seq, cur.mailbox(), uid)


def parse_move(cur: Cursor, tag: bytes, uid: bool, limits: Limits) -> c.Command:
    cur.sp()
    seq = cur.sequence_set()
    cur.sp()
    return c.Move(tag, seq, cur.mailbox(), uid)


UID_COMMANDS: dict[bytes, Callable[[Cursor, bytes, bool, Limits], c.Command]] = {
    b"EXPUNGE": parse_expunge,
    b"SEARCH": parse_search,
    b"FETCH": parse_fetch,
    b"STORE": parse_store,
    b"COPY": parse_copy,
    b"MOVE": parse_move,
}
