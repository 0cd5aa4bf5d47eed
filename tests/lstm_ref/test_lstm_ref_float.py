"""Tests of the float64 golden LSTM, :mod:`lstm_ref.float_lstm`.

The agreement with PyTorch is checked against ``tests/data/torch_lstm_vectors.npz``, made by
``scripts/gen_torch_vectors.py``; torch itself is not needed to run these tests.
"""

import math
import pathlib
import re

import numpy as np
import pytest

from lstm_ref.float_lstm import (LSTMOutput, check_lstm_params, lstm_forward, lstm_step,
                                 sigmoid)


TORCH_VECTORS_PATH = pathlib.Path(__file__).resolve().parents[1] / "data" / \
    "torch_lstm_vectors.npz"

# Both sides compute the same formulas in float64; they differ only by summation order in
# the matrix-vector products and by last-ulp differences between numpy's and torch's
# exp/tanh, i.e. a few 1e-16 per step. The LSTM does not amplify such errors (every gate is
# a contraction: |f| < 1, |tanh'| <= 1), and the largest difference seen is below 1e-15.
# 1e-12 leaves a wide margin over that, yet any real slip (a float32 intermediate, a
# swapped gate, an off-by-one in time) is many orders of magnitude larger.
TORCH_AGREEMENT_ATOL = 1e-12


def _load_torch_vectors():
    with np.load(TORCH_VECTORS_PATH, allow_pickle=False) as npz:
        return dict(npz)


TORCH_VECTORS = _load_torch_vectors()
N_TORCH_CASES = int(TORCH_VECTORS["n_cases"])


def _torch_case(case_index):
    """Return the inputs (as float64 arguments) and torch's outputs of one stored case."""
    def get(key):
        return TORCH_VECTORS[f"case{case_index}_{key}"]

    has_bias = bool(get("has_bias"))
    # The inputs are stored as float32 values exactly (see the generator); widen them.
    arguments = dict(
        x=get("x").astype(np.float64),
        weight_ih=get("weight_ih").astype(np.float64),
        weight_hh=get("weight_hh").astype(np.float64),
        bias_ih=get("bias_ih").astype(np.float64) if has_bias else None,
        bias_hh=get("bias_hh").astype(np.float64) if has_bias else None,
        h0=get("h0").astype(np.float64),
        c0=get("c0").astype(np.float64),
    )
    return arguments, get("h"), get("c")


# ---------------------------------------------------------------------------------------
# Agreement with PyTorch


@pytest.mark.parametrize("case_index", range(N_TORCH_CASES))
def test_agrees_with_torch(case_index):
    arguments, torch_h, torch_c = _torch_case(case_index)
    x = arguments.pop("x")
    h0, c0 = arguments.pop("h0"), arguments.pop("c0")

    out = lstm_forward(x, **arguments, h0=h0, c0=c0)

    assert out.h.dtype == np.float64 and out.c.dtype == np.float64
    assert out.h.shape == torch_h.shape and out.c.shape == torch_c.shape
    np.testing.assert_allclose(out.h, torch_h, rtol=0, atol=TORCH_AGREEMENT_ATOL)
    np.testing.assert_allclose(out.c, torch_c, rtol=0, atol=TORCH_AGREEMENT_ATOL)


@pytest.mark.parametrize("case_index", range(N_TORCH_CASES))
def test_lstm_step_matches_lstm_forward(case_index):
    arguments, _, _ = _torch_case(case_index)
    x = arguments.pop("x")
    h, c = arguments.pop("h0"), arguments.pop("c0")
    out = lstm_forward(x, **arguments, h0=h, c0=c)
    for t in range(x.shape[0]):
        h, c = lstm_step(x[t], h, c, **arguments)
        # Same arithmetic in the same order, so bit-identical.
        np.testing.assert_array_equal(h, out.h[t])
        np.testing.assert_array_equal(c, out.c[t])


def test_torch_vectors_cover_the_required_cases():
    """The stored cases include the shapes and regimes the comparison is meant to cover."""
    assert str(TORCH_VECTORS["torch_version"]).startswith("2.")
    sizes = []
    for case_index in range(N_TORCH_CASES):
        arguments, torch_h, torch_c = _torch_case(case_index)
        seq_len, input_size = arguments["x"].shape
        hidden_size = arguments["h0"].shape[0]
        assert torch_h.shape == torch_c.shape == (seq_len, hidden_size)
        sizes.append(dict(
            I=input_size, H=hidden_size, T=seq_len,
            scale=float(TORCH_VECTORS[f"case{case_index}_scale"]),
            has_bias=arguments["bias_ih"] is not None,
            nonzero_state=bool(np.any(arguments["h0"]) or np.any(arguments["c0"]))))
    assert N_TORCH_CASES >= 6
    assert any(s["I"] != s["H"] for s in sizes)
    assert any(s["I"] == 1 for s in sizes)
    assert any(s["H"] == 1 for s in sizes)
    assert any(s["T"] == 1 for s in sizes)
    assert any(s["T"] >= 20 for s in sizes)
    assert any(s["scale"] >= 3 for s in sizes)
    assert any(s["nonzero_state"] for s in sizes)
    assert any(not s["nonzero_state"] for s in sizes)
    assert any(not s["has_bias"] for s in sizes)
    assert max(s["H"] for s in sizes) >= 128 and max(s["I"] for s in sizes) >= 64


# ---------------------------------------------------------------------------------------
# Hand-computable cases


def test_zero_parameters_halve_the_cell_state():
    """All weights and biases zero: every z is 0, so i = f = o = 1/2 and g = tanh(0) = 0.

    Then c_t = c_{t-1}/2 + 0 = c0 / 2**t and h_t = tanh(c_t) / 2, whatever the input.
    """
    input_size, hidden_size, seq_len = 3, 4, 6
    c0 = np.array([1.0, -2.0, 8.0, 0.0])
    h0 = np.array([0.9, -0.5, 0.1, 0.3])  # irrelevant: weight_hh is zero
    x = np.random.default_rng(0).normal(size=(seq_len, input_size))
    out = lstm_forward(x, np.zeros((4 * hidden_size, input_size)),
                       np.zeros((4 * hidden_size, hidden_size)),
                       np.zeros(4 * hidden_size), np.zeros(4 * hidden_size), h0=h0, c0=c0)
    for t in range(seq_len):
        for k in range(hidden_size):
            expected_c = c0[k] / 2 ** (t + 1)
            assert out.c[t, k] == expected_c  # halving is exact in binary
            assert out.h[t, k] == pytest.approx(0.5 * math.tanh(expected_c), abs=1e-16)


def test_gate_order_and_recurrence_with_rational_gates():
    """Biases of +-ln 3 make the gates exact rationals, and each gate gets a distinct value.

    sigmoid(ln 3) = 1 / (1 + 1/3) = 3/4, sigmoid(-ln 3) = 1/4 and sigmoid(0) = 1/2. With
    I = H = 1, zero weight_hh, bias_ih = (-ln 3, ln 3, 0, 0) for gates (i, f, g, o) and a
    weight of 1 from x to g only, an input x = atanh(4/5) gives i = 1/4, f = 3/4, g = 4/5,
    o = 1/2, so

        c_t = 3/4 c_{t-1} + 1/5,   h_t = 1/2 tanh(c_t).

    From c0 = 0: c = 1/5, 7/20, 37/80. The four gates all differ, so reading the gate blocks
    in any other order than i, f, g, o changes these numbers.
    """
    log3 = math.log(3.0)
    weight_ih = np.array([[0.0], [0.0], [1.0], [0.0]])
    weight_hh = np.zeros((4, 1))
    bias_ih = np.array([-log3, log3, 0.0, 0.0])
    x = np.full((3, 1), math.atanh(0.8))

    out = lstm_forward(x, weight_ih, weight_hh, bias_ih, None)

    expected_c = [1 / 5, 7 / 20, 37 / 80]
    np.testing.assert_allclose(out.c[:, 0], expected_c, rtol=0, atol=1e-15)
    np.testing.assert_allclose(out.h[:, 0], [0.5 * math.tanh(c) for c in expected_c],
                               rtol=0, atol=1e-15)


def test_recurrent_weights_use_the_previous_hidden_state():
    """H = 1, zero input weights, and weight_hh only on g with biases as above.

    With i = 1/4, f = 3/4, o = 3/4 (biases +-ln 3) and z_g = w * h_{t-1}:
    c_t = 3/4 c_{t-1} + 1/4 tanh(w h_{t-1}),  h_t = 3/4 tanh(c_t), computed here with math.
    """
    log3 = math.log(3.0)
    recurrent_weight = 2.5
    weight_ih = np.zeros((4, 2))
    weight_hh = np.array([[0.0], [0.0], [recurrent_weight], [0.0]])
    bias_hh = np.array([-log3, log3, 0.0, log3])  # on bias_hh this time
    h_prev, c_prev = 0.6, -0.4
    out = lstm_forward(np.ones((4, 2)), weight_ih, weight_hh, None, bias_hh,
                       h0=np.array([h_prev]), c0=np.array([c_prev]))
    for t in range(4):
        c_prev = 0.75 * c_prev + 0.25 * math.tanh(recurrent_weight * h_prev)
        h_prev = 0.75 * math.tanh(c_prev)
        assert out.c[t, 0] == pytest.approx(c_prev, abs=1e-15)
        assert out.h[t, 0] == pytest.approx(h_prev, abs=1e-15)


def test_initial_state_and_bias_defaults_are_zeros():
    rng = np.random.default_rng(1)
    input_size, hidden_size, seq_len = 3, 5, 4
    x = rng.normal(size=(seq_len, input_size))
    weight_ih = rng.uniform(-0.5, 0.5, size=(4 * hidden_size, input_size))
    weight_hh = rng.uniform(-0.5, 0.5, size=(4 * hidden_size, hidden_size))
    zeros_state, zeros_bias = np.zeros(hidden_size), np.zeros(4 * hidden_size)

    explicit = lstm_forward(x, weight_ih, weight_hh, zeros_bias, zeros_bias,
                            h0=zeros_state, c0=zeros_state)
    for defaulted in (lstm_forward(x, weight_ih, weight_hh),
                      lstm_forward(x, weight_ih, weight_hh, None, None, h0=None, c0=None)):
        np.testing.assert_array_equal(defaulted.h, explicit.h)
        np.testing.assert_array_equal(defaulted.c, explicit.c)

    # h0 and c0 default independently of each other.
    c0 = rng.normal(size=hidden_size)
    np.testing.assert_array_equal(
        lstm_forward(x, weight_ih, weight_hh, c0=c0).h,
        lstm_forward(x, weight_ih, weight_hh, h0=zeros_state, c0=c0).h)
    h0 = rng.uniform(-1, 1, size=hidden_size)
    np.testing.assert_array_equal(
        lstm_forward(x, weight_ih, weight_hh, h0=h0).h,
        lstm_forward(x, weight_ih, weight_hh, h0=h0, c0=zeros_state).h)


def test_output_type_and_final_state():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(5, 2))
    weight_ih, weight_hh = rng.normal(size=(12, 2)), rng.normal(size=(12, 3))
    out = lstm_forward(x, weight_ih, weight_hh)
    assert isinstance(out, LSTMOutput)
    h_all, c_all = out
    assert h_all.shape == c_all.shape == (5, 3)
    # The final state equals four steps from the state after the first input.
    rest = lstm_forward(x[1:], weight_ih, weight_hh, h0=out.h[0], c0=out.c[0])
    np.testing.assert_array_equal(rest.h[-1], out.h[-1])
    np.testing.assert_array_equal(rest.c[-1], out.c[-1])


def test_integer_inputs_are_computed_in_float64_and_not_modified():
    x = np.array([[1, -2], [3, 0]])
    weight_ih = np.arange(-8, 8).reshape(8, 2)
    weight_hh = np.ones((8, 2), dtype=np.float32)
    x_before, weight_hh_before = x.copy(), weight_hh.copy()
    out = lstm_forward(x, weight_ih, weight_hh)
    expected = lstm_forward(x.astype(np.float64), weight_ih.astype(np.float64),
                            weight_hh.astype(np.float64))
    assert out.h.dtype == np.float64
    np.testing.assert_array_equal(out.h, expected.h)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(weight_hh, weight_hh_before)


# ---------------------------------------------------------------------------------------
# Numerical stability


def test_sigmoid_is_stable_for_large_arguments():
    # Run under -W error::RuntimeWarning, an overflow in exp would fail this test.
    z = np.array([-1e308, -1000.0, -50.0, 0.0, 50.0, 1000.0, 1e308])
    s = sigmoid(z)
    assert s[0] == 0.0 and s[1] == 0.0
    assert s[2] == pytest.approx(math.exp(-50.0), rel=1e-14)  # relative precision kept
    assert s[3] == 0.5
    assert s[5] == 1.0 and s[6] == 1.0
    np.testing.assert_allclose(s + sigmoid(-z), 1.0, rtol=0, atol=1e-16)


def test_huge_weights_saturate_without_warnings():
    """With weights of 1e4, every gate is 0 or 1 and g is +-1; nothing overflows."""
    weight_ih = 1e4 * np.array([[1.0], [-1.0], [1.0], [1.0]])
    weight_hh = np.zeros((4, 1))
    out = lstm_forward(np.array([[1.0], [1.0]]), weight_ih, weight_hh, c0=np.array([5.0]))
    # i = 1, f = 0, g = 1, o = 1: c_t = 1 and h_t = tanh(1) at every step.
    np.testing.assert_array_equal(out.c[:, 0], [1.0, 1.0])
    np.testing.assert_allclose(out.h[:, 0], [math.tanh(1.0)] * 2, rtol=0, atol=1e-16)


# ---------------------------------------------------------------------------------------
# Validation

INPUT_SIZE, HIDDEN_SIZE, SEQ_LEN = 3, 2, 4


def _valid_arguments():
    """Valid keyword arguments of lstm_forward: I = 3, H = 2, T = 4."""
    rng = np.random.default_rng(3)
    return dict(
        x=rng.normal(size=(SEQ_LEN, INPUT_SIZE)),
        weight_ih=rng.normal(size=(4 * HIDDEN_SIZE, INPUT_SIZE)),
        weight_hh=rng.normal(size=(4 * HIDDEN_SIZE, HIDDEN_SIZE)),
        bias_ih=rng.normal(size=4 * HIDDEN_SIZE),
        bias_hh=rng.normal(size=4 * HIDDEN_SIZE),
        h0=rng.normal(size=HIDDEN_SIZE),
        c0=rng.normal(size=HIDDEN_SIZE),
    )


def _starts_with_name(name, rest=""):
    """A ``match=`` pattern: the message starts with the parameter's name, then ``rest``."""
    return rf"^{re.escape(name)}\b" + rest


def test_valid_arguments_are_accepted():
    arguments = _valid_arguments()
    assert check_lstm_params(arguments["weight_ih"], arguments["weight_hh"],
                             arguments["bias_ih"], arguments["bias_hh"]) == (3, 2)
    assert check_lstm_params(arguments["weight_ih"], arguments["weight_hh"], None, None) \
        == (3, 2)
    out = lstm_forward(**arguments)
    assert out.h.shape == out.c.shape == (SEQ_LEN, HIDDEN_SIZE)


# (parameter, bad value, regular expression the rest of the message must match)
BAD_SHAPES = [
    ("weight_ih", np.zeros(8), r".*2-D.*got 1-D"),
    ("weight_ih", np.zeros((8, 3, 1)), r".*2-D.*got 3-D"),
    ("weight_ih", np.zeros((7, 3)), r".*multiple of 4.*\(7, 3\)"),
    ("weight_ih", np.zeros((0, 3)), r".*multiple of 4.*\(0, 3\)"),
    ("weight_ih", np.zeros((8, 0)), r".*input_size >= 1.*\(8, 0\)"),
    ("weight_hh", np.zeros((8, 3)), r".*\(4\*hidden_size, hidden_size\) = \(8, 2\), got \(8, 3\)"),
    ("weight_hh", np.zeros((4, 2)), r".*= \(8, 2\), got \(4, 2\)"),
    ("weight_hh", np.zeros(16), r".*2-D.*\(8, 2\).*got 1-D"),
    ("bias_ih", np.zeros(7), r".*\(4\*hidden_size,\) = \(8,\), got \(7,\)"),
    ("bias_ih", np.zeros((8, 1)), r".*\(8,\), got \(8, 1\)"),
    ("bias_hh", np.zeros(2), r".*\(8,\), got \(2,\)"),
    ("bias_hh", np.zeros((1, 8)), r".*\(8,\), got \(1, 8\)"),
    ("x", np.zeros(3), r".*2-D.*got 1-D"),
    ("x", np.zeros((2, 4, 3)), r".*2-D.*got 3-D"),
    ("x", np.zeros((4, 2)), r".*\(4, 3\).*got \(4, 2\)"),
    ("x", np.zeros((0, 3)), r".*at least one time step.*\(0, 3\)"),
    ("h0", np.zeros(3), r".*\(hidden_size,\) = \(2,\), got \(3,\)"),
    ("h0", np.zeros((1, 2)), r".*\(2,\), got \(1, 2\)"),
    ("c0", np.zeros(1), r".*\(2,\), got \(1,\)"),
    ("c0", np.zeros((2, 1)), r".*\(2,\), got \(2, 1\)"),
]


@pytest.mark.parametrize("name, bad_value, rest", BAD_SHAPES,
                         ids=[f"{name}{bad.shape}" for name, bad, _ in BAD_SHAPES])
def test_bad_shape_is_reported_with_name_and_shapes(name, bad_value, rest):
    arguments = _valid_arguments()
    arguments[name] = bad_value
    with pytest.raises(ValueError, match=_starts_with_name(name, rest)):
        lstm_forward(**arguments)


@pytest.mark.parametrize("name", ["weight_ih", "weight_hh", "bias_ih", "bias_hh"])
def test_check_lstm_params_reports_bad_shapes(name):
    arguments = _valid_arguments()
    params = {key: arguments[key] for key in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    params[name] = params[name][:-1]  # one row short
    with pytest.raises(ValueError, match=_starts_with_name(name)):
        check_lstm_params(**params)


@pytest.mark.parametrize("bad_number", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("name", ["x", "weight_ih", "weight_hh", "bias_ih", "bias_hh",
                                  "h0", "c0"])
def test_non_finite_value_is_reported_with_the_array_name(name, bad_number):
    arguments = _valid_arguments()
    arguments[name] = arguments[name].copy()
    arguments[name].flat[1] = bad_number
    with pytest.raises(ValueError, match=_starts_with_name(name, r" contains 1 NaN or Inf")):
        lstm_forward(**arguments)


@pytest.mark.parametrize("name", ["x", "weight_ih", "weight_hh", "bias_ih", "h0"])
def test_complex_arrays_are_refused(name):
    arguments = _valid_arguments()
    arguments[name] = arguments[name] + 1j
    with pytest.raises(TypeError, match=_starts_with_name(name, r" must be an array of real")):
        lstm_forward(**arguments)


@pytest.mark.parametrize("name, bad_value", [
    ("x_t", np.zeros(2)),
    ("x_t", np.zeros((1, 3))),
    ("h", np.zeros(3)),
    ("c", np.zeros((2, 1))),
    ("c", np.array([0.0, np.nan])),
])
def test_lstm_step_validates_its_arguments(name, bad_value):
    arguments = _valid_arguments()
    step_arguments = dict(x_t=arguments["x"][0], h=arguments["h0"], c=arguments["c0"],
                          weight_ih=arguments["weight_ih"], weight_hh=arguments["weight_hh"],
                          bias_ih=arguments["bias_ih"], bias_hh=arguments["bias_hh"])
    step_arguments[name] = bad_value
    with pytest.raises(ValueError, match=_starts_with_name(name)):
        lstm_step(**step_arguments)
