"""Hardware arithmetic helpers of :mod:`pim.arith`: the balanced sum, against Python's sum
and a popcount, at sizes where a chain of additions would be too deep for Amaranth; the
narrowing, against the golden model's for every value of a small width."""

import random

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Module, Signal, signed
from amaranth.sim import Simulator

from lstm_ref.fixedpoint import FixedFormat, narrow as reference_narrow
from pim.arith import SUM_CHAIN, sum_tree, narrow, narrow_scaled, rounding_bias


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


def test_narrow_is_the_golden_models_for_every_value():
    """Every 8-bit value, each shift (fixed, fixed with the rounding bias already added, or
    fixed plus a variable scale) and result width: the narrowed code and the saturation flag
    are :func:`lstm_ref.fixedpoint.narrow`'s, at the edges of the range included."""
    value_width, scale_width = 8, 2
    value, scale = Signal(signed(value_width)), Signal(scale_width)
    m = Module()
    outputs = {}
    for shift in range(4):
        for width in range(2, 8):
            for kind in ("plain", "biased", "scaled"):
                if kind == "plain":
                    code, flag = narrow(value, shift, width)
                elif kind == "biased":
                    code, flag = narrow(value + rounding_bias(shift), shift, width, biased=True)
                else:
                    code, flag = narrow_scaled(value, shift, scale, width)
                signals = (Signal(signed(width), name=f"code_{shift}_{width}_{kind}"),
                           Signal(name=f"flag_{shift}_{width}_{kind}"))
                m.d.comb += [signals[0].eq(code), signals[1].eq(flag)]
                outputs[shift, width, kind] = signals
    mismatches = []

    async def testbench(ctx):
        for s in range(1 << scale_width):
            ctx.set(scale, s)
            for x in range(-(1 << (value_width - 1)), 1 << (value_width - 1)):
                ctx.set(value, x)
                for (shift, width, kind), (code, flag) in outputs.items():
                    if kind != "scaled" and s:
                        continue                # (the same as with scale 0)
                    total = shift + (s if kind == "scaled" else 0)
                    want_code, want_flag = reference_narrow(x, total, FixedFormat(width, 0))
                    got = (ctx.get(code), bool(ctx.get(flag)))
                    if got != (int(want_code), bool(want_flag)):
                        mismatches.append((x, s, shift, width, kind, got))

    sim = Simulator(m)
    sim.add_testbench(testbench)
    sim.run()
    assert mismatches == []
