"""Synthesis with Yosys: areas per module, memories as macros, Liberty libraries, errors."""

import json

import pytest

from rpu.eda.cell_library import TAU_NS
from rpu.eda.errors import SynthesisError
from rpu.eda.sram_model import sram_access_time_ns, sram_area_um2
from rpu.eda.yosys import synthesize
from tests.eda.circuits import AND_V, GATES_V, TINY_LIB, write


# Independent expectations: Nangate 45 nm X1 areas divided by NAND2_X1's 0.798 um2.
NAND2_GE = 0.798 / 0.798
INV_GE = 0.532 / 0.798
DFF_GE = 4.522 / 0.798


REG_INV_V = """
module reg_inv(input clk, input d, output reg q);
  always @(posedge clk) q <= ~d;
endmodule
"""

HIER_V = """
module leaf(input a, input b, output y);
  assign y = ~(a & b);
endmodule
module mid(input [2:0] a, input [2:0] b, output [2:0] y);
  leaf l0 (.a(a[0]), .b(b[0]), .y(y[0]));
  leaf l1 (.a(a[1]), .b(b[1]), .y(y[1]));
  leaf l2 (.a(a[2]), .b(b[2]), .y(y[2]));
endmodule
module hier(input [5:0] a, input [5:0] b, input c, output [5:0] y, output z);
  mid m0 (.a(a[2:0]), .b(b[2:0]), .y(y[2:0]));
  mid m1 (.a(a[5:3]), .b(b[5:3]), .y(y[5:3]));
  assign z = ~c;
endmodule
"""


def test_nand_and_inverter_map_to_expected_ge(tmp_path):
    v = write(tmp_path / "gates.v", GATES_V)
    r = synthesize(v, top="nand_inv", workdir=tmp_path / "w")
    assert r.area_unit == "GE"
    assert r.modules["nand_inv"].cell_counts == {"NAND2": 1, "INV": 1}
    assert r.logic_area == pytest.approx(NAND2_GE + INV_GE, rel=1e-6)
    assert r.logic_area_um2 == pytest.approx(0.798 + 0.532, rel=1e-6)
    assert r.sequential_area == 0
    assert r.memories == ()


def test_flip_flop_maps_to_dff(tmp_path):
    v = write(tmp_path / "reg.v", REG_INV_V)
    r = synthesize(v, top="reg_inv", workdir=tmp_path / "w")
    assert r.modules["reg_inv"].cell_counts == {"DFF": 1, "INV": 1}
    assert r.logic_area == pytest.approx(DFF_GE + INV_GE, rel=1e-6)
    assert r.sequential_area == pytest.approx(DFF_GE, rel=1e-6)
    # d -> INV -> DFF.D and DFF.Q -> output: the longer is clock-to-Q (10 tau) into the
    # output port; d -> INV (1 tau + 1 unit load) -> setup (5 tau) is 7 tau.
    cp = r.critical_path
    assert cp.delay_ns == pytest.approx(TAU_NS * 10)
    assert "DFF" in cp.start and cp.end == "output port q"


def test_hierarchical_areas_add_up(tmp_path):
    v = write(tmp_path / "hier.v", HIER_V)
    r = synthesize(v, top="hier", workdir=tmp_path / "w")
    mods = r.modules
    assert set(mods) == {"hier", "mid", "leaf"}
    assert (mods["hier"].instances, mods["mid"].instances, mods["leaf"].instances) == (1, 2, 6)
    assert mods["leaf"].local_area == pytest.approx(NAND2_GE)
    assert mods["mid"].local_area == 0
    assert mods["mid"].area == pytest.approx(3 * NAND2_GE)
    assert mods["mid"].submodules == {"leaf": 3}
    assert mods["hier"].local_area == pytest.approx(INV_GE)
    assert r.logic_area == pytest.approx(6 * NAND2_GE + INV_GE, rel=1e-6)
    assert r.logic_area == pytest.approx(
        sum(m.instances * m.local_area for m in mods.values()), rel=1e-9)


# --------------------------------------------------------------------------------------
# Memories are macros, not flip-flops
# --------------------------------------------------------------------------------------

def _amaranth_memory_design():
    from amaranth.hdl import Module, Signal
    from amaranth.lib import memory, wiring
    from amaranth.lib.wiring import In, Out
    from amaranth.back import verilog

    class Bank(wiring.Component):
        wdata: In(16)
        we: In(1)
        rdata: Out(16)

        def elaborate(self, platform):
            m = Module()
            m.submodules.weights = mem = memory.Memory(shape=16, depth=64, init=[])
            wp = mem.write_port()
            rp = mem.read_port()
            addr = Signal(6)
            m.d.sync += addr.eq(addr + 1)
            m.d.comb += [wp.addr.eq(addr), wp.data.eq(self.wdata), wp.en.eq(self.we),
                         rp.addr.eq(addr + 1), self.rdata.eq(rp.data)]
            return m

    class Top(wiring.Component):
        wdata: In(16)
        we: In(1)
        rdata: Out(16)

        def elaborate(self, platform):
            m = Module()
            m.submodules.bank = bank = Bank()
            m.d.comb += [bank.wdata.eq(self.wdata), bank.we.eq(self.we)]
            m.d.sync += self.rdata.eq(bank.rdata)
            return m

    return verilog.convert(Top(), name="memtop")


def test_amaranth_memory_is_a_macro_not_flip_flops(tmp_path):
    v = write(tmp_path / "memtop.v", _amaranth_memory_design())
    r = synthesize(v, top="memtop", workdir=tmp_path / "w")
    assert len(r.memories) == 1
    (mem,) = r.memories
    assert (mem.words, mem.width, mem.read_ports, mem.write_ports) == (64, 16, 1, 1)
    assert mem.name == "weights"
    assert mem.path == "memtop.bank.weights"
    assert mem.module == "memtop.bank"
    assert mem.sync_read and mem.source == "inferred"
    dffs = sum(m.instances * m.cell_counts.get("DFF", 0) for m in r.modules.values())
    # 6 address bits in the bank and 16 output register bits in the top; the 1024 bits
    # of the memory are not flip-flops.
    assert dffs == 6 + 16
    assert r.modules["memtop.bank"].memories == 1
    assert r.modules["memtop.bank"].local_area > 0      # address logic kept
    assert r.memory_area_um2 == pytest.approx(sram_area_um2(64, 16))
    assert r.total_area_um2 == pytest.approx(r.logic_area * 0.798 + r.memory_area_um2)
    d = r.to_dict()
    json.dumps(d)
    assert d["memories"][0]["words"] == 64
    md = r.to_markdown()
    assert "memtop.bank.weights" in md and "modelled" in md


SRAM_BB_V = """
module sram #(parameter WORDS = 16, parameter WIDTH = 8)
             (input clk, input [5:0] a, input [WIDTH-1:0] d, input we,
              output reg [WIDTH-1:0] q);
  reg [WIDTH-1:0] m [0:WORDS-1];
  always @(posedge clk) begin if (we) m[a] <= d; q <= m[a]; end
endmodule
module leaf(input clk, input [7:0] x, output reg [7:0] y);
  always @(posedge clk) y <= x + 8'd1;
endmodule
module bbtop(input clk, input [5:0] a, input [7:0] d, input we, output [7:0] q,
             output [7:0] r);
  wire [7:0] q0, q1;
  sram #(.WORDS(16), .WIDTH(8)) u0 (.clk(clk), .a(a), .d(d), .we(we), .q(q0));
  sram #(.WORDS(64), .WIDTH(8)) u1 (.clk(clk), .a(a), .d(q0), .we(we), .q(q1));
  leaf l0 (.clk(clk), .x(q1), .y(q));
  leaf l1 (.clk(clk), .x(q), .y(r));
endmodule
"""


def test_sram_macro_instances_are_black_boxes(tmp_path):
    v = write(tmp_path / "bb.v", SRAM_BB_V)
    r = synthesize(v, top="bbtop", workdir=tmp_path / "w", sram_modules=["sram"])
    assert [(m.path, m.words, m.width, m.source) for m in r.memories] == [
        ("bbtop.u0", 16, 8, "blackbox"), ("bbtop.u1", 64, 8, "blackbox")]
    assert "sram" not in r.modules            # its behavioural model is not synthesized
    assert r.modules["leaf"].instances == 2
    assert r.logic_area == pytest.approx(2 * r.modules["leaf"].area)
    assert r.memory_area_um2 == pytest.approx(sram_area_um2(16, 8) + sram_area_um2(64, 8))
    # The critical path starts at u1's read data, at its modelled access time (64 x 8 =
    # 512 bits, 1R1W: CACTI's 0.150 ns at 45 nm), far above a DFF's clock-to-Q (10 tau),
    # and runs through l0's incrementer into y.
    cp = r.critical_path
    assert cp.start_macro.path == "bbtop.u1"
    assert cp.start_access_ns == pytest.approx(sram_access_time_ns(64, 8)) \
        == pytest.approx(0.150)
    assert "SRAM macro bbtop.u1" in cp.start and "(register" in cp.end
    assert cp.delay_ns > 0.150 + TAU_NS * 5
    assert "bbtop.u1" in r.to_markdown() and "read access time 0.150 ns" in r.to_markdown()
    # Here the slowest path from a macro is the critical path itself.
    assert r.memory_path.delay_ns == pytest.approx(cp.delay_ns)
    assert r.memory_path.start_macro.path == "bbtop.u1"
    assert r.to_dict()["memory_path"]["start_macro"] == "bbtop.u1"


def test_sram_macro_module_must_be_defined(tmp_path):
    top_only = SRAM_BB_V[SRAM_BB_V.index("module leaf"):]
    v = write(tmp_path / "top_only.v", top_only)
    with pytest.raises(SynthesisError, match="sram .*not defined"):
        synthesize(v, top="bbtop", workdir=tmp_path / "w", sram_modules=["sram"])
    # Given as a second file, it is found.
    model = write(tmp_path / "sram.v", SRAM_BB_V[:SRAM_BB_V.index("module leaf")])
    r = synthesize([v, model], top="bbtop", workdir=tmp_path / "w", sram_modules=["sram"])
    assert len(r.memories) == 2



# --------------------------------------------------------------------------------------
# A real (here: tiny) Liberty file, in um2
# --------------------------------------------------------------------------------------

def test_liberty_path_maps_to_that_library_in_um2(tmp_path):
    lib = write(tmp_path / "tiny.lib", TINY_LIB)
    v = write(tmp_path / "and.v", AND_V)
    r = synthesize(v, top="andg", liberty=lib, workdir=tmp_path / "w")
    assert r.area_unit == "um2" and r.library_name == "tiny_um2"
    # a & b has no AND cell: TNAND2 + TINV; ~c: TINV.
    assert r.modules["andg"].cell_counts == {"TNAND2": 1, "TINV": 2}
    assert r.logic_area == pytest.approx(1.0 + 0.5 + 0.5)
    assert r.logic_area_um2 == pytest.approx(2.0)
    cp = r.critical_path
    assert cp.delay_ns == pytest.approx(0.05 + 0.03)
    assert cp.f_max_mhz == pytest.approx(1e3 / 0.08)
    assert cp.start == "input port a" or cp.start == "input port b"
    assert cp.end == "output port y"
    assert [s.type for s in cp.steps] == ["TNAND2", "TINV"]


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------

def test_yosys_failure_reports_the_log_tail(tmp_path):
    v = write(tmp_path / "bad.v",
               "module bad(input a, output y);\n  assign y = a +;\nendmodule\n")
    with pytest.raises(SynthesisError, match="yosys failed") as e:
        synthesize(v, top="bad", workdir=tmp_path / "w")
    assert "ERROR" in str(e.value) and "syntax error" in str(e.value)


def test_missing_verilog_and_bad_arguments(tmp_path):
    with pytest.raises(SynthesisError, match="nothing.v"):
        synthesize(tmp_path / "nothing.v", top="x", workdir=tmp_path / "w")
    v = write(tmp_path / "gates.v", GATES_V)
    with pytest.raises(SynthesisError, match="area_unit"):
        synthesize(v, top="nand_inv", workdir=tmp_path / "w", area_unit="mm")
