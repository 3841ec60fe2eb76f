"""The connection layer's settings decode from config data and catch bad values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from posteingang.auth.settings import AuthSettings
from posteingang.auth.throttle import ThrottlePolicy
from posteingang.net.settings import ListenerSettings, TlsMode, TlsSettings


def test_listener_from_toml_like_data() -> None:
    data: dict[str, Any] = {
        "protocol": "IMAP",
        "port": 993,
        "tls": "implicit",
        "proxy_protocol": True,
        "trusted_proxies": ["10.0.0.0/24", "2001:db8::7"],
    }
    listener = msgspec.convert(data, ListenerSettings)
    assert listener.tls is TlsMode.IMPLICIT and listener.host == "::"
    assert listener.problems() == []


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"protocol": "POP3", "port": 110, "proxy_protocol": True}, "trusted_proxies"),
        ({"protocol": "POP3", "port": 110, "trusted_proxies": ["10.0.0.0/33"]}, "trusted_proxies"),
        (
            {"protocol": "POP3", "port": 110, "trusted_proxies": ["proxy.example"]},
            "trusted_proxies",
        ),
    ],
)
def test_listener_problems(data: dict[str, Any], key: str) -> None:
    assert [k for k, _ in msgspec.convert(data, ListenerSettings).problems()] == [key]


@pytest.mark.parametrize(
    "data",
    [
        {"protocol": "IMAP", "port": 70000},
        {"protocol": "IMAP", "port": 143, "tls": "ssl"},
        {"protocol": "IMAP", "port": 143, "login_timeout": 0},
        {"protocol": "IMAP", "port": 143, "unknown": 1},
    ],
)
def test_listener_type_errors(data: dict[str, Any]) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(data, ListenerSettings)


def paths(tp: type, obj: Any) -> Any:
    """What the config loader's dec_hook does for paths."""
    if tp is Path:
        return Path(obj)
    raise NotImplementedError(tp)


def test_tls_settings_with_sni() -> None:
    tls = msgspec.convert(
        {"min_version": "TLSv1.3", "sni": {"*.example.org": {"cert": "a.pem", "key": "a.key"}}},
        TlsSettings,
        dec_hook=paths,
    )
    assert tls.problems() == [] and tls.sni["*.example.org"].cert == Path("a.pem")
    bad = msgspec.convert({"sni": {"*": {"cert": "a", "key": "b"}}}, TlsSettings, dec_hook=paths)
    assert bad.problems() == [("sni", "not a server name: '*'")]
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"min_version": "TLSv1.1"}, TlsSettings)


def test_auth_settings_become_the_throttle_policy() -> None:
    assert AuthSettings().throttle_policy() == ThrottlePolicy()
    custom = msgspec.convert({"block_after": 5, "max_delay": 3.0}, AuthSettings)
    policy = custom.throttle_policy()
    assert (policy.block_after, policy.max_delay) == (5, 3.0)
    assert AuthSettings().allow_plaintext is False
