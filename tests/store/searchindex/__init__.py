"""Contract part 4, `store.searchindex.SearchIndex`: the webmail search's full-text index.

Runs on the mailboxes and messages of part 2 (`tests/store/mailstore`); the
candidates are held against the IMAP engine's own SEARCH.
"""
