"""Fixed-point narrowing in hardware, matching :func:`lstm_ref.fixedpoint.narrow` bit for bit."""

from amaranth.hdl import Cat, Const, Mux, Value, signed

from lstm_ref.checks import check_integer


__all__ = ["narrow", "narrow_scaled", "saturate", "rounding_bias", "sum_tree", "booth_digits",
           "booth_rows", "carry_save"]


#: Terms :func:`sum_tree` adds in a plain chain; more are split into a balanced tree. Two:
#: every sum is a balanced tree, log2(n) adders deep (synthesis keeps the structure it is
#: given, and a chain of n terms is n - 1 adders in series: the RPU's saturation count over
#: 64 lanes was one such chain).
SUM_CHAIN = 2


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


def rounding_bias(shift):
    """Half an LSB of a value narrowed by ``shift`` bits, ``2**(shift - 1)`` (0 for ``shift``
    0): added before the arithmetic shift, it makes the shift round half up."""
    return (1 << shift) >> 1


def narrow(value, shift, width, *, biased=False):
    """Round ``value`` half up by ``shift`` bits, then saturate it into ``signed(width)``.

    Parameters
    ----------
    value : Value
        A signed value.
    shift : int
        Fractional bits to drop (0 or more).
    width : int
        Width of the signed result (2 or more); its fractional bits are the caller's matter.
    biased : bool
        ``value`` already includes :func:`rounding_bias` ``(shift)`` (e.g. a sum started from
        it), so that only the shift and the saturation are left: no adder.

    Returns
    -------
    (Value, Value)
        The narrowed value (``signed(width)``) and a 1-bit flag: saturation changed it.
    """
    shift = check_integer("shift", shift, 0)
    width = check_integer("width", width, 2)
    if shift > 0 and not biased:
        # One extra bit keeps the addition from wrapping.
        rounded = (value.as_signed() + rounding_bias(shift)) >> shift
    else:
        rounded = value.as_signed() >> shift
    return saturate(rounded, width)


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
    return saturate(rounded, width)


def saturate(rounded, width):
    """``rounded`` (any signed value) saturated into ``signed(width)``, and the flag:
    saturation changed it.

    ``rounded`` fits exactly when its bits from ``width - 1`` up are all equal (all its sign):
    a reduction of those bits, not two magnitude compares (each a carry chain behind the
    rounding's)."""
    rounded = rounded.as_signed()
    top = rounded[width - 1:]
    if len(top) <= 1:           # it always fits: sign-extended
        return Cat(rounded, rounded[-1].replicate(width - len(rounded))).as_signed(), Const(0, 1)
    fits = top.all() | ~top.any()
    max_code, min_code = (1 << (width - 1)) - 1, -(1 << (width - 1))
    result = Mux(fits, rounded[:width].as_signed(),
                 Mux(rounded[-1], Const(min_code, signed(width)), Const(max_code, signed(width))))
    return result, ~fits


def booth_digits(multiplier):
    """Radix-4 Booth recoding of a signed value (``m`` bits): ``ceil(m / 2)`` digits from -2
    to 2, each as its flags ``(one, two, negative)`` (magnitude 1, magnitude 2, negative),
    such that ``multiplier = sum(digit_k * 4**k)``; see :func:`booth_rows`."""
    y = Value.cast(multiplier)
    # y with the implicit 0 below bit 0, sign-extended by one bit (for an odd width).
    bits = Cat(Const(0, 1), y, y[-1])
    digits = []
    for k in range((len(y) + 1) // 2):
        low, mid, high = bits[2 * k], bits[2 * k + 1], bits[2 * k + 2]
        digits.append((mid ^ low, (high & ~mid & ~low) | (~high & mid & low), high))
    return digits


def booth_rows(multiplicand, digits, width, *, constant=0):
    """Radix-4 Booth partial products: unsigned rows whose sum is
    ``multiplicand * multiplier + constant`` modulo ``2**width``.

    Digit ``k`` of the multiplier (:func:`booth_digits`) selects 0, ``±multiplicand`` or
    ``±2 * multiplicand`` (signed, ``n + 1`` bits for an ``n``-bit signed multiplicand),
    negated by inverting its bits and adding 1 at bit ``2k``. Each selected multiple is made
    unsigned by inverting its sign bit, which subtracts ``2**n * 4**k``; the sum of these
    corrections, ``constant`` and the negations' 1s form one more row (one row of constant
    and negation bits when they do not overlap, else two). Recoding the narrower operand
    gives fewer rows.

    Parameters
    ----------
    multiplicand : Value
        A signed value.
    digits : list of (Value, Value, Value)
        The multiplier's :func:`booth_digits` (or registered copies of them).
    width : int
        Bits of the result modulo which the rows sum to the product.
    constant : int
        Added to the product (e.g. a rounding constant).

    Returns
    -------
    list of Value
        Unsigned rows, for :func:`carry_save`.
    """
    x = Value.cast(multiplicand)
    n = len(x)
    rows, negations = [], []
    for k, (one, two, negative) in enumerate(digits):
        multiple = Mux(two, Cat(Const(0, 1), x), Mux(one, Cat(x, x[-1]), 0))
        rows.append(Cat(Const(0, 2 * k),
                        multiple[:n + 1] ^ Cat(negative.replicate(n), ~negative)))
        negations += [negative, Const(0, 1)]
    constant = (constant - (1 << n) * ((1 << 2 * len(digits)) - 1) // 3) % (1 << width)
    low_bits = 2 * len(digits)
    if constant & ((1 << low_bits) - 1) == 0:
        rows.append(Cat(*negations, Const(constant >> low_bits, max(width - low_bits, 1))))
    else:
        rows += [Cat(*negations), Const(constant, width)]
    return rows


def carry_save(rows, width):
    """Two values whose sum is the sum of ``rows`` modulo ``2**width``, by layers of 3:2
    compressors (full adders on whole rows: no carry propagates along a row).

    Parameters
    ----------
    rows : list of Value or int
        Unsigned values, or ints taken modulo ``2**width``.
    width : int

    Returns
    -------
    (Value, Value)
        ``unsigned(width)`` values.
    """
    queue = [Const(row % (1 << width), width) if isinstance(row, int)
             else Value.cast(row)[:width] for row in rows]
    queue += [Const(0, width)] * (2 - len(queue))
    # First in, first out: each layer of adders takes the rows of the layer before.
    while len(queue) > 2:
        a, b, c = queue[:3]
        queue = queue[3:] + [(a ^ b ^ c)[:width],
                             Cat(Const(0, 1), (a & b) | (a & c) | (b & c))[:width]]
    return tuple(Cat(row, Const(0, width))[:width] for row in queue)
