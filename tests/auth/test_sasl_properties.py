"""Every mechanism, in every state, fed arbitrary client input, returns a Step."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from posteingang.auth.sasl import (
    MECHANISMS,
    Challenge,
    Failure,
    Mechanism,
    NeedCredentials,
    ScramSha256,
    Step,
    Success,
)
from posteingang.auth.scram import derive_scram_sha256

STEP_TYPES = (Challenge, NeedCredentials, Success, Failure)
RECORD = derive_scram_sha256("pencil", iterations=4096, salt=b"0123456789abcdef")

# Either arbitrary bytes, or bytes built from the mechanisms' own vocabulary so that the
# search reaches the deeper states more often than pure noise would.
_TOKENS = [
    b"n",
    b"y",
    b"p=tls-unique",
    b",",
    b"n=",
    b"r=",
    b"a=",
    b"c=",
    b"p=",
    b"m=",
    b"biws",
    b"user",
    b"=2C",
    b"=3D",
    b"=",
    b"\x00",
    b"\xff",
    b"AAAA",
    b"abc",
]
client_bytes = st.one_of(
    st.binary(max_size=200),
    st.lists(st.sampled_from(_TOKENS), max_size=12).map(b"".join),
)
credentials = st.one_of(st.none(), st.just(RECORD), st.text(max_size=80))


def _drive(mech: Mechanism, initial: bytes | None, actions: list[tuple[str, object]]) -> None:
    result: Step = mech.start(initial)
    assert isinstance(result, STEP_TYPES)
    for kind, value in actions:
        if kind == "step":
            assert isinstance(value, bytes)
            result = mech.step(value)
        else:
            assert value is None or isinstance(value, str)
            result = mech.provide_credentials(value)
        assert isinstance(result, STEP_TYPES)


actions = st.lists(
    st.one_of(
        st.tuples(st.just("step"), client_bytes),
        st.tuples(st.just("credentials"), credentials),
    ),
    max_size=5,
)


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(sorted(MECHANISMS)),
    initial=st.one_of(st.none(), client_bytes),
    script=actions,
)
def test_any_input_in_any_state_gives_a_step(
    name: str, initial: bytes | None, script: list[tuple[str, object]]
) -> None:
    _drive(MECHANISMS[name](), initial, script)


@settings(max_examples=150, deadline=None)
@given(final=client_bytes, record=credentials)
def test_scram_final_state_with_arbitrary_input(final: bytes, record: str | None) -> None:
    # Reach the deepest state deliberately, then throw anything at it.
    mech = ScramSha256()
    assert mech.start(b"n,,n=user,r=abc") == NeedCredentials("user")
    assert isinstance(mech.provide_credentials(record), Challenge)
    result = mech.step(final)
    assert isinstance(result, Failure)  # nobody guesses a proof
    assert isinstance(mech.step(final), Failure)
