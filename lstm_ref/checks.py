"""Checks of parameters, shared by the golden models and every layer of :mod:`rpu`.

Python's ``bool`` is an ``int``; a parameter that counts or sizes something accepts neither
``True`` nor a float, whatever its value.
"""

import numpy as np


__all__ = ["is_integer", "check_integer"]


def is_integer(value, *, numpy_ok=False):
    """``value`` is an integer and not a bool (numpy integers too when ``numpy_ok``)."""
    kinds = (int, np.integer) if numpy_ok else int
    return isinstance(value, kinds) and not isinstance(value, (bool, np.bool_))


def check_integer(name, value, low=None, high=None, *, error=ValueError, numpy_ok=False):
    """Return ``int(value)`` if it is an integer within ``[low, high]`` (either bound may be
    None); otherwise raise ``error`` with a message that names ``name``."""
    if not is_integer(value, numpy_ok=numpy_ok):
        raise error(f"{name} must be an integer, not {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        if high is None:
            raise error(f"{name} must be at least {low}, not {value}")
        if low is None:
            raise error(f"{name} must be at most {high}, not {value}")
        raise error(f"{name} must be from {low} to {high}, not {value}")
    return int(value)
