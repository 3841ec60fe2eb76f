"""delivery: every way in, after the protocol.

SMTP, LMTP, `posteingang deliver` and the webmail's local mail hand a finished
transaction to `deliver.LocalDelivery` (envelope + spooled message) and get one
outcome per recipient back; IMAP APPEND and import share its last step,
`ingest`. Recipient resolution is `recipients`, the spool `spool`, trace
headers `trace`, the one parse for every copy `copies`. Nothing here decides a
protocol's reply or touches a socket.
"""
