"""The ECP5's block RAM with its output register (:mod:`rpu.fpga.bram`): DP16KD blocks with
``REGMODE_B "OUTREG"`` for a :class:`pim.sram.SRAM` with ``output_register``.

Yosys's DP16KD cell has no behaviour, so the model below is written here from Lattice's
description of the block (FPGA-TN-02204, "ECP5 and ECP5-5G Memory Usage Guide"): in a mode of
``w`` data bits the word address is on the top ``log2(16384 / w)`` address pins (pins 0 and 1
are byte write enables in the 18-bit mode); port A writes DIA on a CLKA edge with CEA and WEA;
port B latches the addressed word on a CLKB edge with CEB, and with ``REGMODE_B "OUTREG"``
its output register takes the latched word on a CLKB edge with OCEB. The model refuses any
other configuration. The Verilog Amaranth emits for the board's platform runs in Icarus
Verilog against it, and what it reads is compared with the Python model of
:class:`pim.sram.SRAM`'s documented behaviour in ``tests/pim/test_sram.py``.
"""

import random

import pytest
from amaranth.back import verilog
from amaranth.hdl import Shape, signed
from amaranth.lib import data

from pim.sram import SRAM
from rpu.fpga.boards import board
from rpu.fpga.bram import ECP5RegisteredSRAM, dp16kd_shape
from rpu.fpga.fit import ebr_blocks
from tests.fpga.test_dsp import run_icarus
from tests.pim.test_sram import expected_reads, sram_vectors


def _dp16kd_model():
    ports = ", ".join(
        [f"{name}{port}{k}" for port in "AB" for name, count in (("DI", 18), ("AD", 14))
         for k in range(count)]
        + [f"{name}{port}" for port in "AB" for name in ("CE", "OCE", "CLK", "WE", "RST")]
        + [f"CS{port}{k}" for port in "AB" for k in range(3)])
    outputs = ", ".join(f"DO{port}{k}" for port in "AB" for k in range(18))

    def bus(name, count):
        return "{" + ", ".join(f"{name}{k}" for k in reversed(range(count))) + "}"

    return f"""
module DP16KD({ports}, {outputs});
  parameter DATA_WIDTH_A = 18, DATA_WIDTH_B = 18;
  parameter REGMODE_A = "NOREG", REGMODE_B = "NOREG";
  parameter RESETMODE = "SYNC", ASYNC_RESET_RELEASE = "SYNC";
  parameter CSDECODE_A = "0b000", CSDECODE_B = "0b000";
  parameter WRITEMODE_A = "NORMAL", WRITEMODE_B = "NORMAL";
  parameter GSR = "ENABLED";
  input {ports};
  output {outputs};
  localparam W = DATA_WIDTH_A;
  localparam ROW_BITS = W == 18 ? 10 : W == 9 ? 11 : W == 4 ? 12 : W == 2 ? 13 : 14;
  wire [13:0] ada = {bus("ADA", 14)};
  wire [13:0] adb = {bus("ADB", 14)};
  wire [17:0] dia = {bus("DIA", 18)};
  wire [ROW_BITS-1:0] row_a = ada[13:14-ROW_BITS];
  wire [ROW_BITS-1:0] row_b = adb[13:14-ROW_BITS];
  reg [W-1:0] mem [0:(1<<ROW_BITS)-1];
  reg [W-1:0] latch = 0, out = 0;
  wire [17:0] dob = out;
  assign {bus("DOB", 18)} = dob;
  assign {bus("DOA", 18)} = 18'b0;
  integer i;
  initial begin
    if (DATA_WIDTH_B != W || REGMODE_A != "NOREG" || REGMODE_B != "OUTREG"
        || RESETMODE != "SYNC" || CSDECODE_A != "0b000" || CSDECODE_B != "0b000") begin
      $display("unmodelled DP16KD configuration"); $fatal(1);
    end
    for (i = 0; i < (1 << ROW_BITS); i = i + 1) mem[i] = 0;
  end
  always @(posedge CLKA)
    if (CEA && WEA && !(W == 18 && !(ADA0 && ADA1))) mem[row_a] <= dia[W-1:0];
  always @(posedge CLKB)
    if (RSTB) begin latch <= 0; out <= 0; end
    else begin
      if (OCEB) out <= latch;
      if (CEB) latch <= mem[row_b];
    end
endmodule
"""


def _testbench(sram, width, vectors):
    lines = "\n".join(
        f"    rd_en = {r}; rd_addr = {ra}; wr_en = {w}; wr_addr = {wa}; wr_data = {width}'d{d};"
        f" #1 clk = 1; #1 clk = 0; $display(\"%0d\", rd_data);"
        for r, ra, w, wa, d in vectors)
    abits = sram.address_bits
    return f"""
module tb;
  reg clk = 0, rst = 0, rd_en = 0, wr_en = 0;
  reg [{abits - 1}:0] rd_addr = 0, wr_addr = 0;
  reg [{width - 1}:0] wr_data = 0;
  wire [{width - 1}:0] rd_data;
  top dut(.clk(clk), .rst(rst), .rd_en(rd_en), .rd_addr(rd_addr), .wr_en(wr_en),
          .wr_addr(wr_addr), .wr_data(wr_data), .rd_data(rd_data));
  initial begin
{lines}
    $finish;
  end
endmodule
"""


# (depth, shape, DP16KD mode bits, blocks): S's lane memory (2 blocks of 2048 x 9), a small
# one (1024 x 18), 4-bit and 2-bit modes, and a lane word of two weights.
SHAPES = [(1544, signed(16), 9, 2), (8, signed(16), 18, 1), (3000, 4, 4, 1),
          (5000, 3, 2, 2), (700, data.ArrayLayout(signed(8), 2), 18, 1)]


@pytest.mark.parametrize("write_register", [False, True])
@pytest.mark.parametrize("depth, shape, bits, blocks", SHAPES)
def test_dp16kd_with_output_register_reads_what_sram_documents(tmp_path, depth, shape, bits,
                                                                blocks, write_register):
    sram = SRAM(depth=depth, shape=shape, output_register=True,
                write_register=write_register)
    width = Shape.cast(sram.shape).width
    assert dp16kd_shape(depth, width)[::2] == (bits, blocks) and \
        blocks == ebr_blocks(depth, width)
    rtl = verilog.convert(sram, platform=board("ulx3s-85f").make_platform(), name="top")
    assert rtl.count("DP16KD #(") == blocks and 'REGMODE_B("OUTREG")' in rtl
    vectors = sram_vectors(random.Random(depth), sram, width, 400)
    got = run_icarus(tmp_path, rtl, _dp16kd_model(), _testbench(sram, width, vectors))
    assert got == expected_reads(sram, vectors)


@pytest.mark.parametrize("depth, width", [(100, 30), (20000, 1)])
def test_shapes_that_would_take_more_blocks_are_left_to_yosys(depth, width):
    # 100 x 30: one 512 x 36 pseudo-dual-port block, where side by side DP16KDs take two;
    # 20000 x 1: deeper than one block.
    assert dp16kd_shape(depth, width) is None
    sram = SRAM(depth=depth, shape=width, output_register=True)
    with pytest.raises(ValueError, match="is not built of DP16KD blocks"):
        ECP5RegisteredSRAM(sram)
    rtl = verilog.convert(sram, platform=board("ulx3s-85f").make_platform(), name="top")
    assert "DP16KD" not in rtl


def test_sram_without_output_register_is_left_to_yosys():
    sram = SRAM(depth=1024, shape=16)
    rtl = verilog.convert(sram, platform=board("ulx3s-85f").make_platform(), name="top")
    assert "DP16KD" not in rtl
