"""Arrays from the user's files: LSTM weights (.npz) and input sequences (.npy).

Every function checks what it reads and raises :class:`InputError`, whose message names the
command-line option, for anything it cannot use. Files are read header first
(:mod:`rpu.frontend.npyfile`): an array's dtype and declared size are checked before its
data is read, so a file cannot make the reader allocate more than
:data:`~rpu.frontend.limits.MAX_PARAMETER_ELEMENTS` (a weight) or
:data:`~rpu.frontend.limits.MAX_INPUT_ELEMENTS` (inputs) elements of its stored dtype, plus
their float64 copy.
"""

from pathlib import Path

import numpy as np

from lstm_ref.float_lstm import check_lstm_params
from rpu.frontend.limits import MAX_INPUT_ELEMENTS, MAX_PARAMETER_ELEMENTS, MAX_SIZE, \
    MAX_STEPS
from rpu.frontend.npyfile import NpyError, NpzReader, is_zip, read_data, read_header


__all__ = ["InputError", "WEIGHT_NAMES", "load_weights", "load_inputs_array", "load_inputs"]

#: The arrays of a weight file (torch.nn.LSTM's names; the biases are optional).
WEIGHT_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
#: The real numeric dtype kinds accepted (not bool, complex, datetime64 or timedelta64).
_REAL_KINDS = "iuf"


class InputError(ValueError):
    """Bad input from the user: reported as ``error: ...`` with exit code 2."""


def load_weights(path):
    """Read and check an LSTM weight file; returns a dict of float64 arrays."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"--weights: no such file: {str(path)!r}")
    try:
        with open(path, "rb") as stream:
            if not is_zip(stream):
                raise InputError(f"--weights: {str(path)!r} holds a single array, not an .npz "
                                 f"archive of {', '.join(WEIGHT_NAMES)}"
                                 if stream.read(6) == b"\x93NUMPY" else
                                 f"--weights: {str(path)!r} is not a readable .npz file (not "
                                 f"a zip archive)")
            with NpzReader(stream) as archive:
                return _read_weights(archive, path)
    except NpyError as error:
        raise InputError(f"--weights: {str(path)!r} is not a readable .npz file ({error})") \
            from None
    except OSError as error:
        raise InputError(f"--weights: {str(path)!r} cannot be read ({error})") from None


def _read_weights(archive, path):
    unknown = sorted(set(archive.files) - set(WEIGHT_NAMES))
    if unknown:
        raise InputError(f"--weights: unknown array(s) {', '.join(unknown)} in {str(path)!r}; "
                         f"expected {', '.join(WEIGHT_NAMES)}")
    missing = [name for name in ("weight_ih", "weight_hh") if name not in archive.files]
    if missing:
        raise InputError(f"--weights: missing array(s) {', '.join(missing)} in {str(path)!r}")
    weights = {}
    for name in WEIGHT_NAMES:
        if name not in archive.files:
            weights[name] = None
            continue
        header = archive.header(name)
        if header.dtype.kind not in _REAL_KINDS:
            raise InputError(f"--weights: {name} must be a real numeric array, not "
                             f"{header.dtype}")
        _check_weight_shape(name, header.shape)
        weights[name] = archive.read(name, MAX_PARAMETER_ELEMENTS * header.dtype.itemsize) \
            .astype(np.float64)
    try:
        check_lstm_params(**weights)
    except (ValueError, TypeError) as error:
        raise InputError(f"--weights: {error}")
    return weights


def _check_weight_shape(name, shape):
    """A weight file's ``shape`` (from its header) has the rank of parameter ``name`` and
    sizes within the largest LSTM's (:data:`~rpu.frontend.limits.MAX_SIZE`)."""
    rank = 2 if name.startswith("weight") else 1
    limits = (4 * MAX_SIZE, MAX_SIZE)[:rank]
    if len(shape) != rank or any(size > limit for size, limit in zip(shape, limits)):
        expected = "(4*hidden_size, size)" if rank == 2 else "(4*hidden_size,)"
        raise InputError(f"--weights: {name} has shape {shape}; it must be {expected} with "
                         f"sizes of at most {MAX_SIZE}")


def load_inputs_array(path, option):
    """A real, finite numeric array from a .npy file (any shape, at most
    :data:`~rpu.frontend.limits.MAX_INPUT_ELEMENTS` elements)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{option}: no such file: {str(path)!r}")
    try:
        with open(path, "rb") as stream:
            if is_zip(stream):
                raise InputError(f"{option}: {str(path)!r} is an .npz archive, not a .npy "
                                 f"array")
            header = read_header(stream)
            if header.dtype.kind not in _REAL_KINDS:
                raise InputError(f"{option}: must be a real numeric array, not "
                                 f"{header.dtype}")
            if header.size > MAX_INPUT_ELEMENTS:
                raise InputError(f"{option}: shape {header.shape} has more than "
                                 f"{MAX_INPUT_ELEMENTS} elements")
            available = path.stat().st_size - stream.tell()
            x = read_data(stream, header, MAX_INPUT_ELEMENTS * header.dtype.itemsize,
                          available)
    except NpyError as error:
        raise InputError(f"{option}: {str(path)!r} is not a readable .npy file ({error})") \
            from None
    except OSError as error:
        raise InputError(f"{option}: {str(path)!r} cannot be read ({error})") from None
    if not np.all(np.isfinite(x)):
        raise InputError(f"{option}: contains NaN or infinite values")
    return x.astype(np.float64)


def load_inputs(path, input_size):
    """The --inputs of ``simulate``: shape (T, input_size), 1 <= T <= :data:`MAX_STEPS`."""
    x = load_inputs_array(path, "--inputs")
    if x.ndim != 2 or x.shape[1] != input_size or x.shape[0] < 1:
        raise InputError(f"--inputs: must have shape (T, {input_size}) with T >= 1 for an "
                         f"LSTM with input size {input_size}, not {x.shape}")
    if x.shape[0] > MAX_STEPS:
        raise InputError(f"--inputs: at most {MAX_STEPS} time steps, not {x.shape[0]}")
    return x
