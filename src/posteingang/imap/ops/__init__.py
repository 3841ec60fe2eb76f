"""IMAP command handlers: one module per command family, run by `imap.session`.

A handler carries out one command against the store, emits its untagged data,
and returns the tagged status (`Reply`). It is given only what it needs: the
narrow `context.Context` (store, settings, output, select/deselect) or, for
commands on the connection itself, `context.Connection`, and the state object
the command is valid in (`imap.state.Authenticated` or `Selected`); which
handler gets what is in `imap.dispatch`. The session, not the handler, sends
the untagged updates of other sessions' changes (RFC 9051 §7.5.1) and the
tagged line.

Handlers never touch a socket and never import the session. FETCH
(`fetch.py` and its `fetch_*` helpers) and SEARCH (`search_command.py`, with the
evaluation in `search.py`) live here too.
"""
