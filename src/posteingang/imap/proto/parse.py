"""Per-command parsers: one assembled command → one typed command object.

``parse_command`` dispatches on the command name (case-insensitive, RFC 9051
§9 note 1) to a small function per command (the message commands of the
selected state, which also have UID forms, are in `parse_messages`), each a transcription of that
command's ABNF from RFC 9051 §9 (or the named extension).  Any deviation
raises :class:`~.tokens.ParseError` with a reason that the reader puts in the
tagged BAD.

Never touches a socket or the store, and never decides whether a command is
allowed in the current state — that is the session's job.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable, Sequence

from . import commands as c
from .limits import DEFAULT_MAX_DEPTH, DEFAULT_MAX_SEARCH_KEYS, Limits
from .literals import Literal
from .parse_messages import (
    UID_COMMANDS,
    parse_copy,
    parse_expunge,
    parse_fetch,
    parse_move,
    parse_search,
    parse_store,
)
from .patterns import MAX_PATTERNS
from .sequence import SequenceSet
from .tokens import TAG_CHARS, Cursor, MailboxNameError, ParseError, show

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_SEARCH_KEYS",
    "KNOWN_COMMANDS",
    "Limits",
    "extract_tag",
    "parse_command",
]

#: RFC 2971 §3.3: at most 30 pairs, fields ≤ 30 octets, values ≤ 1024 octets.
ID_MAX_PAIRS = 30
ID_MAX_FIELD = 30
ID_MAX_VALUE = 1024

STATUS_ITEMS = frozenset(
    (
        "MESSAGES",
        "UIDNEXT",
        "UIDVALIDITY",
        "UNSEEN",
        "DELETED",  # RFC 9051
        "SIZE",  # RFC 9051 (RFC 8438 STATUS=SIZE)
        "RECENT",  # RFC 3501
        "HIGHESTMODSEQ",  # RFC 7162
        "APPENDLIMIT",  # RFC 7889
        "MAILBOXID",  # RFC 8474
    )
)
LIST_SELECTION = frozenset(("SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"))
SPECIAL_USE = frozenset(
    ("\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash", "\\Important")
)
_SPECIAL_USE_BY_LOWER = {u.lower(): u for u in SPECIAL_USE}


def extract_tag(first_line: bytes, *, complete: bool = True) -> bytes | None:
    """The tag of a (possibly malformed) command line, or None if it has none.

    With ``complete=False`` the bytes are only a prefix of the line, so a tag
    counts only if the space after it is inside the prefix.
    """
    end = 0
    n = len(first_line)
    while end < n and first_line[end] in TAG_CHARS:
        end += 1
    if end == 0 or (end < n and first_line[end] != 0x20) or (end == n and not complete):
        return None
    return first_line[:end]


def parse_command(
    fragments: Sequence[bytes],
    literals: Sequence[Literal],
    *,
    utf8: bool = False,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_search_keys: int = DEFAULT_MAX_SEARCH_KEYS,
) -> c.Command:
    """Parse one complete command (see :class:`~.tokens.Cursor` for the input shape)."""
    limits = Limits(max_depth, max_search_keys)
    cur = Cursor(fragments, literals, utf8=utf8)
    tag = cur.tag()
    cur.sp()
    name = cur.keyword("a command name")
    if name == b"UID":
        cur.sp()
        sub = cur.keyword("a command after UID")
        uid_parser = UID_COMMANDS.get(sub)
        if uid_parser is None:
            raise ParseError(f"UID {show(sub)} is not a command")
        cmd = uid_parser(cur, tag, True, limits)
    else:
        parser = _COMMANDS.get(name)
        if parser is None:
            raise ParseError(f"unknown command {show(name)}")
        cmd = parser(cur, tag, limits)
    cur.end()
    return cmd


# -- commands without arguments -------------------------------------------


def _no_args(cls: Callable[[bytes], c.Command]) -> Callable[[Cursor, bytes, Limits], c.Command]:
    def parse(cur: Cursor, tag: bytes, limits: Limits) -> c.Command:
        return cls(tag)

    return parse


# -- not authenticated -----------------------------------------------------


def _authenticate(cur: Cursor, tag: bytes, limits: Limits) -> c.Command:
    cur.sp()
    mechanism = cur.keyword("a SASL mechanism name").decode("ascii")
    initial: bytes | None = None
    if cur.try_sp():
        # RFC 4959 §3: initial-response = base64 / "=" (empty).
        raw = cur.take_while(_BASE64_CHARS)
        initial = b"" if raw == b"=" else decode_base64(raw)
    return c.Authenticate(tag, mechanism, initial)


_BASE64_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")


def decode_base64(raw: bytes) -> bytes:
    """Strict base64 (RFC 4648 §4) as used by AUTHENTICATE; raise ParseError."""
    if not raw or len(raw) % 4:
        raise ParseError("invalid base64")
    try:
        return binascii.a2b_base64(raw, strict_mode=True)
    except binascii.Error:
        raise ParseError("invalid base64") from None


def _login(cur: Cursor, tag: bytes, limits: Limits) -> c.Command:
    cur.sp()
    user = cur.astring("a user name")
    cur.sp()
    password = cur.astring("a password")
    return c.Login(tag, user, password)


# -- authenticated ---------------------------------------------------------


def _enable(cur: Cursor, tag: bytes, limits: Limits) -> c.Command:
    caps = []
    cur.sp()
    while True:
        caps.append(cur.keyword("a capability name").decode("ascii"))
        if not cur.try_sp():
            return c.Enable(tag, tuple(caps))


def _select_params(cur: Cursor) -> tuple[bool, c.QResync | None]:
    condstore = False
    qresync: c.QResync | None = None
    if not cur.try_sp():
        return condstore, qresync
    cur.open_paren("'(' starting SELECT parameters")
    while True:
        param = cur.keyword("a SELECT parameter")
        if param == b"CONDSTORE":
            condstore = True
        elif param == b"QRESYNC":
            if qresync is not None:
                raise ParseError("QRESYNC given twice")
            cur.sp()
            qresync = _qresync(cur)
        else:
            raise ParseError(f"unknown SELECT parameter {show(param)}")
        if cur.close_paren():
            return condstore, qresync
        cur.sp()


def _qresync(cur: Cursor) -> c.QResync:
    # RFC 7162 §3.2.5: "(" uidvalidity SP mod-sequence-value [SP known-uids]
    #                  [SP seq-match-data] ")"
    cur.open_paren("'(' starting QRESYNC parameters")
    uidvalidity = cur.nz_number("a UIDVALIDITY")
    cur.sp()
    modseq = cur.number64("a mod-sequence")
    if modseq == 0:
        raise ParseError("QRESYNC mod-sequence must not be zero")
    known: SequenceSet | None = None
    match: tuple[SequenceSet, SequenceSet] | None = None
    if cur.try_sp():
        if cur.peek() != 0x28:
            known = _uid_set(cur)
            if cur.try_sp():
                match = _seq_match(cur)
        else:
            match = _seq_match(cur)
    if not cur.close_paren():
        raise ParseError("expected ')' closing QRESYNC parameters")
    return c.QResync(uidvalidity, modseq, known, match)


def _uid_set(cur: Cursor) -> SequenceSet:
    seq = cur.sequence_set()
    if seq.saved:
        raise ParseError("'$' is not allowed here")
    return seq


def _seq_match(cur: Cursor) -> tuple[SequenceSet, SequenceSet]:
    cur.open_paren("'(' starting the sequence match data")
    seqs = _uid_set(cur)
    cur.sp()
    uids = _uid_set(cur)
    if not cur.close_paren():
        raise ParseError("expected ')' closing the sequence match data")
    return seqs, uids


def _select(cur: Cursor, tag: bytes, limits: Limits) -> c.Command:
    cur.sp()
    mailbox = cur.mailbox()
    condstore, qresync = _select_params(cur)
    return c.Select(tag, mailbox, condstore, qresync)


def _examine(cur: Cursor, tag: bytes, limits: Limits) -> c.Command:
    cur.sp()
    mailbox = cur.mailbox()
    condstore, qresync = _select_params(cur)
    return c.Examine(tag, mailbox, condstore, qresync)


def _create(cur: Cursor, tag: bytes, limits: Limits) -> c.Command:
    cur.sp()
    mailbox = cur.mailbox()
    uses: list[str] = []
    if cur.try_sp():
        # RFC 4466 create-params; RFC 6154 §3 "USE" SP "(" [use-attr *(SP use-attr)] ")"
        cur.open_paren("'(' starting CREATE parameters")
        while True:
            param = cur.keyword("a CREATE parameter")
            if param != b"USE":
                raise ParseError(f"unknown CREATE parameter {show(param)}")
            cur.sp()
            cur.open_paren("'(' starting the USE list")
            if not cur.close_paren():
                while True:
                    attr = cur.flag(allow_recent=True)
                    # An unknown attribute is well-formed: RFC 6154 §3 wants the
                    # server to refuse it with NO [USEATTR], not BAD (the session does).
                    uses.append(_SPECIAL_USE_BY_LOWER.get(attr.lower(), attr))
                    if cur.close_paren():
                        break
                    cur.sp()
            if cur.close_paren():
                break
            cur.sp()
    return c.Create(tag, mailbox, tuple(uses))


def _one_mailbox(
    cls: Callable[[bytes, str], c.Command],
) -> Callable[[Cursor, bytes, Limits], c.Command]:
    def parse(cur: Cursor, tag: bytes, limits: Limits) -> c.Command:
        cur.sp()
        return cls(tag, cur.mailbox())

    return parse


def _rename(cur: Cursor, tag: bytes, limits: Limits) -> c.Command:
    cur.sp()
    old = cur.mailbox()
    cur.sp()
    return c.Rename(tag, old, cur.mailbox())


def _reference(cur: Cursor) -> str | None:
    """The reference name; None if it is not a valid name (nothing can match)."""
    try:
        return cur.decode_mailbox(cur.astring("a reference name"), pattern=True)
    except MailboxNameError:
        return None


def _list(cur: Cursor, tag: bytes, limits: Limits) -> c.Command:
    # RFC 5258 §6: "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat
    #              [SP list-return-opts]
    cur.sp()
    extended = False
    selection: set[str] = set()
    if cur.peek() == 0x28:
        extended = True
        for opt in cur.atom_list("a LIST selection option"):
            name = opt.decode("ascii")
            if name not in LIST_SELECTION:
                raise ParseError(f"unknown LIST selection option {name[:40]}")
            selection.add(name)
        if (
            selection
            and selection <= {"RECURSIVEMATCH", "REMOTE"}
            and ("RECURSIVEMATCH" in selection)
        ):
            # RFC 5258 §3: RECURSIVEMATCH needs another selection option.
            raise ParseError("RECURSIVEMATCH needs another selection option")
        cur.sp()
    reference = _reference(cur)
    cur.sp()
    patterns: list[str | None] = []
    if cur.peek() == 0x28:
        extended = True
        cur.open_paren()
        while True:
            patterns.append(cur.list_mailbox())
            if len(patterns) > MAX_PATTERNS:
                raise ParseError(f"too many LIST patterns (at most {MAX_PATTERNS})")
            if cur.close_paren():
                break
            cur.sp()
    else:
        patterns.append(cur.list_mailbox())
    returns = c.ListReturn()
    if cur.try_sp():
        extended = True
        cur.expect(b"RETURN", "RETURN")
        cur.sp()
        returns = _list_return(cur)
    # A pattern (or reference) that is not a valid name matches nothing: it is
    # dropped, and a LIST left without patterns answers OK and nothing else.
    valid = () if reference is None else tuple(p for p in patterns if p is not None)
    return c.List(tag, reference or "", valid, frozenset(selection), returns, extended)


def _list_return(cur: Cursor) -> c.ListReturn:
    cur.open_paren("'(' starting LIST return options")
    subscribed = children = special_use = False
    status: tuple[str, ...] | None = None
    if cur.close_paren():
        return c.ListReturn()
    while True:
        opt = cur.keyword("a LIST return option")
        if opt == b"SUBSCRIBED":
            subscribed = True
        elif opt == b"CHILDREN":
            children = True
        elif opt == b"SPECIAL-USE":
            special_use = True
        elif opt == b"STATUS":
            # RFC 5819 §2: STATUS (status-att ...)
            cur.sp()
            status = _status_items(cur)
        else:
            raise ParseError(f"unknown LIST return option {show(opt)}")
        if cur.close_paren():
            return c.ListReturn(subscribed, children, special_use, status)
        cur.sp()


def _lsub(cur: Cursor, tag: bytes, limits: Limits) -> c.Command:
    cur.sp()
    reference = _reference(cur)
    cur.sp()
    pattern = cur.list_mailbox()
    if reference is None or pattern is None:
        # Not a valid name: matches nothing (a pattern no name can have).
        return c.Lsub(tag, "", None)
    return c.Lsub(tag, reference, pattern)


def _status_items(cur: Cursor) -> tuple[str, ...]:
    items = tuple(a.decode("ascii") for a in cur.atom_list("a STATUS item"))
    if not items:
        raise ParseError("empty STATUS item list")
    for item in items:
        if item not in STATUS_ITEMS:
            raise ParseError(f"unknown STATUS item {item[:40]}")
    return items


def _status(cur: Cursor, tag: bytes, limits: Limits) -> c.Command:
    cur.sp()
    mailbox = cur.mailbox()
    cur.sp()
    return c.Status(tag, mailbox, _status_items(cur))


def _append(cur: Cursor, tag: bytes, limits: Limits) -> c.Command:
    # RFC 9051 §9: "APPEND" SP mailbox [SP flag-list] [SP date-time] SP literal
    # RFC 3502 (MULTIAPPEND): 1*append-message.
    cur.sp()
    mailbox = cur.mailbox()
    messages: list[c.AppendMessage] = []
    while cur.try_sp():
        flags: tuple[str, ...] = ()
        date = None
        if cur.peek() == 0x28:
            flags = cur.flag_list()
            cur.sp()
        if cur.peek() == 0x22:
            date = cur.date_time()
            cur.sp()
        # RFC 6855 §4: "UTF8" SP "(" literal8 ")" marks a UTF-8 message.
        utf8 = cur.try_take(b"UTF8 (")
        if not cur.literal_next():
            raise ParseError("expected the message as a literal")
        lit = cur.take_literal()
        if lit.has_nul and not lit.binary:
            # RFC 3516 §4.4: NUL only inside literal8.
            raise ParseError("NUL octet in message literal (use ~{n})")
        if utf8:
            if not lit.binary:
                raise ParseError("APPEND UTF8 needs a literal8 (~{n})")
            if not cur.close_paren():
                raise ParseError("expected ')' after the UTF8 message")
        messages.append(c.AppendMessage(lit.data, flags, date, lit.binary, utf8))
    if not messages:
        raise ParseError("APPEND needs a message literal")
    return c.Append(tag, mailbox, tuple(messages))


def _id(cur: Cursor, tag: bytes, limits: Limits) -> c.Command:
    cur.sp()
    if cur.try_take(b"NIL"):
        return c.Id(tag, None)
    cur.open_paren("'(' or NIL")
    pairs: list[tuple[bytes, bytes | None]] = []
    if cur.close_paren():
        return c.Id(tag, ())
    while True:
        field = cur.string()
        cur.sp()
        value = cur.nstring()
        if len(field) > ID_MAX_FIELD or (value is not None and len(value) > ID_MAX_VALUE):
            raise ParseError("ID field or value too long (RFC 2971)")
        pairs.append((field, value))
        if len(pairs) > ID_MAX_PAIRS:
            raise ParseError("too many ID fields (RFC 2971 allows 30)")
        if cur.close_paren():
            return c.Id(tag, tuple(pairs))
        cur.sp()


def _plain(
    fn: Callable[[Cursor, bytes, bool, Limits], c.Command],
) -> Callable[[Cursor, bytes, Limits], c.Command]:
    def parse(cur: Cursor, tag: bytes, limits: Limits) -> c.Command:
        return fn(cur, tag, False, limits)

    return parse


_COMMANDS: dict[bytes, Callable[[Cursor, bytes, Limits], c.Command]] = {
    b"CAPABILITY": _no_args(c.Capability),
    b"NOOP": _no_args(c.Noop),
    b"LOGOUT": _no_args(c.Logout),
    b"STARTTLS": _no_args(c.StartTLS),
    b"AUTHENTICATE": _authenticate,
    b"LOGIN": _login,
    b"ENABLE": _enable,
    b"SELECT": _select,
    b"EXAMINE": _examine,
    b"CREATE": _create,
    b"DELETE": _one_mailbox(c.Delete),
    b"RENAME": _rename,
    b"SUBSCRIBE": _one_mailbox(c.Subscribe),
    b"UNSUBSCRIBE": _one_mailbox(c.Unsubscribe),
    b"LIST": _list,
    b"LSUB": _lsub,
    b"NAMESPACE": _no_args(c.Namespace),
    b"STATUS": _status,
    b"APPEND": _append,
    b"IDLE": _no_args(c.Idle),
    b"ID": _id,
    b"CHECK": _no_args(c.Check),
    b"CLOSE": _no_args(c.Close),
    b"UNSELECT": _no_args(c.Unselect),
    b"EXPUNGE": _plain(parse_expunge),
    b"SEARCH": _plain(parse_search),
    b"FETCH": _plain(parse_fetch),
    b"STORE": _plain(parse_store),
    b"COPY": _plain(parse_copy),
    b"MOVE": _plain(parse_move),
}

#: Upper-cased command words, e.g. to refuse a synchronising literal of an
#: unknown command before the client sends it (``LiteralExpected.command``).
KNOWN_COMMANDS = frozenset(_COMMANDS) | {b"UID"}
