"""The package :mod:`rpu.frontend`: its public names, its limits, and that it loads no
Amaranth."""

import subprocess
import sys

import numpy as np
import pytest

import rpu.frontend
from rpu.frontend import limits
from rpu.frontend.arrays import InputError, load_inputs
from tests.helpers import REPO


def test_import_does_not_load_amaranth():
    code = ("import sys, rpu.frontend, rpu.frontend.arrays; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'amaranth'))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_public_names():
    assert sorted(rpu.frontend.__all__) == sorted([
        "load_model", "ImportedLSTM", "ModelImportError", "FORMATS", "from_state_dict",
        "reorder_gates", "onnx_lstm_nodes", "read_safetensors", "ONNX_TO_TORCH_GATES"])
    for name in rpu.frontend.__all__:
        assert getattr(rpu.frontend, name) is not None
    assert rpu.frontend.FORMATS == ("safetensors", "onnx", "npz", "pt")
    assert issubclass(rpu.frontend.ModelImportError, ValueError)


def test_the_old_module_is_gone():
    with pytest.raises(ModuleNotFoundError):
        __import__("rpu.frontend.model_import")


def test_limits_equal_the_configuration():
    """The frontend cannot import rpu.config (it loads Amaranth-free code only, by rule), so
    it defines the RPU's limits again: they must stay equal."""
    from rpu import config
    assert limits.MAX_STEPS == config.MAX_STEPS == 65535
    assert limits.MAX_SIZE == config.MAX_SIZE
    assert limits.MAX_LAYERS == config.MAX_LAYERS
    assert limits.largest_model_parameters() == \
        limits.MAX_LAYERS * (4 * limits.MAX_SIZE * 2 * limits.MAX_SIZE + 8 * limits.MAX_SIZE)


def test_inputs_step_limit_is_max_steps(tmp_path):
    np.save(tmp_path / "ok.npy", np.zeros((limits.MAX_STEPS, 1), np.float32))
    assert load_inputs(tmp_path / "ok.npy", 1).shape == (limits.MAX_STEPS, 1)
    np.save(tmp_path / "long.npy", np.zeros((limits.MAX_STEPS + 1, 1), np.float32))
    with pytest.raises(InputError, match=f"at most {limits.MAX_STEPS} time steps, not "
                                         f"{limits.MAX_STEPS + 1}"):
        load_inputs(tmp_path / "long.npy", 1)
