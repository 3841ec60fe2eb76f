"""Authentication: password hashes and SASL mechanisms.

``passwords``  hash new passwords (argon2id), verify imported Dovecot schemes, bounded async.
``scram``      SCRAM-SHA-256 stored keys (Dovecot's ``{SCRAM-SHA-256}`` record).
``saslprep``   RFC 4013 string preparation.
``shacrypt``, ``md5crypt``  crypt(3) algorithms for verifying imported hashes.
``sasl``       server-side SASL mechanisms as sans-I/O step objects, and their registry.
``devices``    device passwords: their shape and the selector that names the device.
``secret``     the server's key on disk (``<data_dir>/auth-secret.key``).
``throttle``   delays, blocks and the fail2ban line, per address, IPv6 /48 and account.
``login``      the one login every protocol calls: smart lockout, one verification,
               bookkeeping.
``cache``      remembered good logins (keyed HMACs in memory).

Nothing here does network I/O; only ``login`` talks to the store (accounts, devices,
login records) and ``secret`` reads one file.  See docs/auth.md, docs/connections.md
and docs/security.md.
"""
