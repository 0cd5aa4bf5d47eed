"""Helpers shared by the tests (import as ``from tests.helpers import ...``).

* :func:`random_lstm` -- an LSTM with ``torch.nn.LSTM``'s default initialisation;
* :func:`random_stack` -- stacked layers of such LSTMs;
* :func:`require_simulator` -- skip off CI, fail on CI, when a simulator is missing;
* :func:`golden_stack` -- every layer's golden-model output, independently of the compiler;
* :func:`assert_simulators_agree` -- Amaranth and an HDL simulator under random stalls;
* :func:`small_config`, :func:`auto_shifts`, :func:`assert_layers_equal` -- small RPUs for
  stacks, their row shifts, and the comparison of a run's layers with the golden model;
* :func:`run_testbench` -- one component and one async testbench in Amaranth's simulator;
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


def run_testbench(dut, testbench, *, period=1e-6):
    """Simulate ``dut`` with a clock of ``period`` seconds on its ``sync`` domain, driven by
    the async ``testbench(ctx)``, to the testbench's end."""
    from amaranth.sim import Simulator
    sim = Simulator(dut)
    sim.add_clock(period)
    sim.add_testbench(testbench)
    sim.run()


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


def golden_stack(config, layers, x_codes, row_shifts=None, *, h0=None, c0=None):
    """Every layer's FixedLSTMOutput of ``layers`` on ``x_codes`` (from ``h0``, ``c0``, one
    code array per layer, or zeros), from the parameters (and the row shifts) alone:
    :func:`lstm_ref.fixed_lstm.quantize_lstm` and :class:`~lstm_ref.fixed_lstm.FixedLSTM`,
    not the compiler."""
    from lstm_ref.fixed_lstm import FixedLSTM, quantize_lstm
    model = FixedLSTM(data_format=config.data_format, weight_format=config.weight_format,
                      activation_segments=config.activation_segments,
                      cell_format=config.cell_format)
    shifts = [None] * len(layers) if row_shifts is None else row_shifts
    matrices = [quantize_lstm(p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"],
                              config.weight_format, row_shifts=s)
                for p, s in zip(layers, shifts)]
    return model.run_stacked(matrices, x_codes, h0=h0, c0=c0, row_shifts=row_shifts)


def assert_simulators_agree(config, operations, expected, simulator, build_dir, *, seed):
    """Run ``operations`` in Amaranth's simulator and in ``simulator`` (``"verilator"`` or
    ``"icarus"``) with the same random stalls on every stream; both must give every layer's
    ``expected`` h and c (FixedLSTMOutputs), the same outputs and counters. Returns the HDL
    simulator's result."""
    from rpu.sim.session import StallPatterns, simulate_session
    from rpu.sim.hdl import find_verilator, find_icarus
    require_simulator(simulator, find_verilator if simulator == "verilator" else find_icarus)
    stalls = StallPatterns.random(seed, probability=0.6)
    [amaranth] = simulate_session(config, operations, stalls=stalls)
    [hdl] = simulate_session(config, operations, simulator=simulator, build_dir=build_dir,
                             stalls=stalls)
    for result in (amaranth, hdl):
        assert_layers_equal(result, expected)
    np.testing.assert_array_equal(hdl.outputs, amaranth.outputs)
    assert (hdl.cycles, hdl.run_cycles, hdl.saturations, hdl.activity) == \
        (amaranth.cycles, amaranth.run_cycles, amaranth.saturations, amaranth.activity)
    return hdl


def small_config(input_size, hidden_sizes, **resources):
    """An RPUConfig sized for a stack of ``hidden_sizes`` with small resources (one array of
    8 lanes, one activation and one element-wise unit, 16 table segments) unless
    ``resources`` say otherwise."""
    from rpu.config import RPUConfig
    values = dict(pim_arrays=1, lanes_per_array=8, activation_units=1, elementwise_units=1,
                  activation_segments=16)
    values.update(resources)
    return RPUConfig(input_size=input_size, hidden_size=max(hidden_sizes),
                     num_layers=len(hidden_sizes), **values)


def auto_shifts(config, layers):
    """With row scales, each layer's largest row shifts that saturate no row
    (:func:`lstm_ref.fixed_lstm.choose_row_shifts`); None without."""
    from lstm_ref.fixed_lstm import choose_row_shifts
    if not config.row_scales:
        return None
    return [choose_row_shifts(p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"],
                              config.weight_format) for p in layers]


def assert_layers_equal(result, expected):
    """Every streamed layer's h and c of a RunResult equal the FixedLSTMOutputs."""
    for layer_h, layer_c, reference in zip(result.layers_h, result.layers_c, expected):
        np.testing.assert_array_equal(layer_h, reference.h)
        np.testing.assert_array_equal(layer_c, reference.c)
