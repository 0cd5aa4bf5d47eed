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


def test_float_inputs_never_propagated_after_the_first_step_hold_x0():
    """theta_x above every change of x: after the dense first step no input column
    propagates, so the LSTM sees x_0 at every step."""
    rng = np.random.default_rng(5)
    params = random_lstm(rng, 4, 6)
    x = rng.uniform(-1, 1, (10, 4))
    got = delta_lstm_forward(x, **params, theta_x=2.5, theta_h=0)
    expected = lstm_forward(np.repeat(x[:1], len(x), axis=0), **params)
    assert got.x_mask[0].all() and not got.x_mask[1:].any()
    assert got.h_mask.all()
    np.testing.assert_allclose(got.h, expected.h, atol=1e-12)


@pytest.mark.parametrize("with_state", [False, True])
def test_float_first_step_is_dense_whatever_the_thresholds(with_state):
    rng = np.random.default_rng(21)
    I, H = 3, 5
    params = random_lstm(rng, I, H)
    x = rng.uniform(-0.01, 0.01, (6, I))          # every |x| far below the threshold
    state = {"h0": rng.uniform(-0.01, 0.01, H), "c0": rng.uniform(-1, 1, H)} \
        if with_state else {}
    got = delta_lstm_forward(x, **params, theta_x=1e6, theta_h=1e6, **state)
    first = lstm_forward(x[:1], **params, **state)
    assert got.x_mask[0].all() and got.h_mask[0].all()
    assert not got.x_mask[1:].any() and not got.h_mask[1:].any()
    np.testing.assert_allclose(got.h[0], first.h[0], atol=1e-12)
    np.testing.assert_allclose(got.c[0], first.c[0], atol=1e-12)


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


def direct_delta(model, matrix, x_codes, theta_x, theta_h, *, h0=None, c0=None,
                 row_shifts=None):
    """Non-incremental reference: M_t = b + W_ih x_ref_t + W_hh h_ref_t, references updated
    column by column with Python ints; the first step copies every column (dense)."""
    H = matrix.shape[0] // 4
    I = matrix.shape[1] - 1 - H
    one = 1 << model.data_format.frac_bits
    h = np.zeros(H, np.int64) if h0 is None else np.array(h0, np.int64)
    c = np.zeros(H, np.int64) if c0 is None else np.array(c0, np.int64)
    x_ref, h_ref = [int(v) for v in x_codes[0]], [int(v) for v in h]
    kinds = {"preactivation": 0, "cell": 0, "hidden": 0}
    hs, columns = [], I + H
    for t, x_t in enumerate(x_codes):
        for j in range(I if t else 0):
            if abs(int(x_t[j]) - x_ref[j]) >= theta_x:
                x_ref[j] = int(x_t[j])
                columns += 1
        for j in range(H if t else 0):
            if abs(int(h[j]) - h_ref[j]) >= theta_h:
                h_ref[j] = int(h[j])
                columns += 1
        sums = [sum(int(w) * v for w, v in zip(row, [one] + x_ref + h_ref)) for row in matrix]
        h, c = model.cell_update(np.array(sums, np.int64), c,
                                 model.narrowing(matrix, row_shifts), kinds)
        hs.append(h)
    return np.array(hs), columns, kinds


@pytest.mark.parametrize("theta_x, theta_h", [(0, 0), (40, 0), (0, 30), (200, 100), (10**6, 10**6)])
def test_fixed_delta_equals_direct_evaluation(theta_x, theta_h):
    rng = np.random.default_rng(theta_x + theta_h)
    I, H = 6, 5
    params = random_lstm(rng, I, H)
    matrix = quantize_lstm(**params, weight_format=WEIGHTS)
    x = DATA.quantize(slow_inputs(rng, 40, I))
    model = FixedDeltaLSTM(data_format=DATA, weight_format=WEIGHTS)
    got = model.run(matrix, x, theta_x=theta_x, theta_h=theta_h)
    expected_h, columns, _ = direct_delta(model, matrix, x, theta_x, theta_h)
    assert np.array_equal(got.h, expected_h)
    assert got.x_mask.sum() + got.h_mask.sum() == columns


@pytest.mark.parametrize("seed", range(8))
def test_fixed_delta_equals_direct_evaluation_random_models_and_thresholds(seed):
    """Random sizes, formats, initial state, row scales and thresholds (codes up to 2**10:
    from propagating nearly everything to nearly nothing)."""
    rng = np.random.default_rng(100 + seed)
    I, H, T = int(rng.integers(1, 6)), int(rng.integers(1, 6)), int(rng.integers(2, 30))
    params = random_lstm(rng, I, H, scale=float(rng.uniform(0.5, 3)))
    data = FixedFormat(int(rng.choice([8, 12, 16])), 0)
    data = FixedFormat(data.width, data.width - 4)
    weights = FixedFormat(int(rng.choice([4, 8, 16])), 0)
    weights = FixedFormat(weights.width, weights.width - 2)
    shifts = choose_row_shifts(**params, weight_format=weights) if seed % 2 else None
    matrix = quantize_lstm(**params, weight_format=weights, row_shifts=shifts)
    x = data.quantize(np.clip(slow_inputs(rng, T, I, step=0.3), -7, 7))
    state = {"h0": data.quantize(rng.uniform(-1, 1, H)),
             "c0": data.quantize(rng.uniform(-2, 2, H))} if seed % 3 else {}
    theta_x, theta_h = (int(v) for v in rng.integers(0, 2 ** rng.integers(0, 11, 2)))
    model = FixedDeltaLSTM(data_format=data, weight_format=weights, activation_segments=32)
    got = model.run(matrix, x, theta_x=theta_x, theta_h=theta_h, row_shifts=shifts, **state)
    expected_h, columns, kinds = direct_delta(model, matrix, x, theta_x, theta_h,
                                              row_shifts=shifts, **state)
    assert np.array_equal(got.h, expected_h)
    assert got.x_mask[0].all() and got.h_mask[0].all()
    assert got.x_mask.sum() + got.h_mask.sum() == columns
    assert got.saturations_by_kind == kinds


@pytest.mark.parametrize("with_state", [False, True])
def test_fixed_first_step_is_dense_whatever_the_thresholds(with_state):
    """Thresholds above any code difference: step 0 still propagates every column and is
    the dense model's first step bit for bit; no column propagates after it, so M stays
    the first step's and only the cell state moves."""
    rng = np.random.default_rng(31)
    I, H, T = 4, 3, 12
    params = random_lstm(rng, I, H, scale=2.0)
    matrix = quantize_lstm(**params, weight_format=WEIGHTS)
    x = DATA.quantize(rng.standard_normal((T, I)))
    state = {"h0": DATA.quantize(rng.uniform(-1, 1, H)),
             "c0": DATA.quantize(rng.uniform(-2, 2, H))} if with_state else {}
    huge = 1 << 20
    got = FixedDeltaLSTM(data_format=DATA, weight_format=WEIGHTS).run(
        matrix, x, theta_x=huge, theta_h=huge, **state)
    dense = FixedLSTM(data_format=DATA, weight_format=WEIGHTS).run(matrix, x[:1], **state)
    assert got.x_mask[0].all() and got.h_mask[0].all()
    assert not got.x_mask[1:].any() and not got.h_mask[1:].any()
    assert np.array_equal(got.h[0], dense.h[0]) and np.array_equal(got.c[0], dense.c[0])
    # Later steps: the first step's pre-activations, and the cell update from c_{t-1}.
    model = FixedLSTM(data_format=DATA, weight_format=WEIGHTS)
    one = 1 << DATA.frac_bits
    h0 = state.get("h0", np.zeros(H, np.int64))
    acc = matrix @ np.concatenate([[one], x[0], h0])
    c = state.get("c0", np.zeros(H, np.int64))
    kinds = {"preactivation": 0, "cell": 0, "hidden": 0}
    for t in range(T):
        h, c = model.cell_update(acc, c, WEIGHTS.frac_bits, kinds)
        assert np.array_equal(got.h[t], h) and np.array_equal(got.c[t], c)


def direct_float_delta(x, params, theta_x, theta_h, h0=None, c0=None):
    """Float64 reference, written out: scalar loops, M recomputed from the references."""
    w_ih, w_hh = params["weight_ih"], params["weight_hh"]
    bias = params["bias_ih"] + params["bias_hh"]
    H, I = w_hh.shape[1], w_ih.shape[1]
    h = [0.0] * H if h0 is None else [float(v) for v in h0]
    c = [0.0] * H if c0 is None else [float(v) for v in c0]
    x_ref, h_ref = [0.0] * I, [0.0] * H
    hs, x_masks, h_masks = [], [], []
    sig = lambda v: 1 / (1 + np.exp(-v))                                    # noqa: E731
    for t, x_t in enumerate(x):
        x_keep = [t == 0 or abs(x_t[j] - x_ref[j]) >= theta_x for j in range(I)]
        h_keep = [t == 0 or abs(h[j] - h_ref[j]) >= theta_h for j in range(H)]
        x_ref = [x_t[j] if x_keep[j] else x_ref[j] for j in range(I)]
        h_ref = [h[j] if h_keep[j] else h_ref[j] for j in range(H)]
        m = [bias[r] + sum(w_ih[r, j] * x_ref[j] for j in range(I))
             + sum(w_hh[r, j] * h_ref[j] for j in range(H)) for r in range(4 * H)]
        c = [sig(m[H + k]) * c[k] + sig(m[k]) * np.tanh(m[2 * H + k]) for k in range(H)]
        h = [sig(m[3 * H + k]) * np.tanh(c[k]) for k in range(H)]
        hs.append(h)
        x_masks.append(x_keep)
        h_masks.append(h_keep)
    return np.array(hs), np.array(x_masks), np.array(h_masks)


@pytest.mark.parametrize("seed", range(6))
def test_float_delta_equals_direct_evaluation_random_models_and_thresholds(seed):
    rng = np.random.default_rng(200 + seed)
    I, H, T = int(rng.integers(1, 5)), int(rng.integers(1, 5)), int(rng.integers(2, 25))
    params = random_lstm(rng, I, H, scale=2.0)
    x = slow_inputs(rng, T, I, step=0.2)
    theta_x, theta_h = rng.uniform(0, 0.5, 2)
    state = {"h0": rng.uniform(-1, 1, H), "c0": rng.uniform(-1, 1, H)} if seed % 2 else {}
    got = delta_lstm_forward(x, **params, theta_x=theta_x, theta_h=theta_h, **state)
    h, x_mask, h_mask = direct_float_delta(x, params, theta_x, theta_h, **state)
    # The masks are compared exactly: a change within rounding of the threshold would make
    # them depend on the order of float operations, which these random values avoid.
    assert np.array_equal(got.x_mask, x_mask) and np.array_equal(got.h_mask, h_mask)
    assert 0 < got.x_mask[1:].mean() + got.h_mask[1:].mean() < 2 or T == 1
    np.testing.assert_allclose(got.h, h, atol=1e-12)


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
