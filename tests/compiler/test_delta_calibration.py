"""Delta threshold calibration (rpu.compiler.delta_calibration) against a brute-force search
written out here, and delta_report against counts of the masks."""

import itertools

import numpy as np
import pytest

from lstm_ref.delta_lstm import FixedDeltaLSTM
from rpu.compiler import compile_lstm, compile_stacked
from rpu.compiler.delta_calibration import (calibrate_thresholds, delta_report,
                                            threshold_grid, relative_rms_error,
                                            DEFAULT_RELATIVE_RMS_BUDGET)
from rpu.config import RPUConfig
from tests.helpers import random_lstm, random_stack


def small_program(seed=1, *, row_scales=False, I=2, H=3):
    rng = np.random.default_rng(seed)
    params = random_lstm(rng, I, H, scale=3.0)
    config = RPUConfig(input_size=I, hidden_size=H, data_width=8, weight_width=8,
                       activation_segments=8, row_scales=row_scales)
    program = compile_lstm(config, **params, row_shifts="auto" if row_scales else None)
    x = np.clip(np.cumsum(rng.normal(0, 0.15, (2, 25, I)), axis=1), -3, 3)
    return program, config.data_format.quantize(x)


def brute_force(program, sequences, budget, grid):
    """Every pair of the grid, written out: the delta model layer by layer against the
    dense model (FixedDeltaLSTM at thresholds 0 is the dense model, tested in
    tests/lstm_ref), the relative RMS error of h in plain numpy; the fewest columns within
    the budget, ties to the smaller error, then the smaller thresholds."""
    config = program.config
    model = FixedDeltaLSTM(data_format=config.data_format, weight_format=config.weight_format,
                           activation_segments=config.activation_segments,
                           cell_format=config.cell_format)
    shifts = program.row_shifts[0] if program.row_shifts is not None else None
    scale = 2.0 ** -config.data_format.frac_bits
    dense = [model.run(program.matrix, s, row_shifts=shifts).h * scale for s in sequences]
    dense_rms = np.sqrt(np.mean(np.concatenate([d.ravel() for d in dense]) ** 2))
    table = {}
    for theta_x, theta_h in itertools.product(grid, grid):
        outs = [model.run(program.matrix, s, theta_x=theta_x, theta_h=theta_h,
                          row_shifts=shifts) for s in sequences]
        error = np.concatenate([(o.h * scale - d).ravel() for o, d in zip(outs, dense)])
        columns = sum(int(o.x_mask.sum()) + int(o.h_mask.sum()) for o in outs)
        table[theta_x, theta_h] = (columns, np.sqrt(np.mean(error ** 2)) / dense_rms, outs)
    within = [(columns, error, pair) for pair, (columns, error, _) in table.items()
              if error <= budget]
    return min(within), table


@pytest.mark.parametrize("row_scales, budget", [(False, 0.1), (True, 0.1), (False, 0.3)])
def test_the_choice_is_the_best_pair_of_the_grid_within_the_budget(row_scales, budget):
    program, codes = small_program(row_scales=row_scales)
    result = calibrate_thresholds(program=program, sequences=codes, budget=budget)
    (columns, error, pair), table = brute_force(program, codes, budget, threshold_grid(8))
    assert (result.theta_x, result.theta_h) == pair
    assert result.delta_columns == columns
    assert result.metric == pytest.approx(error, rel=1e-12, abs=1e-15)
    assert result.metric <= budget
    # Not a corner of the grid: thresholds matter, and the budget binds.
    assert pair != (0, 0) and columns < table[1, 1][0]
    assert any(c < columns for c, e, _ in table.values())
    # The counts and sparsities, from the brute force's masks.
    outs = table[pair][2]
    steps = sum(len(s) for s in codes)
    assert result.dense_columns == steps * (2 + 3)
    x_later = np.concatenate([o.x_mask[1:] for o in outs])
    h_later = np.concatenate([o.h_mask[1:] for o in outs])
    assert result.x_sparsity == pytest.approx(1 - x_later.mean())
    assert result.h_sparsity == pytest.approx(1 - h_later.mean())
    assert result.x_sparsity_overall == pytest.approx(
        1 - np.concatenate([o.x_mask for o in outs]).mean())
    assert result.h_sparsity_overall == pytest.approx(
        1 - np.concatenate([o.h_mask for o in outs]).mean())
    assert result.saved_columns == result.dense_columns - columns
    assert len(result.candidates) == len(threshold_grid(8)) ** 2


def test_the_default_budget_and_the_candidates_tried():
    program, codes = small_program(seed=2)
    result = calibrate_thresholds(program=program, sequences=codes)
    assert result.budget == DEFAULT_RELATIVE_RMS_BUDGET and result.metric_name == "relative_rms"
    assert result.metric <= DEFAULT_RELATIVE_RMS_BUDGET
    best = min((c, m, x, h) for x, h, c, m in result.candidates if m <= result.budget)
    assert (result.theta_x, result.theta_h) == best[2:]
    assert threshold_grid(8) == (0, 1, 2, 4, 8, 16, 32, 64, 128)


@pytest.mark.parametrize("seed", [1, 3])
def test_budget_zero_reproduces_the_dense_result(seed):
    program, codes = small_program(seed=seed)
    result = calibrate_thresholds(program=program, sequences=codes, budget=0)
    assert result.metric == 0
    config = program.config
    model = FixedDeltaLSTM(data_format=config.data_format, weight_format=config.weight_format,
                           activation_segments=config.activation_segments)
    for sequence in codes:
        dense = program.reference(sequence)[-1]
        delta = model.run(program.matrix, sequence, theta_x=result.theta_x,
                          theta_h=result.theta_h)
        assert np.array_equal(delta.h, dense.h) and np.array_equal(delta.c, dense.c)
    # Unchanged columns cost no error: threshold 1 code already skips them.
    assert result.delta_columns < result.dense_columns


def test_a_metric_function_and_a_stack():
    """A stack: the thresholds apply to every layer; the metric gets the last layer's
    decoded h, one array per sequence."""
    rng = np.random.default_rng(7)
    layers = random_stack(rng, 2, [3, 2], scale=3.0)
    config = RPUConfig(input_size=2, hidden_size=3, num_layers=2, data_width=8,
                       weight_width=8, activation_segments=8)
    program = compile_stacked(config, layers)
    codes = config.data_format.quantize(
        np.clip(np.cumsum(rng.normal(0, 0.2, (2, 15, 2)), axis=1), -3, 3))
    seen = []

    def max_error(delta_h, dense_h):
        seen.append([d.shape for d in delta_h])
        return max(float(np.abs(d - r).max()) for d, r in zip(delta_h, dense_h))

    grid = (0, 2, 8)
    result = calibrate_thresholds(program=program, sequences=list(codes), metric=max_error,
                                  budget=0.25, candidates=grid)
    assert result.metric_name == "max_error" and result.budget == 0.25
    assert all(shapes == [(15, 2), (15, 2)] for shapes in seen) and len(seen) == 9
    model = FixedDeltaLSTM(data_format=config.data_format, weight_format=config.weight_format,
                           activation_segments=8)
    scale = 2.0 ** -config.data_format.frac_bits
    best = None
    for theta_x, theta_h in itertools.product(grid, grid):
        columns, errors = 0, []
        for sequence in codes:
            inputs, dense = sequence, sequence
            for matrix in program.matrices:
                out = model.run(matrix, inputs, theta_x=theta_x, theta_h=theta_h)
                ref = model.run(matrix, dense)
                columns += int(out.x_mask.sum() + out.h_mask.sum())
                inputs, dense = out.h, ref.h
            errors.append(np.abs(inputs - dense).max() * scale)
        if max(errors) <= 0.25:
            best = min(best or (columns, max(errors), theta_x, theta_h),
                       (columns, max(errors), theta_x, theta_h))
    assert (result.delta_columns, result.theta_x, result.theta_h) == \
        (best[0], best[2], best[3])
    assert result.dense_columns == 2 * 15 * ((2 + 3) + (3 + 2))


def test_relative_rms_error():
    dense = [np.array([[3.0, 4.0]]), np.array([[0.0, 0.0]])]
    delta = [np.array([[3.0, 3.0]]), np.array([[0.0, 1.0]])]
    # error RMS sqrt(2/4), dense RMS sqrt(25/4)
    assert relative_rms_error(delta, dense) == pytest.approx(np.sqrt(2 / 25))
    assert relative_rms_error(dense, dense) == 0.0
    zero = [np.zeros((2, 2))]
    assert relative_rms_error(zero, zero) == 0.0
    assert relative_rms_error([np.ones((2, 2))], zero) == float("inf")


@pytest.mark.parametrize("kwargs, message", [
    ({"budget": -0.1}, "budget must be a finite number >= 0"),
    ({"budget": float("nan")}, "budget must be a finite number >= 0"),
    ({"budget": True}, "budget must be a finite number >= 0"),
    ({"budget": "1"}, "budget must be a finite number >= 0"),
    ({"metric": "accuracy"}, "metric must be None, 'relative_rms' or a function"),
    ({"candidates": (1, 2)}, "candidates must include 0"),
    ({"candidates": (0, 256)}, "candidates must be a non-empty sequence of integer "
                               "thresholds from 0 to 2\\*\\*data_width - 1 = 255"),
    ({"candidates": (0, 1.5)}, "candidates must be a non-empty sequence"),
    ({"candidates": ()}, "candidates must be a non-empty sequence"),
    ({"candidates": 3}, "candidates must be a sequence of integer thresholds"),
    ({"sequences": np.zeros((4, 3), np.int64)}, r"sequences\[0\] must have shape \(T, 2\)"),
    ({"sequences": np.zeros((0, 2), np.int64)}, r"sequences\[0\] must have shape \(T, 2\)"),
    ({"sequences": np.zeros((4, 2))}, r"sequences\[0\] must be integer data-format codes"),
    ({"sequences": np.full((4, 2), 128)}, r"sequences\[0\] must be codes of Q3.4"),
    ({"sequences": []}, "sequences must hold at least one sequence"),
    ({"sequences": np.zeros((1, 2, 3, 2), np.int64)}, "sequences must be"),
    ({"sequences": 5}, "sequences must be a list"),
    ({"program": "model"}, "program must be a compiled"),
])
def test_bad_parameters_raise_naming_them(kwargs, message):
    program, codes = small_program()
    arguments = {"program": program, "sequences": codes, **kwargs}
    with pytest.raises(ValueError, match=message):
        calibrate_thresholds(**arguments)


def test_parameters_are_keyword_only():
    program, codes = small_program()
    with pytest.raises(TypeError):
        calibrate_thresholds(program, codes)                    # noqa: the point of the test


def test_no_pair_within_the_budget_raises():
    program, codes = small_program()
    with pytest.raises(ValueError, match="metric: no thresholds are within the budget"):
        calibrate_thresholds(program=program, sequences=codes, metric=lambda d, r: 1.0,
                             budget=0.5, candidates=(0, 4))


@pytest.mark.parametrize("value", [float("nan"), None, "0.1", True])
def test_a_metric_that_returns_no_number_raises(value):
    program, codes = small_program()
    with pytest.raises(ValueError, match="metric must return a number"):
        calibrate_thresholds(program=program, sequences=codes, metric=lambda d, r: value,
                             candidates=(0, 4))


def test_delta_report_counts_the_masks_per_step():
    program, codes = small_program(seed=4)
    config = program.config
    model = FixedDeltaLSTM(data_format=config.data_format, weight_format=config.weight_format,
                           activation_segments=8)
    out = model.run(program.matrix, codes[0], theta_x=2, theta_h=2)
    counts = delta_report(x_mask=out.x_mask, h_mask=out.h_mask)
    assert counts.nx.dtype == np.int64 and counts.nh.dtype == np.int64
    assert counts.nx.shape == counts.nh.shape == (25,)
    for t in range(25):
        assert counts.nx[t] == sum(bool(v) for v in out.x_mask[t])
        assert counts.nh[t] == sum(bool(v) for v in out.h_mask[t])
    assert counts.nx[0] == 2 and counts.nh[0] == 3          # the dense first step
    assert 0 < counts.nx.sum() + counts.nh.sum() < 25 * 5


@pytest.mark.parametrize("kwargs, message", [
    ({"x_mask": np.ones((3, 2), int)}, "x_mask must be a 2-D boolean array"),
    ({"h_mask": np.ones(3, bool)}, "h_mask must be a 2-D boolean array"),
    ({"h_mask": np.ones((4, 3), bool)}, "h_mask must have as many steps as x_mask"),
])
def test_delta_report_checks_its_masks(kwargs, message):
    arguments = {"x_mask": np.ones((3, 2), bool), "h_mask": np.ones((3, 3), bool), **kwargs}
    with pytest.raises(ValueError, match=message):
        delta_report(**arguments)


@pytest.mark.parametrize("seed", range(4))
def test_the_grid_runner_is_the_delta_model_pair_by_pair(seed):
    """The calibration runs a row of the grid at once (_run_pairs): its h and column counts
    equal FixedDeltaLSTM.run's at each pair, on random stacks with and without row scales."""
    from rpu.compiler.delta_calibration import _run_pairs
    rng = np.random.default_rng(50 + seed)
    I = int(rng.integers(1, 4))
    hidden = [int(v) for v in rng.integers(1, 5, 1 + seed % 2)]
    layers = random_stack(rng, I, hidden, scale=3.0)
    config = RPUConfig(input_size=I, hidden_size=max(hidden), num_layers=len(hidden),
                       data_width=10, weight_width=8, activation_segments=16,
                       row_scales=bool(seed % 2))
    program = compile_stacked(config, layers, row_shifts="auto" if seed % 2 else None)
    codes = config.data_format.quantize(
        np.clip(np.cumsum(rng.normal(0, 0.2, (12, I)), axis=0), -6, 6))
    thetas_x = [int(v) for v in rng.integers(0, 64, 5)]
    thetas_h = [int(v) for v in rng.integers(0, 64, 5)]
    h, columns = _run_pairs(FixedDeltaLSTM(data_format=config.data_format,
                                           weight_format=config.weight_format,
                                           activation_segments=16),
                            program, codes, thetas_x, thetas_h)
    model = FixedDeltaLSTM(data_format=config.data_format, weight_format=config.weight_format,
                           activation_segments=16)
    for pair, (theta_x, theta_h) in enumerate(zip(thetas_x, thetas_h)):
        inputs, count = codes, 0
        for index, matrix in enumerate(program.matrices):
            out = model.run(matrix, inputs, theta_x=theta_x, theta_h=theta_h,
                            row_shifts=None if program.row_shifts is None
                            else program.row_shifts[index])
            count += int(out.x_mask.sum() + out.h_mask.sum())
            inputs = out.h
        assert np.array_equal(h[pair], inputs)
        assert columns[pair] == count
