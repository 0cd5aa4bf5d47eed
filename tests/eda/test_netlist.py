"""Reading Yosys's output without running Yosys: areas per module, memories, warnings."""

import pytest

from rpu.eda.errors import SynthesisError
from rpu.eda.liberty import read_liberty
from rpu.eda.netlist import areas_from_stat, collect_memories, yosys_warnings
from tests.eda.circuits import TINY_LIB, write


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return read_liberty(write(tmp_path_factory.mktemp("lib") / "tiny.lib", TINY_LIB))


def test_areas_from_stat(tiny):
    # top: 1 TDFF, 2 x mid and a $mem_v2; mid: 3 TNAND2, 1 x leaf; leaf: 1 TINV, 1 FOO.
    stat = {"modules": {
        "\\top": {"num_cells_by_type": {"TDFF": 1, "\\mid": 2, "$mem_v2": 1}},
        "\\mid": {"num_cells_by_type": {"TNAND2": 3, "\\leaf": 1}},
        "\\leaf": {"num_cells_by_type": {"TINV": 1, "FOO": 1, "$scopeinfo": 2}},
        "\\unused": {"num_cells_by_type": {"BAR": 1}}}}
    modules, warnings = areas_from_stat(stat, tiny, "top", ())
    assert list(modules) == ["leaf", "mid", "top"]
    leaf, mid, top = modules["leaf"], modules["mid"], modules["top"]
    assert (top.instances, mid.instances, leaf.instances) == (1, 2, 2)
    assert leaf.local_area == pytest.approx(0.5) and leaf.cell_counts == {"TINV": 1}
    assert mid.area == pytest.approx(3 * 1.0 + 0.5)
    assert top.area == pytest.approx(4.0 + 2 * 3.5) and top.sequential_area == 4.0
    assert top.memories == 1 and top.submodules == {"mid": 2}
    # FOO is in a module of the design, BAR only in one outside it.
    assert warnings == ["cells not in the library (no area counted): FOO in leaf"]
    with pytest.raises(SynthesisError, match="no module 'nowhere'"):
        areas_from_stat(stat, tiny, "nowhere", ())


def test_collect_memories():
    netlist = {"modules": {"top": {"cells": {
        "scope": {"type": "$scopeinfo", "attributes": {"hdlname": "bank",
                                                       "module": "\\top.bank"}},
        "m1": {"type": "$mem_v2", "attributes": {"hdlname": "bank mem"},
               "parameters": {"SIZE": "00000000000000000000000001000000", "WIDTH": 16,
                              "RD_PORTS": 1, "WR_PORTS": 1, "RD_CLK_ENABLE": "1",
                              "MEMID": "\\bank.mem"}},
        "m2": {"type": "$mem_v2", "parameters": {"SIZE": 8, "WIDTH": 4, "RD_PORTS": 0,
                                                 "WR_PORTS": 1}},
        "u0": {"type": "sram", "parameters": {"WIDTH": 8}},
    }}, "sram": {"parameter_default_values": {"WORDS": "32", "SINGLE_PORT": "1"}}}}
    mem, macro = collect_memories(netlist, "top", ("sram",))
    assert (mem.name, mem.path, mem.module, mem.words, mem.width, mem.ports,
            mem.source) == ("mem", "top.bank.mem", "top.bank", 64, 16, "1R1W", "inferred")
    assert (macro.path, macro.words, macro.width, macro.ports, macro.source) == (
        "top.u0", 32, 8, "1RW", "blackbox")
    del netlist["modules"]["sram"]
    with pytest.raises(SynthesisError, match="top.u0 of module sram needs integer"):
        collect_memories(netlist, "top", ("sram",))


def test_yosys_warnings_keep_one_of_each_kind():
    log = "\n".join(["Warning: wire x[0] is undriven", "Warning: wire x[1] is undriven",
                     "not a warning", "Warning: something else 12"]
                    + [f"Warning: kind {chr(97 + k)}" for k in range(4)])
    assert yosys_warnings(log) == ["yosys: wire x[0] is undriven",
                                   "yosys: something else 12", "yosys: kind a",
                                   "yosys: kind b", "yosys: kind c", "yosys: kind d"]
    assert yosys_warnings(log, limit=2) == ["yosys: wire x[0] is undriven",
                                            "yosys: something else 12",
                                            "yosys: ... 4 more warnings in the log"]
