"""Calibration of fixed-point formats from calibration inputs."""

import numpy as np
import pytest

from lstm_ref.fixed_lstm import choose_row_shifts, quantize_lstm, parameter_matrix
from lstm_ref.fixedpoint import FixedFormat
from lstm_ref.float_lstm import lstm_forward
from rpu.compiler.calibration import (calibrate, evaluate_formats, compensated_codes,
                                      layer_moments, EXTRA_SHIFTS)
from rpu.config import RPUConfig
from rpu.compiler import compile_stacked
from rpu.sim.session import Load, Run, simulate_session
from tests.helpers import random_lstm


def layer(rng, I, H, scale=1.0):
    return random_lstm(rng, I, H, scale=scale)


def test_calibration_removes_saturation_of_a_naive_format():
    """Inputs of magnitude ~30 saturate Q3.12 (range +-8) at the input and in the
    pre-activations; calibration moves the binary point and gets zero saturations."""
    rng = np.random.default_rng(0)
    layers = [layer(rng, 4, 6)]
    x = 30 * rng.standard_normal((25, 4))
    naive, naive_error = evaluate_formats(
        layers, x, data_format=FixedFormat(16, 12), weight_format=FixedFormat(16, 12),
        cell_format=FixedFormat(16, 12))
    assert naive["input"] > 0 and naive["preactivation"] > 0
    result = calibrate(layers, x)
    assert result.total_saturations == 0
    assert result.data_frac_bits < 12
    assert result.max_abs_error_h < naive_error
    # What calibration reports is what the formats do.
    check, error = evaluate_formats(
        layers, x, data_format=FixedFormat(16, result.data_frac_bits),
        weight_format=FixedFormat(16, result.weight_frac_bits),
        cell_format=FixedFormat(16, result.cell_frac_bits))
    assert check == result.saturations and error == result.max_abs_error_h


def test_weight_format_fits_the_largest_weight():
    rng = np.random.default_rng(1)
    layers = [layer(rng, 3, 4)]
    layers[0]["weight_hh"][0, 0] = 5.3           # needs 3 integer bits
    result = calibrate(layers, rng.standard_normal((5, 3)))
    assert result.weight_frac_bits == 12
    assert FixedFormat(16, 12).max_value >= 5.3 > FixedFormat(16, 13).max_value


def test_cell_format_gets_range_when_c_grows():
    """Gates biased open make c grow past the data range: calibration gives c fewer
    fractional bits than the data."""
    rng = np.random.default_rng(2)
    params = layer(rng, 3, 4)
    params["bias_ih"] = params["bias_ih"] + 5.0
    result = calibrate([params], rng.standard_normal((40, 3)))
    assert result.saturations["cell"] == 0
    assert result.cell_frac_bits < result.data_frac_bits


def test_calibrated_formats_run_bit_exact_on_the_rpu():
    """The calibrated weights (parameters on the code grid) compile to the calibrated codes
    and run bit exact."""
    rng = np.random.default_rng(3)
    layers = [layer(rng, 3, 5), layer(rng, 5, 4)]
    x = 20 * rng.standard_normal((6, 3))
    result = calibrate(layers, x)
    config = result.apply(RPUConfig(input_size=3, hidden_size=5, num_layers=2, pim_arrays=2,
                                    lanes_per_array=4, activation_units=1,
                                    elementwise_units=1))
    program = compile_stacked(config, list(result.layers))
    for compiled, calibrated in zip(program.matrices, result.matrices):
        np.testing.assert_array_equal(compiled, calibrated)
    codes = config.data_format.quantize(x)
    [run] = simulate_session(config, [Load(program), Run(codes)])
    expected = config.fixed_model().run_stacked(program.matrices, codes)[-1]
    np.testing.assert_array_equal(run.h, expected.h)
    assert run.saturations == 0


def test_bad_calibration_inputs():
    rng = np.random.default_rng(4)
    with pytest.raises(ValueError, match="NaN"):
        calibrate([layer(rng, 2, 2)], np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match=r"shape \(T, I\)"):
        calibrate([layer(rng, 2, 2)], [np.ones(3)])


def test_row_scales_chosen_per_row_and_run_bit_exact():
    """With row scales, each row gets the largest shift at which it does not saturate in the
    chosen weight format, or up to EXTRA_SHIFTS more where that gives the row a smaller
    expected pre-activation error; the error on the calibration inputs does not grow, and
    the calibrated program runs bit exact on the RPU."""
    rng = np.random.default_rng(5)
    layers = [layer(rng, 3, 5), layer(rng, 5, 4)]
    layers[0]["weight_ih"][2, 1] = 1.7           # one large row: 1 integer bit
    x = rng.standard_normal((6, 3))
    plain = calibrate(layers, x, weight_width=6)
    scaled = calibrate(layers, x, weight_width=6, row_scales=True)
    assert plain.row_shifts is None and "row_shifts" not in plain.to_dict()
    assert scaled.weight_frac_bits == plain.weight_frac_bits == 4
    fmt = FixedFormat(6, scaled.weight_frac_bits)
    for params, shifts in zip(layers, scaled.row_shifts):
        largest = choose_row_shifts(params["weight_ih"], params["weight_hh"],
                                    params["bias_ih"], params["bias_hh"], fmt)
        assert np.all(shifts >= largest) and np.all(shifts <= largest + EXTRA_SHIFTS)
    assert scaled.row_shifts[0][2] == 0 and scaled.row_shifts[0].max() > 0
    assert scaled.to_dict()["row_shifts"] == [s.tolist() for s in scaled.row_shifts]
    assert scaled.mean_squared_error_h < plain.mean_squared_error_h
    assert scaled.max_abs_error_h < plain.max_abs_error_h

    base = RPUConfig(input_size=3, hidden_size=5, num_layers=2, pim_arrays=2,
                     lanes_per_array=4, activation_units=1, elementwise_units=1,
                     weight_width=6)
    assert plain.apply(base).row_scales is False
    config = scaled.apply(base)
    assert config.row_scales is True and config.weight_frac_bits == 4
    program = compile_stacked(config, list(scaled.layers), row_shifts=list(scaled.row_shifts))
    for compiled, calibrated in zip(program.matrices, scaled.matrices):
        np.testing.assert_array_equal(compiled, calibrated)
    codes = config.data_format.quantize(x)
    [run] = simulate_session(config, [Load(program), Run(codes)])
    expected = config.fixed_model().run_stacked(scaled.matrices, codes,
                                                row_shifts=scaled.row_shifts)[-1]
    np.testing.assert_array_equal(run.h, expected.h)


# Weight codes ------------------------------------------------------------------------------

def _correlated_inputs(rng, steps, size):
    """Inputs with strongly correlated columns (a few shared factors), as h often is."""
    factors = rng.standard_normal((steps, 2))
    return factors @ rng.standard_normal((2, size)) + 0.1 * rng.standard_normal((steps, size))


def test_compensated_codes_without_correlations_round_to_nearest():
    """With uncorrelated inputs (diagonal moments) there is nothing to compensate: the codes
    are those of rounding to the nearest code, saturated."""
    rng = np.random.default_rng(6)
    fmt = FixedFormat(4, 2)
    matrix = 1.5 * rng.standard_normal((12, 9))          # some beyond the range
    moments = np.diag(rng.uniform(0.5, 2.0, 9))
    codes = compensated_codes(matrix, moments, np.full(12, fmt.resolution), fmt)
    np.testing.assert_array_equal(codes, fmt.quantize(matrix))


def test_compensated_codes_reduce_the_output_error():
    """On correlated inputs, compensated rounding gives a far smaller expected squared
    output error than rounding each weight to the nearest code, row by row in total; the
    codes stay in range, and the same inputs give the same codes."""
    rng = np.random.default_rng(7)
    fmt = FixedFormat(4, 2)
    v = np.hstack([np.ones((500, 1)), _correlated_inputs(rng, 500, 16)])
    moments = v.T @ v / len(v)
    matrix = 0.5 * rng.standard_normal((24, 17))
    steps = np.full(24, fmt.resolution)

    def output_error(codes):
        error = codes * fmt.resolution - matrix
        return float(np.einsum("ri,ij,rj->", error, moments, error))

    codes = compensated_codes(matrix, moments, steps, fmt)
    assert codes.min() >= fmt.min_code and codes.max() <= fmt.max_code
    assert output_error(codes) < 0.5 * output_error(fmt.quantize(matrix))
    np.testing.assert_array_equal(codes, compensated_codes(matrix, moments, steps, fmt))
    # Blocked updates give the same codes as one block (only the order of the sums differs,
    # which does not change a code here).
    many = compensated_codes(np.tile(matrix, (1, 9)), np.kron(np.eye(9), moments),
                             np.full(24, fmt.resolution), fmt)
    for block in range(9):
        np.testing.assert_array_equal(many[:, 17 * block:17 * (block + 1)], codes)


def test_layer_moments_of_the_float_lstm():
    """The moments are those of [1; x_t; h_{t-1}] (h_0 = 0) over all steps of all
    sequences, layer by layer (layer 2's x is layer 1's h)."""
    rng = np.random.default_rng(8)
    layers = [layer(rng, 3, 4), layer(rng, 4, 2)]
    x = [rng.standard_normal((5, 3)), rng.standard_normal((2, 3))]
    first, second = layer_moments(layers, x)
    vectors = ([], [])
    for sequence in x:
        h1 = lstm_forward(sequence, **layers[0]).h
        h2 = lstm_forward(h1, **layers[1]).h
        for t in range(len(sequence)):
            previous1 = h1[t - 1] if t else np.zeros(4)
            previous2 = h2[t - 1] if t else np.zeros(2)
            vectors[0].append(np.concatenate([[1.0], sequence[t], previous1]))
            vectors[1].append(np.concatenate([[1.0], h1[t], previous2]))
    for moments, v in zip((first, second), vectors):
        v = np.array(v)
        np.testing.assert_allclose(moments, v.T @ v / len(v), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("row_scales", [False, True])
def test_calibrated_layers_give_the_codes(row_scales):
    """quantize_lstm of the calibrated layers (in the weight format, with the shifts) gives
    exactly the calibrated codes; calibration is deterministic; at 16 bits the calibrated
    weights are the float ones to within a few steps."""
    rng = np.random.default_rng(9)
    layers = [layer(rng, 3, 5), layer(rng, 5, 4)]
    x = rng.standard_normal((3, 6, 3))
    for width in (4, 8, 16):
        result = calibrate(layers, x, weight_width=width, row_scales=row_scales)
        again = calibrate(layers, x, weight_width=width, row_scales=row_scales)
        assert again == result and again.to_dict() == result.to_dict()
        fmt = FixedFormat(width, result.weight_frac_bits)
        for index, (params, codes) in enumerate(zip(result.layers, result.matrices)):
            shifts = None if result.row_shifts is None else result.row_shifts[index]
            np.testing.assert_array_equal(codes, again.matrices[index])
            np.testing.assert_array_equal(
                quantize_lstm(params["weight_ih"], params["weight_hh"], params["bias_ih"],
                              params["bias_hh"], fmt, row_shifts=shifts), codes)
            assert np.all(params["bias_hh"] == 0)
        if width == 16:
            # Compensation moves a code by a few steps at most: the weights stay the model's.
            for params, calibrated in zip(layers, result.layers):
                np.testing.assert_allclose(
                    parameter_matrix(calibrated["weight_ih"], calibrated["weight_hh"],
                                     calibrated["bias_ih"], calibrated["bias_hh"]),
                    parameter_matrix(params["weight_ih"], params["weight_hh"],
                                     params["bias_ih"], params["bias_hh"]), rtol=0, atol=2 ** -8)


def test_evaluate_formats_with_given_codes():
    """evaluate_formats runs the given codes; without them, the float layers rounded to the
    nearest code; the mean squared error is that of the same run."""
    rng = np.random.default_rng(10)
    layers = [layer(rng, 3, 4)]
    x = rng.standard_normal((2, 5, 3))
    formats = dict(data_format=FixedFormat(12, 8), weight_format=FixedFormat(4, 2),
                   cell_format=FixedFormat(12, 8))
    result = calibrate(layers, x, data_width=12, weight_width=4)
    nearest = evaluate_formats(layers, x, **formats, mean_squared=True)
    given = evaluate_formats(layers, x, **formats, matrices=result.matrices,
                             mean_squared=True)
    assert evaluate_formats(layers, x, **formats) == nearest[:2]
    matrices = [quantize_lstm(p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"],
                              formats["weight_format"]) for p in layers]
    assert evaluate_formats(layers, x, **formats, matrices=matrices, mean_squared=True) \
        == nearest
    assert given != nearest
    assert 0 < given[2] <= given[1] ** 2 and 0 < nearest[2] <= nearest[1] ** 2
