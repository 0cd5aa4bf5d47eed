"""Energy actions from the RTL's activity counters equal the counts the schedule implies."""

import math

import numpy as np
import pytest

from rpu.config import RPUConfig
from rpu.energy.model import ACTIONS, ACTION_ENERGY_PJ, sram_access_energy_pj
from rpu.energy.activity import (action_counts, action_energies, energy_from_activity,
                                engine_buffer_words, ACTIVITY_NAMES)
from rpu.compiler import compile_lstm
from rpu.sim.session import simulate_program
from tests.helpers import random_lstm


STEPS = 3


def _lstm(config, I, H, seed):
    rng = np.random.default_rng(seed)
    program = compile_lstm(config, **random_lstm(rng, I, H))
    x = config.data_format.quantize(rng.standard_normal((STEPS, I)))
    return program, x


def _implied(config, I, H, steps):
    """Action counts derived here from the schedule's shape alone (not from counters)."""
    L, U = config.mac_lanes, config.units_per_group
    A, E, W = config.activation_units, config.elementwise_units, config.data_width
    G = math.ceil(H / U)
    columns = 1 + I + H
    macs = steps * G * columns * L
    activations = steps * G * 5 * U           # 4U gates + U tanh(c) per row group
    cell_updates = hidden_updates = steps * G * U
    bits = (macs * (config.data_width + config.weight_width + config.acc_width)
            + steps * G * columns * W + activations * 3 * W
            + (cell_updates + hidden_updates) * 5 * W
            + steps * G * engine_buffer_words(config) * W)
    return {
        "mac": macs,
        "weight_read": macs,
        # x from memory for every group but the first (which takes the stream), h_{t-1}
        # for every group of every step but the first, U cell values per group.
        "state_read": steps * (G - 1) * I + (steps - 1) * G * H + steps * G * U,
        "state_write": steps * I + steps * H + steps * G * U,
        "activation": activations,
        "elementwise": cell_updates + hidden_updates,
        "interconnect_transfer": (steps * G * columns + steps * G * 4 * U + 2 * activations
                                  + 5 * cell_updates + 3 * hidden_updates),
        "register_update": math.ceil(bits / 16),
    }


CASES = [
    # I, H, resources: padding (H=5 on U=2), one element-wise unit, two activation units.
    (3, 5, dict(pim_arrays=2, lanes_per_array=4, activation_units=2, elementwise_units=1)),
    (4, 8, dict(pim_arrays=2, lanes_per_array=8, activation_units=4, elementwise_units=2)),
]


@pytest.mark.parametrize("I, H, resources", CASES)
def test_simulated_actions_equal_the_schedule(I, H, resources):
    config = RPUConfig(input_size=I, hidden_size=H, **resources)
    program, x = _lstm(config, I, H, seed=I * 100 + H)
    result = simulate_program(program, x)
    counts = action_counts(config, result.activity)
    assert counts == _implied(config, I, H, STEPS)
    assert counts == action_counts(config, program.schedule.activity(STEPS))
    # The useful work of docs/architecture.md, section 3 is contained in what the hardware does.
    assert counts["mac"] >= STEPS * 4 * H * (I + H)
    assert counts["activation"] >= STEPS * 5 * H          # 3H sigmoids + 2H tanhs
    assert counts["elementwise"] >= STEPS * 2 * H         # cell and hidden updates
    if H % config.units_per_group == 0:
        U = config.units_per_group
        assert counts["mac"] == STEPS * (4 * H * (I + H) + 4 * H)   # + the bias column
        assert counts["activation"] == STEPS * 5 * H
        assert counts["elementwise"] == STEPS * 2 * H
        assert counts["state_write"] == STEPS * (I + 2 * H)


def test_engine_buffer_words_by_hand():
    # Default resources, U=16, A=4, E=2: LOAD 64; GATES 16 x (60 + 64); CELL 8 x (42 + 16);
    # TANH_C 4 x (16 + 16); HIDDEN 8 x (28 + 16); EMIT 16 x (15 + 16).
    expected = 64 + 16 * 124 + 8 * 58 + 4 * 32 + 8 * 44 + 16 * 31
    assert engine_buffer_words(RPUConfig()) == expected == 3488


def test_energy_report_follows_the_table():
    I, H = 4, 8
    config = RPUConfig(input_size=I, hidden_size=H, pim_arrays=2, lanes_per_array=8)
    program, x = _lstm(config, I, H, seed=7)
    result = simulate_program(program, x)
    schedule = program.schedule
    report = energy_from_activity(config, result.activity, STEPS, schedule.ops_per_step(),
                                  2e-6)
    counts = action_counts(config, result.activity)
    # Table energies at this configuration's widths: 16-bit data and weights as the table,
    # but a 36-bit accumulator (16 + 16 + 4 bits for 13 columns) instead of the table's 40:
    # the MAC's add is 0.03 + 0.07 * (36 - 8) / 24 pJ (linear adder rule).
    assert (config.data_width, config.weight_width, config.acc_width) == (16, 16, 36)
    table = dict(ACTION_ENERGY_PJ)
    table["mac"] = math.sqrt(0.2 * 3.1) + 0.03 + 0.07 * 28 / 24
    assert table["mac"] == pytest.approx(ACTION_ENERGY_PJ["mac"] - 0.07 * 4 / 24)
    # The weight read priced for this lane memory (weight_depth words).
    energies = dict(table)
    energies["weight_read"] = sram_access_energy_pj(
        config.weight_depth * config.weight_width / 8, config.weight_width)
    assert report.energies_pj == pytest.approx(energies)
    assert report.action_counts == counts
    total = sum(counts[a] * energies[a] for a in ACTIONS)
    assert report.total_pj == pytest.approx(total)
    assert report.per_step_pj == pytest.approx(total / STEPS)
    ops = schedule.ops_per_step() * STEPS
    assert report.gops_per_watt == pytest.approx(ops / (total * 1e-12) / 1e9)
    assert report.power_w == pytest.approx(total / STEPS * 1e-12 / 2e-6)
    d = report.to_dict()
    assert d["kind"] == "modelled" and d["total_pj_modelled"] == pytest.approx(total)
    assert "modelled" in report.to_markdown()
    # Without memory scaling: exactly the table at this configuration's widths.
    plain = energy_from_activity(config, result.activity, STEPS, schedule.ops_per_step(),
                                 memory_scaled=False)
    assert plain.energies_pj == pytest.approx(table)
    assert action_energies(config, memory_scaled=False) == pytest.approx(table)
    assert plain.total_pj == pytest.approx(sum(counts[a] * table[a] for a in ACTIONS))
    # The default configuration builds the table's reference widths (40-bit accumulator):
    # its energies are exactly the table.
    assert RPUConfig().acc_width == 40
    assert action_energies(RPUConfig(), memory_scaled=False) == ACTION_ENERGY_PJ


def test_bad_activity_is_refused():
    config = RPUConfig(input_size=4, hidden_size=8)
    activity = dict.fromkeys(("columns", "x_writes", "x_reads", "h_reads",
                              "h_writes", "cell_reads", "cell_writes",
                              "activation_cycles", "elementwise_cycles"), 0)
    assert action_counts(config, activity) == dict.fromkeys(ACTIONS, 0)
    with pytest.raises(ValueError, match="lacks the counter"):
        action_counts(config, {k: v for k, v in activity.items() if k != "columns"})
    with pytest.raises(ValueError, match="non-negative integer"):
        action_counts(config, {**activity, "columns": -1})
    with pytest.raises(ValueError, match="whole number of row groups"):
        action_counts(config, {**activity, "cell_reads": 3})
    with pytest.raises(ValueError, match="unknown action"):
        energy_from_activity(config, activity, 1, 100, energies={"flux": 1.0})


def test_energies_follow_the_configured_widths():
    base = RPUConfig(input_size=64, hidden_size=128)
    narrow = RPUConfig(input_size=64, hidden_size=128, weight_width=8)
    small = RPUConfig(input_size=64, hidden_size=128, data_width=8, weight_width=8,
                      activation_segments=16)
    assert (base.acc_width, narrow.acc_width, small.acc_width) == (40, 32, 24)
    e16 = action_energies(base, memory_scaled=False)
    e8w = action_energies(narrow, memory_scaled=False)
    e8 = action_energies(small, memory_scaled=False)
    assert e16 == ACTION_ENERGY_PJ
    p = math.log(3.1 / 0.2) / math.log(4)
    # MAC: the 16 x 8 multiply is (128 / 256) ** (p / 2) of the 16 x 16 one, and the
    # accumulator 32 bits instead of 40 (linear adder rule).
    mult16 = math.sqrt(0.2 * 3.1)
    assert e8w["mac"] == pytest.approx(mult16 * 0.5 ** (p / 2) + 0.1)
    assert e8w["mac"] < e16["mac"]
    # Weight read, same depth, half the bits: half the bits read, sqrt(1/2) the capacity.
    assert e8w["weight_read"] == pytest.approx(e16["weight_read"] * 0.5 * math.sqrt(0.5))
    # Data-width actions are unchanged by the weight width.
    for action in ("state_read", "activation", "elementwise", "interconnect_transfer"):
        assert e8w[action] == e16[action]
    # 8-bit data: 8 x 8 multiplies (Horowitz's 0.2 pJ), a 24-bit accumulator; state reads
    # of 8 bits from a memory of 1024 8-bit words; 8 bits of wire.
    assert e8["mac"] == pytest.approx(0.2 + 0.03 + 0.07 * 16 / 24)
    assert e8["state_read"] == pytest.approx(e16["state_read"] * 0.5 * math.sqrt(0.5))
    assert e8["elementwise"] == pytest.approx(2 * 0.2 + 0.03 + 0.07 * 8 / 24)
    assert e8["interconnect_transfer"] == pytest.approx(e16["interconnect_transfer"] / 2)
    assert e8["register_update"] == e16["register_update"]   # the unit: 16 flip-flops
    # With the memory scaled to the lane memory the same rules hold (same depth).
    assert action_energies(narrow)["weight_read"] == pytest.approx(
        action_energies(base)["weight_read"] * 0.5 * math.sqrt(0.5))


def test_packed_words_read_once_for_p_macs():
    """With P weights per word, every issued column reads one word of P weights in each lane
    (not one per MAC), priced as a read of P * weight_width bits from the lane's memory."""
    values = dict(input_size=64, hidden_size=128, weight_width=4)
    packed = RPUConfig(**values, lanes_per_array=4, weights_per_word=4)
    plain = RPUConfig(**values, lanes_per_array=16)
    assert packed.mac_lanes == plain.mac_lanes == 64
    assert packed.weight_depth == plain.weight_depth == 8 * 193
    activity = dict.fromkeys(ACTIVITY_NAMES, 0)
    activity.update(columns=1000)
    counts = [action_counts(c, activity) for c in (packed, plain)]
    assert counts[0]["mac"] == counts[1]["mac"] == 64 * 1000
    assert counts[0]["weight_read"] == 16 * 1000
    assert counts[1]["weight_read"] == 64 * 1000
    # 10 pJ per 64 bits of an 8 KB array (Horowitz), bits read, sqrt of the capacity:
    # 16-bit words of a 1544-word memory (3088 bytes), 4-bit words of the same depth.
    read = [action_energies(c)["weight_read"] for c in (packed, plain)]
    assert read[0] == pytest.approx(10 * 16 / 64 * math.sqrt(1544 * 2 / 8192))
    assert read[1] == pytest.approx(10 * 4 / 64 * math.sqrt(1544 / 2 / 8192))
    # Same MAC energy (a 16 x 4 multiply each).
    assert action_energies(packed)["mac"] == action_energies(plain)["mac"]


def test_a_batch_shares_the_weight_reads():
    """The counters count one sequence's events (the sequences run in lockstep): every action
    is B times one sequence's, but the weight reads, which feed all B sequences."""
    values = dict(input_size=64, hidden_size=128)
    one, four = RPUConfig(**values), RPUConfig(**values, batch=4)
    from rpu.compiler import plan_schedule
    activity = plan_schedule(one, 64, 128).activity(5)
    counts = [action_counts(c, activity) for c in (one, four)]
    assert counts[1]["weight_read"] == counts[0]["weight_read"] == activity["columns"] * 64
    for action in ACTIONS:
        if action not in ("weight_read", "register_update"):
            assert counts[1][action] == 4 * counts[0][action], action
    assert 4 * counts[0]["register_update"] - 3 <= counts[1]["register_update"] \
        <= 4 * counts[0]["register_update"]
    # Modelled GOPS/W: B times the operations for less than B times the energy.
    e = [energy_from_activity(c, activity, 5, plan_schedule(c, 64, 128).ops_per_step())
         for c in (one, four)]
    assert e[1].gops_per_watt > 1.5 * e[0].gops_per_watt


def test_small_multipliers_have_no_product_register():
    """8 x 8 and narrower MACs accumulate their products in the cycle they multiply: no
    product register per MAC, but every array registers the issued column's operand and
    weight address once (pim.PIMArray); wider ones register the product per MAC."""
    values = dict(input_size=64, hidden_size=128, weight_width=8, row_scales=True,
                  activation_segments=64)
    small, wide = RPUConfig(**values, data_width=8), RPUConfig(**values, data_width=12)
    assert not small.registered_products and wide.registered_products
    activity = dict.fromkeys(ACTIVITY_NAMES, 0)
    activity.update(columns=1000)
    counts = [action_counts(c, activity)["register_update"] for c in (small, wide)]
    # Per column: 64 MAC accumulators and the top's operand register; the small one's four
    # arrays add an 8-bit operand and the address: 1544 weight words (11 bits) and 8 scale
    # words (3 bits).
    assert small.weight_depth == 1544 and small.scale_depth == 8
    assert counts[0] == math.ceil(1000 * (64 * small.acc_width + 8 + 4 * 8 + 4 * (11 + 3)) / 16)
    assert counts[1] == math.ceil(1000 * (64 * (12 + 8 + wide.acc_width) + 12) / 16)
