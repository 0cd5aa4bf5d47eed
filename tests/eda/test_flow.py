"""The synthesis flow (:class:`rpu.eda.yosys.SynthesisFlow`): the carry-lookahead
architecture and the ABC options reach the Yosys script, a prefix adder is faster than
Yosys's default mapping by the timing estimate, and the named libraries carry their flow."""

import json

import pytest

from rpu.config import RPUConfig
from rpu.eda.libraries import LIBRARIES, OSU018_FLOW
from rpu.eda.report import synthesize_rpu
from rpu.eda.yosys import (DEFAULT_FLOW, LCU_ARCHITECTURES, SynthesisFlow, SynthesisError,
                           _synthesis_script, synthesize)
from tests.eda.circuits import write
from tests.eda.test_libraries import TINY, _require_osu018


KOGGE_STONE = SynthesisFlow(lcu="kogge-stone")


def _adder(width):
    """A registered ``width``-bit adder: registers -> a + b -> a register."""
    return (f"module add(input clk, input [{width - 1}:0] a, input [{width - 1}:0] b,\n"
            f"           output reg [{width - 1}:0] y);\n"
            f"  reg [{width - 1}:0] ra, rb;\n"
            "  always @(posedge clk) begin ra <= a; rb <= b; y <= ra + rb; end\n"
            "endmodule\n")


def _script(flow):
    return _synthesis_script(["x.v"], "lib.lib", "top", (), flow).splitlines()


def test_the_flow_reaches_the_script():
    default = _script(DEFAULT_FLOW)
    assert "techmap" in default and "abc -liberty lib.lib" in default
    assert "synth -top top -run coarse:fine" in default
    assert not any("choices" in line or "-D" in line for line in default)
    assert _script(SynthesisFlow()) == default
    for lcu in LCU_ARCHITECTURES[1:]:
        script = _script(SynthesisFlow(lcu=lcu))
        # The choice goes beside techmap.v, in the same techmap call, in place of the
        # plain one; everything else is as before.
        assert f"techmap -map +/techmap.v -map +/choices/{lcu}.v" in script
        assert "techmap" not in script
        assert len(script) == len(default)
    script = _script(SynthesisFlow(abc_delay_ps=4000, arith_tree=True))
    assert "abc -liberty lib.lib -D 4000" in script
    assert "synth -top top -arith_tree -run coarse:fine" in script
    script = _script(SynthesisFlow(abc_script="sop-balance"))
    assert ("abc -liberty lib.lib -script +strash;&get,-n;&fraig,-x;&put;scorr;dc2;dretime;"
            "strash;&get,-n;&st;&sopb;&dch,-f;&nf,{D};&put") in script


def test_flow_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="lcu must be one of brent-kung, kogge-stone"):
        SynthesisFlow(lcu="ripple")
    for bad in (0, -5, 1.5, True):
        with pytest.raises(ValueError, match="abc_delay_ps"):
            SynthesisFlow(abc_delay_ps=bad)
    with pytest.raises(ValueError, match="arith_tree"):
        SynthesisFlow(arith_tree=1)
    with pytest.raises(ValueError, match="abc_script must be one of default, sop-balance"):
        SynthesisFlow(abc_script="fast")
    v = write(tmp_path / "add.v", _adder(4))
    with pytest.raises(SynthesisError, match="flow must be a SynthesisFlow"):
        synthesize(v, top="add", workdir=tmp_path / "w", flow="kogge-stone")
    with pytest.raises(TypeError, match="flow must be a SynthesisFlow"):
        synthesize_rpu(RPUConfig(**TINY), tmp_path / "out", flow="delay")
    assert not (tmp_path / "out").exists()
    assert KOGGE_STONE.to_dict() == {"lcu": "kogge-stone", "arith_tree": False,
                                     "abc_delay_ps": None, "abc_script": "default"}
    assert KOGGE_STONE.describe() == "Kogge-Stone carry lookahead, ABC's default script"


def _delays(tmp_path, liberty, widths, flows):
    out = {}
    for width in widths:
        v = write(tmp_path / f"add{width}.v", _adder(width))
        for name, flow in flows.items():
            r = synthesize(v, top="add", liberty=liberty, workdir=tmp_path / f"w{width}{name}",
                           flow=flow)
            assert r.flow == flow and r.to_dict()["flow"] == flow.to_dict()
            cp = r.critical_path
            # The estimate is the path's own: its last step's arrival plus the setup.
            assert cp.delay == pytest.approx(cp.steps[-1].arrival + cp.setup)
            assert "(register y[" in cp.end and "ra[" in cp.start or "rb[" in cp.start
            out[width, name] = (cp.delay_ns, r.logic_area, cp.logic_depth)
    return out


def test_kogge_stone_adders_are_faster_on_the_generic_library(tmp_path):
    d = _delays(tmp_path, None, (32, 64), {"default": DEFAULT_FLOW, "ks": KOGGE_STONE})
    # Measured: 1.133 ns, 32 cells and 758 GE by default, 0.769 ns, 25 cells and 829 GE
    # Kogge-Stone at 32 bits; 1.728 ns, 57 cells and 1578 GE against 1.208 ns, 40 cells
    # and 1806 GE at 64 bits.
    for width in (32, 64):
        ks, default = d[width, "ks"], d[width, "default"]
        assert ks[0] < 0.75 * default[0], (width, ks, default)
        assert ks[2] < default[2]                      # fewer cells on the path
        assert default[1] < ks[1] < 1.2 * default[1]   # a little more area
    # ABC maps Yosys's default (Brent-Kung) adder into a near ripple chain, a cell per
    # bit; the prefix adder grows more slowly with the width.
    assert d[64, "default"][2] >= 48 and d[32, "default"][2] >= 24
    assert (d[64, "ks"][0] - d[32, "ks"][0]) < 0.8 * (d[64, "default"][0]
                                                       - d[32, "default"][0])


def test_kogge_stone_adders_are_faster_on_osu018(tmp_path):
    _require_osu018()
    d = _delays(tmp_path, LIBRARIES["osu018"].liberty, (32,),
                {"default": DEFAULT_FLOW, "ks": KOGGE_STONE, "osu018": OSU018_FLOW})
    default, ks, osu = d[32, "default"], d[32, "ks"], d[32, "osu018"]
    # Measured: 5.55 ns, 32 cells and 14,599 um2 by default; 3.81 ns, 25 cells and
    # 16,558 um2 Kogge-Stone; 2.51 ns, 13 cells and 17,987 um2 with osu018's flow.
    assert ks[0] < 0.75 * default[0] and ks[2] < default[2]
    assert ks[1] < 1.2 * default[1]
    assert osu[0] < 0.75 * ks[0] and osu[2] < ks[2]
    assert osu[1] < 1.3 * default[1]


def test_the_named_libraries_carry_their_flow(tmp_path):
    assert LIBRARIES["osu018"].flow == OSU018_FLOW == SynthesisFlow(
        lcu="kogge-stone", arith_tree=True, abc_script="sop-balance")
    assert LIBRARIES["generic"].flow == DEFAULT_FLOW
    with pytest.raises(ValueError, match="flow must be a SynthesisFlow"):
        LIBRARIES["generic"].__class__(name="x", flow="kogge-stone")


@pytest.mark.parametrize("library, flow", [("generic", KOGGE_STONE),
                                           ("osu018", None)])
def test_synthesize_rpu_uses_the_library_flow_unless_told(tmp_path, library, flow):
    if library == "osu018":
        _require_osu018()
    out = tmp_path / "out"
    result = synthesize_rpu(RPUConfig(**TINY), out, library=library, flow=flow)
    expected = flow or LIBRARIES[library].flow
    assert result.synthesis.flow == expected
    report = json.loads((out / "synth.json").read_text())
    assert report["library"]["flow"] == expected.to_dict()
    assert report["synthesis"]["flow"] == expected.to_dict()
    assert expected.describe() in (out / "synth.md").read_text()
    assert result.f_max_mhz > 0
