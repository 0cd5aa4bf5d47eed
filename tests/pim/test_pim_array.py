"""A PIM array in simulation: one wide write loads a different weight into every MAC lane,
the broadcast operand meets each MAC lane's own weights, and results and saturation flags
come out per MAC lane (with ``weights_per_word`` P, P MAC lanes share each lane's words).

Expected values are computed here with numpy from the weight image and the operands:
lane ``l`` of a row over addresses ``a_j`` and operands ``v_j`` gives
``narrow(sum_j W[a_j, l] * v_j, weight_frac_bits, data_format)``.
"""

import re

import numpy as np
import pytest
from amaranth.back import rtlil
from amaranth.sim import Simulator

from lstm_ref.fixedpoint import narrow
from pim.array import PIMArray
from pim.lane import PIMLane
from rpu.config import RPUConfig
from tests.pim.params import array_parameters


CONFIGS = {
    "8lanes-q3.12": RPUConfig(input_size=3, hidden_size=5, pim_arrays=1, lanes_per_array=8,
                              activation_units=1, elementwise_units=1),
    "2lanes-d8w8": RPUConfig(input_size=4, hidden_size=6, pim_arrays=2, lanes_per_array=2,
                             activation_units=1, elementwise_units=1, data_width=8,
                             data_frac_bits=4, weight_width=8, weight_frac_bits=6,
                             activation_segments=16),
    "12lanes-d10w14": RPUConfig(input_size=5, hidden_size=4, pim_arrays=1,
                                lanes_per_array=12, activation_units=3, elementwise_units=1,
                                data_width=10, data_frac_bits=7, weight_width=14,
                                weight_frac_bits=9, activation_segments=32),
    # Packed words: 2 lanes of 2 x 8-bit weights; 3 lanes of 4 x 4-bit weights.
    "2x2-w8": RPUConfig(input_size=4, hidden_size=5, pim_arrays=1, lanes_per_array=2,
                        weights_per_word=2, activation_units=1, elementwise_units=1,
                        weight_width=8),
    "3x4-d8w4": RPUConfig(input_size=3, hidden_size=6, pim_arrays=1, lanes_per_array=3,
                          weights_per_word=4, activation_units=3, elementwise_units=1,
                          data_width=8, data_frac_bits=4, weight_width=4,
                          weight_frac_bits=2, activation_segments=16),
}


def reference(image, addrs, operands, config):
    """Per-lane (codes, saturated) of one row; ``image`` is (depth, lanes)."""
    total = (image[addrs, :] * np.asarray(operands, dtype=np.int64)[:, None]).sum(axis=0)
    return narrow(total, config.weight_frac_bits, config.data_format)


def make_image(rng, config):
    """A random weight image (depth, lanes), and rows that saturate some lanes up, some down
    and leave others alone.

    Addresses 0 .. n-1 of the image are overwritten so that every lane ``l`` with
    ``l % 3 == 0`` holds the largest weight, ``l % 3 == 1`` the smallest, and the others
    small random weights; a row over them with maximal operands then saturates lanes
    ``l % 3 == 0`` high and ``l % 3 == 1`` low (and the reverse with minimal operands).
    """
    wf, df = config.weight_format, config.data_format
    n_lanes, depth = config.macs_per_array, config.weight_depth
    image = rng.integers(wf.min_code, wf.max_code + 1, size=(depth, n_lanes))
    n = min(config.max_columns, depth)
    for lane in range(n_lanes):
        kind = lane % 3
        if kind == 0:
            image[:n, lane] = wf.max_code
        elif kind == 1:
            image[:n, lane] = wf.min_code
        else:
            # Small enough not to saturate in any format of CONFIGS.
            image[:n, lane] = 0
            image[0, lane] = rng.integers(-2, 3)
    rows = [(list(range(n)), [df.max_code] * n), (list(range(n)), [df.min_code] * n)]
    for _ in range(12):
        length = int(rng.integers(1, config.max_columns + 1))
        addrs = rng.integers(0, depth, size=length).tolist()
        operands = rng.integers(df.min_code, df.max_code + 1, size=length).tolist()
        rows.append((addrs, operands))
    return image, rows


def simulate(config, image, rows, *, seed, stall_prob=0.0, registered_products=True):
    """Load ``image`` one address per cycle through the wide write port, then issue the rows
    back to back; return per row the (results, saturated bits) seen with result_valid."""
    rng = np.random.default_rng(seed)
    dut = PIMArray(**array_parameters(config), registered_products=registered_products)
    df = config.data_format
    issues = []
    last_of_row = []
    for addrs, operands in rows:
        for j, (a, v) in enumerate(zip(addrs, operands)):
            issues.append((a, j == 0, j == len(addrs) - 1, v))
        last_of_row.append(len(issues) - 1)
    issues += [None] * PIMArray.LATENCY
    finishes = {n + PIMArray.LATENCY: index for index, n in enumerate(last_of_row)}
    got = {}

    async def testbench(ctx):
        ctx.set(dut.wr_en, 1)
        for addr in rng.permutation(config.weight_depth).tolist():
            ctx.set(dut.wr_addr, addr)
            ctx.set(dut.wr_data, image[addr].tolist())
            await ctx.tick()
        ctx.set(dut.wr_en, 0)
        history = [None] * PIMArray.OPERAND_DELAY   # the issues of the last enabled cycles
        n = 0
        while n < len(issues):
            if stall_prob and rng.random() < stall_prob:
                ctx.set(dut.en, 0)
                ctx.set(dut.valid, int(rng.integers(0, 2)))
                ctx.set(dut.last, int(rng.integers(0, 2)))
                ctx.set(dut.operand, int(rng.integers(df.min_code, df.max_code + 1)))
                await ctx.tick()
                continue
            ctx.set(dut.en, 1)
            issue = issues[n]
            if issue is None:
                ctx.set(dut.valid, 0)
            else:
                a, first, last, _ = issue
                ctx.set(dut.addr, a)
                ctx.set(dut.valid, 1)
                ctx.set(dut.first, int(first))
                ctx.set(dut.last, int(last))
            previous = history[-PIMArray.OPERAND_DELAY]
            ctx.set(dut.operand, previous[3] if previous is not None else 0)
            _, _, results, valid, saturated = await ctx.tick().sample(
                dut.results, dut.result_valid, dut.saturated)
            assert valid == (n in finishes), f"result_valid {valid} in enabled cycle {n}"
            if valid:
                got[finishes[n]] = ([int(r) for r in results], int(saturated))
            history.append(issue)
            n += 1

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return [got[index] for index in range(len(rows))]


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("stall_prob", [0.0, 0.3])
@pytest.mark.parametrize("registered_products", [True, False])
def test_per_lane_results_and_saturation(name, stall_prob, registered_products):
    """Every lane's results and saturation flags at the array's LATENCY, which is the same
    whether the lanes register their products or the array registers the issue instead."""
    config = CONFIGS[name]
    rng = np.random.default_rng(11)
    image, rows = make_image(rng, config)
    got = simulate(config, image, rows, seed=12, stall_prob=stall_prob,
                   registered_products=registered_products)
    n_lanes = config.macs_per_array
    for index, ((addrs, operands), (results, saturated)) in enumerate(zip(rows, got)):
        codes, sat = reference(image, addrs, operands, config)
        assert results == codes.tolist(), f"row {index}: results {results}, expected {codes}"
        want_bits = sum(1 << lane for lane in range(n_lanes) if sat[lane])
        assert saturated == want_bits, (
            f"row {index}: saturated {saturated:0{n_lanes}b}, expected {want_bits:0{n_lanes}b} "
            f"(bit i = lane i)")
    # The first two rows really saturate lanes in both directions, per lane.
    df = config.data_format
    for index, (high_kind, low_kind) in enumerate([(0, 1), (1, 0)]):
        codes, sat = reference(image, *rows[index], config)
        for lane in range(n_lanes):
            if lane % 3 == high_kind:
                assert codes[lane] == df.max_code and sat[lane]
            elif lane % 3 == low_kind:
                assert codes[lane] == df.min_code and sat[lane]
            else:
                assert not sat[lane]


def test_lanes_hold_distinct_weights():
    """A one-column row with operand 1.0 reads back, in every lane, that lane's own weight
    at each address (rounded to the data format)."""
    config = CONFIGS["8lanes-q3.12"]
    rng = np.random.default_rng(13)
    wf = config.weight_format
    image = rng.integers(wf.min_code, wf.max_code + 1,
                         size=(config.weight_depth, config.lanes_per_array))
    one = 1 << config.data_frac_bits
    rows = [([a], [one]) for a in range(config.weight_depth)]
    got = simulate(config, image, rows, seed=14)
    for a, (results, _) in enumerate(got):
        codes, _ = narrow(image[a] * one, config.weight_frac_bits, config.data_format)
        assert results == codes.tolist()
        # With equal data and weight formats the weight comes back unchanged.
        assert results == image[a].tolist()


def test_array_latency_is_the_lanes():
    assert PIMArray.LATENCY == PIMLane.LATENCY == 6
    assert PIMArray.OPERAND_DELAY == PIMLane.OPERAND_DELAY == 2


def test_packed_lanes_read_one_word_per_column():
    """With weights_per_word P, an array has lanes_per_array weight memories of P-weight
    words and lanes_per_array * P MACs."""
    config = CONFIGS["3x4-d8w4"]
    array = PIMArray(**array_parameters(config))
    assert len(array.results) == len(array.wr_data) == len(array.saturated) == 12
    text = rtlil.convert(array)
    memories = re.findall(r"memory width (\d+) size (\d+)", text)
    assert memories == [("16", str(config.weight_depth))] * 3


@pytest.mark.parametrize("lanes, message", [
    (0, "lanes must be at least 1, not 0"),
    (False, "lanes must be an integer, not False"),
])
def test_bad_lane_count_is_named(lanes, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        PIMArray(lanes=lanes, data_width=16, weight_width=16, weight_frac_bits=12,
                 acc_width=40, depth=8)
