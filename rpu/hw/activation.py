"""The activation unit: fixed-point sigmoid and tanh, a table with linear interpolation.

The arithmetic is specified by :func:`lstm_ref.activation.activation_fixed`; this unit
matches it bit for bit (checked exhaustively in ``tests/test_activation_unit.py``).
"""

from functools import reduce
from operator import or_

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from lstm_ref.activation import (DEFAULT_SEGMENTS, SIGMOID, TANH, activation_table,
                                 check_segments)
from lstm_ref.checks import is_integer
from lstm_ref.fixedpoint import FixedFormat


__all__ = ["ActivationUnit", "SIGMOID", "TANH", "magnitude_split"]


def magnitude_split(x, *, data_format, segments):
    """The segment index, the offset within the segment and the sign of an input code.

    This is the part of the activation unit's stage 1 that depends on ``x`` alone: for
    ``mag = min(|x|, 2**(W-1) - 1)``, the index is ``mag``'s high ``log2(segments)`` bits and
    the offset its low bits. It is the one definition of that arithmetic;
    :class:`ActivationUnit` applies it to each of its candidate inputs.

    Parameters
    ----------
    x : Value
        A code in ``data_format``, ``signed(W)``.
    data_format : FixedFormat
    segments : int
        As :class:`ActivationUnit`'s (a power of two, checked by the unit).

    Returns
    -------
    idx : Value
        ``mag >> shift``, ``unsigned(log2(segments))`` (empty for a single segment).
    frac : Value
        ``mag``'s low ``shift`` bits, ``unsigned(shift)``.
    neg : Value
        ``x < 0``, 1 bit.
    """
    width = data_format.width
    idx_bits = segments.bit_length() - 1
    # Codes per segment is 2**shift; shift >= 1 because segments <= 2**(width-2).
    shift = width - 1 - idx_bits
    # The index is computed without the full-width negation -x, which would put a W-bit
    # carry chain and the clamp in front of the ROM address. For a negative x, |x| = ~x + 1:
    # its high bits are those of ~x plus the carry out of the low bits, 1 exactly when x's
    # low `shift` bits are all zero. The one x whose |x| does not fit in W-1 bits, min_code =
    # -2**(W-1) (~x's high bits all ones, carry 1), is clamped to max_code, whose high bits
    # are all ones: ~x's without the carry. So the index needs an adder of the idx_bits
    # index bits only, its carry a zero detect.
    x_low, x_high, neg = x[:shift], x[shift:width - 1], x[width - 1]
    low_zero = x_low == 0
    high_zero = x_high == 0
    idx = (Mux(neg, ~x_high, x_high) + (neg & low_zero & ~high_zero))[:idx_bits]
    # The offset only goes to a register, so it may take the full negation: the low bits of
    # |x|, or all ones for min_code (max_code's).
    minimum = neg & low_zero & high_zero
    frac = Mux(minimum, (1 << shift) - 1, Mux(neg, -x_low, x_low))[:shift]
    return idx, frac, neg


class ActivationUnit(wiring.Component):
    """Sigmoid or tanh of one fixed-point word per enabled cycle, pipelined in 5 stages.

    For an input code ``x`` the unit takes the magnitude ``mag = min(|x|, 2**(W-1) - 1)``,
    splits it into a segment index (the high bits) and an offset within the segment (the low
    bits), reads the segment's base value and slope from a ROM, interpolates, rounds half up,
    restores the sign by symmetry and saturates; see :mod:`lstm_ref.activation`, which this
    unit matches bit for bit.

    The unit may take its input from one of several candidates (``inputs`` > 1), selected
    by a one-hot ``select`` sampled with them: it splits every candidate (see
    :func:`magnitude_split`) and selects the finished segment index, so that in the RPU,
    whose candidates are registers, the selection is not in front of the index arithmetic.

    Stage 1 computes the magnitude, the segment index, the offset and the sign into
    registers, so that the ROM's address comes from a register: on an FPGA the ROM is a
    block RAM that the placer may put far from the unit's logic (S's critical path on the
    ULX3S at 84.7 MHz, 11.8 ns: the index's carry, then 4.8 ns of routing into the ROM's
    address). Stage 2 reads the ROM (a synchronous read port, so the ROM output register is
    the stage-2 register of base and slope). Stage 3 registers the ROM word (so that the ROM's
    access time and the multiplier are not in series); stage 4 multiplies the slope by the
    offset into a product register; stage 5 rounds, adds the base, restores the sign and
    saturates into the ``y`` register (issue 9: the multiplier and the adders after it are in
    separate stages). The offset, sign, function select and then the base travel alongside
    from stage to stage. All stages advance only in cycles with ``en`` high, so the RPU can
    stall the unit with the rest of the datapath: the sample ``(x, func)`` taken at an enabled
    clock edge appears on ``y`` after exactly :attr:`LATENCY` enabled edges, and while ``en``
    is low all state holds.

    Parameters
    ----------
    data_format : FixedFormat
        Format of ``x`` and ``y``; it needs at least one integer bit (``1.0`` must be
        representable).
    segments : int
        Number of table segments over the non-negative input range: a power of two from 1 to
        ``2**(data_format.width - 2)``. The ROM holds ``2 * segments`` words.
    inputs : int
        Number of candidate inputs, at least 1 (the default: a plain ``x`` and ``func``).

    Attributes
    ----------
    en : In(1)
        Pipeline enable: the registers advance only in cycles where it is 1.
    func : In(1), or In(inputs)
        Function select, :data:`~lstm_ref.activation.SIGMOID` (0) or
        :data:`~lstm_ref.activation.TANH` (1), sampled together with ``x``; with several
        inputs, bit ``k`` is candidate ``k``'s.
    x : In(signed(W)), or In(ArrayLayout(signed(W), inputs))
        Input code in ``data_format``; with several inputs, the candidates.
    select : In(inputs)
        Only with several inputs: one-hot, bit ``k`` takes candidate ``k`` (with its
        function). With no bit set the unit takes ``x = 0`` with SIGMOID. More than one bit
        set is not allowed (the candidates' splits would be OR'ed).
    y : Out(signed(W))
        Output code in ``data_format``: the activation of the sample taken :attr:`LATENCY`
        enabled edges ago (not defined before the first :attr:`LATENCY` enabled edges).
    LATENCY : int
        Enabled clock edges from a sample to its result on ``y``, 5.
    data_format : FixedFormat
        As given.
    segments : int
        As given.
    inputs : int
        As given.
    """

    LATENCY = 5

    def __init__(self, *, data_format, segments=DEFAULT_SEGMENTS, inputs=1):
        try:
            if not isinstance(data_format, FixedFormat):
                raise TypeError(f"data_format must be a FixedFormat, not {data_format!r}")
            if not is_integer(segments):
                raise TypeError(f"segments must be an int, not {segments!r}")
            if not is_integer(inputs):
                raise TypeError(f"inputs must be an int, not {inputs!r}")
            if inputs < 1:
                raise ValueError(f"inputs must be at least 1, not {inputs}")
            # Raises ValueError naming `segments` or `data format`, with the allowed range.
            check_segments(data_format, segments)
        except (TypeError, ValueError):
            # A unit that failed to construct cannot be used; don't let Amaranth warn that
            # it was "created but never used" on top of the error.
            self._MustUse__silence = True
            raise
        self.data_format = data_format
        self.segments = segments
        self.inputs = int(inputs)
        width = data_format.width
        if self.inputs == 1:
            ports = {"func": In(1), "x": In(signed(width))}
        else:
            ports = {"func":   In(self.inputs),
                     "x":      In(data.ArrayLayout(signed(width), self.inputs)),
                     "select": In(self.inputs)}
        super().__init__({"en": In(1), **ports, "y": Out(signed(width))})

    def elaborate(self, platform):
        m = Module()
        fmt = self.data_format
        width = fmt.width
        segments = self.segments
        idx_bits = segments.bit_length() - 1
        # Codes per segment is 2**shift; shift >= 1 because segments <= 2**(width-2).
        shift = width - 1 - idx_bits

        # ROM contents: for each function, the base t[k] and slope t[k+1] - t[k] of every
        # segment. Both are non-negative (the functions increase on [0, inf)), so they are
        # stored unsigned, sized to the largest value actually in the tables.
        tables = {func: activation_table(func, fmt, segments) for func in (SIGMOID, TANH)}
        words = []
        for func in (SIGMOID, TANH):            # address = {func, idx}: func is the MSB
            t = tables[func]
            for k in range(segments):
                words.append({"base": int(t[k]), "slope": int(t[k + 1] - t[k])})
        assert all(w["base"] >= 0 and w["slope"] >= 0 for w in words)
        base_bits = max(max(w["base"] for w in words).bit_length(), 1)
        slope_bits = max(max(w["slope"] for w in words).bit_length(), 1)
        word_layout = data.StructLayout({
            "base":  unsigned(base_bits),
            "slope": unsigned(slope_bits),
        })
        m.submodules.rom = rom = Memory(shape=word_layout, depth=2 * segments, init=words)
        rd = rom.read_port(domain="sync")

        # ---- Stage 1: magnitude, segment index, offset and sign, registered. ----
        # The index (and offset and sign) of every candidate input is computed before the
        # selection, from the candidate itself: the inputs are registers in the RPU (the
        # cell engine's buffer heads), so the path into the index register is a candidate
        # register, the index logic and one select LUT, and the select's fan-out (a route
        # flag driving every bit of every unit) is not in series with the index's carry (the
        # post-route critical path on the ULX3S of S, 80.0 MHz, and of the small test build,
        # 102.2 MHz, when the selection of x preceded the index).
        if self.inputs == 1:
            split = magnitude_split(self.x, data_format=fmt, segments=segments)
            func = self.func
        else:
            splits = [magnitude_split(self.x[k], data_format=fmt, segments=segments)
                      for k in range(self.inputs)]

            def pick(values):
                # One-hot AND-OR selection; no candidate selected gives zeros (x = 0,
                # SIGMOID), what the selection of the input code itself would give.
                values = list(values)
                return reduce(or_, (Mux(self.select[k], value, 0)
                                    for k, value in enumerate(values)))[:len(values[0])]

            split = [pick(values) for values in zip(*splits)]
            func = pick(self.func[k] for k in range(self.inputs))
        idx = Signal(unsigned(idx_bits))
        frac_i = Signal(unsigned(shift))
        neg_i = Signal()
        func_i = Signal()
        with m.If(self.en):
            m.d.sync += [idx.eq(split[0]), frac_i.eq(split[1]), neg_i.eq(split[2]),
                         func_i.eq(func)]

        # ---- Stage 2: the ROM read. ----
        # Address {func, idx}: func is the MSB (idx is empty when there is a single segment).
        # The read port's enable is the unit's enable, so a stall holds the ROM output like
        # every other pipeline register.
        m.d.comb += [
            rd.en.eq(self.en),
            rd.addr.eq(Cat(idx, func_i)),
        ]

        frac_r = Signal(unsigned(shift))
        neg_r = Signal()
        func_r = Signal()
        with m.If(self.en):
            m.d.sync += [
                frac_r.eq(frac_i),
                neg_r.eq(neg_i),
                func_r.eq(func_i),
            ]

        # ---- Stage 3: the ROM word registered. ----
        # The ROM's access time and the multiplier would not fit in one short clock period.
        slope = Signal(unsigned(slope_bits))
        base_w = Signal(unsigned(base_bits))
        frac_w = Signal(unsigned(shift))
        neg_w = Signal()
        func_w = Signal()
        with m.If(self.en):
            m.d.sync += [
                slope.eq(rd.data.slope),
                base_w.eq(rd.data.base),
                frac_w.eq(frac_r),
                neg_w.eq(neg_r),
                func_w.eq(func_r),
            ]

        # ---- Stage 4: multiply the slope by the offset. ----
        prod = Signal(unsigned(slope_bits + shift))
        base = Signal(unsigned(base_bits))
        neg_p = Signal()
        func_p = Signal()
        with m.If(self.en):
            m.d.sync += [
                prod.eq(slope * frac_w),
                base.eq(base_w),
                neg_p.eq(neg_w),
                func_p.eq(func_w),
            ]

        # ---- Stage 5: round half up, add the base, restore the sign, saturate. ----
        interp = Signal(unsigned(slope_bits + 1))
        # round_shift: (p + 2**(shift-1)) >> shift.
        m.d.comb += interp.eq((prod + (1 << (shift - 1))) >> shift)
        ymag = Signal(unsigned(max(base_bits, slope_bits) + 2))
        m.d.comb += ymag.eq(base + interp)

        # Signed and one bit wider than the widest candidate, so that neither the negation
        # nor 2**F - ymag can wrap before saturation.
        res_shape = signed(max(len(ymag), fmt.frac_bits + 1) + 2)
        res = Signal(res_shape)
        with m.If(~neg_p):
            m.d.comb += res.eq(ymag)
        with m.Elif(func_p == SIGMOID):
            m.d.comb += res.eq((1 << fmt.frac_bits) - ymag)   # sigmoid(-x) = 1 - sigmoid(x)
        with m.Else():
            m.d.comb += res.eq(-ymag)                         # tanh(-x) = -tanh(x)

        # With 1.0 representable the result is always in range, but saturating keeps the
        # unit's definition closed and identical to the model's.
        with m.If(self.en):
            with m.If(res > fmt.max_code):
                m.d.sync += self.y.eq(fmt.max_code)
            with m.Elif(res < fmt.min_code):
                m.d.sync += self.y.eq(fmt.min_code)
            with m.Else():
                m.d.sync += self.y.eq(res)

        return m
