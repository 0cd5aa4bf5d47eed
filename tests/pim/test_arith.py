"""Hardware arithmetic helpers of :mod:`pim.arith`: the balanced sum, against Python's sum
and a popcount, at sizes where a chain of additions would be too deep for Amaranth."""

import random

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from pim.arith import SUM_CHAIN, sum_tree, narrow


def _depth(value):
    """Nesting depth of an Amaranth operator tree (iterative, so it cannot recurse)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack += [(operand, depth + 1) for operand in getattr(node, "operands", ())]
    return deepest


@pytest.mark.parametrize("count", [1, 5, SUM_CHAIN, SUM_CHAIN + 1, 1024])
def test_sum_tree_of_ints(count):
    values = list(range(count))
    assert sum_tree(values) == sum(values)


def test_sum_tree_of_nothing_is_zero():
    assert sum_tree([]) == 0


def test_sum_tree_is_a_chain_up_to_sum_chain_terms():
    bits = [Signal(name=f"b{i}") for i in range(SUM_CHAIN)]
    assert repr(sum_tree(bits)) == repr(sum(bits))


@pytest.mark.parametrize("count", [320, 1024, 4096])
def test_sum_tree_depth_is_bounded(count):
    bits = [Signal(name=f"b{i}") for i in range(count)]
    assert _depth(sum(bits)) > count          # the chain it replaces
    assert _depth(sum_tree(bits)) <= SUM_CHAIN + 2 + (count // SUM_CHAIN).bit_length()


def test_a_sum_of_1024_bits_elaborates_and_counts():
    bits = Signal(1024)
    total = Signal(11)
    m = Module()
    m.d.comb += total.eq(sum_tree(bits[i] for i in range(1024)))
    assert "module" in rtlil.convert(m, ports=[bits, total])
    rng = random.Random(3)
    patterns = [0, (1 << 1024) - 1] + [rng.getrandbits(1024) for _ in range(5)]
    got = []

    async def testbench(ctx):
        for pattern in patterns:
            ctx.set(bits, pattern)
            got.append(ctx.get(total))

    sim = Simulator(m)
    sim.add_testbench(testbench)
    sim.run()
    assert got == [bin(p).count("1") for p in patterns]


@pytest.mark.parametrize("shift, width", [(-1, 8), (0, 1), (1.0, 8)])
def test_narrow_rejects_bad_parameters(shift, width):
    with pytest.raises(ValueError):
        narrow(Signal(16), shift, width)
