import numpy as np
import pytest

from lstm_ref.checks import is_integer, check_integer


@pytest.mark.parametrize("value, plain, numpy_ok", [
    (3, True, True), (True, False, False), (np.bool_(True), False, False),
    (3.0, False, False), (np.int64(3), False, True), ("3", False, False), (None, False, False),
])
def test_is_integer(value, plain, numpy_ok):
    assert is_integer(value) is plain
    assert is_integer(value, numpy_ok=True) is numpy_ok


def test_check_integer_messages():
    assert check_integer("lanes", 4, 1, 8) == 4
    with pytest.raises(ValueError, match=r"^lanes must be an integer, not True$"):
        check_integer("lanes", True, 1, 8)
    with pytest.raises(KeyError, match="lanes must be from 1 to 8, not 9"):
        check_integer("lanes", 9, 1, 8, error=KeyError)
    with pytest.raises(ValueError, match="^steps must be at least 1, not 0$"):
        check_integer("steps", 0, 1)
    with pytest.raises(ValueError, match="^steps must be at most 5, not 6$"):
        check_integer("steps", 6, None, 5)
    assert type(check_integer("n", np.int32(2), numpy_ok=True)) is int
