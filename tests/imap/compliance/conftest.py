"""Targets for the compliance transcripts: posteingang over loopback, and Dovecot where
it is installed (as an oracle: a transcript that fails against Dovecot is wrong)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.dovecot_fixture import dovecot_available, running_dovecot
from tests.imap.server_fixture import running_server
from tests.serving import ALICE, PASSWORD

from .transcript import Target

_names = itertools.count(1)


@pytest.fixture(scope="session")
def posteingang_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    with running_server(tmp_path_factory.mktemp("compliance-ours")) as server:
        yield Target("posteingang", "127.0.0.1", server.imap_port, ALICE, PASSWORD)


@pytest.fixture(scope="session")
def dovecot_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    if not dovecot_available():
        pytest.skip("dovecot is not installed")
    with running_dovecot(tmp_path_factory.mktemp("compliance-dovecot")) as dc:
        yield Target("dovecot", dc.host, dc.port, dc.user, dc.password)


@pytest.fixture(params=["posteingang", "dovecot"])
def target(request: pytest.FixtureRequest) -> Target:
    name = request.param
    fixture = "posteingang_target" if name == "posteingang" else "dovecot_target"
    result: Target = request.getfixturevalue(fixture)
    return result


@pytest.fixture
def box() -> str:
    """A mailbox name of the test's own (the run deletes it before and after)."""
    return f"ctest{next(_names)}"
