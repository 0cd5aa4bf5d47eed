"""Shared helpers of the compiler tests."""

import numpy as np


def random_weights(rng, I, H):
    bound = 1 / np.sqrt(H)
    return dict(weight_ih=rng.uniform(-bound, bound, (4 * H, I)),
                weight_hh=rng.uniform(-bound, bound, (4 * H, H)),
                bias_ih=rng.uniform(-bound, bound, 4 * H),
                bias_hh=rng.uniform(-bound, bound, 4 * H))
