"""The delta LSTM (temporal sparsity): float64 and bit-accurate fixed-point models.

After Neil et al., "Delta networks for optimized recurrent network computation" (ICML 2017).
The first step of a run is dense: every input and hidden column is propagated, as in the
plain LSTM. From then on, each input column ``j`` is propagated only if it changed enough
since it was last propagated, and likewise each hidden column:

* ``dx_j = x_t[j] - x_ref[j]``, kept where ``|dx_j| >= theta_x`` (then ``x_ref[j] = x_t[j]``),
  else 0 (``x_ref[j]`` unchanged);
* ``dh_j = h_{t-1}[j] - h_ref[j]``, kept where ``|dh_j| >= theta_h`` (then ``h_ref[j] =
  h_{t-1}[j]``), else 0;
* a persistent pre-activation state ``M = M + W_ih dx + W_hh dh``, from which the gates are
  computed as in the plain LSTM.

The first step (t = 0) is this rule with both thresholds taken as 0 and the references and
``M`` starting at 0 and the bias: every column is propagated (the masks of step 0 are all
True), so after it ``x_ref = x_0``, ``h_ref = h_{-1}`` (the initial state: zeros, or ``h0``
when given) and ``M = b + W_ih x_0 + W_hh h_{-1}``, the plain LSTM's first step. This is
what the RPU's delta mode does: a run starts from its first step's full matrix-vector
product, so no reference or pre-activation state is carried from one run into the next.

``M`` always equals ``b + W_ih x_ref + W_hh h_ref``: a column skipped costs no multiply and
no weight read, and the error it leaves is bounded by the threshold. With both thresholds 0
every change is propagated and the model is the plain LSTM.

In the fixed-point model the deltas are differences of data-format codes, the thresholds are
codes, and ``M`` is kept at the accumulator's full precision (an exact integer sum), so with
thresholds 0 it equals :class:`lstm_ref.fixed_lstm.FixedLSTM` bit for bit; the gates and the
state update are :meth:`FixedLSTM.cell_update`, shared.
"""

from typing import NamedTuple

import numpy as np

from .fixed_lstm import FixedLSTM
from .float_lstm import _validated_params, _validated_state, sigmoid


__all__ = ["DeltaLSTMOutput", "FixedDeltaLSTMOutput", "delta_lstm_forward", "FixedDeltaLSTM",
           "delta_mask"]


class DeltaLSTMOutput(NamedTuple):
    h: np.ndarray        #: (T, H) hidden states
    c: np.ndarray        #: (T, H) cell states
    x_mask: np.ndarray   #: (T, I) bool: input columns propagated at each step
    h_mask: np.ndarray   #: (T, H) bool: hidden columns (of h_{t-1}) propagated at each step


class FixedDeltaLSTMOutput(NamedTuple):
    h: np.ndarray           #: (T, H) data-format codes
    c: np.ndarray           #: (T, H) cell-format codes
    saturations: int
    saturations_by_kind: dict
    x_mask: np.ndarray      #: (T, I) bool
    h_mask: np.ndarray      #: (T, H) bool


def delta_mask(value, reference, threshold):
    """Where ``|value - reference| >= threshold``: the columns a delta unit propagates."""
    return np.abs(value - reference) >= threshold


def _check_threshold(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")
    return value


def delta_lstm_forward(x, weight_ih, weight_hh, bias_ih=None, bias_hh=None, *, theta_x,
                       theta_h, h0=None, c0=None):
    """Run the float64 delta LSTM over ``x`` (T, I); the thresholds are real values (the
    first step is dense whatever they are)."""
    theta_x = _check_threshold("theta_x", theta_x)
    theta_h = _check_threshold("theta_h", theta_h)
    w_ih, w_hh, b_ih, b_hh, input_size, hidden_size = _validated_params(
        weight_ih, weight_hh, bias_ih, bias_hh)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != input_size:
        raise ValueError(f"x must have shape (T, {input_size}), not {x.shape}")
    h = _validated_state("h0", h0, hidden_size)
    c = _validated_state("c0", c0, hidden_size)
    x_ref, h_ref = np.zeros(input_size), np.zeros(hidden_size)
    memory = b_ih + b_hh
    hs, cs, x_masks, h_masks = [], [], [], []
    for step, x_t in enumerate(x):
        # The first step is dense: thresholds 0 propagate every column.
        keep_x = delta_mask(x_t, x_ref, theta_x if step else 0)
        keep_h = delta_mask(h, h_ref, theta_h if step else 0)
        dx = np.where(keep_x, x_t - x_ref, 0.0)
        dh = np.where(keep_h, h - h_ref, 0.0)
        x_ref = np.where(keep_x, x_t, x_ref)
        h_ref = np.where(keep_h, h, h_ref)
        memory = memory + w_ih @ dx + w_hh @ dh
        H = hidden_size
        i, f = sigmoid(memory[:H]), sigmoid(memory[H:2 * H])
        g, o = np.tanh(memory[2 * H:3 * H]), sigmoid(memory[3 * H:])
        c = f * c + i * g
        h = o * np.tanh(c)
        hs.append(h)
        cs.append(c)
        x_masks.append(keep_x)
        h_masks.append(keep_h)
    shape = (len(x), hidden_size)
    return DeltaLSTMOutput(np.array(hs).reshape(shape), np.array(cs).reshape(shape),
                           np.array(x_masks, bool).reshape(len(x), input_size),
                           np.array(h_masks, bool).reshape(shape))


class FixedDeltaLSTM(FixedLSTM):
    """The bit-accurate fixed-point delta LSTM (same parameters as :class:`FixedLSTM`)."""

    def run(self, matrix, x_codes, *, theta_x=0, theta_h=0, h0=None, c0=None,
            row_shifts=None):
        """Run a sequence; ``theta_x`` and ``theta_h`` are data-format codes (ints >= 0),
        applied from the second step on (the first is dense).

        Returns
        -------
        FixedDeltaLSTMOutput
        """
        for name, value in (("theta_x", theta_x), ("theta_h", theta_h)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"{name} must be an integer code >= 0, not {value!r}")
        matrix, x_codes, h, c = self.prepare(matrix, x_codes, h0, c0)
        hidden_size, input_size = len(h), x_codes.shape[1]
        narrowing = self.narrowing(matrix, row_shifts)
        one = 1 << self.data_format.frac_bits
        bias, w_ih, w_hh = matrix[:, 0], matrix[:, 1:1 + input_size], matrix[:, 1 + input_size:]
        x_ref = np.zeros(input_size, np.int64)
        h_ref = np.zeros(hidden_size, np.int64)
        memory = bias * one          # exact: M is kept at the accumulator's precision
        hs, cs, x_masks, h_masks = [], [], [], []
        kinds = {"preactivation": 0, "cell": 0, "hidden": 0}
        for step, x_t in enumerate(x_codes):
            # The first step is dense: thresholds 0 propagate every column.
            keep_x = delta_mask(x_t, x_ref, theta_x if step else 0)
            keep_h = delta_mask(h, h_ref, theta_h if step else 0)
            dx = np.where(keep_x, x_t - x_ref, 0)
            dh = np.where(keep_h, h - h_ref, 0)
            x_ref = np.where(keep_x, x_t, x_ref)
            h_ref = np.where(keep_h, h, h_ref)
            memory = memory + w_ih @ dx + w_hh @ dh
            h, c = self.cell_update(memory, c, narrowing, kinds)
            hs.append(h)
            cs.append(c)
            x_masks.append(keep_x)
            h_masks.append(keep_h)
        T = len(x_codes)
        return FixedDeltaLSTMOutput(
            np.array(hs, np.int64).reshape(T, hidden_size),
            np.array(cs, np.int64).reshape(T, hidden_size), sum(kinds.values()), kinds,
            np.array(x_masks, bool).reshape(T, input_size),
            np.array(h_masks, bool).reshape(T, hidden_size))
