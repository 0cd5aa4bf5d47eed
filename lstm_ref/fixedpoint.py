"""Two's complement fixed-point formats, and the one rounding and saturation rule of the RPU.

Every narrowing in the RPU (accumulator to data word, element-wise products to data word,
activation interpolation) uses the same two steps, defined here once:

* **rounding**: round half up, i.e. ``floor(x / 2**n + 1/2)``, done in integers as
  ``(x + 2**(n-1)) >> n`` with an arithmetic shift;
* **saturation**: clamp to the format's range ``[-2**(width-1), 2**(width-1) - 1]``.

All functions work on numpy ``int64`` arrays (or Python ints) of *codes*: the integer
``round(value * 2**frac_bits)``.
"""

from dataclasses import dataclass

import numpy as np


__all__ = ["FixedFormat", "round_shift", "saturate", "narrow"]


@dataclass(frozen=True)
class FixedFormat:
    """A signed two's complement fixed-point format.

    Parameters
    ----------
    width : int
        Total number of bits, sign included (2 to 32).
    frac_bits : int
        Number of fractional bits (0 to ``width - 1``).

    Attributes
    ----------
    min_code, max_code : int
        The range of codes, ``-2**(width-1)`` and ``2**(width-1) - 1``.
    resolution : float
        The value of one code, ``2**-frac_bits``.
    """

    width: int
    frac_bits: int

    def __post_init__(self):
        if not isinstance(self.width, int) or isinstance(self.width, bool) \
                or not 2 <= self.width <= 32:
            raise ValueError(f"width must be an integer from 2 to 32, not {self.width!r}")
        if not isinstance(self.frac_bits, int) or isinstance(self.frac_bits, bool) \
                or not 0 <= self.frac_bits <= self.width - 1:
            raise ValueError(f"frac_bits must be an integer from 0 to width - 1 = "
                             f"{self.width - 1}, not {self.frac_bits!r}")

    @property
    def int_bits(self):
        """Integer bits, sign excluded."""
        return self.width - 1 - self.frac_bits

    @property
    def min_code(self):
        return -(1 << (self.width - 1))

    @property
    def max_code(self):
        return (1 << (self.width - 1)) - 1

    @property
    def resolution(self):
        return 2.0 ** -self.frac_bits

    @property
    def min_value(self):
        return self.min_code * self.resolution

    @property
    def max_value(self):
        return self.max_code * self.resolution

    def __str__(self):
        return f"Q{self.int_bits}.{self.frac_bits} ({self.width} bits)"

    def quantize(self, values, *, name="value"):
        """Convert real values to codes: round half up, then saturate.

        Raises
        ------
        ValueError
            If any value is NaN or infinite (``name`` says which input).
        """
        values = np.asarray(values, dtype=np.float64)
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{name} contains NaN or infinite values")
        codes = np.floor(values * (1 << self.frac_bits) + 0.5)
        codes = np.clip(codes, self.min_code, self.max_code)
        return codes.astype(np.int64)

    def to_float(self, codes):
        """Convert codes to their real values."""
        return np.asarray(codes, dtype=np.float64) * self.resolution

    def saturate(self, codes):
        """Clamp codes into the format; see :func:`saturate`."""
        return saturate(codes, self)


def round_shift(x, n):
    """Divide integers by ``2**n``, rounding half up (``floor(x / 2**n + 1/2)``).

    ``n`` is a non-negative int, or an array of them broadcast against ``x`` (one shift per
    element, e.g. per weight row).
    """
    x = np.asarray(x, dtype=np.int64)
    if np.ndim(n) == 0:
        if n == 0:
            return x
        return (x + (1 << (n - 1))) >> n
    n = np.asarray(n, dtype=np.int64)
    if np.any(n < 0):
        raise ValueError("shifts must not be negative")
    half = np.where(n > 0, np.left_shift(np.int64(1), np.maximum(n - 1, 0)), 0)
    return (x + half) >> n


def saturate(x, fmt):
    """Clamp integers into ``fmt``'s code range."""
    return np.clip(np.asarray(x, dtype=np.int64), fmt.min_code, fmt.max_code)


def narrow(x, shift, fmt):
    """Round ``x`` half up by ``shift`` bits, then saturate into ``fmt``.

    Returns
    -------
    codes : numpy.ndarray
        The narrowed codes.
    saturated : numpy.ndarray of bool
        Where saturation changed the value.
    """
    rounded = round_shift(x, shift)
    codes = saturate(rounded, fmt)
    return codes, codes != rounded
