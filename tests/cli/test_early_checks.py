"""Issue 10: bad output paths, step limits and clocks are refused up front, before any work,
with exit code 2 and a message that names the option.

Each test is named after the case of the issue and fails on the code before the fix:
``-o ''`` wrote into the current directory; an output folder under a regular file or
without write permission ended in a traceback (exit 1), for ``simulate --out`` only after
the whole simulation; ``run`` calibrated for minutes before checking the 65535-step limit;
``--clock-mhz inf`` was accepted.
"""

import json

import numpy as np
import pytest

import rpu.compiler.calibration
import rpu.generator
from rpu.cli import main
from rpu.config import MAX_STEPS
from rpu.flow import run_model
from rpu.frontend import load_model
from tests.cli.paths import unwritable_folder
from tests.helpers import IMPORT_DATA, random_lstm


I, H, T = 2, 3, 2
SMALL = ["--pim-arrays", "1", "--lanes-per-array", "4", "--activation-units", "1",
         "--elementwise-units", "1"]
MODEL = IMPORT_DATA / "l1.npz"                  # I = 3, H = 5, one layer


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A work folder (also the current directory) with W.npz, X.npy (simulate) and x.npy
    (run, for MODEL)."""
    np.savez(tmp_path / "W.npz", **random_lstm(np.random.default_rng(0), I, H))
    np.save(tmp_path / "X.npy", np.random.default_rng(1).standard_normal((T, I)))
    np.save(tmp_path / "x.npy", np.random.default_rng(2).standard_normal((T, 3)))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if the command starts working: elaboration, calibration, simulation,
    synthesis."""
    def refuse(*args, **kwargs):
        raise AssertionError("the command started working before refusing its options")
    import rpu.eda.report
    import rpu.sim
    monkeypatch.setattr(rpu.generator, "generate", refuse)
    monkeypatch.setattr(rpu.compiler.calibration, "calibrate", refuse)
    monkeypatch.setattr(rpu.sim, "simulate_program", refuse)
    monkeypatch.setattr(rpu.sim, "simulate_session", refuse)
    monkeypatch.setattr(rpu.eda.report, "synthesize_rpu", refuse)


def commands(output):
    """``(option, argv)`` of every command that writes, with ``output`` as its output."""
    return {
        "generate": ("-o/--output", ["generate", "--input-size", str(I), "--hidden-size",
                                     str(H), *SMALL, "-o", output]),
        "synth": ("-o/--output", ["synth", "--input-size", str(I), "--hidden-size", str(H),
                                  *SMALL, "-o", output]),
        "simulate": ("--out", ["simulate", "--weights", "W.npz", "--inputs", "X.npy",
                               "--out", output, *SMALL]),
        "simulate-vcd": ("--vcd", ["simulate", "--weights", "W.npz", "--inputs", "X.npy",
                                   "--out", "Y.npz", "--vcd", output, *SMALL]),
        "run": ("--out", ["run", str(MODEL), "--inputs", "x.npy", "--out", output, *SMALL]),
        "run-vcd": ("--vcd", ["run", str(MODEL), "--inputs", "x.npy", "--vcd", output,
                              *SMALL]),
        "explore": ("-o/--output", ["explore", str(MODEL), "--no-synth", "--jobs", "1",
                                    "--pim-arrays", "1", "--lanes-per-array", "4",
                                    "--activation-units", "1", "--data-widths", "16",
                                    "-o", output]),
    }


COMMANDS = list(commands("X"))
#: The commands whose output is a folder (the others write a file).
FOLDERS = {"generate", "synth", "explore"}


def refused(capsys, argv, option):
    """``main(argv)`` exits with 2 and an error naming ``option``; returns the message."""
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2, captured
    assert captured.err.startswith("error: ") and "Traceback" not in captured.err
    assert option in captured.err, captured.err
    assert captured.out == ""
    return captured.err


def files_in(folder):
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


@pytest.mark.parametrize("command", COMMANDS)
def test_empty_output_path_is_refused(work, capsys, no_work, command):
    before = files_in(work)
    option, argv = commands("")[command]
    assert "empty" in refused(capsys, argv, option)
    assert files_in(work) == before                  # nothing in the current directory


@pytest.mark.parametrize("command", COMMANDS)
def test_output_under_a_regular_file_is_refused(work, capsys, no_work, command):
    (work / "notes.txt").write_text("precious")
    before = files_in(work)
    name = "out" if command in FOLDERS else "out.npz"
    option, argv = commands(str(work / "notes.txt" / "deeper" / name))[command]
    assert "not a directory" in refused(capsys, argv, option)
    assert files_in(work) == before
    assert (work / "notes.txt").read_text() == "precious"


@pytest.mark.parametrize("command", COMMANDS)
def test_unwritable_output_folder_is_refused_before_any_work(work, capsys, no_work,
                                                              command):
    with unwritable_folder(work / "locked") as locked:
        name = "out" if command in FOLDERS else "out.npz"
        option, argv = commands(str(locked / name))[command]
        assert "not writable" in refused(capsys, argv, option)
        assert files_in(locked) == []
    if command in FOLDERS:                           # the folder itself is not writable
        with unwritable_folder(work / "locked-out") as locked:
            option, argv = commands(str(locked))[command]
            assert "not writable" in refused(capsys, argv, option)


def test_explore_unwritable_synthesis_cache_is_refused(work, capsys, no_work):
    with unwritable_folder(work / "locked") as locked:
        refused(capsys, ["explore", str(MODEL), "--jobs", "1", "--pim-arrays", "1",
                         "--lanes-per-array", "4", "--activation-units", "1",
                         "--data-widths", "16", "--synth-cache", str(locked / "cache"),
                         "-o", str(work / "out")], "--synth-cache")
    assert not (work / "out").exists()


def test_run_checks_the_step_limit_before_calibrating(work, capsys, no_work):
    np.save(work / "long.npy", np.zeros((MAX_STEPS + 1, 3)))
    message = refused(capsys, ["run", str(MODEL), "--inputs", "long.npy", *SMALL], "--inputs")
    assert str(MAX_STEPS) in message
    # The Python API too: refused before calibrating.
    with pytest.raises(ValueError, match=str(MAX_STEPS)):
        run_model(load_model(MODEL), np.zeros((MAX_STEPS + 1, 3)))


def test_run_checks_every_limit_before_calibrating(work, capsys, no_work):
    # Non-finite calibration inputs, a capacity below the model's: all before calibration.
    np.save(work / "nan.npy", np.full((T, 3), np.nan))
    refused(capsys, ["run", str(MODEL), "--inputs", "x.npy", "--calibration", "nan.npy",
                     *SMALL], "--calibration")
    refused(capsys, ["run", str(MODEL), "--inputs", "x.npy", *SMALL, "--lanes-per-array",
                     "3"], "--lanes-per-array")


@pytest.mark.parametrize("clock", ["inf", "-inf", "nan", "0", "-400", "1e999"])
def test_clock_mhz_must_be_finite_and_positive(work, capsys, no_work, clock):
    message = refused(capsys, ["run", str(MODEL), "--inputs", "x.npy", f"--clock-mhz={clock}",
                               *SMALL], "--clock-mhz")
    assert "finite positive" in message
    with pytest.raises(ValueError, match="clock_mhz"):
        run_model(load_model(MODEL), np.zeros((T, 3)), clock_mhz=float(clock))


def test_good_outputs_still_work(work, capsys):
    # The checks refuse only what cannot be written: a folder made on the way, a relative
    # path, and a file next to others are fine.
    assert main(["generate", "--input-size", str(I), "--hidden-size", str(H), *SMALL,
                 "-o", "new/deeper"]) == 0
    assert (work / "new" / "deeper" / "rpu.v").is_file()
    assert main(["simulate", "--weights", "W.npz", "--inputs", "X.npy", "--out", "Y.npz",
                 *SMALL]) == 0
    report = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert report["bit_exact_with_fixed_point_model"] is True
    assert (work / "Y.npz").is_file()
