"""``python -m rpu run``: a trained model (torch reference outputs) through import,
calibration and simulation, batched inputs by the model's layout."""

import json
import subprocess
import sys

import numpy as np
import pytest

from rpu.cli import main
from tests.helpers import IMPORT_DATA as DATA, REPO

SMALL = ["--pim-arrays", "2", "--lanes-per-array", "4", "--activation-units", "1",
         "--elementwise-units", "1"]


@pytest.mark.parametrize("case, suffix", [("l2_bf", "onnx"), ("chain", "safetensors"),
                                          ("l1", "npz")])
def test_run_matches_torch(tmp_path, capsys, case, suffix):
    reference = np.load(DATA / "reference.npz")
    x = reference[f"{case}_x"]                 # batched, in the model's layout
    np.save(tmp_path / "x.npy", x)
    code = main(["run", str(DATA / f"{case}.{suffix}"), "--inputs", str(tmp_path / "x.npy"),
                 "--out", str(tmp_path / "y.npz"), *SMALL])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["bit_exact_with_fixed_point_model"]
    assert report["cycles"] == report["predicted_cycles"]
    assert report["calibration"]["saturations"] == {"input": 0, "preactivation": 0,
                                                    "cell": 0, "hidden": 0}
    h = np.load(tmp_path / "y.npz")["h"]                         # (B, T, H)
    torch_y = reference[f"{case}_y64"]
    if not bool(reference[f"{case}_batch_first"]):
        torch_y = torch_y.transpose(1, 0, 2)
    assert h.shape == torch_y.shape
    assert np.abs(h - torch_y).max() <= 2 ** -7
    assert report["energy"]["total_pj_modelled"] > 0
    assert report["gops"] > 0


def test_run_with_vcd_and_given_formats(tmp_path, capsys):
    reference = np.load(DATA / "reference.npz")
    np.save(tmp_path / "x.npy", reference["l1_x"][:, 0])        # one (T, I) sequence
    code = main(["run", str(DATA / "l1.safetensors"), "--inputs", str(tmp_path / "x.npy"),
                 "--no-calibrate", "--data-frac-bits", "11", "--vcd", str(tmp_path / "w.vcd"),
                 *SMALL])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["calibration"] is None
    assert report["formats"]["data"].startswith("Q4.11")
    assert (tmp_path / "w.vcd").stat().st_size > 1000


@pytest.mark.parametrize("arguments, message", [
    (["run", "missing.onnx", "--inputs", "{x}"], "MODEL"),
    (["run", "{model}", "--inputs", "{bad}"], "--inputs"),
    (["run", "{model}", "--inputs", "{x}", "--clock-mhz", "0"], "--clock-mhz"),
    (["run", "{model}", "--inputs", "{x}", "--simulator", "verilator", "--vcd", "{vcd}"],
     "--vcd"),
])
def test_run_bad_input(tmp_path, arguments, message):
    reference = np.load(DATA / "reference.npz")
    np.save(tmp_path / "x.npy", reference["l1_x"])
    np.save(tmp_path / "bad.npy", np.ones((4, 2, 7)))
    values = {"x": tmp_path / "x.npy", "bad": tmp_path / "bad.npy",
              "model": DATA / "l1.npz", "vcd": tmp_path / "w.vcd"}
    argv = [a.format(**values) for a in arguments]
    process = subprocess.run([sys.executable, "-m", "rpu", *argv], cwd=REPO,
                             capture_output=True, text=True, timeout=300)
    assert process.returncode == 2, process.stderr
    assert message in process.stderr
    assert not (tmp_path / "w.vcd").exists()
