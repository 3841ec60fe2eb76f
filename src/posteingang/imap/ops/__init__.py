"""IMAP command handlers: one module per command family, run by `imap.session`.

Each handler is ``async def handler(session, command) -> Reply``: it carries out
the command against the store, emits its untagged data through the session, and
returns the tagged status. The session, not the handler, sends the untagged
updates of other sessions' changes (RFC 9051 §7.5.1) and the tagged line.

Handlers never touch a socket; they reach the client only through the session.
FETCH (`fetch.py`) and SEARCH evaluation (`search.py`) live beside these and are
reached through `_external`.
"""
