"""A minimal reader of protobuf's wire format, enough to decode ONNX models.

:func:`parse_message` decodes one message into ``{field_number: [(wire_type, value)]}``
(varints are ints; fixed32/fixed64 and length-delimited values are memoryviews of the
input, so nothing is copied); the helpers read typed fields from such a dict, checking
their wire types. Nested messages are decoded only when asked for, one level at a time, so
nothing recurses on the input's nesting. Every problem is a :class:`ProtoError`.
"""

from __future__ import annotations

import numpy as np


__all__ = ["ProtoError", "read_varint", "parse_message", "bytes_field", "strings", "string",
           "varints", "fixed", "messages"]


class ProtoError(Exception):
    """Malformed protobuf data (turned into a ModelImportError by the caller)."""


def read_varint(data, pos, end):
    result = shift = 0
    while True:
        if pos >= end:
            raise ProtoError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ProtoError("varint longer than 10 bytes")


def parse_message(data):
    """Decode one protobuf message: ``{field_number: [(wire_type, value), ...]}``.

    Varints are ints, fixed32/fixed64 and length-delimited values are memoryviews.
    """
    data = memoryview(data)
    fields = {}
    pos, end = 0, len(data)
    while pos < end:
        key, pos = read_varint(data, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtoError("field number 0")
        if wire == 0:
            value, pos = read_varint(data, pos, end)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if pos + size > end:
                raise ProtoError(f"truncated fixed{size * 8} field {number}")
            value, pos = data[pos:pos + size], pos + size
        elif wire == 2:
            length, pos = read_varint(data, pos, end)
            if pos + length > end:
                raise ProtoError(f"field {number}: length {length} runs past the end of its "
                                  f"message (truncated file?)")
            value, pos = data[pos:pos + length], pos + length
        else:
            raise ProtoError(f"field {number}: unsupported wire type {wire}")
        fields.setdefault(number, []).append((wire, value))
    return fields


def bytes_field(fields, number, what):
    values = []
    for wire, value in fields.get(number, ()):
        if wire != 2:
            raise ProtoError(f"{what}: field {number} should be length-delimited")
        values.append(value)
    return values


def strings(fields, number, what):
    try:
        return [bytes(v).decode("utf-8") for v in bytes_field(fields, number, what)]
    except UnicodeDecodeError:
        raise ProtoError(f"{what}: field {number} is not UTF-8") from None


def string(fields, number, what, default=""):
    values = strings(fields, number, what)
    return values[-1] if values else default


def to_signed64(value):
    return value - (1 << 64) if value >= 1 << 63 else value


def varints(fields, number, what, signed=True):
    """A repeated integer field, packed or not."""
    result = []
    for wire, value in fields.get(number, ()):
        if wire == 0:
            result.append(value)
        elif wire == 2:
            pos, end = 0, len(value)
            while pos < end:
                item, pos = read_varint(value, pos, end)
                result.append(item)
        else:
            raise ProtoError(f"{what}: field {number} should be a varint")
    return [to_signed64(v) for v in result] if signed else result


def fixed(fields, number, what, dtype):
    """A repeated fixed32/fixed64 field (float/double), packed or not, as a numpy array."""
    dtype = np.dtype(dtype)
    chunks = []
    for wire, value in fields.get(number, ()):
        if wire not in (1, 2, 5) or (wire != 2 and len(value) != dtype.itemsize):
            raise ProtoError(f"{what}: field {number} has the wrong wire type")
        if wire == 2 and len(value) % dtype.itemsize:
            raise ProtoError(f"{what}: packed field {number} is not a whole number of "
                              f"{dtype.itemsize}-byte values")
        chunks.append(bytes(value))
    return np.frombuffer(b"".join(chunks), dtype=dtype)


def messages(fields, number, what):
    return [parse_message(value) for value in bytes_field(fields, number, what)]

