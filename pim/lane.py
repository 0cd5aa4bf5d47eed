"""One PIM lane: a weight memory and the multiply-accumulate unit beside it."""

from amaranth.hdl import Module, Signal, Mux, Cat, signed
from amaranth.lib import wiring, data
from amaranth.lib.wiring import In, Out

from lstm_ref.checks import check_integer
from lstm_ref.fixed_lstm import MAX_ROW_SHIFT
from pim.arith import narrow, narrow_scaled, rounding_bias
from .product import RegisteredProduct
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
                          scale_depth=0, weights_per_word=1, batch=1, operand_width=None,
                          state_depth=0):
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
    operand_width = data_width if operand_width is None else \
        check_integer("operand_width", operand_width, data_width)
    product_width = operand_width + weight_width
    state_depth = check_integer("state_depth", state_depth, 0)
    if state_depth and (weights_per_word != 1 or batch != 1):
        raise ValueError("state_depth needs weights_per_word and batch 1")
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
        "weights_per_word": check_integer("weights_per_word", weights_per_word, 1),
        "batch": check_integer("batch", batch, 1),
        "operand_width": operand_width,
        "state_depth": state_depth,
    }


def operand_shape(data_width, batch):
    """Shape of the broadcast operand: one data word, or one per sequence of a batch."""
    word = signed(data_width)
    return word if batch == 1 else data.ArrayLayout(word, batch)


def issue_ports(*, depth, operand_width, scale_depth=0, batch=1, state_depth=0):
    """The ports a lane and an array share: the issued column and its broadcast operand(s)
    (and, with scales, the scale address of the finishing row; with a pre-activation
    memory, its address and the load and store flags)."""
    ports = {
        "en": In(1),
        "addr": In(range(depth)),
        "valid": In(1),
        "first": In(1),
        "last": In(1),
        "operand": In(operand_shape(operand_width, batch)),
        "wr_addr": In(range(depth + scale_depth)),
    }
    if scale_depth:
        ports["scale_addr"] = In(range(scale_depth))
    if state_depth:
        ports.update({"state_addr": In(range(state_depth)), "load": In(1), "store": In(1)})
    return ports


class PIMLane(wiring.Component):
    """A weight memory with ``weights_per_word * batch`` MAC units beside it.

    The weights stay in the lane: each cycle the controller issues a memory address and the
    broadcast input word arrives two cycles later, when the word read from that address
    leaves the memory's output register. A word holds P = ``weights_per_word`` weights, the
    same column of P rows; with a batch of B sequences the broadcast carries B operands, one
    per sequence. MAC ``(b, k)`` multiplies weight ``k`` of the word by operand ``b`` and
    accumulates the product at full precision (P x B MACs per read). The last column of a row
    narrows each sum to ``data_width`` bits (drop ``weight_frac_bits``, plus the row's scale
    with scales, with round half up; saturate) into ``results[b * P + k]``.

    Pipeline (every register advances only while ``en`` is 1):

    * issue cycle: ``addr``, ``valid``, ``first``, ``last`` sampled, the memory is read;
    * +1: the word read passes the memory's output register (which a platform may map to a
      block RAM's own, see :class:`~pim.sram.SRAM`);
    * +2: the weight word and ``operand`` (which arrives in this cycle) registered, so that
      neither the memory nor the operand's route across the lanes is in front of the
      multipliers (with registered whole products these are the registered product's input
      registers, a DSP block's own on an FPGA; see :class:`~pim.product.RegisteredProduct`);
    * +3: each weight multiplied by the operand's low and high halves into two partial
      product registers (two multipliers of half the width, whose sum is the product), or
      by the whole operand into one; without ``registered_products`` this stage is left
      out: the products of +2's registers go straight into the accumulators, one cycle
      earlier;
    * +4: the products added to the MAC's accumulator (or, on ``first``, to the row's
      start: without scales the rounding bias, half an LSB of the result, so that the
      narrowing needs no rounding adder; with scales, whose row shift is known only at the
      last column, 0). The accumulator is split in a low and a high half: the low half's
      carry is registered and added into the high half with the next column (a
      carry-delayed accumulator), so that no adder is wider than half the accumulator;
    * +5: after ``last``, the pending carry added and the sum narrowed into ``results``
      (a stage of its own, so that the accumulator's adders and the narrowing are not in
      series): without scales a shift and a check of the high bits behind the carry's
      adder; ``result_valid`` pulses in the next cycle (+6 = :attr:`LATENCY`; +5 without
      ``registered_products``).

    Parameters
    ----------
    data_width : int
        Width of the broadcast operand and of the results (signed, 2 or more).
    weight_width : int
        Width of a weight (signed, 1 or more).
    weight_frac_bits : int
        Fractional bits of a weight, dropped when the sum is narrowed (0 to
        ``weight_width - 1``): the result has the operand's fractional bits.
    acc_width : int
        Width of the accumulators, at least ``data_width + weight_width``; the caller makes
        them wide enough that the longest sum, plus the rounding bias it starts from, cannot
        overflow.
    depth : int
        Words of the weight memory.
    weights_per_word : int
        Weights per memory word (1, the default, or more).
    batch : int
        Sequences B whose operands are broadcast side by side (1, the default, or more).
    scale_depth : int
        Words of the scale memory (0, the default: none). With scales, each row's sum is
        narrowed by ``weight_frac_bits`` plus the row's :data:`SCALE_BITS`-bit scale (its
        extra fractional bits), read from the scale memory at ``scale_addr`` (a word holds
        the scales of the P rows); the load port writes scale word ``a`` (the low
        :data:`SCALE_BITS` bits of each weight of ``wr_data``) at ``wr_addr = depth + a``.
    sram_macros : bool
        Make the weight (and scale) memories ``rpu_sram`` macro instances (see
        :class:`pim.sram.SRAM`).
    split_products : bool
        Multiply as two half-width partial products (default; short paths in standard
        cells), or as one product (an FPGA's DSP block takes an 18x18 product in one
        piece; with registered products, one :class:`~pim.product.RegisteredProduct` per
        MAC, which a platform may map to the block and its output register). The latency
        and the results are the same.
    registered_products : bool
        Register the products before they are accumulated (default): a pipeline stage that
        pays for wide multipliers. Without it a small multiplier and the accumulator's adders
        share a cycle, the lane has one stage (and one register of ``data_width +
        weight_width`` bits per MAC) fewer and its latency is ``LATENCY - 1``.
    operand_width : int
        Width of the broadcast operand (default ``data_width``; more for deltas of data
        words): the multipliers are ``operand_width x weight_width``.
    state_depth : int
        Words of the pre-activation memory (0, the default: none; needs ``weights_per_word``
        and ``batch`` 1). With it, a row's sum may start from the word at ``state_addr``
        instead of 0 (``load`` with the first column) and be written back there, at full
        precision, when it is complete (``store`` with the last column): the delta mode's
        persistent pre-activation ``M``, one word per row group (without scales, plus the
        rounding bias every sum starts from, which a loaded word therefore already holds).

    Raises
    ------
    ValueError
        A parameter that is not an integer or is out of range.

    Attributes
    ----------
    LATENCY : int
        Enabled cycles from the issue of a row's last column to ``result_valid`` with
        registered products (6).
    OPERAND_DELAY : int
        Enabled cycles from a column's issue to the cycle in which its operand arrives (2).
    latency : int
        This lane's: ``LATENCY``, or ``LATENCY - 1`` without ``registered_products``.
    en : In(1)
        Global run enable; 0 freezes the lane.
    addr : In(range(depth))
        Weight address of the column issued in this cycle.
    valid, first, last : In(1)
        A column is issued; it is the first / the last column of a row.
    operand : In(signed(operand_width)), or In(ArrayLayout(signed(operand_width), batch))
        Broadcast input word (one per sequence with a batch), :attr:`OPERAND_DELAY` = 2
        cycles after its column is issued.
    scale_addr : In(range(scale_depth))
        Only with scales: the scale word of the rows whose last column was issued in the
        previous enabled cycle (it arrives one cycle before that column's operand; it may
        change once the next rows' last column is issued).
    state_addr, load, store : In
        Only with ``state_depth``: the pre-activation word of the row whose column is issued
        in this cycle, whether its sum starts from that word (with ``first``) and whether it
        is written back (with ``last``).
    wr_addr : In(range(depth + scale_depth))
    wr_data : In(ArrayLayout(signed(weight_width), weights_per_word))
    wr_en : In(1)
        Weight (and scale) memory write port (loading weights while idle): a whole word. A
        weight word is written one cycle after it is presented (the memory's write port is
        registered): it is not read in that cycle.
    results : Out(ArrayLayout(signed(data_width), weights_per_word * batch))
        Narrowed dot products of the last finished rows, one per MAC: sequence ``b``'s row
        ``k`` of the word at ``b * weights_per_word + k``.
    result_valid : Out(1)
        One-cycle pulse when ``results`` have just been updated.
    saturated : Out(weights_per_word * batch)
        Set with ``result_valid``, per MAC, when narrowing saturated.
    """

    LATENCY = 6
    OPERAND_DELAY = 2

    def __init__(self, *, data_width, weight_width, weight_frac_bits, acc_width, depth,
                 weights_per_word=1, batch=1, scale_depth=0, operand_width=None,
                 state_depth=0, sram_macros=False, split_products=True,
                 registered_products=True):
        params = _unused_on_error(self, lambda: check_lane_parameters(
            data_width=data_width, weight_width=weight_width,
            weight_frac_bits=weight_frac_bits, acc_width=acc_width, depth=depth,
            scale_depth=scale_depth, weights_per_word=weights_per_word, batch=batch,
            operand_width=operand_width, state_depth=state_depth))
        self.data_width = params["data_width"]
        self.weight_width = params["weight_width"]
        self.weight_frac_bits = params["weight_frac_bits"]
        self.acc_width = params["acc_width"]
        self.depth = params["depth"]
        self.scale_depth = params["scale_depth"]
        self.weights_per_word = params["weights_per_word"]
        self.batch = params["batch"]
        self.operand_width = params["operand_width"]
        self.state_depth = params["state_depth"]
        self.sram_macros = bool(sram_macros)
        self.split_products = bool(split_products)
        self.registered_products = bool(registered_products)
        self.latency = self.LATENCY if self.registered_products else self.LATENCY - 1
        # Whole registered products are RegisteredProducts, whose input registers hold the
        # weight word and the operand of stage +2.
        self._product_block = self.registered_products and not self.split_products
        P, B = self.weights_per_word, self.batch
        super().__init__({
            **issue_ports(depth=self.depth, operand_width=self.operand_width,
                          scale_depth=self.scale_depth, batch=B,
                          state_depth=self.state_depth),
            "wr_data": In(data.ArrayLayout(signed(self.weight_width), P)),
            "wr_en": In(1),
            "results": Out(data.ArrayLayout(signed(self.data_width), P * B)),
            "result_valid": Out(1),
            "saturated": Out(P * B),
        })

    def elaborate(self, platform):
        m = Module()
        P = self.weights_per_word
        # The word read is registered at +1 by the memory's output register (which a
        # platform may map to a block RAM's own); the write port is registered too, so that
        # the write enable of every lane's memory is a flip-flop.
        m.submodules.weights = weights = SRAM(
            depth=self.depth, shape=data.ArrayLayout(signed(self.weight_width), P),
            macro=self.sram_macros, output_register=True, write_register=True)
        m.d.comb += [
            weights.rd_addr.eq(self.addr),
            weights.rd_en.eq(self.en),
            weights.wr_addr.eq(self.wr_addr),
            weights.wr_data.eq(self.wr_data),
            # With scales, addresses from depth on are those of the scale memory.
            weights.wr_en.eq(self.wr_en & (self.wr_addr < self.depth) if self.scale_depth
                             else self.wr_en),
        ]
        # The column's flags, one register per stage up to the accumulate stage (+4, or +3
        # without a product stage).
        accumulate = self.latency - 2
        flags = [(self.valid, self.first, self.last)]
        for stage in range(1, accumulate + 1):
            regs = tuple(Signal(name=f"{name}{stage}") for name in ("valid", "first", "last"))
            with m.If(self.en):
                m.d.sync += [reg.eq(flag) for reg, flag in zip(regs, flags[-1])]
            flags.append(regs)
        valid_acc, first_acc, last_acc = flags[-1]
        # The weight word and the operand of stage +2's registers: in a registered product's
        # input registers (whole registered products), else here.
        word, operand = weights.rd_data, self.operand
        if not self._product_block:
            word = Signal.like(weights.rd_data, name="weight_word")
            operand = Signal.like(self.operand, name="operand")
            with m.If(self.en):
                m.d.sync += [word.eq(weights.rd_data), operand.eq(self.operand)]
        ended = Signal()
        scales = self._scales(m) if self.scale_depth else None
        # What every row's sum starts from (unless loaded): the rounding bias of the
        # narrowing when its shift is the same for all rows (no scales), else 0.
        bias = 0 if self.scale_depth else rounding_bias(self.weight_frac_bits)
        state = self._state(m, ended, bias) if self.state_depth else None
        with m.If(self.en):
            m.d.sync += [self.result_valid.eq(0), ended.eq(valid_acc & last_acc)]
            with m.If(ended):
                m.d.sync += self.result_valid.eq(1)
        operands = [operand] if self.batch == 1 else [operand[b] for b in range(self.batch)]
        for b, value in enumerate(operands):
            for k in range(P):
                self._mac(m, b * P + k, word[k], value, valid_acc, first_acc, ended,
                          None if scales is None else scales[k], bias, state)
        return m

    def _state(self, m, ended, bias):
        """The pre-activation memory. Returns ``(start, acc)``: the word a row's sum starts
        from in the accumulate stage (``bias`` unless ``load``), and a signal the MAC drives
        with its complete sum, written back in the narrowing stage when the row's ``store``
        was set."""
        m.submodules.state = memory = SRAM(depth=self.state_depth,
                                           shape=signed(self.acc_width),
                                           macro=self.sram_macros)
        # Address and flags, one register per stage up to the accumulate stage (+4, or +3
        # without registered products); the memory is read one stage before it.
        accumulate = self.latency - 2
        addr, load, store = self.state_addr, self.load, self.store
        stages = []
        for stage in range(1, accumulate + 1):
            regs = (Signal.like(addr, name=f"state_addr{stage}"),
                    Signal(name=f"load{stage}"), Signal(name=f"store{stage}"))
            with m.If(self.en):
                m.d.sync += [regs[0].eq(addr), regs[1].eq(load), regs[2].eq(store)]
            addr, load, store = regs
            stages.append(regs)
        read_addr = stages[-2][0]
        end_addr = Signal.like(addr, name="state_end_addr")
        end_store = Signal(name="state_end_store")
        with m.If(self.en):
            m.d.sync += [end_addr.eq(addr), end_store.eq(store)]
        acc = Signal(signed(self.acc_width), name="state_sum")
        m.d.comb += [
            memory.rd_addr.eq(read_addr), memory.rd_en.eq(self.en),
            memory.wr_addr.eq(end_addr), memory.wr_data.eq(acc),
            memory.wr_en.eq(self.en & ended & end_store),
        ]
        start = Signal(signed(self.acc_width), name="state_start")
        m.d.comb += start.eq(Mux(load, memory.rd_data, bias))
        return start, acc

    def _mac(self, m, index, weight, operand, valid_acc, first_acc, ended, scale, bias,
             state=None):
        """MAC ``index``: ``weight`` (registered) times ``operand`` (registered), accumulated
        into a carry-delayed accumulator started from ``bias`` (or from the loaded
        pre-activation word), narrowed into ``results[index]`` after a row's last column
        (stages +3 to +5 of the pipeline, or +3 to +4 without registered products;
        ``valid_acc`` and ``first_acc`` are the flags of the accumulate stage). ``weight`` and
        ``operand`` are stage +2's registers, or with a registered whole product (whose input
        registers they go into) their inputs."""
        k = index
        name = "" if self.weights_per_word * self.batch == 1 else f"_{k}"
        product_width = self.operand_width + self.weight_width
        # weight * operand = product_lo + product_hi * 2**half, with the operand's low half
        # taken as unsigned and its high half as signed.
        # Without a product stage, one product goes straight into the accumulator.
        split = self.split_products and self.registered_products
        half = self.operand_width // 2 if split else self.operand_width
        product_lo = Signal(signed(self.weight_width + half + 1) if split
                            else signed(product_width), name=f"product_lo{name}")
        product_hi = Signal(signed(product_width - half) if split else 1,
                            name=f"product_hi{name}")
        # The sum is acc_hi * 2**low + carry * 2**low + acc_lo (modulo 2**acc_width, which
        # it never leaves); the carry of adding two terms to acc_lo is 0, 1 or 2.
        low = self.acc_width // 2
        acc_lo = Signal(low, name=f"acc_lo{name}")
        acc_hi = Signal(signed(self.acc_width - low), name=f"acc_hi{name}")
        carry = Signal(2, name=f"carry{name}")
        terms = [Signal(signed(self.acc_width), name=f"term_{n}{name}") for n in ("lo", "hi")]
        m.d.comb += [terms[0].eq(product_lo), terms[1].eq(product_hi << half)]
        lo_sum = Signal(low + 2, name=f"lo_sum{name}")
        hi_sum = Signal(signed(self.acc_width - low), name=f"hi_sum{name}")
        # The first column of a row starts a new sum: from the bias, or from the row's
        # pre-activation word (which has no pending carry).
        start_lo, start_hi = bias % (1 << low), bias >> low
        if state is not None:
            start_lo, start_hi = state[0][:low], state[0][low:].as_signed()
        m.d.comb += [
            lo_sum.eq(terms[0][:low] + terms[1][:low] + Mux(first_acc, start_lo, acc_lo)),
            hi_sum.eq(terms[0][low:].as_signed() + terms[1][low:].as_signed()
                      + Mux(first_acc, start_hi, acc_hi + carry)),
        ]
        # The row's sum is complete: resolve the carry and narrow it in this cycle.
        acc = Signal(signed(self.acc_width), name=f"acc{name}")
        m.d.comb += acc.eq(Cat(acc_lo, acc_hi + carry))
        if state is not None:
            m.d.comb += state[1].eq(acc)
        if scale is None:
            narrowed, saturated = narrow(acc, self.weight_frac_bits, self.data_width,
                                         biased=True)
        else:
            narrowed, saturated = narrow_scaled(acc, self.weight_frac_bits, scale,
                                                self.data_width)
        products = [product_lo.eq(weight * operand[:half] if split else weight * operand),
                    product_hi.eq(weight * operand[half:].as_signed() if split else 0)]
        if self._product_block:
            # The operands' registers, one product and its register: a platform may map them
            # to a hard multiplier with its own input and output registers (see
            # RegisteredProduct).
            m.submodules[f"product{name}"] = product = RegisteredProduct(
                a_shape=weight.shape(), b_shape=operand.shape(), input_registers=True)
            m.d.comb += [product.en.eq(self.en), product.a.eq(weight),
                         product.b.eq(operand), product_lo.eq(product.p)]
        elif self.registered_products:
            with m.If(self.en):
                m.d.sync += products
        else:
            m.d.comb += products
        with m.If(self.en):
            with m.If(valid_acc):
                m.d.sync += [acc_lo.eq(lo_sum[:low]), carry.eq(lo_sum[low:]),
                             acc_hi.eq(hi_sum)]
            with m.If(ended):
                m.d.sync += [self.results[k].eq(narrowed), self.saturated[k].eq(saturated)]

    def _scales(self, m):
        """The scale memory; its read word, delayed to the narrowing stage: the scales of the
        rows being narrowed (one per MAC)."""
        P = self.weights_per_word
        shape = data.ArrayLayout(SCALE_BITS, P)
        m.submodules.scales = scales = SRAM(
            depth=self.scale_depth, shape=shape, macro=self.sram_macros)
        m.d.comb += [
            scales.rd_addr.eq(self.scale_addr),
            scales.rd_en.eq(self.en),
            scales.wr_addr.eq(self.wr_addr - self.depth),
            scales.wr_data.eq(Cat(*(self.wr_data[k][:SCALE_BITS] for k in range(P)))),
            scales.wr_en.eq(self.wr_en & (self.wr_addr >= self.depth)),
        ]
        # One register per stage from the read to the narrowing stage (one stage fewer
        # without registered products).
        scale = scales.rd_data
        for stage in range(self.latency - 3):
            delayed = Signal(shape, name=f"scale{stage + 1}")
            with m.If(self.en):
                m.d.sync += delayed.eq(scale)
            scale = delayed
        return scale
