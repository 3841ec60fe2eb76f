"""Thread ids (RFC 8474 §5.2 THREADID; JMAP Mail §3 threadId): the rule both backends share.

A message joins the thread of any message *in the same account* (across
mailboxes) that it names in References/In-Reply-To, or that names it. Each
account keeps a map Message-ID -> thread id holding every id a stored message
carries or references ("thread keys"). At append:

1. The keys looked up, in order: the last `MAX_REFERENCES` parent ids
   (References, oldest first, then In-Reply-To), then the message's own
   Message-ID. The first key already known gives the thread: the earliest
   known ancestor's thread wins. A reply that arrived before its parent left
   the parent's id in the map, so the late parent (found by its own id)
   adopts the reply's thread.
2. Nothing known: a new thread, ``"T"`` + the message's email id.
3. Every key not known yet now points at that thread. Known keys are never
   changed.

Thread ids of stored messages never change (JMAP: threadId is immutable;
clients cache THREADID): a message that bridges two threads found earlier
joins the first (its earliest known ancestor's) and the two are not merged.
COPY and MOVE keep a message's thread id like its email id. The map keeps ids
of expunged messages, so a late reply to a deleted message still finds the
rest of its conversation.

Bounded work per append: at most `MAX_REFERENCES` + 2 keys, one indexed
lookup each. This module is pure; the backends do the lookups.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

# Long References chains (mailing lists) are cut to the nearest ancestors.
MAX_REFERENCES = 20
# Longer "Message-IDs" are junk (RFC 5322 lines are at most 998 octets); ignored.
MAX_ID_LENGTH = 250


def thread_keys(message_id: str | None, parent_ids: Sequence[str]) -> list[str]:
    """The keys of a message in lookup order: nearest `MAX_REFERENCES` parents
    (oldest first), then its own Message-ID; duplicates and junk left out."""
    keys: list[str] = []
    for key in [*parent_ids[-MAX_REFERENCES:], message_id]:
        if key and len(key) <= MAX_ID_LENGTH and key not in keys:
            keys.append(key)
    return keys


def own_thread(email_id: str) -> str:
    """The thread id of a message that starts a thread (its email id, "M…" -> "T…")."""
    return "T" + email_id[1:]


def assign(
    keys: Sequence[str],
    email_id: str,
    lookup: Callable[[Sequence[str]], dict[str, str]],
) -> tuple[str, list[str]]:
    """The message's thread id, and the keys to record for it (those not known yet).

    `lookup(keys)` returns the known ones with their thread ids.
    """
    known = lookup(keys) if keys else {}
    for key in keys:
        if key in known:
            thread_id = known[key]
            break
    else:
        thread_id = own_thread(email_id)
    return thread_id, [k for k in keys if k not in known]
