"""Temporal sparsity on a real, slowly varying series: the delta LSTM against the dense one.

The example's LSTMs (``train.py``: a four-week-ahead CO2 forecast, I = 1, H = 16; one trained
densely, one fine-tuned from it with the deltas in the loop) run in the bit-accurate
fixed-point models of :mod:`lstm_ref`: dense (:class:`FixedLSTM`, what the RPU computes today,
bit for bit) and delta (:class:`FixedDeltaLSTM`: a column of x or h is propagated only when it
changed by at least a threshold since it was last propagated).

The reference is the densely trained network in the dense fixed-point model. For each network,
the thresholds are chosen on the *training* weeks: the fewest propagated columns whose
forecast RMSE there stays within a budget of the reference's RMSE there (default 10 %); then
everything runs on the 571 test weeks. Every propagated column costs one weight read and one
MAC per lane in the RPU's PIM lanes, so the columns count the MAC-lane cycles and weight reads
of the matrix products; a dense step issues 1 + I + H columns (the bias as the weight of a
constant 1.0). The first step of a delta run is such a dense step (every column, the bias
too); every later step issues only the x and h columns that changed (the bias sits in the
pre-activation memory from the first step). The reduction is counted against the dense
model's x and h columns (the bias column's saving is reported apart). The RPU's delta mode
(``--delta``) computes the same bit for bit; ``scripts/bench_delta.py`` runs both networks in
its RTL.

    .venv/bin/python examples/delta/delta_example.py [--budget 0.10] [--json OUT]
"""

import argparse
import itertools
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
THRESHOLDS = (0, 32, 64, 128, 256, 384, 512, 768, 1024, 2048)
#: Default accuracy budget: the delta model's RMSE at most this much above the dense one's.
DEFAULT_BUDGET = 0.10
#: The two networks of train.py: their LSTM and head files.
MODELS = {"dense-trained": ("model.safetensors", "head.npz"),
          "delta-trained": ("delta_model.safetensors", "delta_head.npz")}
#: The network whose dense fixed-point model is the reference.
REFERENCE = "dense-trained"


def load(model=REFERENCE):
    """One network's LSTM parameters and head, and the series (see train.py)."""
    weights, head_file = MODELS[model]
    [params] = load_model(HERE / weights).layers
    head = np.load(HERE / head_file)
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
        self.config = config
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
                # With the bias column, which only the (dense) first step issues:
                "all_columns": int(out.x_mask.sum() + out.h_mask.sum()) + (steps > 0),
                "x_sparsity": float(1 - out.x_mask.mean()),
                "h_sparsity": float(1 - out.h_mask.mean()),
                "h": out.h}


def forecaster(model=REFERENCE):
    """The :class:`Forecaster` of one of :data:`MODELS`, on the one RPU configuration of the
    example: its formats calibrated on the training weeks for the reference network (the
    dense fixed-point calibration knows nothing of the deltas; both networks run on one
    RPU)."""
    params, head, series = load(model)
    return Forecaster(params, head, series, formats(load(REFERENCE)[0], series))


def weeks(series):
    """The training and the test weeks (slices)."""
    split = int(series["split"])
    return slice(0, split), slice(split, None)


def choose_thresholds(forecaster, weeks, budget, reference, pairs=None):
    """The ``(theta_x, theta_h)`` of ``pairs`` (default: every pair of :data:`THRESHOLDS`)
    with the fewest columns on ``weeks`` whose RMSE is at most ``(1 + budget) *
    reference``; None if no pair is (the first of equals wins)."""
    pairs = itertools.product(THRESHOLDS, THRESHOLDS) if pairs is None else pairs
    best = None
    for theta_x, theta_h in pairs:
        result = forecaster.run(weeks, theta_x, theta_h)
        if result["rmse_ppm"] <= reference * (1 + budget) \
                and (best is None or result["columns"] < best[2]):
            best = (theta_x, theta_h, result["columns"])
    return None if best is None else best[:2]


def _stats(result):
    return {k: v for k, v in result.items() if k != "h"}


def report(chosen, budget=DEFAULT_BUDGET, forecasters=None):
    """The summary for the thresholds ``chosen``: ``{model: (theta_x, theta_h) or None}``
    (None: no thresholds within the budget)."""
    forecasters = forecasters or {name: forecaster(name) for name in chosen}
    if REFERENCE not in forecasters:
        forecasters[REFERENCE] = forecaster(REFERENCE)
    reference = forecasters[REFERENCE]
    train, test = weeks(reference.series)
    dense = {"test": _stats(reference.run(test)), "train": _stats(reference.run(train))}
    summary = {
        "budget": budget,
        "reference": f"the {REFERENCE} network in the dense fixed-point model",
        "test_weeks": dense["test"]["steps"],
        "dense": dense,
        "delta": {},
        "note": "bit-accurate fixed-point models (lstm_ref); columns = MAC-lane cycles and "
                "weight reads of the matrix products (the RTL's, see scripts/bench_delta.py)",
    }
    for name, thresholds in chosen.items():
        model = forecasters[name]
        fmt = model.fmt
        entry = {"formats": {"data": str(fmt), "weights": str(model.config.weight_format),
                             "cell": str(model.config.cell_format)},
                 "within_budget": thresholds is not None}
        if thresholds is not None:
            theta_x, theta_h = thresholds
            result = {"test": _stats(model.run(test, theta_x, theta_h)),
                      "train": _stats(model.run(train, theta_x, theta_h))}
            entry.update({
                "theta_x": {"lsb": theta_x, "value": theta_x * fmt.resolution},
                "theta_h": {"lsb": theta_h, "value": theta_h * fmt.resolution},
                **result,
                # Against the dense model's x and h columns; a dense step also issues the
                # bias column, which the delta model keeps in its memory after its first,
                # dense step:
                "column_reduction": dense["test"]["columns"] / result["test"]["columns"],
                "column_reduction_with_bias":
                    dense["test"]["dense_columns"] / result["test"]["all_columns"],
                "rmse_increase": result["test"]["rmse_ppm"] / dense["test"]["rmse_ppm"] - 1,
                "train_rmse_increase":
                    result["train"]["rmse_ppm"] / dense["train"]["rmse_ppm"] - 1})
        summary["delta"][name] = entry
    return summary


def evaluate(budget=DEFAULT_BUDGET):
    """Choose each network's thresholds on the training weeks, then :func:`report`."""
    forecasters = {name: forecaster(name) for name in MODELS}
    train, _ = weeks(forecasters[REFERENCE].series)
    reference = forecasters[REFERENCE].run(train)["rmse_ppm"]
    chosen = {name: choose_thresholds(model, train, budget, reference)
              for name, model in forecasters.items()}
    return report(chosen, budget, forecasters)


def _percent(value):
    return f"{value * 100:+.1f} %"


def table(summary):
    """The README's table (Markdown) of a :func:`report` summary."""
    dense = summary["dense"]
    names = list(summary["delta"])
    rows = [["", "dense"] + [f"delta, {name}" for name in names],
            ["---", "---:"] + ["---:"] * len(names)]

    def row(label, first, cell):
        rows.append([label, first] + [cell(summary["delta"][name]) if
                                      summary["delta"][name]["within_budget"] else
                                      "none within the budget" for name in names])

    row("test RMSE, 4 weeks ahead", f"{dense['test']['rmse_ppm']:.3f} ppm",
        lambda e: f"{e['test']['rmse_ppm']:.3f} ppm ({_percent(e['rmse_increase'])})")
    row("training-weeks RMSE (where thresholds are chosen)",
        f"{dense['train']['rmse_ppm']:.3f} ppm",
        lambda e: f"{e['train']['rmse_ppm']:.3f} ppm ({_percent(e['train_rmse_increase'])})")

    def thresholds(e):
        data = e["formats"]["data"].split()[0]
        return (f"x: {e['theta_x']['value']:g} ({e['theta_x']['lsb']} LSB), "
                f"h: {e['theta_h']['value']:g} ({e['theta_h']['lsb']} LSB) of {data}")

    row("thresholds", "0", thresholds)
    row("x columns skipped", "0 %", lambda e: f"{e['test']['x_sparsity'] * 100:.0f} %")
    row("h columns skipped", "0 %", lambda e: f"{e['test']['h_sparsity'] * 100:.0f} %")
    row(f"x and h columns issued, {summary['test_weeks']} weeks",
        f"{dense['test']['columns']:,}",
        lambda e: f"{e['test']['columns']:,} (**{e['column_reduction']:.2f}x fewer**)")
    row("all columns issued (MAC-lane cycles and weight reads), with the bias column",
        f"{dense['test']['dense_columns']:,}",
        lambda e: f"{e['test']['all_columns']:,} ({e['column_reduction_with_bias']:.2f}x "
                  f"fewer)")
    return "\n".join("| " + " | ".join(cells) + " |" for cells in rows)


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
    print()
    print(table(summary))
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
