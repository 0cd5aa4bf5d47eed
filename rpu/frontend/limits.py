"""The frontend's size limits and the memory bound every importer keeps.

The frontend imports no other part of :mod:`rpu` that loads Amaranth, so it cannot use
:mod:`rpu.config`; the limits of the largest LSTM the RPU accepts are defined here again,
and ``tests/frontend/test_package.py`` checks that they equal :mod:`rpu.config`'s.

Memory bound
------------
Every importer reads a file's headers (the ``.npy`` header of each ``.npz`` member, the
safetensors JSON header, the ONNX tensors' ``dims``) and checks the declared shapes of the
LSTM's parameters before any of their data is read or computed: a parameter larger than
those of the largest LSTM the RPU accepts (:data:`MAX_LAYERS` layers of input and hidden
size at most :data:`MAX_SIZE`) is refused from its header. Tensors that are not the LSTM's
parameters are never decoded (``.npz``, safetensors). So an importer holds at most

* the file's own bytes (ONNX, which is decoded in memory) or one parameter's stored bytes
  at a time (``.npz``, safetensors), plus
* :data:`COPIES` float64 copies of the ``4H(I+H) + 8H`` parameters per layer of the model
  the file describes, plus
* :data:`OVERHEAD_BYTES` (headers, names, the protobuf fields of ONNX);

and ONNX's constant folding (weights computed by Concat, Slice, ... of stored tensors) may
compute at most :data:`FOLD_FACTOR` times the bytes of tensor data stored in the model (the
file and its external data) plus :data:`OVERHEAD_BYTES`; the size of every folded value is
worked out from its inputs' shapes before it is computed.
"""

__all__ = ["MAX_SIZE", "MAX_LAYERS", "MAX_STEPS", "MAX_PARAMETER_ELEMENTS",
           "MAX_INPUT_ELEMENTS", "MAX_HEADER_BYTES", "MAX_JSON_DEPTH", "MAX_NDIM",
           "COPIES", "OVERHEAD_BYTES", "FOLD_FACTOR", "largest_model_parameters"]

#: Largest input and hidden size (``rpu.config.MAX_SIZE``).
MAX_SIZE = 16384
#: Largest number of stacked layers (``rpu.config.MAX_LAYERS``).
MAX_LAYERS = 16
#: Largest number of time steps of one sequence (``rpu.config.MAX_STEPS``).
MAX_STEPS = (1 << 16) - 1
#: Most elements of one LSTM parameter tensor: ONNX's ``W`` ``(1, 4H, I)`` at the limits.
MAX_PARAMETER_ELEMENTS = 4 * MAX_SIZE * MAX_SIZE
#: Most elements of an input array (``.npy``): one sequence of the largest size, or a
#: batch of smaller ones.
MAX_INPUT_ELEMENTS = MAX_STEPS * MAX_SIZE
#: Largest header (safetensors JSON, ``.npy`` header) read; the safetensors format's own.
MAX_HEADER_BYTES = 100_000_000
#: Deepest nesting of a safetensors JSON header (a valid one is 3 deep).
MAX_JSON_DEPTH = 8
#: Most dimensions of a tensor (numpy's limit).
MAX_NDIM = 64
#: float64 copies of the parameters an importer may hold at once.
COPIES = 3
#: Bytes an importer may use beyond its copies of the parameters.
OVERHEAD_BYTES = 64 << 20
#: ONNX constant folding may compute this many times the stored tensor bytes.
FOLD_FACTOR = 8


def largest_model_parameters():
    """Parameters of the largest LSTM the RPU accepts: ``MAX_LAYERS * (4H(I+H) + 8H)``."""
    hidden = inputs = MAX_SIZE
    return MAX_LAYERS * (4 * hidden * (inputs + hidden) + 8 * hidden)
