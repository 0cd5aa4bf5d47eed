"""Bit-accurate fixed-point LSTM: the specification the RPU's RTL is checked against.

The arithmetic, step by step (codes are integers; see :mod:`lstm_ref.fixedpoint`):

1. Parameters are quantized once (round half up, saturate) into the *weight format*:
   ``weight_ih``, ``weight_hh`` and the combined bias ``bias_ih + bias_hh`` (added in float64
   before quantizing). They form one matrix of 4H rows and ``1 + I + H`` columns,
   ``[bias | weight_ih | weight_hh]``.
2. Inputs x_t are quantized into the *data format*; h and c are data-format codes.
3. Gate pre-activations: ``z = narrow(M @ [1.0; x_t; h_{t-1}], weight_frac_bits)``: the dot
   product of each row with the column vector whose first entry is the data-format code of
   1.0, summed exactly (the hardware accumulator cannot overflow), then rounded half up by
   the weight's fractional bits and saturated into the data format.

   *Per-row scales* (optional): row ``r`` of ``M`` may carry ``row_shifts[r] >= 0`` more
   fractional bits than the weight format, i.e. its codes are ``round(w * 2**(weight_frac_bits
   + row_shifts[r]))`` saturated into the weight width, and its pre-activation is narrowed by
   ``weight_frac_bits + row_shifts[r]``. A row of small weights (one gate of one hidden unit)
   so keeps the precision that one format for the whole matrix would throw away; the scale is
   a power of two, applied where the accumulator is narrowed. :func:`choose_row_shifts` picks
   the largest shift per row that does not saturate it.
4. ``i, f, o = sigmoid(z_i, z_f, z_o)``, ``g = tanh(z_g)``, by
   :func:`lstm_ref.activation.activation_fixed`.
5. ``c_t = narrow(f*c_{t-1} * 2**s + i*g, 2*data_frac_bits - cell_frac_bits)`` into the
   *cell format* (data width, ``cell_frac_bits`` <= ``data_frac_bits`` fractional bits, so
   ``s = data_frac_bits - cell_frac_bits``): products and their sum exact, then one rounding
   and saturation. ``h_t = narrow(o * tanh(saturate(c_t * 2**s)), data_frac_bits)``: c is
   brought to the data format for tanh (saturating only where tanh is flat to the LSB).

Every saturation in steps 3 and 5 is counted.
"""

from typing import NamedTuple

import numpy as np

from .fixedpoint import FixedFormat, narrow, saturate
from .activation import activation_fixed, SIGMOID, TANH, DEFAULT_SEGMENTS
from .float_lstm import check_lstm_params


__all__ = ["quantize_lstm", "parameter_matrix", "choose_row_shifts", "check_row_shifts",
           "FixedLSTM", "FixedLSTMOutput", "MAX_ROW_SHIFT"]


#: Largest per-row shift: 15 more fractional bits than the weight format (a 4-bit field).
MAX_ROW_SHIFT = 15


def parameter_matrix(weight_ih, weight_hh, bias_ih, bias_hh):
    """The float64 ``(4H, 1 + I + H)`` matrix ``[bias_ih + bias_hh | W_ih | W_hh]``."""
    input_size, hidden_size = check_lstm_params(weight_ih, weight_hh, bias_ih, bias_hh)
    bias = np.zeros(4 * hidden_size)
    for term in (bias_ih, bias_hh):
        if term is not None:
            bias = bias + np.asarray(term, dtype=np.float64)
    return np.concatenate([bias[:, None], np.asarray(weight_ih, dtype=np.float64),
                           np.asarray(weight_hh, dtype=np.float64)], axis=1)


def check_row_shifts(row_shifts, rows):
    """``row_shifts`` as an int64 array of ``rows`` shifts from 0 to :data:`MAX_ROW_SHIFT`
    (None: all 0)."""
    if row_shifts is None:
        return np.zeros(rows, np.int64)
    shifts = np.asarray(row_shifts)
    if shifts.shape != (rows,) or shifts.dtype.kind not in "iu":
        raise ValueError(f"row_shifts must be {rows} integers, not an array of shape "
                         f"{shifts.shape} and type {shifts.dtype}")
    if np.any(shifts < 0) or np.any(shifts > MAX_ROW_SHIFT):
        raise ValueError(f"row_shifts must be from 0 to {MAX_ROW_SHIFT}")
    return shifts.astype(np.int64)


def quantize_lstm(weight_ih, weight_hh, bias_ih, bias_hh, weight_format, *, row_shifts=None):
    """Quantize LSTM parameters into the ``(4H, 1 + I + H)`` matrix ``[bias | W_ih | W_hh]``.

    Parameters
    ----------
    weight_ih, weight_hh, bias_ih, bias_hh : array_like
        ``torch.nn.LSTM`` parameters (gate order i, f, g, o); biases may be None (zero).
    weight_format : FixedFormat
    row_shifts : array_like of int, (4H,), optional
        Extra fractional bits of each row (the per-row scales; default none).

    Returns
    -------
    numpy.ndarray of int64
        Weight-format codes (row ``r`` with ``row_shifts[r]`` more fractional bits).
    """
    matrix = parameter_matrix(weight_ih, weight_hh, bias_ih, bias_hh)
    if row_shifts is None:
        return weight_format.quantize(matrix, name="LSTM parameters")
    shifts = check_row_shifts(row_shifts, matrix.shape[0])
    scaled = matrix * np.exp2(shifts.astype(np.float64))[:, None]
    return weight_format.quantize(scaled, name="LSTM parameters")


def choose_row_shifts(weight_ih, weight_hh, bias_ih, bias_hh, weight_format, *,
                      max_shift=MAX_ROW_SHIFT):
    """The per-row scales: for each row, the largest shift from 0 to ``max_shift`` at which
    no parameter of the row saturates in ``weight_format``. A row that saturates unshifted
    gets 0; an all-zero row gets ``max_shift`` (its codes are 0 whatever the shift)."""
    matrix = parameter_matrix(weight_ih, weight_hh, bias_ih, bias_hh)
    shifts = np.zeros(matrix.shape[0], np.int64)
    for shift in range(1, max_shift + 1):
        codes = np.floor(matrix * 2.0 ** (weight_format.frac_bits + shift) + 0.5)
        fits = np.all((codes >= weight_format.min_code) & (codes <= weight_format.max_code),
                      axis=1)
        shifts[fits & (shifts == shift - 1)] = shift
    return shifts


class FixedLSTMOutput(NamedTuple):
    h: np.ndarray           #: (T, H) data-format codes of every h_t
    c: np.ndarray           #: (T, H) cell-format codes of every c_t
    saturations: int        #: saturation events (pre-activations, cell and hidden updates)
    #: the same events by kind: {"preactivation", "cell", "hidden"}
    saturations_by_kind: dict = None


class FixedLSTM:
    """The fixed-point LSTM of the RPU.

    Parameters
    ----------
    data_format : FixedFormat
        Format of x, h, c and activations.
    weight_format : FixedFormat
        Format of weights and biases.
    activation_segments : int
        Segments of the sigmoid/tanh tables.
    cell_format : FixedFormat, optional
        Format of the cell state: the data width, at most the data's fractional bits
        (default: the data format).
    """

    def __init__(self, *, data_format, weight_format, activation_segments=DEFAULT_SEGMENTS,
                 cell_format=None):
        if not isinstance(data_format, FixedFormat):
            raise TypeError(f"data_format must be a FixedFormat, not {data_format!r}")
        if not isinstance(weight_format, FixedFormat):
            raise TypeError(f"weight_format must be a FixedFormat, not {weight_format!r}")
        cell_format = data_format if cell_format is None else cell_format
        if not isinstance(cell_format, FixedFormat) or cell_format.width != data_format.width \
                or cell_format.frac_bits > data_format.frac_bits:
            raise ValueError(f"cell_format must have the data width {data_format.width} and "
                             f"at most {data_format.frac_bits} fractional bits, not "
                             f"{cell_format!r}")
        self.data_format = data_format
        self.weight_format = weight_format
        self.cell_format = cell_format
        self.activation_segments = activation_segments

    def _activation(self, func, codes):
        return activation_fixed(func, codes, self.data_format, self.activation_segments)

    @staticmethod
    def prepare(matrix, x_codes, h0, c0):
        """``matrix`` and ``x_codes`` as int64 arrays of matching sizes, and the initial
        ``h`` and ``c`` (copies of ``h0``, ``c0``, or zeros)."""
        matrix = np.asarray(matrix, dtype=np.int64)
        hidden_size = matrix.shape[0] // 4
        input_size = matrix.shape[1] - 1 - hidden_size
        x_codes = np.asarray(x_codes, dtype=np.int64)
        if x_codes.ndim != 2 or x_codes.shape[1] != input_size:
            raise ValueError(f"x_codes must have shape (T, {input_size}), not {x_codes.shape}")
        h = np.zeros(hidden_size, np.int64) if h0 is None else np.asarray(h0, np.int64).copy()
        c = np.zeros(hidden_size, np.int64) if c0 is None else np.asarray(c0, np.int64).copy()
        return matrix, x_codes, h, c

    def narrowing(self, matrix, row_shifts=None):
        """The shift that narrows each row's sum to a pre-activation: the weight's fractional
        bits, plus the row's scale if there are ``row_shifts``."""
        if row_shifts is None:
            return self.weight_format.frac_bits
        return self.weight_format.frac_bits + check_row_shifts(row_shifts, len(matrix))

    def cell_update(self, acc, c, narrowing, kinds):
        """One step from the exact accumulator sums ``acc`` (4H,) and the previous cell state:
        narrow to pre-activations, gates, then the new ``(h, c)``; saturations are added to
        ``kinds``."""
        dfmt, cfmt = self.data_format, self.cell_format
        H = len(acc) // 4
        z, sat = narrow(acc, narrowing, dfmt)
        kinds["preactivation"] += int(sat.sum())
        i = self._activation(SIGMOID, z[0:H])
        f = self._activation(SIGMOID, z[H:2 * H])
        g = self._activation(TANH, z[2 * H:3 * H])
        o = self._activation(SIGMOID, z[3 * H:4 * H])
        shift = dfmt.frac_bits - cfmt.frac_bits
        c, sat = narrow((f * c << shift) + i * g, dfmt.frac_bits + shift, cfmt)
        kinds["cell"] += int(sat.sum())
        tanh_c = self._activation(TANH, saturate(c << shift, dfmt))
        h, sat = narrow(o * tanh_c, dfmt.frac_bits, dfmt)
        kinds["hidden"] += int(sat.sum())
        return h, c

    def run(self, matrix, x_codes, *, h0=None, c0=None, row_shifts=None):
        """Run a sequence.

        Parameters
        ----------
        matrix : numpy.ndarray of int64, (4H, 1 + I + H)
            From :func:`quantize_lstm`.
        x_codes : numpy.ndarray of int64, (T, I)
            Data-format codes of the inputs.
        h0, c0 : numpy.ndarray of int64, (H,), optional
            Initial state codes (zeros by default).
        row_shifts : array_like of int, (4H,), optional
            The per-row scales ``matrix`` was quantized with (default none).

        Returns
        -------
        FixedLSTMOutput
        """
        matrix, x_codes, h, c = self.prepare(matrix, x_codes, h0, c0)
        hidden_size = len(h)
        narrowing = self.narrowing(matrix, row_shifts)
        one = 1 << self.data_format.frac_bits
        hs, cs = [], []
        kinds = {"preactivation": 0, "cell": 0, "hidden": 0}
        for x_t in x_codes:
            vector = np.concatenate([[one], x_t, h])
            # Python ints would be exact at any width; int64 is exact here because
            # |sum| < 2**(data_width + weight_width + log2(columns)) stays far below 2**63.
            h, c = self.cell_update(matrix @ vector, c, narrowing, kinds)
            hs.append(h)
            cs.append(c)
        return FixedLSTMOutput(np.array(hs).reshape(-1, hidden_size),
                               np.array(cs).reshape(-1, hidden_size), sum(kinds.values()),
                               kinds)

    def run_stacked(self, matrices, x_codes, *, h0=None, c0=None, row_shifts=None):
        """Run a stack of layers: layer l's inputs are layer l-1's h_t.

        Parameters
        ----------
        matrices : sequence of numpy.ndarray
            One :func:`quantize_lstm` matrix per layer.
        x_codes : numpy.ndarray of int64, (T, I)
        h0, c0 : sequence of (H_l,) code arrays, optional
        row_shifts : sequence of (4H_l,) int arrays, optional
            Per-row scales of each layer.

        Returns
        -------
        list of FixedLSTMOutput
            One per layer.
        """
        outputs = []
        inputs = x_codes
        for index, matrix in enumerate(matrices):
            result = self.run(matrix, inputs,
                              h0=None if h0 is None else h0[index],
                              c0=None if c0 is None else c0[index],
                              row_shifts=None if row_shifts is None else row_shifts[index])
            outputs.append(result)
            inputs = result.h
        return outputs
