"""Contract part 2, `store.mailstore.Mailstore`: mailboxes, messages, changes, threads, pages.

Runs on the accounts of part 1 (`tests/store/directory`) and the backend's blobs.
"""
