"""Train the delta example's LSTMs: a four-week-ahead forecast of atmospheric CO2, dense and
delta-aware.

Run it with a Python that has torch, statsmodels and safetensors (none of them is needed to
*use* the example, only to re-train it):

    pip install torch statsmodels safetensors
    python examples/delta/train.py

The data: weekly CO2 concentrations at Mauna Loa, March 1958 to December 2001 (2284 weeks),
from flask samples of the Scripps network (Keeling and Whorf, 2004), public domain. The set
ships inside the statsmodels package (``statsmodels.datasets.co2``), so nothing is
downloaded; the 59 missing weeks are filled by linear interpolation. A slowly varying real
series: the level drifts up by about 1.5 ppm a year under a seasonal swing of about 6 ppm.

The model: the input at week t is the level above the mean of the previous 52 weeks,
standardised (I = 1); a one-layer ``torch.nn.LSTM(1, 16)`` (H = 16) reads the series week by
week, and a linear head maps h_t to the change over the next four weeks, ``co2[t + 4] -
co2[t]`` in ppm. The first 75 % of the weeks train it (windows of 104 weeks, the loss on every
week after the first 26); the last 25 % (571 weeks) are the test series, run as one sequence.

Two networks are trained, both on the training weeks only:

1. **Dense** (``model.safetensors``, ``head.npz``): ``torch.nn.LSTM`` as usual, 600 full-batch
   Adam steps from torch's initialisation. The reference the RPU computes today.
2. **Delta-aware** (``delta_model.safetensors``, ``delta_head.npz``): the dense network
   fine-tuned with the delta LSTM in the forward pass (:func:`delta_lstm`, the model of
   ``lstm_ref/delta_lstm.py`` in torch, after Neil et al., ICML 2017, and the EdgeDRNN and
   Spartus papers): an input or hidden column reaches the pre-activation memory only when it
   changed by at least ``DELTA_THETA_X`` or ``DELTA_THETA_H`` since it last did, so the
   network learns under the thresholds it will run with. (The fine-tuning applies the
   thresholds from the first step of each window on; ``lstm_ref`` and the RPU make the first
   step dense. See :func:`delta_lstm`'s ``first_step_dense``: kept so that a re-run writes
   the committed weights.) The thresholding's mask is a
   constant in the backward pass (its derivative is zero almost everywhere): the gradient
   flows through the deltas that were propagated, and through the held reference where they
   were not. An L1 penalty on the deltas, ``DELTA_L1 * mean |h_{t-1} - h_ref|``, teaches the
   hidden state to stay still. 1000 full-batch Adam steps, the learning rate from 3e-3 to 0 on
   a cosine.

Everything is seeded and deterministic on the CPU: a re-run writes the same weights on the
same torch build.

Written next to this script: ``model.safetensors`` and ``delta_model.safetensors`` (the LSTMs,
torch's key names), ``head.npz`` and ``delta_head.npz`` (``weight`` (1, H), ``bias`` (1,)),
``series.npz`` (``x`` the standardised input (2284,), ``y`` the targets in ppm (2284,) with
NaN where t + 4 is past the end, ``split`` the first test week, ``mean`` and ``std`` of the
standardisation, ``warmup``), and ``float_reference.json`` (torch's float32 test figures and
the persistence baseline's).
"""

import copy
import json
import random
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
import statsmodels.api as sm


HERE = Path(__file__).resolve().parent
SEED = 0
HIDDEN = 16
HORIZON = 4
WINDOW = 104
WARMUP = 26
EPOCHS = 600
LEARNING_RATE = 1e-2
#: Delta-aware fine-tuning: the thresholds in the forward pass (on the standardised input
#: and on h; 1024 and 512 LSBs of the Q3.12 data format), the L1 weight on the hidden
#: deltas, the steps and the initial learning rate (cosine to 0).
DELTA_THETA_X = 0.25
DELTA_THETA_H = 0.125
DELTA_L1 = 0.4
DELTA_EPOCHS = 1000
DELTA_LEARNING_RATE = 3e-3
PARAMETERS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


def series():
    data = sm.datasets.co2.load_pandas().data["co2"].interpolate().to_numpy(np.float64)
    split = int(len(data) * 0.75)
    # The level above the mean of the previous 52 weeks: the seasonal swing without the
    # upward drift (the first year uses what it has).
    trailing = np.array([data[max(0, t - 52):t].mean() if t else data[0]
                         for t in range(len(data))])
    anomaly = data - trailing
    mean, std = anomaly[:split].mean(), anomaly[:split].std()
    x = (anomaly - mean) / std
    y = np.full(len(data), np.nan)
    y[:-HORIZON] = data[HORIZON:] - data[:-HORIZON]
    return data, x, y, split, mean, std


def delta_lstm(lstm, x, theta_x, theta_h, *, first_step_dense=True):
    """The delta LSTM in torch (``lstm_ref.delta_lstm.delta_lstm_forward``, batched), with
    ``lstm``'s parameters.

    ``x`` is (B, T, I). Returns ``h`` (B, T, H), the columns propagated at each step (B, T),
    and the hidden deltas ``|h_{t-1} - h_ref|`` before thresholding (B, T, H), which the L1
    penalty sums. The masks are constants for autograd.

    ``first_step_dense``: the first step propagates every column (thresholds 0 there), as
    ``lstm_ref`` and the RPU do. False is the definition the committed delta-trained weights
    were fine-tuned with (and their float32 figures in ``float_reference.json`` measured
    with): the thresholds apply from the first step on, against references of 0, so that
    step propagates only the inputs with ``|x_0| >= theta_x`` (h starts at 0, so its
    columns add nothing to the memory there either way). Training keeps it, so that a re-run writes the
    committed weights; the two differ only in the first step of each window.
    """
    w_ih, w_hh = lstm.weight_ih_l0, lstm.weight_hh_l0
    bias = lstm.bias_ih_l0 + lstm.bias_hh_l0
    batch, steps, inputs = x.shape
    hidden = w_hh.shape[1]
    h, c = x.new_zeros(batch, hidden), x.new_zeros(batch, hidden)
    x_ref, h_ref = x.new_zeros(batch, inputs), x.new_zeros(batch, hidden)
    hs, columns, deltas = [], [], []
    for t in range(steps):
        dx, dh = x[:, t] - x_ref, h - h_ref
        dense = first_step_dense and t == 0
        keep_x = (dx.abs() >= (0 if dense else theta_x)).to(x.dtype)
        keep_h = (dh.abs() >= (0 if dense else theta_h)).to(x.dtype)
        x_ref = x_ref + keep_x * dx
        h_ref = h_ref + keep_h * dh
        memory = bias + x_ref @ w_ih.T + h_ref @ w_hh.T
        i, f, g, o = memory.chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        hs.append(h)
        columns.append(keep_x.sum(1) + keep_h.sum(1))
        deltas.append(dh.abs())
    return torch.stack(hs, 1), torch.stack(columns, 1), torch.stack(deltas, 1)


def train_dense(inputs, targets):
    lstm = torch.nn.LSTM(1, HIDDEN, batch_first=True)
    head = torch.nn.Linear(HIDDEN, 1)
    optimizer = torch.optim.Adam(list(lstm.parameters()) + list(head.parameters()),
                                 lr=LEARNING_RATE)
    for epoch in range(EPOCHS):
        optimizer.zero_grad()
        h, _ = lstm(inputs)
        loss = torch.mean((head(h)[:, WARMUP:] - targets[:, WARMUP:]) ** 2)
        loss.backward()
        optimizer.step()
        if epoch % 50 == 0:
            print(f"dense epoch {epoch}: train RMSE {loss.item() ** 0.5:.3f} ppm")
    return lstm, head


def train_delta(lstm, head, inputs, targets):
    """Fine-tune copies of the dense ``lstm`` and ``head`` with the deltas in the loop."""
    lstm, head = copy.deepcopy(lstm), copy.deepcopy(head)
    optimizer = torch.optim.Adam(list(lstm.parameters()) + list(head.parameters()),
                                 lr=DELTA_LEARNING_RATE)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, DELTA_EPOCHS)
    for epoch in range(DELTA_EPOCHS):
        optimizer.zero_grad()
        h, columns, deltas = delta_lstm(lstm, inputs, DELTA_THETA_X, DELTA_THETA_H,
                                        first_step_dense=False)
        mse = torch.mean((head(h)[:, WARMUP:] - targets[:, WARMUP:]) ** 2)
        loss = mse + DELTA_L1 * deltas[:, WARMUP:].mean()
        loss.backward()
        optimizer.step()
        schedule.step()
        if epoch % 100 == 0 or epoch == DELTA_EPOCHS - 1:
            print(f"delta epoch {epoch}: train RMSE {mse.item() ** 0.5:.3f} ppm, "
                  f"{columns[:, WARMUP:].mean().item():.2f} columns a step")
    return lstm, head


def test_rmse(prediction, y, split):
    valid = ~np.isnan(y[split:])
    error = prediction[valid][WARMUP:] - y[split:][valid][WARMUP:]
    return float(np.sqrt(np.mean(error ** 2)))


def save(lstm, head, model, head_file):
    state = {name: getattr(lstm, name).detach().clone() for name in PARAMETERS}
    save_file(state, str(HERE / model), metadata={"batch_first": "true"})
    np.savez(HERE / head_file, weight=head.weight.detach().numpy(),
             bias=head.bias.detach().numpy())


def main():
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    data, x, y, split, mean, std = series()
    starts = np.arange(0, split - HORIZON - WINDOW, 13)
    inputs = torch.tensor(np.stack([x[s:s + WINDOW] for s in starts])[..., None],
                          dtype=torch.float32)
    targets = torch.tensor(np.stack([y[s:s + WINDOW] for s in starts])[..., None],
                           dtype=torch.float32)
    lstm, head = train_dense(inputs, targets)
    delta_net, delta_head = train_delta(lstm, head, inputs, targets)
    test = torch.tensor(x[split:][None, :, None], dtype=torch.float32)
    with torch.no_grad():
        rmse = test_rmse(head(lstm(test)[0])[0, :, 0].numpy().astype(np.float64), y, split)
        h, columns, _ = delta_lstm(delta_net, test, DELTA_THETA_X, DELTA_THETA_H,
                                   first_step_dense=False)
        delta_rmse = test_rmse(delta_head(h)[0, :, 0].numpy().astype(np.float64), y, split)
        delta_columns = int(columns.sum().item())
    valid = ~np.isnan(y[split:])
    seasonal = y[split - 52:-52][valid][WARMUP:]     # last year's change, same weeks
    baseline = float(np.sqrt(np.mean((seasonal - y[split:][valid][WARMUP:]) ** 2)))
    print(f"test RMSE {rmse:.3f} ppm (last year's change as the forecast: {baseline:.3f}); "
          f"delta-trained at its training thresholds: {delta_rmse:.3f} ppm, "
          f"{delta_columns} columns")
    save(lstm, head, "model.safetensors", "head.npz")
    save(delta_net, delta_head, "delta_model.safetensors", "delta_head.npz")
    np.savez(HERE / "series.npz", x=x, y=y, split=np.int64(split), mean=mean, std=std,
             warmup=np.int64(WARMUP))
    (HERE / "float_reference.json").write_text(json.dumps({
        "torch": torch.__version__, "seed": SEED, "hidden": HIDDEN, "horizon_weeks": HORIZON,
        "epochs": EPOCHS, "test_weeks": int(len(x) - split),
        "test_rmse_ppm_float32": rmse, "seasonal_baseline_rmse_ppm": baseline,
        "delta_training": {
            "theta_x": DELTA_THETA_X, "theta_h": DELTA_THETA_H, "l1": DELTA_L1,
            "epochs": DELTA_EPOCHS, "learning_rate": DELTA_LEARNING_RATE,
            "test_rmse_ppm_float32": delta_rmse,
            "test_columns_float32": delta_columns}}, indent=2) + "\n")


if __name__ == "__main__":
    main()
