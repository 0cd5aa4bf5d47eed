"""Named libraries (``generic``, ``osu018``) and the SRAM model at the library's node."""

import dataclasses
import json
from pathlib import Path

import pytest

from rpu.config import RPUConfig
from rpu.eda import libraries
from rpu.eda.errors import SynthInputError
from rpu.eda.libraries import LIBRARIES, Library, liberty_library, resolve_library
from rpu.eda.report import synthesize_rpu
from rpu.eda.sram_model import SRAMAreaReport, SRAMMacro, node_area_scale, sram_area_um2
from tests.helpers import ON_CI


OSU018 = "/usr/share/qflow/tech/osu018/osu018_stdcells.lib"
TINY = dict(input_size=2, hidden_size=2, pim_arrays=1, lanes_per_array=4,
            activation_units=1, elementwise_units=1, activation_segments=8)


def _require_osu018():
    if not LIBRARIES["osu018"].liberty.is_file():
        message = f"{OSU018} is missing (apt-get install qflow-tech-osu018)"
        if ON_CI:
            pytest.fail(f"osu018 is required on CI: {message}")
        pytest.skip(message)


def test_the_named_libraries():
    generic = resolve_library(None)
    assert generic is resolve_library("generic") is LIBRARIES["generic"]
    assert (generic.liberty, generic.node_nm, generic.area_unit) == (None, 45, "GE")
    osu = LIBRARIES["osu018"]
    assert (str(osu.liberty), osu.node_nm, osu.area_unit, osu.package) == (
        OSU018, 180, "um2", "qflow-tech-osu018")
    assert libraries.library_names() == ("generic", "osu018")
    assert resolve_library(osu) is osu


def test_a_liberty_file_by_path(tmp_path):
    lib = tmp_path / "mine.lib"
    lib.write_text("library (x) { }")
    for given in (lib, str(lib), tmp_path / "not_yet.lib"):
        chosen = resolve_library(given)
        assert chosen.liberty == Path(given) and chosen.node_nm == 45
        assert chosen.area_unit == "um2"
    assert liberty_library(lib, node_nm=130).node_nm == 130


def test_unknown_and_missing_libraries(tmp_path, monkeypatch):
    with pytest.raises(SynthInputError) as error:
        resolve_library("osu035")
    assert str(error.value) == ("--library: unknown library 'osu035': choose one of "
                                "generic, osu018, or give a Liberty file (.lib)")
    with pytest.raises(SynthInputError, match="--library: expected a library name"):
        resolve_library(18)
    missing = tmp_path / "gone" / "osu018_stdcells.lib"
    monkeypatch.setitem(LIBRARIES, "osu018",
                        dataclasses.replace(LIBRARIES["osu018"], liberty=missing))
    with pytest.raises(SynthInputError) as error:
        resolve_library("osu018")
    message = str(error.value)
    assert message.startswith(f"--library osu018: {missing} does not exist")
    assert "apt-get install qflow-tech-osu018" in message and "--liberty" in message
    # synthesize_rpu says the same before generating anything.
    out = tmp_path / "out"
    with pytest.raises(SynthInputError, match="apt-get install qflow-tech-osu018"):
        synthesize_rpu(RPUConfig(**TINY), out, library="osu018")
    assert not out.exists()


def test_library_validation():
    with pytest.raises(ValueError, match="node_nm"):
        Library(name="x", node_nm=0)
    with pytest.raises(ValueError, match="node_nm"):
        Library(name="x", node_nm=True)
    with pytest.raises(ValueError, match="area_unit"):
        Library(name="x", area_unit="mm2")


def test_liberty_and_library_together_are_refused(tmp_path):
    with pytest.raises(SynthInputError, match="--library and --liberty"):
        synthesize_rpu(RPUConfig(**TINY), tmp_path / "out", library="generic",
                       liberty=tmp_path / "x.lib")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------
# The SRAM model at the library's node
# --------------------------------------------------------------------------------------

def test_sram_area_scales_with_the_square_of_the_node():
    assert node_area_scale(45) == 1.0
    assert node_area_scale(180) == 16.0
    assert node_area_scale(90) == 4.0
    # The whole macro scales: bit cells, periphery and the fixed overhead.
    expected = (64 * 16 * 0.346 * 1.3 * 1.5 + 1000.0) * (180 / 45) ** 2
    assert sram_area_um2(64, 16, node_nm=180) == pytest.approx(expected)
    assert sram_area_um2(64, 16, node_nm=45) == sram_area_um2(64, 16)
    macro = SRAMMacro(name="w", words=64, width=16, node_nm=180)
    assert macro.area_um2 == pytest.approx(expected)
    assert macro.to_dict()["node_nm"] == 180
    report = SRAMAreaReport(macros=(macro,))
    assert report.node_nm == 180 and "at 180 nm" in report.to_dict()["model"]
    assert report.to_dict()["constants"]["node_area_scale"] == 16.0
    with pytest.raises(ValueError, match="one node"):
        SRAMAreaReport(macros=(macro, SRAMMacro(name="h", words=4, width=4)))
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="node_nm"):
            node_area_scale(bad)


def test_osu018_synthesis_prices_the_macros_at_180_nm(tmp_path):
    _require_osu018()
    out = tmp_path / "out"
    result = synthesize_rpu(RPUConfig(**TINY), out, library="osu018")
    report = json.loads((out / "synth.json").read_text())
    assert report["library"]["name"] == "osu018_stdcells"
    assert report["library"]["liberty"] == OSU018
    assert report["library"]["node_nm"] == 180 and report["area"]["logic_unit"] == "um2"
    # OSU cells in the netlist, and no generic library written.
    counts = {}
    for module in report["synthesis"]["modules"].values():
        for cell, n in module["cell_counts"].items():
            counts[cell] = counts.get(cell, 0) + n * module["instances"]
    assert counts and all(c.endswith(("X1", "X2", "X4")) for c in counts), counts
    assert not (out / "rpu_generic_ge.lib").exists()
    config = RPUConfig(**TINY)
    weights = report["memories"]["weight memories"]
    assert weights["area_um2"] == pytest.approx(
        config.mac_lanes * 16 * sram_area_um2(config.weight_depth, config.weight_width))
    assert result.memory_area_um2 == pytest.approx(
        16 * sum(m.area_um2 for m in (dataclasses.replace(m, node_nm=45)
                                      for m in result.synthesis.memories)))
    assert "at 180 nm" in (out / "synth.md").read_text()
    assert result.f_max_mhz > 0
