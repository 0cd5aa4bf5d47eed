"""Calibration: choose the fixed-point formats of an LSTM, and quantize its weights, from
calibration inputs.

The data width, weight width and cell-state width are fixed by the hardware; calibration
chooses where the binary point goes in each, and the weight codes:

1. **Weight format**: the most fractional bits such that no weight or combined bias
   (``bias_ih + bias_hh``) saturates.
2. **Weight codes** (:func:`quantize_weights`): each layer's matrix ``[bias | W_ih | W_hh]``
   is quantized with *error compensation* (the GPTQ / optimal-brain-quantization rule):
   the columns are rounded to the nearest code one after the other, and each column's
   rounding error is compensated in the columns not yet rounded, through the second moments
   ``E[v v^T]`` of the vector ``v = [1; x_t; h_{t-1}]`` the row multiplies (from the float64
   LSTM on the calibration inputs). A row so keeps its pre-activation ``w . v`` close to the
   float one on the calibration data, not each weight close to its own float value; this
   matters at 4 and 8 bits, where rounding each weight on its own loses a few percent of
   accuracy. The codes are deterministic (no random state).

   With per-row scales (``row_scales``), each row also gets a shift: the largest at which
   the row does not saturate (:func:`lstm_ref.fixed_lstm.choose_row_shifts`), or up to
   :data:`EXTRA_SHIFTS` more (finer steps, the row's largest parameters clipped), whichever
   gives the row the smallest expected squared pre-activation error ``e^T E[v v^T] e`` on
   the calibration inputs.

   The codes reach the compiler as float parameters on the code grid
   (:attr:`CalibrationResult.layers`): :func:`lstm_ref.fixed_lstm.quantize_lstm` of them
   gives back exactly these codes.
3. **Data and cell state**: every pair (data fractional bits ``F_d``, cell fractional bits
   ``F_c <= F_d``) in a window below the widest format is tried on the calibration inputs with
   the bit-accurate model (:mod:`lstm_ref.fixed_lstm`) and the calibrated weight codes,
   counting saturations of the inputs (x beyond the data range), the pre-activations, the
   cell updates and the hidden updates. The pair with the fewest saturations wins, ties going
   to the smaller mean squared error of h against the float64 LSTM (then to the finer
   formats). The mean, not the largest error: with narrow weights the largest error over the
   calibration inputs is one sample of the weights' rounding noise and picks formats at
   random.

The result reports the chosen formats, the saturation counts by kind and the errors against
float, for the chosen formats and for every candidate tried.
"""

from dataclasses import dataclass, field, replace

import numpy as np

from lstm_ref.fixedpoint import FixedFormat
from lstm_ref.fixed_lstm import (FixedLSTM, quantize_lstm, choose_row_shifts,
                                 parameter_matrix, MAX_ROW_SHIFT)
from lstm_ref.float_lstm import lstm_forward
from lstm_ref.activation import DEFAULT_SEGMENTS


__all__ = ["CalibrationResult", "calibrate", "evaluate_formats", "quantize_weights",
           "layer_moments", "compensated_codes"]


#: How many data fractional bits below the widest format calibration tries.
DATA_WINDOW = 8
#: Row shifts tried beyond the largest at which a row does not saturate.
EXTRA_SHIFTS = 2
#: Damping of the second moments in compensated rounding, as a fraction of their mean
#: diagonal (GPTQ's default): keeps the inverse finite when an input never varies.
DAMPING = 0.01
#: Columns rounded per block in compensated rounding (the rest is updated once per block).
BLOCK = 128


@dataclass(frozen=True)
class CalibrationResult:
    """Formats chosen by :func:`calibrate`, with what they cost on the calibration inputs.

    Attributes
    ----------
    data_frac_bits, weight_frac_bits, cell_frac_bits : int
    saturations : dict
        Saturation events by kind (``input``, ``preactivation``, ``cell``, ``hidden``) over
        the calibration inputs, with the chosen formats.
    max_abs_error_h : float
        Largest |h_fixed - h_float64| over the calibration inputs (last layer).
    mean_squared_error_h : float
        Mean of (h_fixed - h_float64)**2 over the calibration inputs (last layer).
    candidates : list of dict
        Every format tried, with its saturations and errors.
    row_shifts : tuple of numpy.ndarray or None
        With row scales, the per-row shifts of each layer (pass them to
        :func:`rpu.compiler.codegen.compile_stacked`); None without.
    layers : tuple of dict
        The calibrated weights: each layer's parameters on the code grid (``bias_ih`` holds
        the combined bias, ``bias_hh`` zeros). Compile these, not the float model:
        :func:`lstm_ref.fixed_lstm.quantize_lstm` of them, in the weight format and with
        ``row_shifts``, gives exactly the calibrated codes (:attr:`matrices`).
    matrices : tuple of numpy.ndarray
        The calibrated weight codes of each layer, ``(4H, 1 + I + H)``.
    """
    data_frac_bits: int
    weight_frac_bits: int
    cell_frac_bits: int
    saturations: dict
    max_abs_error_h: float
    mean_squared_error_h: float = None
    candidates: list = field(default_factory=list, compare=False)
    row_shifts: tuple = field(default=None, compare=False)
    layers: tuple = field(default=None, compare=False)
    matrices: tuple = field(default=None, compare=False)

    @property
    def total_saturations(self):
        return sum(self.saturations.values())

    def apply(self, config):
        """``config`` with the chosen formats (and row scales on, if they were chosen)."""
        scales = {} if self.row_shifts is None else {"row_scales": True}
        return replace(config, data_frac_bits=self.data_frac_bits,
                       weight_frac_bits=self.weight_frac_bits,
                       cell_frac_bits=self.cell_frac_bits, **scales)

    def to_dict(self):
        """The result as plain values; ``row_shifts`` (lists) only with row scales."""
        values = {"data_frac_bits": self.data_frac_bits,
                  "weight_frac_bits": self.weight_frac_bits,
                  "cell_frac_bits": self.cell_frac_bits,
                  "saturations": dict(self.saturations),
                  "max_abs_error_h": self.max_abs_error_h,
                  "mean_squared_error_h": self.mean_squared_error_h,
                  "candidates": list(self.candidates)}
        if self.row_shifts is not None:
            values["row_shifts"] = [[int(v) for v in shifts] for shifts in self.row_shifts]
        return values


def _sequences(x):
    """Calibration inputs as a list of (T, I) float arrays."""
    if isinstance(x, np.ndarray):
        x = [x] if x.ndim == 2 else list(x)
    sequences = [np.asarray(sequence, dtype=np.float64) for sequence in x]
    for index, sequence in enumerate(sequences):
        if sequence.ndim != 2 or sequence.shape[0] < 1:
            raise ValueError(f"calibration sequence {index} must have shape (T, I), not "
                             f"{sequence.shape}")
        if not np.all(np.isfinite(sequence)):
            raise ValueError(f"calibration sequence {index} contains NaN or infinite values")
    if not sequences:
        raise ValueError("calibration needs at least one input sequence")
    return sequences


def _float_runs(layers, sequences):
    """The float64 h of every layer for every sequence: ``runs[l][k]`` is layer l's (T, H_l)
    on sequence k."""
    runs = []
    inputs = sequences
    for params in layers:
        inputs = [lstm_forward(sequence, **params).h for sequence in inputs]
        runs.append(inputs)
    return runs


def _float_reference(layers, sequences):
    return _float_runs(layers, sequences)[-1]


def layer_moments(layers, x, *, runs=None):
    """The second moments ``E[v v^T]`` of each layer's column vector ``v = [1; x_t;
    h_{t-1}]`` (h_0 = 0) over every step of the input sequences, in the float64 LSTM.

    Parameters
    ----------
    layers : list of dict
        Float parameters per layer.
    x : array or list of arrays
        Input sequences, (T, I) each.
    runs : list, optional
        :func:`_float_runs` of ``layers`` and ``x``, if already computed.

    Returns
    -------
    list of numpy.ndarray
        One ``(1 + I + H, 1 + I + H)`` matrix per layer.
    """
    sequences = _sequences(x)
    if runs is None:
        runs = _float_runs(layers, sequences)
    moments = []
    inputs = sequences
    for outputs in runs:
        total, count = 0.0, 0
        for sequence, h in zip(inputs, outputs):
            previous = np.vstack([np.zeros((1, h.shape[1])), h[:-1]])
            v = np.hstack([np.ones((len(sequence), 1)), sequence, previous])
            total = total + v.T @ v
            count += len(v)
        moments.append(total / count)
        inputs = outputs
    return moments


def compensated_codes(matrix, moments, steps, weight_format, *, damping=DAMPING):
    """Codes of ``matrix`` with rounding errors compensated through ``moments`` (GPTQ).

    Column j is rounded to the nearest code (half up, saturated) after the earlier columns'
    errors have been spread onto it: with ``U`` the upper Cholesky factor of the inverse of
    the damped moments, the error ``e_j = (w_j - q_j) / U[j, j]`` of each row updates the
    row's later columns by ``-e_j * U[j, j+1:]``. This minimises, column by column, the
    row's expected squared output error ``(q - w)^T moments (q - w)`` (Frantar et al.,
    "GPTQ", 2023). Rows are independent of each other.

    Parameters
    ----------
    matrix : numpy.ndarray, (rows, columns)
        Float parameters.
    moments : numpy.ndarray, (columns, columns)
        Second moments of the column vector the rows multiply.
    steps : numpy.ndarray, (rows,)
        Each row's quantization step (a power of two: ``2**-(frac_bits + shift)``).
    weight_format : FixedFormat
        Gives the code range.

    Returns
    -------
    numpy.ndarray of int64, (rows, columns)
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    columns = matrix.shape[1]
    hessian = np.asarray(moments, dtype=np.float64)
    hessian = hessian + damping * max(float(np.mean(np.diag(hessian))), 1e-12) \
        * np.eye(columns)
    upper = np.linalg.cholesky(np.linalg.inv(hessian)).T
    work = matrix.copy()
    codes = np.zeros(matrix.shape, np.int64)
    steps = np.asarray(steps, dtype=np.float64)
    for start in range(0, columns, BLOCK):
        end = min(start + BLOCK, columns)
        errors = np.zeros((matrix.shape[0], end - start))
        for j in range(start, end):
            code = np.clip(np.floor(work[:, j] / steps + 0.5), weight_format.min_code,
                           weight_format.max_code)
            codes[:, j] = code.astype(np.int64)
            error = (work[:, j] - code * steps) / upper[j, j]
            work[:, j + 1:end] -= np.outer(error, upper[j, j + 1:end])
            errors[:, j - start] = error
        work[:, end:] -= errors @ upper[start:end, end:]
    return codes


def _output_errors(matrix, codes, steps, moments):
    """Each row's expected squared pre-activation error ``e^T moments e``."""
    error = codes * steps[:, None] - matrix
    return np.einsum("ri,ij,rj->r", error, moments, error)


def _grid_layer(codes, steps, input_size):
    """Float parameters on the code grid: ``quantize_lstm`` of them gives ``codes``."""
    values = codes * steps[:, None]          # exact: the steps are powers of two
    return {"weight_ih": values[:, 1:1 + input_size], "weight_hh": values[:, 1 + input_size:],
            "bias_ih": values[:, 0].copy(), "bias_hh": np.zeros(len(values))}


def quantize_weights(layers, x, weight_format, *, row_scales=False, runs=None):
    """The weight codes of each layer, rounded with error compensation on the calibration
    inputs (see the module's docstring, step 2).

    Parameters
    ----------
    layers : list of dict
        Float parameters per layer.
    x : array or list of arrays
        Calibration input sequences, (T, I) each.
    weight_format : FixedFormat
    row_scales : bool
        Choose a shift per row too.
    runs : list, optional
        :func:`_float_runs` of ``layers`` and ``x``, if already computed.

    Returns
    -------
    (tuple of numpy.ndarray, tuple of numpy.ndarray or None, tuple of dict)
        The codes, the row shifts (None without row scales) and the parameters on the code
        grid, per layer.
    """
    moments = layer_moments(layers, x, runs=runs)
    all_codes, all_shifts, grid = [], [], []
    for params, moment in zip(layers, moments):
        matrix = parameter_matrix(params["weight_ih"], params["weight_hh"],
                                  params.get("bias_ih"), params.get("bias_hh"))
        input_size = np.asarray(params["weight_ih"]).shape[1]
        if not row_scales:
            steps = np.full(len(matrix), weight_format.resolution)
            codes = compensated_codes(matrix, moment, steps, weight_format)
            shifts = None
        else:
            largest = choose_row_shifts(params["weight_ih"], params["weight_hh"],
                                        params.get("bias_ih"), params.get("bias_hh"),
                                        weight_format)
            best = None
            for extra in range(EXTRA_SHIFTS + 1):
                trial = np.minimum(largest + extra, MAX_ROW_SHIFT)
                trial_steps = np.exp2(-(weight_format.frac_bits + trial).astype(np.float64))
                trial_codes = compensated_codes(matrix, moment, trial_steps, weight_format)
                errors = _output_errors(matrix, trial_codes, trial_steps, moment)
                if best is None:
                    codes, shifts, steps, best = trial_codes, trial, trial_steps, errors
                    continue
                better = errors < best       # ties keep the smaller shift
                codes = np.where(better[:, None], trial_codes, codes)
                shifts = np.where(better, trial, shifts)
                steps = np.where(better, trial_steps, steps)
                best = np.where(better, errors, best)
        all_codes.append(codes)
        all_shifts.append(shifts)
        grid.append(_grid_layer(codes, steps, input_size))
    return (tuple(all_codes), None if not row_scales else tuple(all_shifts), tuple(grid))


def evaluate_formats(layers, x, *, data_format, weight_format, cell_format,
                     activation_segments=DEFAULT_SEGMENTS, references=None, row_shifts=None,
                     matrices=None, mean_squared=False):
    """Saturations by kind and the largest h error of a stack with these formats.

    Parameters
    ----------
    layers : list of dict
        ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh`` per layer (floats).
    x : array or list of arrays
        Input sequences, (T, I) each.
    references : list of numpy.ndarray, optional
        The float64 h of the last layer for each sequence (default: from ``layers``).
    row_shifts : sequence of (4H,) int arrays, optional
        Per-row scales of each layer (default none).
    matrices : sequence of numpy.ndarray, optional
        The weight codes of each layer (default: ``layers`` rounded to the nearest code,
        :func:`lstm_ref.fixed_lstm.quantize_lstm`).
    mean_squared : bool
        Also return the mean squared h error.

    Returns
    -------
    (dict, float), or (dict, float, float) with ``mean_squared``
    """
    sequences = _sequences(x)
    if references is None:
        references = _float_reference(layers, sequences)
    model = FixedLSTM(data_format=data_format, weight_format=weight_format,
                      activation_segments=activation_segments, cell_format=cell_format)
    if matrices is None:
        matrices = [quantize_lstm(p["weight_ih"], p["weight_hh"], p.get("bias_ih"),
                                  p.get("bias_hh"), weight_format,
                                  row_shifts=None if row_shifts is None else row_shifts[index])
                    for index, p in enumerate(layers)]
    saturations = {"input": 0, "preactivation": 0, "cell": 0, "hidden": 0}
    error, squares, count = 0.0, 0.0, 0
    for sequence, reference in zip(sequences, references):
        saturations["input"] += int(np.sum((sequence > data_format.max_value)
                                           | (sequence < data_format.min_value)))
        outputs = model.run_stacked(matrices, data_format.quantize(sequence),
                                    row_shifts=row_shifts)
        for output in outputs:
            for kind, events in output.saturations_by_kind.items():
                saturations[kind] += events
        difference = data_format.to_float(outputs[-1].h) - reference
        error = max(error, float(np.abs(difference).max()))
        squares += float(np.sum(difference ** 2))
        count += difference.size
    if mean_squared:
        return saturations, error, squares / count
    return saturations, error


def calibrate(layers, x, *, data_width=16, weight_width=16,
              activation_segments=DEFAULT_SEGMENTS, row_scales=False):
    """Choose fractional bits for data, weights and cell state, and the weight codes (and,
    with ``row_scales``, the per-row scales of the weights).

    Parameters
    ----------
    layers : list of dict
        Float parameters per layer (``torch.nn.LSTM`` conventions).
    x : array or list of arrays
        Calibration input sequences, (T, I) each.
    data_width, weight_width : int
        Widths fixed by the hardware (the cell state uses ``data_width``).
    activation_segments : int
        Segments of the sigmoid/tanh tables of the RPU.
    row_scales : bool
        The RPU has per-row scales (:attr:`rpu.config.RPUConfig.row_scales`): choose each
        row's shift too.

    Returns
    -------
    CalibrationResult
        Compile its :attr:`~CalibrationResult.layers` (with its ``row_shifts``).
    """
    sequences = _sequences(x)
    # Weights: the largest magnitude (combined bias included) must fit.
    largest = 0.0
    for params in layers:
        bias = np.zeros(np.asarray(params["weight_ih"]).shape[0])
        for name in ("bias_ih", "bias_hh"):
            if params.get(name) is not None:
                bias = bias + np.asarray(params[name], dtype=np.float64)
        largest = max(largest, float(np.abs(params["weight_ih"]).max()),
                      float(np.abs(params["weight_hh"]).max()), float(np.abs(bias).max()))
    weight_frac_bits = weight_width - 1
    while weight_frac_bits > 0 and \
            largest > FixedFormat(weight_width, weight_frac_bits).max_value:
        weight_frac_bits -= 1
    weight_format = FixedFormat(weight_width, weight_frac_bits)
    runs = _float_runs(layers, sequences)
    references = runs[-1]
    matrices, row_shifts, grid = quantize_weights(layers, sequences, weight_format,
                                                  row_scales=row_scales, runs=runs)

    candidates = []
    # 1.0 must be representable: at most data_width - 2 fractional bits.
    widest = data_width - 2
    for data_frac_bits in range(widest, max(0, widest - DATA_WINDOW) - 1, -1):
        for cell_frac_bits in range(data_frac_bits, max(-1, data_frac_bits - DATA_WINDOW), -1):
            data_format = FixedFormat(data_width, data_frac_bits)
            cell_format = FixedFormat(data_width, cell_frac_bits)
            saturations, error, squared = evaluate_formats(
                layers, sequences, data_format=data_format, weight_format=weight_format,
                cell_format=cell_format, activation_segments=activation_segments,
                references=references, row_shifts=row_shifts, matrices=matrices,
                mean_squared=True)
            candidates.append({"data_frac_bits": data_frac_bits,
                               "cell_frac_bits": cell_frac_bits,
                               "saturations": saturations,
                               "max_abs_error_h": error,
                               "mean_squared_error_h": squared})
    best = min(candidates, key=lambda c: (sum(c["saturations"].values()),
                                           c["mean_squared_error_h"],
                                           -c["data_frac_bits"], -c["cell_frac_bits"]))
    return CalibrationResult(best["data_frac_bits"], weight_frac_bits, best["cell_frac_bits"],
                             best["saturations"], best["max_abs_error_h"],
                             best["mean_squared_error_h"], candidates, row_shifts, grid,
                             matrices)
