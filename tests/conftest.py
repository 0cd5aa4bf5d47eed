"""Fixtures shared by every test folder (helpers that are not fixtures: tests/helpers.py)."""

import signal

import numpy as np
import pytest


@pytest.fixture
def rng(request):
    """A numpy Generator seeded from the test's name, so every test has its own fixed seed."""
    import zlib
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture
def default_sigint():
    """Python's default SIGINT handling (KeyboardInterrupt) for the test, whatever an earlier
    test in the same worker process left (the interrupt tests and the child processes they
    start inherit it); restored afterwards."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    if previous is not None:
        signal.signal(signal.SIGINT, previous)
