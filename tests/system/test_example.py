"""The digits example (examples/digits): a trained LSTM classifies the 450 held-out images on
the RPU (Verilator) within 1 percentage point of the float64 model.

The float64 accuracy is computed here from the golden model (:mod:`lstm_ref.float_lstm`) and
the committed weights; torch's recorded float32 figures (``float_reference.json``) are only
compared with it. The RPU run is the example's own (:func:`run_example`), i.e.
:func:`rpu.flow.run_model`: calibration on the 40 committed training images, the generated
Verilog simulated by Verilator for all 450 test images in one session (about 30 s once the
Verilator build is cached, about 1.5 min with a cold build).
"""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from lstm_ref.float_lstm import lstm_forward
from rpu.sim.verilator import find_verilator
from rpu.frontend import load_model
from tests.helpers import require_simulator


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits"


def _example_module():
    spec = importlib.util.spec_from_file_location("digits_run_example",
                                                  EXAMPLE / "run_example.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _require_verilator():
    require_simulator("verilator", find_verilator)


def _float64_predictions(x):
    """Predictions of the float64 golden LSTM + the linear head, computed independently of
    the example's code."""
    model = load_model(EXAMPLE / "model.safetensors")
    layer = model.layers[0]
    head = np.load(EXAMPLE / "classifier.npz")
    h_last = np.array([lstm_forward(sequence.astype(np.float64), layer["weight_ih"],
                                    layer["weight_hh"], layer["bias_ih"],
                                    layer["bias_hh"]).h[-1] for sequence in x])
    logits = h_last @ head["weight"].astype(np.float64).T + head["bias"].astype(np.float64)
    return logits.argmax(axis=1)


def test_committed_files():
    files = ["train.py", "run_example.py", "README.md", "model.safetensors", "classifier.npz",
             "test_set.npz", "calibration_set.npz", "float_reference.json"]
    assert sum((EXAMPLE / name).stat().st_size for name in files) < 200_000
    model = load_model(EXAMPLE / "model.safetensors")
    assert model.batch_first and model.source_format == "safetensors"
    assert (model.input_size, model.hidden_sizes) == (8, (32,))
    test = np.load(EXAMPLE / "test_set.npz")
    calibration = np.load(EXAMPLE / "calibration_set.npz")
    assert test["x"].shape == (450, 8, 8) and test["x"].dtype == np.float32
    assert test["labels"].shape == (450,)
    assert calibration["x"].shape == (40, 8, 8)
    # Calibration images are training images: none of them is in the test set.
    assert not set(calibration["indices"].tolist()) & set(test["indices"].tolist())
    assert np.bincount(test["labels"], minlength=10).min() >= 43      # stratified split


def test_float64_model_matches_torch():
    test = np.load(EXAMPLE / "test_set.npz")
    reference = json.loads((EXAMPLE / "float_reference.json").read_text())
    predictions = _float64_predictions(test["x"])
    torch_predictions = np.array(reference["test_predictions"])
    # Same predictions up to float32 (torch) vs float64 rounding: at most 2 of 450 differ.
    assert np.sum(predictions != torch_predictions) <= 2
    accuracy = np.mean(predictions == test["labels"])
    assert abs(accuracy - reference["test_accuracy"]) <= 2 / 450 + 1e-9
    assert accuracy >= 0.95


def test_rpu_accuracy_within_one_point_of_float():
    _require_verilator()
    test = np.load(EXAMPLE / "test_set.npz")
    labels = test["labels"]
    float_accuracy = np.mean(_float64_predictions(test["x"]) == labels)

    summary = _example_module().run_example(simulator="verilator")     # all 450 images
    assert summary["sequences"] == 450
    assert summary["labels"] == labels.tolist()
    rpu_accuracy = np.mean(np.array(summary["rpu_predictions"]) == labels)
    assert rpu_accuracy == summary["accuracy"]["rpu"]
    assert summary["accuracy"]["float64"] == float_accuracy
    assert abs(rpu_accuracy - float_accuracy) <= 0.01
    # The hardware computed what the fixed-point model computes, in the predicted cycles.
    assert summary["bit_exact_with_fixed_point_model"]
    assert summary["cycles"] == summary["predicted_cycles"]
    assert sum(summary["saturations"].values()) == 0
    assert summary["energy_pj_modelled"] > 0


def test_cli_path_gives_the_same_results():
    """``--via-cli`` (``python -m rpu run`` in a subprocess) on the first images."""
    _require_verilator()
    module = _example_module()
    summary = module.run_example(simulator="verilator", limit=12, via_cli=True)
    assert summary["path"] == "python -m rpu run"
    assert summary["bit_exact_with_fixed_point_model"]
    assert summary["cycles"] == summary["predicted_cycles"]
    test = np.load(EXAMPLE / "test_set.npz")
    assert summary["float64_predictions"] == _float64_predictions(test["x"][:12]).tolist()
    assert summary["predictions_differing"]["rpu_vs_float64"] == 0


@pytest.mark.long
def test_amaranth_simulator_on_a_few_images():
    """The slow path: Amaranth's simulator on the first 4 images."""
    summary = _example_module().run_example(simulator="amaranth", limit=4)
    assert summary["sequences"] == 4
    assert summary["bit_exact_with_fixed_point_model"]
    assert summary["cycles"] == summary["predicted_cycles"]
