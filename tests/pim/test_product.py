"""The registered product (:class:`pim.product.RegisteredProduct`) in simulation: ``p`` is
the product of the operands of the last enabled cycle (with input registers, of the enabled
cycle before it), computed here with Python ints."""

import random

import pytest
from amaranth.hdl import Shape, signed, unsigned

from pim.product import RegisteredProduct
from tests.helpers import run_testbench


def random_code(rng, shape):
    low = -(1 << shape.width - 1) if shape.signed else 0
    high = (1 << shape.width - 1) - 1 if shape.signed else (1 << shape.width) - 1
    # The extremes often: the products of the most negative codes are the widest.
    return rng.choice([low, high, rng.randint(low, high)])


def run(dut, *, cycles=300, seed=1):
    """Drive random operands and enables through ``dut`` (anything with en, a, b, p,
    a_shape, b_shape and input_registers); returns the mismatches as (cycle, got,
    expected)."""
    rng = random.Random(seed)
    mismatches = []

    async def testbench(ctx):
        expected = 0                            # the register's reset value
        operands = (0, 0)                       # the input registers' (reset values)
        for cycle in range(cycles):
            a, b = random_code(rng, dut.a_shape), random_code(rng, dut.b_shape)
            en = rng.random() < 0.7
            ctx.set(dut.a, a)
            ctx.set(dut.b, b)
            ctx.set(dut.en, en)
            await ctx.tick()
            if en and dut.input_registers:
                expected, operands = operands[0] * operands[1], (a, b)
            elif en:
                expected = a * b
            if ctx.get(dut.p) != expected:
                mismatches.append((cycle, ctx.get(dut.p), expected))

    run_testbench(dut, testbench)
    return mismatches


SHAPES = [(signed(16), signed(16)), (signed(18), signed(18)), (unsigned(18), signed(5)),
          (unsigned(7), unsigned(18)), (signed(1), unsigned(1)), (signed(20), signed(20))]


@pytest.mark.parametrize("input_registers", [False, True])
@pytest.mark.parametrize("a_shape, b_shape", SHAPES)
def test_product_of_the_last_enabled_cycle(a_shape, b_shape, input_registers):
    dut = RegisteredProduct(a_shape=a_shape, b_shape=b_shape,
                            input_registers=input_registers)
    width = a_shape.width + b_shape.width
    assert dut.p_shape == Shape(width, a_shape.signed or b_shape.signed)
    assert dut.latency == (2 if input_registers else 1)
    assert run(dut) == []


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(a_shape="x", b_shape=8), TypeError, "a_shape must be a shape, not 'x'"),
    (dict(a_shape=8, b_shape=0), ValueError, "b_shape must be at least 1 bit wide"),
])
def test_refuses_bad_shapes(kwargs, error, message):
    with pytest.raises(error, match=message):
        RegisteredProduct(**kwargs)
