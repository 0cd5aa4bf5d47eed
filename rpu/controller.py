"""The controller: issues the columns of every row group of every step to the PIM lanes.

The schedule is static (set by the program, see :mod:`rpu.program`), so the expansion model
predicts it exactly: column ``j`` of row group ``g`` of step ``s`` is issued
``s * (GROUPS * PERIOD + GAP) + g * PERIOD + j`` enabled cycles after the run starts. Within a
group, column 0 is the bias (broadcast 1.0), columns ``1 .. I`` are x_t (from the input stream
for group 0, which also stores it; from the x memory for later groups), and columns
``I + 1 .. I + H`` are h_{t-1} from the half of the hidden-state memory the previous step wrote
(zero in the first step of a run that does not keep its state).

Because step t+1 starts with its x columns, its input projection runs on the PIM lanes while
the cell engine still finishes the last groups of step t; GAP is only non-zero when h_t would
otherwise be read before it is written.
"""

import enum

from amaranth.hdl import Module, Signal, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .program import COUNTER_WIDTH


__all__ = ["Controller", "Source"]


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
    input_size, columns, groups, group_period, step_gap : In(COUNTER_WIDTH)
        Program registers.
    busy : Out(1)
        Columns remain to be issued.
    addr, valid, first, last : Out
        Weight address and flags of the column issued in this cycle.
    source : Out(Source)
        Operand source of the column issued in this cycle.
    need_x : Out(1)
        The column issued in this cycle takes its operand from the input stream.
    x_addr : Out(range(input_size))
    h_addr : Out(range(2 * padded_hidden))
        Addresses in the x and hidden-state memories of this cycle's operand.
    post_group, post_bank, post_zero : Out
        Row group, hidden-state bank and zero-state flag of the last row group whose last
        column was issued (read by the cell engine when that group's results arrive).
    """

    def __init__(self, *, config):
        self._config = config
        super().__init__({
            "en": In(1),
            "start": In(1),
            "steps": In(COUNTER_WIDTH),
            "keep_state": In(1),
            "input_size": In(COUNTER_WIDTH),
            "columns": In(COUNTER_WIDTH),
            "groups": In(COUNTER_WIDTH),
            "group_period": In(COUNTER_WIDTH),
            "step_gap": In(COUNTER_WIDTH),
            "busy": Out(1),
            "addr": Out(range(config.weight_depth)),
            "valid": Out(1),
            "first": Out(1),
            "last": Out(1),
            "source": Out(Source),
            "need_x": Out(1),
            "x_addr": Out(range(config.input_size)),
            "h_addr": Out(range(2 * config.padded_hidden)),
            "post_group": Out(range(config.max_groups)),
            "post_bank": Out(1),
            "post_zero": Out(1),
        })

    def elaborate(self, platform):
        config = self._config
        m = Module()

        step = Signal(COUNTER_WIDTH)
        group = Signal(range(config.max_groups))
        cycle = Signal(COUNTER_WIDTH)          # cycle within the row group's period
        bank = Signal()                         # half of the h memory this step writes
        keep_state = Signal()
        steps = Signal(COUNTER_WIDTH)           # taken at start, like keep_state
        zero_state = Signal()
        m.d.comb += zero_state.eq((step == 0) & ~keep_state)

        last_group = group == self.groups - 1
        period = Signal(COUNTER_WIDTH + 1)
        m.d.comb += period.eq(self.group_period + Mux(last_group, self.step_gap, 0))
        column = cycle
        m.d.comb += [
            self.valid.eq(self.busy & (column < self.columns)),
            self.first.eq(column == 0),
            self.last.eq(column == self.columns - 1),
            # column - 1 and column - 1 - I, truncated: only used when in range.
            self.x_addr.eq(column - 1),
            self.h_addr.eq(Mux(bank, 0, config.padded_hidden) + (column - 1 - self.input_size)),
        ]
        with m.If(column == 0):
            m.d.comb += self.source.eq(Source.ONE)
        with m.Elif(column <= self.input_size):
            m.d.comb += self.source.eq(Mux(group == 0, Source.X_STREAM, Source.X_MEMORY))
        with m.Else():
            m.d.comb += self.source.eq(Mux(zero_state, Source.ZERO, Source.H_MEMORY))
        m.d.comb += self.need_x.eq(self.valid & (self.source == Source.X_STREAM))

        with m.If(self.en):
            with m.If(self.busy):
                m.d.sync += self.addr.eq(self.addr + self.valid)
                with m.If(self.valid & self.last):
                    m.d.sync += [self.post_group.eq(group), self.post_bank.eq(bank),
                                 self.post_zero.eq(zero_state)]
                with m.If(cycle == period - 1):
                    m.d.sync += cycle.eq(0)
                    with m.If(last_group):
                        m.d.sync += [group.eq(0), self.addr.eq(0), bank.eq(~bank),
                                     step.eq(step + 1)]
                        with m.If(step == steps - 1):
                            m.d.sync += self.busy.eq(0)
                    with m.Else():
                        m.d.sync += group.eq(group + 1)
                with m.Else():
                    m.d.sync += cycle.eq(cycle + 1)
            with m.Elif(self.start):
                m.d.sync += [self.busy.eq(1), step.eq(0), group.eq(0), cycle.eq(0),
                             self.addr.eq(0), keep_state.eq(self.keep_state),
                             steps.eq(self.steps)]
        return m
