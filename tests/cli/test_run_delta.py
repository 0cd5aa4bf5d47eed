"""``python -m rpu run --delta``: the delta mode end to end, from a trained model file.

The outputs are checked against the dense run of the same model (thresholds 0) and against
the sparsity of x counted here from the inputs the run was given.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

from rpu.cli import main
from tests.helpers import IMPORT_DATA as DATA, REPO

SMALL = ["--pim-arrays", "2", "--lanes-per-array", "4", "--activation-units", "1",
         "--elementwise-units", "1", "--no-calibrate"]


def slow_inputs(tmp_path, steps=12, size=3, seed=0):
    """A slowly varying (T, I) sequence, saved as x.npy."""
    rng = np.random.default_rng(seed)
    x = np.clip(np.cumsum(rng.normal(0, 0.1, (steps, size)), axis=0), -2, 2)
    np.save(tmp_path / "x.npy", x)
    return x


def run(capsys, tmp_path, *options):
    out = tmp_path / "y.npz"
    code = main(["run", str(DATA / "l1.safetensors"), "--inputs", str(tmp_path / "x.npy"),
                 "--out", str(out), *SMALL, *options])
    return code, json.loads(capsys.readouterr().out), np.load(out)["h"]


def test_run_delta_with_thresholds_zero_equals_the_dense_run(tmp_path, capsys):
    slow_inputs(tmp_path)
    code, dense, dense_h = run(capsys, tmp_path)
    assert code == 0 and "delta" not in dense
    code, delta, delta_h = run(capsys, tmp_path, "--delta", "--theta-x", "0",
                               "--theta-h", "0")
    assert code == 0
    assert delta["bit_exact_with_fixed_point_model"]
    assert delta["cycles"] == delta["predicted_cycles"]
    np.testing.assert_array_equal(delta_h, dense_h)
    assert delta["delta"]["x_sparsity"] == delta["delta"]["h_sparsity"] == 0
    assert delta["delta"]["dense_predicted_cycles"] == dense["cycles"]


def test_run_delta_skips_columns(tmp_path, capsys):
    x = slow_inputs(tmp_path, steps=16)
    code, report, h = run(capsys, tmp_path, "--delta", "--theta-x", "400", "--theta-h", "300")
    assert code == 0
    assert report["bit_exact_with_fixed_point_model"]
    assert report["cycles"] == report["predicted_cycles"]
    delta = report["delta"]
    # The sparsity of x, counted here from the inputs: a column is skipped when it moved by
    # less than 400 LSBs (Q3.12) from the value last propagated; the first step is dense.
    codes = np.clip(np.floor(x * 4096 + 0.5), -32768, 32767).astype(np.int64)
    reference, skipped = codes[0].copy(), 0
    for values in codes[1:]:
        moved = np.abs(values - reference) >= 400
        reference[moved] = values[moved]
        skipped += int((~moved).sum())
    assert delta["x_sparsity"] == pytest.approx(skipped / (15 * 3))
    assert 0 < delta["h_sparsity"] < 1
    assert delta["column_reduction"] > 1.5
    assert report["energy"]["gops_per_watt_modelled"] > \
        delta["dense_energy"]["gops_per_watt_modelled"]
    assert h.shape == (16, 5)


def test_run_delta_calibrates_its_thresholds(tmp_path, capsys):
    slow_inputs(tmp_path, steps=20)
    code, report, _ = run(capsys, tmp_path, "--delta", "--delta-budget", "0.1")
    assert code == 0 and report["bit_exact_with_fixed_point_model"]
    assert report["cycles"] == report["predicted_cycles"]
    delta = report["delta"]
    assert delta["chosen_by"] == "calibration"
    assert delta["metric_value"] <= delta["budget"] == 0.1


@pytest.mark.parametrize("arguments, message", [
    (["--theta-x", "1", "--theta-h", "1"], "--theta-x: needs --delta"),
    (["--delta", "--theta-x", "1"], "--theta-x and --theta-h: give both"),
    (["--delta", "--theta-x", "1", "--theta-h", "70000"], "--theta-h must be from 0 to 65535"),
    (["--delta", "--theta-x", "1", "--theta-h", "1", "--delta-budget", "0.1"],
     "--delta-budget: the thresholds are given"),
    (["--delta", "--delta-budget", "-1"], "--delta-budget must be a finite number > 0"),
    (["--delta", "--batch", "2"], "--delta needs --batch 1"),
])
def test_run_delta_bad_options(tmp_path, arguments, message):
    slow_inputs(tmp_path)
    process = subprocess.run(
        [sys.executable, "-m", "rpu", "run", str(DATA / "l1.safetensors"), "--inputs",
         str(tmp_path / "x.npy"), "--out", str(tmp_path / "y.npz"), *SMALL, *arguments],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert process.returncode == 2, process.stderr
    assert message in process.stderr
    assert not (tmp_path / "y.npz").exists()


def test_run_delta_refuses_a_stack(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.normal(0, 0.5, (4, 5)))
    process = subprocess.run(
        [sys.executable, "-m", "rpu", "run", str(DATA / "l3.safetensors"), "--inputs",
         str(tmp_path / "x.npy"), *SMALL, "--delta"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert process.returncode == 2, process.stderr
    assert "--delta: the delta datapath runs one LSTM layer; MODEL has 3" in process.stderr


@pytest.mark.parametrize("argv, message", [
    (["fpga", "--board", "ulx3s-85f", "--input-size", "4", "--hidden-size", "4", "--delta",
      "--check-only", "-o", "{out}"], "--delta: the delta datapath is not supported on a board"),
    (["run", str(DATA / "l1.safetensors"), "--inputs", "{x}", "--delta", "--device",
      "/dev/null"], "delta: a board runs no delta program yet"),
])
def test_no_delta_on_a_board_yet(tmp_path, argv, message):
    slow_inputs(tmp_path)
    argv = [a.format(out=tmp_path / "fpga", x=tmp_path / "x.npy") for a in argv]
    process = subprocess.run([sys.executable, "-m", "rpu", *argv], cwd=REPO,
                             capture_output=True, text=True, timeout=300)
    assert process.returncode == 2, process.stderr
    assert message in process.stderr
    assert not (tmp_path / "fpga").exists()
