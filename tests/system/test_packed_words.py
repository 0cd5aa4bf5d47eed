"""Packed weight words (issue 9, item 2) on the simulated RPU.

With ``weights_per_word`` P, a lane's weight memory word holds P weights (the same column of P
rows) and the lane has P MACs: P multiply-accumulates per weight read. The reference is
independent of the compiler and of the packing: the golden model,
:class:`lstm_ref.fixed_lstm.FixedLSTM`, on matrices quantized here with
:func:`lstm_ref.fixed_lstm.quantize_lstm`. The RTL's h and c equal it bit for bit, every
layer, in exactly the cycles the expansion model predicts, with the activity counters it
predicts; and an RPU of P-weight words computes, cycle for cycle, what an RPU with P times
the lanes of one weight computes, while reading P times fewer words.
"""

import json

import numpy as np
import pytest

from rpu.config import RPUConfig
from rpu.compiler import compile_stacked
from rpu.energy.activity import action_counts
from rpu.generator import describe
from rpu.sim.session import Load, Run, simulate_session
from tests.helpers import (random_stack, golden_stack, small_config, auto_shifts,
                           assert_layers_equal, assert_simulators_agree)


STEPS = 4


# (input size, hidden sizes, configuration)
CASES = {
    "P2-w8-d16": (3, [5], dict(pim_arrays=1, lanes_per_array=4, weights_per_word=2,
                               weight_width=8)),
    "P4-w4-d8-scales-2arrays": (3, [6], dict(pim_arrays=2, lanes_per_array=2,
                                             weights_per_word=4, weight_width=4,
                                             data_width=8, activation_units=2,
                                             row_scales=True)),
    "P8-w4-d12-one-lane": (4, [5], dict(pim_arrays=1, lanes_per_array=1, weights_per_word=8,
                                        weight_width=4, data_width=12)),
    "P4-w16-64bit-words": (2, [3], dict(pim_arrays=1, lanes_per_array=1, weights_per_word=4,
                                        weight_width=16)),
    "P3-w6-d10-odd": (5, [4], dict(pim_arrays=1, lanes_per_array=4, weights_per_word=3,
                                   weight_width=6, data_width=10, activation_units=3)),
    "stacked-P2-w8-scales": (3, [5, 4], dict(pim_arrays=2, lanes_per_array=2,
                                             weights_per_word=2, weight_width=8,
                                             row_scales=True)),
}


@pytest.mark.parametrize("name", CASES)
def test_rtl_bit_exact_with_packed_words(name):
    I, hidden, resources = CASES[name]
    config = small_config(I, hidden, **resources)
    assert config.weights_per_word > 1
    rng = np.random.default_rng(len(name) + 100)
    layers = random_stack(rng, I, hidden, scale=1.5)
    shifts = auto_shifts(config, layers)
    program = compile_stacked(config, layers, output_all=True, row_shifts=shifts)
    x = config.data_format.quantize(rng.standard_normal((STEPS, I)))
    [result] = simulate_session(config, [Load(program), Run(x)])
    expected = golden_stack(config, layers, x, shifts)
    assert_layers_equal(result, expected)
    assert result.saturations == sum(output.saturations for output in expected)
    assert result.cycles == program.schedule.total_cycles(STEPS)
    assert result.activity == program.schedule.activity(STEPS)
    # One word read per lane and column, P MACs per read.
    counts = action_counts(config, result.activity)
    assert counts["mac"] == counts["weight_read"] * config.weights_per_word
    assert counts["weight_read"] == result.activity["columns"] * config.lanes


@pytest.mark.parametrize("packing, weight_width", [(2, 8), (4, 4), (8, 4)])
def test_packed_words_equal_more_lanes(packing, weight_width):
    """16 MAC lanes as 16 lanes of one weight or 16/P lanes of P weights: the same results,
    cycles and counters; P times fewer, P times wider weight memories."""
    values = dict(input_size=5, hidden_size=7, pim_arrays=1, activation_units=2,
                  elementwise_units=1, weight_width=weight_width, data_width=12,
                  activation_segments=16)
    plain = RPUConfig(**values, lanes_per_array=16)
    packed = RPUConfig(**values, lanes_per_array=16 // packing, weights_per_word=packing)
    assert plain.mac_lanes == packed.mac_lanes == 16
    rng = np.random.default_rng(packing)
    layers = random_stack(rng, 5, [7])
    x = plain.data_format.quantize(rng.standard_normal((STEPS, 5)))
    programs = [compile_stacked(c, layers) for c in (plain, packed)]
    assert programs[0].schedule == programs[1].schedule
    # The same codes per MAC lane: the packed image is the plain one, regrouped.
    np.testing.assert_array_equal(programs[0].weight_image, programs[1].weight_image)
    results = [simulate_session(p.config, [Load(p), Run(x)])[0] for p in programs]
    np.testing.assert_array_equal(results[0].outputs, results[1].outputs)
    assert results[0].cycles == results[1].cycles
    assert results[0].activity == results[1].activity
    counts = [action_counts(c, r.activity) for c, r in zip((plain, packed), results)]
    assert counts[0]["mac"] == counts[1]["mac"]
    assert counts[0]["weight_read"] == packing * counts[1]["weight_read"]
    # The parameter files: 16 memories of one weight, 16/P memories of P weights.
    memories = [next(m for m in describe(c)["memories"] if m["name"].endswith(".weights"))
                for c in (plain, packed)]
    assert (memories[0]["count"], memories[0]["width"]) == (16, weight_width)
    assert (memories[1]["count"], memories[1]["width"]) == (16 // packing,
                                                            packing * weight_width)
    assert memories[0]["words"] == memories[1]["words"]
    json.dumps(describe(packed))


@pytest.mark.parametrize("simulator", ["verilator", "icarus"])
def test_hdl_simulators_agree_with_packed_words(simulator, tmp_path):
    """The generated Verilog gives what Amaranth's simulation gives, and the golden model,
    with every stream stalling at random (the lanes' P MACs hold together)."""
    I, hidden, resources = CASES["stacked-P2-w8-scales"]
    config = small_config(I, hidden, **dict(resources, weights_per_word=4, lanes_per_array=1,
                                         weight_width=4, data_width=12))
    rng = np.random.default_rng(17)
    layers = random_stack(rng, I, hidden, scale=1.5)
    shifts = auto_shifts(config, layers)
    program = compile_stacked(config, layers, output_all=True, row_shifts=shifts)
    x = config.data_format.quantize(rng.standard_normal((STEPS, I)))
    hdl = assert_simulators_agree(config, [Load(program), Run(x)],
                                  golden_stack(config, layers, x, shifts), simulator,
                                  tmp_path, seed=9)
    # The stalls did stall the run.
    assert hdl.cycles > program.schedule.total_cycles(STEPS)
