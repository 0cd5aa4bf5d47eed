"""The schedule of an LSTM on an RPU: its fundamental operations, their partition over the
components, and the exact cycle of every event.

1. **Expand** one LSTM step into fundamental operations (:func:`expand_step`): 4H(I+H)
   multiply-accumulates, 4H bias adds, 3H sigmoids, 2H tanhs, 3H multiplies and H adds.
2. **Partition** them over the heterogeneous components. The 4H rows of ``[bias | W_ih | W_hh]``
   go to the MAC lanes in row groups: group ``g`` holds the four gates of hidden units
   ``g*U .. g*U + U - 1`` (``U = mac_lanes / 4``), lane ``gate*U + u`` holding row
   ``gate*H + g*U + u`` at weight addresses ``base + g*COLS .. base + g*COLS + COLS - 1``.
   Activations go to the activation units, cell and hidden updates to the element-wise
   units, both through the cell engine's configuration contexts. The layers of a stacked
   LSTM sit one after the other in the weight memories and in their own state regions.
3. **Schedule** it (:func:`plan_schedule`): neuron-level parallelism, the U hidden units of a
   group on 4U lanes at once; and time-level parallelism, each step (and each layer) beginning
   with its input projection, which does not depend on the recurrent h, while the cell engine
   finishes the previous one. The schedule is static: the RTL takes exactly
   :meth:`Schedule.total_cycles`. Stacked layers run either interleaved (every layer in each
   step) or layer by layer over the whole sequence (:func:`plan_layer_by_layer`); the model
   predicts both and :func:`choose_mode` picks the faster.

:mod:`rpu.compiler.encoding` turns a schedule into program words and weight images,
:mod:`rpu.compiler.codegen` compiles an LSTM's parameters into a :class:`~rpu.compiler.codegen.Program`.
``docs/architecture.md`` (section "expansion model") explains the model.
"""

from dataclasses import dataclass, replace
from math import ceil

import numpy as np

from lstm_ref.checks import is_integer
from pim import PIMArray
from rpu.config import RPUConfig, ConfigError
from rpu.hw.activation import ActivationUnit
from rpu.hw.controller import READ_AHEAD
from rpu.hw.elementwise import ElementwiseUnit
from rpu.hw.program import Op, MAX_CONTEXTS, COUNTER_WIDTH
from rpu.hw.top import ACTIVITY_COUNTERS, STATUS_LATENCY
from rpu.compiler.encoding import program_registers


__all__ = ["expand_step", "ops_per_step", "plan_schedule", "LayerSchedule", "Schedule",
           "plan_layer_by_layer", "choose_mode", "LANE_TO_ENGINE"]


#: Cycles from the issue of a group's last column to the cycle in which the cell engine's first
#: context runs: the arrays' latency to their lanes' output registers (memory read, multiply,
#: accumulate; :attr:`pim.PIMArray.LATENCY`, the same with or without registered products),
#: plus the cycle in which the engine takes the start.
LANE_TO_ENGINE = PIMArray.LATENCY + 1


def expand_step(input_size, hidden_size):
    """The fundamental operations of one LSTM step (docs/architecture.md, "expansion
    model")."""
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
class LayerSchedule:
    """Schedule of one layer within a step.

    Attributes
    ----------
    layer : int
        Index of the layer in the RPU (its weight and state regions).
    input_size, hidden_size : int
    columns : int
        ``1 + input_size + hidden_size``.
    groups : int
        Row groups.
    period : int
        Cycles between two row group starts, ``max(columns, engine_cycles + 1)``.
    gap : int
        Idle cycles after the layer's last row group.
    weight_base : int
        Weight address of the layer's first row group.
    """
    layer: int
    input_size: int
    hidden_size: int
    columns: int
    groups: int
    period: int
    gap: int
    weight_base: int

    @property
    def cycles(self):
        return self.groups * self.period + self.gap


@dataclass(frozen=True)
class Schedule:
    """The static schedule of an LSTM (one layer or a stack) on one RPU.

    Attributes
    ----------
    mac_lanes, units_per_group : int
    contexts : tuple of (Op, int)
        The cell engine's contexts for each row group.
    engine_cycles : int
        Cycles the cell engine needs per row group (sum of the contexts).
    layers : tuple of LayerSchedule
        The layers a step runs, in order.
    output_all : bool
        Every layer's (h, c) go out on the h stream (else the last layer's only).
    batch : int
        Sequences run at once, in lockstep (``RPUConfig.batch``): they share every cycle
        and every event of the schedule; MACs and operations per step count all of them.
    """

    mac_lanes: int
    units_per_group: int
    contexts: tuple
    engine_cycles: int
    layers: tuple
    output_all: bool = False
    batch: int = 1

    # A single layer's values, for the common case.
    def _only(self):
        if len(self.layers) != 1:
            raise ValueError("this schedule has several layers; use .layers")
        return self.layers[0]

    @property
    def input_size(self):
        return self.layers[0].input_size

    @property
    def hidden_size(self):
        """Hidden size of the last layer (the one the output stream always carries)."""
        return self.layers[-1].hidden_size

    @property
    def columns(self):
        return self._only().columns

    @property
    def groups(self):
        return self._only().groups

    @property
    def group_period(self):
        return self._only().period

    @property
    def step_gap(self):
        return self.layers[-1].gap

    @property
    def step_cycles(self):
        """Cycles per step in steady state."""
        return sum(layer.cycles for layer in self.layers)

    @property
    def emit_offset(self):
        """Cycles from the engine's first context to its first EMIT cycle."""
        offset = 0
        for op, cycles in self.contexts:
            if op == Op.EMIT:
                return offset
            offset += cycles
        raise AssertionError("schedule has no EMIT context")

    def layer_offset(self, position):
        """Cycles from a step's start to the start of its ``position``-th layer."""
        return sum(layer.cycles for layer in self.layers[:position])

    def _group_start(self, step, position, group):
        # The run starts in cycle 0 (start sampled); the first column is issued in cycle 1.
        return (1 + step * self.step_cycles + self.layer_offset(position)
                + group * self.layers[position].period)

    def emit_cycle(self, step, unit, position=-1):
        """Cycle (from the start cycle, 0) in which h[unit] of a layer (by position in the
        step, default the last) is written to the h memory and emitted."""
        position %= len(self.layers)
        group, u = divmod(unit, self.units_per_group)
        return (self._group_start(step, position, group) + self.layers[position].columns - 1
                + LANE_TO_ENGINE + self.emit_offset + u)

    def total_cycles(self, steps):
        """Cycles from the start cycle through the transfer of the last h, with the x stream
        always valid and the h stream always ready."""
        # The output register hands h over one cycle after it is emitted.
        return self.emit_cycle(steps - 1, self.hidden_size - 1) + 2

    def run_cycles(self, steps):
        """Value of the RPU's ``cycles`` counter after a run (cycles in which it was busy):
        until the engine has finished the last group (padding units included) and the last
        h has been taken, with the h stream always ready, plus the
        :data:`~rpu.hw.top.STATUS_LATENCY` cycles in which the status counters take the
        registered events of the last working cycle (see :class:`rpu.hw.top.RPU`)."""
        last = self.layers[-1]
        last_group = self._group_start(steps - 1, len(self.layers) - 1, last.groups - 1)
        engine_done = last_group + last.columns - 1 + LANE_TO_ENGINE + self.engine_cycles - 1
        return max(engine_done, self.total_cycles(steps) - 1) + STATUS_LATENCY

    def activity(self, steps, *, keep_state=False):
        """The RPU's activity counters after a run of ``steps`` steps (see
        :class:`rpu.hw.top.RPU`), as the schedule implies them."""
        U = self.units_per_group
        context_cycles = dict((op, cycles) for op, cycles in self.contexts if op != Op.NOP)
        A = 4 * U // context_cycles[Op.GATES]      # activation units
        E = U // context_cycles[Op.CELL]           # element-wise units
        first = self.layers[0]
        recurrent_steps = steps if keep_state else steps - 1
        counts = dict.fromkeys(ACTIVITY_COUNTERS, 0)
        counts["x_writes"] = steps * first.input_size
        counts["x_reads"] = steps * (first.groups - 1) * first.input_size
        for position, layer in enumerate(self.layers):
            G = layer.groups
            counts["columns"] += steps * G * layer.columns
            counts["h_reads"] += recurrent_steps * G * layer.hidden_size
            if position > 0:
                counts["h_reads"] += steps * G * layer.input_size
            counts["h_writes"] += steps * layer.hidden_size
            counts["cell_reads"] += steps * G * (U // E)
            counts["cell_writes"] += steps * G * (U // E)
            counts["activation_cycles"] += steps * G * (4 * U // A + U // A)
            counts["elementwise_cycles"] += steps * G * (2 * U // E)
        counts["outputs"] = steps * self.outputs_per_step()
        return counts

    def outputs_per_step(self):
        emitted = self.layers if self.output_all else self.layers[-1:]
        return sum(layer.hidden_size for layer in emitted)

    def macs_per_step(self):
        """Useful MACs of a step, every sequence of the batch: B x sum of 4H(I+H)."""
        return self.batch * sum(4 * layer.hidden_size * (layer.input_size + layer.hidden_size)
                                for layer in self.layers)

    def ops_per_step(self):
        """Operations of a step, every sequence of the batch."""
        return self.batch * sum(ops_per_step(layer.input_size, layer.hidden_size)
                                for layer in self.layers)

    def utilization(self, steps):
        """MAC utilization over a run: B x sum of 4H(I+H) x steps / (MACs x total cycles),
        the MACs being ``mac_lanes x batch``."""
        return self.macs_per_step() * steps / (self.mac_lanes * self.batch
                                               * self.total_cycles(steps))

    def to_dict(self, steps=None):
        result = {
            "layers": [{"input_size": l.input_size, "hidden_size": l.hidden_size,
                        "columns": l.columns, "groups": l.groups, "group_period": l.period,
                        "gap": l.gap, "weight_base": l.weight_base} for l in self.layers],
            "engine_cycles": self.engine_cycles,
            "cycles_per_step": self.step_cycles,
            "contexts": [[Op(op).name, cycles] for op, cycles in self.contexts],
            "steady_state_utilization": self.macs_per_step() / (self.mac_lanes * self.batch
                                                                * self.step_cycles),
            "ops_per_step": self.ops_per_step(),
            "fundamental_ops_per_step": [expand_step(l.input_size, l.hidden_size)
                                         for l in self.layers],
        }
        if steps is not None:
            result.update({"steps": steps, "total_cycles": self.total_cycles(steps),
                           "utilization": self.utilization(steps),
                           "latency_first_h": self.emit_cycle(0, 0) + 2})
        return result


def _contexts(config):
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
    return contexts


def _check_size(name, value, capacity):
    """``value`` as an int from 1 to ``capacity``, else a ConfigError naming ``name``."""
    if not is_integer(value, numpy_ok=True) or not 1 <= value <= capacity:
        raise ConfigError(f"{name} must be from 1 to the RPU's capacity {capacity}, "
                          f"not {value}")
    return int(value)

def plan_schedule(config, input_size, hidden_size, *, first_layer=0, output_all=False):
    """The schedule of an LSTM on an RPU of this configuration.

    Parameters
    ----------
    config : RPUConfig
    input_size : int
        Input size of the first layer.
    hidden_size : int or sequence of int
        Hidden size, or one per stacked layer.
    first_layer : int
        RPU layer slot of the first layer (its weight and state regions).
    output_all : bool
        Stream out every layer's (h, c), not only the last layer's.

    Raises
    ------
    ConfigError
        If the LSTM does not fit the RPU's capacity, or its schedule exceeds the counters.
    """
    if not isinstance(config, RPUConfig):
        raise TypeError(f"config must be an RPUConfig, not {config!r}")
    if not is_integer(first_layer, numpy_ok=True) or not 0 <= first_layer < config.num_layers:
        raise ConfigError(f"first_layer must be an integer from 0 to num_layers - 1 = "
                          f"{config.num_layers - 1}, not {first_layer!r}")
    first_layer = int(first_layer)
    if is_integer(hidden_size, numpy_ok=True):
        hidden_sizes = [hidden_size]
    elif isinstance(hidden_size, (list, tuple)) or (isinstance(hidden_size, np.ndarray)
                                                    and hidden_size.ndim == 1):
        hidden_sizes = list(hidden_size)
    else:
        raise ConfigError(f"hidden_size must be an integer or a sequence of integers (one per "
                          f"layer), not {hidden_size!r}")
    if not hidden_sizes:
        raise ConfigError("hidden_size must hold at least one layer's size, not an empty "
                          "sequence")
    if not 1 <= first_layer + len(hidden_sizes) <= config.num_layers or first_layer < 0:
        raise ConfigError(f"num_layers: {len(hidden_sizes)} layer(s) from slot {first_layer} "
                          f"do not fit an RPU of {config.num_layers} layer(s)")
    # A run's first layer takes its input from the x stream: at most input_size words for
    # the stack's first layer, a hidden size for a later layer run on its own.
    input_size = _check_size("input_size", input_size,
                             config.input_size if first_layer == 0 else config.max_layer_input)
    hidden_sizes = [_check_size("hidden_size", h, config.hidden_size) for h in hidden_sizes]
    U = config.units_per_group
    contexts = _contexts(config)
    engine_cycles = sum(cycles for _, cycles in contexts)
    emit_offset = engine_cycles - U
    # An h written (emitted) by a group at (group start) + columns - 1 + LANE_TO_ENGINE +
    # emit_offset + u can be read from the next cycle on, and the column that takes it is
    # issued READ_AHEAD cycles after its read.
    write_delay = LANE_TO_ENGINE - 1 + emit_offset + 1 + READ_AHEAD

    layers = []
    for position, hidden in enumerate(hidden_sizes):
        layer_input = input_size if position == 0 else hidden_sizes[position - 1]
        columns = 1 + layer_input + hidden
        groups = ceil(hidden / U)
        # The engine must have finished a group (and be idle for one cycle to see the next
        # start) before the next group's results arrive.
        period = max(columns, engine_cycles + 1)
        layers.append(LayerSchedule(first_layer + position, layer_input, hidden, columns,
                                    groups, period, 0, 0))

    def min_gap_before_next(layer):
        # The next layer reads this layer's h[k] at column 1 + k of its first group; the
        # last group's units are the latest written.
        return max(0, layer.columns + write_delay - 1 - layer.period
                   - (layer.groups - 1) * U)

    def min_gap_for_engine(layer, following):
        # The engine takes a group's results columns + LANE_TO_ENGINE - 1 cycles after the
        # group starts and is busy for engine_cycles; it must be idle again one cycle before
        # the following group's results arrive, even when that group has fewer columns.
        return max(0, engine_cycles + 1 + layer.columns - following.columns - layer.period)

    for position, layer in enumerate(layers):
        following = layers[(position + 1) % len(layers)]
        gap = min_gap_for_engine(layer, following)
        if position < len(layers) - 1:
            gap = max(gap, min_gap_before_next(layer))
        layers[position] = replace(layer, gap=gap)

    def recurrence_deficit(layers):
        # Each layer reads its own h_{t-1}[k] at column 1 + I + k of its first group in step
        # t; it was written in step t-1. The step period must cover the distance.
        step = sum(layer.cycles for layer in layers)
        deficit = 0
        for layer in layers:
            needed = (layer.columns + write_delay - 1 - layer.input_size
                      + (layer.groups - 1) * (layer.period - U))
            deficit = max(deficit, needed - step)
        return deficit

    # Lengthening the last layer's gap lengthens the step by as much: one correction does.
    layers[-1] = replace(layers[-1], gap=layers[-1].gap + recurrence_deficit(layers))

    layers = [replace(layer, weight_base=layer.layer * config.layer_weight_depth)
              for layer in layers]
    limit = (1 << COUNTER_WIDTH) - 1
    for layer in layers:
        if layer.period + layer.gap > limit:
            raise ConfigError(f"schedule too long for the {COUNTER_WIDTH}-bit counters: group "
                              f"period {layer.period} + gap {layer.gap} > {limit}")
    return Schedule(config.mac_lanes, U, contexts, engine_cycles, tuple(layers),
                    bool(output_all), config.batch)



def plan_layer_by_layer(program):
    """The layer-by-layer alternative to an interleaved stacked program: one single-layer
    program per layer (same weight image), each run over the whole sequence, its outputs
    streamed back in as the next layer's inputs.

    Parameters
    ----------
    program : rpu.compiler.codegen.Program

    Returns
    -------
    list of Program
    """
    programs = []
    for position, layer in enumerate(program.schedule.layers):
        schedule = plan_schedule(program.config, layer.input_size, layer.hidden_size,
                                 first_layer=layer.layer)
        programs.append(replace(program, schedule=schedule,
                                matrices=(program.matrices[position],),
                                registers=program_registers(schedule),
                                row_shifts=None if program.row_shifts is None
                                else (program.row_shifts[position],)))
    return programs


def choose_mode(program, steps):
    """Predicted cycles of both ways of running a stacked program over ``steps`` steps.

    Layer by layer counts each layer's run and the program words loaded before it.

    Returns
    -------
    dict
        ``{"interleaved": cycles, "layer_by_layer": cycles, "mode": the faster}``.
    """
    interleaved = program.schedule.total_cycles(steps)
    layer_by_layer = sum(p.schedule.total_cycles(steps) + len(p.registers)
                         for p in plan_layer_by_layer(program))
    mode = "interleaved" if interleaved <= layer_by_layer else "layer_by_layer"
    return {"interleaved": interleaved, "layer_by_layer": layer_by_layer, "mode": mode}

