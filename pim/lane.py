"""One PIM lane: a weight memory and the multiply-accumulate unit beside it."""

from amaranth.hdl import Module, Signal, Mux, Cat, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from lstm_ref.checks import check_integer
from lstm_ref.fixed_lstm import MAX_ROW_SHIFT
from pim.arith import narrow, narrow_scaled
from .sram import SRAM


__all__ = ["PIMLane", "issue_ports", "check_lane_parameters", "SCALE_BITS"]


#: Bits of a scale word: a row's extra shift, 0 to :data:`lstm_ref.fixed_lstm.MAX_ROW_SHIFT`.
SCALE_BITS = MAX_ROW_SHIFT.bit_length()


def _unused_on_error(component, check):
    """``check()``; if it raises, ``component`` (which failed to construct and cannot be used)
    is marked so that Amaranth does not also warn that it was created but never used."""
    try:
        return check()
    except (TypeError, ValueError):
        component._MustUse__silence = True
        raise


def check_lane_parameters(*, data_width, weight_width, weight_frac_bits, acc_width, depth,
                          scale_depth=0):
    """Validate the parameters of a lane (or of an array of lanes) up front.

    Returns
    -------
    dict
        The parameters as ints.

    Raises
    ------
    ValueError
        A parameter that is not an integer, or out of range; the message names it.
    """
    data_width = check_integer("data_width", data_width, 2)
    weight_width = check_integer("weight_width", weight_width, 1)
    product_width = data_width + weight_width
    scale_depth = check_integer("scale_depth", scale_depth, 0)
    if scale_depth and weight_width < SCALE_BITS:
        raise ValueError(f"scale_depth needs weight_width >= {SCALE_BITS} (a scale word is "
                         f"loaded as a weight word), not {weight_width}")
    return {
        "data_width": data_width,
        "weight_width": weight_width,
        # The narrowed sum keeps data_width bits of the product's fraction and integer part.
        "weight_frac_bits": check_integer("weight_frac_bits", weight_frac_bits, 0,
                                          weight_width - 1),
        # At least a full product: the accumulator holds sums of products.
        "acc_width": check_integer("acc_width", acc_width, product_width),
        "depth": check_integer("depth", depth, 1),
        "scale_depth": scale_depth,
    }


def issue_ports(*, depth, data_width, scale_depth=0):
    """The ports a lane and an array share: the issued column and its broadcast operand (and,
    with scales, the scale address of the finishing row)."""
    ports = {
        "en": In(1),
        "addr": In(range(depth)),
        "valid": In(1),
        "first": In(1),
        "last": In(1),
        "operand": In(signed(data_width)),
        "wr_addr": In(range(depth + scale_depth)),
    }
    if scale_depth:
        ports["scale_addr"] = In(range(scale_depth))
    return ports


class PIMLane(wiring.Component):
    """A weight memory with a MAC lane beside it.

    The weights stay in the lane: each cycle the controller issues a memory address and the
    broadcast input word arrives one cycle later, together with the weight read from that
    address. Their product is accumulated at full precision; the last column of a row narrows
    the sum to ``data_width`` bits (drop ``weight_frac_bits``, plus the row's scale with
    scales, with round half up; saturate) into :attr:`result`.

    Pipeline (every register advances only while ``en`` is 1):

    * issue cycle: ``addr``, ``valid``, ``first``, ``last`` sampled, the memory is read;
    * +1: the weight read and ``operand`` registered (so that neither the memories' access
      time nor the operand's multiplexer is in front of the multiplier);
    * +2: the weight multiplied by the operand's low and high halves into two partial
      product registers (two multipliers of half the width, whose sum is the product);
    * +3: both partial products added to the accumulator (or replacing it on ``first``).
      The accumulator is split in a low and a high half: the low half's carry is registered
      and added into the high half with the next column (a carry-delayed accumulator), so
      that no adder is wider than half the accumulator;
    * +4: after ``last``, the pending carry added and the exact sum narrowed into ``result``
      (a stage of its own, so that the accumulator's adders and the narrowing's rounding
      adder are not in series); ``result_valid`` pulses in the next cycle
      (+5 = :attr:`LATENCY`).

    Parameters
    ----------
    data_width : int
        Width of the broadcast operand and of the result (signed, 2 or more).
    weight_width : int
        Width of a weight (signed, 1 or more).
    weight_frac_bits : int
        Fractional bits of a weight, dropped when the sum is narrowed (0 to
        ``weight_width - 1``): the result has the operand's fractional bits.
    acc_width : int
        Width of the accumulator, at least ``data_width + weight_width``; the caller makes it
        wide enough that its longest sum cannot overflow.
    depth : int
        Words of the weight memory.
    scale_depth : int
        Words of the scale memory (0, the default: none). With scales, each row's sum is
        narrowed by ``weight_frac_bits`` plus the row's :data:`SCALE_BITS`-bit scale word
        (its extra fractional bits), read from the scale memory at ``scale_addr``; the load
        port writes scale word ``a`` (the low :data:`SCALE_BITS` bits of ``wr_data``) at
        ``wr_addr = depth + a``.
    sram_macros : bool
        Make the weight (and scale) memories ``rpu_sram`` macro instances (see
        :class:`pim.sram.SRAM`).

    Raises
    ------
    ValueError
        A parameter that is not an integer or is out of range.

    Attributes
    ----------
    LATENCY : int
        Enabled cycles from the issue of a row's last column to ``result_valid`` (5).
    en : In(1)
        Global run enable; 0 freezes the lane.
    addr : In(range(depth))
        Weight address of the column issued in this cycle.
    valid, first, last : In(1)
        A column is issued; it is the first / the last column of a row.
    operand : In(signed(data_width))
        Broadcast input word, one cycle after its column is issued.
    scale_addr : In(range(scale_depth))
        Only with scales: the scale word of the row whose last column was issued in the
        previous enabled cycle (it arrives with that column's operand; it may change once the
        next row's last column is issued).
    wr_addr, wr_data, wr_en : In
        Weight (and scale) memory write port (loading weights while idle); ``wr_addr`` has
        ``depth + scale_depth`` addresses.
    result : Out(signed(data_width))
        Narrowed dot product of the last finished row.
    result_valid : Out(1)
        One-cycle pulse when ``result`` has just been updated.
    saturated : Out(1)
        Set with ``result_valid`` when narrowing saturated.
    """

    LATENCY = 5

    def __init__(self, *, data_width, weight_width, weight_frac_bits, acc_width, depth,
                 scale_depth=0, sram_macros=False, split_products=True):
        params = _unused_on_error(self, lambda: check_lane_parameters(
            data_width=data_width, weight_width=weight_width,
            weight_frac_bits=weight_frac_bits, acc_width=acc_width, depth=depth,
            scale_depth=scale_depth))
        self.data_width = params["data_width"]
        self.weight_width = params["weight_width"]
        self.weight_frac_bits = params["weight_frac_bits"]
        self.acc_width = params["acc_width"]
        self.depth = params["depth"]
        self.scale_depth = params["scale_depth"]
        self.sram_macros = bool(sram_macros)
        # Two half-width partial products (short paths for a standard-cell multiplier), or
        # one whole product (an FPGA's DSP block takes an 18x18 product in one piece). The
        # latency and the results are the same.
        self.split_products = bool(split_products)
        super().__init__({
            **issue_ports(depth=self.depth, data_width=self.data_width,
                          scale_depth=self.scale_depth),
            "wr_data": In(signed(self.weight_width)),
            "wr_en": In(1),
            "result": Out(signed(self.data_width)),
            "result_valid": Out(1),
            "saturated": Out(1),
        })

    def elaborate(self, platform):
        m = Module()

        m.submodules.weights = weights = SRAM(
            depth=self.depth, shape=signed(self.weight_width), macro=self.sram_macros)
        m.d.comb += [
            weights.rd_addr.eq(self.addr),
            weights.rd_en.eq(self.en),
            weights.wr_addr.eq(self.wr_addr),
            weights.wr_data.eq(self.wr_data),
            # With scales, addresses from depth on are those of the scale memory.
            weights.wr_en.eq(self.wr_en & (self.wr_addr < self.depth) if self.scale_depth
                             else self.wr_en),
        ]

        product_width = self.data_width + self.weight_width
        valid1, first1, last1 = Signal(), Signal(), Signal()
        valid2, first2, last2 = Signal(), Signal(), Signal()
        valid3, first3, last3 = Signal(), Signal(), Signal()
        weight = Signal(signed(self.weight_width))
        operand = Signal(signed(self.data_width))
        # weight * operand = product_lo + product_hi * 2**half, with the operand's low half
        # taken as unsigned and its high half as signed.
        half = self.data_width // 2 if self.split_products else self.data_width
        product_lo = Signal(signed(self.weight_width + half + 1)
                            if self.split_products else signed(product_width))
        product_hi = Signal(signed(product_width - half) if self.split_products else 1)
        # The sum is acc_hi * 2**low + carry * 2**low + acc_lo (modulo 2**acc_width, which
        # it never leaves); the carry of adding two terms to acc_lo is 0, 1 or 2.
        low = self.acc_width // 2
        acc_lo = Signal(low)
        acc_hi = Signal(signed(self.acc_width - low))
        carry = Signal(2)
        terms = [Signal(signed(self.acc_width), name=f"term_{n}") for n in ("lo", "hi")]
        m.d.comb += [terms[0].eq(product_lo), terms[1].eq(product_hi << half)]
        lo_sum = Signal(low + 2)
        hi_sum = Signal(signed(self.acc_width - low))
        # The first column of a row (the bias) starts a new sum.
        m.d.comb += [
            lo_sum.eq(terms[0][:low] + terms[1][:low] + Mux(first3, 0, acc_lo)),
            hi_sum.eq(terms[0][low:].as_signed() + terms[1][low:].as_signed()
                      + Mux(first3, 0, acc_hi + carry)),
        ]
        # The row's sum is complete: resolve the carry and narrow it in this cycle.
        ended = Signal()
        acc = Signal(signed(self.acc_width))
        m.d.comb += acc.eq(Cat(acc_lo, acc_hi + carry))

        if self.scale_depth:
            narrowed, saturated = narrow_scaled(acc, self.weight_frac_bits,
                                                self._scales(m), self.data_width)
        else:
            narrowed, saturated = narrow(acc, self.weight_frac_bits, self.data_width)
        with m.If(self.en):
            m.d.sync += [
                self.result_valid.eq(0),
                valid1.eq(self.valid), first1.eq(self.first), last1.eq(self.last),
                valid2.eq(valid1), first2.eq(first1), last2.eq(last1),
                valid3.eq(valid2), first3.eq(first2), last3.eq(last2),
                weight.eq(weights.rd_data), operand.eq(self.operand),
                product_lo.eq(weight * operand[:half] if self.split_products
                              else weight * operand),
                product_hi.eq(weight * operand[half:].as_signed() if self.split_products
                              else 0),
                ended.eq(valid3 & last3),
            ]
            with m.If(valid3):
                m.d.sync += [acc_lo.eq(lo_sum[:low]), carry.eq(lo_sum[low:]),
                             acc_hi.eq(hi_sum)]
            with m.If(ended):
                m.d.sync += [
                    self.result.eq(narrowed),
                    self.result_valid.eq(1),
                    self.saturated.eq(saturated),
                ]
        return m

    def _scales(self, m):
        """The scale memory; its read data, delayed to the narrowing stage: the scale of the
        row being narrowed."""
        m.submodules.scales = scales = SRAM(
            depth=self.scale_depth, shape=SCALE_BITS, macro=self.sram_macros)
        m.d.comb += [
            scales.rd_addr.eq(self.scale_addr),
            scales.rd_en.eq(self.en),
            scales.wr_addr.eq(self.wr_addr - self.depth),
            scales.wr_data.eq(self.wr_data[:SCALE_BITS]),
            scales.wr_en.eq(self.wr_en & (self.wr_addr >= self.depth)),
        ]
        scale1, scale2 = Signal(SCALE_BITS), Signal(SCALE_BITS)
        with m.If(self.en):
            m.d.sync += [scale1.eq(scales.rd_data), scale2.eq(scale1)]
        return scale2
