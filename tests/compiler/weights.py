"""Shared helpers of the compiler tests."""

from tests.helpers import random_lstm


def random_weights(rng, I, H):
    """torch.nn.LSTM's initialisation (tests.helpers.random_lstm)."""
    return random_lstm(rng, I, H)
