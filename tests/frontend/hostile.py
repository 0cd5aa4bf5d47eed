"""Hostile model files for the tests of :mod:`rpu.frontend` (issue 10): tiny files that
describe huge data, deep nesting, fields of the wrong type. Built here, not committed."""

import io
import struct
import zlib

import numpy as np

from tests.frontend.writers import model_pb, node_pb, stack_arrays, tensor_pb

__all__ = ["zip_archive", "npy_header", "zeros_member", "plain_member", "npz_members",
           "concat_doubling_onnx"]

_MIB = 1 << 20


def npy_header(shape, descr="<f8"):
    """The bytes of a version 1.0 ``.npy`` header declaring ``shape``."""
    stream = io.BytesIO()
    np.lib.format.write_array_header_1_0(stream, {"descr": descr, "fortran_order": False,
                                                  "shape": tuple(shape)})
    return stream.getvalue()


def _deflate(data):
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH)


def zeros_member(header, zero_mebibytes):
    """A deflated zip member: ``header`` then ``zero_mebibytes`` MiB of zeros, built without
    holding the zeros (one compressed MiB, repeated). Returns ``(compressed, crc, size)``."""
    chunk = bytes(_MIB)
    piece = _deflate(chunk)
    crc = zlib.crc32(header)
    for _ in range(zero_mebibytes):
        crc = zlib.crc32(chunk, crc)
    final = zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    compressed = _deflate(header) + piece * zero_mebibytes + final
    return compressed, crc, len(header) + zero_mebibytes * _MIB


def plain_member(data):
    """A deflated zip member of ``data``: ``(compressed, crc, size)``."""
    return _deflate(data) + zlib.compressobj(9, zlib.DEFLATED, -15).flush(), zlib.crc32(data), \
        len(data)


def zip_archive(members):
    """A zip archive (no zip64) of ``{name: (compressed, crc, size)}`` deflated members."""
    local, central = bytearray(), bytearray()
    for name, (compressed, crc, size) in members.items():
        encoded = name.encode()
        offset = len(local)
        local += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc,
                             len(compressed), size, len(encoded), 0) + encoded + compressed
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc,
                               len(compressed), size, len(encoded), 0, 0, 0, 0, 0,
                               offset) + encoded
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central),
                      len(local), 0)
    return bytes(local + central + end)


def npz_members(arrays):
    """The zip members of an ``.npz`` of ``arrays`` (small, real data), for
    :func:`zip_archive`."""
    members = {}
    for name, array in arrays.items():
        array = np.ascontiguousarray(array)
        members[f"{name}.npy"] = plain_member(npy_header(array.shape, array.dtype.str)
                                              + array.tobytes())
    return members


def concat_doubling_onnx(doublings=40):
    """An ONNX LSTM whose ``W`` is a 1-element tensor doubled by ``doublings`` Concat nodes
    (2**40 elements: 4 TiB of float32), in about 3.4 KB."""
    arrays = stack_arrays((2,), input_size=2)
    nodes, previous = [], "c0"
    for k in range(doublings):
        nodes.append(node_pb("Concat", [previous, previous], [f"c{k + 1}"], axis=0))
        previous = f"c{k + 1}"
    nodes.append(node_pb("LSTM", ["x", previous, "R", "B"], ["y"], name="lstm",
                         hidden_size=2))
    initializers = [tensor_pb("c0", np.zeros(1, np.float32)),
                    tensor_pb("R", arrays["weight_hh_l0"][None].astype(np.float32)),
                    tensor_pb("B", np.zeros((1, 16), np.float32))]
    return model_pb(nodes, initializers)

