"""The envelope rules of MAIL FROM and RCPT TO: which parameters, which addresses, how many.

Pure functions from a parsed command plus the session facts they depend on
(EHLO or HELO, SMTPUTF8, the size limit, the recipient count) to either the
event for the application or the reply that refuses the command.  This
module must never decide policy that belongs to the application (which
senders or recipients exist); it only applies the protocol's own rules.
"""

from __future__ import annotations

from .commands import MailCommand, RcptCommand
from .events import MailFrom, MailParams, RcptParams, RcptTo
from .replies import Reply
from .transfer import TOO_BIG

__all__ = ["NEED_SMTPUTF8", "PARAM_UNKNOWN", "check_mail", "check_rcpt"]

# RFC 5321 §4.1.1.11: 555 for parameters not recognized or not implemented.
PARAM_UNKNOWN = Reply(555, "5.5.4", "Parameter not recognized")
# RFC 6531 §3.5 / RFC 5248: X.6.7 non-ASCII addresses not permitted.
NEED_SMTPUTF8 = Reply(553, "5.6.7", "Non-ASCII address requires SMTPUTF8")
TOO_MANY_RECIPIENTS = Reply(452, "4.5.3", "Too many recipients")


def check_mail(command: MailCommand, *, esmtp: bool, max_size: int) -> MailFrom | Reply:
    """Apply RFC 1870, RFC 6152 and RFC 6531 to ``MAIL FROM``."""
    size: int | None = None
    body: str | None = None
    smtputf8 = False
    seen: set[str] = set()
    for keyword, value in command.params:
        if not esmtp:
            return PARAM_UNKNOWN  # RFC 5321 §4.1.1.11: parameters only after EHLO
        if keyword in seen:
            return Reply(501, "5.5.4", f"Duplicate {keyword} parameter")
        seen.add(keyword)
        if keyword == "SIZE":  # RFC 1870 §3: size-value ::= 1*20DIGIT
            if value is None or not (value.isascii() and value.isdigit()) or len(value) > 20:
                return Reply(501, "5.5.4", "Syntax: SIZE=<octets>")
            size = int(value)
        elif keyword == "BODY":  # RFC 6152 §2; BINARYMIME is not offered
            if value is None or value.upper() not in ("7BIT", "8BITMIME"):
                return Reply(501, "5.5.4", "Syntax: BODY=7BIT or BODY=8BITMIME")
            body = value.upper()
        elif keyword == "SMTPUTF8":  # RFC 6531 §3.4: no value
            if value is not None:
                return Reply(501, "5.5.4", "SMTPUTF8 takes no value")
            smtputf8 = True
        else:
            return PARAM_UNKNOWN
    if command.address is not None and not command.address.is_ascii and not smtputf8:
        return NEED_SMTPUTF8
    if size is not None and size > max_size:
        return TOO_BIG  # RFC 1870 §6.1: refuse at MAIL rather than after the data
    params = MailParams(size=size, body=body, smtputf8=smtputf8, raw=command.params)
    return MailFrom(command.address, params)


def check_rcpt(
    command: RcptCommand, *, smtputf8: bool, recipients: int, max_recipients: int
) -> RcptTo | Reply:
    """Apply the parameter, SMTPUTF8 and recipient-count rules to ``RCPT TO``."""
    if command.params:
        return PARAM_UNKNOWN  # no RCPT parameters are advertised (no DSN yet)
    if not command.address.is_ascii and not smtputf8:
        return NEED_SMTPUTF8
    if recipients >= max_recipients:
        # RFC 5321 §4.5.3.1.10: 452, so that the client sends the rest later.
        return TOO_MANY_RECIPIENTS
    return RcptTo(command.address, RcptParams(raw=command.params))
