"""Fixtures shared by every test folder (helpers that are not fixtures: tests/helpers.py)."""

import numpy as np
import pytest


@pytest.fixture
def rng(request):
    """A numpy Generator seeded from the test's name, so every test has its own fixed seed."""
    import zlib
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))
