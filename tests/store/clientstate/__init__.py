"""Contract part 3, `store.clientstate.ClientState`: what each POP3 client has seen.

Runs on the mailboxes and messages of part 2 (`tests/store/mailstore`).
"""
