"""Not-authenticated state: greeting, CAPABILITY, LOGIN, AUTHENTICATE, STARTTLS, ID, LOGOUT."""

from __future__ import annotations

import base64

from posteingang.imap.session import ImapServices
from posteingang.imap.state import SessionState
from tests.imap.harness import ALICE, PASSWORD, open_client, status_of


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def test_greeting_and_capability_before_login(services: ImapServices) -> None:
    async with open_client(services) as c:
        lines = await c.ok("CAPABILITY")
        caps = lines[0].split()[2:]
        assert {"IMAP4rev1", "IMAP4rev2", "STARTTLS", "AUTH=PLAIN", "SASL-IR", "LITERAL+"} <= set(
            caps
        )
        assert "LOGINDISABLED" not in caps  # loopback may use passwords in the clear
        assert "MOVE" not in caps  # extensions only after login


async def test_login_gives_capabilities_and_authenticated_state(services: ImapServices) -> None:
    async with open_client(services) as c:
        lines = await c.login()
        assert "[CAPABILITY " in lines[-1] and "MOVE" in lines[-1] and "APPENDLIMIT=" in lines[-1]
        assert c.session.state.kind is SessionState.AUTHENTICATED
        await c.ok("NOOP")


async def test_wrong_password_is_refused_without_reason(services: ImapServices) -> None:
    async with open_client(services) as c:
        lines = await c.do(f'LOGIN {ALICE} "wrong"')
        assert lines[-1].endswith("NO [AUTHENTICATIONFAILED] Authentication failed")
        lines = await c.do('LOGIN nobody@example.test "wrong"')
        assert lines[-1].endswith("NO [AUTHENTICATIONFAILED] Authentication failed")
        assert c.session.state.kind is SessionState.NOT_AUTHENTICATED


async def test_plaintext_refused_from_remote_address(services: ImapServices) -> None:
    async with open_client(services, address="192.0.2.7") as c:
        caps = (await c.ok("CAPABILITY"))[0].split()
        assert "LOGINDISABLED" in caps and "AUTH=PLAIN" not in caps and "STARTTLS" in caps
        lines = await c.do(f'LOGIN {ALICE} "{PASSWORD}"')
        assert "NO [PRIVACYREQUIRED]" in lines[-1]
        lines = await c.do("AUTHENTICATE PLAIN " + b64(f"\0{ALICE}\0{PASSWORD}".encode()))
        assert "NO [PRIVACYREQUIRED]" in lines[-1]


async def test_login_after_tls_from_remote_address(services: ImapServices) -> None:
    async with open_client(services, address="192.0.2.7", tls_active=True) as c:
        caps = (await c.ok("CAPABILITY"))[0].split()
        assert "LOGINDISABLED" not in caps and "STARTTLS" not in caps
        await c.login()


async def test_authenticate_plain_with_initial_response(services: ImapServices) -> None:
    async with open_client(services) as c:
        lines = await c.do("AUTHENTICATE PLAIN " + b64(f"\0{ALICE}\0{PASSWORD}".encode()))
        assert status_of(lines[-1]) == "OK"
        assert c.session.state.kind is SessionState.AUTHENTICATED


async def test_authenticate_plain_with_challenge(services: ImapServices) -> None:
    async with open_client(services) as c:
        c.send("a1 AUTHENTICATE PLAIN\r\n")
        assert await c.line() == "+ "
        c.send(b64(f"\0{ALICE}\0{PASSWORD}".encode()) + "\r\n")
        lines = await c.until_tagged("a1")
        assert status_of(lines[-1]) == "OK"


async def test_authenticate_cancel_is_bad_and_session_continues(services: ImapServices) -> None:
    async with open_client(services) as c:
        c.send("a1 AUTHENTICATE PLAIN\r\n")
        assert await c.line() == "+ "
        c.send("*\r\n")
        lines = await c.until_tagged("a1")
        assert status_of(lines[-1]) == "BAD"  # RFC 9051 §6.2.2
        c.send("a2 AUTHENTICATE PLAIN\r\n")
        assert await c.line() == "+ "
        c.send("!!!notbase64\r\n")
        assert status_of((await c.until_tagged("a2"))[-1]) == "BAD"
        await c.login()


async def test_authenticate_unknown_mechanism(services: ImapServices) -> None:
    async with open_client(services) as c:
        lines = await c.do("AUTHENTICATE X-UNKNOWN")
        assert status_of(lines[-1]) == "NO"


async def test_authenticate_scram_sha_256(services: ImapServices) -> None:
    # A first LOGIN derives the SCRAM record (the store had only a {PLAIN} hash).
    async with open_client(services) as c:
        await c.login()
    import hashlib
    import hmac
    import os

    nonce = base64.b64encode(os.urandom(12)).decode()
    first_bare = f"n={ALICE},r={nonce}"
    async with open_client(services) as c:
        c.send("s1 AUTHENTICATE SCRAM-SHA-256 " + b64(("n,," + first_bare).encode()) + "\r\n")
        line = await c.line()
        assert line.startswith("+ ")
        server_first = base64.b64decode(line[2:]).decode()
        attrs = dict(p.split("=", 1) for p in server_first.split(","))
        salt = base64.b64decode(attrs["s"])
        salted = hashlib.pbkdf2_hmac("sha256", PASSWORD.encode(), salt, int(attrs["i"]))
        client_key = hmac.new(salted, b"Client Key", "sha256").digest()
        stored = hashlib.sha256(client_key).digest()
        final_wo_proof = f"c=biws,r={attrs['r']}"
        auth_message = f"{first_bare},{server_first},{final_wo_proof}".encode()
        signature = hmac.new(stored, auth_message, "sha256").digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        c.send(b64(f"{final_wo_proof},p={b64(proof)}".encode()) + "\r\n")
        line = await c.line()
        assert line.startswith("+ ")  # server-final-message as the last challenge
        assert base64.b64decode(line[2:]).startswith(b"v=")
        c.send("\r\n")
        lines = await c.until_tagged("s1")
        assert status_of(lines[-1]) == "OK"


async def test_commands_in_the_wrong_state_are_bad(services: ImapServices) -> None:
    async with open_client(services) as c:
        for command in ("SELECT INBOX", 'LIST "" *', "FETCH 1 FLAGS", "ENABLE IMAP4rev2"):
            lines = await c.do(command)
            assert status_of(lines[-1]) == "BAD", lines
        await c.login()
        lines = await c.do("FETCH 1 FLAGS")
        assert lines[-1].endswith("BAD No mailbox selected")
        lines = await c.do(f'LOGIN {ALICE} "{PASSWORD}"')
        assert status_of(lines[-1]) == "BAD"


async def test_logout(services: ImapServices) -> None:
    async with open_client(services) as c:
        lines = await c.do("LOGOUT")
        assert lines[0].startswith("* BYE") and status_of(lines[-1]) == "OK"
        await c.finished()
        assert c.session.state.kind is SessionState.LOGOUT


async def test_starttls_discards_pipelined_plaintext(services: ImapServices) -> None:
    async with open_client(services, address="192.0.2.7") as c:
        # The injected LOGIN rides in the same packet as STARTTLS: it must never run.
        c.send(f'a1 STARTTLS\r\nevil LOGIN {ALICE} "{PASSWORD}"\r\n')
        assert await c.line() == "a1 OK Begin TLS negotiation now"
        assert c.transport.tls
        lines = await c.ok("CAPABILITY")
        assert "STARTTLS" not in lines[0] and "LOGINDISABLED" not in lines[0]
        assert not any(b"evil" in line for line in c.log)
        assert c.session.state.kind is SessionState.NOT_AUTHENTICATED
        lines = await c.do("STARTTLS")
        assert status_of(lines[-1]) == "BAD"


async def test_starttls_not_offered_without_certificate(services: ImapServices) -> None:
    async with open_client(services, starttls_available=False) as c:
        assert "STARTTLS" not in (await c.ok("CAPABILITY"))[0]
        assert status_of((await c.do("STARTTLS"))[-1]) == "BAD"


async def test_id_is_recorded_with_the_login(services: ImapServices) -> None:
    async with open_client(services) as c:
        lines = await c.ok('ID ("name" "TestMail" "version" "1.2")')
        assert lines[0].startswith('* ID ("name" "posteingang"')
        await c.login()
        account = await services.store.get_account(ALICE)
        assert account is not None
        logins = await services.store.list_logins(account.id)
        assert logins[0].client_id == "TestMail/1.2"
        assert logins[0].protocol == "imap"


async def test_enable_imap4rev2_and_utf8(services: ImapServices) -> None:
    async with open_client(services) as c:
        await c.login()
        lines = await c.ok("ENABLE IMAP4rev2 UTF8=ACCEPT X-UNKNOWN")
        assert lines[0] == "* ENABLED IMAP4rev2 UTF8=ACCEPT"
        lines = await c.ok("ENABLE IMAP4rev2")
        assert lines[0] == "* ENABLED"
        assert c.session.rev2 and c.session.utf8 and c.session.reader.utf8


async def test_autologout_before_login(store: object) -> None:
    from posteingang.imap.settings import ImapSettings
    from tests.imap.harness import make_services

    services = make_services(store, ImapSettings(login_timeout=0.2))  # type: ignore[arg-type]
    async with open_client(services) as c:
        line = await c.line(within=5)
        assert line.startswith("* BYE") and "Autologout" in line
        await c.finished()


async def test_idle_ends_with_bye_after_inactivity(store: object) -> None:
    from posteingang.imap.settings import ImapSettings
    from tests.imap.harness import make_services

    # Built directly, so the 30-minute minimum of the config file does not apply.
    services = make_services(store, ImapSettings(idle_timeout=0.3))  # type: ignore[arg-type]
    async with open_client(services) as c:
        await c.login()
        c.send("i IDLE\r\n")
        assert await c.line() == "+ idling"
        assert (await c.line(within=5)).startswith("* BYE")
        await c.finished()
