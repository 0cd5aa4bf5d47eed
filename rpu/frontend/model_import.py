"""Import trained LSTMs: ``.safetensors``, ONNX, ``.npz`` and (with torch) ``.pt``.

Every format is read with numpy alone: the safetensors container and ONNX's protobuf
encoding are parsed here, so importing a model needs no deep-learning framework at run
time. Only ``.pt`` files need torch, imported when such a file is loaded.

The result is an :class:`ImportedLSTM`: a stack of layers, each a dict of float64 arrays
``weight_ih`` ``(4H, I)``, ``weight_hh`` ``(4H, H)``, ``bias_ih`` and ``bias_hh``
``(4H,)`` in ``torch.nn.LSTM``'s conventions and gate order i, f, g, o (zeros stand for a
missing bias). Layer ``k`` reads layer ``k - 1``'s hidden state, so its input size is the
previous hidden size. ``.layers`` goes straight to :func:`rpu.compiler.expansion.compile_stacked`,
and :meth:`ImportedLSTM.float_forward` runs the float64 golden model
(:func:`lstm_ref.float_lstm.lstm_forward`) over the stack.

Formats
-------
State dicts (``.safetensors``, ``.npz``, ``.pt``)
    Keys ``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}`` as in
    ``torch.nn.LSTM.state_dict()``, optionally behind a prefix ending in ``.`` (``lstm.``,
    ``encoder.rnn.``, ... as in the state dict of a module holding the LSTM). Keys of other
    modules (a linear head, ...) are ignored. If the file holds several LSTMs (several
    prefixes), ``prefix=`` chooses one; without it the import is refused. The single-layer
    keys ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh`` (the ``.npz`` format of
    ``python -m rpu simulate``, and ``torch.nn.LSTMCell``'s state dict) give a one-layer
    LSTM. Biases are both present or both absent in a layer (absent means
    ``bias=False``: zeros), and present in every layer or in none.
``.safetensors``
    Parsed here: an 8-byte little-endian header length, a JSON header giving each tensor's
    ``dtype``, ``shape`` and ``data_offsets`` in the data buffer that follows, and an
    optional ``__metadata__`` string map. Floating-point dtypes F64, F32, F16 and BF16 (and
    integer ones) are read; the header is checked (truncation, offsets out of range or
    overlapping, sizes not matching shapes, unknown dtypes, duplicate keys).
``.npz``
    numpy's archive, read with ``allow_pickle=False``.
``.pt`` / ``.pth``
    ``torch.save`` of a state dict (or of a checkpoint dict with one ``state_dict`` /
    ``model_state_dict`` entry), or of a whole ``torch.nn.LSTM``. It is loaded with
    ``torch.load(weights_only=True)`` (``nn.LSTM`` allow-listed), so no arbitrary code is
    unpickled; other pickled module classes are refused with advice to save a state dict.
ONNX (``.onnx``)
    The protobuf is decoded here (a minimal wire-format reader). The graph's ``LSTM`` nodes
    are the layers; their ``W``, ``R``, ``B`` (and ``P``, ``initial_h``, ``initial_c``)
    inputs are found among the initializers, ``Constant`` nodes, or small constant
    subgraphs made of Identity, Cast, Unsqueeze, Squeeze, Reshape, Transpose, Slice,
    Concat, Split and Gather, which :func:`torch.onnx.export` writes when its constant
    folding is off. ONNX orders the gate blocks i, o, f, c (c is torch's g); they are
    reordered by :data:`ONNX_TO_TORCH_GATES` with :func:`reorder_gates`. ``B`` is
    ``(1, 8H)``, ``[Wb; Rb]`` = ``[bias_ih; bias_hh]``. Several LSTM nodes form a stack
    when each reads the previous one's ``Y`` output, as the export of
    ``nn.LSTM(num_layers > 1)`` does: through a Squeeze of the direction axis
    (TorchScript exporter) or a Transpose and a Reshape (dynamo exporter); Identity, Cast
    and Dropout may also lie on the way. The axes are followed through these ops, and a
    path that would feed the next layer anything but ``(T, B, H)`` (``(B, T, H)`` for
    ``layout=1``) is refused. ``torch.onnx.export`` (both exporters, torch 2.13) writes
    ``W``, ``R``, ``B`` already in ONNX gate order, as initializers (or, without constant
    folding, as Slice/Concat/Unsqueeze of the torch parameters). Refused with a
    message naming the node: ``direction`` other than ``"forward"`` (``W`` with two
    directions), peepholes (``P``, unless all zero), activations other than the default
    Sigmoid/Tanh/Tanh, ``activation_alpha``/``beta``, ``clip``, ``input_forget=1``, weights
    that are not constants (graph inputs), constant nonzero initial states, LSTM nodes
    that do not form one chain, and an LSTM input computed by anything but layout ops.
    ``sequence_lens`` (padding of batched sequences) is not part of the weights and is
    ignored; initial states that are graph inputs are run-time inputs (the RPU takes them
    as such). Nodes after the last LSTM (a head) are not imported. Tensors may be stored in
    ``raw_data`` or in the typed fields (``float_data``, ``double_data``, ``int32_data``
    for FLOAT16/BFLOAT16, ...) or as external data beside the model file.

``batch_first``
    It only says how a batched 3-D input is laid out (``(B, T, I)`` when True, ``(T, B, I)``
    otherwise); :meth:`ImportedLSTM.sequences` uses it to cut such an input into the
    ``(T, I)`` sequences the RPU runs. It comes from the module (``.pt`` of an ``nn.LSTM``),
    from ONNX (the ``layout`` attribute of the first LSTM node, toggled by a
    ``Transpose(perm=[1, 0, 2])`` between the graph input and that node, which is how
    :func:`torch.onnx.export` renders ``batch_first=True``; Unsqueeze/Squeeze on that path
    are followed too), or from a ``batch_first`` entry
    (``.npz``: a 0-d array; ``.safetensors``: ``__metadata__["batch_first"]``,
    ``"true"``/``"false"``/``"1"``/``"0"``). A plain state dict does not record it: then
    ``load_model(..., batch_first=True)`` gives it, and otherwise it is False, torch's
    default. ``metadata["batch_first_from"]`` says where the value came from.

Every problem raises :class:`ModelImportError` (a ValueError) whose message names the file
and the key, layer or node concerned. Nothing is ever silently permuted, transposed or
padded.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rpu.files import write_npz_atomically


__all__ = ["ModelImportError", "ImportedLSTM", "load_model", "from_state_dict",
           "reorder_gates", "onnx_lstm_nodes", "read_safetensors",
           "ONNX_TO_TORCH_GATES", "FORMATS"]

#: The formats :func:`load_model` reads (its ``format=`` values).
FORMATS = ("safetensors", "onnx", "npz", "pt")

#: File name suffixes and the format each one means.
_SUFFIXES = {".safetensors": "safetensors", ".onnx": "onnx", ".npz": "npz", ".pt": "pt",
             ".pth": "pt"}

#: ONNX's LSTM gate blocks are i, o, f, c; torch's are i, f, g (= c), o. Torch block ``k``
#: is ONNX block ``ONNX_TO_TORCH_GATES[k]``.
ONNX_TO_TORCH_GATES = (0, 2, 3, 1)

_PARAM_KINDS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


class ModelImportError(ValueError):
    """A model file cannot be imported; the message says why and where."""


# ---------------------------------------------------------------------------------------
# The imported model
# ---------------------------------------------------------------------------------------

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
                      for index, layer in enumerate(self.layers) for kind in _PARAM_KINDS}
            arrays["batch_first"] = np.array(bool(self.batch_first))
        write_npz_atomically(path, **arrays)


# ---------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------

def load_model(path, *, format=None, prefix=None, batch_first=None):
    """Import an LSTM from a model file.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    format : str, optional
        One of :data:`FORMATS`; by default taken from the suffix (``.safetensors``,
        ``.onnx``, ``.npz``, ``.pt``/``.pth``) or, failing that, from the file's content.
    prefix : str, optional
        For state dicts holding several LSTMs, the key prefix of the one to import
        (``"encoder"`` or ``"encoder."``).
    batch_first : bool, optional
        The layout of batched inputs, for files that do not record it (a state dict has no
        ``batch_first``); contradicting a file that records it is an error. The source of
        the value is ``metadata["batch_first_from"]``.

    Returns
    -------
    ImportedLSTM

    Raises
    ------
    ModelImportError
        For any problem: missing or unreadable file, malformed container, no LSTM or
        several, missing layers, shapes, gate counts, bidirectional or projected LSTMs,
        NaN/Inf, unsupported ONNX features. The message names the key, layer or node.
    """
    path = Path(path)
    if not path.exists():
        raise ModelImportError(f"no such file: {str(path)!r}")
    if not path.is_file():
        raise ModelImportError(f"{str(path)!r} is not a file")
    if format is None:
        format = _SUFFIXES.get(path.suffix.lower()) or _sniff_format(path)
    elif format not in FORMATS:
        raise ModelImportError(f"unknown format {format!r}; expected one of "
                               f"{', '.join(FORMATS)}")
    if prefix is not None and format == "onnx":
        raise ModelImportError("prefix= selects among the LSTMs of a state dict; it does not "
                               "apply to ONNX models")
    loader = {"safetensors": _load_safetensors, "onnx": _load_onnx, "npz": _load_npz,
              "pt": _load_pt}[format]
    model = loader(path, prefix)
    recorded = model.metadata.get("batch_first_from")
    if batch_first is not None and recorded is not None:
        if bool(batch_first) != model.batch_first:
            raise ModelImportError(f"{path}: batch_first={bool(batch_first)} was asked, but the "
                                   f"file says batch_first={model.batch_first} ({recorded})")
    elif batch_first is not None:
        model = dataclasses.replace(model, batch_first=bool(batch_first), metadata={
            **model.metadata, "batch_first_from": "the batch_first= argument"})
    elif recorded is None:
        model.metadata["batch_first_from"] = "not recorded: torch's default, False"
    return model


def _sniff_format(path):
    """Guess a file's format from its first bytes (used when the suffix says nothing)."""
    with open(path, "rb") as stream:
        head = stream.read(16)
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError):
            names = []
        if any(name.endswith("data.pkl") for name in names):
            return "pt"
        if names and all(name.endswith(".npy") for name in names):
            return "npz"
    if head[:1] == b"\x80":  # a pickle: torch.save's legacy, non-zip format
        return "pt"
    if head[:1] == b"\x08":  # ModelProto field 1 (ir_version), a varint
        return "onnx"
    raise ModelImportError(f"cannot tell the format of {str(path)!r} from its name or content; "
                           f"pass format= (one of {', '.join(FORMATS)})")


# ---------------------------------------------------------------------------------------
# State dicts: key names to layers
# ---------------------------------------------------------------------------------------

_SUFFIXED_KEY = re.compile(r"^(?P<prefix>(?:.*\.)?)(?P<kind>weight_ih|weight_hh|bias_ih|bias_hh|"
                           r"weight_hr)_l(?P<layer>\d+)(?P<reverse>_reverse)?$")
_UNSUFFIXED_KEY = re.compile(r"^(?P<prefix>(?:.*\.)?)(?P<kind>weight_ih|weight_hh|bias_ih|"
                             r"bias_hh)$")


def _describe_prefix(prefix):
    return f"prefix {prefix!r}" if prefix else "no prefix"


def _key_name(prefix, kind, index, suffixed):
    """The state-dict key of parameter ``kind`` of layer ``index``."""
    return prefix + (f"{kind}_l{index}" if suffixed else kind)


def _group_keys(names):
    """Sort LSTM parameter keys by prefix: ``{prefix: {(kind, layer, reverse): key}}``.

    Single-layer keys (``weight_ih``, ...) are grouped as layer 0 with ``layer=None``.
    """
    groups = {}
    for name in names:
        match = _SUFFIXED_KEY.match(name)
        if match:
            entry = (match["kind"], int(match["layer"]), bool(match["reverse"]))
        else:
            match = _UNSUFFIXED_KEY.match(name)
            if not match:
                continue
            entry = (match["kind"], None, False)
        groups.setdefault(match["prefix"], {})[entry] = name
    return groups


def _select_group(groups, prefix, names, where):
    if prefix is not None:
        for candidate in (prefix, prefix + "."):
            if candidate in groups:
                return candidate, groups[candidate]
        found = ", ".join(repr(p) for p in sorted(groups)) or "none"
        raise ModelImportError(f"{where}: no LSTM parameters with prefix {prefix!r} "
                               f"(LSTM prefixes found: {found})")
    if not groups:
        shown = ", ".join(sorted(names)[:8]) + (", ..." if len(names) > 8 else "")
        raise ModelImportError(
            f"{where}: no LSTM parameters found; expected keys weight_ih_l0, weight_hh_l0, "
            f"bias_ih_l0, bias_hh_l0, ... (optionally behind a prefix such as 'lstm.') or "
            f"weight_ih, weight_hh, bias_ih, bias_hh; keys present: {shown or 'none'}")
    if len(groups) > 1:
        found = ", ".join(repr(p) for p in sorted(groups))
        raise ModelImportError(f"{where}: several LSTMs are present (key prefixes {found}); "
                               f"pass prefix= to choose one")
    return next(iter(groups.items()))


def _layer_keys(group, prefix, where):
    """Check a group's key structure; return per layer ``{kind: key}`` (biases optional)."""
    for (kind, layer, reverse), name in sorted(group.items(), key=lambda item: item[1]):
        if reverse:
            raise ModelImportError(
                f"{where}: {name!r} belongs to the reverse direction of a bidirectional "
                f"LSTM; only unidirectional LSTMs can be imported")
        if kind == "weight_hr":
            raise ModelImportError(
                f"{where}: {name!r} is the projection of an LSTM with proj_size > 0; LSTMs "
                f"with projections cannot be imported")
    styles = {layer is None for (_, layer, _) in group}
    if len(styles) > 1:
        raise ModelImportError(
            f"{where}: keys with {_describe_prefix(prefix)} mix the single-layer names "
            f"(weight_ih, ...) and the per-layer names (weight_ih_l0, ...)")
    indices = sorted({0 if layer is None else layer for (_, layer, _) in group})
    missing = sorted(set(range(indices[-1] + 1)) - set(indices))
    if missing:
        raise ModelImportError(
            f"{where}: missing layer(s) {', '.join(f'l{k}' for k in missing)} "
            f"({_describe_prefix(prefix)}): found parameters of layer(s) "
            f"{', '.join(f'l{k}' for k in indices)}; layers must be numbered from l0 without gaps")
    suffixed = styles == {False}
    by_layer = [{} for _ in indices]
    for (kind, layer, _), name in group.items():
        by_layer[0 if layer is None else layer][kind] = name
    for index, keys in enumerate(by_layer):
        for kind in ("weight_ih", "weight_hh"):
            if kind not in keys:
                raise ModelImportError(f"{where}: missing "
                                       f"{_key_name(prefix, kind, index, suffixed)!r} "
                                       f"(layer {index})")
        present = [kind for kind in ("bias_ih", "bias_hh") if kind in keys]
        if len(present) == 1:
            absent = ({"bias_ih", "bias_hh"} - set(present)).pop()
            raise ModelImportError(f"{where}: {keys[present[0]]!r} is present but "
                                   f"{_key_name(prefix, absent, index, suffixed)!r} is "
                                   f"missing (layer {index})")
    with_bias = ["bias_ih" in keys for keys in by_layer]
    if any(with_bias) and not all(with_bias):
        layer = with_bias.index(False)
        raise ModelImportError(f"{where}: layer {layer} has no biases while other layers have; "
                               f"missing bias_ih_l{layer} and bias_hh_l{layer}")
    return by_layer


def _as_parameter(name, array, where):
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


def _check_layers(layers, names, where):
    """Validate stacked layers (float64 arrays) against each other; fill missing biases.

    ``names[k][kind]`` is how parameter ``kind`` of layer ``k`` is called in messages.
    """
    previous_hidden = None
    for index, (layer, name) in enumerate(zip(layers, names)):
        weight_hh = layer["weight_hh"]
        if weight_hh.ndim != 2 or weight_hh.shape[1] == 0:
            raise ModelImportError(f"{where}: {name['weight_hh']} must be a 2-D "
                                   f"(4*hidden_size, hidden_size) matrix, got shape "
                                   f"{weight_hh.shape}")
        hidden = weight_hh.shape[1]
        rows = weight_hh.shape[0]
        if rows != 4 * hidden:
            hint = {3 * hidden: " (3*hidden_size rows is a GRU)",
                    hidden: " (hidden_size rows is a plain RNN)"}.get(rows, "")
            raise ModelImportError(
                f"{where}: {name['weight_hh']} has shape {weight_hh.shape}: an LSTM layer of "
                f"hidden size {hidden} needs 4*{hidden} = {4 * hidden} rows, one block per "
                f"gate i, f, g, o{hint}")
        weight_ih = layer["weight_ih"]
        if weight_ih.ndim != 2 or weight_ih.shape[1] == 0:
            raise ModelImportError(f"{where}: {name['weight_ih']} must be a 2-D "
                                   f"(4*hidden_size, input_size) matrix, got shape "
                                   f"{weight_ih.shape}")
        if weight_ih.shape[0] != 4 * hidden:
            raise ModelImportError(
                f"{where}: {name['weight_ih']} has {weight_ih.shape[0]} rows; layer {index} "
                f"has hidden size {hidden} ({name['weight_hh']} is {weight_hh.shape}), so it "
                f"needs 4*{hidden} = {4 * hidden} rows (gates i, f, g, o)")
        if previous_hidden is not None and weight_ih.shape[1] != previous_hidden:
            raise ModelImportError(
                f"{where}: {name['weight_ih']} has {weight_ih.shape[1]} columns, but layer "
                f"{index}'s input is layer {index - 1}'s hidden state of size "
                f"{previous_hidden}")
        for kind in ("bias_ih", "bias_hh"):
            bias = layer.get(kind)
            if bias is None:
                layer[kind] = np.zeros(4 * hidden)
            elif bias.shape != (4 * hidden,):
                raise ModelImportError(f"{where}: {name[kind]} must have shape "
                                       f"(4*hidden_size,) = ({4 * hidden},), got {bias.shape}")
        previous_hidden = hidden
    return layers


def _layers_from_tensors(names, fetch, prefix, where):
    """Build the layers of the LSTM found among ``names``; ``fetch(key)`` gives an array."""
    names = list(names)
    groups = _group_keys(names)
    prefix, group = _select_group(groups, prefix, names, where)
    keys = _layer_keys(group, prefix, where)
    layers = []
    for layer_keys in keys:
        layers.append({kind: _as_parameter(key, fetch(key), where)
                       for kind, key in layer_keys.items()})
    has_bias = "bias_ih" in keys[0]
    suffixed = next(iter(group))[1] is not None
    names_by_layer = [{kind: layer_keys.get(kind, _key_name(prefix, kind, index, suffixed))
                       for kind in _PARAM_KINDS} for index, layer_keys in enumerate(keys)]
    _check_layers(layers, names_by_layer, where)
    return layers, has_bias, prefix


def _parse_bool(value, what):
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
    elif isinstance(value, (int, np.integer)) and value in (0, 1):
        return bool(value)
    raise ModelImportError(f"{what} must be a boolean (true/false/1/0), got {value!r}")


def from_state_dict(tensors, *, prefix=None, batch_first=False, source_format="npz",
                    source=None, metadata=None):
    """Build an :class:`ImportedLSTM` from a mapping of key to array (a state dict).

    See the module documentation for the keys. ``tensors`` values are anything
    :func:`numpy.asarray` takes.
    """
    where = source or "state dict"
    layers, has_bias, prefix = _layers_from_tensors(tensors.keys(), tensors.__getitem__,
                                                    prefix, where)
    metadata = dict(metadata or {})
    metadata["prefix"] = prefix
    return ImportedLSTM(layers=layers, batch_first=bool(batch_first),
                        source_format=source_format, source=source, has_bias=has_bias,
                        metadata=metadata)


# ---------------------------------------------------------------------------------------
# .npz
# ---------------------------------------------------------------------------------------

def _load_npz(path, prefix):
    where = str(path)
    # The file is opened here, not by np.load, which leaks it when the zip is corrupt.
    try:
        with open(path, "rb") as stream:
            loaded = np.load(stream, allow_pickle=False)
            if not isinstance(loaded, np.lib.npyio.NpzFile):
                raise ModelImportError(f"{where}: holds a single array, not an .npz archive "
                                       f"of LSTM parameters")
            with loaded as archive:
                arrays = {name: archive[name] for name in archive.files}
    except ModelImportError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError,
            RuntimeError) as error:  # what numpy and zipfile raise on corrupt archives
        raise ModelImportError(f"{where}: not a readable .npz file ({error})") from None
    batch_first = False
    if "batch_first" in arrays:
        value = arrays["batch_first"]
        if value.shape != () or value.dtype.kind not in "biu":
            raise ModelImportError(f"{where}: batch_first must be a 0-d boolean array, got "
                                   f"dtype {value.dtype} shape {value.shape}")
        batch_first = _parse_bool(value.item(), f"{where}: batch_first")
    return from_state_dict(arrays, prefix=prefix, batch_first=batch_first,
                           source_format="npz", source=where, metadata={
                               "batch_first_from": "the .npz entry 'batch_first'"
                               if "batch_first" in arrays else None})


# ---------------------------------------------------------------------------------------
# .safetensors
# ---------------------------------------------------------------------------------------

#: safetensors dtypes this reader decodes, and their numpy dtype (BF16 is converted).
_SAFETENSORS_DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"), "I64": np.dtype("<i8"), "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"), "I8": np.dtype("i1"), "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"), "U16": np.dtype("<u2"), "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
#: dtypes of the format that this reader knows but does not decode, with their byte sizes.
_SAFETENSORS_UNSUPPORTED = {"F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1, "C64": 8}
#: The format's limit on the header size.
_SAFETENSORS_MAX_HEADER = 100_000_000


def _reject_duplicates(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise ModelImportError(f"duplicate key {key!r} in the JSON header")
        result[key] = value
    return result


def _parse_safetensors_header(path):
    """Read and check a safetensors header.

    Returns ``(entries, metadata, data_start)`` with ``entries[name] = (dtype, shape,
    begin, end)``, offsets relative to the data buffer at byte ``data_start``.
    """
    where = str(path)
    size = path.stat().st_size
    with open(path, "rb") as stream:
        head = stream.read(8)
        if len(head) < 8:
            raise ModelImportError(f"{where}: truncated safetensors file: {len(head)} byte(s), "
                                   f"shorter than the 8-byte header length")
        (header_size,) = struct.unpack("<Q", head)
        if header_size > size - 8:
            raise ModelImportError(
                f"{where}: truncated or corrupt safetensors file: the header length says "
                f"{header_size} bytes but only {size - 8} follow")
        if header_size > _SAFETENSORS_MAX_HEADER:
            raise ModelImportError(f"{where}: corrupt safetensors file: header of "
                                   f"{header_size} bytes exceeds the format's 100 MB limit")
        raw_header = stream.read(header_size)
    try:
        header = json.loads(raw_header.decode("utf-8"), object_pairs_hook=_reject_duplicates)
    except ModelImportError as error:
        raise ModelImportError(f"{where}: corrupt safetensors header: {error}") from None
    except (UnicodeDecodeError, ValueError) as error:
        raise ModelImportError(f"{where}: corrupt safetensors header: not UTF-8 JSON "
                               f"({error})") from None
    if not isinstance(header, dict):
        raise ModelImportError(f"{where}: corrupt safetensors header: not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise ModelImportError(f"{where}: safetensors __metadata__ must map strings to strings")
    buffer_size = size - 8 - header_size
    entries = {}
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise ModelImportError(f"{where}: tensor {name!r}: header entry must have exactly "
                                   f"dtype, shape and data_offsets, got {info!r}")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if not isinstance(dtype, str) or (dtype not in _SAFETENSORS_DTYPES
                                          and dtype not in _SAFETENSORS_UNSUPPORTED):
            known = ", ".join(list(_SAFETENSORS_DTYPES) + list(_SAFETENSORS_UNSUPPORTED))
            raise ModelImportError(f"{where}: tensor {name!r} has unknown dtype {dtype!r} "
                                   f"(known: {known})")
        if not isinstance(shape, list) or not all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise ModelImportError(f"{where}: tensor {name!r} has an invalid shape {shape!r}")
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(
                isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets)
                or offsets[0] > offsets[1]):
            raise ModelImportError(f"{where}: tensor {name!r} has invalid data_offsets "
                                   f"{offsets!r} (need [begin, end], 0 <= begin <= end)")
        begin, end = offsets
        if end > buffer_size:
            raise ModelImportError(
                f"{where}: tensor {name!r}: data_offsets [{begin}, {end}] run past the end of "
                f"the {buffer_size}-byte data buffer (truncated file?)")
        itemsize = (_SAFETENSORS_DTYPES[dtype].itemsize if dtype in _SAFETENSORS_DTYPES
                    else _SAFETENSORS_UNSUPPORTED[dtype])
        expected = math.prod(shape) * itemsize
        if end - begin != expected:
            raise ModelImportError(
                f"{where}: tensor {name!r}: data_offsets [{begin}, {end}] span {end - begin} "
                f"bytes, but {dtype} of shape {tuple(shape)} needs {expected}")
        entries[name] = (dtype, tuple(shape), begin, end)
    spans = sorted((begin, end, name) for name, (_, _, begin, end) in entries.items()
                   if end > begin)
    for (_, end_a, name_a), (begin_b, _, name_b) in zip(spans, spans[1:]):
        if begin_b < end_a:
            raise ModelImportError(f"{where}: corrupt safetensors file: the data of tensors "
                                   f"{name_a!r} and {name_b!r} overlap")
    return entries, metadata, 8 + header_size


def read_safetensors(path, names=None):
    """Read a ``.safetensors`` file with numpy.

    Parameters
    ----------
    path : str or os.PathLike
    names : iterable of str, optional
        The tensors to decode (all by default).

    Returns
    -------
    tensors : dict of str to numpy.ndarray
        In their stored dtype (BF16 widened to float32).
    metadata : dict of str to str
        The ``__metadata__`` entry.
    """
    path = Path(path)
    entries, metadata, data_start = _parse_safetensors_header(path)
    names = list(entries) if names is None else list(names)
    tensors = {}
    with open(path, "rb") as stream:
        for name in names:
            dtype, shape, begin, end = entries[name]
            if dtype in _SAFETENSORS_UNSUPPORTED:
                raise ModelImportError(f"{path}: tensor {name!r} has dtype {dtype}, which this "
                                       f"reader does not decode (use F64, F32, F16 or BF16)")
            stream.seek(data_start + begin)
            raw = stream.read(end - begin)
            if len(raw) != end - begin:
                raise ModelImportError(f"{path}: tensor {name!r}: file truncated")
            array = np.frombuffer(raw, dtype=_SAFETENSORS_DTYPES[dtype]).reshape(shape)
            if dtype == "BF16":
                array = (array.astype(np.uint32) << 16).view(np.float32)
            tensors[name] = array
    return tensors, metadata


def _load_safetensors(path, prefix):
    where = str(path)
    entries, metadata, _ = _parse_safetensors_header(path)

    def fetch(name):
        dtype = entries[name][0]
        if dtype not in ("F64", "F32", "F16", "BF16"):
            raise ModelImportError(f"{where}: {name} has dtype {dtype}; LSTM parameters must "
                                   f"be floating point (F64, F32, F16 or BF16)")
        return read_safetensors(path, [name])[0][name]

    batch_first = False
    if "batch_first" in metadata:
        batch_first = _parse_bool(metadata["batch_first"],
                                  f"{where}: __metadata__['batch_first']")
    layers, has_bias, prefix = _layers_from_tensors(entries, fetch, prefix, where)
    return ImportedLSTM(layers=layers, batch_first=batch_first, source_format="safetensors",
                        source=where, has_bias=has_bias,
                        metadata={"prefix": prefix, "safetensors": dict(metadata),
                                  "batch_first_from": "the safetensors __metadata__"
                                  if "batch_first" in metadata else None})


# ---------------------------------------------------------------------------------------
# .pt (needs torch)
# ---------------------------------------------------------------------------------------

def _load_pt(path, prefix):
    where = str(path)
    try:
        import torch
    except ImportError:
        raise ModelImportError(
            f"{where}: reading .pt files needs PyTorch, which is not installed; save the "
            f"state dict as .safetensors (or export the model to ONNX, or to .npz) "
            f"instead") from None
    try:
        with torch.serialization.safe_globals([torch.nn.LSTM]):
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for unreadable/unsafe files
        message = str(error).strip().splitlines()
        detail = next((line for line in message if "Unsupported global" in line),
                      message[0] if message else type(error).__name__)
        raise ModelImportError(
            f"{where}: cannot load as a state dict or nn.LSTM with torch.load("
            f"weights_only=True): {detail.strip()}; save model.state_dict() (or the "
            f"nn.LSTM itself) instead") from None
    batch_first, batch_first_from = False, None
    if isinstance(loaded, torch.nn.Module):
        if not isinstance(loaded, torch.nn.LSTM):
            raise ModelImportError(f"{where}: holds a {type(loaded).__name__}, not an nn.LSTM")
        if loaded.proj_size:
            raise ModelImportError(f"{where}: the nn.LSTM has proj_size={loaded.proj_size}; "
                                   f"LSTMs with projections cannot be imported")
        if loaded.bidirectional:
            raise ModelImportError(f"{where}: the nn.LSTM is bidirectional; only "
                                   f"unidirectional LSTMs can be imported")
        batch_first, batch_first_from = bool(loaded.batch_first), "the nn.LSTM module"
        state = loaded.state_dict()
    elif isinstance(loaded, dict):
        state = loaded
        if not any(torch.is_tensor(value) for value in state.values()):
            nested = [key for key in ("state_dict", "model_state_dict")
                      if isinstance(state.get(key), dict)]
            if len(nested) == 1:
                state = state[nested[0]]
    else:
        raise ModelImportError(f"{where}: holds a {type(loaded).__name__}, not a state dict "
                               f"or an nn.LSTM")
    tensors = {key: value for key, value in state.items() if torch.is_tensor(value)}

    def fetch(name):
        tensor = tensors[name].detach().cpu()
        if not tensor.is_floating_point():
            raise ModelImportError(f"{where}: {name} has dtype {tensor.dtype}; LSTM parameters "
                                   f"must be floating point")
        return tensor.to(torch.float64).numpy()

    layers, has_bias, prefix = _layers_from_tensors(tensors, fetch, prefix, where)
    return ImportedLSTM(layers=layers, batch_first=batch_first, source_format="pt",
                        source=where, has_bias=has_bias,
                        metadata={"prefix": prefix, "batch_first_from": batch_first_from})


# ---------------------------------------------------------------------------------------
# Gate order
# ---------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------
# ONNX: protobuf wire format
# ---------------------------------------------------------------------------------------

class _ProtoError(Exception):
    """Malformed protobuf data (turned into a ModelImportError by the caller)."""


def _read_varint(data, pos, end):
    result = shift = 0
    while True:
        if pos >= end:
            raise _ProtoError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise _ProtoError("varint longer than 10 bytes")


def _parse_message(data):
    """Decode one protobuf message: ``{field_number: [(wire_type, value), ...]}``.

    Varints are ints, fixed32/fixed64 and length-delimited values are memoryviews.
    """
    data = memoryview(data)
    fields = {}
    pos, end = 0, len(data)
    while pos < end:
        key, pos = _read_varint(data, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _ProtoError("field number 0")
        if wire == 0:
            value, pos = _read_varint(data, pos, end)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if pos + size > end:
                raise _ProtoError(f"truncated fixed{size * 8} field {number}")
            value, pos = data[pos:pos + size], pos + size
        elif wire == 2:
            length, pos = _read_varint(data, pos, end)
            if pos + length > end:
                raise _ProtoError(f"field {number}: length {length} runs past the end of its "
                                  f"message (truncated file?)")
            value, pos = data[pos:pos + length], pos + length
        else:
            raise _ProtoError(f"field {number}: unsupported wire type {wire}")
        fields.setdefault(number, []).append((wire, value))
    return fields


def _bytes_field(fields, number, what):
    values = []
    for wire, value in fields.get(number, ()):
        if wire != 2:
            raise _ProtoError(f"{what}: field {number} should be length-delimited")
        values.append(value)
    return values


def _strings(fields, number, what):
    try:
        return [bytes(v).decode("utf-8") for v in _bytes_field(fields, number, what)]
    except UnicodeDecodeError:
        raise _ProtoError(f"{what}: field {number} is not UTF-8") from None


def _string(fields, number, what, default=""):
    values = _strings(fields, number, what)
    return values[-1] if values else default


def _to_signed64(value):
    return value - (1 << 64) if value >= 1 << 63 else value


def _varints(fields, number, what, signed=True):
    """A repeated integer field, packed or not."""
    result = []
    for wire, value in fields.get(number, ()):
        if wire == 0:
            result.append(value)
        elif wire == 2:
            pos, end = 0, len(value)
            while pos < end:
                item, pos = _read_varint(value, pos, end)
                result.append(item)
        else:
            raise _ProtoError(f"{what}: field {number} should be a varint")
    return [_to_signed64(v) for v in result] if signed else result


def _fixed(fields, number, what, dtype):
    """A repeated fixed32/fixed64 field (float/double), packed or not, as a numpy array."""
    dtype = np.dtype(dtype)
    chunks = []
    for wire, value in fields.get(number, ()):
        if wire not in (1, 2, 5) or (wire != 2 and len(value) != dtype.itemsize):
            raise _ProtoError(f"{what}: field {number} has the wrong wire type")
        if wire == 2 and len(value) % dtype.itemsize:
            raise _ProtoError(f"{what}: packed field {number} is not a whole number of "
                              f"{dtype.itemsize}-byte values")
        chunks.append(bytes(value))
    return np.frombuffer(b"".join(chunks), dtype=dtype)


def _messages(fields, number, what):
    return [_parse_message(value) for value in _bytes_field(fields, number, what)]


# ---------------------------------------------------------------------------------------
# ONNX: tensors
# ---------------------------------------------------------------------------------------

#: ONNX TensorProto.DataType: (name, numpy dtype of raw_data, typed field holding values).
_ONNX_TYPES = {
    1: ("FLOAT", "<f4", 4), 2: ("UINT8", "u1", 5), 3: ("INT8", "i1", 5),
    4: ("UINT16", "<u2", 5), 5: ("INT16", "<i2", 5), 6: ("INT32", "<i4", 5),
    7: ("INT64", "<i8", 7), 9: ("BOOL", "?", 5), 10: ("FLOAT16", "<f2", 5),
    11: ("DOUBLE", "<f8", 10), 12: ("UINT32", "<u4", 11), 13: ("UINT64", "<u8", 11),
    16: ("BFLOAT16", "<u2", 5),
}
_ONNX_TYPE_NAMES = {8: "STRING", 14: "COMPLEX64", 15: "COMPLEX128", 17: "FLOAT8E4M3FN",
                    18: "FLOAT8E4M3FNUZ", 19: "FLOAT8E5M2", 20: "FLOAT8E5M2FNUZ",
                    21: "UINT4", 22: "INT4", 23: "FLOAT4E2M1"}
_FLOAT_TYPES = {1, 10, 11, 16}


def _onnx_tensor(fields, what, model_dir):
    """Decode a TensorProto to a numpy array."""
    name = _string(fields, 8, what)
    what = f"tensor {name!r}" if name else what
    dims = _varints(fields, 1, what)
    if any(d < 0 for d in dims):
        raise ModelImportError(f"{what}: negative dimension in {dims}")
    types = _varints(fields, 2, what)
    data_type = types[-1] if types else 0
    if data_type not in _ONNX_TYPES:
        type_name = _ONNX_TYPE_NAMES.get(data_type, f"data type {data_type}")
        raise ModelImportError(f"{what}: unsupported ONNX tensor type {type_name}")
    type_name, raw_dtype, typed_field = _ONNX_TYPES[data_type]
    if 3 in fields:
        raise ModelImportError(f"{what}: segmented tensors are not supported")
    count = math.prod(dims)
    raw = _bytes_field(fields, 9, what)
    location = _varints(fields, 14, what)
    if location and location[-1] == 1:
        raw = [_external_data(fields, what, model_dir)]
    if raw:
        raw = bytes(raw[-1])
        expected = count * np.dtype(raw_dtype).itemsize
        if len(raw) != expected:
            raise ModelImportError(f"{what}: raw_data has {len(raw)} bytes, but {type_name} of "
                                   f"shape {tuple(dims)} needs {expected}")
        array = np.frombuffer(raw, dtype=raw_dtype)
    else:
        if typed_field == 4:
            values = _fixed(fields, 4, what, "<f4")
        elif typed_field == 10:
            values = _fixed(fields, 10, what, "<f8")
        else:
            values = np.array(_varints(fields, typed_field, what, signed=typed_field != 11),
                              dtype=np.int64 if typed_field != 11 else np.uint64)
        if len(values) != count:
            raise ModelImportError(f"{what}: holds {len(values)} value(s), but shape "
                                   f"{tuple(dims)} needs {count}")
        if data_type in (10, 16):  # 16-bit floats travel as their bit patterns
            array = values.astype(np.uint16).view(raw_dtype)
        else:
            array = values.astype(raw_dtype)
    if data_type == 16:
        array = (array.astype(np.uint32) << 16).view(np.float32)
    return array.reshape(dims)


def _external_data(fields, what, model_dir):
    entries = {}
    for entry in _messages(fields, 13, what):
        entries[_string(entry, 1, what)] = _string(entry, 2, what)
    location = entries.get("location")
    if not location:
        raise ModelImportError(f"{what}: external data without a location")
    if model_dir is None:
        raise ModelImportError(f"{what}: external data needs the model's directory")
    base = Path(model_dir).resolve()
    target = (base / location).resolve()
    if Path(location).is_absolute() or base not in target.parents:
        raise ModelImportError(f"{what}: external data location {location!r} is outside the "
                               f"model's directory")
    try:
        offset = int(entries.get("offset", 0))
        length = int(entries["length"]) if "length" in entries else None
        with open(target, "rb") as stream:
            stream.seek(offset)
            data = stream.read() if length is None else stream.read(length)
    except (OSError, ValueError) as error:
        raise ModelImportError(f"{what}: cannot read external data {location!r} "
                               f"({error})") from None
    if length is not None and len(data) != length:
        raise ModelImportError(f"{what}: external data {location!r} is truncated")
    return data


# ---------------------------------------------------------------------------------------
# ONNX: graph and constant evaluation
# ---------------------------------------------------------------------------------------

@dataclass(eq=False)
class _Node:
    index: int
    op_type: str
    domain: str
    name: str
    inputs: list
    outputs: list
    attributes: dict

    @property
    def label(self):
        return f"{self.op_type} node {self.name!r}" if self.name else \
            f"{self.op_type} node #{self.index}"


class _NotConstant(Exception):
    """A value depends on a graph input (or on an op this evaluator does not run)."""

    def __init__(self, name, reason):
        super().__init__(name, reason)
        self.name, self.reason = name, reason


def _attribute(fields, what, model_dir):
    """Decode an AttributeProto to ``(name, value)``."""
    name = _string(fields, 1, what)
    what = f"{what} attribute {name!r}"
    kinds = _varints(fields, 20, what)
    kind = kinds[-1] if kinds else None
    # Without a type field (old files), infer it from the field present.
    if kind is None:
        for number, inferred in ((2, 1), (3, 2), (4, 3), (5, 4), (7, 6), (8, 7), (9, 8)):
            if number in fields:
                kind = inferred
                break
    if kind == 1:
        values = _fixed(fields, 2, what, "<f4")
        return name, float(values[-1]) if len(values) else 0.0
    if kind == 2:
        values = _varints(fields, 3, what)
        return name, values[-1] if values else 0
    if kind == 3:
        values = _bytes_field(fields, 4, what)
        return name, bytes(values[-1]).decode("utf-8", "replace") if values else ""
    if kind == 4:
        tensors = _messages(fields, 5, what)
        if not tensors:
            raise ModelImportError(f"{what}: tensor attribute without a tensor")
        return name, _LazyTensor(tensors[-1], what, model_dir)
    if kind == 6:
        return name, [float(v) for v in _fixed(fields, 7, what, "<f4")]
    if kind == 7:
        return name, _varints(fields, 8, what)
    if kind == 8:
        return name, [bytes(v).decode("utf-8", "replace")
                      for v in _bytes_field(fields, 9, what)]
    return name, _Unsupported(kind)


@dataclass(frozen=True)
class _LazyTensor:
    """A tensor attribute, decoded only if used (a graph may hold tensors of types that
    this reader does not decode, e.g. strings, away from the LSTM)."""
    fields: dict
    what: str
    model_dir: object

    def decode(self):
        return _onnx_tensor(self.fields, self.what, self.model_dir)


@dataclass(frozen=True)
class _Unsupported:
    """An attribute of a kind this reader does not decode (graphs, sparse tensors, ...)."""
    kind: int | None


class _OnnxGraph:
    """The main graph of an ONNX model, with constant folding of weight subgraphs."""

    def __init__(self, data, where, model_dir):
        self.where = where
        self.model_dir = model_dir
        try:
            model = _parse_message(data)
            graphs = _messages(model, 7, "ModelProto")
        except _ProtoError as error:
            raise ModelImportError(f"{where}: not a valid ONNX file: {error}") from None
        if not graphs:
            raise ModelImportError(f"{where}: not an ONNX model (no graph in the ModelProto)")
        try:
            self._read(model, graphs[-1])
        except _ProtoError as error:
            raise ModelImportError(f"{where}: corrupt ONNX graph: {error}") from None
        self._cache = {}
        self._evaluating = set()

    def _read(self, model, graph):
        self.producer = f"{_string(model, 2, 'ModelProto')} {_string(model, 3, 'ModelProto')}"
        self.opsets = {}
        for opset in _messages(model, 8, "opset_import"):
            versions = _varints(opset, 2, "opset_import")
            domain = _string(opset, 1, "opset_import")
            self.opsets["" if domain == "ai.onnx" else domain] = versions[-1] if versions else 0
        self.initializers = {}
        for tensor in _bytes_field(graph, 5, "GraphProto"):
            fields = _parse_message(tensor)
            self.initializers[_string(fields, 8, "initializer")] = fields
        self.sparse_initializers = set()
        for sparse in _messages(graph, 15, "GraphProto"):
            for values in _messages(sparse, 1, "sparse_initializer"):
                self.sparse_initializers.add(_string(values, 8, "sparse_initializer"))
        self.inputs = [_string(info, 1, "graph input")
                       for info in _messages(graph, 11, "GraphProto")]
        self.nodes = []
        self.producers = {}
        for index, fields in enumerate(_messages(graph, 1, "GraphProto")):
            what = f"node #{index}"
            attributes = dict(_attribute(attr, what, self.model_dir)
                              for attr in _messages(fields, 5, what))
            node = _Node(index=index, op_type=_string(fields, 4, what),
                         domain=_string(fields, 7, what), name=_string(fields, 3, what),
                         inputs=_strings(fields, 1, what), outputs=_strings(fields, 2, what),
                         attributes=attributes)
            self.nodes.append(node)
            for position, output in enumerate(node.outputs):
                if output:
                    self.producers[output] = (node, position)

    # -- constant evaluation --------------------------------------------------------------

    def value(self, name):
        """The constant value of tensor ``name``; raises _NotConstant if it has none."""
        if name in self._cache:
            return self._cache[name]
        if name in self.initializers:
            result = _onnx_tensor(self.initializers[name], f"initializer {name!r}",
                                  self.model_dir)
        elif name in self.sparse_initializers:
            raise ModelImportError(f"{self.where}: tensor {name!r} is a sparse initializer, "
                                   f"which is not supported")
        elif name in self.producers:
            node, position = self.producers[name]
            if node.index in self._evaluating:
                raise ModelImportError(f"{self.where}: the graph has a cycle through "
                                       f"{node.label}")
            self._evaluating.add(node.index)
            try:
                outputs = self._evaluate(node)
            finally:
                self._evaluating.discard(node.index)
            if position >= len(outputs):
                raise ModelImportError(f"{self.where}: {node.label} computes "
                                       f"{len(outputs)} output(s), not {position + 1}")
            result = outputs[position]
        elif name in self.inputs:
            raise _NotConstant(name, f"it is the graph input {name!r}")
        else:
            raise ModelImportError(f"{self.where}: tensor {name!r} is used but neither an "
                                   f"initializer, a graph input nor a node output")
        self._cache[name] = result
        return result

    def _evaluate(self, node):
        op = node.op_type
        if node.domain not in ("", "ai.onnx") or op not in _CONSTANT_OPS:
            raise _NotConstant(node.outputs[0] if node.outputs else "",
                               f"it is computed by a {node.label}")
        inputs = [None if not name else self.value(name) for name in node.inputs]
        try:
            outputs = _CONSTANT_OPS[op](node, inputs)
        except (ValueError, IndexError, TypeError, KeyError, OverflowError) as error:
            raise ModelImportError(f"{self.where}: cannot evaluate {node.label}: "
                                   f"{error}") from None
        return outputs


def _axes(node, inputs, position):
    """Axes of Squeeze/Unsqueeze/Slice...: an attribute before opset 13, an input after."""
    if len(inputs) > position and inputs[position] is not None:
        return [int(a) for a in np.asarray(inputs[position]).reshape(-1)]
    return node.attributes.get("axes")


def _op_unsqueeze(node, inputs):
    data = inputs[0]
    axes = _axes(node, inputs, 1)
    rank = data.ndim + len(axes)
    for axis in sorted(a % rank for a in axes):
        data = np.expand_dims(data, axis)
    return [data]


def _op_squeeze(node, inputs):
    data = inputs[0]
    axes = _axes(node, inputs, 1)
    if axes is None:
        return [np.squeeze(data)]
    return [np.squeeze(data, axis=tuple(a % data.ndim for a in axes))]


def _op_reshape(node, inputs):
    data, shape = inputs[0], [int(s) for s in np.asarray(inputs[1]).reshape(-1)]
    if not node.attributes.get("allowzero", 0):
        shape = [data.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return [data.reshape(shape)]


def _op_slice(node, inputs):
    data = inputs[0]
    if len(inputs) > 1:  # opset >= 10
        starts = np.asarray(inputs[1]).reshape(-1)
        ends = np.asarray(inputs[2]).reshape(-1)
        axes = _axes(node, inputs, 3) or list(range(len(starts)))
        steps = (np.asarray(inputs[4]).reshape(-1) if len(inputs) > 4 and inputs[4] is not None
                 else [1] * len(starts))
    else:
        starts, ends = node.attributes["starts"], node.attributes["ends"]
        axes = node.attributes.get("axes", list(range(len(starts))))
        steps = [1] * len(starts)
    index = [slice(None)] * data.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps):
        start, end, step = int(start), int(end), int(step)
        # Python clamps out-of-range bounds as ONNX does, except for an end below -size
        # with a negative step, which ONNX reads as "through index 0".
        if step < 0 and end < -data.shape[axis]:
            end = None
        index[int(axis)] = slice(start, end, step)
    return [data[tuple(index)]]


def _op_concat(node, inputs):
    return [np.concatenate(inputs, axis=node.attributes["axis"])]


def _op_transpose(node, inputs):
    return [np.transpose(inputs[0], node.attributes.get("perm"))]


def _op_gather(node, inputs):
    return [np.take(inputs[0], np.asarray(inputs[1], dtype=np.int64),
                    axis=node.attributes.get("axis", 0))]


def _op_split(node, inputs):
    data, axis = inputs[0], node.attributes.get("axis", 0)
    if len(inputs) > 1 and inputs[1] is not None:
        sizes = [int(s) for s in np.asarray(inputs[1]).reshape(-1)]
    elif "split" in node.attributes:
        sizes = node.attributes["split"]
    else:
        parts = node.attributes.get("num_outputs", len(node.outputs))
        chunk = -(-data.shape[axis] // parts)
        sizes = [min(chunk, data.shape[axis] - k * chunk) for k in range(parts)]
    return np.split(data, np.cumsum(sizes)[:-1], axis=axis)


def _op_cast(node, inputs):
    to = node.attributes["to"]
    if to not in _ONNX_TYPES:
        raise ValueError(f"cast to unsupported type {to}")
    if to == 16:
        return [inputs[0].astype(np.float32)]
    return [inputs[0].astype(_ONNX_TYPES[to][1])]


def _op_constant(node, inputs):
    attributes = node.attributes
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if key in attributes:
            value = attributes[key]
            if isinstance(value, _Unsupported):
                break
            if key in ("value_float", "value_floats"):
                return [np.asarray(value, dtype=np.float32)]
            if key in ("value_int", "value_ints"):
                return [np.asarray(value, dtype=np.int64)]
            return [value.decode()]
    raise ValueError(f"Constant with attribute(s) {sorted(attributes)} is not supported")


_CONSTANT_OPS = {
    "Constant": _op_constant,
    "Identity": lambda node, inputs: [inputs[0]],
    "Dropout": lambda node, inputs: [inputs[0], np.ones(inputs[0].shape, dtype=bool)],
    "Cast": _op_cast,
    "Unsqueeze": _op_unsqueeze,
    "Squeeze": _op_squeeze,
    "Reshape": _op_reshape,
    "Transpose": _op_transpose,
    "Slice": _op_slice,
    "Concat": _op_concat,
    "Split": _op_split,
    "Gather": _op_gather,
}

#: Ops allowed between the graph input and the first LSTM, and between stacked LSTMs; the
#: axes of the data are followed through them (see _input_axes and _axes_between_layers).
_INPUT_PATH_OPS = ("Identity", "Cast", "Dropout", "Unsqueeze", "Squeeze", "Transpose")
_BETWEEN_LAYERS_OPS = ("Identity", "Cast", "Dropout", "Squeeze", "Reshape", "Transpose")

_DEFAULT_ACTIVATIONS = ["sigmoid", "tanh", "tanh"]


def onnx_lstm_nodes(path):
    """The LSTM nodes of an ONNX model, with their parameters exactly as stored.

    For inspection (and for tests of the gate-order conversion): no gate is reordered.

    Returns
    -------
    list of dict
        In stack order: ``name``, ``attributes`` (dict), ``W`` ``(num_directions, 4H, I)``,
        ``R`` ``(num_directions, 4H, H)``, ``B`` ``(num_directions, 8H)`` or None, as
        float64, in ONNX's gate order i, o, f, c.
    """
    path = Path(path)
    graph = _OnnxGraph(path.read_bytes(), str(path), path.parent)
    nodes, _ = _lstm_chain(graph)
    result = []
    for node in nodes:
        entry = {"name": node.name, "attributes": dict(node.attributes)}
        for position, key in ((1, "W"), (2, "R"), (3, "B")):
            name = node.inputs[position] if len(node.inputs) > position else ""
            entry[key] = (_constant_input(graph, node, name, key).astype(np.float64)
                          if name else None)
        result.append(entry)
    return result


def _trace(graph, name, allowed):
    """Follow ``name`` back through ``allowed`` ops (along their first input).

    Returns ``(source_node, source_position, path)``: the producing node that is not an
    allowed op (``None`` for a graph input), its output index, and the nodes passed, from
    the consumer backwards.
    """
    path = []
    while True:
        if name in graph.producers:
            node, position = graph.producers[name]
            if node in path:
                raise ModelImportError(f"{graph.where}: the graph has a cycle through "
                                       f"{node.label}")
            if node.op_type in allowed and node.domain in ("", "ai.onnx") and position == 0:
                path.append(node)
                name = node.inputs[0] if node.inputs else ""
                continue
            return node, position, path
        if name in graph.inputs and name not in graph.initializers:
            return None, name, path
        raise ModelImportError(f"{graph.where}: the LSTM's input {name!r} is a constant, not "
                               f"a graph input")


def _path_axes(graph, step, rank):
    """The normalized axes of a Squeeze/Unsqueeze on an LSTM's data path (or None)."""
    try:
        if len(step.inputs) > 1 and step.inputs[1]:
            axes = [int(a) for a in np.asarray(graph.value(step.inputs[1])).reshape(-1)]
        else:
            axes = step.attributes.get("axes")
    except _NotConstant as error:
        raise ModelImportError(f"{graph.where}: the axes of {step.label} are not constant "
                               f"({error.reason})") from None
    if axes is None:
        return None
    if any(not -rank <= a < rank for a in axes):
        raise ModelImportError(f"{graph.where}: {step.label} has axes {axes} out of range for "
                               f"rank {rank}")
    return sorted({a % rank for a in axes})


def _permutation(graph, step, rank):
    perm = step.attributes.get("perm") or list(reversed(range(rank)))
    if sorted(perm) != list(range(rank)):
        raise ModelImportError(f"{graph.where}: {step.label} has perm={perm}, not a "
                               f"permutation of the {rank} axes of its input")
    return perm


def _input_axes(graph, node, path):
    """Follow the first LSTM's input back to the graph input; return ``batch_first``.

    The LSTM reads ``(T, B, I)`` (``layout=0``) or ``(B, T, I)`` (``layout=1``). Going back
    through Transpose, Unsqueeze, Squeeze, ... gives the axes of the graph input; the
    model is batch-first when, where the data last has both a batch and a time axis, the
    batch axis comes first (an input without batch axis that torch unsqueezes reports the
    ``batch_first`` of the module it came from).
    """
    layout = node.attributes.get("layout", 0)
    axes = ["B", "T", "I"] if layout else ["T", "B", "I"]
    batch_first = bool(layout)
    for step in path:  # from the LSTM backwards
        op = step.op_type
        if op not in _INPUT_PATH_OPS:
            raise ModelImportError(f"{graph.where}: a {step.label} lies between the graph "
                                   f"input and {node.label}")
        if op == "Transpose":
            perm = _permutation(graph, step, len(axes))
            before = [None] * len(axes)
            for position, source in enumerate(perm):
                before[source] = axes[position]
            axes = before
        elif op == "Unsqueeze":
            added = _path_axes(graph, step, len(axes))
            if added is None or any(axes[a] in ("T", "I") for a in added):
                raise ModelImportError(f"{graph.where}: {step.label} creates the time or "
                                       f"feature axis of {node.label}'s input")
            axes = [name for position, name in enumerate(axes) if position not in added]
        elif op == "Squeeze":
            removed = _path_axes(graph, step, len(axes) + 1)
            if removed is None:
                raise ModelImportError(f"{graph.where}: {step.label} without axes lies on "
                                       f"{node.label}'s input path")
            rank = len(axes) + len(removed)
            remaining = iter(axes)
            axes = ["1" if position in removed else next(remaining)
                    for position in range(rank)]
        if "B" in axes and "T" in axes:
            batch_first = axes.index("B") < axes.index("T")
    return batch_first


def _axes_between_layers(graph, source, node, path):
    """Check that ``source``'s output ``Y`` reaches ``node`` with the axes it expects.

    ``Y`` is ``(T, 1, B, H)`` (``layout=0``) or ``(B, T, 1, H)`` (``layout=1``); the next
    LSTM reads ``(T, B, H)`` or ``(B, T, H)``. torch's TorchScript exporter removes the
    direction axis with a Squeeze, its dynamo exporter with a Transpose and a Reshape.
    """
    axes = ["B", "T", "D", "H"] if source.attributes.get("layout", 0) else ["T", "D", "B", "H"]
    for step in reversed(path):  # from the source LSTM forwards
        op = step.op_type
        if op not in _BETWEEN_LAYERS_OPS:
            raise ModelImportError(f"{graph.where}: a {step.label} lies between "
                                   f"{source.label} and {node.label}")
        if op == "Transpose":
            perm = _permutation(graph, step, len(axes))
            axes = [axes[p] for p in perm]
        elif op == "Squeeze":
            removed = _path_axes(graph, step, len(axes))
            if removed is None:
                removed = [axes.index("D")] if "D" in axes else []
            if any(axes[a] != "D" for a in removed):
                raise ModelImportError(f"{graph.where}: {step.label} removes an axis other "
                                       f"than the direction axis of {source.label}'s output")
            axes = [name for position, name in enumerate(axes) if position not in removed]
        elif op == "Reshape":
            try:
                shape = np.asarray(graph.value(step.inputs[1])).reshape(-1)
            except _NotConstant as error:
                raise ModelImportError(f"{graph.where}: the shape of {step.label} is not "
                                       f"constant ({error.reason})") from None
            if len(shape) == len(axes) - 1 and "D" in axes:
                axes = [name for name in axes if name != "D"]
            elif len(shape) != len(axes):
                raise ModelImportError(f"{graph.where}: {step.label} between {source.label} "
                                       f"and {node.label} changes the rank from {len(axes)} "
                                       f"to {len(shape)}")
    expected = ["B", "T", "H"] if node.attributes.get("layout", 0) else ["T", "B", "H"]
    if axes != expected:
        shown = ", ".join("1" if a == "D" else a for a in axes)
        raise ModelImportError(f"{graph.where}: {source.label}'s output reaches {node.label} "
                               f"with axes ({shown}), but it reads ({', '.join(expected)})")


def _lstm_chain(graph):
    """Find the LSTM nodes and order them as a stack; also say if the input is batch-first."""
    lstms = [node for node in graph.nodes
             if node.op_type == "LSTM" and node.domain in ("", "ai.onnx")]
    if not lstms:
        recurrent = sorted({n.op_type for n in graph.nodes if n.op_type in ("GRU", "RNN")})
        ops = sorted({n.op_type for n in graph.nodes})
        detail = (f"it has {' and '.join(recurrent)} node(s), which are not LSTMs" if recurrent
                  else f"ops present: {', '.join(ops) or 'none'}")
        raise ModelImportError(f"{graph.where}: no LSTM node in the ONNX graph ({detail})")
    first, successor = None, {}
    batch_first = False
    allowed = tuple(set(_INPUT_PATH_OPS) | set(_BETWEEN_LAYERS_OPS))
    for node in lstms:
        if not node.inputs or not node.inputs[0]:
            raise ModelImportError(f"{graph.where}: {node.label} has no input X")
        source, position, path = _trace(graph, node.inputs[0], allowed)
        if source is None:
            if first is not None:
                raise ModelImportError(
                    f"{graph.where}: {first.label} and {node.label} both read a graph input: "
                    f"the LSTM nodes do not form one stack")
            first = node
            batch_first = _input_axes(graph, node, path)
        elif source.op_type == "LSTM" and position == 0:
            _axes_between_layers(graph, source, node, path)
            if source.index in successor:
                raise ModelImportError(
                    f"{graph.where}: {successor[source.index].label} and {node.label} both "
                    f"read {source.label}: the LSTM nodes do not form one stack")
            successor[source.index] = node
        else:
            what = (f"output {position} of {source.label}" if source.op_type == "LSTM"
                    else f"a {source.label}")
            raise ModelImportError(
                f"{graph.where}: the input X of {node.label} is computed by {what}; only an "
                f"LSTM (or a stack of LSTMs) fed from a graph input can be imported")
    if first is None:
        raise ModelImportError(f"{graph.where}: no LSTM node reads a graph input")
    chain = [first]
    while chain[-1].index in successor:
        chain.append(successor[chain[-1].index])
    if len(chain) != len(lstms):
        stray = [n.label for n in lstms if n not in chain]
        raise ModelImportError(f"{graph.where}: {', '.join(stray)} are not part of the stack "
                               f"that starts at {first.label}")
    return chain, batch_first


def _constant_input(graph, node, name, role):
    try:
        return graph.value(name)
    except _NotConstant as error:
        raise ModelImportError(f"{graph.where}: input {role} of {node.label} is not a "
                               f"constant ({error.reason}); the weights must be stored in "
                               f"the model") from None


def _is_zero_initial_state(graph, node, name, role):
    """True for a zero initial state, False for a run-time input; else an error."""
    try:
        value = graph.value(name)
    except _NotConstant:
        producer = graph.producers.get(name)
        if not producer or producer[0].op_type != "Expand":
            return False
        # torch.onnx.export: zeros expanded to the batch size read from the input's shape.
        try:
            value = graph.value(producer[0].inputs[0])
        except _NotConstant:
            return False
    if np.any(np.asarray(value) != 0):
        raise ModelImportError(f"{graph.where}: input {role} of {node.label} is a nonzero "
                               f"constant; give initial states at run time instead")
    return True


def _check_lstm_attributes(graph, node, layer):
    where = f"{graph.where}: {node.label} (layer {layer})"
    attributes = node.attributes
    for key, value in attributes.items():
        if isinstance(value, _Unsupported):
            raise ModelImportError(f"{where}: attribute {key!r} has an unsupported kind")
    direction = attributes.get("direction", "forward")
    if direction != "forward":
        raise ModelImportError(f"{where}: direction={direction!r}; only forward LSTMs can be "
                               f"imported (bidirectional and reverse LSTMs are not supported)")
    activations = attributes.get("activations")
    if activations is not None and [a.lower() for a in activations] != _DEFAULT_ACTIVATIONS:
        raise ModelImportError(f"{where}: activations={activations}; only the default "
                               f"Sigmoid, Tanh, Tanh are supported")
    for key in ("activation_alpha", "activation_beta"):
        if attributes.get(key):
            raise ModelImportError(f"{where}: {key}={attributes[key]} is not supported")
    if "clip" in attributes:
        raise ModelImportError(f"{where}: clip={attributes['clip']} (cell clipping) is not "
                               f"supported")
    if attributes.get("input_forget", 0):
        raise ModelImportError(f"{where}: input_forget=1 (coupled input and forget gates) is "
                               f"not supported")
    layout = attributes.get("layout", 0)
    if layout not in (0, 1):
        raise ModelImportError(f"{where}: invalid layout={layout}")
    unknown = set(attributes) - {"direction", "activations", "activation_alpha",
                                 "activation_beta", "clip", "input_forget", "layout",
                                 "hidden_size"}
    if unknown:
        raise ModelImportError(f"{where}: unknown attribute(s) {', '.join(sorted(unknown))}")


def _convert_lstm_node(graph, node, layer):
    """One ONNX LSTM node to torch's parameters (float64, gate order i, f, g, o)."""
    _check_lstm_attributes(graph, node, layer)
    where = f"{graph.where}: {node.label} (layer {layer})"
    inputs = node.inputs + [""] * (8 - len(node.inputs))
    if not inputs[1] or not inputs[2]:
        raise ModelImportError(f"{where}: inputs W and R are required")
    arrays = {}
    for position, role in ((1, "W"), (2, "R"), (3, "B")):
        if not inputs[position]:
            continue
        value = _constant_input(graph, node, inputs[position], role)
        if value.dtype.kind != "f":
            raise ModelImportError(f"{where}: {role} has dtype {value.dtype}; LSTM parameters "
                                   f"must be floating point")
        arrays[role] = _as_parameter(role, value, where)
    weight, recurrence = arrays["W"], arrays["R"]
    if recurrence.ndim != 3 or weight.ndim != 3:
        raise ModelImportError(f"{where}: W and R must be 3-D (num_directions, 4*hidden_size, "
                               f"...), got W {weight.shape}, R {recurrence.shape}")
    if weight.shape[0] != 1 or recurrence.shape[0] != 1:
        raise ModelImportError(f"{where}: W {weight.shape} and R {recurrence.shape} hold "
                               f"{max(weight.shape[0], recurrence.shape[0])} directions; only "
                               f"one (forward) direction can be imported")
    hidden = recurrence.shape[2]
    declared = node.attributes.get("hidden_size")
    if declared is not None and declared != hidden:
        raise ModelImportError(f"{where}: hidden_size={declared} but R has shape "
                               f"{recurrence.shape}, i.e. hidden size {hidden}")
    if hidden == 0 or recurrence.shape[1] != 4 * hidden:
        raise ModelImportError(f"{where}: R has shape {recurrence.shape}; an LSTM of hidden "
                               f"size {hidden} needs (1, {4 * hidden}, {hidden}): four gate "
                               f"blocks i, o, f, c")
    if weight.shape[1] != 4 * hidden or weight.shape[2] == 0:
        raise ModelImportError(f"{where}: W has shape {weight.shape}; with hidden size "
                               f"{hidden} it needs (1, {4 * hidden}, input_size)")
    if "B" in arrays and arrays["B"].shape != (1, 8 * hidden):
        raise ModelImportError(f"{where}: B has shape {arrays['B'].shape}; it needs (1, "
                               f"{8 * hidden}) = [Wb; Rb], four gate blocks each")
    if inputs[7]:
        peepholes = _constant_input(graph, node, inputs[7], "P")
        if np.any(peepholes != 0):
            raise ModelImportError(f"{where}: has peephole weights P; LSTMs with peepholes "
                                   f"cannot be imported")
    for position, role in ((5, "initial_h"), (6, "initial_c")):
        if inputs[position]:
            _is_zero_initial_state(graph, node, inputs[position], role)
    order = ONNX_TO_TORCH_GATES
    result = {
        "weight_ih": reorder_gates(weight[0], hidden, order),
        "weight_hh": reorder_gates(recurrence[0], hidden, order),
    }
    if "B" in arrays:
        result["bias_ih"] = reorder_gates(arrays["B"][0, :4 * hidden], hidden, order)
        result["bias_hh"] = reorder_gates(arrays["B"][0, 4 * hidden:], hidden, order)
    return result


def _load_onnx(path, prefix):
    where = str(path)
    graph = _OnnxGraph(path.read_bytes(), where, path.parent)
    chain, batch_first = _lstm_chain(graph)
    layers, names = [], []
    for index, node in enumerate(chain):
        layers.append(_convert_lstm_node(graph, node, index))
        names.append({kind: f"{role} of {node.label} (layer {index})" for kind, role in
                      (("weight_ih", "W"), ("weight_hh", "R"), ("bias_ih", "B[:4H]"),
                       ("bias_hh", "B[4H:]"))})
    with_bias = ["bias_ih" in layer for layer in layers]
    if any(with_bias) and not all(with_bias):
        missing = chain[with_bias.index(False)].label
        raise ModelImportError(f"{where}: {missing} has no bias B while other layers have one")
    _check_layers(layers, names, where)
    return ImportedLSTM(layers=layers, batch_first=batch_first, source_format="onnx",
                        source=where, has_bias=all(with_bias),
                        metadata={"producer": graph.producer.strip(), "opsets": graph.opsets,
                                  "nodes": [node.name for node in chain],
                                  "batch_first_from": "the ONNX graph (LSTM layout and the "
                                                      "Transposes before it)"})
