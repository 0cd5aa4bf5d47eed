"""Helpers shared by the tests (import as ``from tests.helpers import ...``).

* :func:`random_lstm` -- an LSTM with ``torch.nn.LSTM``'s default initialisation;
* :func:`random_stack` -- stacked layers of such LSTMs;
* :func:`require_simulator` -- skip off CI, fail on CI, when a simulator is missing;
* :data:`REPO`, :data:`DATA`, :data:`IMPORT_DATA`, :data:`ON_CI`.
"""

import os
from pathlib import Path

import numpy as np
import pytest


#: The repository's root folder.
REPO = Path(__file__).resolve().parents[1]
#: Test data (tests/data).
DATA = REPO / "tests" / "data"
#: Model files of every import format (tests/data/import, made by scripts/gen_import_vectors.py).
IMPORT_DATA = DATA / "import"
#: On CI a missing simulator is a failure, not a skip.
ON_CI = os.environ.get("CI", "").lower() == "true"


def random_lstm(rng, input_size, hidden_size, *, scale=1.0):
    """One layer's parameters with torch.nn.LSTM's default initialisation,
    U(-1/sqrt(H), 1/sqrt(H)), times ``scale``: weight_ih, weight_hh, bias_ih, bias_hh (gate
    order i, f, g, o)."""
    bound = scale / np.sqrt(hidden_size)
    return {
        "weight_ih": rng.uniform(-bound, bound, (4 * hidden_size, input_size)),
        "weight_hh": rng.uniform(-bound, bound, (4 * hidden_size, hidden_size)),
        "bias_ih": rng.uniform(-bound, bound, 4 * hidden_size),
        "bias_hh": rng.uniform(-bound, bound, 4 * hidden_size),
    }


def random_stack(rng, input_size, hidden_sizes, *, scale=1.0):
    """Stacked layers: layer k reads layer k-1's hidden state."""
    layers, previous = [], input_size
    for hidden in hidden_sizes:
        layers.append(random_lstm(rng, previous, hidden, scale=scale))
        previous = hidden
    return layers


def require_simulator(name, find):
    """Call ``find()`` (e.g. :func:`rpu.sim.hdl.find_verilator`); when it raises
    ``SimulatorNotFound``, skip off CI and fail on CI, with the reason."""
    from rpu.sim.hdl import SimulatorNotFound
    try:
        return find()
    except SimulatorNotFound as error:
        if ON_CI:
            pytest.fail(f"{name} is required on CI: {error}")
        pytest.skip(f"{name} is not installed: {error}")
