"""Import an LSTM from numpy's ``.npz`` archive (a state dict; see :mod:`rpu.frontend.state_dict`).

The archive is read header first (:mod:`rpu.frontend.npyfile`): the ``.npy`` header of every
member is read, the LSTM's keys and their declared shapes are checked (structure, sizes
within :mod:`rpu.frontend.limits`), and only then are the LSTM's parameters decompressed,
each into an array of exactly its declared size; other members are never decompressed.
``allow_pickle=False``: arrays of Python objects are refused.

Memory bound: :data:`~rpu.frontend.limits.COPIES` float64 copies of the parameters of the
model the file describes (at most those of the largest LSTM the RPU accepts), plus
:data:`~rpu.frontend.limits.OVERHEAD_BYTES` (the zip directory and ``.npy`` headers).

A 0-d ``batch_first`` entry records the layout of batched inputs.
"""

from __future__ import annotations

from rpu.frontend.imported import ImportedLSTM, ModelImportError, parse_bool
from rpu.frontend.limits import MAX_PARAMETER_ELEMENTS
from rpu.frontend.npyfile import NpyError, NpzReader, is_zip
from rpu.frontend.state_dict import layers_from_tensors


__all__ = ["load_npz"]

#: Most bytes of one parameter array (the largest legal shape, float64).
_MAX_PARAMETER_BYTES = MAX_PARAMETER_ELEMENTS * 8


def load_npz(path, prefix):
    """Import the LSTM of the ``.npz`` file ``path`` (see :func:`rpu.frontend.load_model`)."""
    where = str(path)
    try:
        with open(path, "rb") as stream:
            if stream.read(6) == b"\x93NUMPY":
                raise ModelImportError(f"{where}: holds a single array, not an .npz archive "
                                       f"of LSTM parameters")
            stream.seek(0)
            if not is_zip(stream):
                raise NpyError("not a zip archive")
            with NpzReader(stream) as archive:
                return _import(archive, where, prefix)
    except NpyError as error:
        raise ModelImportError(f"{where}: not a readable .npz file ({error})") from None
    except OSError as error:
        raise ModelImportError(f"{where}: cannot be read ({error})") from None


def _import(archive, where, prefix):
    def shape_of(key):
        try:
            header = archive.header(key)
        except NpyError as error:
            raise ModelImportError(f"{where}: array {key!r}: {error}") from None
        if header.dtype.kind not in "biuf":
            raise ModelImportError(f"{where}: {key} must hold real numbers, got dtype "
                                   f"{header.dtype}")
        return header.shape

    def fetch(key):
        try:
            return archive.read(key, _MAX_PARAMETER_BYTES)
        except NpyError as error:
            raise ModelImportError(f"{where}: array {key!r}: {error}") from None

    batch_first = False
    recorded = "batch_first" in archive.files
    if recorded:
        header = archive.header("batch_first")
        if header.shape != () or header.dtype.kind not in "biu":
            raise ModelImportError(f"{where}: batch_first must be a 0-d boolean array, got "
                                   f"dtype {header.dtype} shape {header.shape}")
        batch_first = parse_bool(fetch("batch_first").item(), f"{where}: batch_first")
    layers, has_bias, prefix = layers_from_tensors(archive.files, fetch, prefix, where,
                                                   shape_of=shape_of)
    return ImportedLSTM(layers=layers, batch_first=batch_first, source_format="npz",
                        source=where, has_bias=has_bias, metadata={
                            "prefix": prefix,
                            "batch_first_from": "the .npz entry 'batch_first'"
                            if recorded else None})
