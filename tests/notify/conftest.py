"""Fixtures of the notifier tests: webhook receivers on 127.0.0.1 (see receiver.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.notify.receiver import Receiver, free_port


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A receiver on a free port, started."""
    rec = Receiver(free_port())
    await rec.start()
    yield rec
    await rec.stop()


@pytest.fixture
async def idle_receiver() -> AsyncIterator[Receiver]:
    """A receiver whose port nobody listens on until the test calls start()."""
    rec = Receiver(free_port())
    yield rec
    await rec.stop()
