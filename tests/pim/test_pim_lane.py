"""One PIM lane in simulation: weight loading, dot products, narrowing, saturation, stalls.

Every expected value is computed here with numpy from the weights and operands the test
chose: ``narrow(sum(w * v), weight_frac_bits, data_format)`` of :mod:`lstm_ref.fixedpoint`.

Timing (from the lane's documentation): a column issued in enabled cycle ``n`` takes its
operand in enabled cycle ``n + OPERAND_DELAY`` (2); the row whose last column is issued in
enabled cycle ``n`` shows its result, with ``result_valid`` high, in enabled cycle
``n + latency``. Cycles with ``en``
low are inserted between enabled cycles with random values on every input; they must change
nothing.
"""

import re

import numpy as np
import pytest
from amaranth.hdl import Fragment
from amaranth.sim import Simulator

from lstm_ref.fixedpoint import narrow
from pim.arith import rounding_bias
from pim.lane import PIMLane
from rpu.config import RPUConfig
from tests.pim.params import lane_parameters


CONFIGS = {
    # Default Q3.12 data and weights.
    "q3.12": RPUConfig(input_size=6, hidden_size=9, pim_arrays=1, lanes_per_array=4,
                       activation_units=1, elementwise_units=1),
    # Narrow data, weights with more fractional than data bits; max_columns = 8 = 2**3.
    "d8w12": RPUConfig(input_size=4, hidden_size=3, pim_arrays=1, lanes_per_array=4,
                       activation_units=1, elementwise_units=1, data_width=8,
                       data_frac_bits=5, weight_width=12, weight_frac_bits=10,
                       activation_segments=16),
    # Integer weights: narrowing drops no bits (shift 0); max_columns = 17 = 2**4 + 1.
    "d12w6i": RPUConfig(input_size=9, hidden_size=7, pim_arrays=1, lanes_per_array=4,
                        activation_units=1, elementwise_units=1, data_width=12,
                        data_frac_bits=6, weight_width=6, weight_frac_bits=0,
                        activation_segments=16),
    # Widest formats.
    "d20w20": RPUConfig(input_size=5, hidden_size=10, pim_arrays=1, lanes_per_array=4,
                        activation_units=1, elementwise_units=1, data_width=20,
                        data_frac_bits=10, weight_width=20, weight_frac_bits=19),
}


def reference(row, config):
    """(result code, saturated) of one row of (weight, operand) codes, with Python ints."""
    total = sum(int(w) * int(v) for w, v in row)
    code, sat = narrow(np.array([total], dtype=np.int64), config.weight_frac_bits,
                       config.data_format)
    return int(code[0]), bool(sat[0])


def random_row(rng, config, length):
    wf, df = config.weight_format, config.data_format
    w = rng.integers(wf.min_code, wf.max_code + 1, size=length)
    v = rng.integers(df.min_code, df.max_code + 1, size=length)
    return list(zip(w.tolist(), v.tolist()))


def columns_for_sum(target, config):
    """Columns (w, v) whose products sum exactly to ``target``, built from the largest
    products first."""
    wmax, vmax = config.weight_format.max_code, config.data_format.max_code
    sign = 1 if target >= 0 else -1
    rest = abs(target)
    row = []
    while rest >= wmax * vmax:
        row.append((wmax, sign * vmax))
        rest -= wmax * vmax
    a, b = divmod(rest, wmax)          # rest = a * wmax + b, a < vmax, b < wmax
    row.append((wmax, sign * a))
    row.append((b, sign))
    assert sum(w * v for w, v in row) == target
    return row


def simulate(config, rows, *, seed, stall_prob=0.0, gap_prob=0.0, split_products=True,
             registered_products=True):
    """Run ``rows`` (lists of (weight, operand) codes) through one lane.

    Rows are packed into batches whose weights fit the memory; each batch is loaded through
    the write port while the lane is idle, then its rows are issued back to back (or with
    random idle enabled cycles between them when ``gap_prob``), each column at its own
    address. Returns per row the (result, saturated) seen on the outputs, after checking the
    whole output trace against the timing described in the module docstring.
    """
    rng = np.random.default_rng(seed)
    dut = PIMLane(**lane_parameters(config), split_products=split_products,
                  registered_products=registered_products)
    depth = config.weight_depth
    wf, df = config.weight_format, config.data_format

    batches, batch, used = [], [], 0
    for row in rows:
        assert 1 <= len(row) <= depth
        if used + len(row) > depth:
            batches.append(batch)
            batch, used = [], 0
        batch.append(row)
        used += len(row)
    batches.append(batch)

    results = []

    async def testbench(ctx):
        def garbage():
            ctx.set(dut.addr, int(rng.integers(0, depth)))
            ctx.set(dut.valid, int(rng.integers(0, 2)))
            ctx.set(dut.first, int(rng.integers(0, 2)))
            ctx.set(dut.last, int(rng.integers(0, 2)))
            ctx.set(dut.operand, int(rng.integers(df.min_code, df.max_code + 1)))

        held = {"result": 0, "saturated": 0}   # outputs before the first result
        for batch in batches:
            # Load the batch's weights at random distinct addresses, with the lane idle.
            addresses = rng.permutation(depth)
            ctx.set(dut.en, 0)
            ctx.set(dut.valid, 0)
            ctx.set(dut.wr_en, 1)
            layout = []
            cursor = 0
            for row in batch:
                addrs = addresses[cursor:cursor + len(row)].tolist()
                cursor += len(row)
                layout.append(addrs)
                for a, (w, _) in zip(addrs, row):
                    ctx.set(dut.wr_addr, a)
                    ctx.set(dut.wr_data[0], w)
                    await ctx.tick()
            ctx.set(dut.wr_en, 0)
            # A stray weight write while running would be caught by the results.
            ctx.set(dut.wr_addr, 0)
            ctx.set(dut.wr_data[0], 0)

            # Enabled-cycle program: per enabled cycle, the issued column (or None) and the
            # operand of the column issued OPERAND_DELAY enabled cycles earlier.
            issues = []
            finishes = []          # (enabled index of the result, expected)
            for row, addrs in zip(batch, layout):
                while gap_prob and rng.random() < gap_prob:
                    issues.append(None)
                for j, (a, (w, v)) in enumerate(zip(addrs, row)):
                    issues.append((a, j == 0, j == len(row) - 1, v))
                finishes.append((len(issues) - 1 + dut.latency, reference(row, config)))
            issues += [None] * dut.latency   # drain
            expected_valid = {n: want for n, want in finishes}

            history = [None] * dut.OPERAND_DELAY   # the issues of the last enabled cycles
            pending_stall = []     # outputs sampled in stalled cycles, checked later
            n = 0
            while n < len(issues):
                if stall_prob and rng.random() < stall_prob:
                    ctx.set(dut.en, 0)
                    garbage()
                    _, _, result, valid, sat = await ctx.tick().sample(
                        dut.results[0], dut.result_valid, dut.saturated)
                    pending_stall.append((result, valid, sat))
                    continue
                ctx.set(dut.en, 1)
                issue = issues[n]
                if issue is None:
                    # Idle: flags and address random but valid low.
                    garbage()
                    ctx.set(dut.valid, 0)
                else:
                    a, first, last, _ = issue
                    ctx.set(dut.addr, a)
                    ctx.set(dut.valid, 1)
                    ctx.set(dut.first, int(first))
                    ctx.set(dut.last, int(last))
                previous = history[-dut.OPERAND_DELAY]
                ctx.set(dut.operand, previous[3] if previous is not None else
                        int(rng.integers(df.min_code, df.max_code + 1)))
                _, _, result, valid, sat = await ctx.tick().sample(
                    dut.results[0], dut.result_valid, dut.saturated)
                # Stalled cycles show exactly what the next enabled cycle shows.
                for stalled in pending_stall:
                    assert stalled == (result, valid, sat), (n, stalled, (result, valid, sat))
                pending_stall = []
                if n in expected_valid:
                    code, saturated = expected_valid[n]
                    assert valid == 1, f"no result_valid in enabled cycle {n}"
                    assert (result, bool(sat)) == (code, saturated), (
                        f"enabled cycle {n}: got (result, saturated) = {(result, bool(sat))}, "
                        f"expected {(code, saturated)}")
                    results.append((result, bool(sat)))
                    held = {"result": code, "saturated": int(saturated)}
                else:
                    assert valid == 0, f"unexpected result_valid in enabled cycle {n}"
                    assert result == held["result"], (n, result, held)
                    assert sat == held["saturated"], (n, sat, held)
                history.append(issue)
                n += 1

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return results


def check(config, rows, **kwargs):
    got = simulate(config, rows, **kwargs)
    want = [reference(row, config) for row in rows]
    assert len(got) == len(want)
    for index, (g, w) in enumerate(zip(got, want)):
        assert g == w, f"row {index} ({len(rows[index])} columns): got {g}, expected {w}"


@pytest.fixture(params=list(CONFIGS), ids=list(CONFIGS))
def config(request):
    return CONFIGS[request.param]


def test_random_rows_back_to_back(config):
    rng = np.random.default_rng(1)
    rows = [random_row(rng, config, int(rng.integers(1, config.max_columns + 1)))
            for _ in range(40)]
    check(config, rows, seed=2)


def test_random_rows_with_gaps(config):
    rng = np.random.default_rng(3)
    rows = [random_row(rng, config, int(rng.integers(1, config.max_columns + 1)))
            for _ in range(25)]
    check(config, rows, seed=4, gap_prob=0.3)


def test_whole_products_give_the_same_results(config):
    """split_products=False (one whole product, for an FPGA's DSP block): the same results
    at the same latency, with stalls and gaps."""
    rng = np.random.default_rng(31)
    rows = [random_row(rng, config, int(rng.integers(1, config.max_columns + 1)))
            for _ in range(12)] + boundary_rows(config)[1]
    check(config, rows, seed=32, stall_prob=0.2, gap_prob=0.2, split_products=False)


@pytest.mark.parametrize("split_products", [True, False])
def test_unregistered_products_give_the_same_results_a_cycle_earlier(config, split_products):
    """registered_products=False (a small multiplier accumulated in the cycle it multiplies):
    the same results, one enabled cycle earlier (the trace check times them at latency 4),
    with stalls and gaps."""
    rng = np.random.default_rng(33)
    rows = [random_row(rng, config, int(rng.integers(1, config.max_columns + 1)))
            for _ in range(12)] + boundary_rows(config)[1]
    check(config, rows, seed=34, stall_prob=0.2, gap_prob=0.2, split_products=split_products,
          registered_products=False)


def test_random_stalls_change_nothing(config):
    rng = np.random.default_rng(5)
    rows = [random_row(rng, config, int(rng.integers(1, config.max_columns + 1)))
            for _ in range(25)]
    stalled = simulate(config, rows, seed=6, stall_prob=0.4)
    plain = simulate(config, rows, seed=6)
    assert stalled == plain
    assert stalled == [reference(row, config) for row in rows]


def boundary_rows(config):
    """Rows whose exact sums sit on both sides of each saturation threshold, and rows that
    saturate hard both ways."""
    wf = config.weight_frac_bits
    df = config.data_format
    half = (1 << (wf - 1)) if wf else 0
    # Largest sum that rounds to max_code, and the next one; the smallest sum that rounds to
    # min_code, and the one below it.
    top = df.max_code * (1 << wf) + half - 1 if wf else df.max_code
    bottom = df.min_code * (1 << wf) - half if wf else df.min_code
    targets = [top, top + 1, bottom, bottom - 1, top + 12345, bottom - 12345]
    rows = [columns_for_sum(t, config) for t in targets]
    wmin, wmax = config.weight_format.min_code, config.weight_format.max_code
    vmin, vmax = df.min_code, df.max_code
    n = config.max_columns
    rows += [[(wmax, vmax)] * 3, [(wmax, vmin)] * 3, [(wmin, vmax)] * 2, [(wmin, vmin)]]
    rows += [[(wmax, vmax)] * n, [(wmin, vmin)] * n]
    return targets, rows


def test_saturation_boundaries(config):
    targets, rows = boundary_rows(config)
    assert all(len(row) <= config.max_columns for row in rows)
    want = [reference(row, config) for row in rows]
    df = config.data_format
    # The construction must hit both sides of both thresholds.
    assert want[0] == (df.max_code, False) and want[1] == (df.max_code, True)
    assert want[2] == (df.min_code, False) and want[3] == (df.min_code, True)
    assert want[4] == (df.max_code, True) and want[5] == (df.min_code, True)
    check(config, rows, seed=7)


def test_extreme_rows_at_capacity_do_not_overflow(config):
    """``max_columns`` columns of the largest products of either sign: the accumulator must
    hold the exact sum, so the result saturates in the sum's direction, never the other."""
    wf, df = config.weight_format, config.data_format
    n = config.max_columns
    pairs = [(wf.min_code, df.min_code), (wf.max_code, df.max_code),   # largest positive
             (wf.min_code, df.max_code), (wf.max_code, df.min_code)]   # largest negative
    rows = [[pair] * n for pair in pairs]
    # All maximum codes except one column that pulls the sum back to a small exact value:
    # the accumulator must be exact through its largest intermediate values.
    big = (n - 1) * wf.min_code * df.min_code
    rows.append([(wf.min_code, df.min_code)] * (n - 1) + [(wf.max_code, 0)])
    rows.append([(wf.min_code, df.min_code)] * ((n - 1) // 2)
                + [(wf.min_code, df.max_code)] * ((n - 1) // 2) + [(wf.max_code, 5)])
    want = [reference(row, config) for row in rows]
    assert want[0] == (df.max_code, True) and want[1] == (df.max_code, True)
    assert want[2] == (df.min_code, True) and want[3] == (df.min_code, True)
    assert big >= (1 << (config.acc_width - 3))  # really near the accumulator's range
    check(config, rows, seed=8)
    check(config, rows, seed=9, stall_prob=0.3)


def test_accumulator_width_covers_capacity(config):
    """The documented width: the largest |sum| of max_columns products, plus the rounding
    bias every sum starts from, fits acc_width."""
    wf, df = config.weight_format, config.data_format
    largest = config.max_columns * wf.min_code * df.min_code
    assert largest + rounding_bias(config.weight_frac_bits) <= (1 << (config.acc_width - 1)) - 1


def test_latency_is_six_enabled_cycles():
    # Issue, the memory's output register, operands registered, product, accumulate, narrow
    # (issue 9: the operand register keeps the memories' access time out of the multiplier's
    # path, the narrowing has a stage of its own; issue 11: the weight word leaves a block
    # RAM's output register and is registered again, in a DSP block's input register, beside
    # the operand, which arrives a cycle later): result_valid one cycle after the narrowing
    # (the simulations above check the result arrives exactly then).
    assert PIMLane.LATENCY == 6
    assert PIMLane.OPERAND_DELAY == 2
    lane = PIMLane(**lane_parameters(CONFIGS[next(iter(CONFIGS))]), registered_products=False)
    Fragment.get(lane, None)     # (built, so that Amaranth does not warn it is unused)
    assert lane.latency == 5


@pytest.mark.parametrize("name, value, message", [
    ("data_width", 1, "data_width must be at least 2, not 1"),
    ("data_width", True, "data_width must be an integer, not True"),
    ("weight_width", 0, "weight_width must be at least 1, not 0"),
    ("weight_frac_bits", 16, "weight_frac_bits must be from 0 to 15, not 16"),
    ("acc_width", 31, "acc_width must be at least 32, not 31"),
    ("depth", 0, "depth must be at least 1, not 0"),
    ("depth", 2.0, "depth must be an integer, not 2.0"),
])
def test_bad_parameter_is_named(name, value, message):
    params = dict(data_width=16, weight_width=16, weight_frac_bits=12, acc_width=40, depth=8)
    params[name] = value
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        PIMLane(**params)
