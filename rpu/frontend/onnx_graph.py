"""An ONNX model's main graph, and the constant folding of the subgraphs that compute weights.

:func:`torch.onnx.export` without constant folding writes an LSTM's ``W``, ``R`` and ``B``
as Slice/Concat/Unsqueeze/... of the torch parameters; :meth:`OnnxGraph.value` evaluates
such subgraphs (the ops of :data:`CONSTANT_OPS`) with numpy.

The evaluation is iterative (an explicit stack), so a chain of any length cannot exhaust
Python's recursion limit, and budgeted: the size of every folded value is worked out from
its inputs' shapes before it is computed, and all folded values together may take at most
:data:`~rpu.frontend.limits.FOLD_FACTOR` times the bytes of tensor data stored in the model
(the file and its external data) plus :data:`~rpu.frontend.limits.OVERHEAD_BYTES`; a
subgraph that would compute more (e.g. Concat nodes each doubling the previous) is refused,
naming the node.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rpu.frontend.imported import ModelImportError
from rpu.frontend.limits import FOLD_FACTOR, OVERHEAD_BYTES
from rpu.frontend.onnx_tensors import ONNX_TYPES, Unsupported, attribute, get_attribute, \
    onnx_tensor
from rpu.frontend.protobuf import ProtoError, bytes_field, messages, parse_message, string, \
    strings, varints


__all__ = ["Node", "NotConstant", "OnnxGraph", "CONSTANT_OPS"]

#: What evaluating an op on hostile inputs may raise (turned into a ModelImportError).
_EVALUATION_ERRORS = (ValueError, IndexError, TypeError, KeyError, ArithmeticError,
                      AttributeError, ProtoError)


@dataclass(eq=False)
class Node:
    """A NodeProto."""
    index: int
    op_type: str
    domain: str
    name: str
    inputs: list
    outputs: list
    attributes: dict

    @property
    def label(self):
        name = self.name if len(self.name) <= 80 else self.name[:80] + "..."
        return f"{self.op_type} node {name!r}" if name else \
            f"{self.op_type} node #{self.index}"


class NotConstant(Exception):
    """A value depends on a graph input (or on an op this evaluator does not run)."""

    def __init__(self, name, reason):
        super().__init__(name, reason)
        self.name, self.reason = name, reason


class OnnxGraph:
    """The main graph of an ONNX model, with constant folding of weight subgraphs.

    Parameters
    ----------
    data : bytes
        The model file.
    where : str
        The file's name, for messages.
    model_dir : pathlib.Path or None
        The folder external data is read from.
    """

    def __init__(self, data, where, model_dir):
        self.where = where
        self.model_dir = model_dir
        #: Bytes of tensor data stored in the model (the file, then external data read).
        self.stored_bytes = len(data)
        self._folded_bytes = 0
        try:
            model = parse_message(data)
            graphs = messages(model, 7, "ModelProto")
        except ProtoError as error:
            raise ModelImportError(f"{where}: not a valid ONNX file: {error}") from None
        if not graphs:
            raise ModelImportError(f"{where}: not an ONNX model (no graph in the ModelProto)")
        try:
            self._read(model, graphs[-1])
        except ProtoError as error:
            raise ModelImportError(f"{where}: corrupt ONNX graph: {error}") from None
        self._cache = {}
        self._node_outputs = {}

    def _read(self, model, graph):
        self.producer = f"{string(model, 2, 'ModelProto')} {string(model, 3, 'ModelProto')}"
        self.opsets = {}
        for opset in messages(model, 8, "opset_import"):
            versions = varints(opset, 2, "opset_import")
            domain = string(opset, 1, "opset_import")
            self.opsets["" if domain == "ai.onnx" else domain] = versions[-1] if versions else 0
        self.initializers = {}
        for tensor in bytes_field(graph, 5, "GraphProto"):
            fields = parse_message(tensor)
            self.initializers[string(fields, 8, "initializer")] = fields
        self.sparse_initializers = set()
        for sparse in messages(graph, 15, "GraphProto"):
            for values in messages(sparse, 1, "sparse_initializer"):
                self.sparse_initializers.add(string(values, 8, "sparse_initializer"))
        self.inputs = [string(info, 1, "graph input")
                       for info in messages(graph, 11, "GraphProto")]
        self.nodes = []
        self.producers = {}
        for index, fields in enumerate(messages(graph, 1, "GraphProto")):
            what = f"node #{index}"
            attributes = dict(attribute(attr, what, self) for attr in messages(fields, 5, what))
            node = Node(index=index, op_type=string(fields, 4, what),
                        domain=string(fields, 7, what), name=string(fields, 3, what),
                        inputs=strings(fields, 1, what), outputs=strings(fields, 2, what),
                        attributes=attributes)
            self.nodes.append(node)
            for position, output in enumerate(node.outputs):
                if output:
                    self.producers[output] = (node, position)

    # -- constant evaluation --------------------------------------------------------------

    def value(self, name):
        """The constant value of tensor ``name``; raises NotConstant if it has none."""
        try:
            return self._value(name)
        except ProtoError as error:
            raise ModelImportError(f"{self.where}: corrupt ONNX tensor while evaluating "
                                   f"{name!r}: {error}") from None

    def _value(self, name):
        # Depth-first with an explicit stack: (name, expanded). A node is "open" from its
        # expansion until its outputs are known; meeting an open node again is a cycle.
        open_nodes = set()
        stack = [(name, False)]
        while stack:
            current, expanded = stack.pop()
            if current in self._cache:
                continue
            if not self._is_computed(current):
                self._cache[current] = self._leaf(current)
                continue
            node, position = self.producers[current]
            if expanded:
                self._cache[current] = self._evaluate(node, position)
                open_nodes.discard(node.index)
                continue
            if node.index in open_nodes:
                raise ModelImportError(f"{self.where}: the graph has a cycle through "
                                       f"{node.label}")
            self._check_constant_op(node)
            open_nodes.add(node.index)
            stack.append((current, True))
            stack.extend((input_name, False) for input_name in reversed(node.inputs)
                         if input_name and input_name not in self._cache)
        return self._cache[name]

    def _is_computed(self, name):
        return name not in self.initializers and name not in self.sparse_initializers \
            and name in self.producers

    def _leaf(self, name):
        if name in self.initializers:
            return onnx_tensor(self.initializers[name], f"initializer {name!r}", self)
        if name in self.sparse_initializers:
            raise ModelImportError(f"{self.where}: tensor {name!r} is a sparse initializer, "
                                   f"which is not supported")
        if name in self.inputs:
            raise NotConstant(name, f"it is the graph input {name!r}")
        raise ModelImportError(f"{self.where}: tensor {name!r} is used but neither an "
                               f"initializer, a graph input nor a node output")

    def _check_constant_op(self, node):
        if node.domain not in ("", "ai.onnx") or node.op_type not in CONSTANT_OPS:
            raise NotConstant(node.outputs[0] if node.outputs else "",
                              f"it is computed by a {node.label}")

    def _evaluate(self, node, position):
        """Output ``position`` of ``node``, whose inputs are in the cache."""
        if node.index in self._node_outputs:
            return self._node_outputs[node.index][position]
        inputs = [None if not name else self._cache[name] for name in node.inputs]
        try:
            needed = _output_bytes(node, inputs)
            budget = FOLD_FACTOR * self.stored_bytes + OVERHEAD_BYTES
            if self._folded_bytes + needed > budget:
                raise ModelImportError(
                    f"{self.where}: {node.label} would compute {needed} bytes of constants, "
                    f"beyond the {budget} bytes the model's {self.stored_bytes} stored bytes "
                    f"allow (at most {FOLD_FACTOR}x plus {OVERHEAD_BYTES})")
            outputs = CONSTANT_OPS[node.op_type](node, inputs)
        except ModelImportError:
            raise
        except _EVALUATION_ERRORS as error:
            raise ModelImportError(f"{self.where}: cannot evaluate {node.label}: "
                                   f"{error}") from None
        outputs = [np.asarray(output) for output in outputs]
        self._folded_bytes += sum(output.nbytes for output in outputs if output.flags.owndata)
        if position >= len(outputs):
            raise ModelImportError(f"{self.where}: {node.label} computes "
                                   f"{len(outputs)} output(s), not {position + 1}")
        self._node_outputs[node.index] = outputs
        return outputs[position]


# ---------------------------------------------------------------------------------------
# The ops, and the size of their outputs worked out before they run
# ---------------------------------------------------------------------------------------

def _present(inputs):
    return [np.asarray(value) for value in inputs if value is not None]


def _output_bytes(node, inputs):
    """An upper bound of the bytes ``node`` computes from ``inputs`` (before it runs)."""
    arrays = _present(inputs)
    if node.op_type == "Concat":
        if not arrays:
            return 0
        return sum(a.size for a in arrays) * max(a.dtype.itemsize for a in arrays)
    if node.op_type == "Gather" and len(arrays) == 2:
        data, indices = arrays
        axis = get_attribute(node, "axis", "int", 0)
        if data.ndim == 0 or not -data.ndim <= axis < data.ndim:
            return 0  # numpy refuses it
        length = data.shape[axis]
        row = data.size // length if length else 0
        return indices.size * row * data.dtype.itemsize
    if node.op_type == "Cast" and arrays:
        return arrays[0].size * 8
    if node.op_type == "Dropout" and arrays:
        return arrays[0].size * (arrays[0].dtype.itemsize + 1)
    if node.op_type == "Reshape" and arrays:
        return arrays[0].nbytes  # a copy if the data is not contiguous
    return 0  # the other ops return views of their input (Constant: the stored tensor)


def _axes(node, inputs, position):
    """Axes of Squeeze/Unsqueeze/Slice...: an attribute before opset 13, an input after."""
    if len(inputs) > position and inputs[position] is not None:
        return [int(a) for a in np.asarray(inputs[position]).reshape(-1)]
    return get_attribute(node, "axes", "ints")


def _op_unsqueeze(node, inputs):
    data = inputs[0]
    axes = _axes(node, inputs, 1)
    if axes is None:
        raise ValueError("Unsqueeze without axes")
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
    if not get_attribute(node, "allowzero", "int", 0):
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
        starts = get_attribute(node, "starts", "ints")
        ends = get_attribute(node, "ends", "ints")
        if starts is None or ends is None:
            raise ValueError("Slice without starts and ends")
        axes = get_attribute(node, "axes", "ints", list(range(len(starts))))
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
    return [np.concatenate(inputs, axis=get_attribute(node, "axis", "int"))]


def _op_transpose(node, inputs):
    return [np.transpose(inputs[0], get_attribute(node, "perm", "ints"))]


def _op_gather(node, inputs):
    return [np.take(inputs[0], np.asarray(inputs[1], dtype=np.int64),
                    axis=get_attribute(node, "axis", "int", 0))]


def _op_split(node, inputs):
    data, axis = inputs[0], get_attribute(node, "axis", "int", 0)
    if len(inputs) > 1 and inputs[1] is not None:
        sizes = [int(s) for s in np.asarray(inputs[1]).reshape(-1)]
    elif "split" in node.attributes:
        sizes = get_attribute(node, "split", "ints")
    else:
        parts = get_attribute(node, "num_outputs", "int", len(node.outputs))
        if parts < 1:
            raise ValueError(f"Split into {parts} outputs")
        chunk = -(-data.shape[axis] // parts)
        sizes = [min(chunk, data.shape[axis] - k * chunk) for k in range(parts)]
    if any(size < 0 for size in sizes) or sum(sizes) != data.shape[axis]:
        raise ValueError(f"split sizes {sizes} do not add up to the {data.shape[axis]} "
                         f"entries of axis {axis}")
    return np.split(data, np.cumsum(sizes)[:-1], axis=axis)


def _op_cast(node, inputs):
    to = get_attribute(node, "to", "int")
    if to not in ONNX_TYPES:
        raise ValueError(f"cast to unsupported type {to}")
    if to == 16:
        return [inputs[0].astype(np.float32)]
    return [inputs[0].astype(ONNX_TYPES[to][1])]


def _op_constant(node, inputs):
    attributes = node.attributes
    for key, kind in (("value", "tensor"), ("value_float", "float"),
                      ("value_floats", "floats"), ("value_int", "int"), ("value_ints", "ints")):
        if key in attributes:
            if isinstance(attributes[key], Unsupported):
                break
            value = get_attribute(node, key, kind)
            if kind in ("float", "floats"):
                return [np.asarray(value, dtype=np.float32)]
            if kind in ("int", "ints"):
                return [np.asarray(value, dtype=np.int64)]
            return [value.decode()]
    raise ValueError(f"Constant with attribute(s) {sorted(attributes)} is not supported")


def _op_dropout(node, inputs):
    return [inputs[0], np.ones(inputs[0].shape, dtype=bool)]


#: The ops :meth:`OnnxGraph.value` evaluates: ``op(node, inputs) -> outputs``.
CONSTANT_OPS = {
    "Constant": _op_constant,
    "Identity": lambda node, inputs: [inputs[0]],
    "Dropout": _op_dropout,
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
