"""Mailbox commands: CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB, NAMESPACE, STATUS.

The hierarchy delimiter is "/" and names are UTF-8 in the store; the proto core
already decoded modified UTF-7 (or UTF-8 after UTF8=ACCEPT) and normalised INBOX.

LIST (RFC 9051 §6.3.9, RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS, RFC 6154
SPECIAL-USE, RFC 3348 CHILDREN). The names a pattern can match are the account's
mailboxes plus their missing ancestors ("a" when only "a/b" exists); a missing
ancestor is shown ``\\Noselect`` (``\\NonExistent`` for LIST-EXTENDED and rev2,
RFC 5258 §3.4) so a client can still walk the tree with "%". Every entry carries
``\\HasChildren`` or ``\\HasNoChildren`` and its special-use attribute.

Subscriptions are names kept apart from mailboxes (`subscribe`, `select_subscribed`):
DELETE keeps them and CREATE adds none (RFC 3501 §6.3.6).

DELETE (RFC 9051 §6.3.4): a mailbox with inferiors is deleted and its name lives on
as a ``\\Noselect`` ancestor; deleting such a name is refused (``[HASCHILDREN]``).

This module must never touch messages, and never answer LIST from anything but
one `list_mailboxes` call (a LIST of 10,000 mailboxes is one query).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from posteingang.imap.ops.common import Reply, bad, no, ok
from posteingang.imap.ops.context import Context
from posteingang.imap.ops.pacing import Pacer
from posteingang.imap.proto import commands as c
from posteingang.imap.proto import responses
from posteingang.imap.proto.patterns import MailboxPattern, inbox_variants, match_pattern
from posteingang.imap.proto.responses import ResponseCode
from posteingang.imap.state import Authenticated, Selected
from posteingang.store.interface import AlreadyExists
from posteingang.store.model import HIERARCHY_DELIMITER, Mailbox, SpecialUse

__all__ = [
    "create",
    "delete",
    "list_command",
    "lsub",
    "namespace",
    "rename",
    "status",
    "status_items",
    "subscribe",
]

D = HIERARCHY_DELIMITER
_SPECIAL_BY_LOWER = {u.value.lower(): u for u in SpecialUse if u is not SpecialUse.INBOX}


def _ancestors(name: str) -> list[str]:
    parts = name.split(D)
    return [D.join(parts[:i]) for i in range(1, len(parts))]


# -- CREATE / DELETE / RENAME / SUBSCRIBE ------------------------------------------------


async def create(s: Context, auth: Authenticated, cmd: c.Create) -> Reply:
    # RFC 9051 §6.3.4: a trailing delimiter only declares intent to create inferiors.
    name = cmd.mailbox.rstrip(D) if cmd.mailbox != D else cmd.mailbox
    if name.upper() == "INBOX":
        return no("INBOX always exists", "ALREADYEXISTS")
    special: SpecialUse | None = None
    if cmd.special_use:
        # RFC 6154 §3: one special use per mailbox here; unknown ones are refused.
        uses = {_SPECIAL_BY_LOWER.get(u.lower()) for u in cmd.special_use}
        if None in uses or len(uses) != 1:
            return no("Unsupported special-use attribute", "USEATTR")
        special = uses.pop()
    if await s.store.get_mailbox(auth.account.id, name) is not None:
        return no("Mailbox already exists", "ALREADYEXISTS")
    # RFC 9051 §6.3.4: create the superior names that are needed.
    for parent in _ancestors(name):
        if parent == "INBOX" or await s.store.get_mailbox(auth.account.id, parent) is not None:
            continue
        try:
            await s.store.create_mailbox(auth.account.id, parent)
        except AlreadyExists:
            pass
    await s.store.create_mailbox(auth.account.id, name, special_use=special)
    return ok("CREATE completed")


async def delete(s: Context, auth: Authenticated, cmd: c.Delete) -> Reply:
    name = cmd.mailbox
    if name == "INBOX":
        return no("INBOX cannot be deleted", "CANNOT")
    mailbox = await s.store.get_mailbox(auth.account.id, name)
    if mailbox is None:
        boxes = await s.store.list_mailboxes(auth.account.id)
        if any(b.name.startswith(name + D) for b in boxes):
            # RFC 9051 §6.3.5: a \Noselect name with inferiors cannot be deleted.
            return no("Name has inferior mailboxes and is not a mailbox", "HASCHILDREN")
        return no("Mailbox does not exist", "NONEXISTENT")
    await s.store.delete_mailbox(auth.account.id, name)
    if isinstance(auth, Selected) and auth.view.mailbox_id == mailbox.id:
        s.deselect()
        s.emit(responses.untagged("OK", "Selected mailbox deleted", ResponseCode("CLOSED")))
    return ok("DELETE completed")


async def rename(s: Context, auth: Authenticated, cmd: c.Rename) -> Reply:
    old, new = cmd.mailbox, cmd.new_name.rstrip(D) or cmd.new_name
    if new.upper() == "INBOX":
        return no("INBOX always exists", "ALREADYEXISTS")
    if await s.store.get_mailbox(auth.account.id, old) is None:
        return no("Mailbox does not exist", "NONEXISTENT")
    if await s.store.get_mailbox(auth.account.id, new) is not None:
        return no("Target mailbox already exists", "ALREADYEXISTS")
    if new.startswith(old + D):
        return no("Cannot rename a mailbox into its own inferior", "CANNOT")
    for parent in _ancestors(new):
        if parent == old or parent.startswith(old + D):
            continue
        if await s.store.get_mailbox(auth.account.id, parent) is None:
            try:
                await s.store.create_mailbox(auth.account.id, parent)
            except AlreadyExists:
                pass
    await s.store.rename_mailbox(auth.account.id, old, new)
    if isinstance(auth, Selected):
        name = auth.name
        if old != "INBOX" and (name == old or name.startswith(old + D)):
            # This session renamed its own selected mailbox (or a superior of it): it
            # stays selected under the new name; another session's rename ends the
            # selection with BYE (`LiveUpdates.end_if_gone`).
            auth.name = new + name[len(old) :]
    return ok("RENAME completed")


async def subscribe(s: Context, auth: Authenticated, cmd: c.Subscribe | c.Unsubscribe) -> Reply:
    """RFC 3501 §6.3.6/§6.3.7. Subscriptions are names, independent of mailboxes: DELETE
    keeps them, CREATE adds none. SUBSCRIBE checks that the name exists (a mailbox or
    a parent of one; RFC 3501 allows the check, Dovecot makes it); UNSUBSCRIBE of any
    name is OK (RFC 9051 §6.3.8)."""
    on = isinstance(cmd, c.Subscribe)
    if on and await s.store.get_mailbox(auth.account.id, cmd.mailbox) is None:
        boxes = await s.store.list_mailboxes(auth.account.id)
        if not any(b.name.startswith(cmd.mailbox + D) for b in boxes):
            return no("Mailbox does not exist", "NONEXISTENT")
    await s.store.set_subscribed(auth.account.id, cmd.mailbox, on)
    return ok("SUBSCRIBE completed" if on else "UNSUBSCRIBE completed")


async def namespace(s: Context, auth: Authenticated, cmd: c.Namespace) -> Reply:
    # RFC 2342: one personal namespace, no prefix; no other users' or shared ones.
    s.emit(responses.namespace([("", D)], None, None, utf8=s.utf8))
    return ok("NAMESPACE completed")


# -- STATUS -------------------------------------------------------------------------------


async def status_items(s: Context, mailbox: Mailbox, items: Iterable[str]) -> list[tuple[str, int]]:
    """The (item, value) pairs of a STATUS response for ``mailbox``."""
    wanted = list(dict.fromkeys(items))
    counts = None
    if any(i in ("MESSAGES", "UNSEEN", "DELETED", "SIZE", "RECENT") for i in wanted):
        counts = await s.store.mailbox_status(mailbox.id)
        mailbox = counts.mailbox
    out: list[tuple[str, int]] = []
    for item in wanted:
        if item == "MESSAGES" and counts is not None:
            out.append((item, counts.messages))
        elif item == "UIDNEXT":
            out.append((item, mailbox.uidnext))
        elif item == "UIDVALIDITY":
            out.append((item, mailbox.uidvalidity))
        elif item == "UNSEEN" and counts is not None:
            out.append((item, counts.unseen))
        elif item == "DELETED" and counts is not None:
            out.append((item, counts.deleted))
        elif item == "SIZE" and counts is not None:
            out.append((item, counts.size))
        elif item == "RECENT" and counts is not None:
            # messages no session has been told of yet (RFC 3501 §2.3.2)
            out.append((item, counts.recent))
        elif item == "APPENDLIMIT":
            out.append((item, s.settings.max_message_size))
        elif item == "HIGHESTMODSEQ":
            out.append((item, mailbox.highestmodseq))
    return out


async def status(s: Context, auth: Authenticated, cmd: c.Status) -> Reply:
    mailbox = await s.store.get_mailbox(auth.account.id, cmd.mailbox)
    if mailbox is None:
        return no("Mailbox does not exist", "NONEXISTENT")
    if s.rev2 and "RECENT" in cmd.items:
        return bad("STATUS RECENT is not part of IMAP4rev2")
    pairs = await status_items(s, mailbox, cmd.items)
    s.emit(responses.status_response(mailbox.name, pairs, utf8=s.utf8))
    return ok("STATUS completed")


# -- LIST / LSUB --------------------------------------------------------------------------


def _canonical_pattern(reference: str, pattern: str) -> str:
    # RFC 9051 §6.3.9: reference and pattern are joined; INBOX is case-insensitive.
    full = reference + pattern
    if full[:5].upper() == "INBOX" and (len(full) == 5 or full[5] in (D, "*", "%")):
        full = "INBOX" + full[5:]
    return full


class _Tree:
    """Every name a LIST pattern can match: mailboxes and their missing ancestors."""

    def __init__(self, boxes: list[Mailbox]) -> None:
        self.boxes = {b.name: b for b in boxes}
        self.parents: set[str] = set()
        for name in self.boxes:
            # Walk up only until a known parent: each ancestor is built once, so a
            # deep tree costs its total name length, not depth x length per name.
            parent = name
            while (cut := parent.rfind(D)) > 0:
                parent = parent[:cut]
                if parent in self.parents:
                    break
                self.parents.add(parent)
        self.phantoms = self.parents - set(self.boxes)

    def names(self) -> list[str]:
        every = set(self.boxes) | self.phantoms
        return sorted(every, key=lambda n: (n != "INBOX" and not n.startswith("INBOX/"), n))

    def has_children(self, name: str) -> bool:
        return name in self.parents


def select_subscribed(
    subscribed: Iterable[str], matches: Callable[[str], bool], *, recursive: bool
) -> tuple[set[str], set[str]]:
    """LIST (SUBSCRIBED [RECURSIVEMATCH]) and LSUB: (names returned, names with CHILDINFO).

    Every subscribed name the pattern matches, existing or not (RFC 5258 §3: such a
    name is shown ``\\NonExistent``). With RECURSIVEMATCH (RFC 5258 §3, §3.5), a name
    the pattern matches that has a subscribed descendant is marked for CHILDINFO
    ("SUBSCRIBED"), and is returned on that account only when the descendant is not
    returned itself: it is the nearest matching name above a subscribed name the
    pattern does not match (as Dovecot: ``LIST (SUBSCRIBED RECURSIVEMATCH) "" "*b"``
    with only ``b/b`` subscribed returns ``b/b``, not ``b``).
    """
    names = set(subscribed)
    returned = {n for n in names if matches(n)}
    childinfo: set[str] = set()
    if recursive:
        for name in names:
            below_returned = name in returned
            for parent in reversed(_ancestors(name)):  # nearest first
                if not matches(parent):
                    continue
                childinfo.add(parent)
                if not below_returned:
                    returned.add(parent)
                    below_returned = True
    return returned, childinfo


def _list_order(name: str) -> tuple[bool, str]:
    return (name != "INBOX" and not name.startswith("INBOX/"), name)


async def list_command(s: Context, auth: Authenticated, cmd: c.List) -> Reply:
    selection = cmd.selection
    returns = cmd.returns
    if "RECURSIVEMATCH" in selection and not (selection - {"RECURSIVEMATCH", "REMOTE"}):
        return bad("RECURSIVEMATCH needs another selection option")  # RFC 5258 §3
    patterns = [_canonical_pattern(cmd.reference, p) for p in cmd.patterns]
    if not cmd.extended and cmd.patterns == ("",):
        # RFC 9051 §6.3.9: an empty pattern asks for the delimiter and the root.
        s.emit(responses.list_response(["\\Noselect"], D, "", utf8=s.utf8))
        return ok("LIST completed")
    # Linear-time matching (proto/patterns.py): a backtracking regex froze the server.
    compiled = [MailboxPattern(p, D) for p in patterns if p]
    if not compiled:
        return ok("LIST completed")
    tree = _Tree(await s.store.list_mailboxes(auth.account.id))
    subscribed_only = "SUBSCRIBED" in selection
    special_only = "SPECIAL-USE" in selection
    recursive = "RECURSIVEMATCH" in selection
    show_subscribed = subscribed_only or returns.subscribed
    nonexistent_word = "\\NonExistent" if (cmd.extended or s.rev2) else "\\Noselect"
    subscribed_names = set(await s.store.list_subscriptions(auth.account.id))
    inbox_ci = inbox_variants((p for p in patterns if p), D)

    def matches(name: str) -> bool:
        return match_pattern(compiled, name, inbox_case_insensitive=inbox_ci)

    childinfo: set[str] = set()
    if subscribed_only:
        # RFC 5258 §3: the subscribed names, whether their mailboxes exist or not.
        chosen, childinfo = select_subscribed(subscribed_names, matches, recursive=recursive)
        candidates = sorted(chosen, key=_list_order)
    else:
        candidates = [n for n in tree.names() if matches(n)]
    pacer = Pacer()  # other clients are served between slices (ops/pacing.py)
    for name in candidates:
        await pacer.tick()
        box = tree.boxes.get(name)
        known = box is not None or name in tree.phantoms
        if special_only and (box is None or box.special_use in (None, SpecialUse.INBOX)):
            continue
        attrs: list[str] = []
        if box is None:
            attrs.append(nonexistent_word)
        if known:
            # A subscribed name that is neither a mailbox nor a parent of one shows only
            # \NonExistent \Subscribed (RFC 5258 §5, example 3: "Fruit/peach").
            attrs.append("\\HasChildren" if tree.has_children(name) else "\\HasNoChildren")
        if box is not None and box.special_use not in (None, SpecialUse.INBOX):
            assert box.special_use is not None
            attrs.append(box.special_use.value)
        if show_subscribed and name in subscribed_names:
            attrs.append("\\Subscribed")
        child_info = ["SUBSCRIBED"] if name in childinfo else []  # RFC 5258 §3.5
        s.emit(responses.list_response(attrs, D, name, utf8=s.utf8, child_info=child_info))
        if subscribed_only and name not in subscribed_names:
            continue  # returned for a subscribed child only: no STATUS (as Dovecot)
        if returns.status is not None and box is not None:
            # RFC 5819: a STATUS response right after the mailbox's LIST response.
            pairs = await status_items(s, box, returns.status)
            s.emit(responses.status_response(name, pairs, utf8=s.utf8))
    return ok("LIST completed")


async def lsub(s: Context, auth: Authenticated, cmd: c.Lsub) -> Reply:
    """RFC 3501 §6.3.9 (deprecated in rev2, still answered): subscribed names.

    Subscribed names are listed whether their mailboxes exist or not, with no
    attributes. A pattern ending in "%" also shows the matching parent of a
    subscribed name it does not reach, as ``\\Noselect`` (RFC 3501 §6.3.9: "LSUB
    "" news.%" shows "news.comp" as \\Noselect when only "news.comp.mail.misc" is
    subscribed); other patterns show only subscribed names (as Dovecot).
    """
    if cmd.pattern is None:
        return ok("LSUB completed")  # not a valid name: matches nothing
    pattern = _canonical_pattern(cmd.reference, cmd.pattern)
    if not pattern:
        s.emit(responses.lsub_response(["\\Noselect"], D, "", utf8=s.utf8))
        return ok("LSUB completed")
    compiled = MailboxPattern(pattern, D)
    subscribed = set(await s.store.list_subscriptions(auth.account.id))
    chosen, _ = select_subscribed(subscribed, compiled.matches, recursive=True)
    for name in sorted(chosen, key=_list_order):
        if name in subscribed:
            s.emit(responses.lsub_response([], D, name, utf8=s.utf8))
        elif pattern.endswith("%"):
            s.emit(responses.lsub_response(["\\Noselect"], D, name, utf8=s.utf8))
    return ok("LSUB completed")
