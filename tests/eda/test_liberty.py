"""The Liberty reader: real-world syntax, table interpolation, malformed files named."""

import pytest

from rpu.eda.errors import SynthesisError
from rpu.eda.liberty import read_liberty
from rpu.eda.yosys import synthesize
from tests.eda.circuits import AND_V, GATES_V, TINY_LIB, write


def test_missing_liberty_file(tmp_path):
    v = write(tmp_path / "gates.v", GATES_V)
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
    v = write(tmp_path / "gates.v", GATES_V)
    lib = write(tmp_path / "broken.lib", text)
    with pytest.raises(SynthesisError, match="broken.lib") as e:
        synthesize(v, top="nand_inv", liberty=lib, workdir=tmp_path / "w")
    assert what in str(e.value)


def test_liberty_that_abc_cannot_read_is_refused_up_front(tmp_path):
    text = TINY_LIB.replace('rise_transition (scalar) { values ("0.02"); } ', "")
    text = text.replace('fall_transition (scalar) { values ("0.02"); } ', "")
    lib = write(tmp_path / "notrans.lib", text)
    v = write(tmp_path / "and.v", AND_V)
    with pytest.raises(SynthesisError, match="notrans.lib.*transition"):
        synthesize(v, top="andg", liberty=lib, workdir=tmp_path / "w")


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
    lib = read_liberty(write(tmp_path / "styled.lib", STYLED_LIB))
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
