"""Delta-LSTM threshold calibration: choose ``theta_x`` and ``theta_h`` on calibration data.

In the delta mode (:mod:`lstm_ref.delta_lstm`) a column of x or h is issued only when it
changed by at least a threshold since it was last issued; the first step of a run is dense.
Every column not issued is a weight read and a MAC per lane saved. :func:`calibrate_thresholds`
runs a compiled :class:`~rpu.compiler.codegen.Program` in the bit-accurate fixed-point delta
model (:class:`lstm_ref.delta_lstm.FixedDeltaLSTM`, with the program's matrices, formats and
row scales) on calibration sequences, at every pair ``(theta_x, theta_h)`` of a grid of
power-of-two thresholds (0, 1, 2, 4, ... LSBs of the data format), and returns the pair that
saves the most x and h columns while its error against the dense fixed-point model stays
within a budget. The same thresholds apply to every layer of a stack (``theta_x`` to each
layer's input columns, ``theta_h`` to its hidden columns).

:func:`delta_report` turns the masks of a delta run into the per-step column counts the
cycle model takes.
"""

from dataclasses import dataclass, field
from numbers import Real
from typing import NamedTuple

import numpy as np

from lstm_ref.delta_lstm import FixedDeltaLSTM
from rpu.hw.delta import max_threshold


__all__ = ["DeltaCalibration", "DeltaCounts", "calibrate_thresholds", "delta_report",
           "relative_rms_error", "threshold_grid", "DEFAULT_RELATIVE_RMS_BUDGET",
           "DEFAULT_ACCURACY_BUDGET"]


#: Default budget of the default metric (:func:`relative_rms_error`): the delta model's h may
#: be off the dense fixed-point model's by 5 % of the dense h's RMS. See
#: :func:`calibrate_thresholds` for why.
DEFAULT_RELATIVE_RMS_BUDGET = 0.05
#: Default budget of a metric given as a function: 0.5, meant as percentage points of
#: accuracy lost (issue 12's default), when the function returns the loss in points.
DEFAULT_ACCURACY_BUDGET = 0.5


@dataclass(frozen=True)
class DeltaCalibration:
    """The thresholds chosen by :func:`calibrate_thresholds`, with what they give on the
    calibration sequences.

    Attributes
    ----------
    theta_x, theta_h : int
        The thresholds, data-format codes (LSBs).
    x_sparsity, h_sparsity : float
        Fraction of the x (input) and h (hidden) columns skipped, over the steps after the
        first of each sequence (the first is dense): the data-dependent sparsity. 0.0 when
        there are no such steps.
    x_sparsity_overall, h_sparsity_overall : float
        The same over every step, the dense first steps included.
    dense_columns, delta_columns : int
        x and h columns issued over every step of every sequence and layer: dense, and at
        the thresholds (the bias column is not counted in either).
    metric : float
        The metric's value at the thresholds (at most ``budget``).
    budget : float
    metric_name : str
        ``"relative_rms"`` or the function's name.
    candidates : tuple of (int, int, int, float)
        Every grid point tried: ``(theta_x, theta_h, delta_columns, metric)``.
    """

    theta_x: int
    theta_h: int
    x_sparsity: float
    h_sparsity: float
    x_sparsity_overall: float
    h_sparsity_overall: float
    dense_columns: int
    delta_columns: int
    metric: float
    budget: float
    metric_name: str
    candidates: tuple = field(default=(), repr=False)

    @property
    def saved_columns(self):
        """Columns not issued: ``dense_columns - delta_columns``."""
        return self.dense_columns - self.delta_columns

    @property
    def column_reduction(self):
        """``dense_columns / delta_columns``: how many times fewer x and h columns."""
        return self.dense_columns / self.delta_columns if self.delta_columns else float("inf")

    def to_dict(self):
        """The result as plain values (without the candidates)."""
        return {"theta_x": self.theta_x, "theta_h": self.theta_h,
                "x_sparsity": self.x_sparsity, "h_sparsity": self.h_sparsity,
                "x_sparsity_overall": self.x_sparsity_overall,
                "h_sparsity_overall": self.h_sparsity_overall,
                "dense_columns": self.dense_columns, "delta_columns": self.delta_columns,
                "saved_columns": self.saved_columns, "metric": self.metric,
                "budget": self.budget, "metric_name": self.metric_name}


class DeltaCounts(NamedTuple):
    nx: np.ndarray      #: (T,) int64: x columns issued at each step
    nh: np.ndarray      #: (T,) int64: h columns issued at each step


def threshold_grid(data_width):
    """The candidate thresholds of a ``data_width``-bit data format: 0 and the powers of two
    from 1 to ``2**(data_width - 1)`` LSBs (``data_width + 1`` values, increasing)."""
    if isinstance(data_width, bool) or not isinstance(data_width, (int, np.integer)) \
            or data_width < 1:
        raise ValueError(f"data_width must be an integer >= 1, not {data_width!r}")
    return (0,) + tuple(1 << k for k in range(int(data_width)))


def relative_rms_error(delta_h, dense_h):
    """RMS of ``delta_h - dense_h`` over every element of every sequence, relative to the RMS
    of ``dense_h`` (0.0 when both are all zero; infinite when only ``dense_h`` is).

    Parameters
    ----------
    delta_h, dense_h : sequence of numpy.ndarray
        Decoded (float) hidden states, one ``(T, H)`` array per sequence.
    """
    error = np.concatenate([np.ravel(d - r) for d, r in zip(delta_h, dense_h)])
    scale = np.concatenate([np.ravel(r) for r in dense_h])
    error_rms = float(np.sqrt(np.mean(error ** 2)))
    scale_rms = float(np.sqrt(np.mean(scale ** 2)))
    if scale_rms == 0:
        return 0.0 if error_rms == 0 else float("inf")
    return error_rms / scale_rms


def _check_program(program):
    for name in ("config", "matrices", "row_shifts"):
        if not hasattr(program, name):
            raise ValueError(f"program must be a compiled rpu.compiler.codegen.Program (with "
                             f"config, matrices and row_shifts), not {type(program).__name__}")
    if len(program.matrices) < 1:
        raise ValueError("program must hold at least one layer")
    return program


def _check_sequences(sequences, program):
    """The calibration sequences as a list of (T, I) int64 code arrays."""
    fmt = program.config.data_format
    input_size = program.matrices[0].shape[1] - 1 - program.matrices[0].shape[0] // 4
    if isinstance(sequences, np.ndarray):
        if sequences.ndim == 2:
            sequences = [sequences]
        elif sequences.ndim != 3:
            raise ValueError(f"sequences must be (T, {input_size}) or (B, T, {input_size}) "
                             f"codes, or a list of (T, {input_size}) arrays, not an array of "
                             f"shape {sequences.shape}")
    try:
        sequences = list(sequences)
    except TypeError:
        raise ValueError(f"sequences must be a list of (T, {input_size}) code arrays, not "
                         f"{type(sequences).__name__}") from None
    if not sequences:
        raise ValueError("sequences must hold at least one sequence")
    checked = []
    for index, sequence in enumerate(sequences):
        array = np.asarray(sequence)
        if array.ndim != 2 or array.shape[1] != input_size or array.shape[0] < 1:
            raise ValueError(f"sequences[{index}] must have shape (T, {input_size}) with T >= "
                             f"1, not {array.shape}")
        if array.dtype.kind not in "iu":
            raise ValueError(f"sequences[{index}] must be integer data-format codes, not "
                             f"{array.dtype}")
        if array.min() < fmt.min_code or array.max() > fmt.max_code:
            raise ValueError(f"sequences[{index}] must be codes of {fmt} ({fmt.min_code} to "
                             f"{fmt.max_code})")
        checked.append(array.astype(np.int64))
    return checked


def _check_metric(metric):
    if metric is None or (isinstance(metric, str) and metric == "relative_rms"):
        return relative_rms_error, "relative_rms", DEFAULT_RELATIVE_RMS_BUDGET
    if callable(metric):
        return metric, getattr(metric, "__name__", type(metric).__name__), \
            DEFAULT_ACCURACY_BUDGET
    raise ValueError(f"metric must be None, 'relative_rms' or a function (delta_h, dense_h) "
                     f"-> float, not {metric!r}")


def _check_budget(budget, default):
    if budget is None:
        return float(default)
    if isinstance(budget, bool) or not isinstance(budget, Real) or not np.isfinite(budget) \
            or budget < 0:
        raise ValueError(f"budget must be a finite number >= 0, not {budget!r}")
    return float(budget)


def _check_candidates(candidates, data_width):
    limit = max_threshold(data_width)
    if candidates is None:
        return threshold_grid(data_width)
    try:
        values = list(candidates)
    except TypeError:
        raise ValueError(f"candidates must be a sequence of integer thresholds, not "
                         f"{candidates!r}") from None
    if not values or any(isinstance(v, bool) or not isinstance(v, (int, np.integer))
                         or not 0 <= v <= limit for v in values):
        raise ValueError(f"candidates must be a non-empty sequence of integer thresholds from "
                         f"0 to 2**data_width - 1 = {limit}, not {candidates!r}")
    if 0 not in values:
        raise ValueError("candidates must include 0 (the dense thresholds)")
    return tuple(sorted({int(v) for v in values}))


def _run_stack(model, program, sequence, theta_x, theta_h):
    """The delta outputs of every layer of ``program`` on one sequence."""
    outputs, inputs = [], sequence
    for index, matrix in enumerate(program.matrices):
        shifts = None if program.row_shifts is None else program.row_shifts[index]
        out = model.run(matrix, inputs, theta_x=theta_x, theta_h=theta_h, row_shifts=shifts)
        outputs.append(out)
        inputs = out.h
    return outputs


def _run_pairs(model, program, sequence, thetas_x, thetas_h):
    """The delta model at P threshold pairs at once, on one sequence: the last layer's h
    codes, ``(P, T, H)``, and the x and h columns issued at each pair over every layer,
    ``(P,)``.

    The arithmetic of :meth:`FixedDeltaLSTM.run` (and its :meth:`cell_update`, shared), with
    a trailing axis of pairs on every state, so that the steps' Python loop runs once for all
    P; the tests check it against :meth:`FixedDeltaLSTM.run` pair by pair.
    """
    thetas_x = np.asarray(thetas_x, np.int64)
    thetas_h = np.asarray(thetas_h, np.int64)
    pairs = len(thetas_x)
    one = 1 << model.data_format.frac_bits
    kinds = {"preactivation": 0, "cell": 0, "hidden": 0}     # not reported
    inputs = np.repeat(sequence[:, :, None], pairs, axis=2)  # (T, I, P)
    columns = np.zeros(pairs, np.int64)
    for index, matrix in enumerate(program.matrices):
        shifts = None if program.row_shifts is None else program.row_shifts[index]
        narrowing = model.narrowing(matrix, shifts)
        if np.ndim(narrowing):
            narrowing = narrowing[:, None]
        hidden = matrix.shape[0] // 4
        input_size = matrix.shape[1] - 1 - hidden
        w_ih, w_hh = matrix[:, 1:1 + input_size], matrix[:, 1 + input_size:]
        memory = np.repeat((matrix[:, 0] * one)[:, None], pairs, axis=1)
        h = np.zeros((hidden, pairs), np.int64)
        c = np.zeros((hidden, pairs), np.int64)
        x_ref = np.zeros((input_size, pairs), np.int64)
        h_ref = np.zeros((hidden, pairs), np.int64)
        outputs = np.empty((len(sequence), hidden, pairs), np.int64)
        for step, x_t in enumerate(inputs):
            # The first step is dense: thresholds 0 propagate every column.
            keep_x = np.abs(x_t - x_ref) >= (thetas_x if step else 0)
            keep_h = np.abs(h - h_ref) >= (thetas_h if step else 0)
            dx = np.where(keep_x, x_t - x_ref, 0)
            dh = np.where(keep_h, h - h_ref, 0)
            x_ref = np.where(keep_x, x_t, x_ref)
            h_ref = np.where(keep_h, h, h_ref)
            columns += keep_x.sum(axis=0) + keep_h.sum(axis=0)
            memory = memory + w_ih @ dx + w_hh @ dh
            h, c = model.cell_update(memory, c, narrowing, kinds)
            outputs[step] = h
        inputs = outputs
    return np.moveaxis(inputs, 2, 0), columns


def _fraction_skipped(masks, first):
    """Fraction of False in the masks' rows from ``first`` on (0.0 when there are none)."""
    total = sum(mask[first:].size for mask in masks)
    kept = sum(int(mask[first:].sum()) for mask in masks)
    return 0.0 if total == 0 else 1 - kept / total


def calibrate_thresholds(*, program, sequences, budget=None, metric=None, candidates=None):
    """Choose the delta thresholds that save the most columns within an accuracy budget.

    Every pair ``(theta_x, theta_h)`` of ``candidates`` (default :func:`threshold_grid` of
    the data width: 0, 1, 2, 4, ... ``2**(data_width - 1)`` LSBs) is run on every sequence in
    the fixed-point delta model, and compared with the dense fixed-point model
    (:meth:`Program.reference`) by ``metric``. Among the pairs whose metric is at most
    ``budget``, the one with the fewest x and h columns issued wins (over every step, the
    dense first steps included, of every sequence and layer); ties go to the smaller metric,
    then the smaller ``theta_x``, then the smaller ``theta_h``. The search is exhaustive and
    deterministic: the error is not monotone in the thresholds, so no pair is pruned.

    Parameters
    ----------
    program : rpu.compiler.codegen.Program
        The compiled model: its matrices, its configuration's formats (data, weight, cell,
        activation segments) and its row scales define the fixed-point models.
    sequences : array_like of int
        Calibration inputs as data-format codes: a ``(T, I)`` array, a ``(B, T, I)`` array or
        a list of ``(T, I)`` arrays (lengths may differ). Each is a run from the zero state.
    budget : float, optional
        The largest metric value accepted (>= 0). Default: :data:`DEFAULT_RELATIVE_RMS_BUDGET`
        (0.05) for the default metric, :data:`DEFAULT_ACCURACY_BUDGET` (0.5) for a function.
    metric : None, "relative_rms" or callable, optional
        How far the delta model is from the dense one; smaller is better. Default
        (``None`` or ``"relative_rms"``): :func:`relative_rms_error` of the last layer's
        decoded h, the RMS error relative to the dense h's RMS. A function is called as
        ``metric(delta_h, dense_h)`` with two lists of decoded ``(T, H)`` float arrays of the
        last layer, one per sequence, and returns a float; for an accuracy metric, return
        the accuracy lost in percentage points (dense minus delta), so that the default
        budget of 0.5 is issue 12's "0.5 percentage points".
    candidates : sequence of int, optional
        The thresholds to try, codes from 0 to ``2**data_width - 1``; must include 0.

    Returns
    -------
    DeltaCalibration

    Raises
    ------
    ValueError
        A parameter is invalid (the message names it), or no pair is within the budget
        (possible only with a metric function that is above the budget at thresholds 0).

    Notes
    -----
    Why 5 % relative RMS of h by default. With no task metric, the only thing known is how
    far the hidden state moves from the dense model's, and the budget should stand for a
    small loss of task accuracy, as issue 12's 0.5 percentage points do. Measured on the CO2
    forecaster of ``examples/delta`` (the densely trained network, 571 test weeks and the
    training weeks, Q3.12): thresholds that leave h 5 % (RMS) off the dense fixed-point h
    (x 512, h 64 LSBs) raise the forecast RMSE by 1.2 % (test) and 2.2 % (training weeks);
    at 11 % (x 512, h 128 LSBs, the example's choice within its 10 % RMSE budget) by 4.0 %
    and 6.9 %; at 27 % by 22 % and 33 %. 5 % is so a loss of the order of 1 to 2 % of the
    task's error on that model: small, and still enough to skip 32 % of its columns there.
    The relation is the model's, not a law: give the task's own metric and budget when there
    is one.
    """
    _check_program(program)
    sequences = _check_sequences(sequences, program)
    metric_function, metric_name, default_budget = _check_metric(metric)
    budget = _check_budget(budget, default_budget)
    config = program.config
    grid = _check_candidates(candidates, int(config.data_width))

    fmt = config.data_format
    model = FixedDeltaLSTM(data_format=fmt, weight_format=config.weight_format,
                           activation_segments=config.activation_segments,
                           cell_format=config.cell_format)
    dense_h = [fmt.to_float(program.reference(sequence)[-1].h) for sequence in sequences]
    sizes = [(m.shape[1] - 1 - m.shape[0] // 4, m.shape[0] // 4) for m in program.matrices]
    steps = sum(len(sequence) for sequence in sequences)
    dense_columns = steps * sum(inputs + hidden for inputs, hidden in sizes)

    # One row of the grid (a theta_x, every theta_h) at a time: the pairs share the steps'
    # loop, and the memory is bounded by one row's outputs.
    tried, best = [], None
    for theta_x in grid:
        outputs = [_run_pairs(model, program, sequence, [theta_x] * len(grid), grid)
                   for sequence in sequences]
        for pair, theta_h in enumerate(grid):
            columns = sum(int(row_columns[pair]) for _, row_columns in outputs)
            value = metric_function([fmt.to_float(h[pair]) for h, _ in outputs], dense_h)
            if isinstance(value, bool) or not isinstance(value, Real) or np.isnan(value):
                raise ValueError(f"metric must return a number, not {value!r} (at theta_x "
                                 f"{theta_x}, theta_h {theta_h})")
            value = float(value)
            tried.append((theta_x, theta_h, columns, value))
            if value <= budget:
                key = (columns, value, theta_x, theta_h)
                if best is None or key < best:
                    best = key
    if best is None:
        raise ValueError(f"metric: no thresholds are within the budget {budget} (at thresholds "
                         f"0, {metric_name} gives {tried[0][3]}, which should be 0)")
    columns, value, theta_x, theta_h = best
    # The masks of the chosen pair, from the golden model itself.
    runs = [_run_stack(model, program, sequence, theta_x, theta_h) for sequence in sequences]
    x_masks = [out.x_mask for outputs in runs for out in outputs]
    h_masks = [out.h_mask for outputs in runs for out in outputs]
    return DeltaCalibration(
        theta_x=theta_x, theta_h=theta_h,
        x_sparsity=_fraction_skipped(x_masks, 1), h_sparsity=_fraction_skipped(h_masks, 1),
        x_sparsity_overall=_fraction_skipped(x_masks, 0),
        h_sparsity_overall=_fraction_skipped(h_masks, 0),
        dense_columns=dense_columns, delta_columns=columns, metric=value, budget=budget,
        metric_name=metric_name, candidates=tuple(tried))


def delta_report(*, x_mask, h_mask):
    """The x and h columns issued at each step of a delta run, from its masks.

    Parameters
    ----------
    x_mask : array_like of bool, (T, I)
        :attr:`lstm_ref.delta_lstm.FixedDeltaLSTMOutput.x_mask` of one layer's run.
    h_mask : array_like of bool, (T, H)
        Its ``h_mask``.

    Returns
    -------
    DeltaCounts
        ``nx[t]`` and ``nh[t]``, int64 arrays of T counts (``nx[0] = I`` and ``nh[0] = H``:
        the first step is dense).
    """
    masks = {}
    for name, mask in (("x_mask", x_mask), ("h_mask", h_mask)):
        array = np.asarray(mask)
        if array.dtype != np.bool_ or array.ndim != 2:
            raise ValueError(f"{name} must be a 2-D boolean array (steps, columns), not an "
                             f"array of shape {array.shape} and type {array.dtype}")
        masks[name] = array
    if masks["x_mask"].shape[0] != masks["h_mask"].shape[0]:
        raise ValueError(f"h_mask must have as many steps as x_mask "
                         f"({masks['x_mask'].shape[0]}), not {masks['h_mask'].shape[0]}")
    return DeltaCounts(masks["x_mask"].sum(axis=1).astype(np.int64),
                       masks["h_mask"].sum(axis=1).astype(np.int64))
