"""Generate ``tests/data/torch_lstm_vectors.npz``: PyTorch LSTM reference vectors.

The vectors let ``tests/test_lstm_ref_float.py`` check the numpy golden model
:mod:`lstm_ref.float_lstm` against ``torch.nn.LSTM`` without torch being a dependency of the
package or of the tests.

How to run
----------
From the repository root, in an environment that has numpy and torch (the tests used
torch 2.13.0, CPU)::

    python -m venv /tmp/venv-torch
    /tmp/venv-torch/bin/pip install numpy torch==2.13.0
    /tmp/venv-torch/bin/python scripts/gen_torch_vectors.py

It overwrites ``tests/data/torch_lstm_vectors.npz``. The output is deterministic: each case
seeds torch's generator, and torch runs single-threaded with deterministic algorithms so
that float reductions are done in the same order every time.

What is generated
-----------------
For each case ``n`` (see ``CASES``), a one-layer ``torch.nn.LSTM`` is built with torch's
default initialisation, uniform(-1/sqrt(H), 1/sqrt(H)), optionally multiplied by a scale
factor so that the saturating regions of sigmoid and tanh are exercised. Inputs are N(0, 1).
The keys are

* ``case{n}_x`` ``(T, I)``, ``case{n}_weight_ih`` ``(4H, I)``, ``case{n}_weight_hh``
  ``(4H, H)``, ``case{n}_bias_ih`` ``(4H,)``, ``case{n}_bias_hh`` ``(4H,)`` (zeros when the
  case has no bias), ``case{n}_h0`` ``(H,)``, ``case{n}_c0`` ``(H,)``: the inputs, stored as
  float32. They are *generated* in float32 (torch's default dtype) and only then converted
  to float64, so they are exactly representable in float32 and storing them as float32
  loses nothing; it halves the file size. Load them with ``.astype(np.float64)``.
* ``case{n}_has_bias`` (bool): False for a ``bias=False`` LSTM; the test then passes
  ``None`` biases to the golden model.
* ``case{n}_scale`` (float): the factor applied to torch's default weights.
* ``case{n}_h`` and ``case{n}_c`` ``(T, H)`` float64: every hidden and cell state, computed
  by torch in float64.
* ``n_cases`` (int), ``torch_version`` and ``numpy_version`` (str).

``torch.nn.LSTM`` returns every ``h_t`` but only the final ``c_T``; every ``c_t`` is
obtained by also running ``torch.nn.LSTMCell`` with the same weights one step at a time,
and by running the ``nn.LSTM`` itself one step at a time carrying ``(h, c)``. The script
checks that all three runs agree before writing anything.
"""

import pathlib
import sys

import numpy as np
import torch


OUTPUT_PATH = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / \
    "torch_lstm_vectors.npz"

# The three torch runs of one case (full sequence, step by step, LSTMCell) do the same
# float64 arithmetic, possibly in a different order; they must agree to rounding error.
RUNS_AGREEMENT_TOLERANCE = 1e-13

# (input_size, hidden_size, seq_len, weight_scale, has_bias, nonzero_initial_state, why)
CASES = [
    (3, 5, 7, 1.0, True, False, "small, I != H, zero initial state"),
    (1, 4, 25, 1.0, True, False, "I = 1, longest sequence"),
    (6, 1, 12, 1.0, True, True, "H = 1"),
    (8, 8, 1, 1.0, True, True, "T = 1, I == H"),
    (64, 16, 20, 3.0, True, True, "weights x3: sigmoid/tanh in their saturating regions"),
    (12, 10, 15, 10.0, True, False, "weights x10: deep saturation, pre-activations of tens"),
    (5, 7, 9, 1.0, False, True, "bias=False"),
    (64, 128, 4, 1.0, True, True, "largest sizes"),
]


def run_case(case_index, input_size, hidden_size, seq_len, weight_scale, has_bias,
             nonzero_initial_state):
    """Build one case's LSTM and inputs, run torch, and return the arrays to store.

    Parameters
    ----------
    case_index : int
        Index of the case, also the torch seed.
    input_size, hidden_size, seq_len : int
        ``I``, ``H`` and ``T``.
    weight_scale : float
        Factor applied to torch's default weights and biases.
    has_bias : bool
        Whether the LSTM has biases.
    nonzero_initial_state : bool
        Whether ``h0`` and ``c0`` are random rather than zero.

    Returns
    -------
    dict of str to numpy.ndarray
        The case's keys, without the ``case{n}_`` prefix.
    """
    torch.manual_seed(case_index)
    # Built in float32 so that every parameter is a float32 value (see the module
    # docstring), then scaled in float32 and only then converted to float64.
    lstm = torch.nn.LSTM(input_size, hidden_size, num_layers=1, bias=has_bias)
    with torch.no_grad():
        for parameter in lstm.parameters():
            parameter.mul_(weight_scale)
    x = torch.randn(seq_len, input_size)
    if nonzero_initial_state:
        # h is an output of o * tanh(c), so it lives in (-1, 1); c is unbounded.
        h0 = torch.rand(hidden_size) * 2 - 1
        c0 = torch.randn(hidden_size)
    else:
        h0 = torch.zeros(hidden_size)
        c0 = torch.zeros(hidden_size)

    lstm = lstm.double()
    x, h0, c0 = x.double(), h0.double(), c0.double()

    with torch.no_grad():
        # Full sequence, unbatched input (T, I); state (num_layers=1, H).
        h_all, (h_final, c_final) = lstm(x, (h0[None], c0[None]))

        # The same nn.LSTM one step at a time, to get every c_t.
        h_steps, c_steps = [], []
        h, c = h0[None], c0[None]
        for t in range(seq_len):
            _, (h, c) = lstm(x[t:t + 1], (h, c))
            h_steps.append(h[0])
            c_steps.append(c[0])
        h_steps, c_steps = torch.stack(h_steps), torch.stack(c_steps)

        # An LSTMCell sharing the weights, as an independent implementation of the step.
        cell = torch.nn.LSTMCell(input_size, hidden_size, bias=has_bias, dtype=torch.float64)
        cell.weight_ih.copy_(lstm.weight_ih_l0)
        cell.weight_hh.copy_(lstm.weight_hh_l0)
        if has_bias:
            cell.bias_ih.copy_(lstm.bias_ih_l0)
            cell.bias_hh.copy_(lstm.bias_hh_l0)
        h_cells, c_cells = [], []
        h, c = h0, c0
        for t in range(seq_len):
            h, c = cell(x[t], (h, c))
            h_cells.append(h)
            c_cells.append(c)
        h_cells, c_cells = torch.stack(h_cells), torch.stack(c_cells)

    comparisons = {
        "nn.LSTM h vs step-by-step h": (h_all, h_steps),
        "nn.LSTM h vs LSTMCell h": (h_all, h_cells),
        "step-by-step c vs LSTMCell c": (c_steps, c_cells),
        "nn.LSTM final h vs step-by-step": (h_final[0], h_steps[-1]),
        "nn.LSTM final c vs step-by-step": (c_final[0], c_steps[-1]),
    }
    for what, (a, b) in comparisons.items():
        max_difference = (a - b).abs().max().item()
        if max_difference > RUNS_AGREEMENT_TOLERANCE:
            raise RuntimeError(f"case {case_index}: torch runs disagree ({what}): "
                               f"max |difference| = {max_difference:.3g}")

    if has_bias:
        bias_ih, bias_hh = lstm.bias_ih_l0, lstm.bias_hh_l0
    else:
        bias_ih = bias_hh = torch.zeros(4 * hidden_size, dtype=torch.float64)

    def as_float32_exactly(name, tensor):
        array = tensor.detach().numpy()
        array32 = array.astype(np.float32)
        # Guards the claim that the inputs are float32 values, stored without loss.
        if not np.array_equal(array32.astype(np.float64), array):
            raise RuntimeError(f"case {case_index}: {name} is not exactly float32")
        return array32

    return {
        "x": as_float32_exactly("x", x),
        "weight_ih": as_float32_exactly("weight_ih", lstm.weight_ih_l0),
        "weight_hh": as_float32_exactly("weight_hh", lstm.weight_hh_l0),
        "bias_ih": as_float32_exactly("bias_ih", bias_ih),
        "bias_hh": as_float32_exactly("bias_hh", bias_hh),
        "h0": as_float32_exactly("h0", h0),
        "c0": as_float32_exactly("c0", c0),
        "has_bias": np.array(has_bias),
        "scale": np.array(weight_scale),
        "h": h_all.numpy().copy(),
        "c": c_cells.numpy().copy(),
    }


def main():
    """Generate every case and write :data:`OUTPUT_PATH`."""
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    arrays = {
        "n_cases": np.array(len(CASES)),
        "torch_version": np.array(torch.__version__),
        "numpy_version": np.array(np.__version__),
    }
    for case_index, (input_size, hidden_size, seq_len, weight_scale, has_bias,
                     nonzero_initial_state, why) in enumerate(CASES):
        case_arrays = run_case(case_index, input_size, hidden_size, seq_len, weight_scale,
                               has_bias, nonzero_initial_state)
        for key, value in case_arrays.items():
            arrays[f"case{case_index}_{key}"] = value
        print(f"case{case_index}: I={input_size} H={hidden_size} T={seq_len} "
              f"scale={weight_scale} bias={has_bias} nonzero_state={nonzero_initial_state}"
              f" -- {why}")
    OUTPUT_PATH.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUTPUT_PATH, **arrays)
    print(f"wrote {OUTPUT_PATH} ({OUTPUT_PATH.stat().st_size} bytes, torch {torch.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
