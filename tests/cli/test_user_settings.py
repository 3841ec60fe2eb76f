"""Issue 11 item 16: per-account POP3 settings through `user set` / `user show`,
and a POP3 login that then gets them (EXPIRE, LOGIN-DELAY, the deletion policy)."""

from __future__ import annotations

import poplib
from pathlib import Path

import pytest

from posteingang.store.interface import Store
from posteingang.store.model import AccountSettings, DeletionPolicy

from .conftest import PASSWORD, Cli, assert_one_line_error
from .storeutil import with_store

USER = "demo@example.test"


def _settings(data_dir: Path) -> AccountSettings:
    async def go(store: Store) -> AccountSettings:
        account = await store.get_account(USER)
        assert account is not None
        return account.settings

    return with_store(data_dir, go)


def test_set_and_show_every_setting(run: Cli, data_dir: Path) -> None:
    for key, value in (
        ("pop3_deletion_policy", "hide"),
        ("retention", "30"),
        ("pop3_login_delay", "120"),
        ("uidl_format", "dovecot"),
    ):
        result = run("user", "set", USER, key, value)
        assert result.exit_code == 0, result.output
    assert _settings(data_dir) == AccountSettings(DeletionPolicy.HIDE, 30, "dovecot", 120)
    shown = run("user", "show", USER)
    assert shown.exit_code == 0, shown.output
    for line in ("pop3_deletion_policy", "hide", "pop3_retention_days", "30", "120", "dovecot"):
        assert line in shown.stdout
    assert run("user", "set", USER, "retention", "default").exit_code == 0
    assert _settings(data_dir).pop3_retention_days is None
    assert "default (not set)" in run("user", "show", USER).stdout


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("pop3_deletion_policy", "shred", "expunge, trash, hide"),
        ("retention", "0", ">= 1"),
        ("retention", "ten", ">= 1"),
        ("pop3_login_delay", "1.5", ">= 0"),
        ("pop3_uidl_format", "md5", "default, dovecot, cyrus"),
        ("quota_please", "1", "unknown setting"),
    ],
)
def test_invalid_values_are_refused(
    run: Cli, data_dir: Path, key: str, value: str, fragment: str
) -> None:
    assert_one_line_error(run("user", "set", USER, key, value), 2, fragment)
    assert _settings(data_dir) == AccountSettings()


def test_unknown_user_is_one_line(run: Cli) -> None:
    assert_one_line_error(run("user", "set", "nobody@example.test", "retention", "3"), 1, "unknown")
    assert_one_line_error(run("user", "show", "nobody@example.test"), 1, "unknown")


def test_pop3_login_sees_the_account_settings(run: Cli, data_dir: Path) -> None:
    from tests.serving import serve_process
    from tests.smtp.test_smtp_crash import free_port

    assert run("user", "set", USER, "retention", "7").exit_code == 0
    assert run("user", "set", USER, "pop3_login_delay", "300").exit_code == 0
    config = data_dir / "posteingang.toml"
    port = free_port()  # init's listeners use fixed ports; other test runs may hold them
    text = config.read_text().replace("\n[[listener]]\n", "\n[[ignored]]\n")
    text = text.split("\n[[ignored]]\n")[0]
    config.write_text(
        text + f'\n[[listener]]\nprotocol = "POP3"\nhost = "127.0.0.1"\nport = {port}\n'
    )
    proc = serve_process(config)
    try:
        client = poplib.POP3("127.0.0.1", port, timeout=10)
        client.user(USER)
        client.pass_(PASSWORD)
        caps = client.capa()
        assert caps["EXPIRE"] == ["7"] and caps["LOGIN-DELAY"] == ["300"]
        client.quit()
    finally:
        proc.terminate()
        proc.wait(30)
