"""The IMAP connection states (RFC 9051 §3) as a tagged union, and what each one holds.

A session is in exactly one of `NotAuthenticated`, `Authenticated`, `Selected`
and `LoggedOut`. Each state object carries only what exists in that state: the
account and its change-feed subscription from login on, the selected mailbox's
view and its live updates only while a mailbox is selected. A handler for a
selected-state command is given the `Selected` object itself, so it can never
meet a selection that is not there. `Selected` is an `Authenticated` (a
command valid after login is valid with a mailbox selected, RFC 9051 §6).

The moves between states are data (`TRANSITIONS`, over the states' `kind`); the
session checks every move against it, so a handler cannot reach a state the
RFC does not allow from where the session is.

This module holds state, never behaviour that reads commands or writes to the
client (`imap.session` does that; live updates are `live.LiveUpdates`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from posteingang.imap.selected import SelectedMailbox
from posteingang.store.hub import Subscription
from posteingang.store.model import Account, Device

if TYPE_CHECKING:
    from posteingang.imap.live import LiveUpdates

__all__ = [
    "TRANSITIONS",
    "Authenticated",
    "LoggedOut",
    "NotAuthenticated",
    "Selected",
    "SessionState",
    "State",
    "Transition",
]


class SessionState(enum.Enum):
    """RFC 9051 §3 connection states: the `kind` of each state object."""

    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


class Transition(enum.Enum):
    LOGIN = "login"  # LOGIN / AUTHENTICATE succeeded
    SELECT = "select"  # SELECT / EXAMINE succeeded
    DESELECT = "deselect"  # CLOSE, UNSELECT, a failed SELECT, the mailbox deleted
    LOGOUT = "logout"  # LOGOUT, autologout, the server shutting down


_N, _A, _S, _L = (
    SessionState.NOT_AUTHENTICATED,
    SessionState.AUTHENTICATED,
    SessionState.SELECTED,
    SessionState.LOGOUT,
)

#: (state, transition) -> next state; anything missing is a bug of ours.
TRANSITIONS: dict[tuple[SessionState, Transition], SessionState] = {
    (_N, Transition.LOGIN): _A,
    (_N, Transition.LOGOUT): _L,
    (_A, Transition.SELECT): _S,
    (_A, Transition.DESELECT): _A,
    (_A, Transition.LOGOUT): _L,
    (_S, Transition.SELECT): _S,
    (_S, Transition.DESELECT): _A,
    (_S, Transition.LOGOUT): _L,
}


@dataclass(slots=True, eq=False)
class NotAuthenticated:
    """Before login: nothing but the connection."""

    kind: ClassVar[SessionState] = SessionState.NOT_AUTHENTICATED


@dataclass(slots=True, eq=False)
class Authenticated:
    """Logged in: the account, the device password used (if any), and the one
    change-feed subscription the session holds for the account from now on."""

    account: Account
    device: Device | None
    subscription: Subscription

    kind: ClassVar[SessionState] = SessionState.AUTHENTICATED


@dataclass(slots=True, eq=False)
class Selected(Authenticated):
    """A mailbox is selected: the one object that is the selection.

    `view` is the client's picture of the mailbox (sequence numbers, flags,
    pending news); `name` the name the client selected it by (a RENAME by this
    session follows it); `keywords` those announced in FLAGS; `saved_uids` the
    RFC 5182 ``$`` (reset by every SELECT, so it lives and dies with the
    selection); `live` brings the change feed into the view.
    """

    view: SelectedMailbox
    name: str
    keywords: set[str]
    live: LiveUpdates = field(init=False)
    saved_uids: list[int] | None = None
    #: Why the session must end: another session deleted or renamed the mailbox.
    gone: str | None = None

    kind: ClassVar[SessionState] = SessionState.SELECTED


@dataclass(slots=True, eq=False)
class LoggedOut:
    """After LOGOUT: the session says nothing more."""

    kind: ClassVar[SessionState] = SessionState.LOGOUT


State = NotAuthenticated | Authenticated | Selected | LoggedOut
