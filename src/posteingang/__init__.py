"""posteingang: a self-hosted incoming mail server."""

__version__ = "0.1.0"
