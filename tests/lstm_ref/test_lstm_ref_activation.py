"""The fixed-point sigmoid and tanh model: accuracy, symmetry, monotonicity, validation.

Accuracy is checked exhaustively over every input code against exact functions computed
here, independently of the module's own table code.
"""

import math

import numpy as np
import pytest

from lstm_ref.activation import (
    DEFAULT_FORMAT, DEFAULT_SEGMENTS, SIGMOID, SIGMOID_ERROR_BOUND, TANH, TANH_ERROR_BOUND,
    activation_fixed, activation_table, check_segments, max_error, sigmoid_fixed, tanh_fixed)
from lstm_ref.fixedpoint import FixedFormat


# Largest |f''| on the real line: interpolation error of a segment of width h is at most
# max|f''| * h**2 / 8.
SIGMOID_D2_MAX = 1 / (6 * math.sqrt(3))
TANH_D2_MAX = 4 / (3 * math.sqrt(3))


def exact_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def exact_tanh(x):
    return np.tanh(np.asarray(x, dtype=np.float64))


EXACT = {SIGMOID: exact_sigmoid, TANH: exact_tanh}
D2_MAX = {SIGMOID: SIGMOID_D2_MAX, TANH: TANH_D2_MAX}
FUNCS = [pytest.param(SIGMOID, id="sigmoid"), pytest.param(TANH, id="tanh")]


def all_codes(fmt):
    return np.arange(fmt.min_code, fmt.max_code + 1, dtype=np.int64)


def measured_error(func, fmt, segments):
    codes = all_codes(fmt)
    y = activation_fixed(func, codes, fmt, segments) * 2.0 ** -fmt.frac_bits
    return np.max(np.abs(y - EXACT[func](codes * 2.0 ** -fmt.frac_bits)))


def test_constants():
    assert (SIGMOID, TANH) == (0, 1)
    assert DEFAULT_SEGMENTS == 256
    assert DEFAULT_FORMAT == FixedFormat(16, 12)


def test_default_format_exhaustive_within_stated_bounds():
    fmt = FixedFormat(16, 12)
    assert all_codes(fmt).size == 65536
    sig = measured_error(SIGMOID, fmt, 256)
    tanh = measured_error(TANH, fmt, 256)
    assert sig <= SIGMOID_ERROR_BOUND
    assert tanh <= TANH_ERROR_BOUND
    # The bounds are stated tight: within half an LSB of the measured worst case.
    lsb = fmt.resolution
    assert SIGMOID_ERROR_BOUND - sig < 0.5 * lsb
    assert TANH_ERROR_BOUND - tanh < 0.5 * lsb
    # max_error measures the same thing.
    assert max_error(SIGMOID, fmt, 256) == pytest.approx(sig, rel=1e-12)
    assert max_error(TANH, fmt, 256) == pytest.approx(tanh, rel=1e-12)


def test_documented_figures():
    # The module docstring states the measured figures; keep them honest.
    fmt = FixedFormat(16, 12)
    assert measured_error(SIGMOID, fmt, 256) / fmt.resolution == pytest.approx(0.952, abs=5e-4)
    assert measured_error(TANH, fmt, 256) / fmt.resolution == pytest.approx(1.276, abs=5e-4)


@pytest.mark.parametrize("func", FUNCS)
@pytest.mark.parametrize("fmt, segments", [
    (FixedFormat(16, 12), 256),
    (FixedFormat(16, 12), 64),
    (FixedFormat(16, 12), 16384),
    (FixedFormat(16, 13), 128),
    (FixedFormat(12, 8), 64),
    (FixedFormat(10, 7), 32),
    (FixedFormat(8, 5), 16),
    (FixedFormat(8, 6), 1),
    (FixedFormat(6, 3), 16),
    (FixedFormat(2, 0), 1),
])
def test_other_formats_within_sane_bound(func, fmt, segments):
    # Table quantization (1/2 LSB) + rounding (1/2 LSB) + interpolation error, with an
    # LSB of slack.
    h = (1 << (fmt.width - 1)) // segments * fmt.resolution
    bound = 2 * fmt.resolution + D2_MAX[func] * h * h / 8
    assert measured_error(func, fmt, segments) <= bound


@pytest.mark.parametrize("func", FUNCS)
@pytest.mark.parametrize("fmt, segments", [
    (FixedFormat(16, 12), 256), (FixedFormat(12, 8), 64), (FixedFormat(8, 5), 16),
    (FixedFormat(8, 6), 1),
])
def test_symmetry(func, fmt, segments):
    c = np.arange(0, fmt.max_code + 1, dtype=np.int64)
    pos = activation_fixed(func, c, fmt, segments)
    neg = activation_fixed(func, -c, fmt, segments)
    if func == TANH:
        np.testing.assert_array_equal(neg, -pos)
    else:
        np.testing.assert_array_equal(neg, (1 << fmt.frac_bits) - pos)
    # -2**(W-1) has no positive counterpart: it is clamped to the largest magnitude.
    assert activation_fixed(func, fmt.min_code, fmt, segments) == \
        activation_fixed(func, -fmt.max_code, fmt, segments)


@pytest.mark.parametrize("func", FUNCS)
@pytest.mark.parametrize("fmt, segments", [
    (FixedFormat(16, 12), 256), (FixedFormat(16, 12), 16384), (FixedFormat(12, 8), 64),
    (FixedFormat(8, 5), 16), (FixedFormat(8, 6), 1),
])
def test_monotonic(func, fmt, segments):
    y = activation_fixed(func, all_codes(fmt), fmt, segments)
    assert np.all(np.diff(y) >= 0)


@pytest.mark.parametrize("func", FUNCS)
def test_table(func):
    fmt = FixedFormat(16, 12)
    t = activation_table(func, fmt, 256)
    assert t.shape == (257,) and t.dtype == np.int64
    # Boundaries every 128 codes: k * 2**-5.
    x = np.arange(257) / 32
    np.testing.assert_array_equal(t, np.floor(EXACT[func](x) * 4096 + 0.5).astype(np.int64))
    assert t[0] == (2048 if func == SIGMOID else 0)
    assert np.all(np.diff(t) >= 0)
    # On a segment boundary the result is the table entry itself.
    np.testing.assert_array_equal(activation_fixed(func, np.arange(256) * 128, fmt, 256), t[:256])


def scalar_reference(func, code, fmt, segments):
    """The specified arithmetic, one code at a time in Python integers."""
    w, f = fmt.width, fmt.frac_bits
    step = 2 ** (w - 1) // segments
    shift = step.bit_length() - 1

    def q(v):
        return min(max(math.floor(v * 2 ** f + 0.5), fmt.min_code), fmt.max_code)

    def fn(v):
        return 1 / (1 + math.exp(-v)) if func == SIGMOID else math.tanh(v)

    mag = min(abs(code), 2 ** (w - 1) - 1)
    idx, frac = mag // step, mag % step
    t0, t1 = q(fn(idx * step * 2.0 ** -f)), q(fn((idx + 1) * step * 2.0 ** -f))
    y = t0 + (((t1 - t0) * frac + (1 << (shift - 1))) >> shift if shift else 0)
    if code < 0:
        y = 2 ** f - y if func == SIGMOID else -y
    return min(max(y, fmt.min_code), fmt.max_code)


@pytest.mark.parametrize("func", FUNCS)
def test_matches_scalar_reference(func):
    fmt = FixedFormat(16, 12)
    rng = np.random.default_rng(1)
    codes = np.concatenate([rng.integers(fmt.min_code, fmt.max_code + 1, 500),
                            [fmt.min_code, fmt.min_code + 1, -1, 0, 1, fmt.max_code]])
    got = activation_fixed(func, codes, fmt)
    want = [scalar_reference(func, int(c), fmt, 256) for c in codes]
    np.testing.assert_array_equal(got, want)


def test_conveniences():
    fmt = FixedFormat(12, 8)
    c = all_codes(fmt)
    np.testing.assert_array_equal(sigmoid_fixed(c, fmt, 64), activation_fixed(SIGMOID, c, fmt, 64))
    np.testing.assert_array_equal(tanh_fixed(c, fmt, 64), activation_fixed(TANH, c, fmt, 64))
    np.testing.assert_array_equal(sigmoid_fixed(c, FixedFormat(12, 8)),
                                  activation_fixed(SIGMOID, c, fmt, DEFAULT_SEGMENTS))
    assert sigmoid_fixed(0, DEFAULT_FORMAT) == 2048
    assert tanh_fixed(0, DEFAULT_FORMAT) == 0
    assert tanh_fixed(DEFAULT_FORMAT.max_code, DEFAULT_FORMAT) == 4096  # tanh(8) -> 1.0
    assert sigmoid_fixed(DEFAULT_FORMAT.min_code, DEFAULT_FORMAT) == 1  # sigmoid(-8) = 3.4e-4


@pytest.mark.parametrize("segments", [0, 3, 6, 100, -4, 2 ** 15, 2 ** 16, 2.0, True, "4"])
def test_check_segments_rejects(segments):
    with pytest.raises(ValueError, match=r"segments must be a power of two from 1 to .* 16384"):
        check_segments(FixedFormat(16, 12), segments)


@pytest.mark.parametrize("segments", [1, 2, 256, 16384])
def test_check_segments_accepts(segments):
    check_segments(FixedFormat(16, 12), segments)


@pytest.mark.parametrize("fmt", [FixedFormat(16, 15), FixedFormat(8, 7), FixedFormat(2, 1)])
def test_check_segments_rejects_format_without_integer_bit(fmt):
    with pytest.raises(ValueError, match=r"data format must have at least 1 integer bit"):
        check_segments(fmt, 1)
    with pytest.raises(ValueError, match=r"data format"):
        activation_table(SIGMOID, fmt, 1)


def test_check_segments_rejects_non_format():
    with pytest.raises(TypeError, match=r"data format must be a FixedFormat"):
        check_segments((16, 12), 256)


def test_bad_func_and_codes():
    fmt = FixedFormat(8, 5)
    with pytest.raises(ValueError, match=r"func must be SIGMOID"):
        activation_fixed(2, [0], fmt, 16)
    with pytest.raises(ValueError, match=r"range"):
        activation_fixed(TANH, [128], fmt, 16)
    with pytest.raises(ValueError, match=r"range"):
        activation_fixed(TANH, [-129], fmt, 16)
    with pytest.raises(ValueError, match=r"segments"):
        activation_fixed(TANH, [0], fmt, 128)
