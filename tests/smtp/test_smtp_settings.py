"""The [smtp] section: documented, validated, and turned into the core's limits."""

from __future__ import annotations

import msgspec
import pytest

from posteingang.config.schema import fields_of
from posteingang.smtp.proto import BareLineBreakPolicy
from posteingang.smtp.settings import SmtpSettings


def test_every_setting_is_documented_with_a_default() -> None:
    specs = fields_of("smtp", SmtpSettings)
    assert {s.name for s in specs} >= {"max_recipients", "lmtp_socket", "dedupe_seconds"}
    assert not any(s.required for s in specs)


def test_settings_validate_and_build_limits() -> None:
    settings = msgspec.convert({"max_recipients": 500, "bare_line_breaks": "accept"}, SmtpSettings)
    limits = settings.limits(10_000_000)
    assert limits.max_recipients == 500
    assert limits.max_message_size == 10_000_000
    assert limits.bare_line_breaks is BareLineBreakPolicy.ACCEPT
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"max_recipients": 10}, SmtpSettings)  # RFC 5321: at least 100
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"bare_line_breaks": "normalise"}, SmtpSettings)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"no_such_key": 1}, SmtpSettings)
