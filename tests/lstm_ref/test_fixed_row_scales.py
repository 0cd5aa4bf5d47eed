"""Per-row weight scales in the fixed-point golden model (lstm_ref.fixed_lstm)."""

from fractions import Fraction
import math

import numpy as np
import pytest

from lstm_ref.fixedpoint import FixedFormat, round_shift
from lstm_ref.fixed_lstm import (FixedLSTM, quantize_lstm, choose_row_shifts, MAX_ROW_SHIFT,
                                 parameter_matrix)
from lstm_ref.float_lstm import lstm_forward
from tests.helpers import random_lstm


def test_round_shift_per_element_is_round_half_up():
    rng = np.random.default_rng(1)
    x = rng.integers(-10**9, 10**9, 2000)
    n = rng.integers(0, 20, 2000)
    got = round_shift(x, n)
    expected = [math.floor(Fraction(int(a), 2 ** int(b)) + Fraction(1, 2))
                for a, b in zip(x, n)]
    assert got.tolist() == expected


def test_round_shift_rejects_negative_shifts():
    with pytest.raises(ValueError, match="negative"):
        round_shift(np.array([1, 2]), np.array([1, -1]))


@pytest.mark.parametrize("width, frac, shift", [(8, 3, 2), (4, 1, 1), (16, 8, 4)])
def test_uniform_row_shift_equals_a_wider_format(width, frac, shift):
    """Every row shifted by s is the weight format with s more fractional bits."""
    rng = np.random.default_rng(width + frac + shift)
    I, H, T = 5, 6, 8
    params = random_lstm(rng, I, H, scale=0.6)
    data = FixedFormat(16, 12)
    x = data.quantize(rng.standard_normal((T, I)))
    narrow_fmt, wide_fmt = FixedFormat(width, frac), FixedFormat(width, frac + shift)
    shifts = np.full(4 * H, shift)
    scaled = FixedLSTM(data_format=data, weight_format=narrow_fmt)
    matrix = quantize_lstm(**params, weight_format=narrow_fmt, row_shifts=shifts)
    wide = FixedLSTM(data_format=data, weight_format=wide_fmt)
    reference = quantize_lstm(**params, weight_format=wide_fmt)
    assert np.array_equal(matrix, reference)
    got = scaled.run(matrix, x, row_shifts=shifts)
    expected = wide.run(reference, x)
    assert np.array_equal(got.h, expected.h) and np.array_equal(got.c, expected.c)
    assert got.saturations == expected.saturations


def test_chosen_shifts_are_the_largest_that_do_not_saturate():
    rng = np.random.default_rng(3)
    params = random_lstm(rng, 7, 5)
    params["weight_ih"][2] *= 9.0    # a row that saturates Q1.2 even unshifted
    params["weight_hh"][4] = 0.0
    params["weight_ih"][4] = 0.0
    params["bias_ih"][4] = params["bias_hh"][4] = 0.0
    fmt = FixedFormat(4, 2)
    shifts = choose_row_shifts(**params, weight_format=fmt)
    matrix = parameter_matrix(**params)
    for row, shift in enumerate(shifts):
        def fits(s):
            codes = np.floor(matrix[row] * 2.0 ** (fmt.frac_bits + s) + 0.5)
            return bool(np.all((codes >= fmt.min_code) & (codes <= fmt.max_code)))
        if shift > 0:
            assert fits(shift)
        if shift < MAX_ROW_SHIFT:
            assert not fits(shift + 1)
    assert shifts[2] == 0
    assert shifts[4] == MAX_ROW_SHIFT


@pytest.mark.parametrize("width", [4, 8])
def test_row_scales_bring_low_precision_weights_close_to_float(width):
    """4- and 8-bit weights: per-row scales cut the error against float64 several times."""
    rng = np.random.default_rng(width)
    I, H, T = 16, 24, 30
    params = random_lstm(rng, I, H)
    x = rng.standard_normal((T, I))
    reference = lstm_forward(x, **params).h
    data = FixedFormat(16, 12)
    fmt = FixedFormat(width, width - 2)          # one integer bit: |w| < 2
    model = FixedLSTM(data_format=data, weight_format=fmt)
    x_codes = data.quantize(x)
    plain = model.run(quantize_lstm(**params, weight_format=fmt), x_codes)
    shifts = choose_row_shifts(**params, weight_format=fmt)
    scaled = model.run(quantize_lstm(**params, weight_format=fmt, row_shifts=shifts), x_codes,
                       row_shifts=shifts)
    error_plain = np.abs(data.to_float(plain.h) - reference).mean()
    error_scaled = np.abs(data.to_float(scaled.h) - reference).mean()
    assert error_scaled < error_plain / 3
    assert error_scaled < {4: 0.02, 8: 0.001}[width]


def test_row_shifts_checked():
    fmt = FixedFormat(8, 6)
    params = random_lstm(np.random.default_rng(0), 2, 3)
    with pytest.raises(ValueError, match="row_shifts must be 12 integers"):
        quantize_lstm(**params, weight_format=fmt, row_shifts=np.zeros(11, int))
    with pytest.raises(ValueError, match="row_shifts must be from 0 to 15"):
        quantize_lstm(**params, weight_format=fmt, row_shifts=np.full(12, 16))
    with pytest.raises(ValueError, match="row_shifts must be 12 integers"):
        quantize_lstm(**params, weight_format=fmt, row_shifts=np.zeros(12))
