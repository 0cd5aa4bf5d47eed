"""Encoding of a compiled LSTM: the weight memory image and the program words."""

import numpy as np

from rpu.config import RPUConfig
from rpu.compiler import compile_lstm
from rpu.hw.program import Reg, LayerReg, CONTEXT_BASE, layer_register
from tests.compiler.weights import random_weights


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


