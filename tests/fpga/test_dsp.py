"""The ECP5's registered multiplier (:mod:`rpu.fpga.dsp`): a MULT18X18D with its output
register (and its input registers), for :class:`pim.product.RegisteredProduct` on the ECP5
boards.

Yosys ships no simulation model of the MULT18X18D, so the one below is written here from
Lattice's description of the block (FPGA-TN-02205, "ECP5 and ECP5-5G sysDSP Usage Guide"):
A and B are 18 bits, signed or unsigned by SIGNEDA and SIGNEDB; P is their 36-bit product;
with REG_OUTPUT_CLK = "CLK0" the product is registered on CLK0, loaded while CE0 is 1 and
cleared by RST0 (RESETMODE "SYNC": at the clock edge); with REG_INPUTA_CLK and
REG_INPUTB_CLK = "CLK0" (CE0, RST0) A and B are registered the same way before the multiply
(SIGNEDA and SIGNEDB are constants here). It refuses any other register mode,
so that a change of the instance's configuration cannot pass unnoticed. The Verilog that
Amaranth emits for the board's platform then runs in Icarus Verilog against that model, and
its products are compared with Python's.
"""

import random
import subprocess
from types import SimpleNamespace

import pytest
from amaranth.back import verilog
from amaranth.hdl import signed, unsigned

from pim.product import RegisteredProduct
from rpu.config import RPUConfig
from rpu.fpga.boards import BoardTop, board
from rpu.fpga.build import FORCE_BLOCK_RAM
from rpu.fpga.dsp import ECP5RegisteredProduct, fits_mult18x18
from rpu.sim.icarus import find_icarus
from tests.helpers import require_simulator
from tests.pim.test_product import SHAPES, random_code


def _mult18x18d_model(*, input_registers=False):
    ports = ([f"A{k}" for k in range(18)] + [f"B{k}" for k in range(18)]
             + [f"C{k}" for k in range(18)] + ["SIGNEDA", "SIGNEDB", "SOURCEA", "SOURCEB"]
             + [f"{name}{k}" for name in ("CLK", "CE", "RST") for k in range(4)])
    outputs = [f"P{k}" for k in range(36)]
    a = ", ".join(f"A{k}" for k in reversed(range(18)))
    b = ", ".join(f"B{k}" for k in reversed(range(18)))
    p = ", ".join(f"P{k}" for k in reversed(range(36)))
    parameters = {
        **{f"REG_INPUT{name}_{port}": value for name in "AB"
           for port, value in (("CLK", "CLK0" if input_registers else "NONE"),
                               ("CE", "CE0"), ("RST", "RST0"))},
        "REG_INPUTC_CLK": "NONE",
        "REG_PIPELINE_CLK": "NONE", "REG_OUTPUT_CLK": "CLK0", "REG_OUTPUT_CE": "CE0",
        "REG_OUTPUT_RST": "RST0", "RESETMODE": "SYNC", "GSR": "ENABLED",
        "CAS_MATCH_REG": "FALSE", "SOURCEB_MODE": "B_SHIFT", "MULT_BYPASS": "DISABLED",
        "HIGHSPEED_CLK": "NONE", "CLK0_DIV": "ENABLED"}
    checks = "\n".join(
        f'    if ({name} != "{value}") begin $display("unmodelled {name}=%s", {name}); '
        f'$fatal(1); end' for name, value in parameters.items())
    declarations = "".join(f'  parameter {name} = "{value}";\n'
                           for name, value in parameters.items())
    return f"""
module MULT18X18D({", ".join(ports + outputs)});
{declarations}
  input {", ".join(ports)};
  output {", ".join(outputs)};
  wire [17:0] a = {{{a}}};
  wire [17:0] b = {{{b}}};
  wire [35:0] a_ext = {{{{18{{SIGNEDA & a[17]}}}}, a}};
  wire [35:0] b_ext = {{{{18{{SIGNEDB & b[17]}}}}, b}};
  reg [35:0] p = 0;
  assign {{{p}}} = p;
  initial begin
{checks}
  end
  reg [35:0] a_reg = 0, b_reg = 0;
  wire [35:0] a_in = {"a_reg" if input_registers else "a_ext"};
  wire [35:0] b_in = {"b_reg" if input_registers else "b_ext"};
  always @(posedge CLK0)
    if (RST0) begin p <= 0; a_reg <= 0; b_reg <= 0; end
    else if (CE0) begin p <= a_in * b_in; a_reg <= a_ext; b_reg <= b_ext; end
endmodule
"""


def _testbench(dut, vectors):
    """A testbench applying (a, b, en, rst) per cycle and printing p after each edge."""
    width = len(dut.p)
    lines = []
    for a, b, en, rst in vectors:
        lines.append(f"    a = {dut.a_shape.width}'d{a % (1 << dut.a_shape.width)}; "
                     f"b = {dut.b_shape.width}'d{b % (1 << dut.b_shape.width)}; "
                     f"en = {int(en)}; rst = {int(rst)};\n"
                     f"    #1 clk = 1; #1 clk = 0; $display(\"%0d\", p);")
    newline = "\n"
    return f"""
module tb;
  reg clk = 0, rst = 0, en = 0;
  reg [{dut.a_shape.width - 1}:0] a = 0;
  reg [{dut.b_shape.width - 1}:0] b = 0;
  wire [{width - 1}:0] p;
  top dut(.clk(clk), .rst(rst), .en(en), .a(a), .b(b), .p(p));
  initial begin
{newline.join(lines)}
    $finish;
  end
endmodule
"""


def run_icarus(tmp_path, rtl, model, testbench):
    """The integers module ``tb`` of ``testbench`` prints, run in Icarus Verilog with the
    design's ``rtl`` and a primitive's ``model``."""
    require_simulator("Icarus Verilog", find_icarus)
    for name, text in (("top.v", rtl), ("model.v", model), ("tb.v", testbench)):
        (tmp_path / name).write_text(text)
    subprocess.run(["iverilog", "-g2012", "-o", "sim", "-s", "tb", "tb.v", "top.v", "model.v"],
                   cwd=tmp_path, check=True)
    run = subprocess.run(["vvp", "-n", "sim"], cwd=tmp_path, check=True,
                         capture_output=True, text=True)
    return [int(line) for line in run.stdout.split()]


@pytest.mark.parametrize("a_shape, b_shape", [shapes for shapes in SHAPES
                                              if max(s.width for s in shapes) <= 18])
@pytest.mark.parametrize("input_registers", [False, True])
def test_mult18x18d_matches_python_products(tmp_path, a_shape, b_shape, input_registers):
    dut = RegisteredProduct(a_shape=a_shape, b_shape=b_shape,
                            input_registers=input_registers)
    platform = board("ulx3s-85f").make_platform()
    rtl = verilog.convert(dut, platform=platform, name="top")
    assert "MULT18X18D" in rtl
    rng = random.Random(7)
    vectors = [(random_code(rng, a_shape), random_code(rng, b_shape), rng.random() < 0.7,
                rng.random() < 0.05) for _ in range(200)]
    got = run_icarus(tmp_path, rtl, _mult18x18d_model(input_registers=input_registers),
                     _testbench(dut, vectors))
    expected, p, operands = [], 0, (0, 0)
    for a, b, en, rst in vectors:
        if rst:
            p, operands = 0, (0, 0)
        elif en and input_registers:
            p, operands = operands[0] * operands[1], (a, b)
        elif en:
            p = a * b
        expected.append(p % (1 << len(dut.p)))
    assert got == expected


def test_operands_wider_than_18_bits_stay_in_logic():
    wide = RegisteredProduct(a_shape=signed(19), b_shape=signed(16))
    assert not fits_mult18x18(wide)
    assert fits_mult18x18(SimpleNamespace(a_shape=unsigned(18), b_shape=signed(18)))
    with pytest.raises(ValueError, match="do not fit a MULT18X18D"):
        ECP5RegisteredProduct(wide)
    rtl = verilog.convert(wide, platform=board("ulx3s-85f").make_platform(), name="top")
    assert "MULT18X18D" not in rtl and "*" in rtl


def test_board_top_has_a_registered_mult18x18d_per_mac():
    config = RPUConfig(input_size=4, hidden_size=8, pim_arrays=2, lanes_per_array=4,
                       activation_units=1, elementwise_units=1)
    platform = board("ulx3s-85f").make_platform()
    plan = platform.prepare(BoardTop(config=config, clock_hz=25e6), name="top",
                            script_after_read=FORCE_BLOCK_RAM)
    rtlil = plan.files["top.il"]
    # One per MAC lane and two per elementwise unit (a*b and c*d), all registered; the
    # lanes' with their input registers too (the weight word and the operand).
    lanes = config.pim_arrays * config.lanes_per_array
    dsps = lanes + 2 * config.elementwise_units
    assert rtlil.count("cell \\MULT18X18D") == dsps == 10
    assert rtlil.count('parameter \\REG_OUTPUT_CLK "CLK0"') == dsps
    assert rtlil.count('parameter \\REG_INPUTA_CLK "CLK0"') == lanes
    assert rtlil.count('parameter \\REG_INPUTB_CLK "CLK0"') == lanes
