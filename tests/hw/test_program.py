"""The program's word formats and the hidden-state memory map, each defined once in
:mod:`rpu.hw.program` and read by the hardware, the compiler and the generator.

Expected values are written out from the documented formats: a context word is
``op | cycles << 4`` (op in bits 3..0, cycles in bits 19..4), and ``h[k]`` of layer ``l`` in
half ``b`` of the hidden-state memory is at ``l * 2 * padded_hidden + b * padded_hidden + k``.
"""

import itertools

import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from rpu.config import RPUConfig
from rpu.config import MAX_STEPS
from rpu.hw.program import (CONTEXT, COUNTER_WIDTH, OP_BITS, Op, H_ADDRESS_FORMULA,
                            CELL_ADDRESS_FORMULA, context_word_formula, encode_context,
                            h_address, cell_address, scale_address, SCALE_ADDRESS_FORMULA)


CONFIG = RPUConfig(input_size=3, hidden_size=5, num_layers=3, pim_arrays=1,
                   lanes_per_array=8, activation_units=1, elementwise_units=1)


def test_counter_width_holds_the_most_steps():
    assert COUNTER_WIDTH == 16 and MAX_STEPS == (1 << COUNTER_WIDTH) - 1


def test_cell_address():
    assert CELL_ADDRESS_FORMULA == "layer * cell_words + k / elementwise_units"
    config = RPUConfig(input_size=3, hidden_size=5, num_layers=3, pim_arrays=1,
                       lanes_per_array=16, activation_units=1, elementwise_units=2)
    assert config.cell_words == 4          # padded_hidden 8, 2 values per word
    assert [cell_address(config, layer, word) for layer in range(3) for word in range(4)] \
        == list(range(config.cell_memory_depth))


def test_scale_address():
    """One scale word per row group of each layer, the layers one after the other."""
    assert SCALE_ADDRESS_FORMULA == "layer * max_groups + group"
    config = RPUConfig(input_size=3, hidden_size=5, num_layers=3, pim_arrays=1,
                       lanes_per_array=8, activation_units=1, elementwise_units=1,
                       row_scales=True)
    assert config.max_groups == 3 and config.scale_depth == 9
    assert [scale_address(config, layer, group) for layer in range(3) for group in range(3)] \
        == list(range(config.scale_depth))


def test_context_layout():
    assert CONTEXT.size == OP_BITS + COUNTER_WIDTH == 20
    assert (CONTEXT["op"].offset, CONTEXT["cycles"].offset) == (0, 4)
    assert context_word_formula() == "op | cycles << 4"


@pytest.mark.parametrize("op, cycles, word", [
    (Op.NOP, 1, 0x10), (Op.LOAD, 1, 0x11), (Op.EMIT, 5, 0x56), (Op.GATES, 65535, 0xFFFF2),
    (Op.CELL, 300, 0x12C3),
])
def test_encode_context(op, cycles, word):
    assert encode_context(op, cycles) == word


@pytest.mark.parametrize("cycles", [0, 65536, -1, True, 2.0])
def test_encode_context_rejects_cycles(cycles):
    with pytest.raises(ValueError, match="context cycles must be"):
        encode_context(Op.LOAD, cycles)


def test_ops_fit_their_field():
    assert max(Op) < 1 << OP_BITS
    assert [op.name for op in Op] == ["NOP", "LOAD", "GATES", "CELL", "TANH_C", "HIDDEN",
                                      "EMIT"]


def test_h_address_of_ints():
    P = CONFIG.padded_hidden
    assert P == 6
    assert H_ADDRESS_FORMULA == "layer * 2 * padded_hidden + half * padded_hidden + k"
    for layer, half, k in itertools.product(range(3), range(2), range(P)):
        assert h_address(CONFIG, layer, half, k) == layer * 12 + half * 6 + k
        assert h_address(CONFIG, layer, half, k, other=True) == layer * 12 + (1 - half) * 6 + k
    addresses = {h_address(CONFIG, l, b, k)
                 for l, b, k in itertools.product(range(3), range(2), range(P))}
    assert addresses == set(range(CONFIG.h_memory_depth))


@pytest.mark.parametrize("half", [2, -1, True])
def test_h_address_rejects_a_bad_half(half):
    with pytest.raises(ValueError, match="half"):
        h_address(CONFIG, 0, half, 0)


def test_h_address_of_values_matches_ints():
    layer, half, k = Signal(range(3)), Signal(), Signal(range(8))
    same = Signal(range(CONFIG.h_memory_depth + 8))
    other = Signal(range(CONFIG.h_memory_depth + 8))
    m = Module()
    m.d.comb += [same.eq(h_address(CONFIG, layer, half, k)),
                 other.eq(h_address(CONFIG, layer, half, k, other=True))]
    seen = []

    async def testbench(ctx):
        for l, b, j in itertools.product(range(3), range(2), range(6)):
            ctx.set(layer, l)
            ctx.set(half, b)
            ctx.set(k, j)
            seen.append(((l, b, j), ctx.get(same), ctx.get(other)))

    sim = Simulator(m)
    sim.add_testbench(testbench)
    sim.run()
    assert len(seen) == 36
    for (l, b, j), got_same, got_other in seen:
        assert got_same == h_address(CONFIG, l, b, j)
        assert got_other == h_address(CONFIG, l, b, j, other=True)
