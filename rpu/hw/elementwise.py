"""Element-wise unit: ``y = a*b + c*d``, narrowed to the data or the cell format.

The cell update ``c_t = f * c_{t-1} + i * g`` and the hidden output ``h_t = o * tanh(c_t)``
(with ``c = d = 0``) are both this operation; the interconnect decides which operands feed it.
"""

from amaranth.hdl import Module, Signal, Mux, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from pim.arith import narrow
from pim.product import RegisteredProduct


__all__ = ["ElementwiseUnit"]


class ElementwiseUnit(wiring.Component):
    """Two products at full precision, their exact sum rounded half up and saturated (see
    :func:`lstm_ref.fixedpoint.narrow`):

    * ``cell`` = 0: ``y = narrow(a*b + c*d, data_frac_bits)`` in the data format;
    * ``cell`` = 1 (the cell update, ``b`` = c_{t-1} in the cell format):
      ``y = narrow(a*b * 2**s + c*d, data_frac_bits + s)`` in the cell format, with
      ``s = data_frac_bits - cell_frac_bits``.

    A 3-stage pipeline (operands registered, partial products, then sum and narrowing) that
    advances only while ``en`` is 1: operands presented in an enabled cycle give ``y`` after 3
    enabled clock edges. The operand registers keep the interconnect's routing in front of the
    units out of the multipliers' paths; each product is computed as two partial products
    (``b`` and ``d`` split in a low, unsigned, and a high, signed, half), which the sum stage
    adds, so that no multiplier is wider than ``width x width/2``.

    Parameters
    ----------
    data_format : lstm_ref.fixedpoint.FixedFormat
        Format of the operands (but ``b`` in cell mode) and of ``y`` outside cell mode.
    cell_format : lstm_ref.fixedpoint.FixedFormat, optional
        Format of the cell state (default: the data format).
    split_products : bool
        Two partial products per product (default), or one whole product each, for an
        FPGA's DSP blocks: a :class:`~pim.product.RegisteredProduct`, which a platform may
        map to the block and its output register. The latency and the results are the same.

    Attributes
    ----------
    en : In(1)
    cell : In(1)
        Cell-update mode.
    a, b, c, d : In(signed(width))
    y : Out(signed(width))
    saturated : Out(1)
        Narrowing saturated the value now on ``y``.
    """

    LATENCY = 3

    def __init__(self, *, data_format, cell_format=None, split_products=True):
        # Two half-width partial products per product, or one whole (for FPGA DSP blocks).
        self.split_products = bool(split_products)
        cell_format = data_format if cell_format is None else cell_format
        if cell_format.width != data_format.width or \
                cell_format.frac_bits > data_format.frac_bits:
            raise ValueError(f"cell_format must have the data width {data_format.width} and "
                             f"at most {data_format.frac_bits} fractional bits, not "
                             f"{cell_format}")
        self._format = data_format
        self._cell_format = cell_format
        width = data_format.width
        super().__init__({
            "en": In(1),
            "cell": In(1),
            "a": In(signed(width)),
            "b": In(signed(width)),
            "c": In(signed(width)),
            "d": In(signed(width)),
            "y": Out(signed(width)),
            "saturated": Out(1),
        })

    def elaborate(self, platform):
        fmt, cell_fmt = self._format, self._cell_format
        shift = fmt.frac_bits - cell_fmt.frac_bits
        m = Module()
        a, b, c, d = (Signal(signed(fmt.width), name=name) for name in "abcd")
        operand_cell = Signal()
        half = fmt.width // 2 if self.split_products else fmt.width
        # a*b = ab_lo + ab_hi * 2**half (and c*d likewise), each shifted in cell mode.
        ab_lo = Signal(signed(fmt.width + half + 1 + shift))
        ab_hi = Signal(signed(2 * fmt.width - half + shift))
        cd_lo = Signal(signed(fmt.width + half + 1))
        cd_hi = Signal(signed(2 * fmt.width - half))
        cell = Signal()
        total = Signal(signed(2 * fmt.width + shift + 1))
        m.d.comb += total.eq(ab_lo + (ab_hi << half) + cd_lo + (cd_hi << half))
        narrowed, saturated = narrow(total, fmt.frac_bits, fmt.width)
        cell_narrowed, cell_saturated = narrow(total, fmt.frac_bits + shift, cell_fmt.width)
        with m.If(self.en):
            m.d.sync += [
                a.eq(self.a), b.eq(self.b), c.eq(self.c), d.eq(self.d),
                operand_cell.eq(self.cell),
                cell.eq(operand_cell),
                self.y.eq(Mux(cell, cell_narrowed, narrowed)),
                self.saturated.eq(Mux(cell, cell_saturated, saturated)),
            ]
        if self.split_products:
            with m.If(self.en):
                m.d.sync += [
                    # In cell mode a*b (data x cell fractional bits) is aligned with c*d.
                    ab_lo.eq(Mux(operand_cell, (a * b[:half]) << shift, a * b[:half])),
                    ab_hi.eq(Mux(operand_cell, (a * b[half:].as_signed()) << shift,
                                 a * b[half:].as_signed())),
                    cd_lo.eq(c * d[:half]),
                    cd_hi.eq(c * d[half:].as_signed()),
                ]
        else:
            # Whole products, each with its register (a platform may map both to a hard
            # multiplier with its own output register, see pim.product); the cell mode's
            # alignment follows the register (by nothing with the default formats).
            m.submodules.ab = ab = RegisteredProduct(a_shape=a.shape(), b_shape=b.shape())
            m.submodules.cd = cd = RegisteredProduct(a_shape=c.shape(), b_shape=d.shape())
            m.d.comb += [
                ab.en.eq(self.en), ab.a.eq(a), ab.b.eq(b),
                cd.en.eq(self.en), cd.a.eq(c), cd.b.eq(d),
                ab_lo.eq(Mux(cell, ab.p << shift, ab.p) if shift else ab.p),
                cd_lo.eq(cd.p),
            ]
        return m
