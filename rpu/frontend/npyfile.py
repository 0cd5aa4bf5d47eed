"""numpy's ``.npy`` and ``.npz`` files, read header first.

``numpy.load`` allocates (and, for ``.npz``, decompresses) an array as soon as it is asked
for it, whatever size its header declares: a 2 MB ``.npz`` can hold 2 GiB of compressed
zeros, and a header may declare 32 TiB. Here the header (:func:`numpy.lib.format.read_magic`,
``read_array_header_1_0``/``2_0``) is read first and checked by the caller
(:class:`NpyHeader`); the data is read only when asked for, into an array of exactly the
declared size, and never more bytes than that are decompressed.

Errors are :class:`NpyError` (a ValueError), which the importers turn into their own.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np

from rpu.frontend.limits import MAX_NDIM


__all__ = ["NpyError", "NpyHeader", "read_header", "read_data", "NpzReader", "is_zip"]

#: Bytes read at a time (a zip member is decompressed in steps of this size).
_CHUNK = 1 << 20
#: What zipfile and zlib raise on a corrupt archive.
_ZIP_ERRORS = (OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError,
               RuntimeError, ValueError, KeyError, OverflowError)


class NpyError(ValueError):
    """A ``.npy``/``.npz`` file that cannot be read; the message says why."""


@dataclass(frozen=True)
class NpyHeader:
    """An array's header: ``shape``, ``dtype``, ``fortran_order``."""
    shape: tuple
    dtype: np.dtype
    fortran_order: bool

    @property
    def size(self):
        """Number of elements."""
        return math.prod(self.shape)

    @property
    def nbytes(self):
        """Bytes of data."""
        return self.size * self.dtype.itemsize


def is_zip(stream):
    """True if ``stream`` (at its start) begins like a zip archive; rewinds it."""
    head = stream.read(4)
    stream.seek(0)
    return head.startswith(b"PK")


def read_header(stream):
    """Read the magic string and header of a ``.npy`` stream; return a :class:`NpyHeader`."""
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise NpyError(f"unsupported .npy format version {version[0]}.{version[1]}")
    except NpyError:
        raise
    except Exception as error:  # numpy parses the header with tokenize and ast: anything
        raise NpyError(f"not a valid .npy header ({_short(error)})") from None
    if len(shape) > MAX_NDIM:
        raise NpyError(f"{len(shape)} dimensions (at most {MAX_NDIM})")
    if dtype.hasobject:
        raise NpyError("holds Python objects, which are not loaded (allow_pickle=False)")
    return NpyHeader(tuple(int(d) for d in shape), dtype, bool(fortran))


def read_data(stream, header, max_bytes, available):
    """Read ``header.nbytes`` bytes of data from ``stream`` into a new array, if that is at
    most ``max_bytes`` and at most the ``available`` bytes that the file holds (checked
    before the array is allocated)."""
    if header.nbytes > max_bytes:
        raise NpyError(f"declares {header.dtype} of shape {header.shape}: {header.nbytes} "
                       f"bytes, more than the {max_bytes} allowed")
    if header.nbytes > available:
        raise NpyError(f"truncated: declares {header.dtype} of shape {header.shape}, "
                       f"{header.nbytes} bytes, but only {available} follow the header")
    array = np.empty(header.size, dtype=header.dtype)
    view = memoryview(array.view(np.uint8).reshape(-1))
    position, total = 0, header.nbytes
    try:
        while position < total:
            chunk = stream.read(min(_CHUNK, total - position))
            if not chunk:
                raise NpyError(f"truncated: {position} of {total} bytes of data")
            view[position:position + len(chunk)] = chunk
            position += len(chunk)
    except NpyError:
        raise
    except _ZIP_ERRORS as error:
        raise NpyError(f"corrupt data ({_short(error)})") from None
    try:  # an empty array may declare dimensions numpy cannot represent
        if header.fortran_order:
            return array.reshape(header.shape[::-1]).T
        return array.reshape(header.shape)
    except ValueError as error:
        raise NpyError(f"shape {header.shape}: {error}") from None


class NpzReader:
    """An ``.npz`` archive whose members' headers are read first, their data on demand.

    Parameters
    ----------
    stream : binary file
        Open on the archive (the caller closes it).
    """

    def __init__(self, stream):
        try:
            self._zip = zipfile.ZipFile(stream)
            infos = self._zip.infolist()
        except _ZIP_ERRORS as error:
            raise NpyError(f"not a readable .npz file ({_short(error)})") from None
        self._members = {}
        for info in infos:
            name = info.filename
            key = name[:-4] if name.endswith(".npy") else name
            if key in self._members:
                raise NpyError(f"duplicate member {_short(key)!r}")
            self._members[key] = info
        self._headers = {}

    @property
    def files(self):
        """Names of the arrays (members without their ``.npy``)."""
        return list(self._members)

    def header(self, key):
        """The :class:`NpyHeader` of array ``key`` (reads only the member's header)."""
        if key not in self._headers:
            with self._open(key) as member:
                self._headers[key] = read_header(member)
        return self._headers[key]

    def read(self, key, max_bytes):
        """The array ``key``: its header, then exactly the data it declares (at most
        ``max_bytes``)."""
        with self._open(key) as member:
            header = read_header(member)
            available = self._members[key].file_size - member.tell()
            return read_data(member, header, max_bytes, available)

    def _open(self, key):
        try:
            return self._zip.open(self._members[key])
        except _ZIP_ERRORS as error:
            raise NpyError(f"member {_short(key)!r} cannot be read ({_short(error)})") from None

    def close(self):
        self._zip.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def _short(error, limit=200):
    """An exception's message, cut to ``limit`` characters."""
    text = str(error) or type(error).__name__
    return text if len(text) <= limit else text[:limit] + "..."
