"""Writers of model files for the tests of :mod:`rpu.frontend`, independent of its readers:
a protobuf writer for hand-made ONNX models, a safetensors writer, random state dicts."""

import json
import struct

import numpy as np

from tests.helpers import random_stack


def write(path, data):
    """Write ``data`` (bytes) to ``path``; return ``path``."""
    path.write_bytes(data)
    return path


def pb_varint(value):
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def pb(*fields):
    """A message from ``(number, value)`` pairs: int -> varint, float -> fixed32,
    str/bytes -> length-delimited, list -> repeated."""
    out = bytearray()
    for number, values in fields:
        for value in values if isinstance(values, list) else [values]:
            if isinstance(value, (bool, int, np.integer)):
                out += pb_varint(number << 3) + pb_varint(int(value))
            elif isinstance(value, float):
                out += pb_varint(number << 3 | 5) + struct.pack("<f", value)
            else:
                value = value.encode() if isinstance(value, str) else bytes(value)
                out += pb_varint(number << 3 | 2) + pb_varint(len(value)) + value
    return bytes(out)


ONNX_FLOAT, ONNX_INT64, ONNX_STRING, ONNX_FLOAT16, ONNX_DOUBLE, ONNX_BFLOAT16 = 1, 7, 8, 10, 11, 16


def tensor_pb(name, array, storage="raw", data_type=None):
    array = np.asarray(array)
    if data_type is None:
        data_type = {np.float32: ONNX_FLOAT, np.float64: ONNX_DOUBLE, np.float16: ONNX_FLOAT16,
                     np.int64: ONNX_INT64}[array.dtype.type]
    fields = [(1, list(array.shape)), (2, data_type), (8, name)]
    flat = array.reshape(-1)
    if storage == "raw":
        if data_type == ONNX_BFLOAT16:
            data = (flat.astype(np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()
        else:
            data = flat.astype(array.dtype.newbyteorder("<")).tobytes()
        fields.append((9, data))
    elif storage == "float_data":
        fields.append((4, flat.astype("<f4").tobytes()))  # packed repeated float
    elif storage == "float_data_unpacked":
        fields.append((4, [float(v) for v in flat]))
    elif storage == "double_data":
        fields.append((10, flat.astype("<f8").tobytes()))
    elif storage == "int32_data":  # float16 bit patterns, packed varints
        fields.append((5, b"".join(pb_varint(int(v)) for v in flat.view(np.uint16))))
    elif storage == "int64_data":
        fields.append((7, [int(v) for v in flat]))
    else:
        raise ValueError(storage)
    return pb(*fields)


def attribute_pb(name, value):
    if isinstance(value, bool) or isinstance(value, int):
        return pb((1, name), (20, 2), (3, int(value)))
    if isinstance(value, float):
        return pb((1, name), (20, 1), (2, value))
    if isinstance(value, str):
        return pb((1, name), (20, 3), (4, value))
    if isinstance(value, np.ndarray):
        return pb((1, name), (20, 4), (5, tensor_pb("", value)))
    if all(isinstance(v, str) for v in value):
        return pb((1, name), (20, 8), (9, list(value)))
    if all(isinstance(v, float) for v in value):
        return pb((1, name), (20, 6), (7, np.asarray(value, "<f4").tobytes()))
    return pb((1, name), (20, 7), (8, [int(v) for v in value]))


def node_pb(op, inputs, outputs, name="", **attributes):
    return pb((1, list(inputs)), (2, list(outputs)), (3, name), (4, op),
              (5, [attribute_pb(k, v) for k, v in attributes.items()]))


def model_pb(nodes, initializers, inputs=("x",), outputs=("y",), opset=17):
    graph = pb((1, list(nodes)), (2, "test"), (5, list(initializers)),
               (11, [pb((1, name)) for name in inputs]),
               (12, [pb((1, name)) for name in outputs]))
    return pb((1, 8), (2, "test_model_import"), (7, graph), (8, pb((1, ""), (2, opset))))


def stack_arrays(hidden_sizes=(5, 4), input_size=3, prefix="", bias=True):
    """A state dict of a random stack (``weight_ih_l0``, ... behind ``prefix``)."""
    layers = random_stack(np.random.default_rng(0), input_size, hidden_sizes)
    arrays = {}
    for k, layer in enumerate(layers):
        for kind, array in layer.items():
            if bias or kind.startswith("weight"):
                arrays[f"{prefix}{kind}_l{k}"] = array
    return arrays


def write_safetensors(path, arrays, metadata=None):
    """Write ``arrays`` (F64, F32, F16, I32) as a safetensors file."""
    header, chunks, offset = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    names = {np.float64: "F64", np.float32: "F32", np.float16: "F16", np.int32: "I32"}
    for name, array in arrays.items():
        data = np.ascontiguousarray(array).tobytes()
        header[name] = {"dtype": names[array.dtype.type], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    return write_raw_safetensors(path, header, b"".join(chunks))


def write_raw_safetensors(path, header, data):
    """A safetensors file of ``header`` (a dict, or raw JSON bytes) and ``data``."""
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return write(path, struct.pack("<Q", len(text)) + text + data)


def lstm_onnx(w_input="W", nodes=(), initializers=(), hidden=2, inputs=2, attributes=None,
              x="x"):
    """One LSTM node reading ``w_input`` as W; ``nodes``/``initializers`` come first."""
    arrays = stack_arrays((hidden,), input_size=inputs)
    w = arrays["weight_ih_l0"][None].astype(np.float32)
    r = arrays["weight_hh_l0"][None].astype(np.float32)
    lstm = node_pb("LSTM", [x, w_input, "R", "B"], ["y"], name="lstm",
                   **{"hidden_size": hidden, **(attributes or {})})
    return model_pb(list(nodes) + [lstm],
                    [tensor_pb("W", w), tensor_pb("R", r),
                     tensor_pb("B", np.zeros((1, 8 * hidden), np.float32))]
                    + list(initializers))
