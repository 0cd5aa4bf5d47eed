"""ONNX tensors and attributes: TensorProto and AttributeProto to numpy and Python values.

A tensor's size is worked out from its ``dims`` and checked against the bytes the file
holds for it before anything is allocated: ``raw_data`` must have exactly that many bytes,
the typed fields exactly that many values, and external data is read from a regular file
inside the model's folder, ``length`` bytes from ``offset``, only if the file holds them.
"""

from __future__ import annotations

import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lstm_ref.checks import is_integer
from rpu.frontend.imported import ModelImportError
from rpu.frontend.limits import MAX_NDIM
from rpu.frontend.protobuf import bytes_field, fixed, messages, string, varints


__all__ = ["ONNX_TYPES", "ONNX_TYPE_NAMES", "onnx_tensor", "attribute", "LazyTensor",
           "Unsupported", "get_attribute"]

#: ONNX TensorProto.DataType: (name, numpy dtype of raw_data, typed field holding values).
ONNX_TYPES = {
    1: ("FLOAT", "<f4", 4), 2: ("UINT8", "u1", 5), 3: ("INT8", "i1", 5),
    4: ("UINT16", "<u2", 5), 5: ("INT16", "<i2", 5), 6: ("INT32", "<i4", 5),
    7: ("INT64", "<i8", 7), 9: ("BOOL", "?", 5), 10: ("FLOAT16", "<f2", 5),
    11: ("DOUBLE", "<f8", 10), 12: ("UINT32", "<u4", 11), 13: ("UINT64", "<u8", 11),
    16: ("BFLOAT16", "<u2", 5),
}
#: Types this reader knows by name but does not decode.
ONNX_TYPE_NAMES = {8: "STRING", 14: "COMPLEX64", 15: "COMPLEX128", 17: "FLOAT8E4M3FN",
                   18: "FLOAT8E4M3FNUZ", 19: "FLOAT8E5M2", 20: "FLOAT8E5M2FNUZ",
                   21: "UINT4", 22: "INT4", 23: "FLOAT4E2M1"}


def onnx_tensor(fields, what, context):
    """Decode a TensorProto to a numpy array.

    ``context`` has ``model_dir`` (the folder external data is read from) and
    ``stored_bytes`` (increased by the external data read).
    """
    name = string(fields, 8, what)
    what = f"tensor {name!r}" if name else what
    dims = varints(fields, 1, what)
    if any(d < 0 for d in dims):
        raise ModelImportError(f"{what}: negative dimension in {dims}")
    if len(dims) > MAX_NDIM:
        raise ModelImportError(f"{what}: {len(dims)} dimensions; at most {MAX_NDIM} are read")
    types = varints(fields, 2, what)
    data_type = types[-1] if types else 0
    if data_type not in ONNX_TYPES:
        type_name = ONNX_TYPE_NAMES.get(data_type, f"data type {data_type}")
        raise ModelImportError(f"{what}: unsupported ONNX tensor type {type_name}")
    type_name, raw_dtype, typed_field = ONNX_TYPES[data_type]
    if 3 in fields:
        raise ModelImportError(f"{what}: segmented tensors are not supported")
    count = math.prod(dims)
    expected = count * np.dtype(raw_dtype).itemsize
    raw = bytes_field(fields, 9, what)
    location = varints(fields, 14, what)
    if location and location[-1] == 1:
        raw = [_external_data(fields, what, context, expected)]
    if raw:
        if len(raw[-1]) != expected:
            raise ModelImportError(f"{what}: raw_data has {len(raw[-1])} bytes, but {type_name} "
                                   f"of shape {tuple(dims)} needs {expected}")
        array = np.frombuffer(raw[-1], dtype=raw_dtype)
    else:
        array = _typed_values(fields, what, data_type, count, dims)
    if data_type == 16:
        array = (array.astype(np.uint32) << 16).view(np.float32)
    try:  # an empty tensor may declare dimensions numpy cannot represent
        return array.reshape(dims)
    except ValueError as error:
        raise ModelImportError(f"{what}: shape {tuple(dims)}: {error}") from None


def _typed_values(fields, what, data_type, count, dims):
    """A tensor's values from its typed field (``float_data``, ``int32_data``, ...)."""
    _, raw_dtype, typed_field = ONNX_TYPES[data_type]
    if typed_field == 4:
        values = fixed(fields, 4, what, "<f4")
    elif typed_field == 10:
        values = fixed(fields, 10, what, "<f8")
    else:
        values = np.array(varints(fields, typed_field, what, signed=typed_field != 11),
                          dtype=np.int64 if typed_field != 11 else np.uint64)
    if len(values) != count:
        raise ModelImportError(f"{what}: holds {len(values)} value(s), but shape "
                               f"{tuple(dims)} needs {count}")
    if data_type in (10, 16):  # 16-bit floats travel as their bit patterns
        return values.astype(np.uint16).view(raw_dtype)
    return values.astype(raw_dtype)


def _external_data(fields, what, context, expected):
    """The ``expected`` bytes of a tensor stored outside the model file."""
    entries = {}
    for entry in messages(fields, 13, what):
        entries[string(entry, 1, what)] = string(entry, 2, what)
    location = entries.get("location")
    if not location:
        raise ModelImportError(f"{what}: external data without a location")
    model_dir = getattr(context, "model_dir", None)
    if model_dir is None:
        raise ModelImportError(f"{what}: external data needs the model's directory")
    try:
        base = Path(model_dir).resolve()
        target = (base / location).resolve()
        outside = Path(location).is_absolute() or base not in target.parents
        offset = int(entries.get("offset", 0))
        length = int(entries["length"]) if "length" in entries else expected
    except (ValueError, OSError, RuntimeError) as error:
        raise ModelImportError(f"{what}: invalid external data entry {location!r} "
                               f"({error})") from None
    if outside:
        raise ModelImportError(f"{what}: external data location {location!r} is outside the "
                               f"model's directory")
    if offset < 0 or length != expected:
        raise ModelImportError(f"{what}: external data {location!r} has offset {offset} and "
                               f"length {length}; the tensor needs {expected} bytes")
    data = _read_regular_file(target, offset, length, what, location)
    context.stored_bytes += len(data)
    return data


def _read_regular_file(target, offset, length, what, location):
    """``length`` bytes at ``offset`` of ``target``, which must be a regular file (a FIFO
    or a device would block or never end) holding them."""
    def refuse(reason):
        return ModelImportError(f"{what}: cannot read external data {location!r} ({reason})")

    try:
        descriptor = os.open(target, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        raise refuse(error.strerror or error) from None
    with os.fdopen(descriptor, "rb") as stream:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise refuse("not a regular file")
        if offset + length > info.st_size:
            raise refuse(f"truncated: {length} bytes at offset {offset} run past its "
                         f"{info.st_size} bytes")
        stream.seek(offset)
        data = stream.read(length)
    if len(data) != length:
        raise refuse("truncated")
    return data


def attribute(fields, what, context):
    """Decode an AttributeProto to ``(name, value)``."""
    name = string(fields, 1, what)
    what = f"{what} attribute {name!r}"
    kinds = varints(fields, 20, what)
    kind = kinds[-1] if kinds else None
    # Without a type field (old files), infer it from the field present.
    if kind is None:
        for number, inferred in ((2, 1), (3, 2), (4, 3), (5, 4), (7, 6), (8, 7), (9, 8)):
            if number in fields:
                kind = inferred
                break
    if kind == 1:
        values = fixed(fields, 2, what, "<f4")
        return name, float(values[-1]) if len(values) else 0.0
    if kind == 2:
        values = varints(fields, 3, what)
        return name, values[-1] if values else 0
    if kind == 3:
        values = bytes_field(fields, 4, what)
        return name, bytes(values[-1]).decode("utf-8", "replace") if values else ""
    if kind == 4:
        tensors = messages(fields, 5, what)
        if not tensors:
            raise ModelImportError(f"{what}: tensor attribute without a tensor")
        return name, LazyTensor(tensors[-1], what, context)
    if kind == 6:
        return name, [float(v) for v in fixed(fields, 7, what, "<f4")]
    if kind == 7:
        return name, varints(fields, 8, what)
    if kind == 8:
        return name, [bytes(v).decode("utf-8", "replace") for v in bytes_field(fields, 9, what)]
    return name, Unsupported(kind)


@dataclass(frozen=True, eq=False)
class LazyTensor:
    """A tensor attribute, decoded only if used (a graph may hold tensors of types that
    this reader does not decode, e.g. strings, away from the LSTM)."""
    fields: dict
    what: str
    context: object

    def decode(self):
        return onnx_tensor(self.fields, self.what, self.context)


@dataclass(frozen=True)
class Unsupported:
    """An attribute of a kind this reader does not decode (graphs, sparse tensors, ...)."""
    kind: int | None


#: The attribute kinds, and a check of a decoded value of that kind.
_KINDS = {
    "int": is_integer,
    "ints": lambda v: isinstance(v, list) and all(is_integer(x) for x in v),
    "float": lambda v: isinstance(v, float),
    "floats": lambda v: isinstance(v, list) and all(isinstance(x, float) for x in v),
    "string": lambda v: isinstance(v, str),
    "strings": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    "tensor": lambda v: isinstance(v, LazyTensor),
}


def get_attribute(node, key, kind, default=None):
    """Attribute ``key`` of ``node`` (``default`` if absent), which must be of ``kind``
    (``"int"``, ``"ints"``, ``"float"``, ...); else a ValueError naming it."""
    if key not in node.attributes:
        return default
    value = node.attributes[key]
    if not _KINDS[kind](value):
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:80] + "..."
        raise ValueError(f"attribute {key!r} must be of type {kind}, got {shown}")
    return value
