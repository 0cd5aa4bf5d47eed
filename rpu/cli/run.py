"""``python -m rpu run MODEL --inputs X.npy``: from a trained model to a simulated RPU.

Import the model (:mod:`rpu.model_import`), calibrate its fixed-point formats on calibration
inputs (or take the given ones), compile it for an RPU sized for it, simulate every input
sequence cycle by cycle (Amaranth, Verilator or Icarus), and report: outputs, bit exactness
against the fixed-point model, error against the float64 model, cycles (measured and
predicted), utilization, modelled energy and GOPS at the stated clock.
"""

import json
from dataclasses import replace

import numpy as np

from rpu.config import RPUConfig


__all__ = ["run_model", "add_parser"]

#: Clock assumed for time-based figures unless --clock-mhz says otherwise.
DEFAULT_CLOCK_MHZ = 400.0


def run_model(model, x, *, config=None, calibration_inputs=None, calibrate_formats=True,
              simulator="amaranth", vcd_path=None, clock_mhz=DEFAULT_CLOCK_MHZ):
    """Run an imported model on input sequences on a simulated RPU.

    Parameters
    ----------
    model : rpu.frontend.model_import.ImportedLSTM
    x : array_like
        ``(T, I)``, or batched (see :meth:`ImportedLSTM.sequences`).
    config : RPUConfig, optional
        Resources and formats; its capacity is raised to fit the model (default resources
        otherwise).
    calibration_inputs : array_like, optional
        Inputs to calibrate on (default: ``x``).
    calibrate_formats : bool
        Choose the fractional bits by :func:`rpu.compiler.calibration.calibrate`; else keep
        ``config``'s.
    simulator : {"amaranth", "verilator", "icarus"}
    vcd_path : str, optional
        Waveform of the run (Amaranth simulator only).
    clock_mhz : float
        Clock for GOPS and power (an assumption unless it comes from synthesis).

    Returns
    -------
    dict
        The report; ``"h"`` holds the outputs as floats, ``(B, T, H)``.
    """
    from rpu.compiler.calibration import calibrate, evaluate_formats
    from rpu.energy.activity import energy_from_activity
    from rpu.compiler.expansion import compile_stacked
    from rpu.sim.session import Load, Run, simulate_session

    sequences = model.sequences(x)
    if not clock_mhz > 0:
        raise ValueError(f"clock_mhz must be positive, not {clock_mhz}")
    if config is None:
        config = RPUConfig(input_size=model.input_size, hidden_size=max(model.hidden_sizes),
                           num_layers=model.num_layers)
    else:
        config = replace(config, input_size=max(config.input_size, model.input_size),
                         hidden_size=max(config.hidden_size, *model.hidden_sizes),
                         num_layers=max(config.num_layers, model.num_layers))
    calibration = None
    if calibrate_formats:
        calibration_set = sequences if calibration_inputs is None else \
            model.sequences(calibration_inputs)
        calibration = calibrate(model.layers, list(calibration_set),
                                data_width=config.data_width,
                                weight_width=config.weight_width,
                                activation_segments=config.activation_segments)
        config = calibration.apply(config)

    program = compile_stacked(config, model.layers)
    fmt = config.data_format
    operations = [Load(program)]
    codes = [fmt.quantize(sequence, name="inputs") for sequence in sequences]
    operations += [Run(sequence_codes) for sequence_codes in codes]
    if simulator == "amaranth":
        results = simulate_session(config, operations, vcd_path=vcd_path)
    else:
        if vcd_path:
            raise ValueError("vcd: waveforms are only written with the amaranth simulator")
        from rpu.sim.hdl import simulate_session_hdl
        results = simulate_session_hdl(config, operations, simulator=simulator)

    golden = config.fixed_model()
    bit_exact = True
    errors, cycles, predicted = [], 0, 0
    activity = {}
    outputs = []
    steps_total = 0
    for sequence, sequence_codes, result in zip(sequences, codes, results):
        expected = golden.run_stacked(program.matrices, sequence_codes)[-1]
        bit_exact &= bool(np.array_equal(result.h, expected.h)
                          and np.array_equal(result.c, expected.c))
        reference = model.float_forward(sequence)[-1]
        h = fmt.to_float(result.h)
        errors.append(float(np.abs(h - reference.h).max()))
        outputs.append(h)
        steps = len(sequence)
        steps_total += steps
        cycles += result.cycles
        predicted += program.schedule.total_cycles(steps)
        for name, count in result.activity.items():
            activity[name] = activity.get(name, 0) + count
    seconds = cycles / (clock_mhz * 1e6)
    energy = energy_from_activity(config, activity, steps_total,
                                  program.schedule.ops_per_step(),
                                  seconds_per_step=seconds / steps_total)
    ops = program.schedule.ops_per_step() * steps_total
    saturations, _ = evaluate_formats(model.layers, list(sequences), data_format=fmt,
                                      weight_format=config.weight_format,
                                      cell_format=config.cell_format,
                                      activation_segments=config.activation_segments)
    return {
        "model": {"format": model.source_format, "input_size": model.input_size,
                  "hidden_sizes": list(model.hidden_sizes), "num_layers": model.num_layers,
                  "batch_first": model.batch_first},
        "configuration": config.to_dict(),
        "formats": {"data": str(fmt), "weights": str(config.weight_format),
                    "cell": str(config.cell_format)},
        "calibration": None if calibration is None else {
            key: value for key, value in calibration.to_dict().items() if key != "candidates"},
        "simulator": simulator,
        "sequences": len(sequences),
        "steps": steps_total,
        "saturations": saturations,
        "bit_exact_with_fixed_point_model": bit_exact,
        "max_abs_error_h_vs_float64": max(errors),
        "cycles": cycles,
        "predicted_cycles": predicted,
        "cycles_per_step": program.schedule.step_cycles,
        "utilization": program.schedule.macs_per_step() * steps_total
                       / (config.mac_lanes * cycles),
        "clock_mhz": clock_mhz,
        "clock_note": "assumed clock, not a synthesis result" if
                      clock_mhz == DEFAULT_CLOCK_MHZ else "given clock",
        "gops": ops / seconds / 1e9,
        "energy": energy.to_dict(),
        "h": np.array(outputs),
    }


def add_parser(commands, add_config_options):
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
    parser.add_argument("--simulator", choices=("amaranth", "verilator", "icarus"),
                        default="amaranth")
    parser.add_argument("--clock-mhz", type=float, default=DEFAULT_CLOCK_MHZ,
                        help=f"clock for GOPS and power (default {DEFAULT_CLOCK_MHZ:g}, an "
                             f"assumption; take f_max from `python -m rpu synth`)")
    parser.add_argument("--out", metavar="Y.npz", help="write h (float) and the report")
    parser.add_argument("--vcd", metavar="FILE", help="waveform (amaranth simulator only)")
    add_config_options(parser, sizes_required=False)
    return parser


def run_command(args, *, config_from, input_error, load_inputs_array, check_output_file,
                write_npz):
    """The ``run`` command; helpers come from :mod:`rpu.cli`."""
    from rpu.frontend.model_import import load_model, ModelImportError

    batch_first = None if args.batch_first is None else args.batch_first == "true"
    try:
        model = load_model(args.model, prefix=args.prefix, batch_first=batch_first)
    except ModelImportError as error:
        raise input_error(f"MODEL: {error}")
    x = load_inputs_array(args.inputs, "--inputs")
    calibration = load_inputs_array(args.calibration, "--calibration") \
        if args.calibration else None
    out = check_output_file(args.out, "--out") if args.out else None
    vcd = check_output_file(args.vcd, "--vcd") if args.vcd else None
    if vcd and args.simulator != "amaranth":
        raise input_error("--vcd: waveforms are only written with --simulator amaranth")
    if not args.clock_mhz > 0:
        raise input_error(f"--clock-mhz must be positive, not {args.clock_mhz}")
    config = config_from(args, input_size=model.input_size,
                         hidden_size=max(model.hidden_sizes))
    config = replace(config, num_layers=max(config.num_layers, model.num_layers))
    try:
        model.sequences(x)
        if calibration is not None:
            model.sequences(calibration)
    except ModelImportError as error:
        raise input_error(f"--inputs: {error}")
    report = run_model(model, x, config=config, calibration_inputs=calibration,
                       calibrate_formats=not args.no_calibrate, simulator=args.simulator,
                       vcd_path=vcd, clock_mhz=args.clock_mhz)
    h = report.pop("h")
    if out is not None:
        write_npz(out, h=h if np.asarray(x).ndim == 3 else h[0],
                  report=np.array(json.dumps(report)))
    print(json.dumps(report, indent=2))
    return 0 if report["bit_exact_with_fixed_point_model"] and \
        report["cycles"] == report["predicted_cycles"] else 1
