"""``python -m rpu synth``: area per component, SRAM macros, clock estimate, bad input.

Synthesis of a full-size RPU takes minutes, so these tests use a tiny configuration (4 MAC
lanes, one activation and one element-wise unit); ``make bench`` synthesizes S, M and L.
"""

import json

import pytest

from rpu.cli import main
from rpu.config import RPUConfig
from rpu.eda.sram_model import sram_access_time_ns, sram_area_um2
from pim.sram import SRAM_MODEL_VERILOG
from rpu.eda.report import (COMPONENTS, SRAM_BLACKBOX_VERILOG, component_of,
                            memory_kind_of)
from tests.eda.circuits import timing_arc


TINY = dict(input_size=2, hidden_size=2, pim_arrays=1, lanes_per_array=4,
            activation_units=1, elementwise_units=1, activation_segments=8)
TINY_ARGS = ["--input-size", "2", "--hidden-size", "2", "--pim-arrays", "1",
             "--lanes-per-array", "4", "--activation-units", "1", "--elementwise-units", "1",
             "--activation-segments", "8"]


def _synth(out, *extra):
    return main(["synth", *TINY_ARGS, *extra, "-o", str(out)])


@pytest.fixture(scope="module")
def generic_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "out"
    assert _synth(out) == 0
    return out, json.loads((out / "synth.json").read_text()), (out / "synth.md").read_text()


def test_components_sum_to_the_logic_area(generic_run):
    out, report, markdown = generic_run
    area = report["area"]
    assert area["logic_unit"] == "GE"
    components = report["components"]
    assert sum(c["area"] for c in components.values()) == pytest.approx(area["logic"],
                                                                          rel=1e-9)
    assert sum(c["share"] for c in components.values()) == pytest.approx(1.0)
    # Every module of the hierarchy is in exactly one component.
    modules = [m for c in components.values() for m in c["modules"]]
    assert sorted(modules) == sorted(report["synthesis"]["modules"])
    assert "other" not in components
    for name in ("PIM MAC lanes", "activation units", "element-wise units", "interconnect",
                 "controller", "cell engine buffers and sequencing", "top-level glue"):
        assert components[name]["area"] > 0, name
        assert f"| {name} |" in markdown
    # The lanes are the four lane modules, their array and their weight-memory wrappers.
    lanes = components["PIM MAC lanes"]["modules"]
    assert {f"rpu.pim0.lane{k}" for k in range(4)} <= set(lanes)
    assert components["activation units"]["modules"] == {"rpu.engine.act0": 1}
    # GE and um2 agree with the generic library's NAND2 (0.798 um2).
    assert area["logic_um2"] == pytest.approx(area["logic"] * 0.798)


def test_memories_are_macros_with_the_density_model_area(generic_run):
    _, report, markdown = generic_run
    config = RPUConfig(**TINY)
    mems = report["memories"]
    assert set(mems) == {"weight memories", "x memory", "h memory", "cell-state memory",
                         "activation ROMs"}
    weights = mems["weight memories"]
    assert weights["count"] == config.mac_lanes
    assert weights["geometry"] == [f"{config.weight_depth} x {config.weight_width} 1R1W"]
    assert weights["area_um2"] == pytest.approx(
        config.mac_lanes * sram_area_um2(config.weight_depth, config.weight_width))
    assert mems["x memory"]["area_um2"] == pytest.approx(
        sram_area_um2(config.max_layer_input, config.data_width))
    assert mems["h memory"]["area_um2"] == pytest.approx(
        sram_area_um2(config.h_memory_depth, config.data_width))
    assert mems["cell-state memory"]["area_um2"] == pytest.approx(
        sram_area_um2(config.cell_memory_depth, config.elementwise_units * config.data_width))
    roms = mems["activation ROMs"]
    assert roms["count"] == config.activation_units
    words, width = (int(v) for v in roms["geometry"][0].split()[0:3:2])
    assert words == 2 * config.activation_segments
    assert roms["area_um2"] == pytest.approx(sram_area_um2(words, width, write_ports=0))
    total = sum(m["area_um2"] for m in mems.values())
    assert report["area"]["sram_um2_modelled"] == pytest.approx(total)
    assert report["area"]["total_um2"] == pytest.approx(report["area"]["logic_um2"] + total)
    # The macros are not in the logic: no module holds flip-flops for 10 x 16 weight bits.
    # The weight memory's module holds the macro and its registers only: the output
    # register and the registered write port (data, address, enable).
    modules = report["synthesis"]["modules"]
    assert modules["rpu.pim0.lane0"]["memories"] == 0
    weights = modules["rpu.pim0.lane0.weights"]
    address_bits = (config.weight_depth - 1).bit_length()
    assert weights["memories"] == 1
    assert weights["cell_counts"]["DFF"] == 2 * config.weight_width + address_bits + 1 == 37
    assert "SRAM macros (modelled)" in markdown


def test_clock_estimate(generic_run):
    _, report, markdown = generic_run
    clock = report["clock"]
    assert clock["kind"] == "estimated"
    assert clock["critical_path_ns"] > 0
    assert clock["f_max_mhz"] == pytest.approx(1e3 / clock["critical_path_ns"])
    assert clock["start"] and clock["end"] and clock["logic_depth"] >= 1
    assert "f_max" in markdown and clock["end"] in markdown
    # The slowest path from an SRAM macro starts at one of the design's macros, at its
    # modelled access time, and is no longer than the critical path.
    mp = clock["memory_path"]
    macros = {m["path"]: m for m in report["synthesis"]["memories"]}
    assert mp["macro"] in macros
    macro = macros[mp["macro"]]
    assert mp["access_ns_modelled"] == pytest.approx(
        sram_access_time_ns(macro["words"], macro["width"], read_ports=macro["read_ports"],
                            write_ports=macro["write_ports"]))
    assert mp["access_ns_modelled"] < mp["delay_ns"] <= clock["critical_path_ns"] + 1e-12
    assert "slowest path from an SRAM macro" in markdown and mp["macro"] in markdown
    if clock["start_macro"] is not None:
        assert clock["start_macro"] == mp["macro"]
        assert clock["critical_path_ns"] == pytest.approx(mp["delay_ns"])
    for kind in report["memories"].values():
        assert kind["access_ns"] > 0


def test_output_files(generic_run):
    out, report, _ = generic_run
    assert sorted(p.name for p in out.iterdir() if p.name != ".rpu") == [
        "rpu.v", "rpu_generic_ge.lib", "rpu_sram.v", "rpu_sram_blackbox.v", "synth.json",
        "synth.log", "synth.md"]
    assert report["synthesis"]["log_path"] == str(out / "synth.log")
    assert report["configuration"]["lanes_per_array"] == 4


def _ports(verilog):
    start = verilog.index("\nmodule ")
    header = verilog[start:verilog.index("\n);", start)]
    return [" ".join(line.split()) for line in header.splitlines()
            if line.strip().startswith(("input", "output", "parameter"))]


def test_blackbox_has_the_ports_of_the_sram_model():
    model_ports = _ports(SRAM_MODEL_VERILOG)
    assert len(model_ports) == 10
    # Same parameters and ports; the model's rd_data is a reg, the black box's a wire.
    assert _ports(SRAM_BLACKBOX_VERILOG) == [p.replace("output reg", "output wire")
                                             for p in model_ports]
    assert "(* blackbox *)" in SRAM_BLACKBOX_VERILOG


def test_component_and_memory_rules():
    assert component_of("rpu") == "top-level glue"
    assert component_of("rpu.pim3") == "PIM MAC lanes"
    assert component_of("rpu.pim3.lane15.weights") == "PIM MAC lanes"
    assert component_of("rpu.engine") == "cell engine buffers and sequencing"
    assert component_of("rpu.engine.act12") == "activation units"
    assert component_of("rpu.engine.ew0") == "element-wise units"
    assert component_of("rpu.engine.interconnect") == "interconnect"
    assert component_of("rpu.engine.cell_memory") == "state memories (logic)"
    assert component_of("rpu.h_memory") == "state memories (logic)"
    assert component_of("rpu.controller") == "controller"
    assert component_of("elsewhere") == "other"
    assert set(COMPONENTS) >= {"PIM MAC lanes", "other"}
    assert memory_kind_of("rpu.pim0.lane1.weights.macro") == "weight memories"
    assert memory_kind_of("rpu.engine.act2.rom") == "activation ROMs"
    assert memory_kind_of("rpu.engine.cell_memory.macro") == "cell-state memory"
    assert memory_kind_of("rpu.x_memory.macro") == "x memory"
    # The delta datapath (RPUConfig.delta).
    assert component_of("rpu.h_delta") == "delta units"
    assert memory_kind_of("rpu.x_delta.reference.macro") == "delta references and lists"
    assert memory_kind_of("rpu.h_delta.entries.macro") == "delta references and lists"
    assert memory_kind_of("rpu.pim2.lane7.state.macro") == "pre-activation memories"
    assert memory_kind_of("rpu.pim2.lane7.weights.macro") == "weight memories"


# --------------------------------------------------------------------------------------
# --liberty with a small library written here (areas in um2, scalar delay tables)
# --------------------------------------------------------------------------------------

SMALL_LIB = f"""
library (small_um2) {{
  time_unit : "1ns";
  capacitive_load_unit (1, ff);
  cell (SINV) {{
    area : 0.5;
    pin (A) {{ direction : input; capacitance : 1.0; }}
    pin (Y) {{ direction : output; function : "!A"; {timing_arc("A", 0.02)} }}
  }}
  cell (SBUF) {{
    area : 0.75;
    pin (A) {{ direction : input; capacitance : 1.0; }}
    pin (Y) {{ direction : output; function : "A"; {timing_arc("A", 0.04)} }}
  }}
  cell (SNAND2) {{
    area : 1.0;
    pin (A) {{ direction : input; capacitance : 1.0; }}
    pin (B) {{ direction : input; capacitance : 1.0; }}
    pin (Y) {{ direction : output; function : "!(A&B)"; {timing_arc("A", 0.03)} {timing_arc("B", 0.03)} }}
  }}
  cell (SNOR2) {{
    area : 1.25;
    pin (A) {{ direction : input; capacitance : 1.0; }}
    pin (B) {{ direction : input; capacitance : 1.0; }}
    pin (Y) {{ direction : output; function : "!(A|B)"; {timing_arc("A", 0.04)} {timing_arc("B", 0.04)} }}
  }}
  cell (SDFF) {{
    area : 5.0;
    ff (IQ, IQN) {{ next_state : "D"; clocked_on : "CK"; }}
    pin (CK) {{ direction : input; clock : true; capacitance : 1.0; }}
    pin (D) {{ direction : input; capacitance : 1.0; }}
    pin (Q) {{ direction : output; function : "IQ"; {timing_arc("CK", 0.1, "rising_edge")} }}
  }}
}}
"""


def test_liberty_maps_to_that_library_in_um2(tmp_path):
    lib = tmp_path / "small.lib"
    lib.write_text(SMALL_LIB)
    out = tmp_path / "out"
    assert _synth(out, "--liberty", str(lib)) == 0
    report = json.loads((out / "synth.json").read_text())
    assert report["library"]["name"] == "small_um2"
    assert report["area"]["logic_unit"] == "um2"
    areas = {"SINV": 0.5, "SBUF": 0.75, "SNAND2": 1.0, "SNOR2": 1.25, "SDFF": 5.0}
    counts = {}
    for module in report["synthesis"]["modules"].values():
        for cell, n in module["cell_counts"].items():
            assert cell in areas
            counts[cell] = counts.get(cell, 0) + n * module["instances"]
    assert counts["SDFF"] > 0
    logic = sum(areas[c] * n for c, n in counts.items())
    assert report["area"]["logic"] == pytest.approx(logic)
    assert report["area"]["logic_um2"] == pytest.approx(logic)
    assert report["area"]["logic_ge"] == pytest.approx(logic / 0.798)
    assert sum(c["area"] for c in report["components"].values()) == pytest.approx(logic)
    # The memories do not depend on the library.
    config = RPUConfig(**TINY)
    assert report["memories"]["weight memories"]["area_um2"] == pytest.approx(
        config.mac_lanes * sram_area_um2(config.weight_depth, config.weight_width))
    clock = report["clock"]
    assert clock["f_max_mhz"] > 0 and clock["critical_path_ns"] >= 0.1
    assert not (out / "rpu_generic_ge.lib").exists()
    assert "areas in um2" in (out / "synth.md").read_text()


# --------------------------------------------------------------------------------------
# Bad input: exit 2, a clear message, nothing written
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, what", [
    (None, "does not exist"),
    ("library (broken) { cell (X) { area : 1.0; ", "missing '}'"),
    ("this is not a liberty file", "expected 'library (name) {'"),
    ("library (seq_only) { cell (D) { area : 1; ff (IQ, IQN) { next_state : \"D\"; "
     "clocked_on : \"C\"; } pin (C) { direction : input; clock : true; } "
     "pin (D) { direction : input; } pin (Q) { direction : output; function : \"IQ\"; } } }",
     "no combinational cells"),
    (SMALL_LIB.replace("SBUF", "SAND2").replace('function : "A";', 'function : "A&A";'),
     "no buffer cell"),
])
def test_bad_liberty_exits_2_and_writes_nothing(tmp_path, capsys, text, what):
    lib = tmp_path / "bad.lib"
    if text is not None:
        lib.write_text(text)
    out = tmp_path / "sub" / "out"
    assert _synth(out, "--liberty", str(lib)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --liberty:") and what in err and "bad.lib" in err
    assert not (tmp_path / "sub").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == (["bad.lib"] if text else [])


def test_unsupported_option_and_bad_configuration_exit_2(tmp_path, capsys):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        main(["synth", *TINY_ARGS, "--flatten", "-o", str(out)])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --flatten" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["synth", *TINY_ARGS])                      # no -o
    assert exit_info.value.code == 2
    assert main(["synth", *TINY_ARGS[:-2], "--activation-segments", "3",
                 "-o", str(out)]) == 2
    assert "--activation-segments" in capsys.readouterr().err
    (tmp_path / "file").write_text("")
    assert main(["synth", *TINY_ARGS, "-o", str(tmp_path / "file")]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
