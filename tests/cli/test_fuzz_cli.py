"""Property-based fuzzing of the command line's options (issue 10).

Hypothesis draws ``generate`` and ``simulate`` command lines: a tiny valid base (I=2, H=3,
4 MAC lanes) with some options replaced by random values (small integers, limits and just
past them, floats, empty and odd strings, random text) and a random output path (fresh,
empty, a file, under a file, unwritable, NUL, too long, random names). ``main()`` runs in
this process. The only outcomes allowed:

* exit 0, with the outputs written (``rpu.v`` and ``rpu.json``; ``Y.npz``);
* exit 2, with an error that names an option of the command (an argparse error or
  ``error: ...``), no traceback, and nothing written.

The default run draws about a hundred command lines (derandomized: the same ones every
run); ``pytest -m long`` draws many more, with fresh randomness.
"""

import contextlib
import io
import os
import re
import tempfile
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

from rpu.cli import main
from rpu.cli.options import option_name
from rpu.config import RPUConfig
from tests.cli.paths import unwritable_folder
from tests.helpers import random_lstm


I, H, T = 2, 3, 2
#: A tiny valid configuration; the fuzzer replaces some of it.
BASE = {"--input-size": "2", "--hidden-size": "3", "--pim-arrays": "1",
        "--lanes-per-array": "4", "--activation-units": "1", "--elementwise-units": "1"}
CONFIG_OPTIONS = [option_name(field.name) for field in fields(RPUConfig)]

#: Values of an integer option: valid or not, by type, by range or by their combination.
VALUES = st.one_of(
    st.integers(-2, 8).map(str),
    st.sampled_from(["0", "-1", "1", "2", "4", "12", "16", "17", "20", "21", "64", "1024",
                     "1025", "16384", "16385", "65536", "2147483648", "-2147483649",
                     "99999999999999999999", "1e3", "2.5", "4.0", "nan", "inf", "", " ",
                     "0x10", "1_0", "+4", " 4 ", "\u0663", "--", "-x", "four", "None",
                     "True", "[4]", "\x00", "4\x00"]),
    st.text(max_size=6),
)
#: Output paths: kinds resolved against a fresh work folder (most of them bad, so that few
#: command lines do the slow work), or a random name in it.
OUTPUTS = st.sampled_from(["empty", "file", "under-file", "unwritable", "nul", "too-long",
                           "space", "fresh", "nested", "dot", "name"])
NAMES = st.text(st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)),
                min_size=1, max_size=12).filter(lambda name: name not in ("..", "."))
#: Settings of the default run: about a hundred command lines in all, the same every run.
DEFAULT = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.too_slow])
LONG = settings(max_examples=600, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])


def draw_output(data, good, work, locked, name, label):
    """An output path in ``work`` (``name``: the output's file name); one that can be
    written if ``good``."""
    kind = data.draw(st.sampled_from(GOOD_OUTPUTS) if good else OUTPUTS, label=label)
    if kind == "name":
        return data.draw(NAMES, label=label + " name")   # relative: in the work folder
    return {"fresh": str(work / name), "nested": str(work / "a" / "b" / name),
            "empty": "", "space": " ", "file": str(work / "existing"),
            "under-file": str(work / "notes.txt" / name), "unwritable": str(locked / name),
            "nul": str(work / "a\x00b"), "too-long": str(work / ("x" * 300)),
            "dot": "."}[kind]


#: Values that are valid on their own (their combinations need not be): some of the command
#: lines draw from these only, so that successful runs are a sizeable share.
GOOD_VALUES = {"--input-size": ["2", "4"], "--hidden-size": ["3", "4"],
               "--num-layers": ["1", "2"], "--pim-arrays": ["1", "2"],
               "--lanes-per-array": ["4", "8"], "--activation-units": ["1"],
               "--elementwise-units": ["1"], "--data-width": ["12", "16"],
               "--data-frac-bits": ["8", "10"], "--weight-width": ["12", "16"],
               "--weight-frac-bits": ["8", "10"], "--cell-frac-bits": ["6", "8"],
               "--activation-segments": ["16", "64"], "--row-scales": ["0", "1"],
               "--simulator": ["amaranth"]}
GOOD_OUTPUTS = ["fresh", "nested", "dot", "name"]


def draw_options(data, good, extra=()):
    """The base options with some of them (or of ``extra``) replaced (by valid values only
    if ``good``); returns the argv."""
    options = dict(BASE)
    names = CONFIG_OPTIONS + list(extra)
    if good:
        names = [name for name in names if name in GOOD_VALUES]
    chosen = data.draw(st.lists(st.sampled_from(names), min_size=0, max_size=2, unique=True),
                       label="options")
    for option in chosen:
        values = st.sampled_from(GOOD_VALUES[option]) if good else VALUES
        options[option] = data.draw(values, label=option)
    argv = []
    for option, value in options.items():
        if data.draw(st.booleans(), label="joined"):
            argv.append(f"{option}={value}")
        else:
            argv += [option, value]
    return argv


def run_main(argv):
    """``main(argv)`` in this process: ``(exit code, stdout, stderr)``."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit:                 # argparse
            code = exit.code
    return code, out.getvalue(), err.getvalue()


def check_outcome(code, err, options, argv):
    """Exit 0, or exit 2 with an error that names one of ``options`` and no traceback."""
    event(f"exit {code}")
    assert code in (0, 2), (argv, code, err)
    if code == 2:
        assert "Traceback" not in err, (argv, err)
        assert err.startswith("error: ") or "error: argument" in err \
            or "error: the following arguments" in err, (argv, err)
        named = set(re.findall(r"(?<![\w-])(-o|--[a-z][a-z-]*)", err))
        assert named & set(options), (argv, err)


@contextlib.contextmanager
def work_folder():
    """A fresh work folder, also the current directory, with two files (``notes.txt`` must
    stay as it is, ``existing`` may be replaced by an output file) and an unwritable folder
    in it."""
    previous = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="rpu-fuzz-") as name:
        work = Path(name)
        (work / "notes.txt").write_text("precious")
        (work / "existing").write_text("an earlier output")
        os.chdir(work)
        try:
            with unwritable_folder(work / "locked") as locked:
                yield work, locked
        finally:
            os.chdir(previous)


def files_in(folder):
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


def fuzz_generate(data):
    with work_folder() as (work, locked):
        good = data.draw(st.integers(0, 3), label="mode") == 3
        argv = draw_options(data, good)
        out = draw_output(data, good, work, locked, "out", "-o")
        argv = ["generate", *argv, "-o", out]
        before = files_in(work)
        code, _, err = run_main(argv)
        check_outcome(code, err, CONFIG_OPTIONS + ["-o", "--output"], argv)
        if code == 0:
            assert (Path(out) / "rpu.v").is_file() and (Path(out) / "rpu.json").is_file()
        else:
            assert files_in(work) == before, argv
        assert (work / "notes.txt").read_text() == "precious"


def fuzz_simulate(data, weights, inputs):
    with work_folder() as (work, locked):
        good = data.draw(st.integers(0, 1), label="mode") == 1   # simulations are quick
        argv = draw_options(data, good, extra=["--simulator"])
        out = draw_output(data, good, work, locked, "Y.npz", "--out")
        argv = ["simulate", "--weights", str(weights), "--inputs", str(inputs), *argv,
                "--out", out]
        if data.draw(st.booleans(), label="with --vcd"):
            vcd = draw_output(data, good, work, locked, "w.vcd", "--vcd")
            argv += ["--vcd", vcd]
        before = files_in(work)
        code, _, err = run_main(argv)
        check_outcome(code, err, CONFIG_OPTIONS + ["--out", "--vcd", "--simulator"], argv)
        if code == 0:
            with np.load(out) as result:
                assert result["h"].shape == (T, H)
                assert int(result["cycles"]) == int(result["predicted_cycles"])
        else:
            assert files_in(work) == before, argv
        assert (work / "notes.txt").read_text() == "precious"


@pytest.fixture(scope="module")
def lstm_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lstm")
    np.savez(folder / "W.npz", **random_lstm(np.random.default_rng(0), I, H))
    np.save(folder / "X.npy", np.random.default_rng(1).standard_normal((T, I)))
    return folder / "W.npz", folder / "X.npy"


@DEFAULT
@given(st.data())
def test_fuzz_generate_options(data):
    fuzz_generate(data)


@settings(DEFAULT, max_examples=60)
@given(data=st.data())
def test_fuzz_simulate_options(lstm_files, data):
    fuzz_simulate(data, *lstm_files)


@pytest.mark.long
@LONG
@given(st.data())
def test_fuzz_generate_options_long(data):
    fuzz_generate(data)


@pytest.mark.long
@LONG
@given(data=st.data())
def test_fuzz_simulate_options_long(lstm_files, data):
    fuzz_simulate(data, *lstm_files)
