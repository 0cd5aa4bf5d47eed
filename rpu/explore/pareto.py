"""The Pareto front: the non-dominated points, every objective minimized."""

import numpy as np


__all__ = ["pareto_front"]


def pareto_front(values):
    """Indices of the non-dominated rows of ``values`` (every column minimized).

    Row ``a`` is dominated if some row ``b`` is no worse in every column and better in one.
    Equal rows do not dominate each other.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"values must be 2-D (points x objectives), not {values.shape}")
    front = []
    for index, row in enumerate(values):
        dominated = np.any(np.all(values <= row, axis=1) & np.any(values < row, axis=1))
        if not dominated:
            front.append(index)
    return front
