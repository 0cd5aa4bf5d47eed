"""``python -m rpu synth --library NAME``: the named standard-cell libraries reach the
synthesis, and a bad name is refused before any work (exit 2 naming --library)."""

import dataclasses
from pathlib import Path

import pytest

import rpu.eda.report
from rpu.cli import main
from rpu.eda.libraries import FLOWS, LIBRARIES


SIZES = ["--input-size", "3", "--hidden-size", "4", "--pim-arrays", "1",
         "--lanes-per-array", "8", "--activation-units", "1", "--elementwise-units", "1"]


def test_unknown_library_is_refused_before_synthesis(tmp_path, capsys):
    assert main(["synth", *SIZES, "--library", "osu035", "-o", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert "--library" in error and "osu035" in error and "osu018" in error
    assert not (tmp_path / "out").exists()


def test_library_and_liberty_exclude_each_other(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["synth", *SIZES, "--library", "osu018", "--liberty", "x.lib",
              "-o", str(tmp_path)])
    assert exit_.value.code == 2
    assert "not allowed with argument --library" in capsys.readouterr().err


class Stop(Exception):
    """Raised by the tests' stand-in for synthesize_rpu once it has seen its arguments."""


@pytest.mark.parametrize("name", sorted(LIBRARIES))
def test_named_library_reaches_the_synthesis(tmp_path, monkeypatch, name):
    seen = {}

    def synthesize_rpu(config, out_dir, *, liberty=None, library=None, log=None, **_):
        seen.update(liberty=liberty, library=library, out=Path(out_dir))
        raise Stop

    monkeypatch.setattr(rpu.eda.report, "synthesize_rpu", synthesize_rpu)
    with pytest.raises(Stop):
        main(["synth", *SIZES, "--library", name, "-o", str(tmp_path / "out")])
    assert seen == {"liberty": None, "library": name, "out": tmp_path / "out"}


def test_flow_and_adder_options_reach_the_synthesis(tmp_path, monkeypatch, capsys):
    from rpu.eda.yosys import SynthesisFlow
    seen = []

    def synthesize_rpu(config, out_dir, *, flow=None, **_):
        seen.append(flow)
        raise Stop

    monkeypatch.setattr(rpu.eda.report, "synthesize_rpu", synthesize_rpu)
    for extra in ([], ["--adder", "sklansky"]):
        with pytest.raises(Stop):
            main(["synth", *SIZES, "--library", "osu018", *extra,
                  "-o", str(tmp_path / "out")])
    # Without --adder, the library's own flow (synthesize_rpu's default); with it, the
    # library's flow with that adder.
    assert seen == [None, dataclasses.replace(LIBRARIES["osu018"].flow, lcu="sklansky")]
    with pytest.raises(Stop):
        main(["synth", *SIZES, "--adder", "han-carlson", "-o", str(tmp_path / "out")])
    assert seen[-1] == SynthesisFlow(lcu="han-carlson")
    with pytest.raises(Stop):
        main(["synth", *SIZES, "--flow", "delay", "-o", str(tmp_path / "out")])
    assert seen[-1] == FLOWS["delay"] == LIBRARIES["osu018"].flow
    with pytest.raises(Stop):
        main(["synth", *SIZES, "--library", "osu018", "--flow", "yosys", "--adder",
              "sklansky", "-o", str(tmp_path / "out")])
    assert seen[-1] == SynthesisFlow(lcu="sklansky")
    with pytest.raises(SystemExit) as exit_:
        main(["synth", *SIZES, "--adder", "ripple", "-o", str(tmp_path / "out")])
    assert exit_.value.code == 2
    assert "--adder: invalid choice: 'ripple'" in capsys.readouterr().err
