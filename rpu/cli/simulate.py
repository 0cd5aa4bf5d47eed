"""``python -m rpu simulate``: compile an LSTM, simulate the RPU cycle by cycle on inputs,
write the outputs and report cycles, exactness and error."""

import json
import sys

import numpy as np

from rpu.cli.options import (InputError, add_config_options, config_from,
                             check_output_file)
from rpu.files import write_npz_atomically
from rpu.frontend.arrays import load_weights, load_inputs


__all__ = ["SIMULATORS", "add_parser", "run"]

#: The choices of --simulator: :data:`rpu.sim.SIMULATORS` (written out here, so that parsing
#: the command line does not load Amaranth; tests/cli/test_cli.py checks they agree).
SIMULATORS = ("amaranth", "verilator", "icarus")


def add_parser(commands):
    parser = commands.add_parser(
        "simulate", help="simulate an RPU running an LSTM (Amaranth simulator)",
        description="Compile the LSTM of W.npz, simulate the RPU cycle by cycle on the inputs "
                    "of X.npy, and write the outputs to Y.npz.")
    add_config_options(parser, sizes_required=False)
    parser.add_argument("--weights", required=True, metavar="W.npz",
                        help="weight_ih (4H, I), weight_hh (4H, H), bias_ih, bias_hh (4H) "
                             "as floats, torch.nn.LSTM's gate order i, f, g, o")
    parser.add_argument("--inputs", required=True, metavar="X.npy",
                        help="inputs, float array of shape (T, I)")
    parser.add_argument("--out", required=True, metavar="Y.npz",
                        help="output: h (T, H), c (T, H) as floats, their codes, cycles")
    parser.add_argument("--vcd", metavar="FILE", help="also write a waveform")
    parser.add_argument("--simulator", choices=SIMULATORS, default="amaranth",
                        help="amaranth (default: Amaranth's simulator), or verilator or "
                             "icarus on the generated Verilog (see rpu.sim.hdl)")
    return parser


def _run_simulator(simulator, program, x_codes, vcd):
    """Run ``program`` once on ``x_codes`` with the chosen simulator (``--simulator``)."""
    from rpu.sim import simulate_program, SimulatorNotFound, BuildError
    try:
        return simulate_program(program, x_codes, vcd_path=vcd, simulator=simulator)
    except (SimulatorNotFound, BuildError) as error:
        print(f"error: --simulator {simulator}: {error}", file=sys.stderr)
        raise SystemExit(1)


def _check_fits(config, input_size, hidden_size):
    if not config.fits(input_size, hidden_size):
        too_small = [option for option, need, have in (
            ("--input-size", input_size, config.input_size),
            ("--hidden-size", hidden_size, config.hidden_size)) if need > have]
        raise InputError(f"--weights: an LSTM with I={input_size}, H={hidden_size} does not "
                         f"fit an RPU of capacity I={config.input_size}, "
                         f"H={config.hidden_size} ({' and '.join(too_small)} too small)")


def run(args):
    """Run ``python -m rpu simulate``; returns the exit code (1 if the RTL is not bit exact
    with the fixed-point model or takes other than the predicted cycles)."""
    from rpu.compiler import compile_lstm
    from lstm_ref.float_lstm import lstm_forward

    # The outputs first: a path that cannot be written fails before any work.
    out = check_output_file(args.out, "--out")
    vcd = check_output_file(args.vcd, "--vcd") if args.vcd is not None else None
    if vcd is not None and args.simulator != "amaranth":
        raise InputError("--vcd: waveforms are only written with --simulator amaranth")
    weights = load_weights(args.weights)
    hidden_size = weights["weight_hh"].shape[1]
    input_size = weights["weight_ih"].shape[1]
    config = config_from(args, input_size=input_size, hidden_size=hidden_size)
    _check_fits(config, input_size, hidden_size)
    x = load_inputs(args.inputs, input_size)

    # With row scales, each row gets the largest shift that does not saturate it.
    program = compile_lstm(config, **weights, row_shifts="auto" if config.row_scales else None)
    dfmt = config.data_format
    x_codes = dfmt.quantize(x, name="--inputs")
    result = _run_simulator(args.simulator, program, x_codes, vcd)
    steps = x.shape[0]
    (fixed,) = program.reference(x_codes)
    reference = lstm_forward(x, **weights)
    h, c = dfmt.to_float(result.h), dfmt.to_float(result.c)
    bit_exact = bool(np.array_equal(result.h, fixed.h) and np.array_equal(result.c, fixed.c))
    predicted = program.schedule.total_cycles(steps)
    write_npz_atomically(
        out, h=h, c=c, h_codes=result.h, c_codes=result.c,
        cycles=np.int64(result.cycles), predicted_cycles=np.int64(predicted),
        saturations=np.int64(result.saturations))
    print(json.dumps({
        "steps": steps,
        "cycles": result.cycles,
        "predicted_cycles": predicted,
        "cycles_per_step": program.schedule.step_cycles,
        "utilization": program.schedule.utilization(steps),
        "saturations": result.saturations,
        "bit_exact_with_fixed_point_model": bit_exact,
        "max_abs_error_h_vs_float64": float(np.abs(h - reference.h).max()),
        "max_abs_error_c_vs_float64": float(np.abs(c - reference.c).max()),
        "output": str(out),
    }, indent=2))
    return 0 if bit_exact and result.cycles == predicted else 1
