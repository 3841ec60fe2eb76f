"""The whole suite's one switch: ``POSTEINGANG_TEST_LOOP=uvloop`` runs the async tests and
the in-process servers (`tests/serving.py`'s loop thread) on uvloop instead of asyncio.

The tests that start `serve` as a subprocess run it on the configured loop (uvloop by
default, `tests/cli/test_event_loop.py`); everything else runs on asyncio unless this
is set, so both loops are covered: ``POSTEINGANG_TEST_LOOP=uvloop pytest`` before a
change to the connection layer."""

from __future__ import annotations

import asyncio
import os

if os.environ.get("POSTEINGANG_TEST_LOOP") == "uvloop":
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
