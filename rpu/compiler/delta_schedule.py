"""The expansion model of a delta program: its exact, data-dependent cycle count.

A delta program (:func:`rpu.compiler.codegen.with_delta`; the hardware is described in
:mod:`rpu.hw.delta` and :class:`rpu.hw.controller.Controller`) runs its first step as the
dense schedule and every later step ``t`` as:

* an X phase of ``I + DeltaUnit.LATENCY - 1`` cycles that takes x_t into the x delta unit;
* for each row group ``g``: a decision cycle ``d``, then its ``n_t = max(1, nx_t + nh_t)``
  list entries issued one per cycle (``nx_t`` x columns and ``nh_t`` h columns changed by at
  least their thresholds; one *null* column when none did). The group starts (``d``) at the
  earliest cycle when

  - the previous group (or the X phase) has ended: ``d >= e_prev + 1``;
  - the cell engine will have finished the previous group when this one's results arrive:
    its last column ``d + n_t`` is at least ``engine_cycles + 1`` after the previous
    group's last column ``e_prev``;
  - for group 0, the h list of h_{t-1} is complete: ``d >= w + 2``, ``w`` being the cycle in
    which the engine writes step t-1's last h (:meth:`Schedule.emit_cycle`'s rule).

The counts ``nx_t`` and ``nh_t`` are those of the bit-accurate delta model
(:meth:`lstm_ref.delta_lstm.FixedDeltaLSTM.run`'s ``x_mask`` and ``h_mask``), so the cycle
count is exact given the inputs; :func:`delta_bound` gives the bound with every column
listed, :func:`delta_estimate` the count at a stated sparsity.
"""

from dataclasses import dataclass

import numpy as np

from rpu.compiler.schedule import LANE_TO_ENGINE
from rpu.hw.delta import DeltaUnit
from rpu.hw.top import ACTIVITY_COUNTERS, STATUS_LATENCY


__all__ = ["DeltaTiming", "delta_timing", "delta_bound", "delta_estimate", "column_counts"]


@dataclass(frozen=True)
class DeltaTiming:
    """The exact timing and activity of a delta run.

    Attributes
    ----------
    total_cycles : int
        Cycles from the start cycle through the transfer of the last h (as
        :meth:`Schedule.total_cycles`), with the x stream always valid and the h stream
        always ready.
    run_cycles : int
        The RPU's ``cycles`` counter after the run (as :meth:`Schedule.run_cycles`).
    activity : dict
        The RPU's activity counters after the run.
    dense_columns : int
        Columns a dense run of the same program issues (every group, every step).
    """
    total_cycles: int
    run_cycles: int
    activity: dict
    dense_columns: int

    @property
    def columns(self):
        """Columns issued (each one weight read and one MAC per lane)."""
        return self.activity["columns"]


def column_counts(x_mask, h_mask):
    """Per step, the x and the h columns a delta step lists: ``(nx, nh)`` int arrays from
    the masks of :meth:`lstm_ref.delta_lstm.FixedDeltaLSTM.run` (step 0, which is dense,
    included)."""
    x_mask, h_mask = np.asarray(x_mask, bool), np.asarray(h_mask, bool)
    if x_mask.ndim != 2 or h_mask.ndim != 2 or len(x_mask) != len(h_mask):
        raise ValueError(f"x_mask and h_mask must be (T, I) and (T, H) for the same T, not "
                         f"{x_mask.shape} and {h_mask.shape}")
    return x_mask.sum(axis=1).astype(np.int64), h_mask.sum(axis=1).astype(np.int64)


def _check_counts(schedule, nx, nh):
    if len(schedule.layers) != 1:
        raise ValueError("a delta program runs one layer")
    nx, nh = np.asarray(nx), np.asarray(nh)
    if nx.ndim != 1 or nx.shape != nh.shape or len(nx) < 1:
        raise ValueError(f"nx and nh must be 1-D of one length T >= 1, not {nx.shape} and "
                         f"{nh.shape}")
    layer = schedule.layers[0]
    if (nx < 0).any() or (nx > layer.input_size).any() or (nh < 0).any() \
            or (nh > layer.hidden_size).any():
        raise ValueError(f"nx must be from 0 to {layer.input_size} and nh from 0 to "
                         f"{layer.hidden_size}")
    return [int(v) for v in nx], [int(v) for v in nh]


def delta_timing(schedule, nx, nh, *, keep_state=False):
    """The exact cycles and activity of a delta run of ``schedule`` (one layer).

    Parameters
    ----------
    schedule : Schedule
        The program's schedule.
    nx, nh : sequence of int
        Per step, the x and h columns the delta units list (:func:`column_counts`); step 0
        is dense whatever its entries say.
    keep_state : bool
        The run starts from the state the previous run left (step 0 then reads h_{t-1}).

    Returns
    -------
    DeltaTiming
    """
    nx, nh = _check_counts(schedule, nx, nh)
    layer = schedule.layers[0]
    I, H, G, U = layer.input_size, layer.hidden_size, layer.groups, schedule.units_per_group
    E = schedule.engine_cycles
    T = len(nx)
    # Cycles from a group's last column to the engine's write of its unit u's h.
    to_emit = LANE_TO_ENGINE + schedule.emit_offset
    last_unit = H - 1 - (G - 1) * U
    x_phase = I + DeltaUnit.LATENCY - 1

    # Step 0: the dense schedule.
    last_column = [schedule._group_start(0, 0, g) + layer.columns - 1 for g in range(G)]
    e_prev = last_column[-1]
    end_of_step = 1 + schedule.step_cycles          # the cycle after step 0's last period
    for t in range(1, T):
        n = max(1, nx[t] + nh[t])
        written = e_prev + to_emit + last_unit     # step t-1's last h
        ready = end_of_step + x_phase              # first WAIT cycle
        for g in range(G):
            d = max(ready, e_prev + 1 + E - n)
            if g == 0:
                d = max(d, written + 2)
            e_prev = d + n
            ready = e_prev + 1
        end_of_step = e_prev + 1
    emitted = e_prev + to_emit + last_unit
    total = emitted + 2
    engine_done = e_prev + LANE_TO_ENGINE + E - 1
    run_cycles = max(engine_done, total - 1) + STATUS_LATENCY

    counts = schedule.activity(T, keep_state=keep_state)
    dense_columns = counts["columns"]
    listed = sum(nx[1:]) + sum(nh[1:])
    counts["columns"] = G * layer.columns + G * listed
    counts["x_reads"] = (G - 1) * I + G * sum(nx[1:])
    counts["h_reads"] = (G * H if keep_state else 0) + G * sum(nh[1:])
    assert set(counts) == set(ACTIVITY_COUNTERS)
    return DeltaTiming(total, run_cycles, counts, dense_columns)


def delta_bound(schedule, steps):
    """The delta timing with every column listed in every step: the most cycles a delta
    run of ``steps`` steps takes, whatever its data."""
    layer = schedule.layers[0]
    return delta_timing(schedule, [layer.input_size] * steps, [layer.hidden_size] * steps)


def delta_estimate(schedule, steps, *, x_sparsity, h_sparsity):
    """The delta timing when a fraction ``x_sparsity`` of the x columns and ``h_sparsity``
    of the h columns are skipped in every step after the first (rounded to whole columns):
    an estimate, not a prediction."""
    for name, value in (("x_sparsity", x_sparsity), ("h_sparsity", h_sparsity)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) \
                or not 0 <= value <= 1:
            raise ValueError(f"{name} must be a number from 0 to 1, not {value!r}")
    layer = schedule.layers[0]
    nx = round((1 - x_sparsity) * layer.input_size)
    nh = round((1 - h_sparsity) * layer.hidden_size)
    return delta_timing(schedule, [nx] * steps, [nh] * steps)
