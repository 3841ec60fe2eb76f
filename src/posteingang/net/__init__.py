"""The connection layer every protocol shares; see docs/connections.md.

``server``      ``ListenerServer``: accept loop, PROXY header, connection limits, implicit
                TLS, graceful shutdown; a protocol registers ``handle_connection(conn)``.
``connection``  ``Connection``: ``read_line``/``read_some`` with per-phase timeouts,
                ``write`` with back-pressure, ``start_tls`` that drops pipelined plaintext.
``session``     the session contract and ``serve_session``, the loop that drives every
                protocol session (timeouts, shutdown at a command boundary, STARTTLS).
``transport``   ``Transport``, the byte pipe sessions talk through; ``ConnectionTransport``.
``tls``         ``TlsContexts`` (default + SNI certificates, ``reload()`` on SIGHUP),
                ``upgrade_to_tls``.
``proxy``       PROXY protocol v1/v2 parser (sans-I/O).
``limits``      connection counters: total, per address, per account.
``settings``    msgspec structs for ``[tls]``, listeners and ``[auth]``.
``certs``       the first-run self-signed certificate.

Logins and throttling live in ``auth.login`` and ``auth.throttle``.  Nothing here knows
a protocol's commands.
"""
