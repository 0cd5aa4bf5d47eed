"""End to end: the simulated RPU computes an LSTM.

For each shape, random weights in PyTorch's default initialisation range and N(0, 1) inputs
over at least 20 steps: the h_t and c_t streamed out of the simulated RTL equal the
fixed-point model bit for bit, stay within 2**-7 of the float64 LSTM, and take exactly the
number of cycles the expansion model predicts.
"""

import numpy as np
import pytest

from lstm_ref.float_lstm import lstm_forward
from rpu.config import RPUConfig
from rpu.compiler import compile_lstm
from rpu.sim.session import simulate_program
from tests.helpers import random_lstm


STEPS = 20
FLOAT_TOLERANCE = 2.0 ** -7


def run_case(config, input_size, hidden_size, *, steps=STEPS, seed=0, scale=1.0,
             bias_offset=0.0):
    rng = np.random.default_rng(seed)
    weights = random_lstm(rng, input_size, hidden_size, scale=scale)
    weights["bias_ih"] = weights["bias_ih"] + bias_offset
    x = rng.standard_normal((steps, input_size))
    program = compile_lstm(config, **weights)
    x_codes = config.data_format.quantize(x)
    result = simulate_program(program, x_codes)
    fixed = config.fixed_model().run(program.matrix, x_codes)
    reference = lstm_forward(x, **weights)
    return program, result, fixed, reference


# (capacity and resources, LSTM input size, LSTM hidden size)
CASES = {
    "I1-H1": (dict(input_size=1, hidden_size=1, pim_arrays=1, lanes_per_array=4,
                   activation_units=1, elementwise_units=1), 1, 1),
    "I3-H5-8lanes": (dict(input_size=3, hidden_size=5, pim_arrays=1, lanes_per_array=8,
                          activation_units=1, elementwise_units=1), 3, 5),
    "I7-H13-2x4lanes": (dict(input_size=7, hidden_size=13, pim_arrays=2, lanes_per_array=4,
                             activation_units=2, elementwise_units=1), 7, 13),
    "I16-H8-I>H": (dict(input_size=16, hidden_size=8, pim_arrays=2, lanes_per_array=8,
                        activation_units=2, elementwise_units=2), 16, 8),
    "I1-H24-12lanes": (dict(input_size=1, hidden_size=24, pim_arrays=3, lanes_per_array=4,
                            activation_units=3, elementwise_units=1), 1, 24),
    "I20-H33-default-resources": (dict(input_size=20, hidden_size=33), 20, 33),
    "capacity-larger-than-LSTM": (dict(input_size=10, hidden_size=12, pim_arrays=1,
                                       lanes_per_array=8, activation_units=2,
                                       elementwise_units=2), 4, 5),
}


@pytest.mark.parametrize("name", CASES)
def test_lstm_bit_exact_and_cycle_exact(name):
    config_values, input_size, hidden_size = CASES[name]
    config = RPUConfig(**config_values)
    program, result, fixed, reference = run_case(config, input_size, hidden_size)
    fmt = config.data_format
    np.testing.assert_array_equal(result.h, fixed.h)
    np.testing.assert_array_equal(result.c, fixed.c)
    assert np.abs(fmt.to_float(result.h) - reference.h).max() <= FLOAT_TOLERANCE
    assert np.abs(fmt.to_float(result.c) - reference.c).max() <= FLOAT_TOLERANCE
    assert result.cycles == program.schedule.total_cycles(STEPS)
    assert result.run_cycles == program.schedule.run_cycles(STEPS)
    assert result.saturations == fixed.saturations
    assert result.activity == program.schedule.activity(STEPS)


def test_cell_format_with_more_range():
    """c in Q6.9 (9 fractional bits) beside Q3.12 data: gates biased open (f = i = 1,
    g = 1) make c grow by about 1 per step, past the data format's 8, and the RTL still
    matches the fixed model bit for bit and the float LSTM."""
    config = RPUConfig(input_size=5, hidden_size=6, pim_arrays=1, lanes_per_array=8,
                       activation_units=2, elementwise_units=1, cell_frac_bits=9)
    program, result, fixed, reference = run_case(config, 5, 6, seed=9, bias_offset=5.0)
    assert np.abs(config.cell_format.to_float(fixed.c)).max() > 16
    assert fixed.saturations == 0
    assert np.abs(config.cell_format.to_float(result.c) - reference.c).max() <= 2 ** -5
    np.testing.assert_array_equal(result.h, fixed.h)
    np.testing.assert_array_equal(result.c, fixed.c)
    assert result.saturations == fixed.saturations


def test_saturation_count_matches_fixed_model():
    """Weights 12x PyTorch's range drive dot products and cell states into saturation."""
    config = RPUConfig(input_size=6, hidden_size=10, pim_arrays=1, lanes_per_array=8,
                       activation_units=2, elementwise_units=2)
    program, result, fixed, _ = run_case(config, 6, 10, scale=12.0, seed=3)
    assert fixed.saturations > 0
    np.testing.assert_array_equal(result.h, fixed.h)
    np.testing.assert_array_equal(result.c, fixed.c)
    assert result.saturations == fixed.saturations


def test_s_default_resources():
    """Shape S of docs/architecture.md, section 6 (I=64, H=128) on the default resources over 20 steps: bit exact,
    cycle exact, and at least 95 % MAC-lane utilization measured in simulation."""
    config = RPUConfig(input_size=64, hidden_size=128)
    assert config.mac_lanes >= 64
    program, result, fixed, reference = run_case(config, 64, 128)
    np.testing.assert_array_equal(result.h, fixed.h)
    np.testing.assert_array_equal(result.c, fixed.c)
    fmt = config.data_format
    assert np.abs(fmt.to_float(result.h) - reference.h).max() <= FLOAT_TOLERANCE
    assert np.abs(fmt.to_float(result.c) - reference.c).max() <= FLOAT_TOLERANCE
    assert result.cycles == program.schedule.total_cycles(STEPS)
    macs = 4 * 128 * (64 + 128) * STEPS
    measured = macs / (config.mac_lanes * result.cycles)
    assert measured >= 0.95
    assert measured == pytest.approx(program.schedule.utilization(STEPS))
