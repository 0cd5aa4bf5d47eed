"""The static timing estimate: path delays worked out by hand (logical effort, in tau, and
the SRAM macros' modelled access times), on synthesized circuits and on hand-written
netlists."""

import pytest

from rpu.eda.cell_library import TAU_NS, write_generic_liberty
from rpu.eda.liberty import read_liberty
from rpu.eda.sram_model import SRAMMacro, sram_access_time_ns
from rpu.eda.timing import estimate_critical_path, estimate_macro_path
from rpu.eda.yosys import synthesize
from tests.eda.circuits import write


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
        v = write(tmp_path / f"chain{stages}.v", _xor_chain(stages))
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
    r = synthesize(write(tmp_path / "fan.v", FANOUT_V), top="fan", workdir=tmp_path / "w")
    cp = r.critical_path
    assert [s.type for s in cp.steps] == ["XOR2"]
    # r drives 256 XOR2 inputs of 4 unit loads: 1024 units. Unbuffered that is
    # 10 + 1024 tau of clock-to-Q. Buffered: the DFF drives 4 BUF inputs (10 + 4), then
    # k = ceil(log4(1024)) - 1 = 4 levels of BUF driving 4 BUFs (3 + 4 each); the XOR2
    # drives a DFF (4 + 1); setup 5.
    assert cp.delay_ns == pytest.approx(TAU_NS * (14 + 4 * 7 + 5 + 5))
    assert any("high-fanout" in w and "BUF" in w for w in r.warnings)


# --------------------------------------------------------------------------------------
# The estimate on hand-written netlists (no Yosys run)
# --------------------------------------------------------------------------------------

def _netlist(cells, ports, names):
    """A flattened Yosys JSON netlist of one module ``t``."""
    return {"modules": {"t": {
        "ports": {p: {"direction": d, "bits": bits} for p, (d, bits) in ports.items()},
        "cells": {c: {"type": ty, "connections": conns} for c, (ty, conns) in cells.items()},
        "netnames": {n: {"bits": bits} for n, bits in names.items()}}}}


@pytest.fixture(scope="module")
def generic(tmp_path_factory):
    return read_liberty(write_generic_liberty(tmp_path_factory.mktemp("lib") / "g.lib"))


def test_hand_timed_register_path(generic):
    # a -> INV -> NAND2 -> DFF.D, DFF.Q -> output y.
    netlist = _netlist(
        {"inv": ("INV", {"A": [2], "Y": [5]}),
         "nand": ("NAND2", {"A": [5], "B": [3], "Y": [7]}),
         "ff": ("DFF", {"D": [7], "CK": [4], "Q": [6]})},
        {"a": ("input", [2]), "b": ("input", [3]), "clk": ("input", [4]),
         "y": ("output", [6])},
        {"a": [2], "b": [3], "clk": [4], "n1": [5], "n2": [7], "y": [6]})
    cp, warnings = estimate_critical_path(netlist, generic, top="t")
    assert warnings == []
    # Logical effort, in tau: the INV (p = 1) drives a NAND2 input (g = 4/3), the NAND2
    # (p = 2) drives a DFF input (g = 1), setup 5. The other path, clock-to-Q (10) into
    # the unloaded output port, is shorter.
    assert cp.delay_ns == pytest.approx(TAU_NS * ((1 + 4 / 3) + (2 + 1) + 5))
    assert cp.setup * cp.time_unit_ns == pytest.approx(5 * TAU_NS)
    assert cp.start == "input port a"
    assert cp.end == "D of DFF ff (register y)"
    assert [(s.cell, s.type, s.from_pin, s.to_pin, s.net) for s in cp.steps] == [
        ("inv", "INV", "A", "Y", "n1"), ("nand", "NAND2", "A", "Y", "n2")]
    assert cp.steps[0].arrival == pytest.approx(TAU_NS * (1 + 4 / 3))
    assert cp.to_dict()["logic_depth"] == 2


def test_loops_constants_and_cells_outside_the_library(generic):
    # Two inverters in a loop; a NAND2 with a constant input driving an opaque macro.
    netlist = _netlist(
        {"i1": ("INV", {"A": [3], "Y": [4]}), "i2": ("INV", {"A": [4], "Y": [3]}),
         "nand": ("NAND2", {"A": [2], "B": ["1"], "Y": [5]}),
         "mem": ("macro", {"D": [5], "Q": [6]})},
        {"a": ("input", [2]), "y": ("output", [6])},
        {"a": [2], "l1": [3], "l2": [4], "n": [5], "q": [6]})
    netlist["modules"]["t"]["cells"]["mem"]["port_directions"] = {"D": "input",
                                                                  "Q": "output"}
    cp, warnings = estimate_critical_path(netlist, generic, top="t")
    assert warnings == ["combinational loop: 2 cells on or behind a loop were not timed"]
    # a -> NAND2 (p = 2) driving the macro's input, the library's default pin load (one
    # unit): 3 tau; the macro's output reaches y at 0.
    assert cp.delay_ns == pytest.approx(TAU_NS * 3)
    assert cp.start == "input port a" and cp.end == "input D of macro mem"
    assert [s.type for s in cp.steps] == ["NAND2"]
    assert estimate_critical_path(_netlist({}, {"a": ("input", [2])}, {"a": [2]}),
                                  generic, top="t") == (None, [])


def _macro_netlist():
    # Input a -> macro mem's D; mem's Q -> INV -> DFF.D; DFF.Q -> output y.
    netlist = _netlist(
        {"mem": ("sram", {"D": [2], "Q": [6]}),
         "inv": ("INV", {"A": [6], "Y": [7]}),
         "ff": ("DFF", {"D": [7], "CK": [4], "Q": [8]})},
        {"a": ("input", [2]), "clk": ("input", [4]), "y": ("output", [8])},
        {"a": [2], "clk": [4], "q": [6], "n": [7], "y": [8]})
    netlist["modules"]["t"]["cells"]["mem"]["port_directions"] = {"D": "input",
                                                                  "Q": "output"}
    return netlist


def test_path_from_an_sram_macro_starts_at_its_access_time(generic):
    macro = SRAMMacro(name="mem", path="t.mem", words=512, width=16)
    cp, warnings = estimate_critical_path(_macro_netlist(), generic, top="t",
                                          macros={"mem": macro})
    assert warnings == []
    # 512 x 16 1R1W: the CACTI 7 point of 8192 bits, 0.230 ns; then the INV (p = 1)
    # driving a DFF input (g = 1) and the setup, 2 + 5 tau.
    assert sram_access_time_ns(512, 16) == pytest.approx(0.230)
    assert cp.delay_ns == pytest.approx(0.230 + TAU_NS * (2 + 5))
    assert cp.f_max_mhz == pytest.approx(1e3 / (0.230 + TAU_NS * 7))
    assert cp.start_macro is macro and cp.start_access_ns == pytest.approx(0.230)
    assert "SRAM macro t.mem" in cp.start and "0.230 ns" in cp.start
    assert [s.cell for s in cp.steps] == ["inv"]
    assert cp.steps[0].arrival * cp.time_unit_ns == pytest.approx(0.230 + TAU_NS * 2)
    d = cp.to_dict()
    assert d["start_macro"] == "t.mem"
    assert d["start_access_ns_modelled"] == pytest.approx(0.230)
    # At 180 nm the same macro takes 4 x as long.
    slow = SRAMMacro(name="mem", path="t.mem", words=512, width=16, node_nm=180)
    cp180, _ = estimate_critical_path(_macro_netlist(), generic, top="t",
                                      macros={"mem": slow})
    assert cp180.delay_ns == pytest.approx(4 * 0.230 + TAU_NS * 7)


def test_without_the_macro_record_its_output_starts_at_zero(generic):
    cp, _ = estimate_critical_path(_macro_netlist(), generic, top="t")
    # The INV path is then 7 tau; the DFF's clock-to-Q into the unloaded port, 10 tau.
    assert cp.delay_ns == pytest.approx(TAU_NS * 10)
    assert cp.start_macro is None and cp.start_access_ns == 0
    assert cp.to_dict()["start_macro"] is None


def test_asynchronous_read_macro_is_flagged(generic):
    macro = SRAMMacro(name="mem", path="t.mem", words=16, width=4, sync_read=False)
    cp, warnings = estimate_critical_path(_macro_netlist(), generic, top="t",
                                          macros={"mem": macro})
    assert cp.start_access_ns == pytest.approx(0.150)      # below the table: 512 bits
    assert warnings == ["SRAM macros with an asynchronous read port, timed from the clock "
                        "edge (their address arrival not added): t.mem"]
    with pytest.raises(ValueError, match="SRAMMacro"):
        estimate_critical_path(_macro_netlist(), generic, top="t", macros={"mem": 0.3})


def test_slowest_path_from_a_macro_need_not_be_critical(generic):
    # At a 1 nm "node" the macro answers in 0.230 / 45 ns (about 1.3 tau): its path, the
    # INV and the setup, is shorter than the DFF's clock-to-Q into the port (10 tau).
    macro = SRAMMacro(name="mem", path="t.mem", words=512, width=16, node_nm=1)
    access = 0.230 / 45
    cp, _ = estimate_critical_path(_macro_netlist(), generic, top="t",
                                   macros={"mem": macro})
    assert cp.delay_ns == pytest.approx(TAU_NS * 10) and cp.start_macro is None
    mp = estimate_macro_path(_macro_netlist(), generic, top="t", macros={"mem": macro})
    assert mp.delay_ns == pytest.approx(access + TAU_NS * 7)
    assert mp.start_macro is macro and mp.start_access_ns == pytest.approx(access)
    assert [s.cell for s in mp.steps] == ["inv"] and "register y" in mp.end
    assert estimate_macro_path(_macro_netlist(), generic, top="t", macros={}) is None
