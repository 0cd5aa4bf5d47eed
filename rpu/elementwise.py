"""Element-wise unit: ``y = a*b + c*d``, narrowed to the data format.

The cell update ``c_t = f * c_{t-1} + i * g`` and the hidden output ``h_t = o * tanh(c_t)``
(with ``c = d = 0``) are both this operation; the interconnect decides which operands feed it.
"""

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .arith import narrow


__all__ = ["ElementwiseUnit"]


class ElementwiseUnit(wiring.Component):
    """``y = narrow(a*b + c*d)``: two products at full precision, their exact sum rounded half
    up by ``frac_bits`` and saturated (see :func:`lstm_ref.fixedpoint.narrow`).

    A 2-stage pipeline (products, then sum and narrowing) that advances only while ``en``
    is 1: operands presented in an enabled cycle give ``y`` after 2 enabled clock edges.

    Parameters
    ----------
    data_format : lstm_ref.fixedpoint.FixedFormat
        Format of every operand and of ``y``.

    Attributes
    ----------
    en : In(1)
    a, b, c, d : In(signed(width))
    y : Out(signed(width))
    saturated : Out(1)
        Narrowing saturated the value now on ``y``.
    """

    LATENCY = 2

    def __init__(self, *, data_format):
        self._format = data_format
        width = data_format.width
        super().__init__({
            "en": In(1),
            "a": In(signed(width)),
            "b": In(signed(width)),
            "c": In(signed(width)),
            "d": In(signed(width)),
            "y": Out(signed(width)),
            "saturated": Out(1),
        })

    def elaborate(self, platform):
        fmt = self._format
        m = Module()
        ab = Signal(signed(2 * fmt.width))
        cd = Signal(signed(2 * fmt.width))
        narrowed, saturated = narrow(ab + cd, fmt.frac_bits, fmt)
        with m.If(self.en):
            m.d.sync += [
                ab.eq(self.a * self.b),
                cd.eq(self.c * self.d),
                self.y.eq(narrowed),
                self.saturated.eq(saturated),
            ]
        return m
