"""Weight reuse across a batch (issue 9, item 3) on the simulated RPU.

With ``batch`` B, the RPU runs B independent sequences at once: every weight read feeds B MACs
(one per sequence), the broadcast carries B operands, and each sequence has its own cell
engine and state memories. The x and h streams carry the B sequences' words side by side.

The reference is independent of the compiler and of the batch: the golden model
(:func:`tests.helpers.golden_stack`) run on each sequence alone. The RTL's h and c equal it
bit for bit for every sequence and layer, in exactly the cycles the expansion model predicts
for one sequence, with its activity counters; and a batch computes what B runs of one
sequence compute.
"""

import numpy as np
import pytest

from rpu.config import RPUConfig
from rpu.compiler import compile_stacked
from rpu.energy.activity import action_counts
from rpu.sim.hdl import find_verilator, find_icarus
from rpu.sim.session import Load, LoadState, Run, StallPatterns, simulate_session
from tests.helpers import (random_stack, golden_stack, small_config, auto_shifts,
                           require_simulator)


STEPS = 4

# (input size, hidden sizes, configuration)
CASES = {
    "B2": (3, [5], dict(batch=2)),
    "B3-P2-w8": (4, [6], dict(batch=3, lanes_per_array=4, weights_per_word=2,
                              weight_width=8)),
    "B4-d8-scales": (2, [3], dict(batch=4, data_width=8, weight_width=8, row_scales=True)),
    "B2-stacked-2arrays": (3, [5, 4], dict(batch=2, pim_arrays=2, lanes_per_array=4,
                                           activation_units=2)),
}


def check_sequences(config, layers, shifts, x, result, h0=None, c0=None):
    """Every sequence's every layer equals the golden model of that sequence alone."""
    for b in range(config.batch):
        expected = golden_stack(config, layers, x[b], shifts,
                                h0=None if h0 is None else [h[b] for h in h0],
                                c0=None if c0 is None else [c[b] for c in c0])
        for layer_h, layer_c, reference in zip(result.layers_h, result.layers_c, expected):
            np.testing.assert_array_equal(layer_h[b], reference.h)
            np.testing.assert_array_equal(layer_c[b], reference.c)


@pytest.mark.parametrize("name", CASES)
def test_rtl_bit_exact_for_every_sequence(name):
    I, hidden, resources = CASES[name]
    config = small_config(I, hidden, **resources)
    rng = np.random.default_rng(len(name) + 200)
    layers = random_stack(rng, I, hidden, scale=1.5)
    shifts = auto_shifts(config, layers)
    program = compile_stacked(config, layers, output_all=True, row_shifts=shifts)
    x = config.data_format.quantize(rng.standard_normal((config.batch, STEPS, I)))
    [result] = simulate_session(config, [Load(program), Run(x)])
    assert result.h.shape == (config.batch, STEPS, hidden[-1])
    check_sequences(config, layers, shifts, x, result)
    assert result.cycles == program.schedule.total_cycles(STEPS)
    assert result.activity == program.schedule.activity(STEPS)
    # One weight read per lane and column for all B sequences; B MACs per weight read.
    counts = action_counts(config, result.activity)
    assert counts["weight_read"] == result.activity["columns"] * config.lanes
    assert counts["mac"] == counts["weight_read"] * config.weights_per_word * config.batch
    # Not vacuous: the sequences differ.
    assert not np.array_equal(result.h[0], result.h[1])


def test_a_batch_equals_runs_of_one_sequence():
    """B sequences at once: what B runs of one sequence each give, in the cycles of one
    run; the saturations of all of them counted."""
    I, hidden, resources = CASES["B3-P2-w8"]
    config = small_config(I, hidden, **resources)
    single = small_config(I, hidden, **dict(resources, batch=1))
    rng = np.random.default_rng(7)
    layers = random_stack(rng, I, hidden, scale=3.0)     # large weights: saturations
    x = config.data_format.quantize(4 * rng.standard_normal((config.batch, STEPS, I)))
    [batched] = simulate_session(config, [Load(compile_stacked(config, layers)), Run(x)])
    program = compile_stacked(single, layers)
    alone = simulate_session(single, [Load(program)] + [Run(x[b]) for b in range(3)])
    for b, result in enumerate(alone):
        np.testing.assert_array_equal(batched.h[b], result.h)
        np.testing.assert_array_equal(batched.c[b], result.c)
        assert batched.cycles == result.cycles
        assert batched.activity == result.activity
    assert batched.saturations == sum(r.saturations for r in alone) > 0


def test_state_loads_per_sequence():
    """keep_state runs start from each sequence's own loaded h0 and c0."""
    I, hidden, resources = CASES["B2-stacked-2arrays"]
    config = small_config(I, hidden, **resources)
    rng = np.random.default_rng(9)
    layers = random_stack(rng, I, hidden)
    program = compile_stacked(config, layers, output_all=True)
    fmt = config.data_format
    h0 = [fmt.quantize(rng.uniform(-1, 1, (2, h))) for h in hidden]
    c0 = [config.cell_format.quantize(rng.uniform(-2, 2, (2, h))) for h in hidden]
    x = fmt.quantize(rng.standard_normal((2, STEPS, I)))
    [result] = simulate_session(config, [Load(program), LoadState(h0, c0),
                                         Run(x, keep_state=True)])
    check_sequences(config, layers, None, x, result, h0=h0, c0=c0)
    with pytest.raises(ValueError, match=r"h0\[0\] must have shape \(2, 5\)"):
        program.state_words([h[0] for h in h0], c0)


@pytest.mark.parametrize("simulator", ["verilator", "icarus"])
def test_hdl_simulators_agree_with_a_batch(simulator, tmp_path):
    """The generated Verilog (x and h payloads of B words, wider than 64 bits) gives what
    Amaranth's simulation gives, and the golden model, under random stalls."""
    require_simulator(simulator, find_verilator if simulator == "verilator" else find_icarus)
    I, hidden, resources = CASES["B3-P2-w8"]
    config = small_config(I, hidden, **resources)
    rng = np.random.default_rng(13)
    layers = random_stack(rng, I, hidden, scale=1.5)
    program = compile_stacked(config, layers)
    x = config.data_format.quantize(rng.standard_normal((3, STEPS, I)))
    operations = [Load(program), Run(x)]
    stalls = StallPatterns.random(5, probability=0.6)
    [amaranth] = simulate_session(config, operations, stalls=stalls)
    [hdl] = simulate_session(config, operations, simulator=simulator, build_dir=tmp_path,
                             stalls=stalls)
    check_sequences(config, layers, None, x, hdl)
    np.testing.assert_array_equal(hdl.outputs, amaranth.outputs)
    assert (hdl.cycles, hdl.run_cycles, hdl.saturations, hdl.activity) == \
        (amaranth.cycles, amaranth.run_cycles, amaranth.saturations, amaranth.activity)
    assert hdl.cycles > program.schedule.total_cycles(STEPS)


def test_schedule_counts_every_sequence():
    """The cycles are one sequence's; MACs and operations per step are B times as many, and
    the utilization is unchanged."""
    values = dict(input_size=64, hidden_size=128)
    one, eight = RPUConfig(**values), RPUConfig(**values, batch=8)
    from rpu.compiler import plan_schedule
    s1, s8 = plan_schedule(one, 64, 128), plan_schedule(eight, 64, 128)
    assert s8.total_cycles(20) == s1.total_cycles(20)
    assert s8.macs_per_step() == 8 * s1.macs_per_step() == 8 * 4 * 128 * 192
    assert s8.ops_per_step() == 8 * s1.ops_per_step()
    assert s8.utilization(20) == s1.utilization(20)
    assert s8.activity(20) == s1.activity(20)
    assert eight.macs == 8 * 64
