"""The controller: issues the columns of every row group of every layer of every step to the
PIM lanes.

The schedule is static (set by the program, see :mod:`rpu.hw.program`), so the expansion model
predicts it exactly. A step runs the layers FIRST_LAYER .. LAST_LAYER in order; a layer runs
its GROUPS row groups, each PERIOD cycles long (plus GAP after the layer's last group); a row
group issues COLUMNS columns, one per enabled cycle. Column 0 is the bias (broadcast 1.0),
columns ``1 .. I`` the layer's input, columns ``I + 1 .. I + H`` its h_{t-1}:

* the first layer's input is x_t: from the input stream in its first row group (which also
  stores it in the x memory), from the x memory in the others;
* a later layer's input is the previous layer's h_t, from the half of the hidden-state
  memory this step writes;
* h_{t-1} comes from the other half (zero in the first step of a run that does not keep its
  state).

Because a step starts with the input columns, its input projection runs on the PIM lanes
while the cell engine still finishes the previous step; GAP is only non-zero when an h would
otherwise be read before it is written.
"""

import enum

from amaranth.hdl import Module, Signal, Mux
from amaranth.lib import wiring, data
from amaranth.lib.wiring import In, Out

from rpu.hw.program import COUNTER_WIDTH, h_address


__all__ = ["Controller", "Source", "layer_registers"]


class Source(enum.IntEnum):
    """Where the broadcast operand of an issued column comes from."""
    ZERO = 0
    ONE = 1
    X_STREAM = 2
    X_MEMORY = 3
    H_MEMORY = 4


class Controller(wiring.Component):
    """Issue sequencer of the PIM lanes.

    Parameters
    ----------
    config : rpu.config.RPUConfig

    Attributes
    ----------
    en : In(1)
        Global run enable.
    start : In(1)
        Start a run (taken only while not busy).
    steps : In(COUNTER_WIDTH)
        Time steps of the run (at least 1), sampled with ``start``.
    keep_state : In(1)
        Start from the h and c left by the previous run instead of zeros (sampled with
        ``start``).
    first_layer, last_layer : In(range(num_layers))
        Program registers.
    layers : In(ArrayLayout(layer_registers, num_layers))
        Per-layer program registers (input_size, columns, groups, period, gap, weight_base).
    busy : Out(1)
        Columns remain to be issued.
    addr, valid, first, last : Out
        Weight address and flags of the column issued in this cycle.
    source : Out(Source)
        Operand source of the column issued in this cycle.
    need_x : Out(1)
        The column issued in this cycle takes its operand from the input stream. A register
        (set one cycle ahead, from the column about to be issued), since it decides the
        RPU's global run enable.
    x_addr : Out(range(max_layer_input))
    h_addr : Out(range(2 * padded_hidden))
        Addresses in the x and hidden-state memories of this cycle's operand.
    bank : Out(1)
        Half of the hidden-state memory the current (or next) step writes; the other half
        holds h_{t-1}.
    post_layer, post_group, post_bank, post_zero : Out
        Layer, row group, hidden-state bank and zero-state flag of the last row group whose
        last column was issued (read by the cell engine when that group's results arrive).
    """

    def __init__(self, *, config):
        self._config = config
        super().__init__({
            "en": In(1),
            "start": In(1),
            "steps": In(COUNTER_WIDTH),
            "keep_state": In(1),
            "first_layer": In(range(config.num_layers)),
            "last_layer": In(range(config.num_layers)),
            "layers": In(data.ArrayLayout(layer_registers(config), config.num_layers)),
            "busy": Out(1),
            "addr": Out(range(config.weight_depth)),
            "valid": Out(1),
            "first": Out(1),
            "last": Out(1),
            "source": Out(Source),
            "need_x": Out(1),
            "x_addr": Out(range(config.max_layer_input)),
            "h_addr": Out(range(config.h_memory_depth)),
            "bank": Out(1),
            "post_layer": Out(range(config.num_layers)),
            "post_group": Out(range(config.max_groups)),
            "post_bank": Out(1),
            "post_zero": Out(1),
        })

    def elaborate(self, platform):
        config = self._config
        m = Module()

        step = Signal(COUNTER_WIDTH)
        layer = Signal(range(config.num_layers))
        group = Signal(range(config.max_groups))
        cycle = Signal(COUNTER_WIDTH)          # cycle within the row group's period
        bank = self.bank                        # half of the h memory this step writes
        keep_state = Signal()
        steps = Signal(COUNTER_WIDTH)           # taken at start, like keep_state
        zero_state = Signal()
        m.d.comb += zero_state.eq((step == 0) & ~keep_state)

        current = self.layers[layer]
        first = self.layers[self.first_layer]
        # Flags registered one cycle ahead (set where group and step change, from their
        # next values), so that no comparison is in series with the period's end and the
        # updates it enables: this row group is its layer's last; this step is the run's
        # last.
        last_group = Signal()
        last_step = Signal()
        period = Signal(COUNTER_WIDTH + 1)
        m.d.comb += period.eq(current.period + Mux(last_group, current.gap, 0))
        column = cycle
        m.d.comb += [
            self.valid.eq(self.busy & (column < current.columns)),
            self.first.eq(column == 0),
            self.last.eq(column == current.columns - 1),
            # column - 1: only used when in range.
            self.x_addr.eq(column - 1),
        ]
        with m.If(column == 0):
            m.d.comb += self.source.eq(Source.ONE)
        with m.Elif(column <= current.input_size):
            with m.If(layer == self.first_layer):
                m.d.comb += self.source.eq(Mux(group == 0, Source.X_STREAM, Source.X_MEMORY))
            with m.Else():
                # The previous layer's h_t, in the half this step writes.
                m.d.comb += [
                    self.source.eq(Source.H_MEMORY),
                    self.h_addr.eq(h_address(config, layer - 1, bank, column - 1)),
                ]
        with m.Else():
            # This layer's h_{t-1}, in the other half.
            m.d.comb += [
                self.source.eq(Mux(zero_state, Source.ZERO, Source.H_MEMORY)),
                self.h_addr.eq(h_address(config, layer, bank,
                                         column - 1 - current.input_size, other=True)),
            ]
        # need_x is valid & (source == X_STREAM), i.e. busy and columns 1 .. input_size of the
        # first layer's group 0, registered: the next column is column + 1 of the same group
        # unless the period wraps (to column 0, the bias; busy falls only then).
        next_takes_x = ((layer == self.first_layer) & (group == 0)
                        & (column < current.input_size))

        with m.If(self.en):
            with m.If(self.busy):
                m.d.sync += self.addr.eq(self.addr + self.valid)
                with m.If(self.valid & self.last):
                    m.d.sync += [self.post_layer.eq(layer), self.post_group.eq(group),
                                 self.post_bank.eq(bank), self.post_zero.eq(zero_state)]
                m.d.sync += self.need_x.eq(next_takes_x)
                with m.If(cycle == period - 1):
                    m.d.sync += [cycle.eq(0), self.need_x.eq(0)]
                    with m.If(~last_group):
                        m.d.sync += [group.eq(group + 1),
                                     last_group.eq(group + 1 == current.groups - 1)]
                    with m.Elif(layer != self.last_layer):
                        m.d.sync += [group.eq(0), layer.eq(layer + 1),
                                     last_group.eq(self.layers[layer + 1].groups == 1),
                                     self.addr.eq(self.layers[layer + 1].weight_base)]
                    with m.Else():
                        m.d.sync += [group.eq(0), layer.eq(self.first_layer),
                                     last_group.eq(first.groups == 1),
                                     self.addr.eq(first.weight_base), bank.eq(~bank),
                                     step.eq(step + 1),
                                     last_step.eq(step + 1 == steps - 1)]
                        with m.If(last_step):
                            m.d.sync += self.busy.eq(0)
                with m.Else():
                    m.d.sync += cycle.eq(cycle + 1)
            with m.Elif(self.start):
                m.d.sync += [self.busy.eq(1), self.need_x.eq(0), step.eq(0), layer.eq(self.first_layer),
                             group.eq(0), last_group.eq(first.groups == 1),
                             last_step.eq(self.steps == 1),
                             cycle.eq(0), self.addr.eq(first.weight_base),
                             keep_state.eq(self.keep_state), steps.eq(self.steps)]
        return m


def layer_registers(config):
    """Layout of one layer's program registers, as the controller and engine use them."""
    return data.StructLayout({
        "input_size": range(config.max_layer_input + 1),
        "hidden_size": range(config.hidden_size + 1),
        "columns": range(config.max_columns + 1),
        "groups": range(config.max_groups + 1),
        "period": COUNTER_WIDTH,
        "gap": COUNTER_WIDTH,
        "weight_base": range(config.weight_depth),
    })
