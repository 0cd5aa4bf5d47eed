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


@pytest.mark.parametrize("batch", [2, 3])
def test_run_batched_inputs_on_a_batch_rpu(tmp_path, capsys, batch):
    """The sequences of batched inputs run B at a time (the last batch filled with zeros):
    the same outputs as one at a time, in the cycles of ceil(N / B) runs, and the same
    modelled energy per sequence except the weight reads, shared by the B sequences."""
    reference = np.load(DATA / "reference.npz")
    x = reference["chain_x"]
    np.save(tmp_path / "x.npy", x)
    reports = []
    for b in (1, batch):
        code = main(["run", str(DATA / "chain.safetensors"), "--inputs",
                     str(tmp_path / "x.npy"), "--out", str(tmp_path / f"y{b}.npz"),
                     "--batch", str(b), *SMALL])
        assert code == 0
        reports.append(json.loads(capsys.readouterr().out))
    one, batched = reports
    sequences = one["sequences"]
    assert batched["sequences"] == sequences == x.shape[0 if one["model"]["batch_first"]
                                                        else 1]
    assert batched["bit_exact_with_fixed_point_model"]
    assert batched["cycles"] == batched["predicted_cycles"]
    runs = -(-sequences // batch)
    assert batched["cycles"] == one["cycles"] // sequences * runs
    np.testing.assert_array_equal(np.load(tmp_path / f"y{batch}.npz")["h"],
                                  np.load(tmp_path / "y1.npz")["h"])
    counts = [r["energy"]["action_counts"] for r in reports]
    assert counts[1]["weight_read"] * sequences == counts[0]["weight_read"] * runs
    assert counts[1]["mac"] * sequences == counts[0]["mac"] * runs * batch


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


@pytest.mark.parametrize("width", [8, 4])
def test_run_low_precision_weights_with_row_scales(tmp_path, capsys, width):
    """``run --weight-width 8 --row-scales 1``: no fractional bits to work out by hand; the
    calibrated per-row scales make the RPU bit exact with the fixed-point model and far
    closer to torch than the same weights without scales."""
    reference = np.load(DATA / "reference.npz")
    np.save(tmp_path / "x.npy", reference["chain_x"])
    torch_y = reference["chain_y64"]
    if not bool(reference["chain_batch_first"]):
        torch_y = torch_y.transpose(1, 0, 2)
    errors = {}
    for scales in ("0", "1"):
        out = tmp_path / f"y{scales}.npz"
        code = main(["run", str(DATA / "chain.safetensors"), "--inputs",
                     str(tmp_path / "x.npy"), "--out", str(out), "--weight-width", str(width),
                     "--row-scales", scales, *SMALL])
        report = json.loads(capsys.readouterr().out)
        assert code == 0
        assert report["bit_exact_with_fixed_point_model"]
        assert report["cycles"] == report["predicted_cycles"]
        errors[scales] = float(np.abs(np.load(out)["h"] - torch_y).mean())
    # 8-bit weights are already close without scales; 4-bit ones need them.
    assert errors["1"] < errors["0"] / {8: 1.1, 4: 2}[width]
