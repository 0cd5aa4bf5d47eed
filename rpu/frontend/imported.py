"""The imported model, :class:`ImportedLSTM`, and the checks every format shares.

Every importer (:mod:`~rpu.frontend.safetensors`, :mod:`~rpu.frontend.onnx`,
:mod:`~rpu.frontend.npz`, :mod:`~rpu.frontend.pt`) ends here: a stack of layers, each a
dict of float64 arrays ``weight_ih`` ``(4H, I)``, ``weight_hh`` ``(4H, H)``, ``bias_ih``
and ``bias_hh`` ``(4H,)`` in ``torch.nn.LSTM``'s conventions and gate order i, f, g, o
(zeros stand for a missing bias). Layer ``k`` reads layer ``k - 1``'s hidden state.
:func:`check_layer_shapes` checks the shapes (also from headers, before any data is read)
against each other and against the largest LSTM the RPU accepts
(:mod:`rpu.frontend.limits`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lstm_ref.checks import is_integer
from rpu.files import write_npz_atomically
from rpu.frontend.limits import MAX_LAYERS, MAX_SIZE


__all__ = ["ModelImportError", "ImportedLSTM", "reorder_gates", "ONNX_TO_TORCH_GATES",
           "PARAM_KINDS", "as_parameter", "check_layer_shapes", "check_layers", "parse_bool"]

#: ONNX's LSTM gate blocks are i, o, f, c; torch's are i, f, g (= c), o. Torch block ``k``
#: is ONNX block ``ONNX_TO_TORCH_GATES[k]``.
ONNX_TO_TORCH_GATES = (0, 2, 3, 1)

#: The parameters of one layer, in torch's names.
PARAM_KINDS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


class ModelImportError(ValueError):
    """A model file cannot be imported; the message says why and where."""



@dataclass(frozen=True, eq=False)
class ImportedLSTM:
    """A (stacked) LSTM read from a file, in torch's conventions.

    Attributes
    ----------
    layers : list of dict
        Per layer, float64 ``weight_ih`` ``(4H_k, I_k)``, ``weight_hh`` ``(4H_k, H_k)``,
        ``bias_ih`` and ``bias_hh`` ``(4H_k,)``, gate blocks i, f, g, o. ``I_0`` is the
        model's input size and ``I_k = H_{k-1}``.
    batch_first : bool
        Layout of a batched input (see the module documentation).
    source_format : str
        One of :data:`FORMATS`.
    source : str or None
        The file it came from.
    has_bias : bool
        False when the model had no biases (they are zeros here).
    metadata : dict
        Format-specific details (safetensors ``__metadata__``, the ONNX producer, opset and
        node names, the key prefix, ...).
    """

    layers: list
    batch_first: bool = False
    source_format: str | None = None
    source: str | None = None
    has_bias: bool = True
    metadata: dict = field(default_factory=dict)

    @property
    def num_layers(self):
        """Number of stacked layers."""
        return len(self.layers)

    @property
    def input_size(self):
        """``I``, the size of the model's input vectors."""
        return self.layers[0]["weight_ih"].shape[1]

    @property
    def hidden_sizes(self):
        """Tuple of every layer's hidden size ``H_k``."""
        return tuple(layer["weight_hh"].shape[1] for layer in self.layers)

    @property
    def hidden_size(self):
        """The last layer's hidden size (the size of the model's output)."""
        return self.hidden_sizes[-1]

    def sequences(self, x):
        """Cut an input array into the ``(T, I)`` sequences it holds.

        Parameters
        ----------
        x : array_like
            ``(T, I)`` (one sequence) or, batched, ``(B, T, I)`` if :attr:`batch_first`
            else ``(T, B, I)``.

        Returns
        -------
        numpy.ndarray
            float64 ``(B, T, I)`` (``B = 1`` for a 2-D input).

        Raises
        ------
        ModelImportError
            If ``x`` is not 2-D or 3-D, or its last axis is not the input size.
        """
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 2:
            x = x[None]
        elif x.ndim == 3:
            if not self.batch_first:
                x = x.transpose(1, 0, 2)
        else:
            layout = "(B, T, I)" if self.batch_first else "(T, B, I)"
            raise ModelImportError(f"input must be (T, I) or, batched, {layout} "
                                   f"(batch_first={self.batch_first}), got shape {x.shape}")
        if x.shape[2] != self.input_size:
            raise ModelImportError(f"input vectors must have input_size = {self.input_size} "
                                   f"elements, got shape {x.shape[1:]} per sequence")
        return np.ascontiguousarray(x)

    def float_forward(self, x, *, h0=None, c0=None):
        """Run the float64 golden model over the stack on one sequence.

        Parameters
        ----------
        x : array_like
            ``(T, I)`` input sequence.
        h0, c0 : sequence of array_like, optional
            Per layer, ``(H_k,)`` initial states (zeros by default).

        Returns
        -------
        list of lstm_ref.float_lstm.LSTMOutput
            Per layer, ``h`` and ``c`` ``(T, H_k)``; the model's output is the last one.
        """
        from lstm_ref.float_lstm import lstm_forward

        outputs, inputs = [], np.asarray(x, dtype=np.float64)
        for index, layer in enumerate(self.layers):
            result = lstm_forward(inputs, layer["weight_ih"], layer["weight_hh"],
                                  layer["bias_ih"], layer["bias_hh"],
                                  h0=None if h0 is None else h0[index],
                                  c0=None if c0 is None else c0[index])
            outputs.append(result)
            inputs = result.h
        return outputs

    def to_npz(self, path, *, legacy=False):
        """Write the model as an ``.npz`` that :func:`load_model` reads back unchanged.

        Parameters
        ----------
        path : str or os.PathLike
            Output file; written completely or not at all.
        legacy : bool
            False (default): torch-style keys ``weight_ih_l{k}``, ... for every layer, and
            a 0-d ``batch_first``. True: the single-layer format of
            ``python -m rpu simulate --weights`` (``weight_ih``, ``weight_hh``, ``bias_ih``,
            ``bias_hh`` and nothing else); only for one layer.
        """
        if legacy:
            if self.num_layers != 1:
                raise ModelImportError(f"the legacy .npz format holds one layer; this model "
                                       f"has {self.num_layers}")
            arrays = dict(self.layers[0])
        else:
            arrays = {f"{kind}_l{index}": layer[kind]
                      for index, layer in enumerate(self.layers) for kind in PARAM_KINDS}
            arrays["batch_first"] = np.array(bool(self.batch_first))
        write_npz_atomically(path, **arrays)



def reorder_gates(array, hidden_size, order, *, axis=0):
    """Permute the four gate blocks of ``array`` along ``axis``.

    Block ``k`` of the result is block ``order[k]`` of ``array`` (each block has
    ``hidden_size`` entries along ``axis``). ONNX to torch is
    ``order=ONNX_TO_TORCH_GATES``.

    Raises
    ------
    ModelImportError
        If ``order`` is not a permutation of 0..3 or the axis is not ``4 * hidden_size``.
    """
    array = np.asarray(array)
    if sorted(order) != [0, 1, 2, 3]:
        raise ModelImportError(f"gate order {tuple(order)} is not a permutation of 0, 1, 2, 3")
    if array.shape[axis] != 4 * hidden_size:
        raise ModelImportError(f"cannot reorder gates: axis {axis} has {array.shape[axis]} "
                               f"entries, not 4*hidden_size = {4 * hidden_size}")
    blocks = np.split(array, 4, axis=axis)
    return np.concatenate([blocks[k] for k in order], axis=axis)



def as_parameter(name, array, where):
    """A parameter as a float64 array: real numeric, finite."""
    array = np.asarray(array)
    if array.dtype.kind not in "biuf":
        raise ModelImportError(f"{where}: {name} must hold real numbers, got dtype {array.dtype}")
    with np.errstate(invalid="ignore"):  # a signalling NaN warns when widened
        array = array.astype(np.float64)
    bad = np.count_nonzero(~np.isfinite(array))
    if bad:
        raise ModelImportError(f"{where}: {name} contains {bad} NaN or Inf value(s)")
    return array


def check_layer_shapes(shapes, names, where):
    """Check the shapes of stacked layers against each other and the RPU's limits.

    ``shapes[k][kind]`` is the shape of parameter ``kind`` of layer ``k`` (a tuple; a bias
    may be missing or None); ``names[k][kind]`` is how it is called in messages. This runs
    on the shapes a file's headers declare, before any data is read, and again on the
    arrays read.
    """
    if len(shapes) > MAX_LAYERS:
        raise ModelImportError(f"{where}: {len(shapes)} layers; the RPU accepts at most "
                               f"{MAX_LAYERS}")
    previous_hidden = None
    for index, (shape, name) in enumerate(zip(shapes, names)):
        hidden = _check_matrix(shape["weight_hh"], name["weight_hh"], "hidden_size", where)
        rows = shape["weight_hh"][0]
        if rows != 4 * hidden:
            hint = {3 * hidden: " (3*hidden_size rows is a GRU)",
                    hidden: " (hidden_size rows is a plain RNN)"}.get(rows, "")
            raise ModelImportError(
                f"{where}: {name['weight_hh']} has shape {shape['weight_hh']}: an LSTM layer "
                f"of hidden size {hidden} needs 4*{hidden} = {4 * hidden} rows, one block per "
                f"gate i, f, g, o{hint}")
        inputs = _check_matrix(shape["weight_ih"], name["weight_ih"], "input_size", where)
        if shape["weight_ih"][0] != 4 * hidden:
            raise ModelImportError(
                f"{where}: {name['weight_ih']} has {shape['weight_ih'][0]} rows; layer {index} "
                f"has hidden size {hidden} ({name['weight_hh']} is {shape['weight_hh']}), so "
                f"it needs 4*{hidden} = {4 * hidden} rows (gates i, f, g, o)")
        if previous_hidden is not None and inputs != previous_hidden:
            raise ModelImportError(
                f"{where}: {name['weight_ih']} has {inputs} columns, but layer "
                f"{index}'s input is layer {index - 1}'s hidden state of size "
                f"{previous_hidden}")
        for kind in ("bias_ih", "bias_hh"):
            bias = shape.get(kind)
            if bias is not None and tuple(bias) != (4 * hidden,):
                raise ModelImportError(f"{where}: {name[kind]} must have shape "
                                       f"(4*hidden_size,) = ({4 * hidden},), got "
                                       f"{tuple(bias)}")
        previous_hidden = hidden


def _check_matrix(shape, name, size_name, where):
    """A ``(4*hidden_size, size)`` parameter's shape; returns ``size`` within the limits."""
    shape = tuple(shape)
    if len(shape) != 2 or shape[1] == 0:
        raise ModelImportError(f"{where}: {name} must be a 2-D (4*hidden_size, {size_name}) "
                               f"matrix, got shape {shape}")
    if shape[1] > MAX_SIZE or shape[0] > 4 * MAX_SIZE:
        raise ModelImportError(f"{where}: {name} has shape {shape}; the RPU accepts "
                               f"input and hidden sizes of at most {MAX_SIZE}")
    return shape[1]


def check_layers(layers, names, where):
    """Validate stacked layers (dicts of float64 arrays); fill missing biases with zeros.

    ``names[k][kind]`` is how parameter ``kind`` of layer ``k`` is called in messages.
    """
    check_layer_shapes([{kind: None if array is None else array.shape
                         for kind, array in layer.items()} for layer in layers], names, where)
    for layer in layers:
        hidden = layer["weight_hh"].shape[1]
        for kind in ("bias_ih", "bias_hh"):
            if layer.get(kind) is None:
                layer[kind] = np.zeros(4 * hidden)
    return layers


def parse_bool(value, what):
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
    elif is_integer(value, numpy_ok=True) and value in (0, 1):
        return bool(value)
    raise ModelImportError(f"{what} must be a boolean (true/false/1/0), got {value!r}")

