"""The ECP5's hard multiplier (MULT18X18D) with its output register, for
:class:`pim.product.RegisteredProduct`.

Yosys maps a multiplier to a MULT18X18D but leaves the register behind it in the fabric, and
nextpnr then times the block as combinational: each product crosses the fabric twice in one
cycle, from the operands' flip-flops to the block and from the block to the product's
flip-flops. Measured on S at 100 MHz (ULX3S 85F, seed 2), that was the critical path: 12.35 ns,
of which 3.9 ns in the block and 7.9 ns of routing. Instantiated with ``REG_OUTPUT_CLK``, the
product's register is the block's own; nextpnr times the block with its registered-output
timing (``MULT18X18D_REGS_OUTPUT``), so one of the two fabric crossings leaves the path. The
latency is unchanged (one cycle), as are the product's bits.

With ``input_registers`` the operands' registers are the block's own input registers too
(``REG_INPUTA_CLK``, ``REG_INPUTB_CLK``): the operands' routes then end at a register in the
block instead of in front of its multiply (3.5 ns of setup in nextpnr's timing without them).
Measured on S at 100 MHz (seed 2), with the lanes' weight words leaving the block RAMs'
output registers, that was the critical path: 10.4 ns, a lane's weight word through 5.9 ns
of routing to its MULT18X18D across the device, then the block's 3.5 ns setup.
"""

from amaranth.hdl import ClockSignal, Elaboratable, Instance, Module, ResetSignal


__all__ = ["ECP5RegisteredProduct", "OPERAND_BITS", "fits_mult18x18"]

#: Bits of each of a MULT18X18D's operands (signed or unsigned, by SIGNEDA and SIGNEDB).
OPERAND_BITS = 18


def fits_mult18x18(product):
    """Whether a :class:`~pim.product.RegisteredProduct`'s operands fit one MULT18X18D."""
    return all(shape.width <= OPERAND_BITS
               for shape in (product.a_shape, product.b_shape))


class ECP5RegisteredProduct(Elaboratable):
    """``product`` (a :class:`~pim.product.RegisteredProduct` whose operands fit, see
    :func:`fits_mult18x18`) as one MULT18X18D: the operands go in each extended to 18 bits
    (with its sign if it is signed, SIGNEDA/SIGNEDB telling the block), into the input
    registers with ``input_registers``, and the product comes out of the output register;
    every register is loaded by ``en`` (CE0) and cleared by the ``sync`` domain's reset
    (RST0, synchronous), on the ``sync`` clock (CLK0)."""

    def __init__(self, product):
        if not fits_mult18x18(product):
            self._MustUse__silence = True
            raise ValueError(f"operands of {product.a_shape} and {product.b_shape} do not fit "
                             f"a MULT18X18D ({OPERAND_BITS} bits each)")
        self.product = product

    def elaborate(self, platform):
        product = self.product
        m = Module()
        ports = {}
        for name, value, shape in (("A", product.a, product.a_shape),
                                   ("B", product.b, product.b_shape)):
            for bit in range(OPERAND_BITS):
                ports[f"i_{name}{bit}"] = (value[bit] if bit < shape.width
                                           else value[-1] if shape.signed else 0)
        ports.update({f"o_P{bit}": product.p[bit] for bit in range(len(product.p))})
        inputs = "CLK0" if product.input_registers else "NONE"
        input_registers = {}
        if product.input_registers:
            input_registers = {f"p_REG_INPUT{name}_{port}": value for name in "AB"
                               for port, value in (("CE", "CE0"), ("RST", "RST0"))}
        m.submodules.mult = Instance(
            "MULT18X18D",
            p_REG_INPUTA_CLK=inputs, p_REG_INPUTB_CLK=inputs, p_REG_INPUTC_CLK="NONE",
            **input_registers,
            p_REG_PIPELINE_CLK="NONE",
            p_REG_OUTPUT_CLK="CLK0", p_REG_OUTPUT_CE="CE0", p_REG_OUTPUT_RST="RST0",
            p_RESETMODE="SYNC", p_GSR="ENABLED",
            p_CAS_MATCH_REG="FALSE", p_SOURCEB_MODE="B_SHIFT", p_MULT_BYPASS="DISABLED",
            p_HIGHSPEED_CLK="NONE", p_CLK0_DIV="ENABLED",
            i_SIGNEDA=int(product.a_shape.signed), i_SIGNEDB=int(product.b_shape.signed),
            i_SOURCEA=0, i_SOURCEB=0,
            i_CLK0=ClockSignal("sync"), i_CE0=product.en,
            i_RST0=ResetSignal("sync", allow_reset_less=True),
            i_CLK1=0, i_CLK2=0, i_CLK3=0, i_CE1=1, i_CE2=1, i_CE3=1,
            i_RST1=0, i_RST2=0, i_RST3=0,
            **{f"i_C{bit}": 0 for bit in range(OPERAND_BITS)},
            **ports)
        return m
