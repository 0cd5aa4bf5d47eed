"""The delta (temporal sparsity) mode of the RPU (issue 12): RTL against the fixed-point
delta model, cycles against the exact data-dependent prediction.

The reference of every run is :class:`lstm_ref.delta_lstm.FixedDeltaLSTM` (through
``Program.reference``) and, for thresholds 0, the dense fixed-point model and the dense
program's own simulation. Cycles and activity counters are compared with
:func:`rpu.compiler.delta_schedule.delta_timing`, fed with the column counts of the delta
model's masks, and the columns with a count made here from the inputs alone.
"""

import dataclasses

import numpy as np
import pytest

from rpu.config import RPUConfig, ConfigError
from rpu.compiler import compile_lstm, with_delta
from rpu.compiler.delta_schedule import (delta_timing, column_counts, delta_bound,
                                         delta_estimate)
from rpu.sim.session import (Load, LoadState, Run, StallPatterns, simulate_session,
                             simulate_program)
from tests.helpers import random_lstm


def delta_config(I, H, lanes, **formats):
    return RPUConfig(input_size=I, hidden_size=H, pim_arrays=1, lanes_per_array=lanes,
                     activation_units=1, elementwise_units=1, delta=True, **formats)


def slow_inputs(rng, config, steps, I):
    """A random walk: slowly varying inputs, as a delta network expects."""
    fmt = config.data_format
    walk = np.cumsum(rng.normal(0, 0.15, (steps, I)), axis=0)
    return fmt.quantize(np.clip(walk, -3, 3))


def expected_columns(program, x, theta_x, theta_h):
    """Columns a delta run issues, counted from the inputs and the golden h alone: per
    step after the first, the x and h values that moved by at least the threshold from the
    last value propagated, for every row group; the first step is dense."""
    schedule = program.schedule
    layer = schedule.layers[0]
    h = program.reference(x)[0].h
    G = layer.groups
    columns = G * layer.columns
    x_ref, h_ref = x[0].copy(), np.zeros(layer.hidden_size, np.int64)
    h_prev = h[0]
    for t in range(1, len(x)):
        for values, ref, theta in ((x[t], x_ref, theta_x), (h_prev, h_ref, theta_h)):
            moved = np.abs(values - ref) >= theta
            ref[moved] = values[moved]
            columns += G * int(moved.sum())
        h_prev = h[t]
    return columns


def check_run(program, x, result, *, keep_state=False):
    [expected] = program.reference(x)
    np.testing.assert_array_equal(result.h, expected.h)
    np.testing.assert_array_equal(result.c, expected.c)
    assert result.saturations == expected.saturations
    nx, nh = column_counts(expected.x_mask, expected.h_mask)
    timing = delta_timing(program.schedule, nx, nh, keep_state=keep_state)
    assert result.cycles == timing.total_cycles
    assert result.run_cycles == timing.run_cycles
    assert result.activity == timing.activity
    return timing


SHAPES = [  # I, H, lanes per array (U = lanes / 4 units per row group)
    (3, 5, 8),      # 3 row groups, the last one padded
    (1, 4, 16),     # one group, a single input column
    (6, 9, 4),      # 9 groups of one unit
    (7, 2, 8),      # more inputs than hidden units
]


@pytest.mark.parametrize("thresholds", [(0, 0), (60, 40), (400, 250), (4095, 4095)],
                         ids=["zero", "small", "large", "all-skipped"])
@pytest.mark.parametrize("shape", SHAPES, ids=[f"I{i}H{h}L{l}" for i, h, l in SHAPES])
def test_delta_rtl_matches_the_delta_model(shape, thresholds):
    I, H, lanes = shape
    rng = np.random.default_rng(I * 100 + H * 10 + thresholds[0] % 7)
    config = delta_config(I, H, lanes)
    program = with_delta(compile_lstm(config, **random_lstm(rng, I, H)),
                         theta_x=thresholds[0], theta_h=thresholds[1])
    x = slow_inputs(rng, config, 7, I)
    result = simulate_program(program, x)
    timing = check_run(program, x, result)
    assert timing.columns == expected_columns(program, x, *thresholds)


def test_thresholds_zero_reproduce_the_dense_run():
    rng = np.random.default_rng(3)
    config = delta_config(4, 6, 8)
    dense = compile_lstm(config, **random_lstm(rng, 4, 6))
    x = slow_inputs(rng, config, 6, 4)
    delta = with_delta(dense, theta_x=0, theta_h=0)
    dense_result, delta_result = (simulate_program(p, x) for p in (dense, delta))
    expected = config.fixed_model().run(dense.matrix, x)
    for result in (dense_result, delta_result):
        np.testing.assert_array_equal(result.h, expected.h)
        np.testing.assert_array_equal(result.c, expected.c)
    # The dense program on the delta RPU keeps the dense schedule exactly.
    assert dense_result.cycles == dense.schedule.total_cycles(6)
    assert dense_result.activity == dense.schedule.activity(6)


def test_delta_runs_with_state_and_after_a_dense_run():
    """One RPU runs dense and delta programs one after the other (the thresholds are
    program registers), and a delta run may start from a loaded state: its first, dense
    step reads h0, which becomes the h reference."""
    rng = np.random.default_rng(11)
    config = delta_config(3, 5, 8)
    dense = compile_lstm(config, **random_lstm(rng, 3, 5))
    delta = with_delta(dense, theta_x=120, theta_h=90)
    x1, x2, x3 = (slow_inputs(rng, config, steps, 3) for steps in (4, 5, 3))
    h0 = config.data_format.quantize(rng.uniform(-0.9, 0.9, 5))
    c0 = config.data_format.quantize(rng.uniform(-1.5, 1.5, 5))
    r1, r2, r3 = simulate_session(config, [
        Load(delta), Run(x1),
        Load(dense, weights=False), Run(x2),
        Load(delta, weights=False), LoadState(h0=(h0,), c0=(c0,)), Run(x3, keep_state=True),
    ])
    check_run(delta, x1, r1)
    np.testing.assert_array_equal(r2.h, config.fixed_model().run(dense.matrix, x2).h)
    [expected] = delta.reference(x3, h0=(h0,), c0=(c0,))
    np.testing.assert_array_equal(r3.h, expected.h)
    np.testing.assert_array_equal(r3.c, expected.c)
    nx, nh = column_counts(expected.x_mask, expected.h_mask)
    timing = delta_timing(delta.schedule, nx, nh, keep_state=True)
    assert (r3.cycles, r3.run_cycles, r3.activity) == (timing.total_cycles, timing.run_cycles,
                                                       timing.activity)


@pytest.mark.parametrize("seed", range(6))
def test_delta_under_random_stalls(seed):
    rng = np.random.default_rng(seed)
    I, H = int(rng.integers(1, 6)), int(rng.integers(1, 9))
    config = delta_config(5, 8, 8)
    program = with_delta(compile_lstm(config, **random_lstm(rng, I, H)),
                         theta_x=int(rng.integers(0, 300)), theta_h=int(rng.integers(0, 300)))
    x = slow_inputs(rng, config, int(rng.integers(2, 7)), I)
    stalls = StallPatterns.random(seed, probability=[0.3, 0.6, 0.9][seed % 3])
    [result] = simulate_session(config, [Load(program), Run(x)], stalls=stalls)
    [expected] = program.reference(x)
    np.testing.assert_array_equal(result.h, expected.h)
    np.testing.assert_array_equal(result.c, expected.c)
    nx, nh = column_counts(expected.x_mask, expected.h_mask)
    timing = delta_timing(program.schedule, nx, nh)
    # Stalls change when, not what: the same events. The RPU held in some of the extra
    # cycles (the others wait for the host to take the last h words); with only the x
    # stream starved, the held cycles are exactly the extra ones.
    assert result.activity == timing.activity
    assert result.run_cycles >= timing.run_cycles + result.stalled_cycles
    starved = dataclasses.replace(StallPatterns.never(), x_valid=stalls.x_valid)
    [held] = simulate_session(config, [Load(program), Run(x)], stalls=starved)
    assert held.run_cycles == timing.run_cycles + held.stalled_cycles


def test_model_bounds_and_estimates():
    config = delta_config(8, 16, 64)
    program = compile_lstm(config, **random_lstm(np.random.default_rng(0), 8, 16))
    schedule = program.schedule
    bound = delta_bound(schedule, 10)
    none_skipped = delta_estimate(schedule, 10, x_sparsity=0, h_sparsity=0)
    assert none_skipped == bound
    half = delta_estimate(schedule, 10, x_sparsity=0.5, h_sparsity=0.5)
    # Step 0 is dense (25 columns, one group), then 4 + 8 columns a step.
    assert half.columns == 25 + 9 * 12
    assert bound.columns == 25 + 9 * 24
    assert half.total_cycles <= bound.total_cycles
    with pytest.raises(ValueError, match="x_sparsity"):
        delta_estimate(schedule, 10, x_sparsity=1.5, h_sparsity=0)
    with pytest.raises(ValueError, match="nx"):
        delta_timing(schedule, [9], [0])


def test_delta_configuration_and_program_errors():
    with pytest.raises(ConfigError, match="delta needs batch 1"):
        RPUConfig(input_size=4, hidden_size=4, delta=True, batch=2)
    with pytest.raises(ConfigError, match="delta needs weights_per_word 1"):
        RPUConfig(input_size=4, hidden_size=4, delta=True, weights_per_word=2,
                  weight_width=8)
    with pytest.raises(ConfigError, match="delta must be True or False"):
        RPUConfig(input_size=4, hidden_size=4, delta=2)
    rng = np.random.default_rng(0)
    dense_rpu = RPUConfig(input_size=4, hidden_size=4, pim_arrays=1, lanes_per_array=4,
                          activation_units=1, elementwise_units=1)
    with pytest.raises(ValueError, match="needs an RPU with delta"):
        with_delta(compile_lstm(dense_rpu, **random_lstm(rng, 4, 4)), theta_x=0, theta_h=0)
    program = compile_lstm(delta_config(4, 4, 4), **random_lstm(rng, 4, 4))
    with pytest.raises(ValueError, match="theta_h must be from 0 to 65535"):
        with_delta(program, theta_x=0, theta_h=65536)
    with pytest.raises(ValueError, match="theta_x must be an integer"):
        with_delta(program, theta_x=0.5, theta_h=0)
    assert delta_config(4, 4, 4).to_dict()["delta"] is True
    assert "delta" not in dense_rpu.to_dict()


@pytest.mark.parametrize("simulator", ["verilator", "icarus"])
def test_delta_in_the_hdl_simulators(simulator):
    """The emitted Verilog (SRAM macros for the lists, references and pre-activation
    memories) in Verilator and Icarus: a delta run, a dense run and a delta run from a
    loaded state, under random stalls, equal to Amaranth's and to the delta model."""
    from rpu.sim.hdl import simulate_session_hdl
    from rpu.sim.icarus import find_icarus
    from rpu.sim.verilator import find_verilator
    from rpu.sim.stimulus import same_result
    from tests.helpers import require_simulator
    require_simulator(simulator, find_verilator if simulator == "verilator" else find_icarus)
    rng = np.random.default_rng(12)
    config = delta_config(5, 7, 8, data_width=12, data_frac_bits=8, weight_width=10,
                          weight_frac_bits=7)
    dense = compile_lstm(config, **random_lstm(rng, 4, 7, scale=1.5))
    delta = with_delta(dense, theta_x=9, theta_h=14)
    x1, x2, x3 = (slow_inputs(rng, config, steps, 4) for steps in (6, 3, 5))
    h0 = config.data_format.quantize(rng.uniform(-0.9, 0.9, 7))
    operations = [Load(delta), Run(x1), Load(dense, weights=False), Run(x2),
                  Load(delta, weights=False), LoadState(h0=(h0,)), Run(x3, keep_state=True)]
    stalls = StallPatterns.random(4, probability=0.6)
    hdl = simulate_session_hdl(config, operations, stalls=stalls, simulator=simulator)
    amaranth = simulate_session(config, operations, stalls=stalls)
    for a, b in zip(hdl, amaranth):
        assert same_result(a, b)
    np.testing.assert_array_equal(hdl[0].h, delta.reference(x1)[0].h)
    np.testing.assert_array_equal(hdl[2].h, delta.reference(x3, h0=(h0,))[0].h)
    [free] = simulate_session_hdl(config, [Load(delta), Run(x1)], simulator=simulator)
    check_run(delta, x1, free)
