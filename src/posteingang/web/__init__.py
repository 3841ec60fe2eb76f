"""posteingang.web: the webmail, on the same store and change feed as IMAP and POP3.

Starlette + Jinja2 pages with small plain ES modules (no build step), served by
uvicorn's HTTP protocol on the runtime's own listeners and event loop
(server.py). Importing this package imports nothing heavy: the CLI reads
`settings` without loading Starlette.
"""
