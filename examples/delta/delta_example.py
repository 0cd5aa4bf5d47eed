"""Temporal sparsity on a real, slowly varying series: the delta LSTM against the dense one.

The example's LSTM (``train.py``: a four-week-ahead CO2 forecast, I = 1, H = 16) runs in the
bit-accurate fixed-point models of :mod:`lstm_ref`: dense (:class:`FixedLSTM`, what the RPU
computes today, bit for bit) and delta (:class:`FixedDeltaLSTM`: a column of x or h is
propagated only when it changed by at least a threshold since it was last propagated).

Thresholds are chosen on the *training* weeks: the largest saving of propagated columns whose
forecast RMSE stays within a budget of the dense fixed-point model's (default 5 %); then both
run on the 571 test weeks. Every propagated column costs one weight read and one MAC per lane
in the RPU's PIM lanes, so the columns count the MAC-lane cycles and weight reads of the
matrix products; a dense step issues 1 + I + H columns (the bias as the weight of a constant
1.0), a delta step only the columns that changed (the bias sits in the pre-activation memory
from the first step). Modelled: the delta mode is not in the RPU's hardware yet.

    .venv/bin/python examples/delta/delta_example.py [--budget 0.05] [--json OUT]
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from lstm_ref.delta_lstm import FixedDeltaLSTM                      # noqa: E402
from lstm_ref.fixed_lstm import quantize_lstm                        # noqa: E402
from rpu.compiler.calibration import calibrate                       # noqa: E402
from rpu.config import RPUConfig                                     # noqa: E402
from rpu.frontend import load_model                                  # noqa: E402


#: Threshold candidates, in LSBs of the data format (0 = dense).
THRESHOLDS = (0, 8, 16, 32, 64, 128, 256, 512)
#: Default accuracy budget: the delta model's RMSE at most this much above the dense one's.
DEFAULT_BUDGET = 0.05


def load():
    """The LSTM's parameters, the head and the series (see train.py)."""
    [params] = load_model(HERE / "model.safetensors").layers
    head = np.load(HERE / "head.npz")
    series = np.load(HERE / "series.npz")
    return params, head, series


def formats(params, series):
    """The RPU configuration for the model, formats calibrated on the training weeks."""
    train = series["x"][:int(series["split"])][:, None]
    chosen = calibrate([params], [train], data_width=16, weight_width=16)
    return chosen.apply(RPUConfig(input_size=1, hidden_size=16))


class Forecaster:
    """The LSTM in the fixed-point delta model, with the head, on one stretch of weeks."""

    def __init__(self, params, head, series, config):
        self.model = FixedDeltaLSTM(data_format=config.data_format,
                                    weight_format=config.weight_format,
                                    activation_segments=config.activation_segments,
                                    cell_format=config.cell_format)
        self.matrix = quantize_lstm(params["weight_ih"], params["weight_hh"],
                                    params["bias_ih"], params["bias_hh"],
                                    config.weight_format)
        self.fmt = config.data_format
        self.weight = head["weight"].astype(np.float64)
        self.bias = head["bias"].astype(np.float64)
        self.series = series
        self.warmup = int(series["warmup"])

    def run(self, weeks, theta_x=0, theta_h=0):
        """RMSE (ppm) of the forecast over ``weeks`` (a slice), and the columns propagated."""
        x = self.series["x"][weeks][:, None]
        y = self.series["y"][weeks]
        out = self.model.run(self.matrix, self.fmt.quantize(x), theta_x=theta_x,
                             theta_h=theta_h)
        forecast = self.fmt.to_float(out.h) @ self.weight.T + self.bias
        valid = ~np.isnan(y)
        valid[:self.warmup] = False
        rmse = float(np.sqrt(np.mean((forecast[valid, 0] - y[valid]) ** 2)))
        steps, inputs = out.x_mask.shape
        hidden = out.h_mask.shape[1]
        return {"rmse_ppm": rmse, "steps": steps,
                "dense_columns": steps * (1 + inputs + hidden),
                "columns": int(out.x_mask.sum() + out.h_mask.sum()),
                "x_sparsity": float(1 - out.x_mask.mean()),
                "h_sparsity": float(1 - out.h_mask.mean()),
                "h": out.h}


def choose_thresholds(forecaster, weeks, budget):
    """The (theta_x, theta_h) of :data:`THRESHOLDS` with the fewest columns on ``weeks``
    whose RMSE is at most ``(1 + budget)`` times the dense model's."""
    dense = forecaster.run(weeks)
    best = (0, 0, dense)
    for theta_x in THRESHOLDS:
        for theta_h in THRESHOLDS:
            result = forecaster.run(weeks, theta_x, theta_h)
            if result["rmse_ppm"] <= dense["rmse_ppm"] * (1 + budget) \
                    and result["columns"] < best[2]["columns"]:
                best = (theta_x, theta_h, result)
    return best[0], best[1]


def evaluate(budget=DEFAULT_BUDGET):
    params, head, series = load()
    config = formats(params, series)
    forecaster = Forecaster(params, head, series, config)
    split = int(series["split"])
    train, test = slice(0, split), slice(split, None)
    theta_x, theta_h = choose_thresholds(forecaster, train, budget)
    dense = forecaster.run(test)
    delta = forecaster.run(test, theta_x, theta_h)
    fmt = config.data_format
    summary = {
        "formats": {"data": str(fmt), "weights": str(config.weight_format),
                    "cell": str(config.cell_format)},
        "budget": budget,
        "theta_x": {"lsb": theta_x, "value": theta_x * fmt.resolution},
        "theta_h": {"lsb": theta_h, "value": theta_h * fmt.resolution},
        "test_weeks": dense["steps"],
        "dense": {k: v for k, v in dense.items() if k != "h"},
        "delta": {k: v for k, v in delta.items() if k != "h"},
        "column_reduction": dense["columns"] / delta["columns"],
        "rmse_increase": delta["rmse_ppm"] / dense["rmse_ppm"] - 1,
        "note": "bit-accurate fixed-point models (lstm_ref); columns = MAC-lane cycles and "
                "weight reads of the matrix products (modelled: no delta hardware yet)",
    }
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET,
                        help="largest relative RMSE increase over the dense model "
                             f"(default {DEFAULT_BUDGET})")
    parser.add_argument("--json", metavar="OUT", help="also write the summary here")
    args = parser.parse_args(argv)
    if not np.isfinite(args.budget) or args.budget < 0:
        parser.error(f"--budget must be a finite number >= 0, not {args.budget}")
    summary = evaluate(args.budget)
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
