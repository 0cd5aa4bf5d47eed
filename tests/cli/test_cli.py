"""The command line: ``python -m rpu generate`` and ``python -m rpu simulate``.

Successes write complete outputs; every bad input gives exit code 2, an ``error:`` on stderr
naming the parameter or option, and leaves no output (file, directory or temporary) behind.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

from lstm_ref.float_lstm import lstm_forward
from rpu.cli import main
from rpu.config import RPUConfig
from rpu.compiler import plan_schedule
from tests.helpers import REPO, random_lstm


I, H, T = 3, 5, 4
SMALL = ["--pim-arrays", "1", "--lanes-per-array", "8",
         "--activation-units", "1", "--elementwise-units", "1"]
SMALL_CONFIG = RPUConfig(input_size=I, hidden_size=H, pim_arrays=1, lanes_per_array=8,
                         activation_units=1, elementwise_units=1)


def lstm_weights(input_size=I, hidden_size=H, seed=0):
    return random_lstm(np.random.default_rng(seed), input_size, hidden_size)


def lstm_inputs(steps=T, input_size=I, seed=1):
    return np.random.default_rng(seed).standard_normal((steps, input_size))


@pytest.fixture
def files(tmp_path):
    """A work directory with a good W.npz and X.npy; returns a dict of paths."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    np.savez(inputs / "W.npz", **lstm_weights())
    np.save(inputs / "X.npy", lstm_inputs())
    out = tmp_path / "out"
    out.mkdir()
    return {"W": inputs / "W.npz", "X": inputs / "X.npy", "in": inputs, "out": out,
            "Y": out / "Y.npz"}


def simulate_args(files, *extra, weights=None, inputs=None, out=None):
    return ["simulate", "--weights", str(weights or files["W"]),
            "--inputs", str(inputs or files["X"]), "--out", str(out or files["Y"]),
            *SMALL, *extra]


def run_rpu(*args):
    """``python -m rpu ...`` in a real process, from the repository root."""
    return subprocess.run([sys.executable, "-m", "rpu", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def assert_bad_input(capsys, argv, *mentions):
    """``main(argv)`` returns 2 with an ``error:`` naming each of ``mentions``."""
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2, captured
    assert captured.err.startswith("error: "), captured.err
    assert "Traceback" not in captured.err
    for mention in mentions:
        assert mention in captured.err, (mention, captured.err)
    assert captured.out == ""
    return captured.err


# generate -------------------------------------------------------------------------------

GENERATE = ["generate", "--input-size", "3", "--hidden-size", "5", *SMALL]


def test_generate_writes_both_files(tmp_path, capsys):
    out = tmp_path / "build"
    assert main([*GENERATE, "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "rpu.v" in captured.out and captured.err == ""
    verilog = (out / "rpu.v").read_text()
    assert "module rpu(" in verilog
    parameters = json.loads((out / "rpu.json").read_text())
    assert parameters["configuration"] == SMALL_CONFIG.to_dict()
    assert {"x", "h", "weights", "program", "start", "busy"} <= {
        port["name"] for port in parameters["ports"]}
    assert parameters["memories"]
    expected = plan_schedule(SMALL_CONFIG, I, H)
    assert parameters["schedule"]["cycles_per_step"] == expected.step_cycles
    steps = parameters["schedule"]["steps"]
    assert parameters["schedule"]["utilization"] == pytest.approx(expected.utilization(steps))
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".rpu-")]


def test_generate_subprocess(tmp_path):
    out = tmp_path / "build"
    result = run_rpu(*GENERATE, "--output", out)
    assert result.returncode == 0, result.stderr
    assert (out / "rpu.v").is_file() and (out / "rpu.json").is_file()
    assert json.loads((out / "rpu.json").read_text())["configuration"]["hidden_size"] == 5

    bad = tmp_path / "bad"
    result = run_rpu(*GENERATE, "--lanes-per-array", "3", "-o", bad)
    assert result.returncode == 2
    assert "--lanes-per-array" in result.stderr and "Traceback" not in result.stderr
    assert not bad.exists()


BAD_GENERATE = [
    (["--hidden-size", "0"], "--hidden-size"),
    (["--input-size", "-2"], "--input-size"),
    (["--input-size", "20000"], "--input-size"),
    (["--lanes-per-array", "3"], "--lanes-per-array"),
    (["--pim-arrays", "0"], "--pim-arrays"),
    (["--activation-units", "3"], "--activation-units"),
    (["--elementwise-units", "0"], "--elementwise-units"),
    (["--data-frac-bits", "15", "--data-width", "16"], "--data-frac-bits"),
    (["--data-width", "40"], "--data-width"),
    (["--weight-width", "1"], "--weight-width"),
    (["--weight-frac-bits", "16"], "--weight-frac-bits"),
    (["--activation-segments", "3"], "--activation-segments"),
    (["--activation-segments", "32768"], "--activation-segments"),
]


@pytest.mark.parametrize("extra, option", BAD_GENERATE, ids=[" ".join(e) for e, _ in BAD_GENERATE])
def test_generate_bad_config(tmp_path, capsys, extra, option):
    out = tmp_path / "build" / "rpu"
    assert_bad_input(capsys, [*GENERATE, *extra, "-o", str(out)], option)
    assert list(tmp_path.iterdir()) == []          # not even the parent was created


def test_generate_allowed_units_listed(tmp_path, capsys):
    out = tmp_path / "build"
    assert_bad_input(capsys, ["generate", "--input-size", "3", "--hidden-size", "5",
                              "--pim-arrays", "4", "--lanes-per-array", "4",
                              "--activation-units", "3", "--elementwise-units", "1",
                              "-o", str(out)], "--activation-units", "1, 2, 4")
    assert not out.exists()


def test_generate_output_is_a_file(tmp_path, capsys):
    out = tmp_path / "build"
    out.write_text("precious")
    assert_bad_input(capsys, [*GENERATE, "-o", str(out)], str(out))
    assert out.read_text() == "precious"
    assert [path.name for path in tmp_path.iterdir()] == ["build"]


# simulate -------------------------------------------------------------------------------

def check_simulation_output(path, weights, x):
    with np.load(path) as result:
        h, c, cycles = result["h"], result["c"], int(result["cycles"])
        predicted = int(result["predicted_cycles"])
    assert h.shape == (T, H) and c.shape == (T, H)
    assert h.dtype == np.float64 and c.dtype == np.float64
    assert cycles == predicted == plan_schedule(SMALL_CONFIG, I, H).total_cycles(T)
    reference = lstm_forward(x, **weights)
    assert np.max(np.abs(h - reference.h)) <= 2.0 ** -7
    assert np.max(np.abs(c - reference.c)) <= 2.0 ** -7
    assert np.any(h != 0)


def test_simulate(files, capsys):
    assert main(simulate_args(files)) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    report = json.loads(captured.out)
    assert report["bit_exact_with_fixed_point_model"] is True
    assert report["cycles"] == report["predicted_cycles"]
    check_simulation_output(files["Y"], lstm_weights(), lstm_inputs())
    assert sorted(path.name for path in files["out"].iterdir()) == ["Y.npz"]


def test_simulate_with_larger_capacity(files, capsys):
    # Capacity I=4, H=6 for an LSTM of I=3, H=5: same results.
    assert main(simulate_args(files, "--input-size", "4", "--hidden-size", "6")) == 0
    capsys.readouterr()
    with np.load(files["Y"]) as result:
        h = result["h"]
    reference = lstm_forward(lstm_inputs(), **lstm_weights())
    assert h.shape == (T, H)
    assert np.max(np.abs(h - reference.h)) <= 2.0 ** -7


def test_simulate_subprocess(files):
    result = run_rpu(*simulate_args(files))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["cycles"] > 0
    check_simulation_output(files["Y"], lstm_weights(), lstm_inputs())

    bad = files["out"] / "bad.npz"
    np.savez(files["in"] / "Wbad.npz", **dict(lstm_weights(), weight_ih=np.full((20, 3), np.nan)))
    result = run_rpu(*simulate_args(files, weights=files["in"] / "Wbad.npz", out=bad))
    assert result.returncode == 2
    assert "weight_ih" in result.stderr and "Traceback" not in result.stderr
    assert not bad.exists()


def _weights(**changes):
    weights = lstm_weights()
    weights.update(changes)
    return {name: value for name, value in weights.items() if value is not None}


def _nan(shape, where=(0, 0), value=np.nan):
    array = np.zeros(shape)
    array[where] = value
    return array


# (name, {"weights": dict of arrays or raw bytes, "inputs": array or raw bytes,
#         "args": extra options, "out": output path relative to the out dir}, mentions)
BAD_SIMULATE = [
    ("hidden-size-0", dict(args=["--hidden-size", "0"]), ["--hidden-size"]),
    ("input-size-negative", dict(args=["--input-size", "-1"]), ["--input-size"]),
    ("lanes-3", dict(args=["--lanes-per-array", "3"]), ["--lanes-per-array"]),
    ("activation-units-3", dict(args=["--activation-units", "3"]), ["--activation-units"]),
    ("elementwise-units-3", dict(args=["--elementwise-units", "3"]), ["--elementwise-units"]),
    ("frac-bits-15", dict(args=["--data-frac-bits", "15", "--data-width", "16"]),
     ["--data-frac-bits"]),
    ("segments-3", dict(args=["--activation-segments", "3"]), ["--activation-segments"]),
    ("weight-width-30", dict(args=["--weight-width", "30"]), ["--weight-width"]),
    ("missing-weights-file", dict(weights="missing"), ["--weights", "no such file"]),
    ("weights-key-w_ih", dict(weights=_weights(weight_ih=None,
                                               w_ih=lstm_weights()["weight_ih"])),
     ["--weights", "w_ih"]),
    ("weights-missing-weight_hh", dict(weights=_weights(weight_hh=None)),
     ["--weights", "weight_hh"]),
    ("weight_hh-shape", dict(weights=_weights(weight_hh=np.zeros((20, 4)))),
     ["--weights", "weight_hh"]),
    ("weight_hh-transposed", dict(weights=_weights(weight_hh=np.zeros((5, 20)))),
     ["--weights", "weight_hh"]),
    ("weight_ih-rows-not-4H", dict(weights=_weights(weight_ih=np.zeros((18, 3)))),
     ["--weights", "weight_ih"]),
    ("weight_ih-1d", dict(weights=_weights(weight_ih=np.zeros(60))),
     ["--weights", "weight_ih"]),
    ("bias_ih-shape", dict(weights=_weights(bias_ih=np.zeros(21))),
     ["--weights", "bias_ih"]),
    ("nan-weight_ih", dict(weights=_weights(weight_ih=_nan((20, 3))),),
     ["--weights", "weight_ih"]),
    ("inf-weight_hh", dict(weights=_weights(weight_hh=_nan((20, 5), (3, 4), -np.inf))),
     ["--weights", "weight_hh"]),
    ("nan-bias_hh", dict(weights=_weights(bias_hh=_nan(20, 7))), ["--weights", "bias_hh"]),
    ("complex-weights", dict(weights=_weights(weight_ih=np.zeros((20, 3), complex))),
     ["--weights", "weight_ih"]),
    ("string-weights", dict(weights=_weights(bias_ih=np.array(["a"] * 20))),
     ["--weights", "bias_ih"]),
    ("weights-is-npy", dict(weights=b"npy"), ["--weights"]),
    ("weights-not-zip", dict(weights=b"hello, world"), ["--weights"]),
    ("weights-corrupt-zip", dict(weights=b"PK\x03\x04 garbage"), ["--weights"]),
    ("lstm-bigger-than-hidden-size", dict(args=["--hidden-size", "4"]),
     ["--hidden-size", "H=5"]),
    ("lstm-bigger-than-input-size", dict(args=["--input-size", "2"]),
     ["--input-size", "I=3"]),
    ("missing-inputs-file", dict(inputs="missing"), ["--inputs", "no such file"]),
    ("inf-inputs", dict(inputs=_nan((T, I), (2, 1), np.inf)), ["--inputs"]),
    ("nan-inputs", dict(inputs=_nan((T, I), (0, 2))), ["--inputs"]),
    ("inputs-too-wide", dict(inputs=np.zeros((T, I + 1))), ["--inputs", "(4, 4)"]),
    ("inputs-too-narrow", dict(inputs=np.zeros((T, I - 1))), ["--inputs"]),
    ("inputs-1d", dict(inputs=np.zeros(I)), ["--inputs"]),
    ("inputs-3d", dict(inputs=np.zeros((T, I, 1))), ["--inputs"]),
    ("inputs-no-steps", dict(inputs=np.zeros((0, I))), ["--inputs"]),
    ("inputs-strings", dict(inputs=np.array([["a", "b", "c"]] * T)), ["--inputs"]),
    ("inputs-bool", dict(inputs=np.ones((T, I), bool)), ["--inputs"]),
    ("inputs-complex", dict(inputs=np.ones((T, I), complex)), ["--inputs"]),
    ("inputs-empty-file", dict(inputs=b""), ["--inputs"]),
    ("inputs-text-file", dict(inputs=b"1 2 3\n4 5 6\n"), ["--inputs"]),
    ("inputs-corrupt-zip", dict(inputs=b"PK\x03\x04 garbage"), ["--inputs"]),
    ("inputs-is-npz", dict(inputs=b"npz"), ["--inputs"]),
    ("out-in-missing-directory", dict(out="no/such/dir/Y.npz"), ["--out"]),
    ("out-is-a-directory", dict(out="."), ["--out"]),
]


@pytest.mark.parametrize("case, mentions", [(c, m) for _, c, m in BAD_SIMULATE],
                         ids=[name for name, _, _ in BAD_SIMULATE])
def test_simulate_bad_input(files, capsys, case, mentions):
    weights, inputs = files["W"], files["X"]
    if "weights" in case:
        weights = files["in"] / "W_bad.npz"
        if case["weights"] == b"npy":
            with open(weights, "wb") as file:        # a single array under a .npz name
                np.save(file, lstm_weights()["weight_ih"])
        elif isinstance(case["weights"], bytes):
            weights.write_bytes(case["weights"])
        elif case["weights"] == "missing":
            weights = files["in"] / "missing.npz"
        else:
            np.savez(weights, **case["weights"])
    if "inputs" in case:
        inputs = files["in"] / "X_bad.npy"
        if isinstance(case["inputs"], np.ndarray):
            np.save(inputs, case["inputs"])
        elif case["inputs"] == b"npz":
            with open(inputs, "wb") as file:         # an archive under a .npy name
                np.savez(file, x=lstm_inputs())
        elif isinstance(case["inputs"], bytes):
            inputs.write_bytes(case["inputs"])
        else:
            assert case["inputs"] == "missing"
            inputs = files["in"] / "missing.npy"
    out = files["out"] / case.get("out", "Y.npz")
    before = sorted(path.name for path in files["in"].parent.rglob("*"))
    assert_bad_input(capsys, simulate_args(files, *case.get("args", ()), weights=weights,
                                           inputs=inputs, out=out), *mentions)
    assert not files["Y"].exists()
    assert list(files["out"].iterdir()) == []
    assert sorted(path.name for path in files["in"].parent.rglob("*")) == before


# argparse errors ------------------------------------------------------------------------

ARGPARSE_ERRORS = [
    ([], "COMMAND"),
    (["compile"], "compile"),
    ([*GENERATE, "-o", "{out}", "--frobnicate"], "--frobnicate"),
    (["generate", "--hidden-size", "5", "-o", "{out}"], "--input-size"),
    ([*GENERATE], "--output"),
    ([*GENERATE, "--hidden-size", "five", "-o", "{out}"], "--hidden-size"),
    ([*GENERATE, "--lanes-per-array", "2.5", "-o", "{out}"], "--lanes-per-array"),
    (["simulate", "--inputs", "X.npy", "--out", "{out}"], "--weights"),
    (["simulate", "--weights", "W.npz", "--out", "{out}"], "--inputs"),
    (["simulate", "--weights", "W.npz", "--inputs", "X.npy"], "--out"),
]


@pytest.mark.parametrize("argv, mention", ARGPARSE_ERRORS,
                         ids=[" ".join(a[:1] + a[-2:]) or "empty" for a, _ in ARGPARSE_ERRORS])
def test_argparse_errors_exit_2(tmp_path, capsys, argv, mention):
    out = tmp_path / "out"
    argv = [arg.replace("{out}", str(out)) for arg in argv]
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert mention in captured.err
    assert not out.exists()


def test_argparse_errors_subprocess(tmp_path):
    out = tmp_path / "out"
    result = run_rpu(*GENERATE, "-o", out, "--frobnicate")
    assert result.returncode == 2
    assert "--frobnicate" in result.stderr
    result = run_rpu("simulate", "--inputs", "X.npy", "--out", out / "Y.npz")
    assert result.returncode == 2
    assert "--weights" in result.stderr
    assert not out.exists()


def test_help_exits_0():
    result = run_rpu("--help")
    assert result.returncode == 0
    assert "generate" in result.stdout and "simulate" in result.stdout


def test_simulator_choices_match_rpu_sim():
    # --simulator lists the simulators without importing rpu.sim (Amaranth) at parse time.
    from rpu.cli.simulate import SIMULATORS
    import rpu.sim
    assert SIMULATORS == rpu.sim.SIMULATORS


def test_every_configuration_field_has_an_option_with_help():
    # The options are read from RPUConfig's fields: a new field gets its option, and needs a
    # help text in rpu.cli.options.CONFIG_HELP.
    from dataclasses import fields
    from rpu.cli.options import CONFIG_HELP, option_name
    names = [field.name for field in fields(RPUConfig)]
    assert sorted(CONFIG_HELP) == sorted(names)
    result = run_rpu("generate", "--help")
    assert result.returncode == 0
    for name in names:
        assert option_name(name) in result.stdout
