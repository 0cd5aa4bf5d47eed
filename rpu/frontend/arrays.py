"""Arrays from the user's files: LSTM weights (.npz) and input sequences (.npy).

Every function checks what it reads and raises :class:`InputError`, whose message names the
command-line option, for anything it cannot use.
"""

import zipfile
import zlib
from pathlib import Path

import numpy as np

from lstm_ref.float_lstm import check_lstm_params


__all__ = ["InputError", "WEIGHT_NAMES", "load_weights", "load_inputs_array", "load_inputs"]

#: The arrays of a weight file (torch.nn.LSTM's names; the biases are optional).
WEIGHT_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
#: What numpy raises on a file that is not a valid .npy/.npz (empty, truncated, corrupt zip).
_UNREADABLE = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)


class InputError(ValueError):
    """Bad input from the user: reported as ``error: ...`` with exit code 2."""


def load_weights(path):
    """Read and check an LSTM weight file; returns a dict of float64 arrays."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"--weights: no such file: {str(path)!r}")
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded as archive:
                arrays = {name: archive[name] for name in archive.files}
    except _UNREADABLE as error:
        raise InputError(f"--weights: {str(path)!r} is not a readable .npz file ({error})")
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise InputError(f"--weights: {str(path)!r} holds a single array, not an .npz "
                         f"archive of {', '.join(WEIGHT_NAMES)}")
    unknown = sorted(set(arrays) - set(WEIGHT_NAMES))
    if unknown:
        raise InputError(f"--weights: unknown array(s) {', '.join(unknown)} in {str(path)!r}; "
                         f"expected {', '.join(WEIGHT_NAMES)}")
    missing = [name for name in ("weight_ih", "weight_hh") if name not in arrays]
    if missing:
        raise InputError(f"--weights: missing array(s) {', '.join(missing)} in {str(path)!r}")
    weights = {}
    for name in WEIGHT_NAMES:
        if name in arrays:
            array = arrays[name]
            if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
                raise InputError(f"--weights: {name} must be a real numeric array, not "
                                 f"{array.dtype}")
            weights[name] = array.astype(np.float64)
        else:
            weights[name] = None
    try:
        check_lstm_params(**weights)
    except (ValueError, TypeError) as error:
        raise InputError(f"--weights: {error}")
    return weights


def load_inputs_array(path, option):
    """A real, finite numeric array from a .npy file (any shape)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{option}: no such file: {str(path)!r}")
    try:
        x = np.load(path, allow_pickle=False)
    except _UNREADABLE as error:
        raise InputError(f"{option}: {str(path)!r} is not a readable .npy file ({error})")
    if isinstance(x, np.lib.npyio.NpzFile):
        x.close()
        raise InputError(f"{option}: {str(path)!r} is an .npz archive, not a .npy array")
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.number) \
            or np.iscomplexobj(x):
        raise InputError(f"{option}: must be a real numeric array")
    if not np.all(np.isfinite(x)):
        raise InputError(f"{option}: contains NaN or infinite values")
    return x.astype(np.float64)


def load_inputs(path, input_size):
    """The --inputs of ``simulate``: shape (T, input_size), 1 <= T <= MAX_STEPS."""
    x = load_inputs_array(path, "--inputs")
    if x.ndim != 2 or x.shape[1] != input_size or x.shape[0] < 1:
        raise InputError(f"--inputs: must have shape (T, {input_size}) with T >= 1 for an "
                         f"LSTM with input size {input_size}, not {x.shape}")
    if x.shape[0] > 65535:
        raise InputError(f"--inputs: at most 65535 time steps, not {x.shape[0]}")
    return x
