"""The fixed-point sigmoid and tanh of the activation units, bit for bit.

Method
------
Both functions are computed the same way, from one table per function with linear
interpolation between its entries, on the magnitude of the input only:

* the non-negative half of the input range, codes ``0 .. 2**(W-1)``, is cut into
  ``segments`` equal segments of ``step = 2**(W-1) // segments`` codes (a power of two);
* the table holds the function at every segment boundary,
  ``t[k] = quantize(f(k * step * 2**-F))`` for ``k = 0 .. segments`` (float64, then the
  format's round-half-up and saturation);
* for an input code ``x``: ``mag = min(|x|, 2**(W-1) - 1)``, ``idx = mag >> log2(step)``,
  ``frac = mag & (step - 1)`` and
  ``y = t[idx] + round_shift((t[idx+1] - t[idx]) * frac, log2(step))``;
* the sign is restored by symmetry: ``tanh(-x) = -tanh(x)`` and
  ``sigmoid(-x) = 1 - sigmoid(x)``, i.e. ``-y`` and ``2**F - y`` in codes; finally the
  result is saturated into the format (which cannot change it when ``1.0`` is
  representable, but keeps the definition closed).

Since ``f`` is increasing on ``[0, inf)``, every slope ``t[k+1] - t[k]`` is non-negative,
so the hardware stores unsigned bases and slopes and multiplies unsigned numbers. The
outputs are monotonic non-decreasing over increasing input codes and exactly symmetric.
Here ``W`` is the data width and ``F`` the number of fractional bits.

Accuracy
--------
Measured exhaustively over all 65536 input codes of the default format Q3.12 (16 bits,
12 fractional, so one LSB is ``2**-12 = 2.441e-4``) with 256 segments (128 codes, 0.03125
wide, each), against the exact float64 functions:

* sigmoid: worst-case absolute error ``2.324e-4`` = 0.952 LSB (at x = -1.468), stated
  bound :data:`SIGMOID_ERROR_BOUND` = 1 LSB;
* tanh: worst-case absolute error ``3.114e-4`` = 1.276 LSB (at x = -0.983), stated bound
  :data:`TANH_ERROR_BOUND` = 1.5 LSB.

Up to half an LSB comes from quantizing the table, up to half an LSB from rounding the
interpolated value, and the rest is the linear interpolation error
(``max|f''| * h**2 / 8`` for segment width ``h``: 0.385 LSB for tanh, 0.048 LSB for
sigmoid here); :func:`max_error` recomputes the figures for any format.
"""

import numpy as np

from .fixedpoint import FixedFormat, round_shift, saturate


__all__ = [
    "SIGMOID", "TANH", "DEFAULT_SEGMENTS", "DEFAULT_FORMAT",
    "SIGMOID_ERROR_BOUND", "TANH_ERROR_BOUND",
    "check_segments", "activation_table", "activation_fixed",
    "sigmoid_fixed", "tanh_fixed", "exact", "max_error",
]


#: Function select code of the sigmoid (also the value of the hardware's ``func`` input).
SIGMOID = 0
#: Function select code of the tanh.
TANH = 1
#: Number of table segments over the non-negative input range.
DEFAULT_SEGMENTS = 256
#: The data format the error bounds below are stated for: Q3.12, 16 bits.
DEFAULT_FORMAT = FixedFormat(16, 12)

#: Stated worst-case absolute error of the sigmoid, in real units, for
#: :data:`DEFAULT_FORMAT` and :data:`DEFAULT_SEGMENTS` (1 LSB; measured 0.952 LSB).
SIGMOID_ERROR_BOUND = 1.0 * 2.0 ** -12
#: Stated worst-case absolute error of the tanh, in real units, for
#: :data:`DEFAULT_FORMAT` and :data:`DEFAULT_SEGMENTS` (1.5 LSB; measured 1.276 LSB).
TANH_ERROR_BOUND = 1.5 * 2.0 ** -12


_FUNCS = {SIGMOID: "sigmoid", TANH: "tanh"}


def _check_func(func):
    if isinstance(func, bool) or func not in _FUNCS:
        raise ValueError(f"func must be SIGMOID ({SIGMOID}) or TANH ({TANH}), not {func!r}")
    return int(func)


def check_segments(fmt, segments):
    """Check that ``segments`` and ``fmt`` suit the activation method.

    Parameters
    ----------
    fmt : FixedFormat
        The data format of inputs and outputs.
    segments : int
        Number of table segments over the non-negative input range.

    Raises
    ------
    ValueError
        If ``fmt`` has no integer bit (``1.0`` must be representable, for ``sigmoid(x) =
        1 - sigmoid(-x)`` and the saturation values of both functions), or if ``segments``
        is not a power of two from 1 to ``2**(fmt.width - 2)``, so that every segment holds
        at least two codes.
    """
    if not isinstance(fmt, FixedFormat):
        raise TypeError(f"data format must be a FixedFormat, not {fmt!r}")
    if fmt.int_bits < 1:
        raise ValueError(f"data format must have at least 1 integer bit so that 1.0 is "
                         f"representable (frac_bits from 0 to width - 2 = {fmt.width - 2}), "
                         f"not {fmt}")
    max_segments = 1 << (fmt.width - 2)
    if (not isinstance(segments, (int, np.integer)) or isinstance(segments, bool)
            or not 1 <= segments <= max_segments or segments & (segments - 1)):
        raise ValueError(f"segments must be a power of two from 1 to 2**(width - 2) = "
                         f"{max_segments} for {fmt}, not {segments!r}")


def exact(func, values):
    """The exact function ``func`` on real ``values``, in float64."""
    func = _check_func(func)
    values = np.asarray(values, dtype=np.float64)
    if func == SIGMOID:
        return 1.0 / (1.0 + np.exp(-values))
    return np.tanh(values)


def _step_shift(fmt, segments):
    step = (1 << (fmt.width - 1)) // segments
    return step, step.bit_length() - 1


def activation_table(func, fmt, segments=DEFAULT_SEGMENTS):
    """The table of ``func`` at the segment boundaries.

    Returns
    -------
    numpy.ndarray of int64, shape ``(segments + 1,)``
        ``t[k] = fmt.quantize(f(k * step * 2**-F))``, ``step = 2**(W-1) // segments``.
    """
    func = _check_func(func)
    check_segments(fmt, segments)
    step, _ = _step_shift(fmt, segments)
    x = np.arange(segments + 1, dtype=np.float64) * step * 2.0 ** -fmt.frac_bits
    return fmt.quantize(exact(func, x))


def activation_fixed(func, codes, fmt, segments=DEFAULT_SEGMENTS):
    """``func`` on fixed-point ``codes``, exactly as the activation unit computes it.

    Parameters
    ----------
    func : int
        :data:`SIGMOID` or :data:`TANH`.
    codes : array_like of int
        Input codes in ``fmt`` (values outside its range are an error).
    fmt : FixedFormat
        Data format of inputs and outputs.
    segments : int
        Number of table segments, see :func:`check_segments`.

    Returns
    -------
    numpy.ndarray of int64
        Output codes in ``fmt``, same shape as ``codes``.
    """
    func = _check_func(func)
    table = activation_table(func, fmt, segments)
    codes = np.asarray(codes, dtype=np.int64)
    if codes.size and (codes.min() < fmt.min_code or codes.max() > fmt.max_code):
        raise ValueError(f"codes must lie in {fmt}'s range [{fmt.min_code}, {fmt.max_code}]")
    step, shift = _step_shift(fmt, segments)
    neg = codes < 0
    # |min_code| is not representable; it is clamped to the largest magnitude.
    mag = np.minimum(np.abs(codes), fmt.max_code)
    idx = mag >> shift
    frac = mag & (step - 1)
    base = table[idx]
    if shift == 0:
        y = base
    else:
        y = base + round_shift((table[idx + 1] - base) * frac, shift)
    if func == SIGMOID:
        y = np.where(neg, (1 << fmt.frac_bits) - y, y)
    else:
        y = np.where(neg, -y, y)
    return saturate(y, fmt)


def sigmoid_fixed(codes, fmt, segments=DEFAULT_SEGMENTS):
    """:func:`activation_fixed` of :data:`SIGMOID`."""
    return activation_fixed(SIGMOID, codes, fmt, segments)


def tanh_fixed(codes, fmt, segments=DEFAULT_SEGMENTS):
    """:func:`activation_fixed` of :data:`TANH`."""
    return activation_fixed(TANH, codes, fmt, segments)


def max_error(func, fmt, segments=DEFAULT_SEGMENTS):
    """Worst-case absolute error of :func:`activation_fixed`, in real units.

    Exhaustive: every input code of ``fmt`` is evaluated against the exact float64
    function of its real value.
    """
    codes = np.arange(fmt.min_code, fmt.max_code + 1, dtype=np.int64)
    y = fmt.to_float(activation_fixed(func, codes, fmt, segments))
    return float(np.max(np.abs(y - exact(func, fmt.to_float(codes)))))
