"""One PIM lane: a weight memory and the multiply-accumulate unit beside it."""

from amaranth.hdl import Module, Signal, Mux, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from pim.arith import narrow
from .sram import SRAM


__all__ = ["PIMLane", "issue_ports"]


def issue_ports(config):
    """The ports a lane and an array share: the issued column and its broadcast operand."""
    return {
        "en": In(1),
        "addr": In(range(config.weight_depth)),
        "valid": In(1),
        "first": In(1),
        "last": In(1),
        "operand": In(signed(config.data_width)),
        "wr_addr": In(range(config.weight_depth)),
    }


class PIMLane(wiring.Component):
    """A weight memory with a MAC lane beside it.

    The weights stay in the lane: each cycle the controller issues a memory address and the
    broadcast input word arrives one cycle later, together with the weight read from that
    address. Their product is accumulated at full precision; the last column of a row narrows
    the sum to the data format (round half up, saturate) into :attr:`result`.

    Pipeline (every register advances only while ``en`` is 1):

    * issue cycle: ``addr``, ``valid``, ``first``, ``last`` sampled, the memory is read;
    * +1: weight and ``operand`` multiplied into the product register;
    * +2: the product added to the accumulator (or replacing it on ``first``); on ``last``,
      the narrowed sum goes to ``result`` and ``result_valid`` pulses in the next cycle (+3).

    Parameters
    ----------
    config : rpu.config.RPUConfig
        Formats, memory depth and accumulator width.
    sram_macros : bool
        Make the weight memory an ``rpu_sram`` macro instance (see :class:`pim.sram.SRAM`).

    Attributes
    ----------
    en : In(1)
        Global run enable; 0 freezes the lane.
    addr : In(range(weight_depth))
        Weight address of the column issued in this cycle.
    valid, first, last : In(1)
        A column is issued; it is the first / the last column of a row.
    operand : In(signed(data_width))
        Broadcast input word, one cycle after its column is issued.
    wr_addr, wr_data, wr_en : In
        Weight memory write port (loading weights while idle).
    result : Out(signed(data_width))
        Narrowed dot product of the last finished row.
    result_valid : Out(1)
        One-cycle pulse when ``result`` has just been updated.
    saturated : Out(1)
        Set with ``result_valid`` when narrowing saturated.
    """

    def __init__(self, *, config, sram_macros=False):
        self._config = config
        self._sram_macros = bool(sram_macros)
        super().__init__({
            **issue_ports(config),
            "wr_data": In(signed(config.weight_width)),
            "wr_en": In(1),
            "result": Out(signed(config.data_width)),
            "result_valid": Out(1),
            "saturated": Out(1),
        })

    def elaborate(self, platform):
        config = self._config
        m = Module()

        m.submodules.weights = weights = SRAM(
            depth=config.weight_depth, shape=signed(config.weight_width),
            macro=self._sram_macros)
        m.d.comb += [
            weights.rd_addr.eq(self.addr),
            weights.rd_en.eq(self.en),
            weights.wr_addr.eq(self.wr_addr),
            weights.wr_data.eq(self.wr_data),
            weights.wr_en.eq(self.wr_en),
        ]

        product_width = config.data_width + config.weight_width
        valid1, first1, last1 = Signal(), Signal(), Signal()
        valid2, first2, last2 = Signal(), Signal(), Signal()
        product = Signal(signed(product_width))
        acc = Signal(signed(config.acc_width))
        total = Signal(signed(config.acc_width))
        # The first column of a row (the bias) starts a new sum.
        m.d.comb += total.eq(product + Mux(first2, 0, acc))

        narrowed, saturated = narrow(total, config.weight_frac_bits, config.data_format)
        with m.If(self.en):
            m.d.sync += [
                self.result_valid.eq(0),
                valid1.eq(self.valid), first1.eq(self.first), last1.eq(self.last),
                valid2.eq(valid1), first2.eq(first1), last2.eq(last1),
                product.eq(weights.rd_data * self.operand),
            ]
            with m.If(valid2):
                m.d.sync += acc.eq(total)
                with m.If(last2):
                    m.d.sync += [
                        self.result.eq(narrowed),
                        self.result_valid.eq(1),
                        self.saturated.eq(saturated),
                    ]
        return m
