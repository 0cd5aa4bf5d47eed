"""Fixed-point narrowing in hardware, matching :func:`lstm_ref.fixedpoint.narrow` bit for bit."""

from amaranth.hdl import Mux, signed, Const


__all__ = ["narrow"]


def narrow(value, shift, fmt):
    """Round ``value`` half up by ``shift`` bits, then saturate it into ``fmt``.

    Parameters
    ----------
    value : Value
        A signed value.
    shift : int
        Fractional bits to drop.
    fmt : lstm_ref.fixedpoint.FixedFormat
        Format of the result.

    Returns
    -------
    (Value, Value)
        The narrowed value (``signed(fmt.width)``) and a 1-bit flag: saturation changed it.
    """
    if shift > 0:
        # Adding half an LSB before the arithmetic shift rounds half up; one extra bit keeps
        # the addition from wrapping.
        rounded = (value.as_signed() + (1 << (shift - 1))) >> shift
    else:
        rounded = value.as_signed()
    high = rounded > fmt.max_code
    low = rounded < fmt.min_code
    result = Mux(high, Const(fmt.max_code, signed(fmt.width)),
                 Mux(low, Const(fmt.min_code, signed(fmt.width)),
                     rounded[:fmt.width].as_signed()))
    return result, high | low
