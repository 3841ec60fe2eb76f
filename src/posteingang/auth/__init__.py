"""Authentication: password hashes and SASL mechanisms.

``passwords``  hash new passwords (argon2id), verify imported Dovecot schemes, bounded async.
``scram``      SCRAM-SHA-256 stored keys (Dovecot's ``{SCRAM-SHA-256}`` record).
``saslprep``   RFC 4013 string preparation.
``shacrypt``, ``md5crypt``  crypt(3) algorithms for verifying imported hashes.
``sasl``       server-side SASL mechanisms as sans-I/O step objects, and their registry.

Nothing in this package does network or store I/O: the protocol shells look accounts up
and pass the stored strings in.  See docs/auth.md.
"""
