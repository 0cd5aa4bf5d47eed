"""PIM lanes with per-row scales: each row's sum is narrowed by ``weight_frac_bits`` plus the
row's scale word, read from the lane's scale memory.

Expected values come from :func:`lstm_ref.fixedpoint.narrow` with the row's shift
(``weight_frac_bits + scale``), computed with numpy from the weights, operands and scales the
test chose. Timing, from the lane's documentation: the scale address of a row arrives one
enabled cycle after the row's last column is issued, its operand OPERAND_DELAY (2) enabled
cycles after.
"""

import re

import numpy as np
import pytest
from amaranth.back import rtlil
from amaranth.sim import Simulator

from lstm_ref.fixed_lstm import MAX_ROW_SHIFT
from lstm_ref.fixedpoint import FixedFormat, narrow
from pim.lane import PIMLane, SCALE_BITS
from pim.array import PIMArray


def reference(row, shift, weight_frac_bits, data_format):
    total = sum(int(w) * int(v) for w, v in row)
    code, sat = narrow(np.array([total], np.int64), weight_frac_bits + shift, data_format)
    return int(code[0]), bool(sat[0])


def run_lane(*, data_width, weight_width, weight_frac_bits, rows, scales, seed,
             registered_products=True):
    """Load ``rows`` (lists of (weight, operand)) and the ``scales`` words, issue every row
    back to back (row r with scale address r), return the (result, saturated) of each row."""
    rng = np.random.default_rng(seed)
    depth = sum(len(row) for row in rows)
    columns = max(len(row) for row in rows)
    acc_width = data_width + weight_width + (columns - 1).bit_length()
    dut = PIMLane(data_width=data_width, weight_width=weight_width,
                  weight_frac_bits=weight_frac_bits, acc_width=acc_width, depth=depth,
                  scale_depth=len(scales), registered_products=registered_products)
    mask = (1 << weight_width) - 1
    results = []

    async def testbench(ctx):
        ctx.set(dut.wr_en, 1)
        address = 0
        starts = []
        for row in rows:
            starts.append(address)
            for w, _ in row:
                ctx.set(dut.wr_addr, address)
                ctx.set(dut.wr_data[0], w)
                await ctx.tick()
                address += 1
        # Scale words after the weights: a signed word whose low bits are the shift, with
        # random high bits (which the lane ignores).
        for index, shift in enumerate(scales):
            high = int(rng.integers(0, 1 << (weight_width - SCALE_BITS)))
            word = (high << SCALE_BITS | shift) & mask
            ctx.set(dut.wr_addr, depth + index)
            ctx.set(dut.wr_data[0], word - (1 << weight_width) if word >> (weight_width - 1)
                    else word)
            await ctx.tick()
        ctx.set(dut.wr_en, 0)
        ctx.set(dut.en, 1)
        issues = [(starts[r] + j, j == 0, j == len(row) - 1, v, r)
                  for r, row in enumerate(rows) for j, (_, v) in enumerate(row)]
        history = [None] * dut.OPERAND_DELAY      # the issues of the last enabled cycles
        for n in range(len(issues) + dut.latency + 1):
            issue = issues[n] if n < len(issues) else None
            if issue is None:
                ctx.set(dut.valid, 0)
            else:
                address, first, last, _, _ = issue
                ctx.set(dut.addr, address)
                ctx.set(dut.valid, 1)
                ctx.set(dut.first, int(first))
                ctx.set(dut.last, int(last))
            operand_of, previous = history[-dut.OPERAND_DELAY], history[-1]
            if operand_of is not None:
                ctx.set(dut.operand, operand_of[3])
            if previous is not None:
                if previous[2]:
                    ctx.set(dut.scale_addr, previous[4])
            else:
                # Between rows the scale address may be anything.
                ctx.set(dut.scale_addr, int(rng.integers(0, len(scales))))
            _, _, result, valid, saturated = await ctx.tick().sample(
                dut.results[0], dut.result_valid, dut.saturated)
            if valid:
                results.append((result, bool(saturated)))
            history.append(issue)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return results


@pytest.mark.parametrize("registered_products", [True, False])
@pytest.mark.parametrize("data_width, weight_width, weight_frac_bits", [
    (16, 16, 12), (8, 4, 0), (12, 8, 4), (8, 5, 4), (20, 20, 19)])
def test_rows_narrow_by_their_scales(data_width, weight_width, weight_frac_bits,
                                     registered_products):
    """Each row narrowed by its own scale, also without registered products (whose
    narrowing stage, and so the scale read for it, is a cycle earlier)."""
    rng = np.random.default_rng(data_width * 100 + weight_width)
    wf, df = FixedFormat(weight_width, weight_frac_bits), FixedFormat(data_width, 0)
    scales = list(range(MAX_ROW_SHIFT + 1))
    rng.shuffle(scales)
    rows, expected = [], []
    for index in range(2 * len(scales)):
        shift = scales[index % len(scales)]
        length = int(rng.integers(1, 5))
        w = rng.integers(wf.min_code, wf.max_code + 1, length)
        # Small operands (sums near the rounding points) in every other row, full range
        # (saturation) in the others.
        v = rng.integers(-4, 5, length) if index % 2 else \
            rng.integers(df.min_code, df.max_code + 1, length)
        row = list(zip(w.tolist(), v.tolist()))
        rows.append(row)
        expected.append(reference(row, shift, weight_frac_bits, df))
    # Row r uses scale address r; repeat the scale table so that every row has its own.
    table = [scales[r % len(scales)] for r in range(len(rows))]
    # Two rows that saturate (scale 0, largest products).
    for sign in (1, -1):
        row = [(wf.max_code, sign * df.max_code)] * 4
        rows.append(row)
        table.append(0)
        expected.append(reference(row, 0, weight_frac_bits, df))
    got = run_lane(data_width=data_width, weight_width=weight_width,
                   weight_frac_bits=weight_frac_bits, rows=rows, scales=table, seed=1,
                   registered_products=registered_products)
    assert got == expected
    # Not vacuous: rounding by different shifts gives different codes, and some saturate.
    assert len({code for code, _ in got}) > 4
    assert any(saturated for _, saturated in got)


def test_rounding_half_up_at_every_shift():
    """A sum of exactly half an LSB of the result rounds up; one less rounds down."""
    rows, expected, table = [], [], []
    for shift in range(MAX_ROW_SHIFT + 1):
        for total in ((1 << (2 + shift)) + (1 << (1 + shift)),
                      (1 << (2 + shift)) + (1 << (1 + shift)) - 1,
                      -(1 << (1 + shift))):
            # total = w * v with w = 1 (weight 1 code) and v = total: a single column.
            rows.append([(1, total)])
            table.append(shift)
            expected.append(reference([(1, total)], shift, 2, FixedFormat(20, 0)))
    got = run_lane(data_width=20, weight_width=6, weight_frac_bits=2, rows=rows,
                   scales=table, seed=2)
    assert got == expected
    assert expected[:3] == [(2, False), (1, False), (0, False)]


def test_scale_words_do_not_touch_the_weights():
    """Scale writes go to addresses from ``depth`` on; the weights written before stay."""
    rows = [[(3, 5), (7, -2)], [(1, 100)]]
    got = run_lane(data_width=16, weight_width=8, weight_frac_bits=0, rows=rows,
                   scales=[0, 2, 1], seed=3)
    assert got == [(1, False), (25, False)]


def test_array_ports_with_and_without_scales():
    array = PIMArray(lanes=2, data_width=8, weight_width=8, weight_frac_bits=4, acc_width=20,
                     depth=6, scale_depth=3)
    assert len(array.scale_addr) == 2
    assert len(array.wr_addr) == 4          # 6 + 3 addresses
    plain = PIMArray(lanes=2, data_width=8, weight_width=8, weight_frac_bits=4, acc_width=20,
                     depth=6)
    assert "scale_addr" not in plain.signature.members
    assert len(plain.wr_addr) == 3
    # Each lane of the array has its scale memory, the plain array none.
    assert rtlil.convert(array).count("scales") > 0
    assert "scales" not in rtlil.convert(plain)


@pytest.mark.parametrize("params, message", [
    (dict(weight_width=3, scale_depth=2),
     "scale_depth needs weight_width >= 4 (a scale word is loaded as a weight word), not 3"),
    (dict(scale_depth=-1), "scale_depth must be at least 0, not -1"),
    (dict(scale_depth=1.5), "scale_depth must be an integer, not 1.5"),
])
def test_bad_scale_parameters_are_named(params, message):
    values = dict(data_width=8, weight_width=8, weight_frac_bits=2, acc_width=20, depth=4)
    values.update(params)
    if values["weight_frac_bits"] >= values["weight_width"]:
        values["weight_frac_bits"] = 0
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        PIMLane(**values)
