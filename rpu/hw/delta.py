"""The delta unit: the column lists of the delta (temporal sparsity) mode.

In a delta program (see :mod:`rpu.hw.controller`) the first step of a run is dense; from the
second on, a step issues only the columns whose value changed by at least a threshold since
it was last propagated, with the change as the operand, and the lanes add it to the row's
persistent pre-activation ``M`` (:class:`pim.PIMLane`'s ``state_depth``). This is the delta
LSTM of :class:`lstm_ref.delta_lstm.FixedDeltaLSTM`:

* ``d_j = v_j - ref_j`` is propagated where ``|d_j| >= threshold`` (then ``ref_j = v_j``);
* ``M = M + W d``, the sums kept at the accumulator's full precision.

A :class:`DeltaUnit` takes the values of one path (x from the input stream, or h as the cell
engine writes it) one at a time, in the order of their index, compares each with its
reference, and appends each value that changed enough to a list of ``(column, delta)``
entries that the controller then issues. In *snoop* mode (the dense first step) it only
records the values as the references.
"""

from amaranth.hdl import Module, Signal, Mux, signed, unsigned
from amaranth.lib import wiring, data
from amaranth.lib.wiring import In, Out

from pim import SRAM


__all__ = ["DeltaUnit", "entry_layout", "max_threshold"]


def max_threshold(data_width):
    """The largest threshold a delta unit takes: its ``threshold`` port is an unsigned
    ``data_width``-bit code."""
    return (1 << data_width) - 1


def entry_layout(config):
    """One list entry: the weight column (offset within a row group) and the delta, a
    ``config.operand_width``-bit difference of two data words."""
    return data.StructLayout({"column": range(config.max_columns),
                              "delta": signed(config.operand_width)})


class DeltaUnit(wiring.Component):
    """Compare a stream of values with their references and list those that changed.

    Pipeline (every register advances only while ``en`` is 1): in the cycle a value is
    offered (``valid``) its reference is read; in the next, the delta is formed and compared,
    the list entry and the new reference are written and the count is updated. An entry and
    the count are readable :attr:`LATENCY` cycles after the value was offered.

    Parameters
    ----------
    config : rpu.config.RPUConfig
    depth : int
        Values (and references) of the path: indices ``0 .. depth - 1``.
    banks : int
        Lists kept (1 or 2): with 2, one is filled (``bank``) while the other is issued.
    sram_macros : bool
        The reference and list memories as ``rpu_sram`` macro instances.

    Attributes
    ----------
    LATENCY : int
        Enabled cycles from a value's offer to its list entry and the count being readable.
    en : In(1)
    valid, snoop : In(1)
        A value is offered; only as the reference (no list entry).
    index : In(range(depth))
        Its index. Index 0 starts a new list (its bank's count restarts).
    value : In(signed(data_width))
    offset : In(range(max_columns))
        Column of index 0 in a row group: the entry's column is ``offset + index``.
    last_index : In(range(depth))
        Index of the last value of a list: its entry completes the list.
    threshold : In(unsigned(data_width))
    bank : In(1)
        The list the value goes to (with 2 banks).
    rd_addr : In(range(depth)), rd_bank : In(1)
        List read port (synchronous; ``rd_bank`` with 2 banks).
    rd_data : Out(entry_layout(config))
    count : Out(ArrayLayout(range(depth + 1), banks))
        Entries of each list.
    complete : Out(banks)
        The list's last value has been compared; cleared by ``clear``.
    clear : In(banks)
    """

    LATENCY = 2

    def __init__(self, *, config, depth, banks=1, sram_macros=False):
        if banks not in (1, 2):
            raise ValueError(f"banks must be 1 or 2, not {banks!r}")
        self._config = config
        self.depth = depth
        self.banks = banks
        self.sram_macros = bool(sram_macros)
        width = config.data_width
        super().__init__({
            "en": In(1),
            "valid": In(1),
            "snoop": In(1),
            "index": In(range(depth)),
            "value": In(signed(width)),
            "offset": In(range(config.max_columns)),
            "last_index": In(range(depth)),
            "threshold": In(unsigned(width)),
            "bank": In(1),
            "rd_addr": In(range(depth)),
            "rd_bank": In(1),
            "rd_data": Out(entry_layout(config)),
            "count": Out(data.ArrayLayout(range(depth + 1), banks)),
            "complete": Out(banks),
            "clear": In(banks),
        })

    def elaborate(self, platform):
        config = self._config
        m = Module()
        depth, banks = self.depth, self.banks
        m.submodules.reference = reference = SRAM(depth=depth, shape=signed(config.data_width),
                                                  macro=self.sram_macros)
        m.submodules.entries = entries = SRAM(depth=banks * depth,
                                              shape=entry_layout(config),
                                              macro=self.sram_macros)
        bank_base = (lambda bank: Mux(bank, depth, 0)) if banks == 2 else (lambda bank: 0)

        # Stage 1: the reference is read.
        valid, snoop, last = Signal(), Signal(), Signal()
        index = Signal.like(self.index, name="index1")
        value = Signal.like(self.value, name="value1")
        column = Signal.like(self.offset, name="column1")
        bank = Signal(name="bank1")
        m.d.comb += [reference.rd_addr.eq(self.index), reference.rd_en.eq(self.en),
                     entries.rd_addr.eq(bank_base(self.rd_bank) + self.rd_addr),
                     entries.rd_en.eq(self.en), self.rd_data.eq(entries.rd_data)]
        with m.If(self.en):
            m.d.sync += [valid.eq(self.valid), snoop.eq(self.snoop), index.eq(self.index),
                         value.eq(self.value), column.eq(self.offset + self.index),
                         bank.eq(self.bank if banks == 2 else 0),
                         last.eq(self.index == self.last_index)]

        # Stage 2: compare, write the entry and the reference, count.
        delta = Signal(signed(config.operand_width))
        magnitude = Signal(unsigned(config.operand_width))
        keep = Signal()
        m.d.comb += [
            delta.eq(value - reference.rd_data),
            magnitude.eq(Mux(delta < 0, -delta, delta)),
            keep.eq(valid & ~snoop & (magnitude >= self.threshold)),
        ]
        position = Signal(range(depth + 1))
        m.d.comb += position.eq(Mux(index == 0, 0, self.count[bank]))
        m.d.comb += [
            reference.wr_addr.eq(index), reference.wr_data.eq(value),
            reference.wr_en.eq(self.en & valid & (snoop | keep)),
            entries.wr_addr.eq(bank_base(bank) + position),
            entries.wr_data.column.eq(column), entries.wr_data.delta.eq(delta),
            entries.wr_en.eq(self.en & keep),
        ]
        with m.If(self.en & valid & ~snoop):
            m.d.sync += self.count[bank].eq(position + keep)
            with m.If(last):
                m.d.sync += self.complete.bit_select(bank, 1).eq(1)
        for b in range(banks):
            with m.If(self.clear[b]):
                m.d.sync += self.complete[b].eq(0)
        return m
