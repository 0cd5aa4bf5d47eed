"""The schedule of the expansion model: operation counts, partitioning over the units,
cycle counts and the gaps that make the static schedule exact."""

import dataclasses

import numpy as np
import pytest

from lstm_ref.fixed_lstm import FixedLSTM
from pim import PIMLane
from rpu.config import RPUConfig, ConfigError
from rpu.compiler import (expand_step, ops_per_step, plan_schedule, compile_lstm, Program,
                          LANE_TO_ENGINE, plan_layer_by_layer, compile_stacked)
from rpu.hw.program import Op, LayerReg, layer_register
from rpu.hw.top import ACTIVITY_COUNTERS
from rpu.sim.session import simulate_program
from tests.compiler.weights import random_weights


@pytest.mark.parametrize("I, H", [(1, 1), (64, 128), (256, 256), (1024, 1024), (7, 3)])
def test_fundamental_operations(I, H):
    ops = expand_step(I, H)
    assert ops == {"mac": 4 * H * (I + H), "bias_add": 4 * H, "sigmoid": 3 * H,
                   "tanh": 2 * H, "multiply": 3 * H, "add": H}
    # docs/architecture.md, "expansion model": 8H(I+H) + 4H + 5H + 4H.
    assert ops_per_step(I, H) == 8 * H * (I + H) + 4 * H + 5 * H + 4 * H


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


def test_lane_to_engine_is_the_lane_latency_and_the_start_cycle():
    # Issue, the memory's output register, operands, product, accumulate, narrow,
    # result_valid (issues 9 and 11: the lane is pipelined deeper): the engine takes the
    # start one cycle later.
    assert LANE_TO_ENGINE == PIMLane.LATENCY + 1 == 7


def test_activity_counts_every_counter_of_the_rtl():
    s = plan_schedule(RPUConfig(input_size=3, hidden_size=5), 3, 5)
    counts = s.activity(4)
    assert tuple(counts) == ACTIVITY_COUNTERS
    # One layer, one group of 1 + 3 + 5 columns per step, 5 h written and emitted per step.
    assert counts["columns"] == 4 * 9
    assert counts["h_writes"] == counts["outputs"] == 4 * 5
    assert counts["x_writes"] == 4 * 3


def test_layer_by_layer_programs():
    config = RPUConfig(input_size=3, hidden_size=5, num_layers=2, pim_arrays=1,
                       lanes_per_array=8, activation_units=1, elementwise_units=1)
    rng = np.random.default_rng(5)
    layers = [random_weights(rng, 3, 5), random_weights(rng, 5, 4)]
    program = compile_stacked(config, layers)
    programs = plan_layer_by_layer(program)
    assert [type(p) for p in programs] == [Program, Program]
    for position, single in enumerate(programs):
        assert single.weight_image is program.weight_image
        assert single.config is program.config
        np.testing.assert_array_equal(single.matrix, program.matrices[position])
        [layer] = single.schedule.layers
        assert layer.layer == position
        assert layer.weight_base == program.schedule.layers[position].weight_base
        registers = dict(single.registers)
        assert registers[layer_register(position, LayerReg.HIDDEN_SIZE)] == [5, 4][position]
