"""imap proto."""
