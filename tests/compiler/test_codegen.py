"""Compiling LSTM parameters: bad parameters are rejected naming the parameter."""

import numpy as np
import pytest

from rpu.config import RPUConfig
from rpu.compiler import compile_lstm
from tests.compiler.weights import random_weights


def test_nan_weights_rejected():
    weights = random_weights(np.random.default_rng(2), 3, 4)
    weights["weight_hh"][1, 2] = np.nan
    with pytest.raises(ValueError, match="weight_hh"):
        compile_lstm(RPUConfig(input_size=3, hidden_size=4), **weights)
