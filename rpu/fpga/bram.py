"""The ECP5's block RAM (DP16KD) with its output register, for a :class:`pim.sram.SRAM` with
``output_register``.

Yosys maps a memory to DP16KD blocks without their output registers (``REGMODE "NOREG"``): the
word read leaves the block 5.8 ns after the clock edge (nextpnr's timing for a -6 part), and a
register behind it in the fabric is wherever the placer puts it. Measured on S at 100 MHz
(ULX3S 85F, seed 2) with the MAC lanes' products in the DSP blocks' output registers, that was
the critical path: 11.8 ns from a lane's weight memory through 5.6 ns of routing to the
register of the weight word, placed beside the lane's DSP block. With ``REGMODE_B "OUTREG"``
the block's own register is that register: the word leaves it 0.95 ns after the edge
(YosysHQ/nextpnr#422), at the same cycle as before.

A RAM is built from DP16KD blocks side by side, each holding some bits of every word (port A
writes, port B reads), only when that takes no more blocks than the fit check counts for it
(:func:`rpu.fpga.fit.ebr_blocks`, which also knows the 36-bit pseudo-dual-port shape) and no
address decoding; otherwise it is left to Yosys, with the output register in the fabric.
"""

from math import ceil

from amaranth.hdl import ClockSignal, Elaboratable, Instance, Module, ResetSignal, Shape, Value

from rpu.fpga.fit import EBR_SHAPES, ebr_blocks


__all__ = ["ECP5RegisteredSRAM", "dp16kd_shape", "ADDRESS_PINS"]

#: Address pins of a DP16KD port; a mode with 2**k rows uses the top k.
ADDRESS_PINS = 14

#: The DP16KD's true-dual-port shapes: (data bits, rows).
DP16KD_SHAPES = tuple((width, rows) for width, rows in EBR_SHAPES if width <= 18)


def dp16kd_shape(depth, width):
    """``(data bits, rows, blocks)``: the DP16KD mode and number of blocks, side by side,
    that hold a ``depth`` x ``width`` RAM, or None when that would take more blocks than
    :func:`rpu.fpga.fit.ebr_blocks` counts (or the RAM is deeper than one block)."""
    options = [(ceil(width / bits), -bits, rows) for bits, rows in DP16KD_SHAPES
               if rows >= depth]
    if not options:
        return None
    blocks, bits, rows = min(options)
    if blocks != ebr_blocks(depth, width):
        return None
    return -bits, rows, blocks


class ECP5RegisteredSRAM(Elaboratable):
    """``sram`` (a :class:`~pim.sram.SRAM` with ``output_register``, whose shape
    :func:`dp16kd_shape` accepts) as DP16KD blocks with ``REGMODE_B "OUTREG"``.

    Port A writes ``wr_data`` at ``wr_addr`` when ``wr_en`` is 1 and the address is below the
    depth (from the write port's registers with ``write_register``). Port B reads at
    ``rd_addr``: its clock enable (CEB) and its output register's (OCEB) are ``rd_en``, its
    reset (RSTB, synchronous) the ``sync`` domain's. The blocks' rows beyond the depth are
    never written and hold zero, so reads there return zero, as :class:`~pim.sram.SRAM`
    specifies. A read of the address written in the same cycle is not defined; no such read
    is used: the lanes' weights are written only while the RPU is idle, the x memory is
    read at another address than the one written, an h is read after it is written (the
    schedule's margins), and a FIFO reads only words written before.
    """

    def __init__(self, sram):
        width = Shape.cast(sram.shape).width
        if sram.macro or not sram.output_register or dp16kd_shape(sram.depth, width) is None:
            self._MustUse__silence = True
            raise ValueError(f"a {sram.depth} x {width} SRAM (macro {sram.macro}, output "
                             f"register {sram.output_register}) is not built of DP16KD "
                             f"blocks with their output registers")
        self.sram = sram

    def elaborate(self, platform):
        sram = self.sram
        m = Module()
        rd_data = Value.cast(sram.rd_data)
        bits, rows, blocks = dp16kd_shape(sram.depth, len(rd_data))
        row_bits = (rows - 1).bit_length()
        low = ADDRESS_PINS - row_bits

        def address(port, value):
            pins = {}
            for pin in range(ADDRESS_PINS):
                bit = pin - low
                # In the 18-bit mode pins 0 and 1 are the byte write enables.
                pins[f"i_AD{port}{pin}"] = (value[bit] if 0 <= bit < len(value)
                                            else int(bits == 18 and pin < 2))
            return pins

        wr_addr, wr_data, wr_en = sram.write_port(m)
        wr_data = Value.cast(wr_data)
        # Registered, the enable is already checked against the depth.
        write = wr_en if sram.write_register else wr_en & (wr_addr < sram.depth)
        for block in range(blocks):
            first = block * bits
            count = min(bits, len(rd_data) - first)
            data = {}
            for pin in range(18):
                data[f"i_DIA{pin}"] = wr_data[first + pin] if pin < count else 0
                data[f"i_DIB{pin}"] = 0
                if pin < count:
                    data[f"o_DOB{pin}"] = rd_data[first + pin]
            m.submodules[f"block{block}"] = Instance(
                "DP16KD",
                p_DATA_WIDTH_A=bits, p_DATA_WIDTH_B=bits,
                p_REGMODE_A="NOREG", p_REGMODE_B="OUTREG",
                p_RESETMODE="SYNC", p_ASYNC_RESET_RELEASE="SYNC",
                p_CSDECODE_A="0b000", p_CSDECODE_B="0b000",
                p_WRITEMODE_A="NORMAL", p_WRITEMODE_B="NORMAL", p_GSR="AUTO",
                i_CLKA=ClockSignal("sync"), i_CEA=1, i_OCEA=1, i_WEA=write, i_RSTA=0,
                i_CSA0=0, i_CSA1=0, i_CSA2=0,
                i_CLKB=ClockSignal("sync"), i_CEB=sram.rd_en, i_OCEB=sram.rd_en, i_WEB=0,
                i_RSTB=ResetSignal("sync", allow_reset_less=True),
                i_CSB0=0, i_CSB1=0, i_CSB2=0,
                **address("A", wr_addr), **address("B", sram.rd_addr), **data)
        return m
