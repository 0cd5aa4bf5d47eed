"""``python -m rpu run MODEL --inputs X.npy``: from a trained model to a simulated RPU.

The argument parsing and the checks of the command; the flow itself (import, calibrate,
compile, simulate, report) is :func:`rpu.flow.run_model`. Every limit (steps, finite values,
clock, output paths, configuration) is checked before calibration starts.
"""

import json
from dataclasses import replace

import numpy as np

from rpu.config import MAX_STEPS
from rpu.cli import fpga
from rpu.cli.simulate import SIMULATORS
from rpu.cli.options import (InputError, add_config_options, config_from,
                             check_output_file, check_clock_mhz, option_name)
from rpu.files import write_npz_atomically
from rpu.hw.delta import max_threshold
from rpu.flow import DEFAULT_CLOCK_MHZ, run_model, check_sequences
from rpu.frontend.arrays import load_inputs_array


__all__ = ["add_parser", "run"]


def add_parser(commands):
    parser = commands.add_parser(
        "run", help="import a trained LSTM, calibrate, generate and simulate it",
        description="Import MODEL (.safetensors, .onnx, .npz, or .pt with torch installed), "
                    "calibrate its fixed-point formats, simulate an RPU sized for it on the "
                    "inputs, and report outputs, errors, cycles, modelled energy and GOPS.")
    parser.add_argument("model", metavar="MODEL", help="the trained model file")
    parser.add_argument("--prefix", help="key prefix of the LSTM in a state dict with "
                                         "several (e.g. 'encoder.')")
    parser.add_argument("--batch-first", choices=("true", "false"),
                        help="layout of batched inputs when the file does not record it")
    parser.add_argument("--inputs", required=True, metavar="X.npy",
                        help="(T, I) float inputs, or batched (B, T, I) / (T, B, I) by the "
                             "model's batch_first")
    parser.add_argument("--calibration", metavar="C.npy",
                        help="calibration inputs (default: the inputs)")
    parser.add_argument("--no-calibrate", action="store_true",
                        help="keep the formats given by the options")
    parser.add_argument("--simulator", choices=SIMULATORS, default=None,
                        help="the simulator (default amaranth)")
    parser.add_argument("--clock-mhz", type=float, default=DEFAULT_CLOCK_MHZ,
                        help=f"clock for GOPS and power (default {DEFAULT_CLOCK_MHZ:g}, an "
                             f"assumption; take f_max from `python -m rpu synth`)")
    parser.add_argument("--out", metavar="Y.npz", help="write h (float) and the report")
    parser.add_argument("--vcd", metavar="FILE", help="waveform (amaranth simulator only)")
    delta = parser.add_argument_group(
        "delta mode (with --delta: the RPU skips the x and h columns that changed by less "
        "than a threshold since they were last propagated; the first step is dense)")
    delta.add_argument("--delta-budget", type=float, metavar="E",
                       help="largest relative RMS error of h against the dense fixed-point "
                            "model on the calibration inputs when the thresholds are "
                            "calibrated (default 0.05)")
    delta.add_argument("--theta-x", type=int, metavar="CODE",
                       help="x threshold in LSBs of the data format (with --theta-h: no "
                            "calibration)")
    delta.add_argument("--theta-h", type=int, metavar="CODE", help="h threshold, likewise")
    fpga.add_device_options(parser)
    add_config_options(parser, sizes_required=False)
    return parser


def _sequences(model, x, option, *, max_steps):
    """``model.sequences(x)``, checked; errors name ``option``."""
    from rpu.frontend import ModelImportError
    try:
        sequences = model.sequences(x)
        check_sequences(sequences, option, max_steps=max_steps)
    except ModelImportError as error:
        raise InputError(f"{option}: {error}") from None
    except ValueError as error:
        raise InputError(str(error)) from None
    return sequences


def _delta_options(args, config):
    """The delta options, checked before any work: ``(theta_x, theta_h)`` or None."""
    given = [name for name in ("delta_budget", "theta_x", "theta_h")
             if getattr(args, name) is not None]
    if given and not config.delta:
        raise InputError(f"{option_name(given[0])}: needs --delta (the delta datapath)")
    if (args.theta_x is None) != (args.theta_h is None):
        raise InputError("--theta-x and --theta-h: give both, or neither (calibration)")
    if args.delta_budget is not None:
        if args.theta_x is not None:
            raise InputError("--delta-budget: the thresholds are given (--theta-x, "
                             "--theta-h); the budget is for calibrating them")
        if not (np.isfinite(args.delta_budget) and args.delta_budget > 0):
            raise InputError(f"--delta-budget must be a finite number > 0, not "
                             f"{args.delta_budget}")
    if args.theta_x is None:
        return None
    limit = max_threshold(config.data_width)
    for name in ("theta_x", "theta_h"):
        if not 0 <= getattr(args, name) <= limit:
            raise InputError(f"{option_name(name)} must be from 0 to {limit} (codes of the "
                             f"{config.data_width}-bit data format), not {getattr(args, name)}")
    return args.theta_x, args.theta_h


def run(args):
    """Run ``python -m rpu run``; returns the exit code (1 if the RTL is not bit exact with
    the fixed-point model or takes other than the predicted cycles)."""
    from rpu.frontend import load_model, ModelImportError

    out = check_output_file(args.out, "--out") if args.out is not None else None
    vcd = check_output_file(args.vcd, "--vcd") if args.vcd is not None else None
    if args.device is not None and (args.simulator is not None or vcd is not None):
        raise InputError("--device: runs on a board; --simulator and --vcd are for "
                         "simulation")
    simulator = args.simulator or "amaranth"
    if vcd and simulator != "amaranth":
        raise InputError("--vcd: waveforms are only written with --simulator amaranth")
    clock_mhz = check_clock_mhz(args.clock_mhz, "--clock-mhz")
    batch_first = None if args.batch_first is None else args.batch_first == "true"
    try:
        model = load_model(args.model, prefix=args.prefix, batch_first=batch_first)
    except ModelImportError as error:
        raise InputError(f"MODEL: {error}")
    x = load_inputs_array(args.inputs, "--inputs")
    calibration = load_inputs_array(args.calibration, "--calibration") \
        if args.calibration else None
    config = config_from(args, input_size=model.input_size,
                         hidden_size=max(model.hidden_sizes))
    if config.delta and model.num_layers > 1:
        raise InputError(f"--delta: the delta datapath runs one LSTM layer; MODEL has "
                         f"{model.num_layers}")
    config = replace(config, num_layers=max(config.num_layers, model.num_layers))
    thresholds = _delta_options(args, config)
    _sequences(model, x, "--inputs", max_steps=MAX_STEPS)
    if calibration is not None:
        _sequences(model, calibration, "--calibration", max_steps=None)
    report = run_model(model, x, config=config, calibration_inputs=calibration,
                       calibrate_formats=not args.no_calibrate, simulator=simulator,
                       vcd_path=vcd, clock_mhz=clock_mhz, device=args.device,
                       baud_rate=args.baud_rate, thresholds=thresholds,
                       delta_budget=args.delta_budget)
    h = report.pop("h")
    if out is not None:
        write_npz_atomically(out, h=h if np.asarray(x).ndim == 3 else h[0],
                             report=np.array(json.dumps(report)))
    print(json.dumps(report, indent=2))
    # On a board, a run whose inputs or outputs overflow the link's FIFOs waits for the UART,
    # so its cycle counter may exceed the prediction; the results must still be bit exact.
    cycles_ok = args.device is not None or report["cycles"] == report["predicted_cycles"]
    return 0 if report["bit_exact_with_fixed_point_model"] and cycles_ok else 1
