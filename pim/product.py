"""A registered product: a multiplier and the register behind it, which a platform may map to
a hard multiplier block with its own output register."""

from amaranth.hdl import Module, Shape, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


__all__ = ["RegisteredProduct"]


class RegisteredProduct(wiring.Component):
    """``p`` is ``a * b`` of the last cycle in which ``en`` was 1 (one cycle of latency), or
    with ``input_registers`` of the cycle before it (two).

    A multiplier followed by its register, as one component so that a platform can map
    both to a hard block: an FPGA's DSP multiplier has an output register of its own, and
    with it the product leaves the block from a flip-flop instead of crossing the fabric
    between the multiplier and a register in logic; with ``input_registers`` the operands are
    registered first, as a DSP block's input registers do, so that the block's multiply is
    not in series with the routes that bring its operands. ``elaborate`` asks the platform for
    ``platform.get_registered_product(self)`` when it has that method (as Amaranth's
    :class:`~amaranth.lib.cdc.FFSynchronizer` asks for ``get_ff_sync``), and otherwise
    describes the multiplier and a register of the ``sync`` domain; the platform's version
    must behave the same, cycle for cycle and bit for bit.

    Parameters
    ----------
    a_shape, b_shape : Shape
        The operands' shapes (signed or unsigned, 1 bit or more).
    input_registers : bool
        Register ``a`` and ``b`` (loaded, like the product, in cycles when ``en`` is 1)
        before they are multiplied (default False).

    Attributes
    ----------
    en : In(1)
        The registers are loaded in cycles when ``en`` is 1 and hold otherwise.
    a : In(a_shape)
    b : In(b_shape)
    p : Out(Shape)
        The product: as wide as ``a`` and ``b`` together, signed if either operand is (it
        resets to 0 with the ``sync`` domain, as do the input registers).
    latency : int
        Enabled cycles from the operands to their product on ``p``: 1, or 2 with
        ``input_registers``.
    """

    def __init__(self, *, a_shape, b_shape, input_registers=False):
        shapes = []
        for name, shape in (("a_shape", a_shape), ("b_shape", b_shape)):
            try:
                shape = Shape.cast(shape)
            except TypeError as error:
                self._MustUse__silence = True
                raise TypeError(f"{name} must be a shape, not {shape!r}") from error
            if shape.width < 1:
                self._MustUse__silence = True
                raise ValueError(f"{name} must be at least 1 bit wide, not {shape!r}")
            shapes.append(shape)
        self.a_shape, self.b_shape = shapes
        self.input_registers = bool(input_registers)
        self.latency = 2 if self.input_registers else 1
        signed = self.a_shape.signed or self.b_shape.signed
        self.p_shape = Shape(self.a_shape.width + self.b_shape.width, signed)
        super().__init__({
            "en": In(1),
            "a": In(self.a_shape),
            "b": In(self.b_shape),
            "p": Out(self.p_shape),
        })

    def elaborate(self, platform):
        if hasattr(platform, "get_registered_product"):
            return platform.get_registered_product(self)
        return self.elaborate_generic()

    def elaborate_generic(self):
        """The multiplier and its register in plain logic (what a platform without
        ``get_registered_product`` gets, and what a platform's version may fall back to for
        operands its block cannot take)."""
        m = Module()
        a, b = self.a, self.b
        if self.input_registers:
            a, b = Signal(self.a_shape, name="a_reg"), Signal(self.b_shape, name="b_reg")
            with m.If(self.en):
                m.d.sync += [a.eq(self.a), b.eq(self.b)]
        with m.If(self.en):
            m.d.sync += self.p.eq(a * b)
        return m
