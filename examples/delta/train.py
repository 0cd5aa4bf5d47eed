"""Train the delta example's LSTM: a four-week-ahead forecast of atmospheric CO2.

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
standardised (I = 1); a one-layer
``torch.nn.LSTM(1, 16)`` (H = 16) reads the series week by week, and a linear head maps h_t
to the change over the next four weeks, ``co2[t + 4] - co2[t]`` in ppm. The first 75 % of
the weeks train it (windows of 104 weeks, the loss on every week after the first 26); the
last 25 % (571 weeks) are the test series, run as one sequence.

Written next to this script: ``model.safetensors`` (the LSTM, torch's key names),
``head.npz`` (``weight`` (1, H), ``bias`` (1,)), ``series.npz`` (``x`` the standardised
input (2284,), ``y`` the targets in ppm (2284,) with NaN where t + 4 is past the end,
``split`` the first test week, ``mean`` and ``std`` of the standardisation), and
``float_reference.json`` (torch's float32 test RMSE and the persistence baseline's).
"""

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


def main():
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    data, x, y, split, mean, std = series()
    lstm = torch.nn.LSTM(1, HIDDEN, batch_first=True)
    head = torch.nn.Linear(HIDDEN, 1)
    optimizer = torch.optim.Adam(list(lstm.parameters()) + list(head.parameters()),
                                 lr=LEARNING_RATE)
    starts = np.arange(0, split - HORIZON - WINDOW, 13)
    inputs = torch.tensor(np.stack([x[s:s + WINDOW] for s in starts])[..., None],
                          dtype=torch.float32)
    targets = torch.tensor(np.stack([y[s:s + WINDOW] for s in starts])[..., None],
                           dtype=torch.float32)
    for epoch in range(EPOCHS):
        optimizer.zero_grad()
        h, _ = lstm(inputs)
        loss = torch.mean((head(h)[:, WARMUP:] - targets[:, WARMUP:]) ** 2)
        loss.backward()
        optimizer.step()
        if epoch % 50 == 0:
            print(f"epoch {epoch}: train RMSE {loss.item() ** 0.5:.3f} ppm")
    with torch.no_grad():
        test = torch.tensor(x[split:][None, :, None], dtype=torch.float32)
        prediction = head(lstm(test)[0])[0, :, 0].numpy().astype(np.float64)
    valid = ~np.isnan(y[split:])
    error = prediction[valid][WARMUP:] - y[split:][valid][WARMUP:]
    rmse = float(np.sqrt(np.mean(error ** 2)))
    seasonal = y[split - 52:-52][valid][WARMUP:]     # last year's change, same weeks
    baseline = float(np.sqrt(np.mean((seasonal - y[split:][valid][WARMUP:]) ** 2)))
    print(f"test RMSE {rmse:.3f} ppm (last year's change as the forecast: {baseline:.3f})")
    state = {f"{name}_l0": value.detach().clone() for name, value in
             (("weight_ih", lstm.weight_ih_l0), ("weight_hh", lstm.weight_hh_l0),
              ("bias_ih", lstm.bias_ih_l0), ("bias_hh", lstm.bias_hh_l0))}
    save_file(state, str(HERE / "model.safetensors"), metadata={"batch_first": "true"})
    np.savez(HERE / "head.npz", weight=head.weight.detach().numpy(),
             bias=head.bias.detach().numpy())
    np.savez(HERE / "series.npz", x=x, y=y, split=np.int64(split), mean=mean, std=std,
             warmup=np.int64(WARMUP))
    (HERE / "float_reference.json").write_text(json.dumps({
        "torch": torch.__version__, "seed": SEED, "hidden": HIDDEN, "horizon_weeks": HORIZON,
        "epochs": EPOCHS, "test_weeks": int(len(x) - split),
        "test_rmse_ppm_float32": rmse, "seasonal_baseline_rmse_ppm": baseline}, indent=2)
        + "\n")


if __name__ == "__main__":
    main()
