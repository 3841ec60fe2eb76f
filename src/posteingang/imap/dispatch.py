"""Which command runs in which state, and which handler runs it: the session's tables.

`ALLOWED` is RFC 9051 §6 (and the extensions' RFCs) as data: the states in which
each command is valid; anything else gets a BAD from the session. The handlers
come in three tables by what they are given, so the state a handler needs is in
its signature and never a None to check:

* `CONNECTION_HANDLERS`: ``(connection, command)``, for commands that work on the
  connection itself (login, TLS, CAPABILITY, ENABLE, IDLE ...);
* `ACCOUNT_HANDLERS`: ``(context, authenticated, command)``, for commands valid
  after login (mailbox commands, STATUS, APPEND, SELECT);
* `MAILBOX_HANDLERS`: ``(context, selected, command)``, for commands valid only
  with a mailbox selected (FETCH, STORE, SEARCH, EXPUNGE, COPY, MOVE ...).

Pure data: no behaviour lives here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from posteingang.imap.ops import auth as auth_ops
from posteingang.imap.ops import fetch_command as fetch_ops
from posteingang.imap.ops import idle as idle_ops
from posteingang.imap.ops import mailboxes as mailbox_ops
from posteingang.imap.ops import messages as message_ops
from posteingang.imap.ops import misc as misc_ops
from posteingang.imap.ops import search_command as search_ops
from posteingang.imap.ops import select as select_ops
from posteingang.imap.ops.common import Reply
from posteingang.imap.ops.context import Connection, Context
from posteingang.imap.proto import commands as c
from posteingang.imap.state import Authenticated, Selected, SessionState

__all__ = [
    "ACCOUNT_HANDLERS",
    "ALLOWED",
    "CONNECTION_HANDLERS",
    "MAILBOX_HANDLERS",
    "NO_EXPUNGE",
]

_N, _A, _S = (
    SessionState.NOT_AUTHENTICATED,
    SessionState.AUTHENTICATED,
    SessionState.SELECTED,
)
_ANY = frozenset((_N, _A, _S))
_AUTH = frozenset((_A, _S))

#: RFC 9051 §6: the states in which each command is valid.
ALLOWED: dict[type, frozenset[SessionState]] = {
    c.Capability: _ANY,
    c.Noop: _ANY,
    c.Logout: _ANY,
    c.Id: _ANY,
    c.StartTLS: frozenset((_N,)),
    c.Authenticate: frozenset((_N,)),
    c.Login: frozenset((_N,)),
    c.Enable: frozenset((_A,)),  # RFC 5161 §3.1 (and RFC 6855 §3: not after SELECT)
    c.Select: _AUTH,
    c.Examine: _AUTH,
    c.Create: _AUTH,
    c.Delete: _AUTH,
    c.Rename: _AUTH,
    c.Subscribe: _AUTH,
    c.Unsubscribe: _AUTH,
    c.List: _AUTH,
    c.Lsub: _AUTH,
    c.Namespace: _AUTH,
    c.Status: _AUTH,
    c.Append: _AUTH,
    c.Idle: _AUTH,
    c.Check: frozenset((_S,)),
    c.Close: frozenset((_S,)),
    c.Unselect: frozenset((_S,)),
    c.Expunge: frozenset((_S,)),
    c.Search: frozenset((_S,)),
    c.Fetch: frozenset((_S,)),
    c.Store: frozenset((_S,)),
    c.Copy: frozenset((_S,)),
    c.Move: frozenset((_S,)),
}

ConnectionHandler = Callable[[Connection, Any], Awaitable[Reply | None]]
AccountHandler = Callable[[Context, Authenticated, Any], Awaitable[Reply]]
MailboxHandler = Callable[[Context, Selected, Any], Awaitable[Reply]]

CONNECTION_HANDLERS: dict[type, ConnectionHandler] = {
    c.Capability: misc_ops.capability,
    c.Noop: misc_ops.noop,
    c.Logout: misc_ops.logout,
    c.Id: misc_ops.id_command,
    c.Enable: misc_ops.enable,
    c.StartTLS: auth_ops.starttls,
    c.Authenticate: auth_ops.authenticate,
    c.Login: auth_ops.login,
    c.Idle: idle_ops.idle,
}

ACCOUNT_HANDLERS: dict[type, AccountHandler] = {
    c.Select: select_ops.select,
    c.Examine: select_ops.select,
    c.Create: mailbox_ops.create,
    c.Delete: mailbox_ops.delete,
    c.Rename: mailbox_ops.rename,
    c.Subscribe: mailbox_ops.subscribe,
    c.Unsubscribe: mailbox_ops.subscribe,
    c.List: mailbox_ops.list_command,
    c.Lsub: mailbox_ops.lsub,
    c.Namespace: mailbox_ops.namespace,
    c.Status: mailbox_ops.status,
    c.Append: message_ops.append,
}

MAILBOX_HANDLERS: dict[type, MailboxHandler] = {
    c.Close: select_ops.close,
    c.Unselect: select_ops.unselect,
    c.Check: select_ops.check,
    c.Expunge: message_ops.expunge,
    c.Store: message_ops.store,
    c.Copy: message_ops.copy_or_move,
    c.Move: message_ops.copy_or_move,
    c.Fetch: fetch_ops.fetch,
    c.Search: search_ops.search,
}

#: RFC 9051 §7.5.1 / RFC 3501 §7.4.1: no EXPUNGE while answering these (non-UID forms).
NO_EXPUNGE = (c.Fetch, c.Store, c.Search)
