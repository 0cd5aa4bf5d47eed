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

The activation units make the selection themselves (see
:class:`rpu.hw.activation.ActivationUnit`, ``inputs``): the interconnect hands each unit both
candidates, :data:`ACT_PRE` and :data:`ACT_CELL`, with their functions, and a one-hot select,
so that each unit computes the segment index of both candidates and selects the finished
index (the route is not in front of the index arithmetic on the path into the ROM address).

Routes of the element-wise units (``ew_route``), ``y = a*b + c*d``:

* ``CELL``: ``(a, b, c, d) = (f, c_prev, i, g)``; results go to the cell-state memory and
  buffer.
* ``HIDDEN``: ``(a, b, c, d) = (o, tanh(c), 0, 0)``; results go to the hidden buffer.

Any other route leaves the units' inputs at zero and pushes nothing.
"""

from amaranth.hdl import Module, signed, unsigned
from amaranth.lib import wiring, data
from amaranth.lib.wiring import In, Out

from lstm_ref.activation import TANH
from rpu.hw.program import Op, OP_BITS


__all__ = ["Interconnect", "ACT_PRE", "ACT_CELL", "ACT_INPUTS"]


#: Order of the activation units' candidate inputs: the pre-activation buffer's head
#: (route GATES) and the cell-state buffer's head (route TANH_C).
ACT_PRE, ACT_CELL = 0, 1
ACT_INPUTS = 2


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
    act_x : Out(ArrayLayout(ArrayLayout(signed(data_width), ACT_INPUTS), activation_units))
        Candidate inputs of each activation unit, in the order :data:`ACT_PRE`,
        :data:`ACT_CELL`.
    act_func : Out(ArrayLayout(unsigned(ACT_INPUTS), activation_units))
        Their functions: bit :data:`ACT_PRE` the unit's ``pre_func``, bit :data:`ACT_CELL`
        TANH.
    act_select : Out(ACT_INPUTS)
        One-hot: the candidate that every activation unit takes (bit ACT_PRE for GATES,
        ACT_CELL for TANH_C, none for any other route: the units take zeros).
    ew_a, ew_b, ew_c, ew_d : Out
        Inputs of the element-wise units.
    push_gate, push_tanh_c, push_cell, push_hidden : Out(1)
        Write strobes of the destinations of the results leaving the units.
    """

    def __init__(self, *, config):
        self._config = config
        word = signed(config.data_width)
        acts = data.ArrayLayout(word, config.activation_units)
        candidates = data.ArrayLayout(data.ArrayLayout(word, ACT_INPUTS),
                                      config.activation_units)
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
            "act_x": Out(candidates),
            "act_func": Out(data.ArrayLayout(unsigned(ACT_INPUTS), config.activation_units)),
            "act_select": Out(ACT_INPUTS),
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
        for unit in range(self._config.activation_units):
            m.d.comb += [
                self.act_x[unit][ACT_PRE].eq(self.pre[unit]),
                self.act_x[unit][ACT_CELL].eq(self.cell_head[unit]),
                self.act_func[unit][ACT_PRE].eq(self.pre_func[unit]),
                self.act_func[unit][ACT_CELL].eq(TANH),
            ]
        m.d.comb += [
            self.act_select[ACT_PRE].eq(self.act_route == Op.GATES),
            self.act_select[ACT_CELL].eq(self.act_route == Op.TANH_C),
        ]
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
