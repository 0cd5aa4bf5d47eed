"""The generic cell library: areas in gate equivalents, the delay model, its Liberty text."""

import pytest

from rpu.eda.cell_library import (GENERIC_CELLS, NAND2_UM2_45NM, TAU_NS, C_UNIT_FF, cell,
                                  generic_liberty_text, write_generic_liberty)
from rpu.eda.liberty import read_liberty


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
