"""Compiling with per-row scales: the shifts a Program carries, its matrices, the scale words
of its weight image, and the errors naming ``row_shifts``."""

import re

import numpy as np
import pytest

from lstm_ref.fixed_lstm import quantize_lstm, choose_row_shifts
from rpu.config import RPUConfig
from rpu.compiler import compile_lstm, compile_stacked, plan_layer_by_layer
from tests.compiler.weights import random_weights


SMALL = dict(input_size=5, hidden_size=7, pim_arrays=2, lanes_per_array=4,
             activation_units=1, elementwise_units=2)


def test_auto_shifts_and_matrices():
    config = RPUConfig(**SMALL, weight_width=8, row_scales=True)
    weights = random_weights(np.random.default_rng(0), 5, 7)
    program = compile_lstm(config, **weights, row_shifts="auto")
    args = (weights["weight_ih"], weights["weight_hh"], weights["bias_ih"], weights["bias_hh"],
            config.weight_format)
    shifts = choose_row_shifts(*args)
    [got] = program.row_shifts
    np.testing.assert_array_equal(got, shifts)
    np.testing.assert_array_equal(program.matrix, quantize_lstm(*args, row_shifts=shifts))
    # The default: scales of 0, the plain matrix.
    plain = compile_lstm(config, **weights)
    assert plain.row_shifts[0].tolist() == [0] * 28
    np.testing.assert_array_equal(plain.matrix, quantize_lstm(*args))
    # Without row_scales, no shifts at all.
    assert compile_lstm(RPUConfig(**SMALL), **weights).row_shifts is None


def test_weight_image_holds_the_scale_words():
    """Lane gate*U + u holds, at weight_depth + layer * max_groups + group, the shift of row
    gate*H + group*U + u: the low 4 bits of its weight word (a signed code)."""
    config = RPUConfig(**dict(SMALL, num_layers=2, input_size=5), weight_width=4,
                       row_scales=True)
    rng = np.random.default_rng(1)
    layers = [random_weights(rng, 5, 7), random_weights(rng, 7, 6)]
    shifts = [rng.integers(0, 16, 28), rng.integers(0, 16, 24)]
    program = compile_stacked(config, layers, row_shifts=shifts)
    image = program.weight_image
    U, depth, groups = config.units_per_group, config.weight_depth, config.max_groups
    assert image.shape == (2, depth + 2 * groups, 4)
    assert config.max_groups == 4
    seen = 0
    for position, H in enumerate((7, 6)):
        for array in range(2):
            for lane in range(4):
                gate, u = divmod(array * 4 + lane, U)
                for group in range(groups):
                    word = int(image[array, depth + position * groups + group, lane])
                    assert -8 <= word <= 7             # a 4-bit weight code
                    unit = group * U + u
                    want = int(shifts[position][gate * H + unit]) if unit < H else 0
                    assert word & 0xF == want
                    seen += unit < H
    assert seen == 28 + 24
    # The weights themselves are where they are without scales.
    plain = compile_stacked(RPUConfig(**dict(SMALL, num_layers=2), weight_width=4), layers)
    assert not np.array_equal(program.matrices[0], plain.matrices[0])
    unscaled = compile_stacked(config, layers)
    np.testing.assert_array_equal(unscaled.weight_image[:, :depth], plain.weight_image)
    assert not unscaled.weight_image[:, depth:].any()


def test_layer_by_layer_keeps_each_layers_shifts():
    config = RPUConfig(**dict(SMALL, num_layers=2), weight_width=8, row_scales=True)
    rng = np.random.default_rng(2)
    layers = [random_weights(rng, 5, 7), random_weights(rng, 7, 6)]
    program = compile_stacked(config, layers, row_shifts="auto")
    parts = plan_layer_by_layer(program)
    for position, part in enumerate(parts):
        [shifts] = part.row_shifts
        np.testing.assert_array_equal(shifts, program.row_shifts[position])
        assert part.weight_image is program.weight_image


@pytest.mark.parametrize("row_shifts, message", [
    ("best", "row_shifts must be 'auto', None or one array of shifts per layer, not 'best'"),
    ([np.zeros(28, int)] * 2, "row_shifts must be 'auto', None or a list of 1 arrays of "
                              "shifts (one per layer)"),
    ([np.zeros(27, int)], "row_shifts[0]: row_shifts must be 28 integers"),
    ([np.full(28, 16)], "row_shifts[0]: row_shifts must be from 0 to 15"),
    ([np.full(28, -1)], "row_shifts[0]: row_shifts must be from 0 to 15"),
    ([np.zeros(28)], "row_shifts[0]: row_shifts must be 28 integers"),
])
def test_bad_row_shifts_are_named(row_shifts, message):
    config = RPUConfig(**SMALL, row_scales=True)
    weights = random_weights(np.random.default_rng(3), 5, 7)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        compile_stacked(config, [weights], row_shifts=row_shifts)


@pytest.mark.parametrize("row_shifts", ["auto", [np.zeros(28, int)]])
def test_row_shifts_refused_without_row_scales(row_shifts):
    weights = random_weights(np.random.default_rng(4), 5, 7)
    with pytest.raises(ValueError, match="^row_shifts needs an RPU with row_scales"):
        compile_stacked(RPUConfig(**SMALL), [weights], row_shifts=row_shifts)
    with pytest.raises(ValueError, match="^row_shifts needs an RPU with row_scales"):
        compile_lstm(RPUConfig(**SMALL), **weights, row_shifts="auto")
