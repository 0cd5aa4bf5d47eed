"""The reconfigurable interconnect between buffers, state memories and compute units.

Which source feeds which unit, and where a unit's result goes, is set by the configuration
context the cell engine is running (:class:`rpu.hw.program.Op`). The interconnect itself is
combinational: routes in, operands and write strobes out.

Routes of the activation units (``act_route``):

* ``GATES``: unit *a* takes pre-activation buffer word *a* with its own function (sigmoid for
  i, f, o rows, tanh for g rows); results are pushed into the gate buffer.
* ``TANH_C``: unit *a* takes cell-state buffer word *a* in the data format (the cell engine
  converts the cell state when it writes it, see :class:`rpu.hw.cell_engine.CellEngine`),
  with tanh; results are pushed into the tanh(c) buffer.

Routes of the element-wise units (``ew_route``), ``y = a*b + c*d``:

* ``CELL``: ``(a, b, c, d) = (f, c_prev, i, g)``; results go to the cell-state memory and
  buffer.
* ``HIDDEN``: ``(a, b, c, d) = (o, tanh(c), 0, 0)``; results go to the hidden buffer.

Any other route leaves the units' inputs at zero and pushes nothing.
"""

from amaranth.hdl import Module, signed
from amaranth.lib import wiring, data
from amaranth.lib.wiring import In, Out

from lstm_ref.activation import TANH
from rpu.hw.program import Op, OP_BITS


__all__ = ["Interconnect"]


class Interconnect(wiring.Component):
    """Routes of the cell engine, set by the current contexts.

    Parameters
    ----------
    config : rpu.config.RPUConfig

    Attributes
    ----------
    act_route, ew_route : In(4)
        The :class:`~rpu.hw.program.Op` whose routes are set for the activation units and for
        the element-wise units in this cycle.
    act_done, ew_done : In(4)
        The op whose results leave the activation / element-wise units in this cycle (the
        route delayed by the units' latency), which selects the destination.
    pre, pre_func : In
        Heads of the pre-activation buffer (``activation_units`` words) and their functions.
    cell_head : In
        Heads of the cell-state buffer in the data format (``activation_units`` words).
    gate_i, gate_f, gate_g, gate_o : In
        Heads of the four gate segments (``elementwise_units`` words each).
    c_prev : In
        Previous cell states read from the cell memory (``elementwise_units`` words).
    tanh_c : In
        Heads of the tanh(c) buffer (``elementwise_units`` words).
    act_x, act_func : Out
        Inputs of the activation units.
    ew_a, ew_b, ew_c, ew_d : Out
        Inputs of the element-wise units.
    push_gate, push_tanh_c, push_cell, push_hidden : Out(1)
        Write strobes of the destinations of the results leaving the units.
    """

    def __init__(self, *, config):
        self._config = config
        word = signed(config.data_width)
        acts = data.ArrayLayout(word, config.activation_units)
        ews = data.ArrayLayout(word, config.elementwise_units)
        super().__init__({
            "act_route": In(OP_BITS),
            "ew_route": In(OP_BITS),
            "act_done": In(OP_BITS),
            "ew_done": In(OP_BITS),
            "pre": In(acts),
            "pre_func": In(config.activation_units),
            "cell_head": In(acts),
            "gate_i": In(ews),
            "gate_f": In(ews),
            "gate_g": In(ews),
            "gate_o": In(ews),
            "c_prev": In(ews),
            "tanh_c": In(ews),
            "act_x": Out(acts),
            "act_func": Out(config.activation_units),
            "ew_a": Out(ews),
            "ew_b": Out(ews),
            "ew_c": Out(ews),
            "ew_d": Out(ews),
            "push_gate": Out(1),
            "push_tanh_c": Out(1),
            "push_cell": Out(1),
            "push_hidden": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        with m.Switch(self.act_route):
            with m.Case(Op.GATES):
                m.d.comb += [self.act_x.eq(self.pre), self.act_func.eq(self.pre_func)]
            with m.Case(Op.TANH_C):
                units = self._config.activation_units
                m.d.comb += [self.act_x.eq(self.cell_head),
                             self.act_func.eq(TANH * ((1 << units) - 1))]
        with m.Switch(self.ew_route):
            with m.Case(Op.CELL):
                m.d.comb += [self.ew_a.eq(self.gate_f), self.ew_b.eq(self.c_prev),
                             self.ew_c.eq(self.gate_i), self.ew_d.eq(self.gate_g)]
            with m.Case(Op.HIDDEN):
                m.d.comb += [self.ew_a.eq(self.gate_o), self.ew_b.eq(self.tanh_c)]
        m.d.comb += [
            self.push_gate.eq(self.act_done == Op.GATES),
            self.push_tanh_c.eq(self.act_done == Op.TANH_C),
            self.push_cell.eq(self.ew_done == Op.CELL),
            self.push_hidden.eq(self.ew_done == Op.HIDDEN),
        ]
        return m
