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
from contextlib import nullcontext

from amaranth.hdl import Module, Signal, Mux, signed
from amaranth.lib import wiring, data
from amaranth.lib.wiring import In, Out

from rpu.hw.program import COUNTER_WIDTH, h_address
from rpu.hw.delta import DeltaUnit, entry_layout


__all__ = ["Controller", "Source", "Mode", "layer_registers", "READ_AHEAD"]


#: Cycles by which the x and hidden-state memories are addressed ahead of the column whose
#: operand they give: the memories register their word twice (the RAM's read and an output
#: register, a block RAM's own on an FPGA), and the controller addresses them with the
#: column it issues next, so that the word leaves them one cycle after its column's issue.
#: An h is therefore read one cycle before its column's issue, which the schedule's margins
#: count (:func:`rpu.compiler.schedule.plan_schedule`).
READ_AHEAD = 1


class Source(enum.IntEnum):
    """Where the broadcast operand of an issued column comes from."""
    ZERO = 0
    ONE = 1
    X_STREAM = 2
    X_MEMORY = 3
    H_MEMORY = 4
    X_DELTA = 5     #: the delta of an x list entry (delta steps)
    H_DELTA = 6     #: the delta of an h list entry (delta steps)


class Mode(enum.IntEnum):
    """What the controller does (delta programs only leave DENSE)."""
    DENSE = 0    #: the dense schedule (every step of a dense program, step 0 of a delta one)
    X_PHASE = 1  #: a delta step takes x_t into the x delta unit (no column issued)
    WAIT = 2     #: a delta step's row group waits for its lists and for the cell engine
    ISSUE = 3    #: a delta step's row group issues its list entries


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
    need_x_next : Out(1)
        The value ``need_x`` takes in the next cycle (its register's input), from which the
        RPU registers its run enable one cycle ahead.
    x_addr : Out(range(max_layer_input))
        Address in the x memory of this cycle's column (where an x word taken from the
        stream is written).
    x_read_addr : Out(range(max_layer_input))
    h_read_addr : Out(range(h_memory_depth))
        Addresses in the x and hidden-state memories of the operand of the column issued in
        the next enabled cycle (:data:`READ_AHEAD`); don't-cares when that column reads
        neither.
    bank : Out(1)
        Half of the hidden-state memory the current (or next) step writes; the other half
        holds h_{t-1}.
    post_layer, post_group, post_bank, post_zero : Out
        Layer, row group, hidden-state bank and zero-state flag of the last row group whose
        last column was issued (read by the cell engine when that group's results arrive).

    With ``config.delta`` (see :mod:`rpu.hw.delta`), a delta program (``delta`` high) runs
    its first step dense and every later step as:

    * X_PHASE, ``input_size + DeltaUnit.LATENCY - 1`` cycles: x_t is taken from the stream
      (``need_x`` in the first ``input_size``) into the x delta unit, which lists the
      changed x columns;
    * for each row group: WAIT until it may start, then ISSUE its ``n = nx + nh`` list
      entries (the x list, then the h list of h_{t-1}), one per cycle, each with its delta
      as the operand; with no entry at all, one *null* column (the bias column with a zero
      operand, ``null``), so that the group's pre-activations still reach the cell engine.
      A group may start in a WAIT cycle ``d`` once (for group 0) the h list is complete and
      ``n >= hold``, where ``hold`` counts down from ``DELTA_PERIOD - 1``, set at the last
      column of the previous group: the engine then has finished that group when this one's
      results arrive.

    The lanes start each row's sum from its pre-activation word (``load``, with ``first``,
    in delta steps) and write it back at the end (``store``, in every step of a delta
    program).

    delta, delta_period : In
        Program registers DELTA and DELTA_PERIOD.
    x_count, h_count, h_complete : In
        Entries of the x list and of the h list of h_{t-1}; the latter is complete.
    x_entry, h_entry : In(entry_layout(config))
        The list entries read at ``x_rd_addr`` / ``h_rd_addr`` in the previous cycle.
    x_rd_addr, h_rd_addr : Out
        List read addresses (the entry issued in the next cycle).
    h_consume : Out(1)
        Group 0 of a delta step starts: the h list of h_{t-1} is taken.
    x_phase : Out(1)
        The controller is in X_PHASE (an x word taken now goes into the list).
    load, store, null : Out(1)
        Flags of the column issued in this cycle.
    delta_value : Out(signed(operand_width))
        The delta of the list entry issued in this cycle.
    state_addr : Out(range(max_groups))
        Pre-activation word of the issued column's row group.
    snoop_h : Out(1)
        The column issued in this cycle is an h column of row group 0 of a delta program's
        dense first step: its operand (h_{t-1}[h_index]) is the reference of the h delta unit.
    h_index : Out(range(hidden_size))
        ``column - 1 - input_size``.
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
            "need_x_next": Out(1),
            "x_addr": Out(range(config.max_layer_input)),
            "x_read_addr": Out(range(config.max_layer_input)),
            "h_read_addr": Out(range(config.h_memory_depth)),
            "bank": Out(1),
            "post_layer": Out(range(config.num_layers)),
            "post_group": Out(range(config.max_groups)),
            "post_bank": Out(1),
            "post_zero": Out(1),
            **(self._delta_ports(config) if config.delta else {}),
        })

    @staticmethod
    def _delta_ports(config):
        entry = entry_layout(config)
        return {
            "delta": In(1),
            "delta_period": In(COUNTER_WIDTH),
            "x_count": In(range(config.max_layer_input + 1)),
            "h_count": In(range(config.hidden_size + 1)),
            "h_complete": In(1),
            "x_entry": In(entry),
            "h_entry": In(entry),
            "x_rd_addr": Out(range(config.max_layer_input)),
            "h_rd_addr": Out(range(config.hidden_size)),
            "h_consume": Out(1),
            "x_phase": Out(1),
            "load": Out(1),
            "store": Out(1),
            "null": Out(1),
            "delta_value": Out(signed(config.operand_width)),
            "state_addr": Out(range(config.max_groups)),
            "snoop_h": Out(1),
            "h_index": Out(range(config.hidden_size)),
        }

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
        # The dense schedule's weight address: the controller's output, or with the delta
        # datapath one of two (ISSUE addresses the listed columns).
        addr = Signal.like(self.addr, name="dense_addr") if config.delta else self.addr
        mode = Signal(Mode) if config.delta else None
        def dense():
            return m.If(mode == Mode.DENSE) if config.delta else nullcontext()

        current = self.layers[layer]
        first = self.layers[self.first_layer]
        # Flags registered one cycle ahead (set where group and step change, from their
        # next values), so that no comparison is in series with the period's end and the
        # updates it enables: this row group is its layer's last; this step is the run's
        # last.
        last_group = Signal()
        last_step = Signal()
        # The period's last cycle is a register, period_end, set a cycle ahead from the
        # compare of cycle with the period's last but one (period_penult), so that neither a
        # compare nor an adder is in front of the period's end and the registers it enables
        # (S's critical paths on the ULX3S: at 84.9 MHz, last_group, the period's adder, the
        # compare, need_x_next, the run enable; at 98.1 MHz, nextpnr seed 1, the 17-bit
        # compare, the row group's update, the step counter's enable). period_penult is a
        # register that follows the layer and last_group: it lags them by a cycle only when
        # they have just changed, at a start or at a period's end, where cycle restarts at 0;
        # the period's last but one is at least 1 (PERIOD >= COLUMNS >= 3), so the compare
        # in a period's first cycle is false with either value.
        period_penult = Signal(COUNTER_WIDTH + 1)
        m.d.sync += period_penult.eq(current.period + Mux(last_group, current.gap, 0) - 2)
        period_end = Signal()
        column = cycle
        with dense():
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
                    m.d.comb += self.source.eq(Mux(group == 0, Source.X_STREAM,
                                                   Source.X_MEMORY))
                with m.Else():
                    # The previous layer's h_t, in the half this step writes.
                    m.d.comb += self.source.eq(Source.H_MEMORY)
            with m.Else():
                # This layer's h_{t-1}, in the other half.
                m.d.comb += self.source.eq(Mux(zero_state, Source.ZERO, Source.H_MEMORY))
            # The read addresses of the next column (READ_AHEAD): column + 1 of this group,
            # as a period's end restarts at column 0, the bias, which reads no memory. So the
            # next column's index into x or h is cycle itself (column + 1 - 1), with no adder,
            # and the layer and the bank are this column's.
            m.d.comb += self.x_read_addr.eq(cycle)
            with m.If(cycle < current.input_size):
                m.d.comb += self.h_read_addr.eq(h_address(config, layer - 1, bank, cycle))
            with m.Else():
                m.d.comb += self.h_read_addr.eq(
                    h_address(config, layer, bank, cycle - current.input_size, other=True))
        # need_x is valid & (source == X_STREAM), i.e. busy and columns 1 .. input_size of the
        # first layer's group 0, registered: the next column is column + 1 of the same group
        # unless the period wraps (to column 0, the bias; busy falls only then).
        next_takes_x = ((layer == self.first_layer) & (group == 0)
                        & (column < current.input_size))
        # need_x's register input is a port of its own (need_x_next), assigned below wherever
        # need_x changes; by default need_x holds.
        m.d.comb += self.need_x_next.eq(self.need_x)
        m.d.sync += self.need_x.eq(self.need_x_next)

        with m.If(self.en):
            with m.If(self.busy):
                with dense():
                    m.d.sync += addr.eq(addr + self.valid)
                    with m.If(self.valid & self.last):
                        m.d.sync += [self.post_layer.eq(layer), self.post_group.eq(group),
                                     self.post_bank.eq(bank), self.post_zero.eq(zero_state)]
                    m.d.comb += self.need_x_next.eq(next_takes_x)
                    with m.If(period_end):
                        m.d.sync += [cycle.eq(0), period_end.eq(0)]
                        m.d.comb += self.need_x_next.eq(0)
                        with m.If(~last_group):
                            m.d.sync += [group.eq(group + 1),
                                         last_group.eq(group + 1 == current.groups - 1)]
                        with m.Elif(layer != self.last_layer):
                            m.d.sync += [group.eq(0), layer.eq(layer + 1),
                                         last_group.eq(self.layers[layer + 1].groups == 1),
                                         addr.eq(self.layers[layer + 1].weight_base)]
                        with m.Else():
                            m.d.sync += [group.eq(0), layer.eq(self.first_layer),
                                         last_group.eq(first.groups == 1),
                                         addr.eq(first.weight_base), bank.eq(~bank),
                                         step.eq(step + 1),
                                         last_step.eq(step + 1 == steps - 1)]
                            with m.If(last_step):
                                m.d.sync += self.busy.eq(0)
                            if config.delta:
                                with m.Elif(self.delta):
                                    m.d.sync += mode.eq(Mode.X_PHASE)
                                    m.d.comb += self.need_x_next.eq(1)
                    with m.Else():
                        m.d.sync += [cycle.eq(cycle + 1),
                                     period_end.eq(cycle == period_penult)]
            with m.Elif(self.start):
                m.d.comb += self.need_x_next.eq(0)
                m.d.sync += [self.busy.eq(1), step.eq(0), layer.eq(self.first_layer),
                             period_end.eq(0),
                             group.eq(0), last_group.eq(first.groups == 1),
                             last_step.eq(self.steps == 1),
                             cycle.eq(0), addr.eq(first.weight_base),
                             keep_state.eq(self.keep_state), steps.eq(self.steps)]
                if config.delta:
                    m.d.sync += mode.eq(Mode.DENSE)
        if config.delta:
            self._delta_steps(m, mode, addr, step, steps, group, cycle, bank, last_group,
                              last_step, zero_state)
        return m

    def _delta_steps(self, m, mode, dense_addr, step, steps, group, cycle, bank, last_group,
                     last_step, zero_state):
        """The delta datapath's part of the controller: the dense first step's snoop and
        store flags, and the X_PHASE, WAIT and ISSUE modes of the later steps."""
        config = self._config
        layer = self.layers[self.first_layer]      # a delta program runs one layer
        m.d.comb += [self.x_phase.eq(mode == Mode.X_PHASE),
                     self.state_addr.eq(group), self.store.eq(self.delta)]
        # The least cycles until the next group's last column may be issued.
        hold = Signal(COUNTER_WIDTH)
        with m.If(self.en):
            with m.If(self.busy & self.valid & self.last):
                m.d.sync += hold.eq(self.delta_period - 1)
            with m.Elif(hold != 0):
                m.d.sync += hold.eq(hold - 1)

        with m.If(mode == Mode.DENSE):
            m.d.comb += [
                self.addr.eq(dense_addr),
                self.snoop_h.eq(self.delta & self.busy & (step == 0) & (group == 0)
                                & (cycle > layer.input_size) & (cycle < layer.columns)),
                self.h_index.eq(cycle - 1 - layer.input_size),
            ]

        # Entries of the group's lists, and which is issued now.
        row_base = Signal.like(self.addr)
        entry = Signal(range(config.max_columns))
        nx, nh = self.x_count, self.h_count
        total = Signal(range(config.max_columns + 1))
        m.d.comb += total.eq(nx + nh)
        null = total == 0
        n = Mux(null, 1, total)
        from_h = entry >= nx
        listed = Signal(entry_layout(config))
        m.d.comb += listed.eq(Mux(from_h, self.h_entry, self.x_entry))
        issuing = mode == Mode.ISSUE
        next_entry = Mux(issuing, entry + 1, 0)
        m.d.comb += [self.x_rd_addr.eq(next_entry), self.h_rd_addr.eq(next_entry - nx)]
        can_start = (((group != 0) | self.h_complete) & (n >= hold))

        with m.If(issuing):
            m.d.comb += [
                self.valid.eq(1),
                self.first.eq(entry == 0),
                self.last.eq(entry == n - 1),
                self.load.eq(entry == 0),
                self.null.eq(null),
                self.addr.eq(row_base + Mux(null, 0, listed.column)),
                self.source.eq(Mux(null, Source.ZERO,
                                   Mux(from_h, Source.H_DELTA, Source.X_DELTA))),
                self.delta_value.eq(listed.delta),
            ]
        with m.Elif(mode == Mode.X_PHASE):
            m.d.comb += self.x_addr.eq(cycle)
        with m.Elif(mode == Mode.WAIT):
            m.d.comb += self.h_consume.eq(can_start & (group == 0))

        with m.If(self.en & self.busy):
            with m.Switch(mode):
                with m.Case(Mode.X_PHASE):
                    m.d.sync += [cycle.eq(cycle + 1), row_base.eq(layer.weight_base)]
                    m.d.comb += self.need_x_next.eq(cycle + 1 < layer.input_size)
                    with m.If(cycle == layer.input_size + DeltaUnit.LATENCY - 2):
                        m.d.sync += [mode.eq(Mode.WAIT), cycle.eq(0)]
                with m.Case(Mode.WAIT):
                    with m.If(can_start):
                        m.d.sync += [mode.eq(Mode.ISSUE), entry.eq(0)]
                with m.Case(Mode.ISSUE):
                    m.d.sync += entry.eq(entry + 1)
                    with m.If(self.last):
                        m.d.sync += [self.post_layer.eq(self.first_layer),
                                     self.post_group.eq(group), self.post_bank.eq(bank),
                                     self.post_zero.eq(zero_state)]
                        with m.If(~last_group):
                            m.d.sync += [mode.eq(Mode.WAIT), group.eq(group + 1),
                                         last_group.eq(group + 1 == layer.groups - 1),
                                         row_base.eq(row_base + layer.columns)]
                        with m.Else():
                            m.d.sync += [group.eq(0), last_group.eq(layer.groups == 1),
                                         bank.eq(~bank), step.eq(step + 1),
                                         last_step.eq(step + 1 == steps - 1)]
                            with m.If(last_step):
                                m.d.sync += [self.busy.eq(0), mode.eq(Mode.DENSE)]
                            with m.Else():
                                m.d.sync += [mode.eq(Mode.X_PHASE), cycle.eq(0)]
                                m.d.comb += self.need_x_next.eq(1)


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
