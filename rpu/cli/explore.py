"""``python -m rpu explore MODEL``: the command line of the design-space sweep
(:func:`rpu.explore.sweep.explore`)."""

import argparse
import os
import sys

from rpu.cli.options import InputError, check_output_dir
from rpu.explore.outputs import write_outputs
from rpu.explore.sweep import (DEFAULT_SCHEDULER_TIMEOUT, DEFAULT_STEPS, DEFAULT_SWEEP,
                               ExploreInputError, ExplorePointError, explore)
from rpu.frontend.arrays import load_inputs_array


__all__ = ["add_parser", "run"]


def _int_list(option):
    def parse(text):
        values = []
        for item in text.split(","):
            item = item.strip()
            try:
                values.append(int(item))
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"{option}: {item!r} is not an integer (give a comma-separated list, "
                    f"e.g. 1,2,4)") from None
        return values
    return parse


def add_parser(commands):
    """Add the ``explore`` command to the CLI's sub-parsers. Its sweep options replace the
    single-value resource and format options of the other commands."""
    parser = commands.add_parser(
        "explore", help="design-space sweep: cycles, area, clock, energy, accuracy; Pareto",
        description="Sweep RPU resources and formats for MODEL. For each valid point: "
                    "cycles (exact), utilization, area and f_max (synthesis, cached per "
                    "configuration), modelled energy and GOPS/W, and the error of the "
                    "fixed-point model against float64. Writes DIR/points.csv, "
                    "DIR/pareto.csv, DIR/area_vs_latency.png, DIR/energy_vs_accuracy.png "
                    "and DIR/summary.json, all or none.")
    parser.add_argument("model", metavar="MODEL",
                        help="the trained model file (.safetensors, .onnx, .npz, .pt)")
    parser.add_argument("--inputs", metavar="X.npy",
                        help="inputs for accuracy and calibration, (T, I) or batched by the "
                             "model's layout (default: 8 synthetic N(0, 1) sequences)")
    parser.add_argument("--calibration", metavar="C.npy",
                        help="calibration inputs (default: the inputs)")
    sweep = parser.add_argument_group("sweep (comma-separated lists)")
    for names, key, help_text in (
            (("--pim-arrays",), "pim_arrays", "PIM arrays"),
            (("--lanes-per-array", "--lanes"), "lanes_per_array", "lanes per array"),
            (("--weights-per-word",), "weights_per_word",
             "weights per lane weight word, each feeding its own MAC (1 to 16; times the "
             "weight width at most 64 bits)"),
            (("--batch",), "batch", "sequences run at once, each weight read feeding one MAC "
                                    "per sequence (1 to 16)"),
            (("--activation-units",), "activation_units", "sigmoid/tanh units"),
            (("--elementwise-units",), "elementwise_units", "element-wise units"),
            (("--data-widths",), "data_widths", "data widths (bits; fractional bits by "
                                                "calibration)"),
            (("--row-scales",), "row_scales", "per-row power-of-two weight scales off (0) "
                                              "and/or on (1), crossed with the widths; "
                                              "shifts by calibration")):
        default = ",".join(map(str, DEFAULT_SWEEP[key]))
        sweep.add_argument(*names, dest=key, type=_int_list(names[0]), metavar="LIST",
                           help=f"{help_text} (default {default})")
    sweep.add_argument("--weight-widths", type=_int_list("--weight-widths"), metavar="LIST",
                       help="weight widths, crossed with the data widths (default: equal to "
                            "each data width)")
    sweep.add_argument("--activation-segments", type=int, metavar="N",
                       help="sigmoid/tanh table segments (default 256; at most "
                            "2**(data width - 2))")
    parser.add_argument("--steps", type=int, metavar="T",
                        help="steps of the run that latency and energy refer to (default: "
                             f"the inputs' length, or {DEFAULT_STEPS})")
    synth = parser.add_argument_group("synthesis")
    synth.add_argument("--no-synth", action="store_true",
                       help="no synthesis: no area and no clock (latency in cycles)")
    synth.add_argument("--liberty", metavar="PATH",
                       help="Liberty library to map to (default: the generic GE library)")
    synth.add_argument("--synth-cache", metavar="DIR",
                       help="cache of synthesis results (default: "
                            "$XDG_CACHE_HOME/rpu/synth or ~/.cache/rpu/synth)")
    synth.add_argument("--no-synth-cache", action="store_true",
                       help="neither read nor write the synthesis cache")
    synth.add_argument("--synth-timeout", type=float, metavar="SECONDS",
                       help="give up a point's synthesis after this long (the sweep fails)")
    run = parser.add_argument_group("parallelism")
    run.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                     help="local worker processes (default: the CPU count)")
    run.add_argument("--scheduler", metavar="ADDRESS",
                     help="run the points on this Dask scheduler (e.g. tcp://host:8786)")
    run.add_argument("--scheduler-timeout", type=float, default=DEFAULT_SCHEDULER_TIMEOUT,
                     metavar="SECONDS", help="seconds to wait for the scheduler "
                                             f"(default {DEFAULT_SCHEDULER_TIMEOUT:g})")
    parser.add_argument("-o", "--output", required=True, metavar="DIR",
                        help="output directory (created if missing)")
    return parser


def _default_cache():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "rpu", "synth")


def run(args):
    """Run ``python -m rpu explore``; returns the exit code (1 when a point failed).

    Bad input raises :class:`InputError` (exit 2); nothing is written then.
    """
    from rpu.frontend import load_model, ModelImportError

    output = check_output_dir(args.output, "-o/--output")
    try:
        model = load_model(args.model)
    except ModelImportError as error:
        raise InputError(f"MODEL: {error}") from None
    except FileNotFoundError:
        raise InputError(f"MODEL: no such file: {args.model!r}") from None
    except OSError as error:
        raise InputError(f"MODEL: cannot read {args.model!r}: {error}") from None
    x = load_inputs_array(args.inputs, "--inputs") if args.inputs else None
    calibration = load_inputs_array(args.calibration, "--calibration") \
        if args.calibration else None
    if args.scheduler_timeout is not None and not args.scheduler_timeout > 0:
        raise InputError(f"--scheduler-timeout: must be positive, not "
                         f"{args.scheduler_timeout}")
    cache = None if args.no_synth_cache else (
        _default_cache() if args.synth_cache is None else args.synth_cache)
    if cache is not None and not args.no_synth:
        check_output_dir(cache, "--synth-cache")
    try:
        result = explore(
            model, x, calibration_inputs=calibration, pim_arrays=args.pim_arrays,
            lanes_per_array=args.lanes_per_array, weights_per_word=args.weights_per_word,
            batch=args.batch,
            activation_units=args.activation_units, elementwise_units=args.elementwise_units,
            data_widths=args.data_widths, weight_widths=args.weight_widths,
            row_scales=args.row_scales, activation_segments=args.activation_segments,
            steps=args.steps, synthesize=not args.no_synth, liberty=args.liberty,
            synth_cache=cache, synth_timeout=args.synth_timeout, jobs=args.jobs,
            scheduler=args.scheduler, scheduler_timeout=args.scheduler_timeout)
    except ExploreInputError as error:
        raise InputError(str(error)) from None
    except ExplorePointError as error:
        print(f"error: {error}; nothing written", file=sys.stderr)
        return 1
    write_outputs(result, output)
    summary = result.summary
    print(f"wrote {output / 'points.csv'} ({_count(summary['points'], 'point')}, "
          f"{_count(summary['skipped_invalid'], 'invalid combination')} skipped), "
          f"pareto.csv ({_count(len(result.pareto), 'point')} on the Pareto front), "
          f"area_vs_latency.png, energy_vs_accuracy.png and summary.json")
    return 0


def _count(number, noun):
    return f"{number} {noun}{'' if number == 1 else 's'}"
