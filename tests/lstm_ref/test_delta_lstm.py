"""The delta LSTM golden models (lstm_ref.delta_lstm) against the plain LSTM and a direct
(non-incremental) evaluation."""

import numpy as np
import pytest

from lstm_ref.delta_lstm import delta_lstm_forward, FixedDeltaLSTM
from lstm_ref.fixed_lstm import FixedLSTM, quantize_lstm, choose_row_shifts
from lstm_ref.fixedpoint import FixedFormat
from lstm_ref.float_lstm import lstm_forward
from tests.helpers import random_lstm


DATA = FixedFormat(16, 12)
WEIGHTS = FixedFormat(16, 12)


def slow_inputs(rng, steps, size, *, step=0.05):
    """A slowly varying sequence: a random walk of small steps."""
    return np.cumsum(rng.normal(0, step, (steps, size)), axis=0) + rng.normal(0, 1, size)


@pytest.mark.parametrize("I, H", [(1, 1), (5, 7), (12, 4)])
def test_float_thresholds_zero_is_the_plain_lstm(I, H):
    rng = np.random.default_rng(I * 10 + H)
    params = random_lstm(rng, I, H)
    x = rng.standard_normal((25, I))
    h0, c0 = rng.uniform(-1, 1, H), rng.uniform(-1, 1, H)
    got = delta_lstm_forward(x, **params, theta_x=0, theta_h=0, h0=h0, c0=c0)
    expected = lstm_forward(x, **params, h0=h0, c0=c0)
    np.testing.assert_allclose(got.h, expected.h, atol=1e-12)
    np.testing.assert_allclose(got.c, expected.c, atol=1e-12)


def test_float_inputs_never_propagated_are_zero_inputs():
    """theta_x above every |x|: no input column ever propagates, so the LSTM sees x = 0."""
    rng = np.random.default_rng(5)
    params = random_lstm(rng, 4, 6)
    x = rng.uniform(-1, 1, (10, 4))
    got = delta_lstm_forward(x, **params, theta_x=1.5, theta_h=0)
    expected = lstm_forward(np.zeros_like(x), **params)
    assert not got.x_mask.any()
    np.testing.assert_allclose(got.h, expected.h, atol=1e-12)


@pytest.mark.parametrize("I, H, shifts", [(3, 5, False), (8, 8, True), (1, 2, False)])
def test_fixed_thresholds_zero_is_the_fixed_lstm_bit_for_bit(I, H, shifts):
    rng = np.random.default_rng(I + H)
    params = random_lstm(rng, I, H, scale=2.0)
    weights = FixedFormat(8, 6) if shifts else WEIGHTS
    row_shifts = choose_row_shifts(**params, weight_format=weights) if shifts else None
    matrix = quantize_lstm(**params, weight_format=weights, row_shifts=row_shifts)
    x = DATA.quantize(rng.standard_normal((30, I)) * 3)
    h0, c0 = DATA.quantize(rng.uniform(-1, 1, H)), DATA.quantize(rng.uniform(-2, 2, H))
    delta = FixedDeltaLSTM(data_format=DATA, weight_format=weights)
    dense = FixedLSTM(data_format=DATA, weight_format=weights)
    got = delta.run(matrix, x, h0=h0, c0=c0, row_shifts=row_shifts)
    expected = dense.run(matrix, x, h0=h0, c0=c0, row_shifts=row_shifts)
    assert np.array_equal(got.h, expected.h) and np.array_equal(got.c, expected.c)
    assert got.saturations_by_kind == expected.saturations_by_kind
    assert got.saturations > 0 or not shifts


def direct_delta(model, matrix, x_codes, theta_x, theta_h):
    """Non-incremental reference: M_t = b + W_ih x_ref_t + W_hh h_ref_t, references updated
    column by column with Python ints."""
    H = matrix.shape[0] // 4
    I = matrix.shape[1] - 1 - H
    one = 1 << model.data_format.frac_bits
    x_ref, h_ref = [0] * I, [0] * H
    h, c = np.zeros(H, np.int64), np.zeros(H, np.int64)
    kinds = {"preactivation": 0, "cell": 0, "hidden": 0}
    hs, columns = [], 0
    for x_t in x_codes:
        for j in range(I):
            if abs(int(x_t[j]) - x_ref[j]) >= theta_x:
                x_ref[j] = int(x_t[j])
                columns += 1
        for j in range(H):
            if abs(int(h[j]) - h_ref[j]) >= theta_h:
                h_ref[j] = int(h[j])
                columns += 1
        vector = np.array([one] + x_ref + h_ref, np.int64)
        h, c = model.cell_update(matrix @ vector, c, model.narrowing(matrix), kinds)
        hs.append(h)
    return np.array(hs), columns


@pytest.mark.parametrize("theta_x, theta_h", [(0, 0), (40, 0), (0, 30), (200, 100), (10**6, 10**6)])
def test_fixed_delta_equals_direct_evaluation(theta_x, theta_h):
    rng = np.random.default_rng(theta_x + theta_h)
    I, H = 6, 5
    params = random_lstm(rng, I, H)
    matrix = quantize_lstm(**params, weight_format=WEIGHTS)
    x = DATA.quantize(slow_inputs(rng, 40, I))
    model = FixedDeltaLSTM(data_format=DATA, weight_format=WEIGHTS)
    got = model.run(matrix, x, theta_x=theta_x, theta_h=theta_h)
    expected_h, columns = direct_delta(model, matrix, x, theta_x, theta_h)
    assert np.array_equal(got.h, expected_h)
    assert got.x_mask.sum() + got.h_mask.sum() == columns


def test_slow_inputs_are_sparse_and_close():
    """On a slowly varying input, a small threshold skips most columns at a small error."""
    rng = np.random.default_rng(11)
    I, H, T = 8, 16, 200
    params = random_lstm(rng, I, H)
    x = slow_inputs(rng, T, I, step=0.01)
    dense = lstm_forward(x, **params)
    delta = delta_lstm_forward(x, **params, theta_x=0.05, theta_h=0.05)
    density = (delta.x_mask.sum() + delta.h_mask.sum()) / (T * (I + H))
    assert density < 0.05
    assert np.abs(delta.h - dense.h).max() < 0.05


@pytest.mark.parametrize("bad", [-1, True, 1.5, "1"])
def test_fixed_thresholds_checked(bad):
    model = FixedDeltaLSTM(data_format=DATA, weight_format=WEIGHTS)
    matrix = quantize_lstm(**random_lstm(np.random.default_rng(0), 2, 1),
                           weight_format=WEIGHTS)
    with pytest.raises(ValueError, match="theta_x must be an integer code >= 0"):
        model.run(matrix, np.zeros((2, 2), np.int64), theta_x=bad)


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), True, None])
def test_float_thresholds_checked(bad):
    params = random_lstm(np.random.default_rng(0), 2, 1)
    with pytest.raises(ValueError, match="theta_h must be a finite number >= 0"):
        delta_lstm_forward(np.zeros((2, 2)), **params, theta_x=0, theta_h=bad)
