"""Import a (stacked) LSTM from an ONNX model, decoded with numpy alone.

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


The protobuf is read by :mod:`rpu.frontend.protobuf`, tensors and attributes by
:mod:`rpu.frontend.onnx_tensors`, the graph and its constant folding by
:mod:`rpu.frontend.onnx_graph`; this module finds the LSTM nodes, follows the data between
them and converts their parameters. Attributes are checked for their type (an ``int``
where an int is expected, ...), and no walk of the graph recurses.

Memory bound: the file's bytes and its protobuf fields (a small multiple of the file's
size), the folded constants (at most :data:`~rpu.frontend.limits.FOLD_FACTOR` times the
stored tensor bytes plus :data:`~rpu.frontend.limits.OVERHEAD_BYTES`, see
:mod:`rpu.frontend.onnx_graph`), and :data:`~rpu.frontend.limits.COPIES` float64 copies of
the parameters of the model; more than :data:`~rpu.frontend.limits.MAX_LAYERS` LSTM nodes
are refused before any weight is read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rpu.frontend.imported import (ONNX_TO_TORCH_GATES, ImportedLSTM, ModelImportError,
                                   as_parameter, check_layers, reorder_gates)
from rpu.frontend.limits import MAX_LAYERS
from rpu.frontend.onnx_graph import NotConstant, OnnxGraph
from rpu.frontend.onnx_tensors import Unsupported, get_attribute
from rpu.frontend.protobuf import ProtoError


__all__ = ["load_onnx", "onnx_lstm_nodes"]

_INPUT_PATH_OPS = ("Identity", "Cast", "Dropout", "Unsqueeze", "Squeeze", "Transpose")
_BETWEEN_LAYERS_OPS = ("Identity", "Cast", "Dropout", "Squeeze", "Reshape", "Transpose")

_DEFAULT_ACTIVATIONS = ["sigmoid", "tanh", "tanh"]

#: The LSTM node's attributes and their types.
_LSTM_ATTRIBUTES = {"direction": "string", "activations": "strings",
                    "activation_alpha": "floats", "activation_beta": "floats", "clip": "float",
                    "input_forget": "int", "layout": "int", "hidden_size": "int"}


def _attribute(graph, node, key, kind, default=None):
    """Attribute ``key`` of ``node``, which must be of ``kind``; else a ModelImportError."""
    try:
        return get_attribute(node, key, kind, default)
    except ValueError as error:
        raise ModelImportError(f"{graph.where}: {node.label}: {error}") from None


def _open_graph(path):
    path = Path(path)
    try:
        return OnnxGraph(path.read_bytes(), str(path), path.parent)
    except OSError as error:
        raise ModelImportError(f"{path}: cannot be read ({error})") from None


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
    return _on_graph(path, _describe_nodes)


def _describe_nodes(graph):
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
            axes = _attribute(graph, step, "axes", "ints")
    except NotConstant as error:
        raise ModelImportError(f"{graph.where}: the axes of {step.label} are not constant "
                               f"({error.reason})") from None
    if axes is None:
        return None
    if any(not -rank <= a < rank for a in axes):
        raise ModelImportError(f"{graph.where}: {step.label} has axes {axes} out of range for "
                               f"rank {rank}")
    return sorted({a % rank for a in axes})


def _permutation(graph, step, rank):
    perm = _attribute(graph, step, "perm", "ints") or list(reversed(range(rank)))
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
            except NotConstant as error:
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
    if len(lstms) > MAX_LAYERS:
        raise ModelImportError(f"{graph.where}: {len(lstms)} LSTM nodes; the RPU accepts at "
                               f"most {MAX_LAYERS} layers")
    for node in lstms:
        _check_attribute_types(graph, node)
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
    while chain[-1].index in successor and len(chain) <= len(lstms):
        chain.append(successor[chain[-1].index])
    if len(chain) != len(lstms):
        stray = [n.label for n in lstms if n not in chain]
        raise ModelImportError(f"{graph.where}: {', '.join(stray)} are not part of the stack "
                               f"that starts at {first.label}")
    return chain, batch_first


def _constant_input(graph, node, name, role):
    try:
        return graph.value(name)
    except NotConstant as error:
        raise ModelImportError(f"{graph.where}: input {role} of {node.label} is not a "
                               f"constant ({error.reason}); the weights must be stored in "
                               f"the model") from None


def _is_zero_initial_state(graph, node, name, role):
    """True for a zero initial state, False for a run-time input; else an error."""
    try:
        value = graph.value(name)
    except NotConstant:
        producer = graph.producers.get(name)
        if not producer or producer[0].op_type != "Expand":
            return False
        # torch.onnx.export: zeros expanded to the batch size read from the input's shape.
        try:
            value = graph.value(producer[0].inputs[0])
        except NotConstant:
            return False
    if np.any(np.asarray(value) != 0):
        raise ModelImportError(f"{graph.where}: input {role} of {node.label} is a nonzero "
                               f"constant; give initial states at run time instead")
    return True


def _check_attribute_types(graph, node):
    for key, value in node.attributes.items():
        if isinstance(value, Unsupported):
            raise ModelImportError(f"{graph.where}: {node.label}: attribute {key!r} has an "
                                   f"unsupported kind")
        if key in _LSTM_ATTRIBUTES:
            _attribute(graph, node, key, _LSTM_ATTRIBUTES[key])


def _check_lstm_attributes(graph, node, layer):
    where = f"{graph.where}: {node.label} (layer {layer})"
    attributes = node.attributes
    for key, value in attributes.items():
        if isinstance(value, Unsupported):
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
        arrays[role] = as_parameter(role, value, where)
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


def load_onnx(path, prefix):
    """Import the LSTM stack of the ONNX file ``path`` (see :func:`rpu.frontend.load_model`)."""
    return _on_graph(path, _import)


def _on_graph(path, function):
    """``function(graph)`` on the graph of ``path``; every error it raises is a
    ModelImportError that names the file."""
    graph = _open_graph(path)
    try:
        return function(graph)
    except ProtoError as error:
        raise ModelImportError(f"{path}: corrupt ONNX file: {error}") from None
    except ModelImportError as error:
        if str(error).startswith(graph.where):
            raise
        raise ModelImportError(f"{graph.where}: {error}") from None


def _import(graph):
    where = graph.where
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
    check_layers(layers, names, where)
    return ImportedLSTM(layers=layers, batch_first=batch_first, source_format="onnx",
                        source=where, has_bias=all(with_bias),
                        metadata={"producer": graph.producer.strip(), "opsets": graph.opsets,
                                  "nodes": [node.name for node in chain],
                                  "batch_first_from": "the ONNX graph (LSTM layout and the "
                                                      "Transposes before it)"})
