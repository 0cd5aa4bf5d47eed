"""Fixed-point narrowing in hardware, matching :func:`lstm_ref.fixedpoint.narrow` bit for bit."""

from amaranth.hdl import Mux, signed, Const

from lstm_ref.checks import check_integer


__all__ = ["narrow", "narrow_scaled", "sum_tree"]


#: Terms :func:`sum_tree` adds in a plain chain; more are split into a balanced tree.
SUM_CHAIN = 64


def sum_tree(values):
    """The sum of ``values`` (Amaranth values or ints), with a nesting depth bounded
    independently of their number.

    Up to :data:`SUM_CHAIN` terms are added in a chain, ``0 + v0 + v1 + ...`` (Python's
    ``sum``); more are split in two halves whose sums are added, recursively. A sum of
    hundreds of terms built as one chain is an expression as deep as it is long, which
    Amaranth walks recursively (a ``RecursionError`` at a few hundred terms); here the depth
    is at most ``SUM_CHAIN + log2(len(values) / SUM_CHAIN) + 1``.
    """
    values = list(values)
    if len(values) <= SUM_CHAIN:
        return sum(values)
    middle = len(values) // 2
    return sum_tree(values[:middle]) + sum_tree(values[middle:])


def narrow(value, shift, width):
    """Round ``value`` half up by ``shift`` bits, then saturate it into ``signed(width)``.

    Parameters
    ----------
    value : Value
        A signed value.
    shift : int
        Fractional bits to drop (0 or more).
    width : int
        Width of the signed result (2 or more); its fractional bits are the caller's matter.

    Returns
    -------
    (Value, Value)
        The narrowed value (``signed(width)``) and a 1-bit flag: saturation changed it.
    """
    shift = check_integer("shift", shift, 0)
    width = check_integer("width", width, 2)
    if shift > 0:
        # Adding half an LSB before the arithmetic shift rounds half up; one extra bit keeps
        # the addition from wrapping.
        rounded = (value.as_signed() + (1 << (shift - 1))) >> shift
    else:
        rounded = value.as_signed()
    return _saturate(rounded, width)


def narrow_scaled(value, shift, scale, width):
    """:func:`narrow` by ``shift + scale`` bits, ``scale`` an unsigned Amaranth value (a row's
    extra fractional bits, :func:`lstm_ref.fixedpoint.narrow` with a per-row shift).

    Returns
    -------
    (Value, Value)
        The narrowed value (``signed(width)``) and a 1-bit flag: saturation changed it.
    """
    shift = check_integer("shift", shift, 0)
    width = check_integer("width", width, 2)
    # Half an LSB of the result, 2**(shift + scale - 1), or 0 when nothing is dropped.
    half = (Const(1 << shift, shift + 1) << scale) >> 1
    rounded = (value.as_signed() + half) >> (scale + shift)
    return _saturate(rounded, width)


def _saturate(rounded, width):
    """``rounded`` saturated into ``signed(width)``, and the flag: saturation changed it."""
    max_code, min_code = (1 << (width - 1)) - 1, -(1 << (width - 1))
    high = rounded > max_code
    low = rounded < min_code
    result = Mux(high, Const(max_code, signed(width)),
                 Mux(low, Const(min_code, signed(width)),
                     rounded[:width].as_signed()))
    return result, high | low
