"""The element-wise unit in simulation: ``y = narrow(a*b + c*d, frac_bits)`` bit for bit,
saturation both ways, rounding ties, a 2-cycle latency and stalls.

Expected values come from :func:`lstm_ref.fixedpoint.narrow` on products computed here.
"""

import itertools

import numpy as np
import pytest
from amaranth.sim import Simulator

from lstm_ref.fixedpoint import FixedFormat, narrow
from rpu.hw.elementwise import ElementwiseUnit


FORMATS = [FixedFormat(16, 12), FixedFormat(8, 5), FixedFormat(12, 0), FixedFormat(20, 18),
           FixedFormat(6, 1)]


def reference(samples, fmt):
    s = np.asarray(samples, dtype=np.int64).reshape(-1, 4)
    return narrow(s[:, 0] * s[:, 1] + s[:, 2] * s[:, 3], fmt.frac_bits, fmt)


def extreme_samples(fmt):
    """Every combination of extreme and small codes, and exact rounding ties."""
    lo, hi = fmt.min_code, fmt.max_code
    special = sorted({lo, lo + 1, -1, 0, 1, hi - 1, hi})
    samples = [list(p) for p in itertools.product(special, repeat=4)]
    F = fmt.frac_bits
    if F:
        half = 1 << (F - 1)
        # a*b + c*d = (k + 1/2) LSB exactly, for positive and negative k; and one code
        # either side of the tie.
        for k in (0, 1, 2, 5, -1, -2, -3, -6):
            for delta in (0, -1, 1):
                total = k * (1 << F) + half + delta
                # Split the total into a*b (a = 1) and c*d with every operand a valid code.
                part = max(lo, min(hi, total))
                rest = total - part
                if lo <= rest <= hi:
                    samples.append([1, part, rest, 1])
                    samples.append([part, 1, 1, rest])
                    samples.append([-1, -part, -1, -rest] if -part <= hi and -rest <= hi
                                   else [1, part, 1, rest])
        # A tie reached by a product alone: half * 1 (0.5 LSB) and -half * 3 (-1.5 LSB).
        if half <= hi:
            samples += [[half, 1, 0, 0], [-half, 1, 0, 0], [-half, 3, 0, 0], [half, 3, 0, 0],
                        [half, -1, 0, 5], [1, 0, -half, 1]]
    return samples


def random_samples(rng, fmt, count):
    return rng.integers(fmt.min_code, fmt.max_code + 1, size=(count, 4)).tolist()


def simulate(fmt, samples, *, seed, stall_prob=0.0, split_products=True, cell_format=None,
             cells=None):
    """Present one sample per enabled cycle (in cell mode where ``cells`` says so); return
    (y, saturated) after each enabled edge, checking that disabled edges change nothing."""
    rng = np.random.default_rng(seed)
    dut = ElementwiseUnit(data_format=fmt, split_products=split_products,
                          cell_format=cell_format)
    after = []   # (y, saturated) after each enabled edge

    async def testbench(ctx):
        ports = (dut.a, dut.b, dut.c, dut.d)
        modes = list(cells or [0] * len(samples)) + [0] * ElementwiseUnit.LATENCY
        queue = list(samples) + [[0, 0, 0, 0]] * ElementwiseUnit.LATENCY
        n = 0
        while n < len(queue):
            enabled = not (stall_prob and rng.random() < stall_prob)
            ctx.set(dut.en, int(enabled))
            values = queue[n] if enabled else rng.integers(
                fmt.min_code, fmt.max_code + 1, size=4).tolist()
            for port, value in zip(ports, values):
                ctx.set(port, int(value))
            ctx.set(dut.cell, modes[n] if enabled else int(rng.integers(2)))
            before = (ctx.get(dut.y), ctx.get(dut.saturated))
            await ctx.tick()
            now = (ctx.get(dut.y), ctx.get(dut.saturated))
            if enabled:
                after.append(now)
                n += 1
            else:
                assert now == before, "a disabled edge changed the output"

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return after


def check(fmt, samples, **kwargs):
    after = simulate(fmt, samples, **kwargs)
    latency = ElementwiseUnit.LATENCY
    # The sample taken at enabled edge n is on y after enabled edge n + LATENCY - 1.
    got = after[latency - 1:latency - 1 + len(samples)]
    codes, sat = reference(samples, fmt)
    for index, ((y, s), want_y, want_s) in enumerate(zip(got, codes, sat)):
        assert (y, bool(s)) == (int(want_y), bool(want_s)), (
            f"{fmt}: a, b, c, d = {samples[index]}: got y={y} saturated={s}, expected "
            f"y={want_y} saturated={want_s}")
    return codes, sat


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
def test_whole_products_give_the_same_results(fmt):
    """split_products=False (one whole product each, for FPGA DSP blocks): the same
    results at the same latency, on extreme and random operands."""
    rng = np.random.default_rng(8)
    samples = extreme_samples(fmt) + random_samples(rng, fmt, 300)
    check(fmt, samples, seed=9, split_products=False)


@pytest.mark.parametrize("split_products", [True, False])
@pytest.mark.parametrize("fmt, cell_fmt", [(FixedFormat(16, 12), FixedFormat(16, 12)),
                                           (FixedFormat(16, 12), FixedFormat(16, 9)),
                                           (FixedFormat(8, 5), FixedFormat(8, 2))], ids=str)
def test_cell_mode(fmt, cell_fmt, split_products):
    """cell = 1: ``y = narrow(a*b * 2**s + c*d, frac_bits + s)`` in the cell format, s the
    fractional bits the cell format has fewer (b is c_{t-1} in the cell format); cell = 0 in
    between, the mode changing from one sample to the next; split and whole products."""
    rng = np.random.default_rng(10)
    samples = extreme_samples(fmt)[::7] + random_samples(rng, fmt, 300)
    cells = rng.integers(2, size=len(samples))
    after = simulate(fmt, samples, seed=11, stall_prob=0.2, split_products=split_products,
                     cell_format=cell_fmt, cells=cells.tolist())
    shift = fmt.frac_bits - cell_fmt.frac_bits
    s = np.asarray(samples, dtype=np.int64)
    cell_codes, cell_sat = narrow((s[:, 0] * s[:, 1] << shift) + s[:, 2] * s[:, 3],
                                  fmt.frac_bits + shift, cell_fmt)
    codes, sat = reference(samples, fmt)
    codes, sat = np.where(cells, cell_codes, codes), np.where(cells, cell_sat, sat)
    latency = ElementwiseUnit.LATENCY
    got = after[latency - 1:latency - 1 + len(samples)]
    assert [(y, bool(flag)) for y, flag in got] == list(zip(codes.tolist(),
                                                             sat.astype(bool).tolist()))
    assert np.any(sat) and np.any(~sat)


def test_latency_constant():
    assert ElementwiseUnit.LATENCY == 3      # operands, partial products, sum (issue 9)


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
def test_extreme_operands(fmt):
    samples = extreme_samples(fmt)
    codes, sat = check(fmt, samples, seed=1)
    # The extreme set covers saturation both ways and results on the range's ends.
    assert np.any(sat & (codes == fmt.max_code)) and np.any(sat & (codes == fmt.min_code))


@pytest.mark.parametrize("fmt", [fmt for fmt in FORMATS if fmt.frac_bits > 0], ids=str)
def test_rounding_ties_round_half_up(fmt):
    """Exactly half an LSB rounds up, for positive and negative sums: 0.5 -> 1, -0.5 -> 0,
    -1.5 -> -1, 2.5 -> 3 (in LSBs of y)."""
    F = fmt.frac_bits
    half = 1 << (F - 1)
    lsb = 1 << F
    cases = []     # (a, b, c, d, expected y) with the expectation written out by hand
    for k, want in ((0, 1), (-1, 0), (-2, -1), (2, 3), (-3, -2)):
        total = k * lsb + half
        if fmt.min_code <= total <= fmt.max_code:
            cases.append(([total, 1, 0, 0], want))
            cases.append(([1, 0, 1, total], want))
            cases.append(([1, total - 1, 1, 1], want))   # the tie as a sum of two products
    assert cases
    samples = [c for c, _ in cases]
    codes, _ = check(fmt, samples, seed=2)
    assert codes.tolist() == [w for _, w in cases]


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
def test_random_operands(fmt):
    rng = np.random.default_rng(3)
    samples = random_samples(rng, fmt, 1500)
    # Small operands too, where the result is rarely saturated.
    small = 1 << (fmt.width // 2)
    samples += rng.integers(-small, small + 1, size=(500, 4)).tolist()
    codes, sat = check(fmt, samples, seed=4)
    assert np.any(~sat)


@pytest.mark.parametrize("fmt", FORMATS[:3], ids=str)
def test_stalls(fmt):
    rng = np.random.default_rng(5)
    samples = random_samples(rng, fmt, 400) + extreme_samples(fmt)[:200]
    check(fmt, samples, seed=6, stall_prob=0.4)


def test_first_result_after_three_enabled_edges():
    """One sample after zeros: y shows it after exactly three enabled edges, not fewer."""
    fmt = FixedFormat(16, 12)
    one = 1 << fmt.frac_bits
    samples = [[one, 3 * one, one, -one], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    after = simulate(fmt, samples, seed=7)
    assert after[0][0] == 0                 # after edge 1: still the reset value
    assert after[1][0] == 0                 # after edge 2: still the reset value
    assert after[2][0] == 2 * one           # after edge 3: 1*3 + 1*(-1) = 2
    assert after[3][0] == 0
