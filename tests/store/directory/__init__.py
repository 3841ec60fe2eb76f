"""Contract part 1, `store.directory.Directory`: domains, accounts, aliases, devices, logins.

A new backend implements the directory first and passes these (plus the hub's
CREDENTIALS changes); they call no mailbox or message method.
"""
