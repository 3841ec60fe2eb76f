"""The selected mailbox as one IMAP session sees it: sequence numbers, flags, pending news.

Theory of operation
-------------------
The store is the one truth; this object is a *view* of one mailbox that a
session has told its client about. Message sequence numbers exist only here:
seq n is the n-th uid in `uids` (ascending). The view changes only when the
protocol lets the session tell the client (DESIGN.md invariant 4):

- Changes from anywhere (this session, other IMAP sessions, POP3, delivery,
  webmail) arrive as `note_*` calls, fed from the change feed. They are queued,
  not applied.
- `flush(expunge_allowed=...)` applies the queue and returns the untagged
  updates to send, in an order whose sequence numbers are right for a client
  that processes them one by one: EXPUNGE first (each with the number valid
  at that moment), then EXISTS, then FETCH (FLAGS).
- RFC 9051 §7.5.1 / RFC 3501 §7.4.1: no EXPUNGE while responding to FETCH,
  STORE or SEARCH (the sequence numbers in their arguments and replies must
  keep meaning what the client thinks). The session calls
  `flush(expunge_allowed=False)` then: EXISTS and FLAGS go out, expunges stay
  queued, and the messages stay addressable (a FETCH of one gets its data or,
  once the bytes are gone, a NO with EXPUNGEISSUED; UID FETCH answers OK).
- Duplicates are harmless: a change this session made itself is applied when
  the session reports it (`note_flags` with the modseq the store returned), and
  the same change arriving again from the feed carries no newer modseq, so
  nothing is sent twice.

With QRESYNC enabled (RFC 7162 §3.2.10) expunges are reported as one VANISHED
with uids instead of EXPUNGE per sequence number; `flush` does that when
`vanished=True`. The view also tracks `highestmodseq` for CONDSTORE.
"""

from __future__ import annotations

import bisect
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Exists:
    count: int
    # The uids that joined, ascending (their flags are not read yet); not what the
    # client sees, so not part of equality.
    uids: tuple[int, ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class Expunge:
    seq: int


@dataclass(frozen=True, slots=True)
class Vanished:
    uids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class FlagsChanged:
    seq: int
    uid: int
    flags: frozenset[str]
    modseq: int


Update = Exists | Expunge | Vanished | FlagsChanged


class RecentUids:
    """The uids this session reports as ``\\Recent`` (IMAP4rev1, RFC 3501 §2.3.2).

    Ranges of uids, as `Store.claim_recent` hands them out (a session claims the
    mailbox's unannounced messages at SELECT and when new ones arrive; whoever
    claims first gets them). A read-only (EXAMINE) session claims nothing and
    sees every unclaimed message as recent. A few ranges, not a set of uids: the
    first SELECT after an import of a million messages claims them all at once.
    """

    __slots__ = ("_lows", "_ranges", "announced", "claimed_upto")

    def __init__(self) -> None:
        self._ranges: list[tuple[int, int]] = []  # ascending, disjoint
        self._lows: list[int] = []  # each range's low: `__contains__` bisects (per message)
        self.claimed_upto = 0  # uids below this were claimed (by this session or another)
        self.announced = 0  # the count in the last * n RECENT

    def add(self, low: int, high: int) -> None:
        """The uids low <= uid < high are recent for this session."""
        self.claimed_upto = max(self.claimed_upto, high)
        if low >= high:
            return
        if self._ranges and self._ranges[-1][1] == low:
            self._ranges[-1] = (self._ranges[-1][0], high)
        else:
            i = bisect.bisect_left(self._lows, low)
            self._ranges.insert(i, (low, high))
            self._lows.insert(i, low)

    def __contains__(self, uid: object) -> bool:
        if not self._ranges or not isinstance(uid, int):
            return False
        i = bisect.bisect_right(self._lows, uid) - 1
        return i >= 0 and uid < self._ranges[i][1]

    def __bool__(self) -> bool:
        return bool(self._ranges)

    def among(self, uids: Sequence[int]) -> set[int]:
        """Those of `uids` (ascending) that are recent: a bisection per range, not per
        uid (FETCH FLAGS of a mailbox asks for every message)."""
        out: set[int] = set()
        for lo, hi in self._ranges:
            out.update(uids[bisect.bisect_left(uids, lo) : bisect.bisect_left(uids, hi)])
        return out

    def count(self, uids: Sequence[int]) -> int:
        """How many of `uids` (ascending) are recent."""
        return sum(
            bisect.bisect_left(uids, hi) - bisect.bisect_left(uids, lo) for lo, hi in self._ranges
        )


_NO_FLAGS: frozenset[str] = frozenset()


class SelectedMailbox:
    def __init__(
        self,
        mailbox_id: int,
        uidvalidity: int,
        uids: Sequence[int],
        flags: Sequence[frozenset[str]],
        modseqs: Sequence[int],
        highestmodseq: int,
        *,
        readonly: bool = False,
    ) -> None:
        self.mailbox_id = mailbox_id
        self.uidvalidity = uidvalidity
        self.readonly = readonly
        self.uids: list[int] = list(uids)
        self.flags: dict[int, frozenset[str]] = dict(zip(uids, flags, strict=True))
        self.modseqs: dict[int, int] = dict(zip(uids, modseqs, strict=True))
        self.highestmodseq = highestmodseq
        self.recent = RecentUids()
        # pending news, applied by flush()
        self._new: set[int] = set()
        self._gone: set[int] = set()
        self._flag_news: dict[int, tuple[frozenset[str], int]] = {}

    # -- lookups ------------------------------------------------------------------------
    @property
    def exists(self) -> int:
        return len(self.uids)

    @property
    def max_uid(self) -> int:
        return self.uids[-1] if self.uids else 0

    def uid_of(self, seq: int) -> int:
        """The uid of sequence number `seq` (1-based); IndexError when out of range."""
        if seq < 1:
            raise IndexError(seq)
        return self.uids[seq - 1]

    def seq_of(self, uid: int) -> int | None:
        i = bisect.bisect_left(self.uids, uid)
        if i < len(self.uids) and self.uids[i] == uid:
            return i + 1
        return None

    def uids_in_range(self, low: int, high: int) -> list[int]:
        """Uids in the view with low <= uid <= high, ascending."""
        lo = bisect.bisect_left(self.uids, low)
        hi = bisect.bisect_right(self.uids, high)
        return self.uids[lo:hi]

    def latest_flags(self, uid: int) -> tuple[frozenset[str], int]:
        """A message's newest flags and modseq known here: queued news, else what was told.

        KeyError for a uid not in the view."""
        pending = self._flag_news.get(uid)
        if pending is not None:
            return pending
        return self.flags[uid], self.modseqs[uid]

    def is_expunge_pending(self, uid: int) -> bool:
        return uid in self._gone

    def pending_expunges(self) -> Collection[int]:
        """The uids whose expunge is queued (read-only; FETCH loops test it per message)."""
        return self._gone

    def pending_flag_news(self) -> Mapping[int, tuple[frozenset[str], int]]:
        """uid -> (flags, modseq) of the queued flag changes (read-only)."""
        return self._flag_news

    def has_pending(self) -> bool:
        return bool(self._new or self._gone or self._flag_news)

    # -- news (from the change feed or from this session's own commands) ---------------
    def note_appended(self, uids: Iterable[int], modseq: int) -> None:
        for uid in uids:
            if uid > self.max_uid and uid not in self._gone:
                self._new.add(uid)
        self.highestmodseq = max(self.highestmodseq, modseq)

    def note_flags(self, uid: int, flags: frozenset[str], modseq: int) -> None:
        known = self.modseqs.get(uid)
        pending = self._flag_news.get(uid)
        if known is not None and modseq <= known:
            return
        if pending is not None and modseq <= pending[1]:
            return
        if uid in self.flags or uid in self._new:
            self._flag_news[uid] = (flags, modseq)
        self.highestmodseq = max(self.highestmodseq, modseq)

    def note_expunged(self, uids: Iterable[int], modseq: int) -> None:
        for uid in uids:
            if uid in self._new:
                self._new.discard(uid)
                self._flag_news.pop(uid, None)
            elif uid in self.flags:
                self._gone.add(uid)
        self.highestmodseq = max(self.highestmodseq, modseq)

    def accept_own_flags(self, uid: int, flags: frozenset[str], modseq: int) -> None:
        """Apply a flag change this session made; it reports it itself (STORE replies)."""
        if uid in self.flags:
            self.flags[uid] = flags
            self.modseqs[uid] = modseq
            pending = self._flag_news.get(uid)
            if pending is not None and pending[1] <= modseq:
                del self._flag_news[uid]
        self.highestmodseq = max(self.highestmodseq, modseq)

    # -- telling the client -----------------------------------------------------------
    def flush(self, *, expunge_allowed: bool, vanished: bool = False) -> list[Update]:
        out: list[Update] = []
        if expunge_allowed and self._gone:
            gone = sorted(self._gone)
            self._gone.clear()
            if vanished:
                out.append(Vanished(tuple(gone)))
                self._remove(gone)
            else:
                # Highest sequence number first: each EXPUNGE n is then valid as sent,
                # and the numbers of the remaining expunges do not shift (RFC 9051 §7.5.1).
                for uid in reversed(gone):
                    seq = self.seq_of(uid)
                    if seq is not None:
                        out.append(Expunge(seq))
                self._remove(gone)
        if self._new:
            fresh = sorted(self._new)
            self._new.clear()
            self.uids.extend(fresh)
            for uid in fresh:
                self.flags[uid] = _NO_FLAGS
                self.modseqs[uid] = 0
            out.append(Exists(len(self.uids), tuple(fresh)))
        if self._flag_news:
            news = sorted(self._flag_news.items())
            self._flag_news.clear()
            for uid, (flags, modseq) in news:
                if uid not in self.flags:
                    continue
                self.flags[uid] = flags
                self.modseqs[uid] = modseq
                seq = self.seq_of(uid)
                if seq is not None:
                    out.append(FlagsChanged(seq, uid, flags, modseq))
        return out

    def _remove(self, gone: list[int]) -> None:
        dead = set(gone)
        self.uids = [u for u in self.uids if u not in dead]
        for uid in gone:
            self.flags.pop(uid, None)
            self.modseqs.pop(uid, None)
            self._flag_news.pop(uid, None)

    def apply_own_expunge(self, uids: Iterable[int], *, vanished: bool = False) -> list[Update]:
        """This session's EXPUNGE/MOVE: tell the client now (plus any queued expunges)."""
        for uid in uids:
            if uid in self.flags:
                self._gone.add(uid)
        return self.flush(expunge_allowed=True, vanished=vanished)
