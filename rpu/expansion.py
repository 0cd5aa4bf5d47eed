"""The hybrid network expansion model: from an LSTM to the RPU's program and its exact timing.

1. **Expand** one LSTM step into fundamental operations (:func:`expand_step`): 4H(I+H)
   multiply-accumulates, 4H bias adds, 3H sigmoids, 2H tanhs, 3H multiplies and H adds.
2. **Partition** them over the heterogeneous components. The 4H rows of ``[bias | W_ih | W_hh]``
   go to the MAC lanes in row groups: group ``g`` holds the four gates of hidden units
   ``g*U .. g*U + U - 1`` (``U = mac_lanes / 4``), lane ``gate*U + u`` holding row
   ``gate*H + g*U + u`` at weight addresses ``g*COLS .. g*COLS + COLS - 1``. Activations go to
   the activation units, cell and hidden updates to the element-wise units, both through the
   cell engine's configuration contexts.
3. **Schedule** it (:func:`plan_schedule`): neuron-level parallelism, the U hidden units of a
   group on 4U lanes at once; and time-level parallelism, each step beginning with its input
   projection ``W_ih x_t`` (which does not depend on h_{t-1}) while the cell engine finishes
   step t-1. The schedule is static: the RTL takes exactly :meth:`Schedule.total_cycles`.
4. **Emit** the program words and weight memory images (:func:`compile_lstm`).
"""

from dataclasses import dataclass
from math import ceil

import numpy as np

from lstm_ref.fixed_lstm import quantize_lstm
from lstm_ref.float_lstm import check_lstm_params
from .activation import ActivationUnit
from .elementwise import ElementwiseUnit
from .config import RPUConfig, ConfigError
from .program import Op, Reg, CONTEXT_BASE, MAX_CONTEXTS, COUNTER_WIDTH, encode_context


__all__ = ["expand_step", "ops_per_step", "plan_schedule", "Schedule", "compile_lstm",
           "Program"]


#: Cycles from the issue of a group's last column to its results in the lanes' output
#: registers (memory read, multiply, accumulate), plus the cycle in which the cell engine
#: takes the start: the engine's first context runs this many cycles after that issue.
LANE_TO_ENGINE = 4


def expand_step(input_size, hidden_size):
    """The fundamental operations of one LSTM step (DESIGN.md section 3)."""
    I, H = input_size, hidden_size
    return {
        "mac": 4 * H * (I + H),
        "bias_add": 4 * H,
        "sigmoid": 3 * H,
        "tanh": 2 * H,
        "multiply": 3 * H,
        "add": H,
    }


def ops_per_step(input_size, hidden_size):
    """Operations of one step as counted in every GOPS figure: 2 per MAC, 1 per other op,
    i.e. ``8H(I+H) + 4H + 5H + 4H``."""
    ops = expand_step(input_size, hidden_size)
    return 2 * ops["mac"] + sum(count for name, count in ops.items() if name != "mac")


@dataclass(frozen=True)
class Schedule:
    """The static schedule of one LSTM on one RPU.

    Attributes
    ----------
    input_size, hidden_size : int
    mac_lanes, units_per_group : int
    columns : int
        Columns per row group, ``1 + I + H``.
    groups : int
        Row groups per step.
    contexts : tuple of (Op, int)
        The cell engine's contexts for each row group.
    engine_cycles : int
        Cycles the cell engine needs per row group (sum of the contexts).
    group_period : int
        Cycles between two row group starts: ``max(columns, engine_cycles + 1)``.
    step_gap : int
        Idle cycles added to the last group of a step so that step t+1 never reads an h_t
        before it is written.
    """

    input_size: int
    hidden_size: int
    mac_lanes: int
    units_per_group: int
    columns: int
    groups: int
    contexts: tuple
    engine_cycles: int
    group_period: int
    step_gap: int

    @property
    def step_cycles(self):
        """Cycles per step in steady state."""
        return self.groups * self.group_period + self.step_gap

    @property
    def emit_offset(self):
        """Cycles from the engine's first context to its first EMIT cycle."""
        offset = 0
        for op, cycles in self.contexts:
            if op == Op.EMIT:
                return offset
            offset += cycles
        raise AssertionError("schedule has no EMIT context")

    def _group_start(self, step, group):
        # The run starts in cycle 0 (start sampled); the first column is issued in cycle 1.
        return 1 + step * self.step_cycles + group * self.group_period

    def emit_cycle(self, step, unit):
        """Cycle (from the start cycle, 0) in which h_step[unit] is written and emitted."""
        group, u = divmod(unit, self.units_per_group)
        return (self._group_start(step, group) + self.columns - 1 + LANE_TO_ENGINE
                + self.emit_offset + u)

    def total_cycles(self, steps):
        """Cycles from the start cycle through the transfer of the last h, with the x stream
        always valid and the h stream always ready."""
        # The output register hands h over one cycle after it is emitted.
        return self.emit_cycle(steps - 1, self.hidden_size - 1) + 2

    def run_cycles(self, steps):
        """Value of the RPU's ``cycles`` counter after a run (cycles in which it was busy)."""
        last_group = self._group_start(steps - 1, self.groups - 1)
        return last_group + self.columns - 1 + LANE_TO_ENGINE + self.engine_cycles - 1

    def macs_per_step(self):
        return 4 * self.hidden_size * (self.input_size + self.hidden_size)

    def utilization(self, steps):
        """MAC-lane utilization over a run: 4H(I+H) x steps / (lanes x total cycles)."""
        return self.macs_per_step() * steps / (self.mac_lanes * self.total_cycles(steps))

    def to_dict(self, steps=None):
        result = {
            "columns": self.columns,
            "groups": self.groups,
            "group_period": self.group_period,
            "step_gap": self.step_gap,
            "engine_cycles": self.engine_cycles,
            "cycles_per_step": self.step_cycles,
            "contexts": [[Op(op).name, cycles] for op, cycles in self.contexts],
            "steady_state_utilization": self.macs_per_step() / (self.mac_lanes
                                                                * self.step_cycles),
            "ops_per_step": ops_per_step(self.input_size, self.hidden_size),
            "fundamental_ops_per_step": expand_step(self.input_size, self.hidden_size),
        }
        if steps is not None:
            result.update({"steps": steps, "total_cycles": self.total_cycles(steps),
                           "utilization": self.utilization(steps),
                           "latency_first_h": self.emit_cycle(0, 0) + 2})
        return result


def plan_schedule(config, input_size, hidden_size):
    """The schedule of an LSTM of these sizes on an RPU of this configuration.

    Raises
    ------
    ConfigError
        If the LSTM does not fit the RPU's capacity, or its schedule exceeds the counters.
    """
    if not isinstance(config, RPUConfig):
        raise TypeError(f"config must be an RPUConfig, not {config!r}")
    for name, value, capacity in (("input_size", input_size, config.input_size),
                                  ("hidden_size", hidden_size, config.hidden_size)):
        if not isinstance(value, (int, np.integer)) or not 1 <= value <= capacity:
            raise ConfigError(f"{name} must be from 1 to the RPU's capacity {capacity}, "
                              f"not {value}")
    input_size, hidden_size = int(input_size), int(hidden_size)
    U = config.units_per_group
    A, E = config.activation_units, config.elementwise_units
    act_drain = ActivationUnit.LATENCY
    # CELL reads the cell memory one cycle before the element-wise units take operands.
    cell_drain = 1 + ElementwiseUnit.LATENCY
    contexts = (
        (Op.LOAD, 1),
        (Op.GATES, 4 * U // A), (Op.NOP, act_drain),
        (Op.CELL, U // E), (Op.NOP, cell_drain),
        (Op.TANH_C, U // A), (Op.NOP, act_drain),
        (Op.HIDDEN, U // E), (Op.NOP, ElementwiseUnit.LATENCY),
        (Op.EMIT, U),
    )
    assert len(contexts) <= MAX_CONTEXTS
    engine_cycles = sum(cycles for _, cycles in contexts)
    columns = 1 + input_size + hidden_size
    groups = ceil(hidden_size / U)
    # The engine must have finished a group (and be idle for one cycle to see the next
    # start) before the next group's results arrive.
    group_period = max(columns, engine_cycles + 1)
    emit_offset = engine_cycles - U
    # h_t[k] of the last group is emitted at (group start) + columns - 1 + LANE_TO_ENGINE +
    # emit_offset + u and read by step t+1 at (next step start) + 1 + I + k; the read must
    # come at least one cycle after the write.
    needed = (columns - 1 + LANE_TO_ENGINE + emit_offset + 1
              - (group_period + 1 + input_size + (groups - 1) * U))
    step_gap = max(0, needed)
    schedule = Schedule(input_size, hidden_size, config.mac_lanes, U, columns, groups,
                        contexts, engine_cycles, group_period, step_gap)
    limit = (1 << COUNTER_WIDTH) - 1
    if group_period + step_gap > limit:
        raise ConfigError(f"schedule too long for the {COUNTER_WIDTH}-bit counters: group "
                          f"period {group_period} + gap {step_gap} > {limit}")
    return schedule


@dataclass(frozen=True, eq=False)
class Program:
    """Everything loaded into an RPU to run one LSTM.

    Attributes
    ----------
    config : RPUConfig
    schedule : Schedule
    matrix : numpy.ndarray
        Weight-format codes of ``[bias | W_ih | W_hh]``, (4H, 1 + I + H).
    weight_image : numpy.ndarray
        Codes per ``(array, address, lane)``, shape ``(pim_arrays, groups * columns,
        lanes_per_array)``; addresses beyond are unused.
    registers : tuple of (int, int)
        ``(address, word)`` pairs of the program stream.
    """

    config: RPUConfig
    schedule: Schedule
    matrix: np.ndarray
    weight_image: np.ndarray
    registers: tuple

    @property
    def input_size(self):
        return self.schedule.input_size

    @property
    def hidden_size(self):
        return self.schedule.hidden_size

    def memory_map(self):
        """Where each weight row lives: for lane (array, lane), the LSTM rows of its groups."""
        s = self.schedule
        U, H, n = s.units_per_group, s.hidden_size, self.config.lanes_per_array
        lanes = []
        for lane in range(self.config.mac_lanes):
            gate, u = divmod(lane, U)
            rows = [gate * H + g * U + u for g in range(s.groups) if g * U + u < H]
            lanes.append({"array": lane // n, "lane": lane % n, "gate": "ifgo"[gate],
                          "rows": rows})
        return {
            "word_address": "group * columns + column",
            "columns": ["bias"] + [f"x[{j}]" for j in range(s.input_size)]
                       + [f"h[{j}]" for j in range(H)] if s.columns <= 64 else
                       f"bias, x[0..{s.input_size - 1}], h[0..{H - 1}]",
            "lanes": lanes,
        }


def compile_lstm(config, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """Compile a float LSTM (``torch.nn.LSTM`` parameters) into an RPU program.

    Raises
    ------
    ValueError
        Bad parameter shapes or values (NaN/Inf), naming the parameter.
    ConfigError
        The LSTM does not fit the RPU.
    """
    input_size, hidden_size = check_lstm_params(weight_ih, weight_hh, bias_ih, bias_hh)
    schedule = plan_schedule(config, input_size, hidden_size)
    matrix = quantize_lstm(weight_ih, weight_hh, bias_ih, bias_hh, config.weight_format)

    U, H = schedule.units_per_group, hidden_size
    depth = schedule.groups * schedule.columns
    image = np.zeros((config.mac_lanes, depth), dtype=np.int64)
    for lane in range(config.mac_lanes):
        gate, u = divmod(lane, U)
        for group in range(schedule.groups):
            unit = group * U + u
            if unit < H:
                start = group * schedule.columns
                image[lane, start:start + schedule.columns] = matrix[gate * H + unit]
    weight_image = image.reshape(config.pim_arrays, config.lanes_per_array, depth) \
                        .transpose(0, 2, 1).copy()

    registers = [
        (Reg.INPUT_SIZE, input_size),
        (Reg.HIDDEN_SIZE, hidden_size),
        (Reg.COLUMNS, schedule.columns),
        (Reg.GROUPS, schedule.groups),
        (Reg.GROUP_PERIOD, schedule.group_period),
        (Reg.STEP_GAP, schedule.step_gap),
        (Reg.CONTEXTS, len(schedule.contexts)),
    ]
    registers += [(CONTEXT_BASE + index, encode_context(op, cycles))
                  for index, (op, cycles) in enumerate(schedule.contexts)]
    return Program(config, schedule, matrix, weight_image,
                   tuple((int(a), int(d)) for a, d in registers))
