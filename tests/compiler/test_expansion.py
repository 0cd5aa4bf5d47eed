"""The hybrid network expansion model: operation counts, partitioning, schedule."""

import dataclasses

import numpy as np
import pytest

from lstm_ref.fixed_lstm import FixedLSTM
from rpu.config import RPUConfig, ConfigError
from rpu.compiler.expansion import (expand_step, ops_per_step, plan_schedule, compile_lstm,
                           Program)
from rpu.hw.program import Op, Reg, LayerReg, CONTEXT_BASE, layer_register
from rpu.sim.session import simulate_program


def random_weights(rng, I, H):
    bound = 1 / np.sqrt(H)
    return dict(weight_ih=rng.uniform(-bound, bound, (4 * H, I)),
                weight_hh=rng.uniform(-bound, bound, (4 * H, H)),
                bias_ih=rng.uniform(-bound, bound, 4 * H),
                bias_hh=rng.uniform(-bound, bound, 4 * H))


@pytest.mark.parametrize("I, H", [(1, 1), (64, 128), (256, 256), (1024, 1024), (7, 3)])
def test_fundamental_operations(I, H):
    ops = expand_step(I, H)
    assert ops == {"mac": 4 * H * (I + H), "bias_add": 4 * H, "sigmoid": 3 * H,
                   "tanh": 2 * H, "multiply": 3 * H, "add": H}
    # DESIGN.md section 3: 8H(I+H) + 4H + 5H + 4H.
    assert ops_per_step(I, H) == 8 * H * (I + H) + 4 * H + 5 * H + 4 * H


SMALL = dict(input_size=5, hidden_size=7, pim_arrays=2, lanes_per_array=4,
             activation_units=1, elementwise_units=2)


def test_weight_image_layout():
    """Every lane word holds the row and column the memory map promises."""
    config = RPUConfig(**SMALL)
    rng = np.random.default_rng(0)
    weights = random_weights(rng, 5, 7)
    program = compile_lstm(config, **weights)
    I, H, U = 5, 7, config.units_per_group
    fmt = config.weight_format
    columns = 1 + I + H
    bias = weights["bias_ih"] + weights["bias_hh"]
    groups = -(-H // U)
    assert program.weight_image.shape == (2, config.weight_depth, 4)
    assert not program.weight_image[:, groups * columns:].any()
    for array in range(2):
        for lane in range(4):
            gate, u = divmod(array * 4 + lane, U)
            for group in range(groups):
                unit = group * U + u
                for column in range(columns):
                    word = program.weight_image[array, group * columns + column, lane]
                    if unit >= H:
                        assert word == 0
                        continue
                    row = gate * H + unit
                    if column == 0:
                        value = bias[row]
                    elif column <= I:
                        value = weights["weight_ih"][row, column - 1]
                    else:
                        value = weights["weight_hh"][row, column - 1 - I]
                    # round half up, saturate: computed here independently of fixedpoint.py
                    expected = min(max(int(np.floor(value * 2 ** fmt.frac_bits + 0.5)),
                                       -2 ** (fmt.width - 1)), 2 ** (fmt.width - 1) - 1)
                    assert word == expected
    rows = [row for lane in program.memory_map()["lanes"] for _, row in lane["rows"]]
    assert sorted(rows) == list(range(4 * H))


def test_program_registers():
    config = RPUConfig(**SMALL)
    program = compile_lstm(config, **random_weights(np.random.default_rng(1), 5, 7))
    registers = dict(program.registers)
    s = program.schedule
    assert registers[Reg.FIRST_LAYER] == registers[Reg.LAST_LAYER] == 0
    assert registers[layer_register(0, LayerReg.INPUT_SIZE)] == 5
    assert registers[layer_register(0, LayerReg.HIDDEN_SIZE)] == 7
    assert registers[layer_register(0, LayerReg.COLUMNS)] == 13
    assert registers[layer_register(0, LayerReg.GROUPS)] == -(-7 // 2)
    assert registers[layer_register(0, LayerReg.WEIGHT_BASE)] == 0
    assert registers[Reg.CONTEXTS] == len(s.contexts)
    for index, (op, cycles) in enumerate(s.contexts):
        assert registers[CONTEXT_BASE + index] == int(op) | cycles << 4


def test_default_s_schedule():
    """S on the default resources: 8 groups of 193 columns back to back, no gap."""
    config = RPUConfig()
    s = plan_schedule(config, 64, 128)
    assert (s.columns, s.groups, s.step_gap) == (193, 8, 0)
    assert s.step_cycles == 8 * 193
    assert s.macs_per_step() / (64 * s.step_cycles) == pytest.approx(192 / 193)
    assert s.utilization(20) >= 0.95


def test_contexts_cover_every_unit():
    config = RPUConfig(pim_arrays=2, lanes_per_array=8, activation_units=2,
                       elementwise_units=4)
    s = plan_schedule(config, 10, 20)
    cycles = {op: sum(c for o, c in s.contexts if o == op) for op in Op}
    U = config.units_per_group
    assert cycles[Op.GATES] * 2 == 4 * U      # every gate through an activation unit
    assert cycles[Op.TANH_C] * 2 == U
    assert cycles[Op.CELL] * 4 == U
    assert cycles[Op.HIDDEN] * 4 == U
    assert cycles[Op.EMIT] == U
    assert s.group_period >= max(s.columns, s.engine_cycles + 1)


@pytest.mark.parametrize("I, H, name", [(65, 10, "input_size"), (10, 129, "hidden_size"),
                                         (0, 10, "input_size")])
def test_lstm_must_fit(I, H, name):
    with pytest.raises(ConfigError, match=name):
        plan_schedule(RPUConfig(), I, H)


def test_nan_weights_rejected():
    weights = random_weights(np.random.default_rng(2), 3, 4)
    weights["weight_hh"][1, 2] = np.nan
    with pytest.raises(ValueError, match="weight_hh"):
        compile_lstm(RPUConfig(input_size=3, hidden_size=4), **weights)


def _with_gap(program, gap):
    [layer] = program.schedule.layers
    schedule = dataclasses.replace(program.schedule,
                                   layers=(dataclasses.replace(layer, gap=gap),))
    gap_register = layer_register(0, LayerReg.GAP)
    registers = tuple((a, gap if a == gap_register else d) for a, d in program.registers)
    return Program(program.config, schedule, program.matrices, program.weight_image,
                   registers)


def test_step_gap_is_necessary_and_sufficient():
    """Where the model inserts a gap, one cycle less lets step t+1 read h_t before it is
    written: the simulated result is then wrong. With the gap it is exact."""
    config = RPUConfig(input_size=3, hidden_size=5, pim_arrays=1, lanes_per_array=8,
                       activation_units=1, elementwise_units=1)
    rng = np.random.default_rng(4)
    weights = random_weights(rng, 3, 5)
    program = compile_lstm(config, **weights)
    assert program.schedule.step_gap > 0
    x_codes = config.data_format.quantize(rng.standard_normal((6, 3)))
    fixed = FixedLSTM(data_format=config.data_format,
                      weight_format=config.weight_format).run(program.matrix, x_codes)
    exact = simulate_program(program, x_codes)
    np.testing.assert_array_equal(exact.h, fixed.h)
    short = simulate_program(_with_gap(program, program.schedule.step_gap - 1), x_codes)
    assert not np.array_equal(short.h, fixed.h)
