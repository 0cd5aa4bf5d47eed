"""Calibration of fixed-point formats from calibration inputs."""

import numpy as np
import pytest

from lstm_ref.fixed_lstm import choose_row_shifts, quantize_lstm
from lstm_ref.fixedpoint import FixedFormat
from rpu.compiler.calibration import calibrate, evaluate_formats
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
    rng = np.random.default_rng(3)
    layers = [layer(rng, 3, 5), layer(rng, 5, 4)]
    x = 20 * rng.standard_normal((6, 3))
    result = calibrate(layers, x)
    config = result.apply(RPUConfig(input_size=3, hidden_size=5, num_layers=2, pim_arrays=2,
                                    lanes_per_array=4, activation_units=1,
                                    elementwise_units=1))
    program = compile_stacked(config, layers)
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
    """With row scales, each row gets the largest shift at which it does not saturate in
    the chosen weight format; the error on the calibration inputs does not grow, and the
    calibrated program runs bit exact on the RPU."""
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
        np.testing.assert_array_equal(shifts, choose_row_shifts(
            params["weight_ih"], params["weight_hh"], params["bias_ih"], params["bias_hh"],
            fmt))
    assert scaled.row_shifts[0][2] == 0 and scaled.row_shifts[0].max() > 0
    assert scaled.to_dict()["row_shifts"] == [s.tolist() for s in scaled.row_shifts]
    assert scaled.max_abs_error_h < plain.max_abs_error_h

    base = RPUConfig(input_size=3, hidden_size=5, num_layers=2, pim_arrays=2,
                     lanes_per_array=4, activation_units=1, elementwise_units=1,
                     weight_width=6)
    assert plain.apply(base).row_scales is False
    config = scaled.apply(base)
    assert config.row_scales is True and config.weight_frac_bits == 4
    program = compile_stacked(config, layers, row_shifts=list(scaled.row_shifts))
    codes = config.data_format.quantize(x)
    [run] = simulate_session(config, [Load(program), Run(codes)])
    matrices = [quantize_lstm(p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"], fmt,
                              row_shifts=s) for p, s in zip(layers, scaled.row_shifts)]
    expected = config.fixed_model().run_stacked(matrices, codes,
                                                row_shifts=scaled.row_shifts)[-1]
    np.testing.assert_array_equal(run.h, expected.h)
