"""Calibration: choose the fixed-point formats of an LSTM from calibration inputs.

The data width, weight width and cell-state width are fixed by the hardware; calibration
chooses where the binary point goes in each:

1. **Weights**: the most fractional bits such that no weight or combined bias
   (``bias_ih + bias_hh``) saturates. With per-row scales (``row_scales``), each row then
   gets the largest extra shift at which it does not saturate either
   (:func:`lstm_ref.fixed_lstm.choose_row_shifts`): the largest row sets the format, the
   smaller rows keep their precision.
2. **Data and cell state**: every pair (data fractional bits ``F_d``, cell fractional bits
   ``F_c <= F_d``) in a window below the widest format is tried on the calibration inputs with
   the bit-accurate model (:mod:`lstm_ref.fixed_lstm`), counting saturations of the inputs (x
   beyond the data range), the pre-activations, the cell updates and the hidden updates. The
   pair with the fewest saturations wins, ties going to the smaller error against the float64
   LSTM (the largest fractional bits, so the finest resolution, usually).

The result reports the chosen formats, the saturation counts by kind and the error against
float, for the chosen formats and for every candidate tried.
"""

from dataclasses import dataclass, field, replace

import numpy as np

from lstm_ref.fixedpoint import FixedFormat
from lstm_ref.fixed_lstm import FixedLSTM, quantize_lstm, choose_row_shifts
from lstm_ref.float_lstm import lstm_forward
from lstm_ref.activation import DEFAULT_SEGMENTS


__all__ = ["CalibrationResult", "calibrate", "evaluate_formats"]


#: How many data fractional bits below the widest format calibration tries.
DATA_WINDOW = 8


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
    candidates : list of dict
        Every format tried, with its saturations and error.
    row_shifts : tuple of numpy.ndarray or None
        With row scales, the per-row shifts of each layer (pass them to
        :func:`rpu.compiler.codegen.compile_stacked`); None without.
    """
    data_frac_bits: int
    weight_frac_bits: int
    cell_frac_bits: int
    saturations: dict
    max_abs_error_h: float
    candidates: list = field(default_factory=list, compare=False)
    row_shifts: tuple = field(default=None, compare=False)

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


def _float_reference(layers, sequences):
    references = []
    for sequence in sequences:
        inputs = sequence
        for params in layers:
            inputs = lstm_forward(inputs, **params).h
        references.append(inputs)
    return references


def evaluate_formats(layers, x, *, data_format, weight_format, cell_format,
                     activation_segments=DEFAULT_SEGMENTS, references=None, row_shifts=None):
    """Saturations by kind and the largest h error of a stack with these formats.

    Parameters
    ----------
    layers : list of dict
        ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh`` per layer (floats).
    x : array or list of arrays
        Input sequences, (T, I) each.
    row_shifts : sequence of (4H,) int arrays, optional
        Per-row scales of each layer (default none).

    Returns
    -------
    (dict, float)
    """
    sequences = _sequences(x)
    if references is None:
        references = _float_reference(layers, sequences)
    model = FixedLSTM(data_format=data_format, weight_format=weight_format,
                      activation_segments=activation_segments, cell_format=cell_format)
    matrices = [quantize_lstm(p["weight_ih"], p["weight_hh"], p.get("bias_ih"),
                              p.get("bias_hh"), weight_format,
                              row_shifts=None if row_shifts is None else row_shifts[index])
                for index, p in enumerate(layers)]
    saturations = {"input": 0, "preactivation": 0, "cell": 0, "hidden": 0}
    error = 0.0
    for sequence, reference in zip(sequences, references):
        saturations["input"] += int(np.sum((sequence > data_format.max_value)
                                           | (sequence < data_format.min_value)))
        outputs = model.run_stacked(matrices, data_format.quantize(sequence),
                                    row_shifts=row_shifts)
        for output in outputs:
            for kind, count in output.saturations_by_kind.items():
                saturations[kind] += count
        error = max(error, float(np.abs(data_format.to_float(outputs[-1].h)
                                        - reference).max()))
    return saturations, error


def calibrate(layers, x, *, data_width=16, weight_width=16,
              activation_segments=DEFAULT_SEGMENTS, row_scales=False):
    """Choose fractional bits for data, weights and cell state (and, with ``row_scales``,
    the per-row scales of the weights).

    Parameters
    ----------
    layers : list of dict
        Float parameters per layer (``torch.nn.LSTM`` conventions).
    x : array or list of arrays
        Calibration input sequences, (T, I) each.
    data_width, weight_width : int
        Widths fixed by the hardware (the cell state uses ``data_width``).
    row_scales : bool
        The RPU has per-row scales (:attr:`rpu.config.RPUConfig.row_scales`): choose each
        row's shift too.

    Returns
    -------
    CalibrationResult
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
    row_shifts = None
    if row_scales:
        row_shifts = tuple(choose_row_shifts(p["weight_ih"], p["weight_hh"], p.get("bias_ih"),
                                             p.get("bias_hh"), weight_format)
                           for p in layers)

    references = _float_reference(layers, sequences)
    candidates = []
    # 1.0 must be representable: at most data_width - 2 fractional bits.
    widest = data_width - 2
    for data_frac_bits in range(widest, max(0, widest - DATA_WINDOW) - 1, -1):
        for cell_frac_bits in range(data_frac_bits, max(-1, data_frac_bits - DATA_WINDOW), -1):
            data_format = FixedFormat(data_width, data_frac_bits)
            cell_format = FixedFormat(data_width, cell_frac_bits)
            saturations, error = evaluate_formats(
                layers, sequences, data_format=data_format, weight_format=weight_format,
                cell_format=cell_format, activation_segments=activation_segments,
                references=references, row_shifts=row_shifts)
            candidates.append({"data_frac_bits": data_frac_bits,
                               "cell_frac_bits": cell_frac_bits,
                               "saturations": saturations,
                               "max_abs_error_h": error})
    best = min(candidates, key=lambda c: (sum(c["saturations"].values()),
                                           c["max_abs_error_h"],
                                           -c["data_frac_bits"], -c["cell_frac_bits"]))
    return CalibrationResult(best["data_frac_bits"], weight_frac_bits, best["cell_frac_bits"],
                             best["saturations"], best["max_abs_error_h"], candidates,
                             row_shifts)
