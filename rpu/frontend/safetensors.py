"""Import an LSTM from a ``.safetensors`` file (a state dict; see :mod:`rpu.frontend.state_dict`).

``.safetensors``
    Parsed here: an 8-byte little-endian header length, a JSON header giving each tensor's
    ``dtype``, ``shape`` and ``data_offsets`` in the data buffer that follows, and an
    optional ``__metadata__`` string map. Floating-point dtypes F64, F32, F16 and BF16 (and
    integer ones) are read; the header is checked (truncation, offsets out of range or
    overlapping, sizes not matching shapes, unknown dtypes, duplicate keys).

The JSON header is checked before it is parsed: at most
:data:`~rpu.frontend.limits.MAX_HEADER_BYTES` bytes, nested at most
:data:`~rpu.frontend.limits.MAX_JSON_DEPTH` deep (a scan of its brackets outside strings,
so the parser never recurses on the file's nesting), and every tensor at most
:data:`~rpu.frontend.limits.MAX_NDIM`-dimensional.

Memory bound: the header (at most ``MAX_HEADER_BYTES``, parsed with a few times its size),
plus :data:`~rpu.frontend.limits.COPIES` float64 copies of the parameters of the model the
file describes: their declared shapes are checked (structure, sizes within
:mod:`rpu.frontend.limits`) before their data is read, and tensors that are not the LSTM's
are never read.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np

from lstm_ref.checks import is_integer
from rpu.frontend.imported import ImportedLSTM, ModelImportError, parse_bool
from rpu.frontend.limits import MAX_HEADER_BYTES, MAX_JSON_DEPTH, MAX_NDIM
from rpu.frontend.state_dict import layers_from_tensors


__all__ = ["read_safetensors", "load_safetensors"]

#: Bytes of a JSON header scanned at a time for its depth.
_SCAN_CHUNK = 1 << 20


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
    raw_header, size = _read_header_bytes(path)
    header = _decode_json(raw_header, where)
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise ModelImportError(f"{where}: safetensors __metadata__ must map strings to strings")
    buffer_size = size - 8 - len(raw_header)
    entries = {name: _check_entry(name, info, buffer_size, where)
               for name, info in header.items()}
    spans = sorted((begin, end, name) for name, (_, _, begin, end) in entries.items()
                   if end > begin)
    for (_, end_a, name_a), (begin_b, _, name_b) in zip(spans, spans[1:]):
        if begin_b < end_a:
            raise ModelImportError(f"{where}: corrupt safetensors file: the data of tensors "
                                   f"{name_a!r} and {name_b!r} overlap")
    return entries, metadata, 8 + len(raw_header)


def _read_header_bytes(path):
    """The JSON header's bytes (checked against the file's size) and the file's size."""
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
        if header_size > MAX_HEADER_BYTES:
            raise ModelImportError(f"{where}: corrupt safetensors file: header of "
                                   f"{header_size} bytes exceeds the format's 100 MB limit")
        raw_header = stream.read(header_size)
    if len(raw_header) != header_size:
        raise ModelImportError(f"{where}: truncated safetensors file (header)")
    return raw_header, size


def json_depth(raw, limit=None):
    """How deep the brackets of the JSON text ``raw`` (bytes) nest, outside its strings.

    Linear time, memory bounded by a chunk of :data:`_SCAN_CHUNK` bytes; it runs before
    the JSON parser, which would recurse that deep. With ``limit``, the scan stops (and
    returns the depth reached) as soon as the depth exceeds it.
    """
    state = _ScanState()
    deepest = 0
    for start in range(0, len(raw), _SCAN_CHUNK):
        chunk = np.frombuffer(raw, dtype=np.uint8, count=min(_SCAN_CHUNK, len(raw) - start),
                              offset=start)
        deepest = max(deepest, state.scan(chunk))
        if limit is not None and deepest > limit:
            break
    return deepest


class _ScanState:
    """What one chunk of a JSON text leaves to the next: inside a string or not, the
    backslashes it ends with, the bracket depth."""

    def __init__(self):
        self.inside, self.backslashes, self.depth = False, 0, 0

    def scan(self, chunk):
        """Scan ``chunk`` (uint8 array); return the deepest depth in it."""
        if not len(chunk):
            return 0
        quotes = chunk == ord('"')
        backslash = chunk == ord("\\")
        if self.backslashes or backslash.any():
            index = np.arange(len(chunk), dtype=np.int64)
            # the last position before each byte that is not a backslash
            last = np.maximum.accumulate(np.where(backslash, -1 - self.backslashes, index))
            before = np.concatenate(([-1 - self.backslashes], last[:-1]))
            quotes &= (index - 1 - before) % 2 == 0  # an odd run of backslashes escapes
            self.backslashes = int(len(chunk) - 1 - last[-1])
        inside = (np.cumsum(quotes) + self.inside) % 2 == 1
        opens = ((chunk == ord("[")) | (chunk == ord("{"))) & ~inside
        closes = ((chunk == ord("]")) | (chunk == ord("}"))) & ~inside
        depth = self.depth + np.cumsum(opens.astype(np.int64) - closes)
        self.inside = bool(inside[-1])
        self.depth = int(depth[-1])
        return int(depth.max())


def _decode_json(raw_header, where):
    depth = json_depth(raw_header, MAX_JSON_DEPTH)
    if depth > MAX_JSON_DEPTH:
        raise ModelImportError(f"{where}: corrupt safetensors header: JSON nested {depth} "
                               f"deep (a safetensors header is 3 deep; at most "
                               f"{MAX_JSON_DEPTH} is read)")
    try:
        header = json.loads(raw_header.decode("utf-8"), object_pairs_hook=_reject_duplicates)
    except ModelImportError as error:
        raise ModelImportError(f"{where}: corrupt safetensors header: {error}") from None
    except RecursionError:  # not reached: the depth is checked above
        raise ModelImportError(f"{where}: corrupt safetensors header: JSON nested too "
                               f"deep") from None
    except (UnicodeDecodeError, ValueError) as error:
        raise ModelImportError(f"{where}: corrupt safetensors header: not UTF-8 JSON "
                               f"({_short(str(error))})") from None
    if not isinstance(header, dict):
        raise ModelImportError(f"{where}: corrupt safetensors header: not a JSON object")
    return header


def _check_entry(name, info, buffer_size, where):
    """One tensor's header entry, checked: ``(dtype, shape, begin, end)``."""
    what = f"{where}: tensor {_short(name)!r}"
    if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
        raise ModelImportError(f"{what}: header entry must have exactly dtype, shape and "
                               f"data_offsets, got {_short(repr(info))}")
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if not isinstance(dtype, str) or (dtype not in _SAFETENSORS_DTYPES
                                      and dtype not in _SAFETENSORS_UNSUPPORTED):
        known = ", ".join(list(_SAFETENSORS_DTYPES) + list(_SAFETENSORS_UNSUPPORTED))
        raise ModelImportError(f"{what} has unknown dtype {_short(repr(dtype))} "
                               f"(known: {known})")
    if not isinstance(shape, list) or not all(is_integer(d) and d >= 0 for d in shape):
        raise ModelImportError(f"{what} has an invalid shape {_short(repr(shape))}")
    if len(shape) > MAX_NDIM:
        raise ModelImportError(f"{what} has {len(shape)} dimensions; at most {MAX_NDIM} "
                               f"are read")
    if (not isinstance(offsets, list) or len(offsets) != 2
            or not all(is_integer(o) and o >= 0 for o in offsets) or offsets[0] > offsets[1]):
        raise ModelImportError(f"{what} has invalid data_offsets {_short(repr(offsets))} "
                               f"(need [begin, end], 0 <= begin <= end)")
    begin, end = offsets
    if end > buffer_size:
        raise ModelImportError(
            f"{what}: data_offsets [{begin}, {end}] run past the end of the {buffer_size}-byte "
            f"data buffer (truncated file?)")
    itemsize = (_SAFETENSORS_DTYPES[dtype].itemsize if dtype in _SAFETENSORS_DTYPES
                else _SAFETENSORS_UNSUPPORTED[dtype])
    expected = math.prod(shape) * itemsize
    if end - begin != expected:
        raise ModelImportError(
            f"{what}: data_offsets [{begin}, {end}] span {end - begin} bytes, but {dtype} of "
            f"shape {tuple(shape)} needs {expected}")
    return dtype, tuple(shape), begin, end


def _short(text, limit=200):
    """``text``, cut to ``limit`` characters for a message."""
    return text if len(text) <= limit else text[:limit] + "..."


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
    return _decode(path, entries, data_start, names), metadata


def _decode(path, entries, data_start, names):
    """The tensors ``names`` of a file whose header is parsed (``entries``, ``data_start``)."""
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
            try:  # an empty tensor may declare dimensions numpy cannot represent
                array = np.frombuffer(raw, dtype=_SAFETENSORS_DTYPES[dtype]).reshape(shape)
            except ValueError as error:
                raise ModelImportError(f"{path}: tensor {name!r} of shape {shape}: "
                                       f"{error}") from None
            if dtype == "BF16":
                array = (array.astype(np.uint32) << 16).view(np.float32)
            tensors[name] = array
    return tensors


def load_safetensors(path, prefix):
    """Import the LSTM of the ``.safetensors`` file ``path``
    (see :func:`rpu.frontend.load_model`)."""
    where = str(path)
    entries, metadata, data_start = _parse_safetensors_header(path)

    def shape_of(name):
        dtype = entries[name][0]
        if dtype not in ("F64", "F32", "F16", "BF16"):
            raise ModelImportError(f"{where}: {name} has dtype {dtype}; LSTM parameters must "
                                   f"be floating point (F64, F32, F16 or BF16)")
        return entries[name][1]

    def fetch(name):
        return _decode(path, entries, data_start, [name])[name]

    batch_first = False
    if "batch_first" in metadata:
        batch_first = parse_bool(metadata["batch_first"],
                                 f"{where}: __metadata__['batch_first']")
    layers, has_bias, prefix = layers_from_tensors(entries, fetch, prefix, where,
                                                   shape_of=shape_of)
    return ImportedLSTM(layers=layers, batch_first=batch_first, source_format="safetensors",
                        source=where, has_bias=has_bias,
                        metadata={"prefix": prefix, "safetensors": dict(metadata),
                                  "batch_first_from": "the safetensors __metadata__"
                                  if "batch_first" in metadata else None})

