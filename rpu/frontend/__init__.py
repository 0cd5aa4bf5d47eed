"""Trained models in: safetensors, ONNX, npz and PyTorch files read into one
:class:`ImportedLSTM`. numpy and :mod:`lstm_ref` only: no Amaranth is loaded here.

* :mod:`~rpu.frontend.load` -- :func:`load_model`, format detection, :data:`FORMATS`;
* :mod:`~rpu.frontend.imported` -- :class:`ImportedLSTM`, :class:`ModelImportError`, the
  shared checks, :func:`reorder_gates`;
* :mod:`~rpu.frontend.state_dict` -- state-dict keys to layers (:func:`from_state_dict`);
* one importer per format: :mod:`~rpu.frontend.safetensors`, :mod:`~rpu.frontend.onnx`
  (over :mod:`~rpu.frontend.protobuf`, :mod:`~rpu.frontend.onnx_tensors`,
  :mod:`~rpu.frontend.onnx_graph`), :mod:`~rpu.frontend.npz` (over
  :mod:`~rpu.frontend.npyfile`), :mod:`~rpu.frontend.pt`;
* :mod:`~rpu.frontend.limits` -- the size limits and the memory bound every importer keeps;
* :mod:`~rpu.frontend.arrays` -- the weight and input arrays of the command line.
"""

from rpu.frontend.imported import ONNX_TO_TORCH_GATES, ImportedLSTM, ModelImportError, \
    reorder_gates
from rpu.frontend.load import FORMATS, load_model
from rpu.frontend.onnx import onnx_lstm_nodes
from rpu.frontend.safetensors import read_safetensors
from rpu.frontend.state_dict import from_state_dict


__all__ = ["load_model", "ImportedLSTM", "ModelImportError", "FORMATS", "from_state_dict",
           "reorder_gates", "onnx_lstm_nodes", "read_safetensors", "ONNX_TO_TORCH_GATES"]
