"""Synthesis back end: the generic cell library, Yosys runs, areas, memories, timing."""

import json

import pytest

from rpu.eda.cell_library import (GENERIC_CELLS, NAND2_UM2_45NM, TAU_NS, C_UNIT_FF, cell,
                              generic_liberty_text, write_generic_liberty)
from rpu.eda.sram_model import sram_area_um2
from rpu.eda.synthesis import SynthesisError, read_liberty, synthesize


# Independent expectations: Nangate 45 nm X1 areas divided by NAND2_X1's 0.798 um2.
NAND2_GE = 0.798 / 0.798
INV_GE = 0.532 / 0.798
DFF_GE = 4.522 / 0.798


def _write(path, text):
    path.write_text(text)
    return path


# --------------------------------------------------------------------------------------
# The generic library
# --------------------------------------------------------------------------------------

def test_generic_cells_in_gate_equivalents():
    assert cell("NAND2").area_ge == pytest.approx(1.0)
    assert cell("INV").area_ge == pytest.approx(2 / 3)
    assert cell("DFF").area_ge == pytest.approx(17 / 3)
    assert NAND2_UM2_45NM == 0.798
    # Every Nangate area is a whole number of 0.266 um2 tracks (1/3 GE).
    for spec in GENERIC_CELLS:
        tracks = spec.nangate_area_um2 / 0.266
        assert tracks == pytest.approx(round(tracks)), spec.name
    names = {s.name for s in GENERIC_CELLS}
    assert {"INV", "BUF", "NAND2", "NOR2", "AND2", "OR2", "XOR2", "XNOR2", "AOI21",
            "OAI21", "MUX2", "DFF", "DFFR"} <= names
    with pytest.raises(KeyError, match="NAND9"):
        cell("NAND9")


def test_generic_liberty_round_trip(tmp_path):
    path = write_generic_liberty(tmp_path / "g.lib")
    assert path.read_text() == generic_liberty_text()
    lib = read_liberty(path)
    assert lib.time_unit_ns == 1.0
    assert set(lib.cells) == {s.name for s in GENERIC_CELLS}
    for spec in GENERIC_CELLS:
        lc = lib.cells[spec.name]
        assert lc.area == pytest.approx(spec.area_ge, abs=1e-6)
        assert lc.sequential == spec.is_sequential
        (out,) = lc.outputs
        arc = lc.arcs[out][0]
        # The table reproduces the linear delay model at any load.
        for load in (0.0, 3.0, 10.0, 100.0):
            delay = arc.delay[0](slew=0.05, load=load)
            assert delay == pytest.approx(spec.delay_ns(load), rel=1e-6)
    assert lib.cells["DFF"].clock_pins == {"CK"}
    assert lib.cells["DFFR"].async_pins == {"RN"}
    # Logical-effort model: d = tau * (p + C_load / C_unit).
    assert cell("NAND2").delay_ns(4 * C_UNIT_FF) == pytest.approx(TAU_NS * (2 + 4))


# --------------------------------------------------------------------------------------
# Small hand-written circuits
# --------------------------------------------------------------------------------------

GATES_V = """
module nand_inv(input a, input b, input c, output y, output z);
  assign y = ~(a & b);
  assign z = ~c;
endmodule
"""

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
    v = _write(tmp_path / "gates.v", GATES_V)
    r = synthesize(v, top="nand_inv", workdir=tmp_path / "w")
    assert r.area_unit == "GE"
    assert r.modules["nand_inv"].cell_counts == {"NAND2": 1, "INV": 1}
    assert r.logic_area == pytest.approx(NAND2_GE + INV_GE, rel=1e-6)
    assert r.logic_area_um2 == pytest.approx(0.798 + 0.532, rel=1e-6)
    assert r.sequential_area == 0
    assert r.memories == ()


def test_flip_flop_maps_to_dff(tmp_path):
    v = _write(tmp_path / "reg.v", REG_INV_V)
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
    v = _write(tmp_path / "hier.v", HIER_V)
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
    v = _write(tmp_path / "memtop.v", _amaranth_memory_design())
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
    v = _write(tmp_path / "bb.v", SRAM_BB_V)
    r = synthesize(v, top="bbtop", workdir=tmp_path / "w", sram_modules=["sram"])
    assert [(m.path, m.words, m.width, m.source) for m in r.memories] == [
        ("bbtop.u0", 16, 8, "blackbox"), ("bbtop.u1", 64, 8, "blackbox")]
    assert "sram" not in r.modules            # its behavioural model is not synthesized
    assert r.modules["leaf"].instances == 2
    assert r.logic_area == pytest.approx(2 * r.modules["leaf"].area)
    assert r.memory_area_um2 == pytest.approx(sram_area_um2(16, 8) + sram_area_um2(64, 8))


# --------------------------------------------------------------------------------------
# A real (here: tiny) Liberty file, in um2
# --------------------------------------------------------------------------------------

def _arc(pin, delay):
    return (f'timing () {{ related_pin : "{pin}"; '
            f'cell_rise (scalar) {{ values ("{delay}"); }} '
            f'cell_fall (scalar) {{ values ("{delay}"); }} '
            f'rise_transition (scalar) {{ values ("0.02"); }} '
            f'fall_transition (scalar) {{ values ("0.02"); }} }}')


TINY_LIB = f"""
/* A tiny library with areas in um2 */
library (tiny_um2) {{
  time_unit : "1ns";
  capacitive_load_unit (1, ff);
  cell (TINV) {{
    area : 0.5;
    pin (A) {{ direction : input; capacitance : 1.0; }}
    pin (Y) {{ direction : output; function : "!A"; {_arc("A", 0.03)} }}
  }}
  cell (TBUF) {{
    area : 1.25;
    pin (A) {{ direction : input; capacitance : 1.0; }}
    pin (Y) {{ direction : output; function : "A"; {_arc("A", 0.06)} }}
  }}
  cell (TNAND2) {{
    area : 1.0;
    pin (A) {{ direction : input; capacitance : 1.0; }}
    pin (B) {{ direction : input; capacitance : 1.0; }}
    pin (Y) {{ direction : output; function : "!(A&B)"; {_arc("A", 0.05)} {_arc("B", 0.05)} }}
  }}
  cell (TNOR2) {{
    area : 1.0;
    pin (A) {{ direction : input; capacitance : 1.0; }}
    pin (B) {{ direction : input; capacitance : 1.0; }}
    pin (Y) {{ direction : output; function : "!(A|B)"; {_arc("A", 0.07)} {_arc("B", 0.07)} }}
  }}
  cell (TDFF) {{
    area : 4.0;
    ff (IQ, IQN) {{ next_state : "D"; clocked_on : "C"; }}
    pin (C) {{ direction : input; clock : true; capacitance : 1.0; }}
    pin (D) {{ direction : input; capacitance : 1.0; }}
    pin (Q) {{ direction : output; function : "IQ"; }}
  }}
}}
"""

AND_V = """
module andg(input a, input b, input c, output y, output z);
  assign y = a & b;
  assign z = ~c;
endmodule
"""


def test_liberty_path_maps_to_that_library_in_um2(tmp_path):
    lib = _write(tmp_path / "tiny.lib", TINY_LIB)
    v = _write(tmp_path / "and.v", AND_V)
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

def test_missing_liberty_file(tmp_path):
    v = _write(tmp_path / "gates.v", GATES_V)
    missing = tmp_path / "no_such.lib"
    with pytest.raises(SynthesisError, match="no_such.lib") as e:
        synthesize(v, top="nand_inv", liberty=missing, workdir=tmp_path / "w")
    assert isinstance(e.value, ValueError)
    assert "does not exist" in str(e.value)


@pytest.mark.parametrize("text, what", [
    ("library (bad) {\n  cell (INV) {\n    area : 1.0;\n", "missing '}'"),
    ("cell (INV) { area : 1.0; }\n", "expected 'library"),
    ("library (bad) {\n  cell (INV) { area : big; }\n}\n", "not a number"),
    ("library (bad) {\n  cell (INV) { area 1.0; }\n}\n", "expected ':' or '('"),
    ("library (empty) {\n}\n", "no cells"),
    ("", "empty"),
])
def test_malformed_liberty_file(tmp_path, text, what):
    v = _write(tmp_path / "gates.v", GATES_V)
    lib = _write(tmp_path / "broken.lib", text)
    with pytest.raises(SynthesisError, match="broken.lib") as e:
        synthesize(v, top="nand_inv", liberty=lib, workdir=tmp_path / "w")
    assert what in str(e.value)


def test_liberty_that_abc_cannot_read_is_refused_up_front(tmp_path):
    text = TINY_LIB.replace('rise_transition (scalar) { values ("0.02"); } ', "")
    text = text.replace('fall_transition (scalar) { values ("0.02"); } ', "")
    lib = _write(tmp_path / "notrans.lib", text)
    v = _write(tmp_path / "and.v", AND_V)
    with pytest.raises(SynthesisError, match="notrans.lib.*transition"):
        synthesize(v, top="andg", liberty=lib, workdir=tmp_path / "w")


def test_yosys_failure_reports_the_log_tail(tmp_path):
    v = _write(tmp_path / "bad.v",
               "module bad(input a, output y);\n  assign y = a +;\nendmodule\n")
    with pytest.raises(SynthesisError, match="yosys failed") as e:
        synthesize(v, top="bad", workdir=tmp_path / "w")
    assert "ERROR" in str(e.value) and "syntax error" in str(e.value)


def test_missing_verilog_and_bad_arguments(tmp_path):
    with pytest.raises(SynthesisError, match="nothing.v"):
        synthesize(tmp_path / "nothing.v", top="x", workdir=tmp_path / "w")
    v = _write(tmp_path / "gates.v", GATES_V)
    with pytest.raises(SynthesisError, match="area_unit"):
        synthesize(v, top="nand_inv", workdir=tmp_path / "w", area_unit="mm")


# --------------------------------------------------------------------------------------
# Clock estimate
# --------------------------------------------------------------------------------------

def _xor_chain(stages):
    """Registers -> `stages` one-XOR modules in series -> a register. Each stage is its
    own module, so ABC cannot rebalance the chain across the module boundaries."""
    lines = ["module xs(input a, input b, output y);", "  assign y = a ^ b;", "endmodule",
             f"module chain(input clk, input [{stages}:0] d, output reg q);",
             f"  reg [{stages}:0] r;", f"  wire [{stages}:0] w;",
             "  always @(posedge clk) r <= d;", "  assign w[0] = r[0];"]
    for k in range(1, stages + 1):
        lines.append(f"  xs s{k} (.a(w[{k - 1}]), .b(r[{k}]), .y(w[{k}]));")
    lines += [f"  always @(posedge clk) q <= w[{stages}];", "endmodule"]
    return "\n".join(lines) + "\n"


def test_critical_path_grows_with_a_longer_chain(tmp_path):
    delays = {}
    for stages in (2, 6):
        v = _write(tmp_path / f"chain{stages}.v", _xor_chain(stages))
        r = synthesize(v, top="chain", workdir=tmp_path / f"w{stages}")
        cp = r.critical_path
        assert [s.type for s in cp.steps] == ["XOR2"] * stages
        assert "DFF" in cp.start and "(register q)" in cp.end
        delays[stages] = cp.delay_ns
        # By hand, in tau: clock-to-Q 10 + load 4 (an XOR2 input is 4 unit loads);
        # each XOR2 driving an XOR2: 4 + 4; the last XOR2 driving a DFF: 4 + 1; setup 5.
        assert cp.delay_ns == pytest.approx(TAU_NS * (14 + 8 * (stages - 1) + 5 + 5))
        assert r.f_max_mhz == pytest.approx(1e3 / cp.delay_ns)
    assert delays[6] > delays[2]


# --------------------------------------------------------------------------------------
# Reading real-world Liberty syntax
# --------------------------------------------------------------------------------------

STYLED_LIB = r"""
/*
 * A library in the style of commercial ones: header attributes, defines, wire loads,
 * templates, 3 x 3 tables with line continuations, tabs, and a missing ';'.
 */
library (styled) {
	delay_model		: table_lookup;
	time_unit		: "1ps";
	capacitive_load_unit	  (1,ff);
	library_features	  (report_delay_calculation,report_power_calculation);
	define(drive_strength, cell, float);
	nom_voltage		: 1.10
	default_input_pin_cap	: 2.5;
	wire_load("5K_hvratio_1_1") {
		capacitance : 1.774000e-01;
		fanout_length( 1, 1.7460 );
	}
	lu_table_template (Timing_3_3) {
		variable_1 : input_net_transition;
		variable_2 : total_output_net_capacitance;
		index_1 ("1.0,10.0,100.0");
		index_2 ("1.0,2.0,4.0");
	}
	cell (NAND2_X1) {
		drive_strength : 1;
		area		: 0.798000;
		pin (A1) { direction : input; capacitance : 1.6; }
		pin (A2) { direction : input; rise_capacitance : 1.7; fall_capacitance : 1.5; }
		pin (ZN) {
			direction	: output;
			function	: "!(A1 & A2)";
			timing () {
				related_pin	   : "A1";
				timing_sense	   : negative_unate;
				cell_rise(Timing_3_3) {
					values ("10.0,12.0,16.0", \
					        "20.0,22.0,26.0", \
					        "110.0,112.0,116.0");
				}
				cell_fall(Timing_3_3) {
					values ("5.0,6.0,8.0", "15.0,16.0,18.0", "105.0,106.0,108.0");
				}
				rise_transition(Timing_3_3) {
					values ("1,2,4", "1,2,4", "1,2,4");
				}
				fall_transition(Timing_3_3) {
					values ("1,2,4", "1,2,4", "1,2,4");
				}
			}
		}
	}
	cell (NOINPUTCAP) {
		area : 1;
		pin (A) { direction : input; }
		pin (Z) { direction : output; function : "A"; }
	}
}
"""


def test_read_liberty_commercial_style(tmp_path):
    lib = read_liberty(_write(tmp_path / "styled.lib", STYLED_LIB))
    assert lib.name == "styled"
    assert lib.time_unit_ns == pytest.approx(1e-3)
    nand = lib.cells["NAND2_X1"]
    assert nand.area == pytest.approx(0.798)
    assert nand.inputs == {"A1": pytest.approx(1.6), "A2": pytest.approx(1.7)}
    assert lib.cells["NOINPUTCAP"].inputs == {"A": pytest.approx(2.5)}
    (arc,) = nand.arcs["ZN"]
    rise, fall = arc.delay
    # On the grid, between grid points (bilinear), and beyond it (linear extrapolation).
    assert rise(slew=10.0, load=2.0) == pytest.approx(22.0)
    assert rise(slew=5.5, load=3.0) == pytest.approx((14.0 + 24.0) / 2)
    assert rise(slew=10.0, load=8.0) == pytest.approx(26.0 + (8.0 - 4.0) * (26.0 - 22.0) / 2)
    assert fall(slew=1.0, load=1.0) == pytest.approx(5.0)
    assert rise(load=1.0) == pytest.approx(10.0)     # no slew known: the table's first


def test_sram_macro_module_must_be_defined(tmp_path):
    top_only = SRAM_BB_V[SRAM_BB_V.index("module leaf"):]
    v = _write(tmp_path / "top_only.v", top_only)
    with pytest.raises(SynthesisError, match="sram .*not defined"):
        synthesize(v, top="bbtop", workdir=tmp_path / "w", sram_modules=["sram"])
    # Given as a second file, it is found.
    model = _write(tmp_path / "sram.v", SRAM_BB_V[:SRAM_BB_V.index("module leaf")])
    r = synthesize([v, model], top="bbtop", workdir=tmp_path / "w", sram_modules=["sram"])
    assert len(r.memories) == 2


FANOUT_V = """
module fan(input clk, input d, input [255:0] x, output reg [255:0] q);
  reg r;
  always @(posedge clk) begin
    r <= d;
    q <= x ^ {256{r}};
  end
endmodule
"""


def test_high_fanout_net_is_timed_as_buffered(tmp_path):
    r = synthesize(_write(tmp_path / "fan.v", FANOUT_V), top="fan", workdir=tmp_path / "w")
    cp = r.critical_path
    assert [s.type for s in cp.steps] == ["XOR2"]
    # r drives 256 XOR2 inputs of 4 unit loads: 1024 units. Unbuffered that is
    # 10 + 1024 tau of clock-to-Q. Buffered: the DFF drives 4 BUF inputs (10 + 4), then
    # k = ceil(log4(1024)) - 1 = 4 levels of BUF driving 4 BUFs (3 + 4 each); the XOR2
    # drives a DFF (4 + 1); setup 5.
    assert cp.delay_ns == pytest.approx(TAU_NS * (14 + 4 * 7 + 5 + 5))
    assert any("high-fanout" in w and "BUF" in w for w in r.warnings)
