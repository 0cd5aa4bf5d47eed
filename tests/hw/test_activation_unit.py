"""The activation unit in simulation: bit-exact with lstm_ref.activation, stalls, conversion.

The default 16-bit format is simulated exhaustively: every input code for both functions,
131072 samples, one per cycle.
"""

import gc
import warnings

import numpy as np
import pytest
from amaranth import UnusedElaboratable
from amaranth.back import verilog
from amaranth.sim import Simulator

from lstm_ref.activation import SIGMOID, TANH, activation_fixed
from lstm_ref.fixedpoint import FixedFormat
from rpu.hw.activation import ActivationUnit


def all_codes(fmt):
    return np.arange(fmt.min_code, fmt.max_code + 1, dtype=np.int64)


def stream(dut, funcs, codes):
    """Feed one (func, x) per cycle with en=1; return y for each sample, in order."""
    funcs = [int(f) for f in funcs]
    codes = [int(c) for c in codes]
    samples = []

    async def testbench(ctx):
        ctx.set(dut.en, 1)
        func = None
        tick = ctx.tick().sample(dut.y)
        for f, c in zip(funcs, codes):
            if f != func:
                ctx.set(dut.func, f)
                func = f
            ctx.set(dut.x, c)
            # The sample is taken at the edge, before the edge's update: it is y as left by
            # the previous edge. Sampling this way costs far less than a ctx.get per cycle.
            *_, y = await tick
            samples.append(y)
        for _ in range(dut.LATENCY):
            *_, y = await tick
            samples.append(y)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    # samples[i] is y after edge i; the sample set up before edge k+1 (k = 0, 1, ...) is on
    # y after edge k + LATENCY.
    return np.array(samples[dut.LATENCY:], dtype=np.int64)


def check_exhaustive(fmt, segments):
    dut = ActivationUnit(data_format=fmt, segments=segments)
    codes = all_codes(fmt)
    funcs = np.repeat([SIGMOID, TANH], codes.size)
    codes2 = np.concatenate([codes, codes])
    got = stream(dut, funcs, codes2)
    want = np.concatenate([activation_fixed(SIGMOID, codes, fmt, segments),
                           activation_fixed(TANH, codes, fmt, segments)])
    assert got.shape == want.shape
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, (
        f"{bad.size} mismatches, first: func={funcs[bad[0]]} x={codes2[bad[0]]} "
        f"y={got[bad[0]]} expected {want[bad[0]]}")


def test_latency_constant():
    # Index registered, ROM read, ROM word registered, product, sum and saturation (issue 9:
    # the ROM's access time and the multiplier in separate stages for OSU 0.18 um timing;
    # issue 11: the ROM's address from a register, for a block RAM placed far away).
    assert ActivationUnit.LATENCY == 5


def test_exhaustive_default_format():
    check_exhaustive(FixedFormat(16, 12), 256)


@pytest.mark.parametrize("fmt, segments", [
    (FixedFormat(10, 7), 32),
    (FixedFormat(8, 5), 1),
    (FixedFormat(6, 2), 16),
    (FixedFormat(2, 0), 1),
])
def test_exhaustive_small_formats(fmt, segments):
    check_exhaustive(fmt, segments)


def test_random_funcs_interleaved():
    # Switching the function every cycle: func travels with its sample.
    fmt = FixedFormat(16, 12)
    rng = np.random.default_rng(7)
    funcs = rng.integers(0, 2, 3000)
    codes = rng.integers(fmt.min_code, fmt.max_code + 1, 3000)
    got = stream(ActivationUnit(data_format=fmt), funcs, codes)
    want = [activation_fixed(int(f), int(c), fmt) for f, c in zip(funcs, codes)]
    np.testing.assert_array_equal(got, want)


def test_stall_holds_pipeline():
    fmt = FixedFormat(16, 12)
    dut = ActivationUnit(data_format=fmt)
    rng = np.random.default_rng(3)
    n = 4000
    ens = rng.random(n) < 0.6
    ens[:4] = [1, 0, 1, 0]          # stalls between the stages right away
    ens[100:110] = 0                # a long stall
    funcs = rng.integers(0, 2, n)
    # x and func change every cycle, stalled or not: a stalled unit must ignore them.
    codes = rng.integers(fmt.min_code, fmt.max_code + 1, n)
    codes[:50] = fmt.min_code + np.arange(50)
    outputs = []

    async def testbench(ctx):
        for en, f, c in zip(ens, funcs, codes):
            ctx.set(dut.en, int(en))
            ctx.set(dut.func, int(f))
            ctx.set(dut.x, int(c))
            await ctx.tick()
            outputs.append(ctx.get(dut.y))     # y after this edge

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()

    taken = []                                  # samples taken at enabled edges, in order
    checked = 0
    for en, f, c, y in zip(ens, funcs, codes, outputs):
        if en:
            taken.append((int(f), int(c)))
        if len(taken) >= dut.LATENCY:           # y is not defined before the first result
            f0, c0 = taken[len(taken) - dut.LATENCY]
            assert y == activation_fixed(f0, c0, fmt), (f0, c0)
            checked += 1
    assert checked > n - 10 and len(taken) > 0.5 * n


def test_stall_then_resume_sequence():
    # Results come out in order and none is lost or duplicated across stalls.
    fmt = FixedFormat(10, 7)
    dut = ActivationUnit(data_format=fmt, segments=32)
    codes = list(range(-20, 20))
    results = []

    async def testbench(ctx):
        enabled_edges = 0
        for i, c in enumerate(codes + [0] * dut.LATENCY):
            ctx.set(dut.func, TANH)
            ctx.set(dut.x, c)
            ctx.set(dut.en, 1)
            await ctx.tick()
            enabled_edges += 1
            if enabled_edges >= dut.LATENCY:
                results.append(ctx.get(dut.y))
            # A stall of i % 3 cycles with garbage inputs after each sample.
            held = ctx.get(dut.y)
            for _ in range(i % 3):
                ctx.set(dut.en, 0)
                ctx.set(dut.x, fmt.min_code)
                ctx.set(dut.func, SIGMOID)
                await ctx.tick()
                assert ctx.get(dut.y) == held

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    want = activation_fixed(TANH, np.array(codes), fmt, 32)
    np.testing.assert_array_equal(results[:len(codes)], want)


def test_candidate_inputs_select_after_split():
    """With several candidate inputs the unit takes the one selected (one-hot) with its
    function, zeros (x = 0, SIGMOID) when none is; under stalls like one input."""
    fmt = FixedFormat(10, 7)
    segments = 32
    inputs = 3
    dut = ActivationUnit(data_format=fmt, segments=segments, inputs=inputs)
    rng = np.random.default_rng(11)
    n = 3000
    ens = rng.random(n) < 0.7
    codes = rng.integers(fmt.min_code, fmt.max_code + 1, (n, inputs))
    # The extreme codes (min_code: the clamp; multiples of a segment: the index's carry) on
    # every candidate.
    codes[:40] = fmt.min_code + np.arange(40)[:, None]
    codes[40:80] = (np.arange(-20, 20) << (fmt.width - 1 - 5))[:, None]
    funcs = rng.integers(0, 2, (n, inputs))
    selects = rng.choice([0] + [1 << k for k in range(inputs)], n)
    outputs = []

    async def testbench(ctx):
        for en, xs, fs, sel in zip(ens, codes, funcs, selects):
            ctx.set(dut.en, int(en))
            ctx.set(dut.x, [int(x) for x in xs])
            ctx.set(dut.func, sum(int(f) << k for k, f in enumerate(fs)))
            ctx.set(dut.select, int(sel))
            await ctx.tick()
            outputs.append(ctx.get(dut.y))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()

    taken = []
    for en, xs, fs, sel, y in zip(ens, codes, funcs, selects, outputs):
        if en:
            if sel:
                k = int(sel).bit_length() - 1
                taken.append((int(fs[k]), int(xs[k])))
            else:
                taken.append((SIGMOID, 0))
        if len(taken) >= dut.LATENCY:
            f0, c0 = taken[len(taken) - dut.LATENCY]
            assert y == activation_fixed(f0, c0, fmt, segments), (f0, c0)
    assert len(taken) > 0.6 * n


def test_signature():
    dut = ActivationUnit(data_format=FixedFormat(12, 8), segments=64)
    assert dut.data_format == FixedFormat(12, 8)
    assert dut.segments == 64
    assert len(dut.x) == 12 and dut.x.shape().signed
    assert len(dut.y) == 12 and dut.y.shape().signed
    assert len(dut.en) == 1 and len(dut.func) == 1
    assert set(dut.signature.members.keys()) == {"en", "func", "x", "y"}
    assert dut.inputs == 1
    verilog.convert(dut)
    dut = ActivationUnit(data_format=FixedFormat(12, 8), segments=1, inputs=2)
    assert set(dut.signature.members.keys()) == {"en", "func", "x", "select", "y"}
    assert len(dut.func) == 2 and len(dut.select) == 2 and len(dut.x) == 2
    verilog.convert(dut)


def test_constructor_validation():
    with pytest.raises(TypeError, match=r"data_format must be a FixedFormat"):
        ActivationUnit(data_format=16)
    with pytest.raises(TypeError, match=r"data_format"):
        ActivationUnit(data_format=(16, 12))
    with pytest.raises(TypeError, match=r"segments must be an int"):
        ActivationUnit(data_format=FixedFormat(16, 12), segments=256.0)
    with pytest.raises(TypeError, match=r"segments"):
        ActivationUnit(data_format=FixedFormat(16, 12), segments=True)
    with pytest.raises(ValueError, match=r"segments must be a power of two"):
        ActivationUnit(data_format=FixedFormat(16, 12), segments=100)
    with pytest.raises(ValueError, match=r"segments must be a power of two"):
        ActivationUnit(data_format=FixedFormat(16, 12), segments=0)
    with pytest.raises(ValueError, match=r"segments must be a power of two .* 64"):
        ActivationUnit(data_format=FixedFormat(8, 5), segments=128)
    with pytest.raises(ValueError, match=r"data format must have at least 1 integer bit"):
        ActivationUnit(data_format=FixedFormat(16, 15))
    with pytest.raises(TypeError, match=r"inputs must be an int"):
        ActivationUnit(data_format=FixedFormat(16, 12), inputs=2.0)
    with pytest.raises(ValueError, match=r"inputs must be at least 1"):
        ActivationUnit(data_format=FixedFormat(16, 12), inputs=0)
    with warnings.catch_warnings():
        # Python rejects the call after Amaranth created the object, before __init__ runs.
        warnings.simplefilter("ignore", UnusedElaboratable)
        with pytest.raises(TypeError):
            ActivationUnit(FixedFormat(16, 12))     # keyword-only
        gc.collect()                                # Amaranth's use-tracking is a ref cycle


@pytest.mark.parametrize("fmt, segments", [
    (FixedFormat(16, 12), 256), (FixedFormat(10, 7), 32), (FixedFormat(4, 1), 1),
])
def test_verilog_conversion(fmt, segments):
    dut = ActivationUnit(data_format=fmt, segments=segments)
    text = verilog.convert(dut, name="activation_unit")
    assert "module activation_unit" in text
    for port in ("en", "func", "x", "y", "clk", "rst"):
        assert port in text
