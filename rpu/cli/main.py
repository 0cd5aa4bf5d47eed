"""Command line: ``python -m rpu generate|simulate|synth``.

Exit codes: 0 success, 2 bad input (arguments, configuration, files), 1 anything else.
"""

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from rpu.config import RPUConfig, ConfigError
from rpu.files import write_npz_atomically


__all__ = ["main"]

from rpu.frontend.arrays import InputError, load_weights, load_inputs_array, load_inputs


def _add_config_options(parser, *, sizes_required):
    group = parser.add_argument_group("LSTM capacity")
    group.add_argument("--input-size", type=int, required=sizes_required,
                       help="input size I (for simulate: capacity, default the LSTM's own)")
    group.add_argument("--hidden-size", type=int, required=sizes_required,
                       help="hidden size H (for simulate: capacity, default the LSTM's own)")
    defaults = RPUConfig()
    group = parser.add_argument_group("resources and formats")
    for name, help_text in (
            ("num_layers", "stacked LSTM layers the RPU holds at once"),
            ("pim_arrays", "PIM arrays"),
            ("lanes_per_array", "MAC lanes per PIM array"),
            ("activation_units", "sigmoid/tanh units (must divide mac_lanes/4)"),
            ("elementwise_units", "element-wise units (must divide mac_lanes/4)"),
            ("data_width", "bits of x, h, c"),
            ("data_frac_bits", "fractional bits of x, h, c"),
            ("weight_width", "bits of weights and biases"),
            ("weight_frac_bits", "fractional bits of weights and biases"),
            ("cell_frac_bits", "fractional bits of the cell state (<= data frac bits; "
                               "default: data frac bits)"),
            ("activation_segments", "segments of the sigmoid/tanh tables (power of two)")):
        # The cell format follows the data format unless given.
        default = None if name == "cell_frac_bits" else getattr(defaults, name)
        group.add_argument("--" + name.replace("_", "-"), type=int, default=default,
                           help=help_text if default is None else
                           f"{help_text} (default {default})")


def _config_from(args, *, input_size=None, hidden_size=None):
    values = {name: getattr(args, name) for name in (
        "num_layers", "pim_arrays", "lanes_per_array", "activation_units", "elementwise_units",
        "data_width", "data_frac_bits", "weight_width", "weight_frac_bits",
        "cell_frac_bits", "activation_segments")}
    values["input_size"] = args.input_size if args.input_size is not None else input_size
    values["hidden_size"] = args.hidden_size if args.hidden_size is not None else hidden_size
    try:
        return RPUConfig(**values)
    except ConfigError as error:
        # Name the command-line option rather than the Python parameter.
        message = str(error)
        for name in sorted(values, key=len, reverse=True):
            message = message.replace(name, "--" + name.replace("_", "-"))
        raise ConfigError(message) from None


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m rpu",
        description="RPU: an LSTM processing-in-memory accelerator generator")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    generate = commands.add_parser(
        "generate", help="write rpu.v and rpu.json for a configuration",
        description="Elaborate an RPU and write DIR/rpu.v (Verilog, top module 'rpu') and "
                    "DIR/rpu.json (configuration, ports, memory map, predicted schedule).")
    _add_config_options(generate, sizes_required=True)
    generate.add_argument("-o", "--output", required=True, metavar="DIR",
                          help="output directory (created if missing)")

    simulate = commands.add_parser(
        "simulate", help="simulate an RPU running an LSTM (Amaranth simulator)",
        description="Compile the LSTM of W.npz, simulate the RPU cycle by cycle on the inputs "
                    "of X.npy, and write the outputs to Y.npz.")
    _add_config_options(simulate, sizes_required=False)
    simulate.add_argument("--weights", required=True, metavar="W.npz",
                          help="weight_ih (4H, I), weight_hh (4H, H), bias_ih, bias_hh (4H) "
                               "as floats, torch.nn.LSTM's gate order i, f, g, o")
    simulate.add_argument("--inputs", required=True, metavar="X.npy",
                          help="inputs, float array of shape (T, I)")
    simulate.add_argument("--out", required=True, metavar="Y.npz",
                          help="output: h (T, H), c (T, H) as floats, their codes, cycles")
    simulate.add_argument("--vcd", metavar="FILE", help="also write a waveform")
    simulate.add_argument("--simulator", choices=SIMULATORS, default="amaranth",
                          help="amaranth (default: Amaranth's simulator), or verilator or "
                               "icarus on the generated Verilog (see rpu.hdl_sim)")
    from rpu.eda.report import add_parser as add_synth_parser    # python -m rpu synth
    add_synth_parser(commands, _add_config_options)
    from rpu.cli.run import add_parser as add_run_parser                # python -m rpu run
    add_run_parser(commands, _add_config_options)
    from rpu.explore.sweep import add_parser as add_explore_parser        # python -m rpu explore
    add_explore_parser(commands, _add_config_options)
    return parser


def _check_output_file(path, option):
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{option}: {str(path)!r} is a directory")
    if not path.resolve().parent.is_dir():
        raise InputError(f"{option}: directory {str(path.resolve().parent)!r} does not exist")
    return path


def _generate(args):
    from rpu.generator import generate
    config = _config_from(args)
    parameters = generate(config, args.output)
    schedule = parameters["schedule"]
    print(f"wrote {os.path.join(args.output, 'rpu.v')}, rpu_sram.v and rpu.json: "
          f"{config.mac_lanes} MAC lanes, I={config.input_size} H={config.hidden_size}, "
          f"{schedule['cycles_per_step']} cycles/step, "
          f"{100 * schedule['utilization']:.1f}% utilization over {schedule['steps']} steps")


SIMULATORS = ("amaranth", "verilator", "icarus")


def _run_simulator(simulator, program, x_codes, vcd):
    """Run ``program`` once on ``x_codes`` with the chosen simulator (``--simulator``)."""
    if simulator == "amaranth":
        from rpu.sim.session import simulate_program
        return simulate_program(program, x_codes, vcd_path=vcd)
    if vcd is not None:
        raise InputError("--vcd: waveforms are only written with --simulator amaranth")
    from rpu.sim.hdl import simulate_program_hdl, SimulatorNotFound, BuildError
    try:
        return simulate_program_hdl(program, x_codes, simulator=simulator)
    except (SimulatorNotFound, BuildError) as error:
        print(f"error: --simulator {simulator}: {error}", file=sys.stderr)
        raise SystemExit(1)


def _simulate(args):
    from rpu.compiler.expansion import compile_lstm
    from lstm_ref.float_lstm import lstm_forward

    weights = load_weights(args.weights)
    hidden_size = weights["weight_hh"].shape[1]
    input_size = weights["weight_ih"].shape[1]
    config = _config_from(args, input_size=input_size, hidden_size=hidden_size)
    if not config.fits(input_size, hidden_size):
        too_small = [option for option, need, have in (
            ("--input-size", input_size, config.input_size),
            ("--hidden-size", hidden_size, config.hidden_size)) if need > have]
        raise InputError(f"--weights: an LSTM with I={input_size}, H={hidden_size} does not "
                         f"fit an RPU of capacity I={config.input_size}, "
                         f"H={config.hidden_size} ({' and '.join(too_small)} too small)")
    x = load_inputs(args.inputs, input_size)
    out = _check_output_file(args.out, "--out")
    vcd = _check_output_file(args.vcd, "--vcd") if args.vcd else None

    program = compile_lstm(config, **weights)
    dfmt = config.data_format
    x_codes = dfmt.quantize(x, name="--inputs")
    result = _run_simulator(args.simulator, program, x_codes, vcd)
    steps = x.shape[0]
    fixed = config.fixed_model().run(program.matrix, x_codes)
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


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "generate":
            return _generate(args) or 0
        if args.command == "synth":
            from rpu.eda.report import run as run_synth
            return run_synth(args, _config_from)
        if args.command == "run":
            from rpu.cli.run import run_command
            return run_command(args, config_from=_config_from, input_error=InputError,
                               load_inputs_array=load_inputs_array,
                               check_output_file=_check_output_file,
                               write_npz=write_npz_atomically)
        if args.command == "explore":
            from rpu.explore.sweep import explore_command
            return explore_command(args, input_error=InputError,
                                   load_inputs_array=load_inputs_array)
        return _simulate(args)
    except (ConfigError, InputError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ValueError as error:
        # Values rejected while compiling the LSTM (e.g. shapes, NaN) are input errors too.
        print(f"error: {error}", file=sys.stderr)
        return 2
