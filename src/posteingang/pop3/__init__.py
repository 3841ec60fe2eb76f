"""POP3 (RFC 1939 and extensions): the pure core in `proto`, the server around it.

* `proto`         -- sans-I/O core: bytes in, command events out, replies to bytes.
* `maildrop`      -- one client's numbered INBOX snapshot, sizes and UIDLs.
* `authorization` -- USER/PASS, APOP, AUTH through the shared login path.
* `session`       -- `Pop3Session`: the core driven against the store (no sockets).
* `bodies`        -- RETR/TOP bodies streamed from the blob store.
* `deletion`, `retention` -- the deletion policies; leave-on-server retention.
* `locks`, `policy`, `services` -- [IN-USE], [LOGIN-DELAY], settings, shared state.
* `server`        -- the asyncio shell on `net.ListenerServer`.

See docs/pop3.md and docs/pop3-devices.md.
"""
